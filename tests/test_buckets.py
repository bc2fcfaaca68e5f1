"""Date x bucket partitions: the union of the bucket runs equals the daily build."""

from __future__ import annotations

import datetime as dt
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import dagster as dg
from polars.testing import assert_frame_equal

from assets.catalog import CROSS_BUCKET
from assets.resources import LakeResource, ThresholdsResource
from assets.scope import N_BUCKETS, bucket_members, bucket_of
from assets.sources import SyntheticSource
from lake import Lake
from lake.read import read
from lake.tables import DERIVED_KEYS
from orchestration.bucketed_definitions import defs as bucketed_defs
from orchestration.definitions import defs

DAY = dt.date(2026, 11, 24)
UNDERLYINGS = "SPY,QQQ,IWM,AAPL,MSFT,NVDA"
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
#: Every derived table but the market-wide ones, which the bucketed location does not split.
KEYS = {table: key for table, key in DERIVED_KEYS.items() if dg.AssetKey(table) not in CROSS_BUCKET}


def resources(root: Path) -> dict:
    return {
        "lake": LakeResource(root=str(root)),
        "thresholds": ThresholdsResource(),
        "source": SyntheticSource(underlyings=UNDERLYINGS, minutes=20),
    }


def run_bucket(root: Path, bucket: int) -> bool:
    """Run ``bucketed_job`` for one (date, bucket) partition; return whether it succeeded."""
    key = dg.MultiPartitionKey({"date": DAY.isoformat(), "bucket": str(bucket)})
    return (
        bucketed_defs.resolve_job_def("bucketed_job")
        .execute_in_process(
            partition_key=key, resources=resources(root), run_config=QUIET,
        )
        .success
    )  # fmt: skip


def test_bucket_of_is_stable_and_spreads() -> None:
    assert bucket_of("SPY") == bucket_of("SPY") and 0 <= bucket_of("SPY") < N_BUCKETS
    assert len({bucket_of(n) for n in UNDERLYINGS.split(",")}) > 1


def test_union_of_bucket_runs_equals_the_daily_build(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    daily, split = tmp_path / "daily", tmp_path / "split"
    assert dg.materialize(
        list(defs.assets), resources=resources(daily), partition_key=DAY.isoformat(),
        instance=instance, run_config=QUIET,
    ).success  # fmt: skip
    assert dg.materialize(
        list(defs.assets), resources=resources(split), partition_key=DAY.isoformat(),
        instance=instance, run_config=QUIET, selection=dg.AssetSelection.groups("landing"),
    ).success  # fmt: skip
    members = [bucket_members(Lake(str(split)), DAY, b) for b in range(N_BUCKETS)]
    assert sorted(n for m in members for n in m) == sorted(UNDERLYINGS.split(","))
    assert any(not m for m in members)  # an empty bucket writes nothing and fails nothing
    # The buckets run as parallel runs in their own processes (two at a time, as on this
    # machine's two cores): their commits to the same tables race and retry.
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=spawn) as pool:
        assert all(pool.map(run_bucket, [split] * N_BUCKETS, range(N_BUCKETS)))
    for table, key in KEYS.items():
        a, b = read(Lake(str(daily)), table), read(Lake(str(split)), table)
        assert a.height > 0 or table in ("alert_outcomes", "gamma_exposure"), table
        assert_frame_equal(a.sort(key), b.sort(key), check_column_order=False)
