"""``equity_prints``: equity trades with the NBBO in force, placement and off-exchange flag.

docs/rules.md rules 1, 2, 4 and 10: venue ``D`` (FINRA ADF/TRF) is off-exchange; the
sale-condition policy decides what each print counts toward (volume, OHLC, inference).
"""

# No `from __future__ import annotations` here: Dagster inspects the `context` annotation at
# definition time and does not resolve string annotations.

import dagster as dg
import polars as pl

from assets.cancels import mark_cancelled
from assets.checks import unique
from assets.conditions import apply_policy, equity_policy
from assets.factory import DayRun, day_asset
from assets.nbbo import join_nbbo, max_age_ns
from assets.tail import tail_inputs
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
    # Collected once: the NBBO join reads the symbols, then the rows, in one chunk per
    # column (see enrich_option_prints).
    flagged = (
        mark_cancelled(apply_policy(trades.collect(), equity_policy()), instrument="symbol")
        .rechunk()
        .lazy()
    )
    # Rows keep the NBBO join's time order (ts_event, symbol, seq).
    return join_nbbo(flagged, quotes, "symbol", th).with_columns(
        pl.col("exchange").is_in(OFF_EXCHANGE_VENUES).alias("off_exchange"),
        (pl.col("price") * pl.col("size")).alias("notional"),
        # A cancel and the print it cancels count toward nothing.
        (pl.col("counts_volume") & ~pl.col("cancel") & ~pl.col("cancelled")).alias("counts_volume"),
        (pl.col("sets_ohlc") & ~pl.col("cancel") & ~pl.col("cancelled")).alias("sets_ohlc"),
        (pl.col("dark_eligible") & ~pl.col("cancel") & ~pl.col("cancelled")).alias("dark_eligible"),
    )


@day_asset(
    "equity_prints",
    group="equities",
    deps=["equity_trades", "equity_quotes"],
    checks=["event_id_unique"],
    description="Equity trades with NBBO, placement, off-exchange flag and sale-condition flags.",
    blocking=True,
)
def equity_prints(run: DayRun) -> dg.MaterializeResult:
    """Enrich one day's equity trades and overwrite that partition (a live run: its tail)."""
    lake, day, th = run.lake, run.day, run.th
    plan = run.plan(("equity",))
    trades, quotes = tail_inputs(
        lake.scan_day("equity_trades", day), lake.scan_day("equity_quotes", day), plan,
        max_age_ns(th.nbbo),
    )  # fmt: skip
    frame = enrich_equity_prints(trades, quotes, th).collect()
    return run.overwrite(
        frame,
        [unique(frame, "event_id")],
        clock="ts_event",
        since_ns=plan.since_ns,
    )
