"""Run benchmark workloads and write ``bench/results/<workload>.json`` and ``summary.md``."""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polars.testing import assert_frame_equal

from bench.pages import page_renders
from bench.stage import LANDING_FLOOR, PEER, cpu_since
from bench.stage import run as run_stage
from bench.workload import DAY, Workload, generate

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
WORK = ROOT / "work"
OPTION_STAGES = (
    "landing",
    LANDING_FLOOR,
    "floor-option",
    PEER,
    "option_prints",
    "flow_packets",
    "structures",
    "contract_baselines",
    "classifier_hits",
    "alerts",
)
EQUITY_STAGES = ("landing", LANDING_FLOOR, "floor-equity", "equity_prints", "equity_candles",
                 "dark_inferences")  # fmt: skip


def measure_stage(stage: str, lake: str, work: Path, isolate: bool) -> dict[str, float]:
    """Run one stage and return its ``seconds`` (its own work), its CPU time and page faults
    (:func:`bench.stage.cpu_since`) and the parts of it that are storage (see
    :func:`bench.stage.run`); with ``isolate``, in its own process, adding ``process_s``
    (with start-up) and ``peak_rss_mb`` (its own peak)."""
    started = time.perf_counter()
    if not isolate:
        from lake import Lake

        before = resource.getrusage(resource.RUSAGE_SELF)
        parts = run_stage(stage, Lake(lake), work)
        seconds = round(time.perf_counter() - started, 3)
        return {"seconds": seconds, **cpu_since(before), **parts}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.stage", stage, lake, str(work)],
        cwd=ROOT.parent,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    output = proc.stdout.read()
    code = proc.wait()
    elapsed = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"stage {stage} failed with exit code {code}")
    inner = json.loads(output.strip().splitlines()[-1])
    # ``seconds`` is the stage's own work; ``process_s`` adds interpreter start and imports.
    return {**inner, "process_s": round(elapsed, 3)}


#: Paired, interleaved runs of the row-by-row comparison.
PAIRS = 5


@dataclass(frozen=True)
class Paired:
    """The times of ``n`` interleaved (fast, slow) runs and the last results of each."""

    fast_s: list[float]
    slow_s: list[float]
    results: tuple[Any, Any]


def _paired(n: int, fast: Callable[[], Any], slow: Callable[[], Any]) -> Paired:
    """Run ``fast`` then ``slow``, ``n`` times, timing each run."""
    fast_s, slow_s = [], []
    out: list[Any] = [None, None]
    for _ in range(n):
        for build, times, k in ((fast, fast_s, 0), (slow, slow_s, 1)):
            t0 = time.perf_counter()
            out[k] = build()
            times.append(time.perf_counter() - t0)
    return Paired(fast_s, slow_s, (out[0], out[1]))


def _packets_comparison(lake: str) -> dict[str, Any]:
    """Time vectorised vs row-by-row packets on the landed prints: the medians of
    :data:`PAIRS` paired, interleaved runs, and the median of the pairs' ratios; check that
    every column of every packet agrees."""
    from assets.flow_packets import build_packets
    from assets.thresholds import load_thresholds
    from bench.reference import as_frame, packets_row_by_row
    from lake import Lake
    from lake.read import scan

    params = load_thresholds().packets
    prints = scan(Lake(lake), "option_prints", dates=[DAY]).collect()
    timed = _paired(
        PAIRS,
        lambda: build_packets(prints.lazy(), params).collect(),
        lambda: packets_row_by_row(prints, params),
    )
    fast, slow = timed.results
    try:
        assert_frame_equal(fast.sort("packet_id"), as_frame(slow, fast.schema))
        difference = None
    except AssertionError as failed:
        difference = str(failed)
    return {
        "prints": prints.height,
        "packets": fast.height,
        "pairs": PAIRS,
        "vectorised_runs_s": [round(t, 3) for t in timed.fast_s],
        "row_by_row_runs_s": [round(t, 3) for t in timed.slow_s],
        "vectorised_s": round(statistics.median(timed.fast_s), 3),
        "row_by_row_s": round(statistics.median(timed.slow_s), 3),
        # The median of the pairs' own ratios: each pair ran back to back, under the same
        # neighbours.
        "speedup": round(
            statistics.median(s / f for f, s in zip(timed.fast_s, timed.slow_s, strict=True)), 1
        ),
        "identical": difference is None,
        "difference": difference,
    }


