"""Date x underlying-bucket partitions: one day's derived assets as N parallel runs.

Every derived rule is per underlying (an option's packets, structures, baselines and hits
need only its own underlying's prints and quotes; candles and dark-pool inference need
only their symbol), so a day splits into buckets of underlyings that build independently.
An underlying's bucket is a stable hash of its name (``crc32 % N_BUCKETS``); each
bucket's run reads only its underlyings' rows and replaces only them, so the union of the
bucket runs is the whole-day build row for row (``tests/test_buckets.py``).

The bucketed assets are copies of the daily ones (same code, same checks) under the key
prefix ``bucketed`` and the group ``bucketed``, partitioned by :data:`bucketed_days`;
``bucketed_job`` runs them, one run per (date, bucket), in parallel under any executor.
"""

from __future__ import annotations

import datetime as dt
import os
import warnings
import zlib

import dagster as dg
import polars as pl

from lake import Lake
from lake.read import scan
from lake.write import RowScope
from orchestration.partitions import trading_days

#: Buckets per day (``FLOWLAKE_BUCKETS``, read when the code location loads; size them so
#: one bucket's run fits a worker's memory, see SCALING.md).
N_BUCKETS = int(os.environ.get("FLOWLAKE_BUCKETS", "8"))
PREFIX = "bucketed"
bucket_partitions = dg.StaticPartitionsDefinition([str(b) for b in range(N_BUCKETS)])
bucketed_days = dg.MultiPartitionsDefinition({"date": trading_days, "bucket": bucket_partitions})

#: How each table names a row's underlying: (column, width of the padded root that starts
#: it, or None when the column is the underlying itself).
_ROOT_WIDTH = 6  # an OCC OSI symbol starts with its root padded to 6 characters
OWNERS: dict[str, tuple[str, int | None]] = {
    **{
        t: ("underlying", None)
        for t in ("option_trades", "option_prints", "flow_packets", "structures",
                  "classifier_hits", "alerts", "alert_outcomes", "packet_positioning", "gamma_exposure",
                  "contract_volume")
    },
    **{
        t: ("symbol", None)
        for t in ("equity_trades", "equity_quotes", "equity_prints", "equity_candles",
                  "dark_inferences")
    },
    **{
        t: ("contract", _ROOT_WIDTH)
        for t in ("option_quotes", "option_open_interest", "contract_baselines")
    },
}  # fmt: skip


def bucket_of(name: str) -> int:
    """Return the bucket of an underlying (stable across runs, machines and versions)."""
    return zlib.crc32(name.encode()) % N_BUCKETS


def bucket_members(lake: Lake, day: dt.date, bucket: int) -> list[str]:
    """Return the underlyings of ``bucket`` among those landed for ``day``."""
    names: set[str] = set()
    for table, column in (("option_trades", "underlying"), ("equity_trades", "symbol")):
        frame = scan(lake, table, dates=[day])
        if frame is not None:
            names |= set(frame.select(pl.col(column).unique()).collect().get_column(column))
    return sorted(n for n in names if bucket_of(n) == bucket)


def row_scope(table: str, members: list[str]) -> RowScope:
    """Return the rows of ``table`` that belong to the ``members`` underlyings."""
    column, width = OWNERS[table]
    return RowScope(column=column, values=tuple(members), width=width)


def _bucketed_key(key: dg.AssetKey) -> dg.AssetKey:
    return dg.AssetKey([PREFIX, *key.path])


def _mapping(
    upstream_is_derived: bool, mapping: dg.PartitionMapping | None
) -> dg.PartitionMapping | None:
    """Return the (date, bucket) form of a daily dependency's partition mapping."""
    # These mappings are marked beta by Dagster; the version is pinned and the union test
    # (tests/test_buckets.py) proves what they map, so the warning says nothing new here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        if not upstream_is_derived:  # landing stays daily: a bucket reads its date
            return dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="date")
        if mapping is None:
            return None
        return dg.MultiPartitionMapping(
            {
                "date": dg.DimensionPartitionMapping("date", mapping),
                "bucket": dg.DimensionPartitionMapping("bucket", dg.IdentityPartitionMapping()),
            }
        )


def bucketed(asset: dg.AssetsDefinition, derived: set[dg.AssetKey]) -> dg.AssetsDefinition:
    """Return the (date, bucket) copy of one daily derived asset: same function and checks."""
    spec = next(iter(asset.specs))
    key = _bucketed_key(spec.key)
    deps = [
        dg.AssetDep(
            _bucketed_key(d.asset_key) if d.asset_key in derived else d.asset_key,
            partition_mapping=_mapping(d.asset_key in derived, d.partition_mapping),
        )
        for d in spec.deps
    ]
    checks = [
        dg.AssetCheckSpec(c.name, asset=key, blocking=c.blocking, description=c.description)
        for c in asset.check_specs
    ]
    return dg.asset(
        key=key,
        group_name=PREFIX,
        partitions_def=bucketed_days,
        deps=deps,
        check_specs=checks,
        description=f"{spec.description} (one bucket of underlyings)",
    )(asset.op.compute_fn.decorated_fn)  # type: ignore[union-attr]


def bucketed_assets(daily: list[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """Return the bucketed copies of the daily derived assets."""
    derived = {next(iter(a.specs)).key for a in daily}
    return [bucketed(a, derived) for a in daily]
