"""The synthetic market as a :class:`adapters.source.MarketSource`: history and live replay."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace

import numpy as np

from adapters.source import Batch, MarketSource
from adapters.synthetic.market import SyntheticSpec, generate_day, iter_day, session_window

NS = 1_000_000_000


@dataclass(frozen=True)
class SyntheticMarket(MarketSource):
    """Deterministic synthetic market for a spec (its ``date`` is replaced per call)."""

    spec: SyntheticSpec
    chunk: int = 16
    name: str = "synthetic"

    def historical(self, day: dt.date) -> Iterator[Batch]:
        """Yield the day ``chunk`` underlyings at a time (with their labels)."""
        for part in iter_day(replace(self.spec, date=day), self.chunk):
            yield Batch(streams=part.tables, labels=part.labels)

    def time_slices(self, day: dt.date, interval_s: float) -> Iterator[tuple[int, Batch]]:
        """Yield ``(window end ns, batch)``: the day in time order, ``interval_s`` of market time each.

        Every row lands in exactly one batch (by ``ts_event``); labels come with the first.
        Open interest (start-of-day data) comes with the first batch.
        """
        spec = replace(self.spec, date=day)
        whole = generate_day(spec)
        start, end = session_window(spec)
        step = max(1, int(interval_s * NS))
        edges = np.arange(start, end + step, step, dtype=np.int64)
        sorted_streams = {
            name: frame.sort("ts_event", "event_id") if "ts_event" in frame.columns else frame
            for name, frame in whole.tables.items()
        }
        bounds = {
            name: np.searchsorted(frame.get_column("ts_event").to_numpy(), edges, side="left")
            for name, frame in sorted_streams.items()
            if "ts_event" in frame.columns
        }
        for k in range(len(edges) - 1):
            streams = {
                name: sorted_streams[name].slice(int(b[k]), int(b[k + 1] - b[k]))
                if k < len(edges) - 2
                else sorted_streams[name].slice(int(b[k]))
                for name, b in bounds.items()
            }
            if k == 0:
                streams["option_open_interest"] = sorted_streams["option_open_interest"]
            yield int(edges[k + 1]), Batch(streams=streams, labels=whole.labels if k == 0 else None)

    async def live(
        self, day: dt.date, *, speed: float = 1.0, interval_s: float = 1.0
    ) -> AsyncIterator[Batch]:
        """Emit the day in time order; ``speed`` 1 is real time, 0 as fast as possible."""
        origin = time.monotonic()
        start, _ = session_window(replace(self.spec, date=day))
        for window_end, batch in self.time_slices(day, interval_s):
            if speed > 0:
                due = origin + (window_end - start) / NS / speed
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            yield batch
