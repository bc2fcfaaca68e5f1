"""Alert outcomes read back: hit rate and moves per classifier, severity and horizon.

``alert_outcomes`` (an asset) scores each alert's move after it; this read-side summary is
what the Outcomes page shows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import polars as pl

#: The horizons an outcome is measured at: 5 and 30 minutes, the day's close, the next close.
HORIZONS = ["5m", "30m", "close", "next"]


def outcome_stats(outcomes: pl.DataFrame, by: Sequence[str] = ("severity",)) -> pl.DataFrame:
    """Return per classifier, the ``by`` columns and horizon: n, hit rate, mean and median
    signed move.

    An alert with several classifiers counts once under each. The 95% intervals are
    normal approximations: mean +- 1.96 sd / sqrt(n) for the mean, Wilson's interval for the
    hit rate. Only directional alerts with a known move count.
    """
    long = outcomes.explode("classifiers").unpivot(
        on=[f"signed_{h}" for h in HORIZONS],
        index=["classifiers", *by],
        variable_name="horizon",
        value_name="move",
    )
    z = 1.96
    n = pl.len()
    p = (pl.col("move") > 0).mean()
    return (
        long.drop_nulls("move")
        .with_columns(pl.col("horizon").str.strip_prefix("signed_"))
        .group_by(pl.col("classifiers").alias("classifier"), *by, "horizon")
        .agg(
            n.alias("n"),
            p.alias("hit_rate"),
            pl.col("move").mean().alias("mean_move"),
            pl.col("move").median().alias("median_move"),
            pl.col("move").std().alias("_sd"),
        )
        .with_columns(
            (pl.col("mean_move") - z * pl.col("_sd") / pl.col("n").sqrt()).alias("mean_ci_low"),
            (pl.col("mean_move") + z * pl.col("_sd") / pl.col("n").sqrt()).alias("mean_ci_high"),
            wilson(-z, "hit_rate", "n").alias("hit_ci_low"),
            wilson(z, "hit_rate", "n").alias("hit_ci_high"),
        )
        .drop("_sd")
        .sort("classifier", *by, "horizon")
    )


def wilson(z: float, rate: str, trials: str) -> pl.Expr:
    """Return one bound (the lower for a negative ``z``) of Wilson's score interval of the
    proportion in column ``rate`` over the count in column ``trials``."""
    p, n = pl.col(rate), pl.col(trials)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = abs(z) * (p * (1 - p) / n + z * z / (4 * n * n)).sqrt() / (1 + z * z / n)
    return (centre + math.copysign(1.0, z) * half).clip(0.0, 1.0)
