"""The one small interface every source implements: history as batches, live as an async stream.

A :class:`Batch` is raw rows keyed by stream name (the raw data of docs/rules.md; loosely
typed is fine: landing validates), plus ground-truth labels where a source has them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
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
    resume
        Where a live feed that can replay continues after a restart (ns of market time,
        see :meth:`MarketSource.resumed`); None for the others.
    """

    streams: dict[str, pl.DataFrame]
    labels: pl.DataFrame | None = field(default=None)
    resume: int | None = field(default=None)

    @property
    def rows(self) -> int:
        """Return the number of raw rows over all streams."""
        return sum(frame.height for frame in self.streams.values())


class MarketSource(ABC):
    """A source of canonical raw batches."""

    name: str = "source"
    #: A restarted recording of a source that replays the day from its start (synthetic,
    #: files) skips the batches it spooled before. A real-time feed continues from now
    #: instead (see :meth:`resumed`), and every batch it then delivers is new.
    replays_day: bool = True
    #: Why a real-time feed's pause cannot be filled, for the warning of :meth:`resumed`.
    no_replay: str = "the feed does not replay"

    def resumed(self, resume: int | None, stopped_ns: int) -> MarketSource:
        """Return this real-time source continuing a recording that stopped at
        ``stopped_ns`` (wall clock), its last batch's ``resume`` in hand.

        Here: the feed continues from now, and the gap is logged (``flowlake`` logger) with
        ``no_replay``. A feed that can replay (Databento Live) overrides this to start from
        ``resume``, so the pause is filled.
        """
        del resume
        stopped = dt.datetime.fromtimestamp(stopped_ns / 1e9, dt.UTC).strftime("%H:%M:%S")
        logging.getLogger(f"flowlake.{self.name}").warning(
            "%s: resuming a recording stopped at %s UTC; %s, so the pause is not recorded",
            self.name, stopped, self.no_replay,
        )  # fmt: skip
        return self

    def universe(self) -> str:
        """Return what a recording of this source covers: its instruments and the options
        that decide which rows it delivers (never credentials). A recording resumed with
        another universe would lose or double rows, so the recorder refuses it."""
        return self.name

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


def merge_streams(parts: Iterable[Batch]) -> dict[str, pl.DataFrame]:
    """Return the streams of ``parts`` concatenated stream by stream (columns a part lacks
    are null)."""
    frames: dict[str, list[pl.DataFrame]] = {}
    for part in parts:
        for name, frame in part.streams.items():
            frames.setdefault(name, []).append(frame)
    return {name: pl.concat(f, how="diagonal_relaxed") for name, f in frames.items()}


def rows_of_day(batch: Batch, day: dt.date, others: Iterable[dt.date]) -> Batch:
    """Return ``batch`` without its rows of the ``others`` days: an ingest that lands
    several days runs once per day, and a row of another of its days lands in that day's
    run instead of going to quarantine as "another day" here. Rows whose date cannot be
    told stay, for the validator to judge.
    """
    elsewhere = sorted(set(others) - {day})
    if not elsewhere:
        return batch
    from adapters.calendar import row_date

    def kept(frame: pl.DataFrame) -> pl.DataFrame:
        date = row_date(frame.columns)
        return frame if date is None else frame.filter(~date.is_in(elsewhere).fill_null(False))

    return Batch(
        streams={name: kept(frame) for name, frame in batch.streams.items()},
        labels=batch.labels,
    )


def slice_by_time(
    batch: Batch, start_ns: int, end_ns: int, step_ns: int
) -> Iterator[tuple[int, Batch]]:
    """Yield ``(window end, batch)`` pieces of ``batch`` in ``ts_event`` order, ``step_ns`` each.

    Every row is in exactly one piece (rows before ``start_ns`` in the first, rows after
    ``end_ns`` in the last); streams without ``ts_event`` (open interest) and the labels
    come with the first piece. Replaying the pieces in order is a live day.
    """
    step = max(1, step_ns)
    edges = np.arange(start_ns, end_ns + step, step, dtype=np.int64)
    timed = {
        n: f.sort("ts_event", "event_id")
        for n, f in batch.streams.items()
        if "ts_event" in f.columns
    }
    untimed = {n: f for n, f in batch.streams.items() if "ts_event" not in f.columns}
    bounds = {
        n: np.searchsorted(f.get_column("ts_event").to_numpy(), edges, side="left")
        for n, f in timed.items()
    }
    last = len(edges) - 2
    for k in range(last + 1):
        pieces = {}
        for name, b in bounds.items():
            lo = 0 if k == 0 else int(b[k])
            hi = timed[name].height if k == last else int(b[k + 1])
            pieces[name] = timed[name].slice(lo, hi - lo)
        if k == 0:
            pieces.update(untimed)
        yield int(edges[k + 1]), Batch(streams=pieces, labels=batch.labels if k == 0 else None)


async def paced(
    slices: Iterable[tuple[int, Batch]], start_ns: int, speed: float
) -> AsyncIterator[Batch]:
    """Yield time slices as a live feed would: each when its window has passed at ``speed``
    (1 real time, 60 a minute per second, 0 as fast as possible)."""
    origin: float | None = None
    for window_end, batch in slices:
        # The clock starts when the first slice is ready: preparing the feed (generating a
        # synthetic day, reading files) is not market time, and counting it would hand the
        # first batches over late, all at once.
        origin = time.monotonic() if origin is None else origin
        if speed > 0:
            due = origin + (window_end - start_ns) / 1e9 / speed
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        else:
            await asyncio.sleep(0)  # as fast as possible, but let the consumers of the loop run
        yield batch


@dataclass(frozen=True)
class Replayed(MarketSource):
    """Any historical source replayed through the live path (``databento-replay``, demos)."""

    inner: MarketSource
    name: str = "replay"

    def universe(self) -> str:
        """Return the inner source's universe."""
        return self.inner.universe()

    def historical(self, day: dt.date) -> Iterator[Batch]:
        """Return the inner source's batches."""
        return self.inner.historical(day)

    async def live(
        self, day: dt.date, *, speed: float = 1.0, interval_s: float = 1.0
    ) -> AsyncIterator[Batch]:
        """Replay the stored day in time order, ``interval_s`` of market time per batch."""
        from adapters.calendar import session_bounds, to_ns

        parts = list(self.inner.historical(day))
        merged = Batch(
            streams=merge_streams(parts),
            labels=next((p.labels for p in parts if p.labels is not None), None),
        )
        open_, close = session_bounds(day)
        start = to_ns(open_)
        async for batch in paced(
            slice_by_time(merged, start, to_ns(close), int(interval_s * 1e9)), start, speed
        ):
            yield batch
