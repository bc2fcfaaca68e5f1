"""``flowlake backtest``: what alerts did next, and the classifiers' accuracy, over a range
of stored sessions (the Outcomes page shows the same tables)."""

from __future__ import annotations

import argparse
import datetime as dt

import polars as pl

from assets.resources import LakeResource
from assets.thresholds import load_thresholds
from lake.backtest import GROUPS, accuracy_backtest, outcome_backtest, sessions
from lake.outcomes import HORIZONS
from orchestration.cli.common import EXIT_USAGE, CliError


def _day(text: str, flag: str) -> dt.date:
    # Any calendar day: a range may start or end on a weekend or a holiday.
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CliError(f"{flag} {text!r} is not a date (use YYYY-MM-DD)", EXIT_USAGE) from None


def _groups(text: str) -> tuple[str, ...]:
    chosen = tuple(g.strip() for g in text.split(",") if g.strip())
    unknown = [g for g in chosen if g not in GROUPS]
    if unknown:
        raise CliError(f"--by: {', '.join(unknown)} is not one of {', '.join(GROUPS)}", EXIT_USAGE)
    return chosen


def _print(frame: pl.DataFrame, digits: int) -> None:
    # Every row and column: a backtest table is read whole, not as a preview.
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=200, float_precision=digits,
                   tbl_hide_dataframe_shape=True):  # fmt: skip
        print(frame)


def run(args: argparse.Namespace, lake: LakeResource) -> int:
    """Print the outcome table (and the accuracy table where days were scored); 1 when the
    range holds no stored session."""
    start, end = _day(args.start, "--start"), _day(args.end, "--end")
    if end < start:
        raise CliError("--end is before --start", EXIT_USAGE)
    if args.horizon not in HORIZONS:
        raise CliError(f"--horizon: choose from {', '.join(HORIZONS)}", EXIT_USAGE)
    by = _groups(args.by)
    version = args.config_version or load_thresholds().config_version
    days = sessions(lake.lake(), start, end)
    if not days:
        raise CliError(
            f"no stored session with alert outcomes from {start} to {end}: run `flowlake build` first"
        )
    stats = outcome_backtest(lake.lake(), start, end, version, by)
    print(
        f"Alert outcomes, {len(days)} session(s) {days[0]} to {days[-1]}, config {version}, horizon {args.horizon}"
    )
    if stats.is_empty():
        print("  no alert of this config version in the range")
    else:
        _print(stats.filter(pl.col("horizon") == args.horizon).drop("horizon"), digits=4)
    accuracy = accuracy_backtest(lake.lake(), start, end, version)
    if not accuracy.is_empty():
        print("Accuracy against the planted labels (synthetic sessions, pooled)")
        _print(accuracy, digits=3)
    return 0
