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

import warnings

import dagster as dg

from assets.partitions import trading_days
from assets.scope import N_BUCKETS

PREFIX = "bucketed"
bucket_partitions = dg.StaticPartitionsDefinition([str(b) for b in range(N_BUCKETS)])
bucketed_days = dg.MultiPartitionsDefinition({"date": trading_days, "bucket": bucket_partitions})


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
