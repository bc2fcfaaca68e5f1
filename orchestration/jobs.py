"""Jobs and the end-of-day schedule (trading days only, after the close in New York)."""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation.

import dagster as dg

from adapters.calendar import NY, is_session, previous_session
from orchestration.buckets import PREFIX

LANDING = dg.AssetSelection.groups("landing")
DERIVED = dg.AssetSelection.all() - LANDING

landing_job = dg.define_asset_job("landing_job", selection=LANDING)
derived_job = dg.define_asset_job(
    "derived_job",
    selection=DERIVED,
    description="Rebuild every derived table of a day from landing (EOD replay, repair, backfill).",
)

bucketed_job = dg.define_asset_job(
    "bucketed_job",
    selection=dg.AssetSelection.groups(PREFIX),
    description=(
        "Every derived table of one (date, bucket of underlyings): a day as N parallel runs "
        "(backfill all buckets of a date); the union equals the daily build."
    ),
)

calibration_job = dg.define_asset_job(
    "calibration_job",
    selection=dg.AssetSelection.assets("classifier_hits", "alerts"),
    description=(
        "Re-run classifiers and alerts under another thresholds file (set resources.thresholds."
        "config.path in run config); rows are written under that file's config_version."
    ),
)


@dg.schedule(
    job=derived_job,
    cron_schedule="30 16 * * 1-5",
    execution_timezone="America/New_York",
    description="End-of-day rebuild of the day's derived tables, 16:30 New York, trading days only.",
)
def eod_schedule(
    context: dg.ScheduleEvaluationContext,
) -> list[dg.RunRequest] | dg.SkipReason:
    """Request the rebuild of today's partition, and the previous session's alert outcomes
    and contract volume (their next-day horizon and open-interest change are known now);
    skip exchange holidays."""
    day = context.scheduled_execution_time.astimezone(NY).date()
    if not is_session(day):
        return dg.SkipReason(f"{day} is not an XNYS session")
    before = previous_session(day).isoformat()
    return [
        dg.RunRequest(run_key=f"eod-{day.isoformat()}", partition_key=day.isoformat()),
        dg.RunRequest(
            run_key=f"eod-next-day-{before}",
            partition_key=before,
            asset_selection=[dg.AssetKey("alert_outcomes"), dg.AssetKey("contract_volume")],
        ),
    ]
