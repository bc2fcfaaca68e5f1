"""Dagster tier: Definitions load, materialize a partition into a temp lake, schedule, CLI validate."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from adapters.synthetic import SyntheticDay
from assets.resources import LakeResource, ThresholdsResource
from assets.sources import SelectableSource, SyntheticSource
from lake import Lake
from lake.read import read
from orchestration.definitions import defs
from orchestration.jobs import eod_schedule
from tests.conftest import DAY, probe

ROOT = Path(__file__).resolve().parent.parent
DERIVED = ["option_prints", "flow_packets", "structures", "contract_baselines", "classifier_hits", "alerts",
           "equity_prints", "equity_candles", "dark_inferences"]  # fmt: skip


def test_definitions_load_with_every_table_of_the_design() -> None:
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    landing = {
        "option_trades",
        "option_quotes",
        "equity_trades",
        "equity_quotes",
        "option_open_interest",
        "quarantine",
    }
    assert keys >= landing | set(DERIVED)
    assert defs.resolve_job_def("derived_job") is not None


def resources(tmp_path: Path, source: dg.ConfigurableResource | None = None) -> dict:
    return {
        "lake": LakeResource(root=str(tmp_path / "lake")),
        "thresholds": ThresholdsResource(),
        "source": source or SyntheticSource(underlyings="SPY,AAPL", minutes=20),
    }


def test_materialize_one_partition_end_to_end(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    result = dg.materialize(
        list(defs.assets),
        resources=resources(tmp_path),
        partition_key=DAY.isoformat(),
        instance=instance,
    )
    assert result.success
    lake = Lake(str(tmp_path / "lake"))
    trades = read(lake, "option_trades")
    prints = read(lake, "option_prints")
    packets = read(lake, "flow_packets")
    assert trades.height > 0 and prints.height == trades.height
    in_flow = prints.filter(pl.col("in_flow"))
    assert packets["n_prints"].sum() == in_flow.height
    assert set(packets["event_ids"].explode()) == set(in_flow["event_id"])
    assert read(lake, "equity_candles").height > 0
    for table in DERIVED:
        assert read(lake, table) is not None, table
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks)

    # Re-running the partition lands nothing twice and rebuilds byte-identical derived rows.
    again = dg.materialize(
        list(defs.assets),
        resources=resources(tmp_path),
        partition_key=DAY.isoformat(),
        instance=instance,
    )
    assert again.success
    assert read(lake, "option_trades").height == trades.height
    assert read(lake, "flow_packets").sort("packet_id").equals(packets.sort("packet_id"))


def test_snapshot_source_feeds_landing_and_quarantine(
    tmp_path: Path, synthetic_day: SyntheticDay
) -> None:
    folder = tmp_path / "snap" / DAY.isoformat()
    folder.mkdir(parents=True)
    trades = synthetic_day.tables["option_trades"].head(200)
    bad = trades.head(3).with_columns(
        pl.lit(-1.0).alias("price"), (pl.col("event_id") + "-bad").alias("event_id")
    )
    pl.concat([trades, bad]).write_parquet(folder / "option_trades.parquet")
    result = dg.materialize(
        list(defs.assets),
        # Chosen by name, as run config does.
        resources=resources(
            tmp_path, SelectableSource(name="snapshot", paths=[str(tmp_path / "snap")])
        ),
        partition_key=DAY.isoformat(),
        selection=dg.AssetSelection.groups("landing"),
    )
    assert result.success
    lake = Lake(str(tmp_path / "lake"))
    assert read(lake, "option_trades").height == 200
    quarantine = read(lake, "quarantine")
    assert quarantine.height == 3 and set(quarantine["reason"]) == {
        "price not a positive finite number"
    }


def test_derived_asset_without_upstream_fails_clearly(tmp_path: Path) -> None:
    result = dg.materialize(
        list(defs.assets),
        resources=resources(tmp_path),
        partition_key=DAY.isoformat(),
        selection=dg.AssetSelection.assets("flow_packets"),
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "option_prints does not exist" in failure.step_failure_data.error.message


@pytest.mark.parametrize(
    ("moment", "expect_run"),
    [(dt.datetime(2026, 11, 24, 16, 30), True), (dt.datetime(2026, 11, 26, 16, 30), False)],
)
def test_eod_schedule_skips_holidays(moment: dt.datetime, expect_run: bool) -> None:
    from adapters.calendar import NY

    context = dg.build_schedule_context(scheduled_execution_time=moment.replace(tzinfo=NY))
    result = eod_schedule(context)
    assert isinstance(result, list) is expect_run
    if expect_run:
        today, before = result
        assert today.partition_key == "2026-11-24" and today.asset_selection is None
        # The previous session's outcomes get their next-day horizon once today is built, and
        # its contract volume the next-day open-interest change once today's OI has landed.
        assert before.partition_key == "2026-11-23"
        assert before.asset_selection == [
            dg.AssetKey("alert_outcomes"),
            dg.AssetKey("contract_volume"),
        ]
        assert before.run_key == "eod-next-day-2026-11-23"


def test_dagster_definitions_validate_cli(tmp_path: Path) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_source_is_selectable_by_name_in_run_config(tmp_path: Path) -> None:
    from assets.sources import DatabentoFilesSource, SelectableSource

    data = Path(__file__).parent / "data" / "databento" / "OPRA.PILLAR"
    files = [str(data / f"test_data.{s}.dbn.zst") for s in ("definition", "tbbo")]
    assert isinstance(
        SelectableSource(name="databento-files", paths=files).resolve(), DatabentoFilesSource
    )
    with pytest.raises(ValueError, match="unknown source 'nope'"):
        SelectableSource(name="nope").resolve()
    result = dg.materialize(
        list(defs.assets),
        resources={
            "lake": LakeResource(root=str(tmp_path / "lake")),
            "thresholds": ThresholdsResource(),
            "source": SelectableSource(),
        },
        partition_key="2025-02-20",
        selection=dg.AssetSelection.groups("landing"),
        run_config={
            "resources": {"source": {"config": {"name": "databento-files", "paths": files}}}
        },
    )
    assert result.success
    assert read(Lake(str(tmp_path / "lake")), "option_trades").height == 4


def test_every_derived_table_has_asset_checks_and_they_can_fail() -> None:
    from assets.checks import all_exist, holds, in_unit_interval, unique

    checked = {
        key.asset_key.to_user_string() for key in defs.resolve_asset_graph().asset_check_keys
    }
    assert set(DERIVED) <= checked
    frame = pl.DataFrame({"id": ["a", "a"], "r": [0.5, 1.5], "refs": [["x"], ["y"]]})
    assert not unique(frame, "id").passed
    assert not in_unit_interval(frame, "r").passed
    assert not all_exist("refs_exist", frame["refs"], pl.Series(["x"])).passed
    assert not holds("r_small", frame, pl.col("r") > 1).passed
    assert unique(frame.head(1), "id").passed
    pairs = pl.DataFrame({"a": ["x", "x", None, None], "b": [1, 2, None, None]})
    assert unique(pairs.head(3), "a", "b").passed
    assert unique(pairs, "a", "b").metadata["duplicates"].value == 1
    assert unique(pairs, "a").metadata["duplicates"].value == 2
    # Few references among many ids: looked up the other way, counted the same.
    ids = pl.Series([f"p{i}" for i in range(100)])
    assert all_exist("subjects_exist", pl.Series([["p1", "p7"], ["p7"]]), ids).passed
    few = all_exist("subjects_exist", pl.Series([["p1", "zz"], ["zz"], [None]]), ids)
    assert not few.passed and few.metadata["missing"].value == 2


@pytest.mark.skipif(sys.platform != "linux", reason="numpy asks for huge pages on Linux only")
@pytest.mark.parametrize(("setting", "expected"), [(None, "False"), ("1", "True")])
def test_entry_points_stop_numpy_huge_page_requests_unless_told(
    setting: str | None, expected: str
) -> None:
    """The process settings turn numpy's madvise(MADV_HUGEPAGE) off (measured: kernel time
    on large arrays doubled the classifier hits' time); ``NUMPY_MADVISE_HUGEPAGE`` still wins.
    Importing the assets alone changes nothing."""
    code = (
        "import numpy; from orchestration.cli import configure_process; configure_process(); "
        "print(numpy._core.multiarray._set_madvise_hugepage(True))"
    )
    assert probe(code, "NUMPY_MADVISE_HUGEPAGE", setting) == expected
    untouched = "import assets.classifier_hits, numpy; print(numpy._core.multiarray._set_madvise_hugepage(True))"
    assert probe(untouched, "NUMPY_MADVISE_HUGEPAGE", None) == "True"
