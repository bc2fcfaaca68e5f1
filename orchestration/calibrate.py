"""The text reports of ``flowlake calibrate``: counts per version and changed alerts, and
precision and recall per value of a swept threshold."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from lake.compare import VersionComparison

#: At most this many added/removed alerts are listed (the counts are always complete).
MAX_LISTED = 25


def _table(frame: pl.DataFrame, key: str, base: str, candidate: str) -> list[str]:
    lines = [f"  {key:<12}{'default':>10}{'candidate':>11}{'change':>8}"]
    for row in frame.iter_rows(named=True):
        a, b = int(row[base]), int(row[candidate])
        lines.append(f"  {row[key]:<12}{a:>10}{b:>11}{b - a:>+8}")
    if frame.is_empty():
        lines.append("  (none)")
    return lines


def _alerts(title: str, frame: pl.DataFrame) -> list[str]:
    lines = [f"{title} ({frame.height}):"]
    for row in frame.head(MAX_LISTED).iter_rows(named=True):
        lines.append(
            f"  {row['date']} {row['severity']:<6} {row['score']:>5.0f}  {row['subject']}  [{', '.join(row['classifiers'])}]"
        )
    if frame.height > MAX_LISTED:
        lines.append(f"  ... and {frame.height - MAX_LISTED} more")
    return lines


def format_comparison(
    cmp: VersionComparison, days: Sequence[dt.date], candidate_differs_in_baselines: bool = False
) -> str:
    """Return the calibration report as text."""
    span = f"{days[0]}" if len(days) == 1 else f"{days[0]}..{days[-1]} ({len(days)} days)"
    lines = [
        f"calibration {span}: default {cmp.base} vs candidate {cmp.candidate}",
        "hits per classifier:",
    ]
    lines += _table(cmp.hits, "classifier", cmp.base, cmp.candidate)
    lines.append("alerts per severity:")
    lines += _table(cmp.severities, "severity", cmp.base, cmp.candidate)
    lines += _alerts("alerts added", cmp.added)
    lines += _alerts("alerts removed", cmp.removed)
    if candidate_differs_in_baselines:
        lines.append(
            "note: [baselines] differs: within-day z-scores use it, but each day starts from the stored "
            "contract_baselines state; `flowlake build --thresholds FILE` rebuilds that state too."
        )
    return "\n".join(lines)


def format_sweep(
    key: str, values: Sequence[float], versions: Sequence[str], accuracy: pl.DataFrame | None
) -> str:
    """Return one line per (value, signal): hits, precision and recall summed over the days."""
    lines = [f"sweep {key}: precision and recall per value (synthetic days' labels)"]
    lines.append(f"  {'value':>12}  {'version':<12}  {'signal':<21}{'hits':>6}{'P':>7}{'R':>7}")
    if accuracy is None or accuracy.is_empty():
        lines.append("  (no accuracy rows: only synthetic days have planted labels)")
        return "\n".join(lines)
    for value, version in zip(values, versions, strict=True):
        rows = (
            accuracy.filter(pl.col("config_version") == version)
            .group_by("signal")
            .agg(pl.col("hits", "true_hits", "labels", "labels_found").sum())
            .sort("signal")
        )
        for r in rows.iter_rows(named=True):
            p = f"{r['true_hits'] / r['hits']:.3f}" if r["hits"] else "-"
            rc = f"{r['labels_found'] / r['labels']:.3f}" if r["labels"] else "-"
            lines.append(
                f"  {value:>12g}  {version:<12}  {r['signal']:<21}{r['hits']:>6}{p:>7}{rc:>7}"
            )
    return "\n".join(lines)
