"""A live tail build: a day's derived assets from a micro-batch's tail on, as one in-process
run on a scratch instance, reported to the persistent one."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import dagster as dg

from assets.catalog import DERIVED
from assets.resources import LakeResource, ThresholdsResource
from orchestration.failures import run_failure

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
    check outcomes are written to ``asset_checks`` in one commit at the end (a run on the
    persistent SQLite instance costs a database per run and a connection per event). The
    caller reports ``events`` to the
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
