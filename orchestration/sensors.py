"""The spool sensor: land new micro-batches in the tick, then build the day's derived tail.

Measured on this machine (docs/stack.md): landing and the derived update inside the sensor,
reported as ``SensorResult(asset_events=...)``, has the lowest latency. The cursor is the
last landed sequence number per day and the tail not built yet; a failed tick lands its
batches again, which is harmless because landing is idempotent on ``event_id``.
"""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation.

import datetime as dt
import os
import time

import dagster as dg

from assets.resources import LakeResource
from orchestration.jobs import derived_job
from orchestration.live import LIVE_BUILD_ENV, TailBuild, build_tail, spool_tick
from orchestration.spool import Spool

SPOOL_SENSOR_INTERVAL_S = 2

#: How long one tick follows the spool (seconds; ``FLOWLAKE_SENSOR_FOLLOW_S``, 0: one pass).
FOLLOW_ENV = "FLOWLAKE_SENSOR_FOLLOW_S"
#: Dagster's daemon evaluates sensors every 5 s whatever their interval (docs/stack.md): a
#: batch spooled just after a tick waited up to 5 s for the next. A tick therefore keeps
#: polling the spool (every ``FOLLOW_POLL_S``) and builds each new batch as it comes, for
#: up to 20 s — well inside the daemon's 60 s evaluation timeout, and no new build starts
#: after that. The cursor is saved when the tick returns: a tick that dies lands its
#: batches again (idempotent) and the next one rebuilds their tail from the saved cursor.
DEFAULT_FOLLOW_S = 20.0
FOLLOW_POLL_S = 0.2


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
    built again by the next tick), and it keeps following the spool for
    ``FLOWLAKE_SENSOR_FOLLOW_S`` seconds (default 20; see :data:`DEFAULT_FOLLOW_S`), building
    each batch as it arrives. ``run`` hands run requests to the daemon's run launcher
    instead (ordinary runs with step logs, one in flight per day).
    """
    spool = Spool.from_env()
    if os.environ.get(LIVE_BUILD_ENV, "sensor") != "sensor":
        return spool_tick(lake, spool, context.cursor, instance=context.instance)

    def build(day: dt.date, tags: dict[str, str]) -> TailBuild:
        built = build_tail(lake, day, tags)
        if not built.success:
            context.log.error(f"tail build for {day} failed (retried next tick): {built.error}")
        return built

    follow_s = float(os.environ.get(FOLLOW_ENV, DEFAULT_FOLLOW_S))
    until = time.monotonic() + follow_s
    cursor, events = context.cursor, []
    while True:
        result = spool_tick(lake, spool, cursor, build=build)
        cursor = result.cursor
        events += result.asset_events or []
        if time.monotonic() >= until:
            return dg.SensorResult(asset_events=events, cursor=cursor)
        time.sleep(FOLLOW_POLL_S)
