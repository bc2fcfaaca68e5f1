"""A tiny run of the benchmark harness (the real runs are `make bench`)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from bench.micro_batch import micro_batch_cost
from bench.runner import measure_stage, run_workload, scaling_exponent, write_results
from bench.workload import DAY, Workload, generate


def test_bench_smoke(tmp_path: Path) -> None:
    option = run_workload(Workload("option", 20_000, "AAPL,MSFT"), isolate=False, compare=True)
    equity = run_workload(Workload("equity", 20_000, "AAPL,MSFT"), isolate=False)
    assert option["row_by_row_packets"]["identical"] is True
    # The landing floor and the DuckDB peer are measured in the same run.
    for figures in (option, equity):
        assert figures["landing_floor"]["seconds"] > 0
        assert figures["landing_floor"]["landing_floor_ratio"] > 0
    assert option["peer"]["option_prints_peer_ratio"] > 0 and "peer" not in equity
    # The row-by-row comparison: medians of 5 paired, interleaved runs, and the median of
    # the pairs' own ratios.
    comparison = option["row_by_row_packets"]
    assert comparison["pairs"] == 5 and len(comparison["vectorised_runs_s"]) == 5
    ratios = sorted(
        s / f
        for f, s in zip(
            comparison["vectorised_runs_s"], comparison["row_by_row_runs_s"], strict=True
        )
    )
    assert abs(comparison["speedup"] - ratios[2]) <= 0.1 + 0.05 * ratios[2]
    for figures in (option, equity):
        assert figures["floor_s"] > 0 and figures["derived_path_s"] > 0
        assert all(stage["floor_ratio"] > 0 for stage in figures["stages"].values())
        # Floor and derived stages: the fastest of two runs; landing once.
        assert (
            figures["floor_s"] == min(figures["floor_runs_s"]) and len(figures["floor_runs_s"]) == 2
        )
        for name, stage in figures["stages"].items():
            assert stage["seconds"] == min(stage["runs_s"])
            assert len(stage["runs_s"]) == (1 if name == "landing" else 2)
            # An asset's partition write is timed inside its run: a part of it, never all.
            if name != "landing":
                assert 0 < stage["write_s"] < stage["seconds"]
        parts = figures["floor_parts_s"]
        assert all(parts[k] > 0 for k in ("read_s", "sort_s", "write_s"))
        # Each figure is rounded to 1 ms: the three parts may overshoot the whole by 1.5 ms.
        assert sum(parts.values()) <= figures["floor_s"] + 0.0015
        writes = sum(s["write_s"] for n, s in figures["stages"].items() if n != "landing")
        assert figures["derived_path_write_s"] == round(writes, 3)
        assert figures["storage_bound_s"] == round(parts["read_s"] + writes, 3)
        outputs_floor = parts["read_s"] + parts["sort_s"] + writes
        assert figures["outputs_floor_s"] == round(outputs_floor, 3)
        ratio = figures["derived_path_outputs_floor_ratio"]
        assert ratio == round(figures["derived_path_s"] / outputs_floor, 2)
        # CPU time per stage (its best run) summed over the path; the kernel's share of it.
        derived = [s for n, s in figures["stages"].items() if n != "landing"]
        cpu = figures["derived_path_cpu"]
        assert cpu["user_s"] == round(sum(s["user_s"] for s in derived), 3) and cpu["user_s"] > 0
        assert cpu["minor_faults"] == sum(s["minor_faults"] for s in derived)
        assert cpu["kernel_share"] == round(cpu["sys_s"] / (cpu["user_s"] + cpu["sys_s"]), 2)
        assert 0 <= figures["floor_cpu"]["kernel_share"] < 1
    summary = write_results([option, equity], tmp_path)
    assert "| option-20k |" in summary.read_text()
    assert "medians of 5 paired, interleaved runs" in summary.read_text()
    # Every figure carries the commit and the machine it came from.
    stored = json.loads((tmp_path / "option-20k.json").read_text())["provenance"]
    assert len(stored["commit"]) == 40 and stored["machine"]["cpus"] >= 1
    assert "the fastest of 2 runs each" in summary.read_text()
    assert "storage bound / floor" in summary.read_text()
    row = next(x for x in summary.read_text().splitlines() if x.startswith("| option-20k |"))
    shares = f"{option['derived_path_cpu']['kernel_share']} / {option['floor_cpu']['kernel_share']}"
    assert f"| {shares} |" in row
    ratio = option["derived_path_outputs_floor_ratio"]
    assert f"option-20k {ratio} ({option['outputs_floor_s']} s)" in summary.read_text()
    assert json.loads((tmp_path / "option-20k.json").read_text())["kind"] == "option"
    fake = [
        {"kind": "option", "rows": {"option_trades": n}, "derived_path_s": n / 1000}
        for n in (1000, 3000, 10000)
    ]
    assert scaling_exponent(fake, "option") == 1.0


def test_isolated_stage_reports_its_own_peak_memory(tmp_path: Path) -> None:
    """A stage in its own process reports its own peak, not the runner's: the kernel hands
    the runner's high-water mark to a vfork + exec child's ``ru_maxrss``, which made every
    stage report at least the runner's 3.2 GiB."""
    generate(Workload("option", 5_000, "AAPL"), tmp_path)
    ballast = np.ones(1536 * 1024**2 // 8)  # the runner holds 1.5 GiB
    figures = measure_stage("landing", str(tmp_path / "lake"), tmp_path, isolate=True)
    assert 0 < figures["peak_rss_mb"] < ballast.nbytes / 2**20 / 2
    assert figures["seconds"] > 0
    # CPU time and faults are the stage's own too: the runner's 1.5 GiB of ballast is
    # ~390k faults the stage must not report.
    assert figures["user_s"] > 0 and figures["sys_s"] >= 0
    assert 0 < figures["minor_faults"] < ballast.nbytes / 4096 / 2


def test_micro_batch_cost_smoke(tmp_path: Path) -> None:
    """The micro-batch benchmark on a short day: both points timed, tail == whole rebuild."""
    figures = micro_batch_cost(
        tmp_path, DAY, "SPY,AAPL", points=(dt.time(9, 38), dt.time(9, 44)), batch_s=20.0, minutes=15
    )
    assert [p["time"] for p in figures["points"]] == ["09:38", "09:44"]
    for point in figures["points"]:
        assert point["identical"] is True and point["tail_update_s"] > 0 and point["land_s"] > 0
        assert point["option_prints_so_far"] > point["batch_option_prints"] > 0
        assert set(point["tail_steps_s"]) >= {"option_prints", "flow_packets", "alerts"}


def test_micro_batch_at_a_snapshot_time_equals_the_whole_rebuild(tmp_path: Path) -> None:
    """A batch starting at 10:00 makes the 10:00 GEX snapshot due although none of its rows
    is at or before 10:00: the tail must compute it (found by the full micro-batch bench)."""
    figures = micro_batch_cost(
        tmp_path, DAY, "SPY", points=(dt.time(10, 0),), batch_s=5.0, minutes=35
    )
    assert figures["points"][0]["identical"] is True


def test_page_renders_time_every_page_on_a_built_day(built_lake: Path) -> None:
    from bench.pages import page_renders
    from dashboards.pages import PAGES

    pages = page_renders(str(built_lake), warm_runs=1)
    assert list(pages) == [path for path, _, _ in PAGES]
    for path, page in pages.items():
        assert page["error"] is None, (path, page["error"])
        assert page["warm_s"] > 0 and page["cold_s"] > 0


def test_bench_pages_on_a_lake_without_a_built_day_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchestration.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["bench", "--pages-lake", str(tmp_path / "empty")])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no built day (run flowlake build)" in err


