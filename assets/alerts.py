"""``alerts``: one scored alert per packet or structure that classifiers hit.

docs/rules.md rule 9. score = min(premium_cap, premium / premium_per_point)
+ round(max confidence x confidence_weight) + min(hits_cap, points_per_hit x hits);
``high`` from ``high``, ``medium`` from ``medium``, else ``low``; one level lower when the
NBBO coverage is below the gate. Every alert links to its hits and packets, and through
the packets' ``event_ids`` to each print.
"""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation.

import dagster as dg
import polars as pl

from assets.checks import all_exist, unique
from assets.classifier_hits import signals_plan
from assets.factory import DayRun, day_asset
from assets.thresholds import Thresholds

SEVERITIES = ("low", "medium", "high")
ALERT_COLUMNS = [
    "alert_id", "date", "ts", "underlying", "contract", "subject", "classifiers", "direction", "premium",
    "nbbo_coverage", "max_confidence", "n_hits", "score", "severity", "hit_ids", "packet_ids", "config_version",
]  # fmt: skip


def score_alerts(hits: pl.LazyFrame, th: Thresholds) -> pl.LazyFrame:
    """Return the alerts of one day's hits (one config version), ordered by ts, alert_id.

    Returns
    -------
    pl.LazyFrame
        One row per subject (packet or structure) with its score, severity, the hits
        and packets behind it, and the classifiers that fired.
    """
    a = th.alerts
    min_cov = th.gates.min_coverage
    grouped = (
        hits.with_columns(pl.coalesce("packet_id", "structure_id").alias("subject"))
        .sort("ts", "hit_id")
        .group_by("config_version", "subject", maintain_order=True)
        .agg(
            pl.col("date").first(),
            pl.col("ts").min(),
            pl.col("underlying").first(),
            pl.col("contract").first(),
            pl.col("classifier").unique(maintain_order=True).sort().alias("classifiers"),
            pl.col("direction").unique().alias("_directions"),
            pl.col("premium").max(),
            pl.col("nbbo_coverage").min(),
            pl.col("confidence").max().alias("max_confidence"),
            pl.len().cast(pl.Int64).alias("n_hits"),
            pl.col("hit_id").sort().alias("hit_ids"),
            pl.col("packet_ids")
            .list.explode(keep_nulls=False, empty_as_null=False)
            .unique()
            .sort()
            .alias("packet_ids"),
        )
    )
    score = (
        pl.min_horizontal(pl.lit(float(a.premium_cap)), pl.col("premium") / a.premium_per_point)
        + (pl.col("max_confidence") * a.confidence_weight).round(0)
        + pl.min_horizontal(pl.lit(float(a.hits_cap)), pl.col("n_hits") * float(a.points_per_hit))
    )
    level = (
        pl.when(pl.col("score") >= a.high)
        .then(2)
        .when(pl.col("score") >= a.medium)
        .then(1)
        .otherwise(0)
    )
    downgraded = (level - (pl.col("nbbo_coverage") < min_cov).cast(pl.Int32)).clip(0, 2)
    return (
        # Rounded to 1e-6 points: the optimiser may add the three terms in either order, and
        # a live tail's plan must give the replay's bits.
        grouped.with_columns(score.round(6).alias("score"))
        .with_columns(
            downgraded.replace_strict(dict(enumerate(SEVERITIES)), return_dtype=pl.String).alias(
                "severity"
            ),
            pl.when(pl.col("_directions").list.len() == 1)
            .then(pl.col("_directions").list.first())
            .otherwise(pl.lit("mixed"))
            .alias("direction"),
            pl.concat_str(pl.col("config_version"), pl.col("subject"), separator=":").alias(
                "alert_id"
            ),
        )
        .select(ALERT_COLUMNS)
        .sort("ts", "alert_id")
    )


@day_asset(
    "alerts",
    group="signals",
    deps=["classifier_hits"],
    checks=["alert_id_unique", "hits_exist"],
    description="Scored alerts (low/medium/high) linking to their hits, packets and prints.",
    alert_path=True,
)
def alerts(run: DayRun) -> dg.MaterializeResult:
    """Score one day's hits of the configured version into alerts."""
    lake, day, th = run.lake, run.day, run.th
    plan = signals_plan(run)
    hits = lake.require_day("classifier_hits", day).filter(
        pl.col("config_version") == th.config_version
    )
    if plan.since_ns is not None:
        # All hits of one subject share its start time, so an alert is in the tail whole.
        hits = hits.filter(pl.col("ts") >= plan.since_ns)
    out = score_alerts(hits, th).collect()
    checks = [
        unique(out, "alert_id"),
        all_exist(
            "hits_exist", out["hit_ids"], hits.select("hit_id").collect().get_column("hit_id")
        ),
    ]
    result = run.overwrite_version(out, checks, clock="ts", since_ns=plan.since_ns)
    return dg.MaterializeResult(
        check_results=result.check_results,
        metadata={
            **(result.metadata or {}),
            "config_version": th.config_version,
            "by_severity": dict(out.group_by("severity").len().iter_rows()),
        },
    )
