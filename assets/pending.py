"""Derived assets declared by DESIGN.md §6 whose rules are not built yet.

Each writes an empty partition in its documented schema, so the asset graph, the
dashboards and downstream readers work end to end, and says in its materialization
metadata which issue will fill it. Remove an entry here when its module lands.
"""

# No `from __future__ import annotations` here: Dagster inspects the `context` annotation at
# definition time and does not resolve string annotations.

import dagster as dg
import polars as pl
from dagster import AssetExecutionContext

from orchestration.partitions import partition_date, trading_days
from orchestration.resources import LakeResource

_LIST = pl.List(pl.String())

PENDING: dict[str, tuple[str, str, list[str], dict[str, pl.DataType]]] = {
    "dark_inferences": (
        "equities", "issue 7 (Off-exchange equities)", ["equity_prints"],
        {"inference_id": pl.String(), "date": pl.Date(), "ts": pl.Int64(), "symbol": pl.String(),
         "kind": pl.String(), "shares": pl.Int64(), "notional": pl.Float64(),
         "confidence": pl.Float64(), "event_ids": _LIST, "explanation": pl.String()},
    ),
}  # fmt: skip


def _pending_asset(
    name: str, group: str, issue: str, deps: list[str], schema: dict[str, pl.DataType]
) -> dg.AssetsDefinition:
    @dg.asset(
        name=name,
        group_name=group,
        partitions_def=trading_days,
        deps=deps,
        description=f"Declared (DESIGN.md §6); its rules arrive with {issue}. Writes an empty partition.",
    )
    def _asset(context: AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        day = partition_date(context.partition_key)
        result = lake.overwrite(name, pl.DataFrame(schema=schema), day)
        return dg.MaterializeResult(
            metadata={**(result.metadata or {}), "status": f"not implemented yet: {issue}"}
        )

    return _asset


pending_assets = [_pending_asset(name, *spec) for name, spec in PENDING.items()]