def measure_best(stage: str, lake: str, work: Path, isolate: bool, repeat: int) -> dict[str, Any]:
    """Run one stage ``repeat`` times back to back; return the fastest run's figures, every
    run's ``seconds`` as ``runs_s`` and the highest ``peak_rss_mb``.

    A derived stage replaces its partition with the same rows each time, so every run
    does the same work; the fastest is the stage's figure, as ``timeit`` takes it: on a
    shared VM the slower runs measured the neighbours (the same floor took 21.9 s and
    42.2 s on two runs of the 10M option day).
    """
    runs = [measure_stage(stage, lake, work, isolate) for _ in range(repeat)]
    best = dict(min(runs, key=lambda run: run["seconds"]))
    best["runs_s"] = [run["seconds"] for run in runs]
    if isolate:
        best["peak_rss_mb"] = max(run["peak_rss_mb"] for run in runs)
    return best


#: Runs of the floor and of each derived stage (landing runs once: a second landing of the
#: same rows finds them all stored and writes nothing, which is not the same work).
STAGE_REPEAT = 2


def run_workload(
    workload: Workload,
    *,
    isolate: bool = True,
    compare: bool = False,
    render: bool = False,
    keep: bool = False,
    repeat: int = STAGE_REPEAT,
) -> dict[str, Any]:
    """Generate, land and build one workload stage by stage (the floor and each derived
    stage best of ``repeat``, see :func:`measure_best`); return its figures."""
    work = WORK / workload.name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    lake = str(work / "lake")
    t0 = time.perf_counter()
    rows = generate(workload, work)
    figures: dict[str, Any] = {
        "workload": workload.name,
        "kind": workload.kind,
        "rows": rows,
        "generate_s": round(time.perf_counter() - t0, 3),
    }
    stages = OPTION_STAGES if workload.kind == "option" else EQUITY_STAGES
    measured = {
        stage: measure_best(stage, lake, work, isolate, 1 if stage == "landing" else repeat)
        for stage in stages
    }
    floor_runs = measured.pop(f"floor-{workload.kind}")
    peer = measured.pop(PEER, None)
    landing_floor = measured.pop(LANDING_FLOOR)
    floor = floor_runs["seconds"]
    prints = rows[f"{workload.kind}_trades"]
    for m in measured.values():
        m["floor_ratio"] = round(m["seconds"] / floor, 2) if floor else None
        m["prints_per_s"] = round(prints / m["seconds"]) if m["seconds"] else None
    derived = [s for s in measured if s != "landing"]
    path_s = sum(measured[s]["seconds"] for s in derived)
    writes_s = sum(measured[s]["write_s"] for s in derived)
    # What no implementation of the path can skip: the floor's read of the landing columns
    # (each path reads at least those) and the path's own partition writes (its output
    # tables, as the lake stores them).
    storage_s = floor_runs["read_s"] + writes_s
    # The floor as the issue words it, "read, sort and write the outputs", with the path's
    # own output tables for "the outputs" (the floor above writes its sorted inputs, which
    # no path writes): reported beside it, the targets are judged against the floor above.
    outputs_floor_s = floor_runs["read_s"] + floor_runs["sort_s"] + writes_s
    figures.update(
        floor_s=floor,
        floor_runs_s=floor_runs["runs_s"],
        floor_parts_s={k: floor_runs[k] for k in ("read_s", "sort_s", "write_s")},
        repeat=repeat,
        stages=measured,
        derived_path_s=round(path_s, 3),
        derived_path_floor_ratio=round(path_s / floor, 2) if floor else None,
        derived_path_write_s=round(writes_s, 3),
        storage_bound_s=round(storage_s, 3),
        storage_bound_floor_ratio=round(storage_s / floor, 2) if floor else None,
        outputs_floor_s=round(outputs_floor_s, 3),
        derived_path_outputs_floor_ratio=round(path_s / outputs_floor_s, 2),
        floor_cpu=cpu_totals([floor_runs]),
        derived_path_cpu=cpu_totals([measured[s] for s in derived]),
        end_to_end_s=round(path_s + measured["landing"]["seconds"], 3),
        peak_rss_mb=max((m.get("peak_rss_mb", 0) for m in measured.values()), default=0),
        machine={
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    )
    figures["landing_floor"] = {
        "seconds": landing_floor["seconds"],
        "runs_s": landing_floor["runs_s"],
        "read_s": landing_floor["read_s"],
        "write_s": landing_floor["write_s"],
        "landing_floor_ratio": round(measured["landing"]["seconds"] / landing_floor["seconds"], 2),
    }
    if peer is not None:
        # The peer in the same run, on the same landing data (bench/peer.py): its query's
        # seconds against option_prints' own.
        figures["peer"] = {
            "engine": "duckdb",
            "seconds": peer["seconds"],
            "query_s": peer["query_s"],
            "runs_s": peer["runs_s"],
            "peak_rss_mb": peer.get("peak_rss_mb"),
            "option_prints_s": measured["option_prints"]["seconds"],
            "option_prints_peer_ratio": round(
                measured["option_prints"]["seconds"] / peer["seconds"], 2
            ),
        }
    if compare and workload.kind == "option":
        figures["row_by_row_packets"] = _packets_comparison(lake)
    if render:
        figures["dashboard"] = page_renders(lake, warm_runs=1)
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return figures


def cpu_totals(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Return the summed ``user_s``, ``sys_s`` and ``minor_faults`` of ``runs`` and
    ``kernel_share``, the kernel's part of their CPU time (None without CPU time)."""
    user = sum(run["user_s"] for run in runs)
    kernel = sum(run["sys_s"] for run in runs)
    return {
        "user_s": round(user, 3),
        "sys_s": round(kernel, 3),
        "minor_faults": sum(run["minor_faults"] for run in runs),
        "kernel_share": round(kernel / (user + kernel), 2) if user + kernel else None,
    }


def scaling_exponent(results: list[dict[str, Any]], kind: str) -> float | None:
    """Return the least-squares slope of log(derived path time) on log(prints)."""
    points = [
        (math.log(r["rows"][f"{kind}_trades"]), math.log(r["derived_path_s"]))
        for r in results
        if r["kind"] == kind and r["derived_path_s"] > 0
    ]
    if len(points) < 2:
        return None
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    return round(
        sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points), 3
    )


def provenance() -> dict[str, Any]:
    """Return where a figure comes from: the commit (and whether the tree differed from it)
    and the machine."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    pages = os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
    return {
        "commit": git("rev-parse", "HEAD") or "unknown",
        "tree_modified": bool(git("status", "--porcelain", "--untracked-files=no")),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "memory_gib": round(pages * os.sysconf("SC_PAGE_SIZE") / 2**30, 1) if pages else None,
        },
    }


def write_results(results: list[dict[str, Any]], out: Path = RESULTS) -> Path:
    """Write one JSON per workload plus ``summary.md`` (the table of bench/README.md); return its path.

    Every JSON carries its :func:`provenance`."""
    out.mkdir(parents=True, exist_ok=True)
    for r in results:
        r.setdefault("provenance", provenance())
        (out / f"{r['workload']}.json").write_text(json.dumps(r, indent=2, default=str))
    # The summary covers every workload measured in ``out``: this run's and earlier runs of
    # other sizes (so a 10M run alone does not drop the 1M and 3M rows).
    fresh = {r["workload"] for r in results}
    earlier = [
        json.loads(f.read_text())
        for f in sorted(out.glob("*-*.json"))
        if f.stem not in fresh
        and f.stem.split("-")[0] in ("option", "equity")
        and f.stem.split("-")[1][:1].isdigit()
    ]
    results = sorted(
        [*results, *earlier], key=lambda r: (r["kind"], r["rows"][r["kind"] + "_trades"])
    )
    scaling = {k: scaling_exponent(results, k) for k in ("option", "equity")}
    (out / "scaling.json").write_text(json.dumps(scaling, indent=2))
    lines = [
        "| workload | prints | landing s | derived path s | floor s | path / floor | path writes s | storage bound / floor | kernel share path / floor | peak MiB | slowest stage |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        slowest = max(
            (s for s in r["stages"] if s != "landing"), key=lambda s: r["stages"][s]["seconds"]
        )
        kernel = "-"
        if "derived_path_cpu" in r:
            kernel = f"{r['derived_path_cpu']['kernel_share']} / {r['floor_cpu']['kernel_share']}"
        lines.append(
            f"| {r['workload']} | {r['rows'][r['kind'] + '_trades']:,} | {r['stages']['landing']['seconds']} | {r['derived_path_s']} | "
            f"{r['floor_s']} | {r['derived_path_floor_ratio']} | {r.get('derived_path_write_s', '-')} | "
            f"{r.get('storage_bound_floor_ratio', '-')} | {kernel} | {r['peak_rss_mb']} | {slowest} ({r['stages'][slowest]['seconds']} s) |"
        )
    lines.append("")
    repeats = sorted({r.get("repeat", 1) for r in results})
    lines.append(
        f"Floor and derived stages: the fastest of {'/'.join(map(str, repeats))} runs each; landing: one run."
    )
    lines.append(
        "Storage bound: the floor's read of the landing columns plus the path's own partition "
        "writes (Parquet files and Delta commits, timed inside each asset's run): the part of "
        "the path no implementation writing these tables with this writer can skip."
    )
    lines.append(
        "Kernel share: the part of the CPU time (user + kernel) of the derived stages, and of "
        "the floor, spent in the kernel: mostly first touches of fresh memory (page faults)."
    )
    lines.append(
        f"Scaling exponents (derived path time vs prints): option {scaling['option']}, equity {scaling['equity']}."
    )
    outputs = [
        f"{r['workload']} {r['derived_path_outputs_floor_ratio']} ({r['outputs_floor_s']} s)"
        for r in results
        if "outputs_floor_s" in r
    ]
    if outputs:
        lines.append(
            "Path / the floor writing the path's outputs instead of its sorted inputs (its read "
            f"and sorts plus the path's writes): {', '.join(outputs)}."
        )
    landings = [
        f"{r['workload']} {r['landing_floor']['landing_floor_ratio']} ({r['stages']['landing']['seconds']} s / {r['landing_floor']['seconds']} s)"
        for r in results
        if "landing_floor" in r
    ]
    if landings:
        lines.append(
            "Landing / the landing floor (the day's raw parts read and written as one Delta "
            f"table per stream, no checks; target <= 3): {', '.join(landings)}."
        )
    peers = [
        f"{r['workload']} {r['peer']['option_prints_peer_ratio']} ({r['peer']['option_prints_s']} s / {r['peer']['seconds']} s)"
        for r in results
        if "peer" in r
    ]
    if peers:
        lines.append(
            "option_prints / its DuckDB peer (the NBBO as-of join, placement, premium and lz4 "
            f"write as one query on 2 threads, bench/peer.py; target <= 1.0): {', '.join(peers)}."
        )
    for r in results:
        if "row_by_row_packets" in r:
            c = r["row_by_row_packets"]
            lines.append(
                f"Row-by-row packets on {c['prints']:,} prints: {c['row_by_row_s']} s vs {c['vectorised_s']} s vectorised, "
                f"medians of {c['pairs']} paired, interleaved runs ({c['speedup']}x, the median of the pairs' ratios; "
                f"every column identical: {c['identical']})."
                if "pairs" in c
                else f"Row-by-row packets on {c['prints']:,} prints: {c['row_by_row_s']} s vs {c['vectorised_s']} s vectorised, best of {c.get('repeat', 1)} each ({c['speedup']}x, every column identical: {c['identical']})."
            )
        if "dashboard" in r:
            d = r["dashboard"]
            if "flow" in d:
                renders = ", ".join(
                    f"{page} {t['cold_s']} / {t['warm_s']} s" for page, t in d.items()
                )
                lines.append(
                    f"Dashboard pages on {r['workload']} (cold / warm render, AppTest): {renders}."
                )
            else:  # results written before every page was timed
                lines.append(
                    f"Dashboard on {r['workload']}: Flow page {d['flow_page_s']} s, Alerts page {d['alerts_page_s']} s (first render, AppTest)."
                )
    summary = out / "summary.md"
    summary.write_text("\n".join(lines) + "\n")
    return summary
