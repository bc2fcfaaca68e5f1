"""``signal_accuracy``: precision and recall of every classifier against planted labels.

On a synthetic day the market plants each pattern with the event ids that make it up and
the hits the default thresholds must produce on it (``synthetic_labels.expected``, worked
out from what was planted, never by running the classifiers). Precision = hits on a label
that expects them / hits, recall = labels whose expected hits were found / labels, per
signal and config version (:func:`score_signals`), so a threshold change shows its effect
on accuracy and not only on counts. Near-misses (planted just past one gate) count the
times their signal fired anyway. Days without labels (real data) have no rows.
"""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation.

import datetime as dt

import dagster as dg
import polars as pl

from assets.checks import in_unit_interval, unique
from assets.factory import DayRun, day_asset
from assets.resources import LakeResource

#: The signals scored: every classifier and dark-pool inference kind.
SIGNALS = (
    "sweep", "spike", "zero_dte", "burst", "repeat_hitter", "roll",
    "absorbed_block", "stealth_accumulation", "distribution",
)  # fmt: skip
ACCURACY_COLUMNS = [
    "date", "config_version", "signal", "hits", "true_hits", "labels", "labels_found",
    "precision", "recall", "near_misses", "near_misses_fired",
]  # fmt: skip


def expected_of(labels: pl.LazyFrame) -> pl.LazyFrame:
    """Return ``labels`` with ``expected`` and ``near_miss`` filled: labels landed before
    flowlake stated expected hits (the column absent, or null on an upgraded table) expect
    the signal their kind names, and are no near-miss."""
    kind = pl.col("kind")
    by_kind = (
        pl.when(kind.is_in(SIGNALS)).then(pl.concat_list(kind)).otherwise(pl.lit([], pl.List(pl.String)))
    )  # fmt: skip
    names = labels.collect_schema().names()
    if "expected" not in names:
        labels = labels.with_columns(pl.lit(None, pl.List(pl.String)).alias("expected"))
    if "near_miss" not in names:
        labels = labels.with_columns(pl.lit(None, pl.String).alias("near_miss"))
    return labels.with_columns(
        pl.coalesce("expected", by_kind).alias("expected"),
        pl.col("near_miss").fill_null(""),
    )


def score_signals(
    evidence: pl.LazyFrame, labels: pl.LazyFrame, config_version: str
) -> pl.DataFrame:
    """Return precision and recall per signal against the labels' expected hits.

    A label expects the hits the default thresholds must produce on its planted prints
    (``expected``). A hit of signal S is true when it shares a print with a label that
    expects S; a label expecting S is found when some hit of S shares a print with it.
    Hits on the background, on hard negatives and on near-misses are false. A near-miss
    of S (``near_miss`` = "S:threshold") fired when a hit of S shares a print with it.

    Parameters
    ----------
    evidence
        One row per (signal, hit_id, event_id): the prints behind each hit or inference.
    labels
        ``synthetic_labels`` rows of the day (label_id, kind, event_ids, expected,
        near_miss).
    config_version
        Stored on every row.

    Returns
    -------
    pl.DataFrame
        :data:`ACCURACY_COLUMNS`, one row per signal of :data:`SIGNALS`; precision null
        without hits, recall null without labels expecting the signal.

    Examples
    --------
    A $120k sweep over four venues in a quiet contract expects {sweep, spike}: a sweep hit
    and a spike hit on its prints are both true, and it counts once for each signal.
    """
    labels = expected_of(labels)
    wanted = pl.LazyFrame({"signal": list(SIGNALS)})
    prints = labels.select(
        "label_id", "expected", "near_miss", pl.col("event_ids").alias("event_id")
    ).explode("event_id")
    expecting = (
        prints.explode("expected").filter(pl.col("expected").is_not_null())
        .select("label_id", pl.col("expected").alias("signal"), "event_id")
    )  # fmt: skip
    missing = (
        prints.filter(pl.col("near_miss") != "")
        .select("label_id", pl.col("near_miss").str.split(":").list.first().alias("signal"), "event_id")
    )  # fmt: skip
    matches = (
        evidence.join(expecting, on=["signal", "event_id"])
        .select("signal", "hit_id", "label_id")
        .unique()
    )
    fired = (
        evidence.join(missing, on=["signal", "event_id"])
        .group_by("signal").agg(pl.col("label_id").n_unique().alias("near_misses_fired"))
    )  # fmt: skip
    per_signal = expecting.group_by("signal").agg(pl.col("label_id").n_unique().alias("labels"))
    near = missing.group_by("signal").agg(pl.col("label_id").n_unique().alias("near_misses"))
    hits = evidence.group_by("signal").agg(pl.col("hit_id").n_unique().alias("hits"))
    true_hits = matches.group_by("signal").agg(pl.col("hit_id").n_unique().alias("true_hits"))
    found = matches.group_by("signal").agg(pl.col("label_id").n_unique().alias("labels_found"))
    day = labels.select(pl.col("date").first())
    counts = ("hits", "true_hits", "labels", "labels_found", "near_misses", "near_misses_fired")
    return (
        wanted.join(per_signal, on="signal", how="left")
        .join(hits, on="signal", how="left")
        .join(true_hits, on="signal", how="left")
        .join(found, on="signal", how="left")
        .join(near, on="signal", how="left")
        .join(fired, on="signal", how="left")
        .join(day, how="cross")
        .with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in counts)
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


@day_asset(
    "signal_accuracy",
    group="signals",
    deps=["classifier_hits", "flow_packets", "dark_inferences", "synthetic_labels"],
    checks=["config_version_signal_unique", "ratios_in_unit_interval"],
    description="Precision and recall of each classifier and dark-pool kind against the planted labels.",
)
def signal_accuracy(run: DayRun) -> dg.MaterializeResult:
    """Score the day's hits (of the configured version) and inferences against its labels."""
    lake, day, th = run.lake, run.day, run.th
    version = th.config_version
    labels = lake.find_day("synthetic_labels", day)
    if labels is None or labels.select(pl.len()).collect().item() == 0:
        scores = pl.DataFrame(schema=ACCURACY_SCHEMA)  # real data: no planted labels
    else:
        scores = score_signals(_evidence(lake, day, version), labels, version)
    checks = [
        unique(scores, "config_version", "signal"),
        in_unit_interval(scores, "precision", "recall"),
    ]
    return run.overwrite_version(scores, checks)


ACCURACY_SCHEMA: dict[str, pl.DataType] = {
    "date": pl.Date(), "config_version": pl.String(), "signal": pl.String(), "hits": pl.Int64(),
    "true_hits": pl.Int64(), "labels": pl.Int64(), "labels_found": pl.Int64(),
    "precision": pl.Float64(), "recall": pl.Float64(), "near_misses": pl.Int64(),
    "near_misses_fired": pl.Int64(),
}  # fmt: skip
