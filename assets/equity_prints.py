"""``equity_prints``: equity trades with the NBBO in force, placement and off-exchange flag.

docs/rules.md rules 1, 2, 4 and 10: venue ``D`` (FINRA ADF/TRF) is off-exchange; the
sale-condition policy decides what each print counts toward (volume, OHLC, inference).
"""

# No `from __future__ import annotations` here: Dagster inspects the `context` annotation at
# definition time and does not resolve string annotations.

import dagster as dg
import polars as pl
from dagster import AssetExecutionContext

from assets.cancels import mark_cancelled
from assets.checks import specs, unique
from assets.conditions import apply_policy, equity_policy
from assets.nbbo import join_nbbo, max_age_ns
from assets.partitions import partition_date, trading_days
from assets.resources import LakeResource, ThresholdsResource
from assets.tail import plan_for, tail_inputs
from assets.thresholds import Thresholds

OFF_EXCHANGE_VENUES = ("D",)


def enrich_equity_prints(
    trades: pl.LazyFrame, quotes: pl.LazyFrame, th: Thresholds
) -> pl.LazyFrame:
    """Return ``equity_prints`` for one day's trades and quotes.

    Returns
    -------
    pl.LazyFrame
        Trade columns plus ``nbbo_bid``, ``nbbo_ask``, ``nbbo_ts``, ``nbbo_age_ms``,
        ``placement``, ``off_exchange``, ``notional``, ``cancelled`` and the equity policy
        flags (cancels and cancelled prints never count toward volume, OHLC or inference),
        in time order (``ts_event``, symbol, ``seq``).
    """
    # Collected once: the NBBO join reads the symbols, then the rows.
    flagged = mark_cancelled(
        apply_policy(trades, equity_policy()).collect(), instrument="symbol"
    ).lazy()
    # Rows keep the NBBO join's time order (ts_event, symbol, seq).
    return join_nbbo(flagged, quotes, "symbol", th).with_columns(
        pl.col("exchange").is_in(OFF_EXCHANGE_VENUES).alias("off_exchange"),
        (pl.col("price") * pl.col("size")).alias("notional"),
        # A cancel and the print it cancels count toward nothing.
        (pl.col("counts_volume") & ~pl.col("cancel") & ~pl.col("cancelled")).alias("counts_volume"),
        (pl.col("sets_ohlc") & ~pl.col("cancel") & ~pl.col("cancelled")).alias("sets_ohlc"),
        (pl.col("dark_eligible") & ~pl.col("cancel") & ~pl.col("cancelled")).alias("dark_eligible"),
    )


@dg.asset(
    group_name="equities",
    partitions_def=trading_days,
    check_specs=specs("equity_prints", ["event_id_unique"], blocking=True),
    deps=["equity_trades", "equity_quotes"],
    description="Equity trades with NBBO, placement, off-exchange flag and sale-condition flags.",
)
def equity_prints(
    context: AssetExecutionContext, lake: LakeResource, thresholds: ThresholdsResource
) -> dg.MaterializeResult:
    """Enrich one day's equity trades and overwrite that partition (a live run: its tail)."""
    lake = lake.scoped_to(context)
    day = partition_date(context.partition_key)
    th = thresholds.load()
    plan = plan_for(context, lake.has("equity_prints"), ("equity",))
    trades, quotes = tail_inputs(
        lake.scan_day("equity_trades", day), lake.scan_day("equity_quotes", day), plan,
        max_age_ns(th.nbbo),
    )  # fmt: skip
    frame = enrich_equity_prints(trades, quotes, th).collect()
    return lake.overwrite(
        "equity_prints",
        frame,
        day,
        [unique(frame, "event_id")],
        clock="ts_event",
        since_ns=plan.since_ns,
    )
