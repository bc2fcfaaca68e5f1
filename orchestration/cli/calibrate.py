"""``flowlake calibrate``: classifiers and alerts under another thresholds file, or one
threshold swept over values, compared with the default."""

from __future__ import annotations

import argparse
import datetime as dt

import dagster as dg

from adapters.calendar import sessions_between
from assets.resources import LakeResource, ThresholdsResource
from assets.sources import SyntheticSource
from assets.thresholds import load_thresholds, with_value
from lake.compare import compare_versions, sweep_file, versions_by_day
from lake.read import dates_in, scan
from orchestration.calibrate import format_comparison, format_sweep
from orchestration.cli.common import EXIT_USAGE, CliError, materialize, session_date


def _sweep_values(text: str) -> tuple[str, list[float]]:
    """Return the key and values of ``--sweep KEY=V1,V2`` or ``KEY=START:STOP:STEP``."""
    key, sep, values = text.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise CliError("--sweep: give KEY=V1,V2,... or KEY=START:STOP:STEP", EXIT_USAGE)
    try:
        if ":" in values:
            lo, hi, step = (float(v) for v in values.split(":"))
            if step <= 0 or hi < lo:
                raise ValueError("START:STOP:STEP needs STOP >= START and STEP > 0")
            count = round((hi - lo) / step) + 1
            chosen = [round(lo + k * step, 10) for k in range(count)]
        else:
            chosen = [float(v) for v in values.split(",") if v.strip()]
    except ValueError as exc:
        raise CliError(f"--sweep: {exc}", EXIT_USAGE) from None
    if not chosen or len(chosen) > MAX_SWEEP_VALUES:
        raise CliError(f"--sweep: give 1 to {MAX_SWEEP_VALUES} values", EXIT_USAGE)
    return key.strip(), chosen


#: A sweep re-runs the classifiers once per value and day: a bound keeps a typo cheap.
MAX_SWEEP_VALUES = 25


def run(args: argparse.Namespace, lake: LakeResource) -> int:
    """Compare a candidate thresholds file with the default, or sweep one threshold."""

    start = session_date(args.start)
    end = session_date(args.end) if args.end else start
    if end < start:
        raise CliError("--end is before --start", EXIT_USAGE)
    if args.sweep is not None:
        return _calibrate_sweep(args, lake, start, end)
    try:
        candidate = load_thresholds(args.thresholds)
    except (OSError, ValueError) as exc:
        raise CliError(f"--thresholds: {exc}", EXIT_USAGE) from None
    default = load_thresholds()
    built = set(dates_in(lake.lake(), "flow_packets"))
    days = [d for d in sessions_between(start, end) if d in built]
    if not days:
        raise CliError(
            f"no built day between {start} and {end} in {lake.lake().root}: run `flowlake build` first"
        )
    selection = dg.AssetSelection.assets("classifier_hits", "alerts")
    have_default = set(versions_by_day(lake.lake(), "classifier_hits", default.config_version))
    for day in days:
        # The default version is left as it is; it is computed only for days that lack it.
        for th_path in ([] if day in have_default else [""]) + [args.thresholds]:
            materialize(
                selection,
                day,
                {
                    "lake": lake,
                    "thresholds": ThresholdsResource(path=th_path),
                    "source": SyntheticSource(),
                },
            )
    comparison = compare_versions(
        lake.lake(), days, default.config_version, candidate.config_version
    )
    print(
        format_comparison(
            comparison,
            days,
            candidate_differs_in_baselines=candidate.values.get("baselines")
            != default.values.get("baselines"),
        )
    )
    return 0


def _calibrate_sweep(
    args: argparse.Namespace, lake: LakeResource, start: dt.date, end: dt.date
) -> int:
    """Re-run the classifiers, alerts and their accuracy once per value of one threshold
    and print precision and recall per value and signal (synthetic days have labels)."""

    key, values = _sweep_values(args.sweep)
    if "://" in lake.root:
        raise CliError(
            "--sweep keeps one thresholds file per value beside the lake: use a local --lake",
            EXIT_USAGE,
        )
    try:
        texts = [with_value(key, v) for v in values]
    except ValueError as exc:
        raise CliError(f"--sweep: {exc}", EXIT_USAGE) from None
    built = set(dates_in(lake.lake(), "flow_packets"))
    days = [d for d in sessions_between(start, end) if d in built]
    if not days:
        raise CliError(
            f"no built day between {start} and {end} in {lake.lake().root}: run `flowlake build` first"
        )
    versions = []
    for value, text in zip(values, texts, strict=True):
        path = sweep_file(lake.root, key, value)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
        versions.append(load_thresholds(path).config_version)
        for day in days:
            materialize(
                dg.AssetSelection.assets("classifier_hits", "alerts", "signal_accuracy"),
                day,
                {
                    "lake": lake,
                    "thresholds": ThresholdsResource(path=str(path)),
                    "source": SyntheticSource(),
                },
            )
    accuracy = scan(lake.lake(), "signal_accuracy", dates=days)
    print(format_sweep(key, values, versions, None if accuracy is None else accuracy.collect()))
    return 0
