"""The spool sensor: land new micro-batches in the tick, then request the day's derived update.

Measured on this machine (DESIGN.md §8): landing inside the sensor and one in-process run
per tick for everything new keeps latency low without a backlog. The cursor is the last
landed sequence number per day; a failed tick lands its batches again, which is harmless
because landing is idempotent on ``event_id``.
"""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation.

import os

import dagster as dg

from orchestration.jobs import derived_job
from orchestration.live import LIVE_BUILD_ENV, build_in_process, spool_tick
from orchestration.resources import LakeResource
from orchestration.spool import Spool

SPOOL_SENSOR_INTERVAL_S = 2


@dg.sensor(
    job=derived_job,
    minimum_interval_seconds=SPOOL_SENSOR_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Lands new spooled micro-batches (FLOWLAKE_SPOOL) and requests the day's derived update.",
)
def spool_sensor(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult:
    """Evaluate one tick over the spool.

    With ``FLOWLAKE_LIVE_BUILD=sensor`` (the default) the day's tail run executes inside
    the tick, in-process, as a run of this instance (logs, status and retries as any run):
    DESIGN.md §8 measured this at a fraction of the latency of launching a run process.
    ``run`` hands the requests to the daemon's run launcher instead.
    """
    result = spool_tick(lake, Spool.from_env(), context.cursor, instance=context.instance)
    if os.environ.get(LIVE_BUILD_ENV, "sensor") != "sensor" or not result.run_requests:
        return result
    for request in result.run_requests:
        build_in_process(lake, request, context.instance)
    return dg.SensorResult(asset_events=result.asset_events, cursor=result.cursor)
