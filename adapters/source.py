"""The one small interface every source implements: history as batches, live as an async stream.

A :class:`Batch` is raw rows keyed by stream name (DESIGN.md §2 columns, loosely typed is
fine: landing validates), plus ground-truth labels where a source has them.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import polars as pl


@dataclass(frozen=True)
class Batch:
    """One delivery of raw rows.

    Attributes
    ----------
    streams
        Stream name (``option_trades``, ...) -> rows.
    labels
        Planted-pattern labels (the synthetic market only).
    """

    streams: dict[str, pl.DataFrame]
    labels: pl.DataFrame | None = field(default=None)

    @property
    def rows(self) -> int:
        """Return the number of raw rows over all streams."""
        return sum(frame.height for frame in self.streams.values())


class MarketSource(ABC):
    """A source of canonical raw batches."""

    name: str = "source"

    @abstractmethod
    def historical(self, day: dt.date) -> Iterator[Batch]:
        """Yield the batches that make up ``day`` (any split; landing is idempotent)."""

    def live(
        self, day: dt.date, *, speed: float = 1.0, interval_s: float = 1.0
    ) -> AsyncIterator[Batch]:
        """Return an async iterator of live batches.

        Raises
        ------
        NotImplementedError
            For sources without a live mode.
        """
        raise NotImplementedError(f"source {self.name!r} has no live mode")
