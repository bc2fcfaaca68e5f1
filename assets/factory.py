"""One factory for the day-partitioned derived assets: the shape every one of them shares.

Each derived asset is a pure transform plus a thin Dagster asset that reads one day,
calls it and overwrites that day's partition (or, in a live run, its tail). The thin part
always starts the same way: the lake scoped to the run's bucket, the partition's day, the
thresholds loaded once, the run's plan, and the table's own name. :func:`day_asset`
builds it from one declaration, so the table name is written once; the asset's body gets
a :class:`DayRun`.

Examples
--------
>>> @day_asset("equity_candles", group="equities", deps=["equity_prints"],
...            checks=["symbol_interval_ts_unique"], description="Candles.")
... def equity_candles(run: DayRun) -> dg.MaterializeResult:
...     prints = run.lake.require_day("equity_prints", run.day)
...     ...
"""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation at
# definition time and does not resolve string annotations.

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dagster as dg
import polars as pl
from dagster import AssetExecutionContext

from assets.checks import specs
from assets.partitions import partition_date, trading_days
from assets.resources import LakeResource, ThresholdsResource
from assets.tail import ALERT_PATH, Plan, plan_for
from assets.thresholds import Thresholds


@dataclass(frozen=True)
class DayRun:
    """What one run of a day asset works with.

    Attributes
    ----------
    context
        The Dagster run's context (its tags carry a live run's tail).
    lake
        The lake, scoped to the run's bucket of underlyings (whole days otherwise).
    day
        The partition's trading day.
    th
        The thresholds, loaded once for the run.
    table
        The asset's own table.
    """

    context: AssetExecutionContext
    lake: LakeResource
    day: dt.date
    th: Thresholds
    table: str

    def plan(self, sides: tuple[str, ...]) -> Plan:
        """Return the run's plan for an asset reading ``sides`` ("option", "equity")."""
        return plan_for(self.context, self.lake.has(self.table), sides)

    def overwrite(
        self,
        frame: pl.DataFrame,
        checks: list[dg.AssetCheckResult] | None = None,
        clock: str | None = None,
        since_ns: int | None = None,
    ) -> dg.MaterializeResult:
        """Replace the day's partition of the table (a live run: its tail) with ``frame``."""
        return self.lake.overwrite(
            self.table, frame, self.day, checks, clock=clock, since_ns=since_ns
        )

    def overwrite_version(
        self,
        frame: pl.DataFrame,
        checks: list[dg.AssetCheckResult] | None = None,
        clock: str | None = None,
        since_ns: int | None = None,
    ) -> dg.MaterializeResult:
        """Replace the day's rows of the run's config version (other versions stay)."""
        return self.lake.overwrite_version(
            self.table,
            frame,
            self.day,
            self.th.config_version,
            checks,
            clock=clock,
            since_ns=since_ns,
        )


def day_asset(
    table: str,
    *,
    group: str,
    deps: Sequence[str | dg.AssetDep],
    checks: Sequence[str],
    description: str,
    alert_path: bool = False,
    blocking: bool = False,
) -> Callable[[Callable[[DayRun], dg.MaterializeResult]], dg.AssetsDefinition]:
    """Return a decorator that makes ``build(run)`` the day-partitioned asset ``table``.

    ``checks`` names the asset's checks (:func:`assets.checks.specs`; ``blocking`` stops
    downstream assets when one fails); ``alert_path`` gives its runs the priority of the
    path to the alerts.
    """

    def wrap(build: Callable[[DayRun], dg.MaterializeResult]) -> dg.AssetsDefinition:
        @dg.asset(
            name=table,
            group_name=group,
            partitions_def=trading_days,
            op_tags=ALERT_PATH if alert_path else None,
            check_specs=specs(table, list(checks), blocking=blocking),
            deps=list(deps),
            description=description,
        )
        def asset(
            context: AssetExecutionContext, lake: LakeResource, thresholds: ThresholdsResource
        ) -> dg.MaterializeResult:
            run = DayRun(
                context,
                lake.scoped_to(context),
                partition_date(context.partition_key),
                thresholds.load(),
                table,
            )
            return build(run)

        asset.__doc__ = build.__doc__
        return asset

    return wrap