def test_duckdb_peer_places_trades_by_hand(tmp_path: Path) -> None:
    """The peer's query, on a hand-made day: the latest valid quote at or before each trade,
    none older than a second, placement with eps = max(0.01, 5% of the spread)."""
    import polars as pl

    from bench.peer import duckdb_option_prints
    from lake import Lake
    from lake.write import overwrite_partition

    lake = Lake(str(tmp_path / "lake"))
    s = 1_000_000_000
    quotes = pl.DataFrame(
        {"date": [DAY] * 3, "contract": ["C1", "C1", "C1"], "ts_event": [0, 5 * s, 6 * s],
         "bid": [1.00, 1.10, 2.0], "ask": [1.20, 1.30, 1.0]}  # the last one is crossed
    )  # fmt: skip
    trades = pl.DataFrame(
        {"date": [DAY] * 5, "event_id": ["a", "b", "c", "d", "e"], "contract": ["C1"] * 4 + ["C2"],
         "ts_event": [s // 2, 5 * s, 6 * s + 1, 7 * s, s], "price": [1.20, 1.21, 1.11, 1.25, 1.0],
         "size": [10, 1, 2, 3, 4], "multiplier": [100] * 5}
    )  # fmt: skip
    overwrite_partition(lake, "option_quotes", quotes, DAY)
    overwrite_partition(lake, "option_trades", trades, DAY)
    figures = duckdb_option_prints(lake, tmp_path, DAY)
    out = pl.read_parquet(tmp_path / "peer" / "option_prints.parquet").sort("event_id")
    assert figures["rows"] == 5
    # a: 1.20 at the 1.00/1.20 ask -> A. b: at 5 s the 1.10/1.30 quote is in force (same
    # time); 1.21 is 0.11 from the bid, 0.09 from the ask, eps 0.01 -> MID. c: the crossed
    # quote never places; the 5 s quote is 1.000000001 s old -> none. d: 2 s old -> none.
    # e: another contract, no quote -> none.
    assert out["placement"].to_list() == ["A", "MID", "NONE", "NONE", "NONE"]
    assert out["nbbo_bid"].to_list()[:2] == [1.00, 1.10]
    assert out["premium"].to_list() == pytest.approx([1200.0, 121.0, 222.0, 375.0, 400.0])


def test_landing_floor_writes_every_generated_row(tmp_path: Path) -> None:
    """The floor lands what was generated, no more and no less, one table per stream."""
    import polars as pl

    from bench.stage import landing_floor
    from lake import Lake
    from lake.read import read

    rows = generate(Workload("option", 5_000, "AAPL"), tmp_path)
    figures = landing_floor(tmp_path)
    assert figures["read_s"] >= 0 and figures["write_s"] > 0
    floor_lake = Lake(str(tmp_path / "landing-floor"))
    for stream, count in rows.items():
        stored = read(floor_lake, stream)
        assert stored is not None and stored.height == count, stream
        assert stored.get_column("date").unique().to_list() == [DAY]
        assert isinstance(stored, pl.DataFrame)
