"""The optional (date x bucket) code location: wiring only (see orchestration/buckets.py).

A second location in ``workspace.yaml``: the daily location owns landing, so here the
landing tables are external assets (daily partitions) that the bucketed copies read.
"""

from __future__ import annotations

import dagster as dg

from assets.catalog import CROSS_BUCKET, DERIVED, RESOURCES
from assets.landing import landing
from assets.partitions import trading_days
from assets.runtime import configure_process
from orchestration.buckets import bucketed_assets
from orchestration.executors import executor_named
from orchestration.jobs import bucketed_job

LANDING = [
    dg.AssetSpec(key, partitions_def=trading_days, group_name="landing")
    for key in sorted(landing.keys)
]


def bucketed_definitions(executor: str | None = None) -> dg.Definitions:
    """Return the location's definitions with the named executor (see executors.py)."""
    return dg.Definitions(
        assets=[*LANDING, *bucketed_assets([a for a in DERIVED if a.key not in CROSS_BUCKET])],
        jobs=[bucketed_job],
        resources=RESOURCES,
        executor=executor_named(executor),
    )


# A code location's process is Dagster's: its settings start here.
configure_process()
defs = bucketed_definitions()
