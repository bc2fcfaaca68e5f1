"""The spool sensor's tick: land what the spool holds after the cursor, then build the day's
tail (in the tick, or as a run) unless a run for it is in flight."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable

import dagster as dg

from adapters.schema import STREAMS
from assets.partitions import trading_days
from assets.resources import LakeResource
from assets.tail import Tail
from orchestration.live.landing import DAMAGED, land_spooled
from orchestration.live.tail import LIVE_RUN_CONFIG, TailBuild, _with_metadata
from orchestration.spool import Spool


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
        # A following tick polls several times a second: a membership test, not a list of
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
