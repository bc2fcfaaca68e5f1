"""Live mode: a recorder that spools a source's batches, and the step that lands them.

The recorder (``flowlake live``) appends each batch of a source to the spool atomically,
with the source's position as its cursor, and resumes after a restart from the last
cursor it wrote: nothing is recorded twice, nothing is skipped. The landing step (used by
the Dagster sensor and by ``flowlake live`` alike) lands the batches after a sequence
number, idempotently, and reports what it landed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg
import polars as pl

from adapters.schema import STREAMS
from adapters.source import Batch, MarketSource
from assets.landing import LandingCounts, land_batch
from assets.tail import Tail
from lake import Lake
from orchestration.partitions import trading_days
from orchestration.resources import LakeResource
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
    order-independent). The counts carry the backlog's :class:`~assets.tail.Tail`.
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
        total = total + land_batch(lake, merged, day, track_tail=True)
    return total


def _in_flight(instance: dg.DagsterInstance | None, run_key: str | None) -> bool | None:
    """Return whether the run requested under ``run_key`` is still going (True), ended
    well (False), or failed / never started (None: its tail must be requested again)."""
    if instance is None or run_key is None:
        return False
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/run_key": run_key}), limit=1)
    if not runs:
        return None
    if runs[0].status == dg.DagsterRunStatus.SUCCESS:
        return False
    return None if runs[0].is_finished else True


#: Live runs are small: one process, no per-step process start (DESIGN.md §8). Backfills and
#: EOD rebuilds keep the job's default multiprocess executor.
LIVE_RUN_CONFIG = {"execution": {"config": {"in_process": {}}}}


#: Where the sensor's tail runs execute: "sensor" (in the tick) or "run" (the run launcher).
LIVE_BUILD_ENV = "FLOWLAKE_LIVE_BUILD"


def build_in_process(
    lake: LakeResource, request: dg.RunRequest, instance: dg.DagsterInstance
) -> bool:
    """Execute a live run request's derived assets now, in this process, as a run of
    ``instance`` with the request's tags and run key; return whether it succeeded (a
    failed one is requested again by the next tick, see :func:`spool_tick`)."""
    from orchestration.definitions import DERIVED
    from orchestration.resources import ThresholdsResource

    result = dg.materialize(
        DERIVED,
        resources={"lake": lake, "thresholds": ThresholdsResource()},
        partition_key=request.partition_key,
        instance=instance,
        tags={**request.tags, "dagster/run_key": request.run_key or ""},
        raise_on_error=False,
        # The run's events go to the instance (the UI shows them); the daemon log stays quiet.
        run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
    )
    return result.success


def landed_seq(cursor: str | None, day: dt.date) -> int:
    """Return the last spool sequence number of ``day`` that a tick's cursor has landed."""
    return json.loads(cursor or "{}").get(day.isoformat(), {}).get("seq", -1)


def spool_tick(
    lake: LakeResource,
    spool: Spool,
    cursor: str | None,
    days: list | None = None,
    instance: dg.DagsterInstance | None = None,
) -> dg.SensorResult:
    """Land every spooled batch after the cursor (of ``days``, default all); return events,
    run requests and the new cursor.

    Per day, the cursor keeps the last landed sequence number and the tail not yet built
    (:class:`~assets.tail.Tail`, carried in the run's tags). With the Dagster ``instance``
    (the sensor) a day has at most one derived run in flight: new batches are landed
    meanwhile and their tail waits for the next run, and the tail of a run that failed is
    requested again, so no range is lost and two runs never write one day at once.
    """
    state: dict[str, dict] = json.loads(cursor or "{}")
    events: list[dg.AssetMaterialization] = []
    requests: list[dg.RunRequest] = []
    partitions = set(trading_days.get_partition_keys())
    for day in days if days is not None else spool.days():
        key = day.isoformat()
        entry = state.get(key, {"seq": -1})
        pending = Tail.restored(entry.get("pending"))
        new = spool.batches(day, after=entry["seq"])
        if new:
            counts = land_spooled(lake.lake(), spool, new)
            entry["seq"] = new[-1].seq
            pending = pending | counts.tail
            meta = {"spool_seq": f"{new[0].seq}..{new[-1].seq}", "batches": len(new)}
            events += [
                dg.AssetMaterialization(
                    asset_key=s,
                    partition=key if key in partitions else None,
                    metadata={**meta, "rows_landed": counts.landed.get(s, 0)},
                )
                for s in STREAMS
                if counts.landed.get(s, 0)
            ]
        flight = _in_flight(instance, entry.get("run_key"))
        if flight is None:  # failed: build its tail again with the next run
            pending = pending | Tail.restored(entry.get("run_tail"))
        if not flight:
            entry.pop("run_key", None)
            entry.pop("run_tail", None)
        if not flight and pending != Tail() and key in partitions:
            entry["attempt"] = entry.get("attempt", 0) + 1
            entry["run_key"] = f"live-{key}-{entry['seq']}-{entry['attempt']}"
            entry["run_tail"] = pending.saved()
            requests.append(
                dg.RunRequest(
                    run_key=entry["run_key"],
                    partition_key=key,
                    tags={"flowlake/live": "true", **pending.tags()},
                    run_config=LIVE_RUN_CONFIG,
                )
            )
            pending = Tail()
        entry["pending"] = pending.saved()
        state[key] = entry
    return dg.SensorResult(
        run_requests=requests, asset_events=events, cursor=json.dumps(state, sort_keys=True)
    )


@dataclass(frozen=True)
class Tick:
    """One pass of :func:`follow`: the batches it landed, when, and when the build ended."""

    landed: list[SpooledBatch]
    landed_ns: int
    built_ns: int | None


async def follow(
    source: MarketSource,
    spool: Spool,
    day: dt.date,
    lake: LakeResource,
    *,
    speed: float,
    interval_s: float,
    poll_s: float,
    build: Callable[[dt.date, dict[str, str]], object],
    report: Callable[[dg.AssetMaterialization], object] | None = None,
    on_tick: Callable[[Tick], object] | None = None,
) -> RecordResult:
    """Record ``source`` into the spool and, every ``poll_s``, run the sensor's tick for
    ``day`` and ``build`` the day (with the run request's tags: the tail) after each
    landing, until the source ends and everything is landed and built. ``flowlake live``
    and the live load benchmark both run this."""
    recorder = asyncio.create_task(record(source, spool, day, speed=speed, interval_s=interval_s))
    cursor: str | None = None
    while True:
        finished = recorder.done()
        before = landed_seq(cursor, day)
        result = await asyncio.to_thread(spool_tick, lake, spool, cursor, [day])
        landed_ns = time.time_ns()
        cursor = result.cursor
        after = landed_seq(cursor, day)
        for event in result.asset_events or []:
            if report is not None:
                report(event)
        built_ns = None
        for request in result.run_requests or []:
            await asyncio.to_thread(build, day, dict(request.tags))
            built_ns = time.time_ns()
        if on_tick is not None and after > before:
            landed = [b for b in spool.batches(day, after=before) if b.seq <= after]
            on_tick(Tick(landed, landed_ns, built_ns))
        if finished and not result.run_requests:
            return recorder.result()
        await asyncio.sleep(poll_s)
