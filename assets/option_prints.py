"""``option_prints``: option trades enriched with the NBBO in force, placement, side, premium.

docs/rules.md rules 1-4. The NBBO join is backward as-of per contract: the latest valid
quote at or before the trade (never after, not even by 1 ns) and no older than
``nbbo_max_age_ms``. Quotes that share a timestamp are ordered by ``seq`` so the match
is the same on every run.
"""

# No `from __future__ import annotations` here: Dagster inspects the `context` annotation at
# definition time and does not resolve string annotations.

import dagster as dg
import polars as pl

from assets.cancels import mark_cancelled
from assets.checks import holds, refuse_non_finite, unique
from assets.conditions import apply_policy, opra_policy
from assets.factory import DayRun, day_asset
from assets.nbbo import join_nbbo, max_age_ns, nbbo_stream, standing_quotes
from assets.tail import tail_inputs
from assets.thresholds import Thresholds


def enrich_option_prints(
    trades: pl.LazyFrame, quotes: pl.LazyFrame, th: Thresholds
) -> pl.LazyFrame:
    """Return ``option_prints`` for one day's trades and quotes.

    Parameters
    ----------
    trades, quotes
        Landing rows of one day: ``option_trades``, and the NBBO of ``option_quotes``
        (:func:`assets.nbbo.nbbo_stream`).
    th
        The thresholds (rule 1's age limit, rule 2's eps).

    Returns
    -------
    pl.LazyFrame
        The trade columns plus ``nbbo_bid``, ``nbbo_ask``, ``nbbo_ts``, ``nbbo_age_ms``,
        ``placement``, ``side`` (buy / sell / none), ``premium``, the OPRA policy flags,
        ``cancelled`` and ``in_flow`` (counts toward flow, not a cancel, not cancelled),
        in time order (``ts_event``, contract, ``seq``).
    """
    # Collected once: the NBBO join reads the contracts, then the rows. In one chunk per
    # column: the join puts every column in time order, and polars' gather across the many
    # chunks of a day read from many files costs far more than one copy into one chunk and
    # a gather from it (bench/README.md).
    flagged = mark_cancelled(apply_policy(trades.collect(), opra_policy())).rechunk().lazy()
    placed = join_nbbo(flagged, quotes, "contract", th).with_columns(
        (pl.col("price") * pl.col("size") * pl.col("multiplier")).alias("premium"),
        (pl.col("counts_flow") & ~pl.col("cancel") & ~pl.col("cancelled")).alias("in_flow"),
    )
    # Rows keep the NBBO join's time order (ts_event, contract, seq).
    return placed.with_columns(
        pl.when(~pl.col("aggressor_eligible") | pl.col("complex"))
        .then(pl.lit("none"))
        .when(pl.col("placement").is_in(["AA", "A"]))
        .then(pl.lit("buy"))
        .when(pl.col("placement").is_in(["B", "BB"]))
        .then(pl.lit("sell"))
        .otherwise(pl.lit("none"))
        .alias("side")
    )


@day_asset(
    "option_prints",
    group="options",
    deps=["option_trades", "option_quotes"],
    checks=["event_id_unique", "nbbo_never_after_trade", "premium_positive"],
    description="Option trades with the NBBO in force, placement, side, premium and condition flags.",
    alert_path=True,
    blocking=True,
)
def option_prints(run: DayRun) -> dg.MaterializeResult:
    """Enrich one day's option trades (rules 1-4) and overwrite that partition (or, for a
    live micro-batch, its tail: prints from the batch's earliest time, quotes from one
    NBBO age before)."""
    lake, day, th = run.lake, run.day, run.th
    trades = lake.scan_day("option_trades", day)
    day_quotes = lake.scan_day("option_quotes", day)
    plan = run.plan(("option",))
    trades, quotes = tail_inputs(trades, day_quotes, plan, max_age_ns(th.nbbo))
    if plan.since_ns is not None:
        # A complete stream's book stands however old: a tail needs it as the day has it.
        quotes = pl.concat(
            [standing_quotes(day_quotes, plan.since_ns - max_age_ns(th.nbbo)), quotes]
        )
    result = enrich_option_prints(trades, nbbo_stream(quotes), th).collect()
    refuse_non_finite(result, "option_prints", "event_id", "premium")
    checks = [
        unique(result, "event_id"),
        holds("nbbo_never_after_trade", result, pl.col("nbbo_ts") > pl.col("ts_event")),
        holds("premium_positive", result, pl.col("premium") <= 0),
    ]
    return run.overwrite(result, checks, clock="ts_event", since_ns=plan.since_ns)
