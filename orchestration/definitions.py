"""The one ``Definitions`` object: wiring only (assets, checks, resources, jobs, schedules)."""

from __future__ import annotations

import dagster as dg

from assets.catalog import DERIVED, LANDING, RESOURCES
from assets.runtime import configure_process
from orchestration.jobs import (
    calibration_job,
    derived_job,
    eod_schedule,
    landing_job,
)
from orchestration.sensors import spool_sensor

# A code location's process is Dagster's: its settings start here.
configure_process()

defs = dg.Definitions(
    assets=[LANDING, *DERIVED],
    jobs=[landing_job, derived_job, calibration_job],
    schedules=[eod_schedule],
    sensors=[spool_sensor],
    resources=RESOURCES,
)
