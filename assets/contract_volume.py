"""``contract_volume``: each contract's day volume against its own history, and its OI.

Per contract and session: the day's flow volume (in-flow contracts: cancels and cancelled
prints excluded, multi-leg included, as exchanges count volume), premium and prints; the
start-of-day open interest and volume/OI; and the contract's own history, the volumes of
its previous ``history_days`` sessions, carried from the previous partition like the
baseline state (docs/rules.md rule 7), so any day replays alone exactly as in a run
through all days. A contract enters the history on the first session it trades and keeps
a row, with volume 0 on quiet sessions, until it expires.

``avg_volume`` is the mean of the history, ``volume_z`` the z-score of today's volume
against it (population sd), both null below ``min_history_days`` sessions;
``relative_volume`` is today's volume over ``avg_volume``; ``unusual`` marks a volume of at
least ``min_volume`` contracts and ``min_relative_volume`` times the contract's average.

``next_open_interest`` is the next session's start-of-day open interest where it is in
the lake (it reports the positions this day opened or closed), ``oi_change`` the
difference; the end-of-day schedule rebuilds the previous session's row once the next
session's open interest has landed. Synthetic days are generated independently, so on the
synthetic market the change says nothing about the day's flow: it is meaningful on vendor
data (Databento statistics).
"""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation.

import datetime as dt

import dagster as dg
import polars as pl

from adapters.calendar import next_session, previous_session
from assets.checks import OverflowRefused, holds, refuse_non_finite, unique
from assets.contract_baselines import PREVIOUS_DAY
from assets.factory import DayRun, day_asset
from assets.money import exact_sum
from assets.thresholds import VolumeRules

VOLUME_SCHEMA: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "contract": pl.String(),
    "underlying": pl.String(),
    "expiry": pl.Date(),
    "volume": pl.Int64(),
    "premium": pl.Float64(),
    "n_prints": pl.Int64(),
    "history": pl.List(pl.Int64()),
    "n_history": pl.Int64(),
    "avg_volume": pl.Float64(),
    "volume_z": pl.Float64(),
    "relative_volume": pl.Float64(),
    "unusual": pl.Boolean(),
    "open_interest": pl.Int64(),
    "volume_to_oi": pl.Float64(),
    "next_open_interest": pl.Int64(),
    "oi_change": pl.Int64(),
}


def _open_interest(frame: pl.LazyFrame | None, name: str) -> pl.LazyFrame:
    """Return one open-interest figure per contract (empty when the day has none)."""
    if frame is None:
        return pl.LazyFrame(schema={"contract": pl.String(), name: pl.Int64()})
    return frame.group_by("contract").agg(pl.col("open_interest").max().cast(pl.Int64).alias(name))


