"""The spool sensor: land new micro-batches in the tick, then request the day's derived update.

Measured on this machine (DESIGN.md §8): landing inside the sensor and one in-process run
per tick for everything new keeps latency low without a backlog. The cursor is the last
landed sequence number per day; a failed tick lands its batches again, which is harmless
because landing is idempotent on ``event_id``.
"""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation.

import json

import dagster as dg

from adapters.schema import STREAMS
from orchestration.jobs import derived_job
from orchestration.live import land_spooled
from orchestration.partitions import trading_days
from orchestration.resources import LakeResource
from orchestration.spool import Spool

SPOOL_SENSOR_INTERVAL_S = 2


def spool_tick(
    lake: LakeResource, spool: Spool, cursor: str | None, days: list | None = None
) -> dg.SensorResult:
    """Land every spooled batch after the cursor (of ``days``, default all); return events,
    run requests and the new cursor."""
    state: dict[str, int] = json.loads(cursor or "{}")
    events: list[dg.AssetMaterialization] = []
    requests: list[dg.RunRequest] = []
    partitions = set(trading_days.get_partition_keys())
    for day in days if days is not None else spool.days():
        key = day.isoformat()
        new = spool.batches(day, after=state.get(key, -1))
        if not new:
            continue
        counts = land_spooled(lake.lake(), spool, new)
        state[key] = new[-1].seq
        meta = {"spool_seq": f"{new[0].seq}..{new[-1].seq}", "batches": len(new)}
        partition = key if key in partitions else None
        events += [
            dg.AssetMaterialization(
                asset_key=s,
                partition=partition,
                metadata={**meta, "rows_landed": counts.landed.get(s, 0)},
            )
            for s in STREAMS
            if counts.landed.get(s, 0)
        ]
        if partition is not None:
            requests.append(
                dg.RunRequest(
                    run_key=f"live-{key}-{new[-1].seq}",
                    partition_key=key,
                    tags={"flowlake/live": "true"},
                )
            )
    return dg.SensorResult(
        run_requests=requests, asset_events=events, cursor=json.dumps(state, sort_keys=True)
    )


@dg.sensor(
    job=derived_job,
    minimum_interval_seconds=SPOOL_SENSOR_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Lands new spooled micro-batches (FLOWLAKE_SPOOL) and requests the day's derived update.",
)
def spool_sensor(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult:
    """Evaluate one tick over the spool."""
    return spool_tick(lake, Spool.from_env(), context.cursor)
