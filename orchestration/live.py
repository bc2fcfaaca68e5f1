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
from dataclasses import dataclass, field, replace

import dagster as dg
import polars as pl

from adapters.schema import STREAMS, quarantine_rows
from adapters.source import Batch, MarketSource, merge_streams
from assets.catalog import DERIVED
from assets.landing import LandingCounts, land_batch
from assets.partitions import trading_days
from assets.resources import LakeResource, ThresholdsResource
from assets.tail import Tail
from lake import Lake
from lake.write import land
from orchestration.failures import run_failure
from orchestration.spool import UNREADABLE, Spool, SpoolDamaged, SpooledBatch

#: Materialization metadata of the quarantine: the spooled batches quarantined whole.
DAMAGED = "damaged_spool_batches"


class SettingsChanged(ValueError):
    """A recording resumed with settings other than the spool's."""


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

    A batch's cursor is its position in the source's stream. A source that replays the
    day from its start (synthetic, files) skips, on a restart, the batches up to the last
    spooled cursor, so a resumed recording continues exactly where it stopped. A
    real-time feed continues instead (:meth:`~adapters.source.MarketSource.resumed`, from
    the last batch's ``resume`` where it can replay), its positions numbered on. A position
    means the same rows only for the same source, universe and interval: those settings go
    into every manifest, and a restart with others is refused before anything is recorded.

    Raises
    ------
    SettingsChanged
        When the day's spool was recorded with other settings.
    """
    spool.sweep(day)
    # A batch whose manifest is damaged says nothing of where the recording was: resumed
    # after the last readable one, its positions are recorded again (landing is idempotent).
    readable = [b for b in spool.batches(day) if UNREADABLE not in b.manifest]
    last = readable[-1] if readable else None
    settings = {"source": source.name, "universe": source.universe(), "interval_s": interval_s}
    recorded = None if last is None else last.manifest.get("settings")
    if recorded is not None and recorded != settings:
        changed = ", ".join(
            f"{k} {recorded.get(k)!r} -> {settings[k]!r}"
            for k in settings
            if recorded.get(k) != settings[k]
        )
        raise SettingsChanged(
            f"spool {spool.root} holds {day} recorded with other settings ({changed}): resume "
            "with the same source, underlyings and --interval, or record into another --spool"
        )
    resume_after = -1 if last is None or last.cursor is None else last.cursor
    replays = source.replays_day
    if last is not None and not replays:
        source = source.resumed(last.manifest.get("resume"), int(last.manifest["created_ns"]))
    written = skipped = rows = 0
    position = -1 if replays else resume_after
    async for batch in source.live(day, speed=speed, interval_s=interval_s):
        position += 1
        if replays and position <= resume_after:
            skipped += 1
            continue
        spool.append(day, batch, source=source.name, cursor=position, settings=settings)
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
        parts = []
        for spooled in (b for b in batches if b.day == day):
            try:
                parts.append(spool.read(spooled))
            except SpoolDamaged as exc:
                # One damaged batch must not stop the day: it is recorded in quarantine
                # with its reason and manifest, and the others land.
                damaged = quarantine_rows(
                    "spool",
                    pl.DataFrame(
                        {
                            "event_id": [spooled.manifest.get("batch_id", str(spooled.seq))],
                            "source": [spooled.manifest.get("source")],
                            "ts_recv": [spooled.manifest.get("created_ns")],
                            "date": [day],
                            "manifest": [json.dumps(spooled.manifest, sort_keys=True)],
                        },
                        schema_overrides={"ts_recv": pl.Int64, "source": pl.String},
                    ),
                    str(exc),
                )
                written = land(
                    lake, "quarantine", damaged, key="quarantine_id", compare=False
                ).rows_written
                total = total + LandingCounts(quarantined=written, damaged=(str(exc),))
        if not parts:
            continue
        streams = merge_streams(parts)
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


#: Live runs are small: one process, no per-step process start (docs/stack.md). Backfills and
#: EOD rebuilds keep the job's default multiprocess executor.
LIVE_RUN_CONFIG = {"execution": {"config": {"in_process": {}}}}


#: Where the sensor's tail builds execute: "sensor" (in the tick) or "run" (the run launcher).
LIVE_BUILD_ENV = "FLOWLAKE_LIVE_BUILD"

#: A tail build's step log goes to its scratch instance; only errors reach the console.
_QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


@dataclass(frozen=True)
class TailBuild:
    """What :func:`build_tail` did: whether every asset succeeded, the materializations and
    check evaluations to report to the Dagster instance, and the failure's root cause."""

    success: bool
    events: list[dg.AssetMaterialization | dg.AssetCheckEvaluation]
    error: str | None = None

    @property
    def committed_ns(self) -> dict[str, int]:
        """Return when each built table had its new version (ns since the epoch)."""
        return {
            e.asset_key.path[-1]: e.metadata["committed_ns"].value  # type: ignore[misc]
            for e in self.events
            if isinstance(e, dg.AssetMaterialization) and "committed_ns" in e.metadata
        }


def build_tail(lake: LakeResource, day: dt.date, tags: dict[str, str]) -> TailBuild:
    """Build the derived tables of ``day`` for the tail in ``tags``, in this process; return
    what it did (the lake holds the result; nothing is raised for a failed asset).

    The assets run as one in-process Dagster run on a scratch in-memory instance, and their
    check outcomes are written to ``asset_checks`` in one commit at the end. Measured with
    15 derived assets on 8 underlyings: a run on the persistent SQLite instance cost 6.5-7 s a
    tail (a database per run, a connection per event), in memory 3.4 s; one check commit
    instead of one per asset saves ~15 commits a tail. The caller reports ``events`` to the
    persistent instance (the sensor through its ``SensorResult``), so the Dagster UI shows
    every live materialization and check; EOD, repair and backfill runs stay ordinary runs.
    """
    deferred = LakeResource(root=lake.root, checks_per_asset=False)
    with dg.DagsterInstance.ephemeral() as scratch:
        result = dg.materialize(
            DERIVED,
            resources={"lake": deferred, "thresholds": ThresholdsResource()},
            partition_key=day.isoformat(),
            instance=scratch,
            tags=tags,
            raise_on_error=False,
            run_config=_QUIET,
        )
        evaluations = result.get_asset_check_evaluations()
        deferred.record_outcomes(day, [(e.asset_key.path[-1], e) for e in evaluations])
        # Each materialization with the moment its table was committed (the step's event
        # time): the latency figures read it, and the UI shows it with the live tags.
        materialized = [
            _with_metadata(
                entry.dagster_event.step_materialization_data.materialization,
                committed_ns=int(entry.timestamp * 1e9),
            )
            for entry in scratch.all_logs(
                result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
            )
            if entry.dagster_event is not None
        ]
        error = None if result.success else run_failure(result)
    return TailBuild(result.success, [*materialized, *evaluations], error)


def _with_metadata(event: dg.AssetMaterialization, **extra: int) -> dg.AssetMaterialization:
    """Return ``event`` with ``extra`` metadata entries added."""
    return dg.AssetMaterialization(
        asset_key=event.asset_key,
        partition=event.partition,
        description=event.description,
        metadata={**event.metadata, **extra},
        tags=event.tags,
    )


def landed_seq(cursor: str | None, day: dt.date) -> int:
    """Return the last spool sequence number of ``day`` that a tick's cursor has landed."""
    return json.loads(cursor or "{}").get(day.isoformat(), {}).get("seq", -1)


#: Builds a day's tail in the tick (``(day, run tags) -> TailBuild``), see :func:`build_tail`.
Builder = Callable[[dt.date, dict[str, str]], TailBuild]


def spool_tick(
    lake: LakeResource,
    spool: Spool,
    cursor: str | None,
    days: list | None = None,
    instance: dg.DagsterInstance | None = None,
    build: Builder | None = None,
) -> dg.SensorResult:
    """Land every spooled batch after the cursor (of ``days``, default all); return events,
    run requests and the new cursor.

    Per day, the cursor keeps the last landed sequence number and the tail not yet built
    (:class:`~assets.tail.Tail`). With ``build`` the tick builds each day's tail itself and
    returns its events; a failed build keeps its tail for the next tick. Without it the
    tick requests a run per day (the tail in its tags); with the Dagster ``instance`` a day
    then has at most one run in flight: new batches are landed meanwhile and their tail
    waits for the next run, and the tail of a run that failed is requested again, so no
    range is lost and two runs never write one day at once.
    """
    state: dict[str, dict] = json.loads(cursor or "{}")
    events: list[dg.AssetMaterialization | dg.AssetCheckEvaluation] = []
    requests: list[dg.RunRequest] = []
    for day in days if days is not None else spool.days():
        key = day.isoformat()
        entry = state.get(key, {"seq": -1})
        pending = Tail.restored(entry.get("pending"))
        new = spool.batches(day, after=entry["seq"])
        if new:
            counts = land_spooled(lake.lake(), spool, new)
            entry["seq"] = new[-1].seq
            pending = pending | counts.tail
            meta = {
                "spool_seq": f"{new[0].seq}..{new[-1].seq}",
                "batches": len(new),
                "landed_ns": time.time_ns(),
            }
            partition = key if trading_days.has_partition_key(key) else None
            events += [
                dg.AssetMaterialization(
                    asset_key=s,
                    partition=partition,
                    metadata={**meta, "rows_landed": counts.landed.get(s, 0)},
                )
                for s in STREAMS
                if counts.landed.get(s, 0)
            ]
            if counts.damaged:
                events.append(
                    dg.AssetMaterialization(
                        asset_key="quarantine",
                        partition=partition,
                        metadata={**meta, DAMAGED: "\n".join(counts.damaged)},
                    )
                )
        flight = _in_flight(instance, entry.get("run_key"))
        if flight is None:  # failed: build its tail again with the next run
            pending = pending | Tail.restored(entry.get("run_tail"))
        if not flight:
            entry.pop("run_key", None)
            entry.pop("run_tail", None)
        # A following sensor tick polls every 0.2 s: a membership test, not the ~8 ms list of
        # every partition key.
        if not flight and pending != Tail() and trading_days.has_partition_key(key):
            tags = {"flowlake/live": "true", **pending.tags()}
            if build is not None:
                built = build(day, tags)
                events += [
                    _with_metadata(e, spool_seq_through=entry["seq"])
                    if isinstance(e, dg.AssetMaterialization)
                    else e
                    for e in built.events
                ]
                if built.success:
                    pending = Tail()
            else:
                entry["attempt"] = entry.get("attempt", 0) + 1
                entry["run_key"] = f"live-{key}-{entry['seq']}-{entry['attempt']}"
                entry["run_tail"] = pending.saved()
                requests.append(
                    dg.RunRequest(
                        run_key=entry["run_key"],
                        partition_key=key,
                        tags=tags,
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
