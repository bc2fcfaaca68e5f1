"""``signal_accuracy``: precision and recall of every classifier against planted labels.

On a synthetic day the market plants each pattern with the event ids that make it up
(``synthetic_labels``). A classifier hit is a true positive when its evidence (the prints
of its packets) shares a print with a label of the pattern it looks for; a label is found
when some hit of that classifier shares a print with it. Precision = true hits / hits,
recall = found labels / labels, per classifier and config version, so a threshold change
shows its effect on accuracy and not only on counts. Dark-pool inference kinds are scored
the same way against their labels. Days without labels (real data) have no rows.
"""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation.

import datetime as dt

import dagster as dg
import polars as pl
from dagster import AssetExecutionContext

from assets.checks import in_unit_interval, specs, unique
from orchestration.partitions import partition_date, trading_days
from orchestration.resources import LakeResource, ThresholdsResource

#: The label kind each signal looks for.
LABEL_OF = {
    "sweep": "sweep", "spike": "spike", "zero_dte": "zero_dte", "roll": "roll",
    "repeat_hitter": "repeat_hitter",
    "absorbed_block": "absorbed_block", "stealth_accumulation": "stealth_accumulation",
    "distribution": "distribution",
}  # fmt: skip
ACCURACY_COLUMNS = [
    "date", "config_version", "signal", "hits", "true_hits", "labels", "labels_found",
    "precision", "recall",
]  # fmt: skip


def score_signals(
    evidence: pl.LazyFrame, labels: pl.LazyFrame, config_version: str
) -> pl.DataFrame:
    """Return precision and recall per signal.

    Parameters
    ----------
    evidence
        One row per (signal, hit_id, event_id): the prints behind each hit or inference.
    labels
        ``synthetic_labels`` rows of the day (label_id, kind, event_ids).
    config_version
        Stored on every row.

    Returns
    -------
    pl.DataFrame
        :data:`ACCURACY_COLUMNS`; precision null without hits, recall null without labels.
    """
    wanted = pl.DataFrame({"signal": list(LABEL_OF), "kind": list(LABEL_OF.values())}).lazy()
    planted = labels.select("label_id", "kind", pl.col("event_ids").alias("event_id")).explode(
        "event_id"
    )
    matches = (
        evidence.join(wanted, on="signal")
        .join(planted, on=["kind", "event_id"])
        .select("signal", "hit_id", "label_id")
        .unique()
    )
    hits = evidence.group_by("signal").agg(pl.col("hit_id").n_unique().alias("hits"))
    true_hits = matches.group_by("signal").agg(pl.col("hit_id").n_unique().alias("true_hits"))
    found = matches.group_by("signal").agg(pl.col("label_id").n_unique().alias("labels_found"))
    per_kind = labels.group_by("kind").agg(pl.col("label_id").n_unique().alias("labels"))
    day = labels.select(pl.col("date").first())
    return (
        wanted.join(per_kind, on="kind", how="left")
        .join(hits, on="signal", how="left")
        .join(true_hits, on="signal", how="left")
        .join(found, on="signal", how="left")
        .join(day, how="cross")
        .with_columns(
            pl.col(c).fill_null(0).cast(pl.Int64)
            for c in ("hits", "true_hits", "labels", "labels_found")
        )
        .with_columns(
            pl.lit(config_version).alias("config_version"),
            pl.when(pl.col("hits") > 0)
            .then(pl.col("true_hits") / pl.col("hits"))
            .alias("precision"),
            pl.when(pl.col("labels") > 0)
            .then(pl.col("labels_found") / pl.col("labels"))
            .alias("recall"),
        )
        .select(ACCURACY_COLUMNS)
        .sort("signal")
        .collect()
    )


def _evidence(lake: LakeResource, day: dt.date, version: str) -> pl.LazyFrame:
    """Return (signal, hit_id, event_id): the prints behind each hit of ``version`` (through
    its packets) and behind each dark-pool inference."""
    packets = lake.require_day("flow_packets", day).select("packet_id", "event_ids")
    by_hit = (
        lake.require_day("classifier_hits", day).filter(pl.col("config_version") == version)
        .select(pl.col("classifier").alias("signal"), "hit_id", pl.col("packet_ids").alias("packet_id"))
        .explode("packet_id")
        .join(packets, on="packet_id")
        .explode("event_ids")
        .select("signal", "hit_id", pl.col("event_ids").alias("event_id"))
    )  # fmt: skip
    dark = (
        lake.require_day("dark_inferences", day)
        .select(pl.col("kind").alias("signal"), pl.col("inference_id").alias("hit_id"), "event_ids")
        .explode("event_ids")
        .rename({"event_ids": "event_id"})
    )
    return pl.concat([by_hit, dark])


@dg.asset(
    group_name="signals",
    partitions_def=trading_days,
    check_specs=specs(
        "signal_accuracy", ["config_version_signal_unique", "ratios_in_unit_interval"]
    ),
    deps=["classifier_hits", "flow_packets", "dark_inferences", "synthetic_labels"],
    description="Precision and recall of each classifier and dark-pool kind against the planted labels.",
)
def signal_accuracy(
    context: AssetExecutionContext, lake: LakeResource, thresholds: ThresholdsResource
) -> dg.MaterializeResult:
    """Score the day's hits (of the configured version) and inferences against its labels."""
    lake = lake.scoped_to(context)
    day = partition_date(context.partition_key)
    version = thresholds.load().config_version
    labels = lake.find_day("synthetic_labels", day)
    if labels is None or labels.select(pl.len()).collect().item() == 0:
        scores = pl.DataFrame(schema=ACCURACY_SCHEMA)  # real data: no planted labels
    else:
        scores = score_signals(_evidence(lake, day, version), labels, version)
    checks = [
        unique(scores, "config_version", "signal"),
        in_unit_interval(scores, "precision", "recall"),
    ]
    return lake.overwrite_version("signal_accuracy", scores, day, version, checks)


ACCURACY_SCHEMA: dict[str, pl.DataType] = {
    "date": pl.Date(), "config_version": pl.String(), "signal": pl.String(), "hits": pl.Int64(),
    "true_hits": pl.Int64(), "labels": pl.Int64(), "labels_found": pl.Int64(),
    "precision": pl.Float64(), "recall": pl.Float64(),
}  # fmt: skip
