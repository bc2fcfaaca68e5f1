"""Compare lake contents: two config versions of the signal tables (what a threshold
change did), one day's derived rows of two lakes (live against replay), and the versions of
a swept threshold (``flowlake calibrate --sweep``).

Read-side only: the CLI's ``calibrate``, the dashboards' Calibration page and the live
benchmarks use it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from lake.location import Lake
from lake.read import scan
from lake.tables import DERIVED_KEYS


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


#: Where a sweep keeps the thresholds file of each value, under the lake root (the
#: Calibration page maps their config versions back to the values).
SWEEP_DIR = "_calibration"


def sweep_file(root: str, key: str, value: float) -> Path:
    """Return the thresholds file of ``key`` = ``value`` under the lake ``root``."""
    return Path(root) / SWEEP_DIR / f"{key}={value:g}.toml"


def config_version_of(raw: bytes) -> str:
    """Return the config version of a thresholds file's bytes: the first 12 hex digits of
    their SHA-256 (stored on every hit and alert)."""
    return hashlib.sha256(raw).hexdigest()[:12]


def sweep_points(root: str) -> pl.DataFrame:
    """Return (key, value, config_version) of every swept thresholds file under ``root``."""
    rows = []
    folder = Path(root) / SWEEP_DIR
    pattern = re.compile(r"^(?P<key>[\w.]+)=(?P<value>[-+0-9.eE]+)\.toml$")
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        match = pattern.match(path.name)
        if match:
            version = config_version_of(path.read_bytes())
            rows.append((match["key"], float(match["value"]), version))
    return pl.DataFrame(
        rows,
        schema={"key": pl.String, "value": pl.Float64, "config_version": pl.String},
        orient="row",
    )