def roll_volume(
    prints: pl.LazyFrame,
    prior: pl.LazyFrame,
    open_interest: pl.LazyFrame | None,
    next_open_interest: pl.LazyFrame | None,
    day: dt.date,
    params: VolumeRules,
) -> pl.LazyFrame:
    """Return ``day``'s per-contract volume rows, rolled forward from the previous session's.

    Parameters
    ----------
    prints
        ``option_prints`` of ``day`` (contract, underlying, expiry, size, premium, in_flow).
    prior
        The previous session's ``contract_volume`` rows (empty on the lake's first day).
    open_interest, next_open_interest
        ``option_open_interest`` of ``day`` and of the next session; None when not landed.
    day
        The session.
    params
        The ``[volume]`` thresholds: ``history_days``, ``min_history_days``,
        ``min_volume``, ``min_relative_volume``.

    Returns
    -------
    pl.LazyFrame
        :data:`VOLUME_SCHEMA`, one row per contract traded today or still carried in the
        history (not expired), ordered by contract.

    Raises
    ------
    polars.exceptions.InvalidOperationError
        At collection, when a contract's volume does not fit in Int64.
    """
    window, min_days = int(params.history_days), int(params.min_history_days)
    today = (
        prints.filter(pl.col("in_flow"))
        .group_by("contract")
        .agg(
            pl.col("underlying").first(),
            pl.col("expiry").first(),
            # Summed wide: a sum past 2^63 fails the cast to Int64 below instead of wrapping
            # to a negative volume.
            pl.col("size").cast(pl.Int128).sum().alias("volume"),
            exact_sum(pl.col("premium")).alias("premium"),
            pl.len().cast(pl.Int64).alias("n_prints"),
        )
    )
    carried = prior.filter(pl.col("expiry") >= day).select(
        "contract",
        pl.col("underlying").alias("_underlying"),
        pl.col("expiry").alias("_expiry"),
        pl.concat_list("history", "volume").list.tail(window).alias("history"),
    )
    history = pl.col("history")
    enough = pl.col("n_history") >= min_days
    return (
        today.join(carried, on="contract", how="full", coalesce=True)
        .with_columns(
            pl.lit(day).alias("date"),
            pl.coalesce("underlying", "_underlying").alias("underlying"),
            pl.coalesce("expiry", "_expiry").alias("expiry"),
            pl.col("volume").fill_null(0),
            pl.col("premium").fill_null(0.0),
            pl.col("n_prints").fill_null(0),
            history.fill_null(pl.lit([], pl.List(pl.Int64))),
        )
        .with_columns(history.list.len().cast(pl.Int64).alias("n_history"))
        .with_columns(
            pl.when(enough).then(history.list.mean()).alias("avg_volume"),
            pl.when(enough).then(history.list.std(ddof=0)).alias("_sd"),
        )
        .with_columns(
            pl.when(pl.col("_sd") > 0)
            .then((pl.col("volume") - pl.col("avg_volume")) / pl.col("_sd"))
            .alias("volume_z"),
            pl.when(pl.col("avg_volume") > 0)
            .then(pl.col("volume") / pl.col("avg_volume"))
            .alias("relative_volume"),
        )
        .with_columns(
            (
                (pl.col("volume") >= int(params.min_volume))
                # No average yet, or an average of zero: not enough to call it unusual.
                & (pl.col("relative_volume") >= float(params.min_relative_volume))
            )
            .fill_null(False)
            .alias("unusual")
        )
        .join(_open_interest(open_interest, "open_interest"), on="contract", how="left")
        .join(_open_interest(next_open_interest, "next_open_interest"), on="contract", how="left")
        .with_columns(
            pl.when(pl.col("open_interest") > 0)
            .then(pl.col("volume") / pl.col("open_interest"))
            .alias("volume_to_oi"),
            (pl.col("next_open_interest") - pl.col("open_interest")).alias("oi_change"),
        )
        .select([pl.col(c).cast(t) for c, t in VOLUME_SCHEMA.items()])
        .sort("contract")
    )


@day_asset(
    "contract_volume",
    group="signals",
    deps=[
        "option_prints",
        "option_open_interest",
        # Yesterday's rows carry the history; the partition mapping makes the order explicit.
        dg.AssetDep("contract_volume", partition_mapping=PREVIOUS_DAY),
    ],
    checks=["contract_unique", "history_within_window"],
    description="Per contract: the day's volume against its own history (unusual volume), volume/OI, next-day OI change.",
)
def contract_volume(run: DayRun) -> dg.MaterializeResult:
    """Roll the previous session's volume history forward through this day's prints.

    A live run recomputes the day (one group-by over a few columns of the day's prints).
    """
    lake, day, th = run.lake, run.day, run.th
    params = th.volume
    before, after = previous_session(day), next_session(day)
    prior = lake.find_day("contract_volume", before)
    try:
        out = roll_volume(
            lake.require_day("option_prints", day).select(
                "contract", "underlying", "expiry", "size", "premium", "in_flow"
            ),
            prior if prior is not None else pl.LazyFrame(schema=VOLUME_SCHEMA),
            lake.find_day("option_open_interest", day),
            None if after is None else lake.find_day("option_open_interest", after),
            day,
            params,
        ).collect()
    except pl.exceptions.InvalidOperationError as exc:
        raise OverflowRefused(
            f"contract_volume: a volume overflows Int64: refused ({exc})"
        ) from exc
    refuse_non_finite(out, "contract_volume", "contract", "premium")
    checks = [
        unique(out, "contract"),
        holds(
            "history_within_window",
            out,
            pl.col("history").list.len() > int(params.history_days),
        ),
    ]
    result = run.overwrite(out, checks, clock="contract")
    return dg.MaterializeResult(
        check_results=result.check_results,
        metadata={
            **(result.metadata or {}),
            "seeded_from": str(before) if prior is not None else "none",
        },
    )
