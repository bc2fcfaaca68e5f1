"""The follow loop of ``flowlake live``: record a source and, each poll, land and build what it
recorded (the sensor's own tick), until the source ends and everything is caught up."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import dagster as dg

from adapters.source import MarketSource
from assets.resources import LakeResource
from orchestration.live.record import RecordResult, record
from orchestration.live.tail import TailBuild, build_tail
from orchestration.live.tick import landed_seq, spool_tick
from orchestration.spool import Spool, SpooledBatch


@dataclass(frozen=True)
class Tick:
    """One pass of :func:`follow`: the batches it landed, when, and when the build ended."""

    landed: list[SpooledBatch]
    landed_ns: int
    built_ns: int | None
    #: When each table of the tick's build was committed (empty when nothing was built).
    committed_ns: dict[str, int] = field(default_factory=dict)


class TailBuildError(RuntimeError):
    """A tail build failed in :func:`follow` (its message is the root cause)."""


async def follow(
    source: MarketSource,
    spool: Spool,
    day: dt.date,
    lake: LakeResource,
    *,
    speed: float,
    interval_s: float,
    poll_s: float,
    build: Callable[[LakeResource, dt.date, dict[str, str]], TailBuild] = build_tail,
    report: Callable[[dg.AssetMaterialization | dg.AssetCheckEvaluation], object] | None = None,
    on_tick: Callable[[Tick], object] | None = None,
) -> RecordResult:
    """Record ``source`` into the spool and, every ``poll_s``, run the sensor's tick for
    ``day`` (landing, then ``build`` of the tail) until the source ends and everything is
    landed and built. ``flowlake live`` and the live load benchmark both run this.

    Raises
    ------
    TailBuildError
        When a tail build fails (the landed batches stay landed; the next run resumes).
    """
    recorder = asyncio.create_task(record(source, spool, day, speed=speed, interval_s=interval_s))
    cursor: str | None = None
    ticked: list[Tick] = []  # this tick's build: when it started (all landed) and ended

    def in_tick(day: dt.date, tags: dict[str, str]) -> TailBuild:
        landed_ns = time.time_ns()
        built = build(lake, day, tags)
        if not built.success:
            raise TailBuildError(f"tail build for {day} failed: {built.error}")
        ticked.append(Tick([], landed_ns, time.time_ns(), built.committed_ns))
        return built

    while True:
        finished = recorder.done()
        before = landed_seq(cursor, day)
        ticked.clear()
        result = await asyncio.to_thread(spool_tick, lake, spool, cursor, [day], build=in_tick)
        after = landed_seq(cursor := result.cursor, day)
        if on_tick is not None and after > before:
            landed = [b for b in spool.batches(day, after=before) if b.seq <= after]
            tick = ticked[0] if ticked else Tick([], time.time_ns(), None)
            on_tick(replace(tick, landed=landed))
        for event in result.asset_events or []:
            if report is not None:
                report(event)
        if finished:  # this tick saw every spooled batch, landed and built it
            return recorder.result()
        await asyncio.sleep(poll_s)
