"""Compare lake contents: two config versions of the signal tables (what a threshold
change did), and one day's derived rows of two lakes (live against replay).

Read-side only: the CLI's ``calibrate``, the dashboards' Calibration page and the live
benchmarks use it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from lake.location import Lake
from lake.read import scan

#: The columns that identify a row of each derived table within a day.
DERIVED_KEYS: dict[str, list[str]] = {
    "option_prints": ["event_id"], "flow_packets": ["packet_id"], "structures": ["structure_id"],
    "contract_baselines": ["contract"], "classifier_hits": ["hit_id"], "alerts": ["alert_id"],
    "equity_prints": ["event_id"], "equity_candles": ["symbol", "interval", "ts"],
    "dark_inferences": ["inference_id"], "market_tide": ["underlying", "ts"],
    "packet_positioning": ["packet_id"], "alert_outcomes": ["alert_id"], "contract_volume": ["contract"],
    "signal_accuracy": ["config_version", "signal"], "gamma_exposure": ["ts", "underlying"],
}  # fmt: skip


def day_rows(lake: Lake, day: dt.date) -> dict[str, pl.DataFrame]:
    """Return each derived table's rows of ``day`` in key order with columns by name, so
    that two lakes built differently (live tails, a whole-day replay) compare with
    ``DataFrame.equals``; tables the lake does not have are left out."""
    rows = {}
    for table, keys in DERIVED_KEYS.items():
        frame = scan(lake, table, dates=[day])
        if frame is not None:
            rows[table] = frame.sort(keys).select(sorted(frame.collect_schema().names())).collect()
    return rows


@dataclass(frozen=True)
class VersionComparison:
    """Counts per version and the alerts that one version has and the other has not.

    Attributes
    ----------
    hits
        classifier, then one count column per version.
    severities
        severity, then one count column per version.
    added
        Alerts of ``candidate`` whose subject (packet or structure) has no ``base`` alert.
    removed
        Alerts of ``base`` whose subject has no ``candidate`` alert.
    """

    base: str
    candidate: str
    hits: pl.DataFrame
    severities: pl.DataFrame
    added: pl.DataFrame
    removed: pl.DataFrame


def config_versions(lake: Lake, dates: Sequence[dt.date] | None = None) -> list[str]:
    """Return the config versions present in ``alerts`` (for ``dates`` if given), sorted."""
    frame = scan(lake, "alerts", dates=dates)
    if frame is None:
        return []
    return sorted(
        frame.select(pl.col("config_version").unique())
        .collect()
        .get_column("config_version")
        .to_list()
    )


def versions_by_day(lake: Lake, table: str, version: str) -> list[dt.date]:
    """Return the days on which ``table`` holds rows of config ``version``."""
    frame = scan(lake, table)
    if frame is None:
        return []
    return (
        frame.filter(pl.col("config_version") == version)
        .select(pl.col("date").unique())
        .collect()
        .get_column("date")
        .to_list()
    )


def _counts(frame: pl.LazyFrame | None, key: str, versions: tuple[str, str]) -> pl.DataFrame:
    empty = pl.DataFrame(schema={key: pl.String, versions[0]: pl.UInt32, versions[1]: pl.UInt32})
    if frame is None:
        return empty
    counts = (
        frame.filter(pl.col("config_version").is_in(versions))
        .group_by(key, "config_version")
        .len()
        .collect()
    )
    if counts.is_empty():
        return empty
    wide = counts.pivot(on="config_version", index=key, values="len").fill_null(0)
    for version in versions:
        if version not in wide.columns:
            wide = wide.with_columns(pl.lit(0, pl.UInt32).alias(version))
    return wide.select(key, *versions).sort(key)


def compare_versions(
    lake: Lake, dates: Sequence[dt.date], base: str, candidate: str
) -> VersionComparison:
    """Return how ``candidate`` differs from ``base`` over ``dates``."""
    versions = (base, candidate)
    hits = scan(lake, "classifier_hits", dates=dates)
    alerts = scan(lake, "alerts", dates=dates)
    columns = ["date", "subject", "underlying", "contract", "classifiers", "score", "severity"]
    if alerts is None:
        none = pl.DataFrame(schema={c: pl.String for c in columns})
        return VersionComparison(
            base,
            candidate,
            _counts(hits, "classifier", versions),
            _counts(None, "severity", versions),
            none,
            none,
        )
    a = alerts.filter(pl.col("config_version") == base).collect()
    b = alerts.filter(pl.col("config_version") == candidate).collect()
    return VersionComparison(
        base=base,
        candidate=candidate,
        hits=_counts(hits, "classifier", versions),
        severities=_counts(alerts, "severity", versions),
        added=b.join(a.select("date", "subject"), on=["date", "subject"], how="anti")
        .select(columns)
        .sort("date", "subject"),
        removed=a.join(b.select("date", "subject"), on=["date", "subject"], how="anti")
        .select(columns)
        .sort("date", "subject"),
    )
