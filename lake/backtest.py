"""Backtests across sessions: what alerts did next, and how accurate the classifiers were,
over a range of stored days.

Both read only stored tables (``alert_outcomes``, ``alerts``, ``signal_accuracy``) of one
config version, so a backtest of a calibration candidate is the same call with its version.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from lake.location import Lake
from lake.outcomes import outcome_stats, wilson
from lake.read import dates_in, scan

#: Premium bucket edges in dollars: under 25k, 25k-100k, 100k-500k, 500k-1M, 1M and over.
PREMIUM_EDGES = (25_000.0, 100_000.0, 500_000.0, 1_000_000.0)
PREMIUM_LABELS = ("<25K", "25K-100K", "100K-500K", "500K-1M", ">=1M")
#: What an outcome backtest can be grouped by, beside the classifier and the horizon.
GROUPS = ("severity", "premium_bucket", "direction", "underlying")


def sessions(
    lake: Lake, start: dt.date, end: dt.date, table: str = "alert_outcomes"
) -> list[dt.date]:
    """Return the stored days of ``table`` from ``start`` to ``end`` inclusive, oldest first."""
    return sorted(d for d in dates_in(lake, table) if start <= d <= end)


def premium_bucket(column: str = "premium") -> pl.Expr:
    """Return the premium bucket of ``column`` (left-closed: $25,000 falls in "25K-100K").

    Examples
    --------
    >>> pl.DataFrame({"premium": [24_999.0, 25_000.0, 2e6]}).select(premium_bucket()).to_series().to_list()
    ['<25K', '25K-100K', '>=1M']
    """
    bucket = pl.when(pl.col(column) < PREMIUM_EDGES[0]).then(pl.lit(PREMIUM_LABELS[0]))
    for edge, label in zip(PREMIUM_EDGES[1:], PREMIUM_LABELS[1:-1], strict=True):
        bucket = bucket.when(pl.col(column) < edge).then(pl.lit(label))
    return (
        bucket.when(pl.col(column).is_not_null())
        .then(pl.lit(PREMIUM_LABELS[-1]))
        .alias("premium_bucket")
    )


def outcome_backtest(
    lake: Lake,
    start: dt.date,
    end: dt.date,
    version: str,
    by: tuple[str, ...] = ("severity", "premium_bucket"),
) -> pl.DataFrame:
    """Return the moves after alerts of config ``version`` from ``start`` to ``end``, per
    classifier, the ``by`` groups (of :data:`GROUPS`) and horizon, with 95% intervals
    (:func:`lake.outcomes.outcome_stats`) and the number of sessions they came from."""
    unknown = [g for g in by if g not in GROUPS]
    if unknown:
        raise ValueError(f"cannot group by {', '.join(unknown)} (choose from {', '.join(GROUPS)})")
    days = sessions(lake, start, end)
    outcomes = scan(lake, "alert_outcomes", dates=days)
    alerts = scan(lake, "alerts", dates=days)
    if not days or outcomes is None or alerts is None:
        return pl.DataFrame()
    rows = (
        outcomes.filter(pl.col("config_version") == version)
        .join(
            alerts.filter(pl.col("config_version") == version).select("alert_id", "premium"),
            on="alert_id",
            how="left",
        )
        .with_columns(premium_bucket())
        .collect()
    )
    stats = outcome_stats(rows, by=by)
    per_group = (
        rows.explode("classifiers")
        .group_by(pl.col("classifiers").alias("classifier"), *by)
        .agg(pl.col("date").n_unique().alias("sessions"))
    )
    return stats.join(per_group, on=["classifier", *by], how="left")


def accuracy_backtest(lake: Lake, start: dt.date, end: dt.date, version: str) -> pl.DataFrame:
    """Return each signal's precision and recall against the planted labels, pooled over the
    synthetic days from ``start`` to ``end`` (hits and labels summed, not daily rates
    averaged), with Wilson 95% intervals; empty when no day was scored."""
    days = sessions(lake, start, end, "signal_accuracy")
    frame = scan(lake, "signal_accuracy", dates=days)
    if not days or frame is None:
        return pl.DataFrame()
    pooled = (
        frame.filter(pl.col("config_version") == version)
        .group_by("signal")
        .agg(
            pl.col("date").n_unique().alias("sessions"),
            pl.col("hits", "true_hits", "labels", "labels_found").sum(),
        )
        .with_columns(
            (pl.col("true_hits") / pl.col("hits")).alias("precision"),
            (pl.col("labels_found") / pl.col("labels")).alias("recall"),
        )
        .collect()
    )
    return pooled.with_columns(
        wilson(-1.96, "precision", "hits").alias("precision_ci_low"),
        wilson(1.96, "precision", "hits").alias("precision_ci_high"),
        wilson(-1.96, "recall", "labels").alias("recall_ci_low"),
        wilson(1.96, "recall", "labels").alias("recall_ci_high"),
    ).sort("signal")
