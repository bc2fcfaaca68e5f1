"""Live mode: a recorder that spools a source's batches, and the step that lands them.

The recorder (``flowlake live``) appends each batch of a source to the spool atomically,
with the source's position as its cursor, and resumes after a restart from the last
cursor it wrote: nothing is recorded twice, nothing is skipped. The landing step (used by
the Dagster sensor and by ``flowlake live`` alike) lands the batches after a sequence
number, idempotently, and reports what it landed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from adapters.source import Batch, MarketSource
from assets.landing import LandingCounts, land_batch
from lake import Lake
from orchestration.spool import Spool, SpooledBatch


@dataclass(frozen=True)
class RecordResult:
    """What one recorder run wrote."""

    batches: int
    skipped: int
    rows: int


async def record(
    source: MarketSource, spool: Spool, day: dt.date, *, speed: float, interval_s: float
) -> RecordResult:
    """Spool the live batches of ``source`` for ``day`` until the source ends.

    A batch's cursor is its position in the source's stream; on a restart the batches up
    to the last spooled cursor are skipped, so a resumed recording continues exactly
    where it stopped.
    """
    spool.sweep(day)
    last = spool.last(day)
    resume_after = -1 if last is None or last.cursor is None else last.cursor
    written = skipped = rows = 0
    position = -1
    async for batch in source.live(day, speed=speed, interval_s=interval_s):
        position += 1
        if position <= resume_after:
            skipped += 1
            continue
        spool.append(day, batch, source=source.name, cursor=position)
        written += 1
        rows += batch.rows
    return RecordResult(written, skipped, rows)


def land_spooled(lake: Lake, spool: Spool, batches: list[SpooledBatch]) -> LandingCounts:
    """Land spooled batches of one day (a tick's backlog) with one merge per stream.

    Each merge costs tens of milliseconds whatever its size, so a backlog is landed as one
    batch; the result is the same as landing them one by one (landing is idempotent and
    order-independent).
    """
    total = LandingCounts()
    for day in sorted({b.day for b in batches}):
        parts = [spool.read(b) for b in batches if b.day == day]
        names = {n for p in parts for n in p.streams}
        streams = {
            n: pl.concat([p.streams[n] for p in parts if n in p.streams], how="diagonal_relaxed")
            for n in names
        }
        labels = [p.labels for p in parts if p.labels is not None]
        merged = Batch(streams=streams, labels=pl.concat(labels) if labels else None)
        total = total + land_batch(lake, merged, day)
    return total
