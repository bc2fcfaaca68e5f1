"""A stored day of a lake as a source, to re-publish it through the live path at a speed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from adapters.schema import STREAMS
from adapters.source import Batch, MarketSource
from lake.location import Lake
from lake.read import read


@dataclass(frozen=True)
class LakeDay(MarketSource):
    """The landing tables of one day in ``lake`` (the raw rows, as they were landed)."""

    lake: Lake
    name: str = "lake-replay"

    def historical(self, day: dt.date) -> Iterator[Batch]:
        """Yield the day's landed rows as one batch (without the ``date`` partition column).

        Raises
        ------
        ValueError
            When the lake holds no landed rows for ``day``.
        """
        streams = {}
        for stream in STREAMS:
            frame = read(self.lake, stream, dates=[day])
            if frame is not None and frame.height:
                streams[stream] = frame if stream == "option_open_interest" else frame.drop("date")
        if not streams:
            raise ValueError(f"{self.lake.root} has no landed rows for {day}")
        labels = read(self.lake, "synthetic_labels", dates=[day])
        yield Batch(
            streams=streams,
            labels=None if labels is None or labels.is_empty() else labels.drop("date"),
        )
