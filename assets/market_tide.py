"""``market_tide``: net options premium per underlying and market-wide, minute by minute.

Bullish premium is calls bought (AA/A) plus puts sold (B/BB); bearish premium is calls sold
plus puts bought; the tide is bullish minus bearish. Mid, unplaced, complex (multi-leg,
stock-option) and non-flow prints (cancels, cancelled prints) are left out: they carry no
direction. The put/call premium ratio uses every single-leg flow print. Rows hold one
minute each (not running sums), so a live tail replaces whole minutes and the dashboard
accumulates them; the market-wide rows have ``underlying`` = :data:`MARKET`.
"""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation.

import dagster as dg
import polars as pl
from dagster import AssetExecutionContext

from assets.checks import specs, unique
from assets.money import exact_sum
from assets.tail import plan_for
from orchestration.partitions import partition_date, trading_days
from orchestration.resources import LakeResource

MARKET = "MARKET"
MINUTE_NS = 60 * 10**9
TIDE_COLUMNS = [
    "date", "underlying", "ts", "call_premium", "put_premium", "bullish_premium",
    "bearish_premium", "net_premium", "n_prints",
]  # fmt: skip


def build_tide(prints: pl.LazyFrame) -> pl.LazyFrame:
    """Return the minute tide of ``option_prints`` per underlying plus the market rows.

    Returns
    -------
    pl.LazyFrame
        :data:`TIDE_COLUMNS`, one row per (underlying, minute with flow), ordered by
        underlying, ts; ``ts`` is the minute's start (ns).
    """
    call, put = pl.col("right") == "C", pl.col("right") == "P"
    buy, sell = pl.col("side") == "buy", pl.col("side") == "sell"
    premium = pl.col("premium")
    rows = prints.filter(pl.col("in_flow") & ~pl.col("complex")).with_columns(
        (pl.col("ts_event") // MINUTE_NS * MINUTE_NS).alias("ts")
    )
    sums = [
        exact_sum(premium.filter(call)).alias("call_premium"),
        exact_sum(premium.filter(put)).alias("put_premium"),
        exact_sum(premium.filter((call & buy) | (put & sell))).alias("bullish_premium"),
        exact_sum(premium.filter((call & sell) | (put & buy))).alias("bearish_premium"),
        pl.len().cast(pl.Int64).alias("n_prints"),
    ]
    per = rows.group_by("date", "underlying", "ts").agg(sums)
    market = rows.group_by("date", "ts").agg(sums).with_columns(pl.lit(MARKET).alias("underlying"))
    return (
        pl.concat([per, market], how="diagonal")
        .with_columns((pl.col("bullish_premium") - pl.col("bearish_premium")).alias("net_premium"))
        .select(TIDE_COLUMNS)
        .sort("underlying", "ts")
    )


@dg.asset(
    group_name="signals",
    partitions_def=trading_days,
    check_specs=specs("market_tide", ["underlying_ts_unique", "market_is_the_sum"]),
    deps=["option_prints"],
    description="Net options premium (bullish minus bearish) per underlying and market-wide, per minute.",
)
def market_tide(context: AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Build one day's tide (a live run: the minutes from its tail on)."""
    lake = lake.scoped_to(context)
    day = partition_date(context.partition_key)
    plan = plan_for(context, lake.has("market_tide"), ("option",))
    prints = lake.require_day("option_prints", day)
    since = None
    if plan.since_ns is not None:
        since = plan.since_ns // MINUTE_NS * MINUTE_NS
        prints = prints.filter(pl.col("ts_event") >= since)
    tide = build_tide(prints).collect()
    per = tide.filter(pl.col("underlying") != MARKET)
    market = tide.filter(pl.col("underlying") == MARKET)
    off = (
        per.group_by("ts").agg(pl.col("net_premium").sum().alias("_sum"))
        .join(market.select("ts", "net_premium"), on="ts", how="full", coalesce=True)
        .filter((pl.col("_sum").fill_null(0) - pl.col("net_premium").fill_null(0)).abs() > 1e-6)
    )  # fmt: skip
    checks = [
        unique(tide, "underlying", "ts"),
        dg.AssetCheckResult(
            check_name="market_is_the_sum",
            passed=off.is_empty(),
            metadata={"minutes_off": off.height},
        ),
    ]
    return lake.overwrite("market_tide", tide, day, checks, clock="ts", since_ns=since)
