"""``flowlake bench``: benchmark days per asset against the floor; live costs."""

from __future__ import annotations

import argparse
import json
import shutil

from bench.daemon_load import daemon_load
from bench.micro_batch import micro_batch_cost
from bench.pages import TARGET_S, build_day, page_renders
from bench.runner import RESULTS, WORK, provenance, run_workload, write_results
from bench.workload import DAY, Workload
from lake import Lake
from lake.location import resolve_lake_root
from lake.read import dates_in
from orchestration.cli.common import EXIT_USAGE, CliError


def _size(text: str) -> int:
    units = {"k": 1_000, "m": 1_000_000}
    text = text.strip().lower()
    try:
        return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)
    except (ValueError, IndexError):
        raise CliError(f"--sizes: {text!r} is not a size such as 1M or 50k", EXIT_USAGE) from None


def run(args: argparse.Namespace) -> int:
    """Run the benchmark the flags name and write its results."""

    if args.daemon_load:
        work = WORK / "daemon-load"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        underlyings = (
            "SPY,QQQ,IWM,AAPL,MSFT,NVDA,AMZN,TSLA"
            if args.underlyings == "ALL"
            else args.underlyings
        )
        figures = {**daemon_load(work, DAY, underlyings, None, 30.0), "provenance": provenance()}
        out = RESULTS / "daemon-load.json"
        out.write_text(json.dumps(figures, indent=2) + "\n")
        print(json.dumps(figures, indent=2))
        return 0 if figures["reconciled"] and figures["equals_replay"] else 1
    if args.pages or args.pages_lake:
        return _pages(args)
    if args.micro_batch:
        work = WORK / "micro-batch"
        shutil.rmtree(work, ignore_errors=True)
        figures = {**micro_batch_cost(work, DAY, args.underlyings), "provenance": provenance()}
        out = RESULTS / "micro-batch.json"
        out.write_text(json.dumps(figures, indent=2) + "\n")
        for point in figures["points"]:
            print(
                f"{point['time']}: tail update {point['tail_update_s']} s, whole rebuild {point['whole_rebuild_s']} s"
            )
        print(f"-> {out}")
        return 0

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if not kinds or set(kinds) - {"option", "equity"}:
        raise CliError("--kinds: option, equity or both", EXIT_USAGE)
    sizes = [_size(s) for s in args.sizes.split(",") if s.strip()]
    results = []
    for kind in kinds:
        for i, size in enumerate(sizes):
            workload = Workload(kind, size, args.underlyings)
            print(f"bench {workload.name} ...", flush=True)
            figures = run_workload(
                workload,
                isolate=not args.smoke,
                compare=kind == "option" and i == 0,
                render=kind == "option" and i == len(sizes) - 1,
            )
            print(
                f"  derived path {figures['derived_path_s']} s, floor {figures['floor_s']} s, ratio {figures['derived_path_floor_ratio']}",
                flush=True,
            )
            results.append(figures)
    summary = write_results(
        results, RESULTS if not args.smoke else RESULTS.parent / "work" / "smoke"
    )
    print(summary.read_text())
    return 0


def _pages(args: argparse.Namespace) -> int:
    """Time every dashboard page on a built day; 0 when each renders within the target."""
    if args.pages_lake:
        lake = resolve_lake_root(args.pages_lake)
        if not dates_in(Lake(lake), "flow_packets"):
            raise CliError(f"--pages-lake {args.pages_lake}: no built day (run flowlake build)")
    else:
        work = WORK / "pages"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        lake = build_day(work, DAY.isoformat(), args.underlyings)
    pages = page_renders(lake)
    figures = {"lake": lake, "target_s": TARGET_S, "pages": pages, "provenance": provenance()}
    out = RESULTS / "pages.json"
    out.write_text(json.dumps(figures, indent=2) + "\n")
    for path, page in pages.items():
        mark = (
            "ok"
            if max(page["cold_s"], page["warm_s"]) <= TARGET_S and not page["error"]
            else "SLOW"
        )
        print(
            f"{path:12s} cold {page['cold_s']:6.2f} s  warm {page['warm_s']:6.2f} s  {mark}"
            + (f"  error: {page['error']}" if page["error"] else "")
        )
    print(f"-> {out}")
    slow = [p for p in pages.values() if p["error"] or max(p["cold_s"], p["warm_s"]) > TARGET_S]
    return 1 if slow else 0
