"""The spool sensor: land new micro-batches in the tick, then build the day's derived tail.

Measured on this machine (DESIGN.md §8): landing and the derived update inside the sensor,
reported as ``SensorResult(asset_events=...)``, has the lowest latency. The cursor is the
last landed sequence number per day and the tail not built yet; a failed tick lands its
batches again, which is harmless because landing is idempotent on ``event_id``.
"""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation.

import datetime as dt
import os

import dagster as dg

from orchestration.jobs import derived_job
from orchestration.live import LIVE_BUILD_ENV, TailBuild, build_tail, spool_tick
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

    With ``FLOWLAKE_LIVE_BUILD=sensor`` (the default) the tick builds the day's tail itself
    (:func:`~orchestration.live.build_tail`: in-process, the assets' materializations and
    check evaluations reported through the result; a failed build is logged and its tail
    built again by the next tick). ``run`` hands run requests to the daemon's run launcher
    instead (ordinary runs with step logs, one in flight per day).
    """
    if os.environ.get(LIVE_BUILD_ENV, "sensor") != "sensor":
        return spool_tick(lake, Spool.from_env(), context.cursor, instance=context.instance)

    def build(day: dt.date, tags: dict[str, str]) -> TailBuild:
        built = build_tail(lake, day, tags)
        if not built.success:
            context.log.error(f"tail build for {day} failed (retried next tick): {built.error}")
        return built

    return spool_tick(lake, Spool.from_env(), context.cursor, build=build)
