"""``equity_candles``: OHLCV per symbol per interval (1 s, 1 min, 5 min), lit and off-exchange apart.

DESIGN.md §3 rule 11. Bars are aligned to the epoch in UTC, which for these intervals is
also aligned to the New York session on any day, DST or not. A print sets OHLC only when
the condition policy says so (``sets_ohlc``: no odd lots, Form T, average-price,
derivatively priced, contingent or out-of-sequence prints), and counts toward volume when
``counts_volume``. A bar whose prints all count only toward volume has null OHLC.
"""

# No `from __future__ import annotations` here: Dagster inspects the `context` annotation at
# definition time and does not resolve string annotations.

import dagster as dg
import polars as pl
from dagster import AssetExecutionContext

from assets.checks import holds, specs, unique
from assets.tail import plan_for
from orchestration.partitions import partition_date, trading_days
from orchestration.resources import LakeResource

INTERVALS: dict[str, int] = {"1s": 1_000_000_000, "1m": 60_000_000_000, "5m": 300_000_000_000}


def build_candles(prints: pl.LazyFrame, intervals: dict[str, int] = INTERVALS) -> pl.LazyFrame:
    """Return candles of ``equity_prints`` for each interval.

    Returns
    -------
    pl.LazyFrame
        date, symbol, interval, ts (bar start, ns), open, high, low, close, volume,
        lit_volume, off_exchange_volume, n_prints, vwap; ordered by interval, symbol, ts.
    """
    counted = prints.filter(pl.col("counts_volume"))
    ohlc_price = pl.col("price").filter(pl.col("sets_ohlc"))
    frames = []
    for name, width in intervals.items():
        frames.append(
            counted.with_columns((pl.col("ts_event") // width * width).alias("ts"))
            .sort("symbol", "ts_event", "seq")
            .group_by("date", "symbol", "ts", maintain_order=True)
            .agg(
                ohlc_price.first().alias("open"),
                ohlc_price.max().alias("high"),
                ohlc_price.min().alias("low"),
                ohlc_price.last().alias("close"),
                pl.col("size").sum().alias("volume"),
                pl.col("size").filter(~pl.col("off_exchange")).sum().alias("lit_volume"),
                pl.col("size").filter(pl.col("off_exchange")).sum().alias("off_exchange_volume"),
                pl.len().cast(pl.Int64).alias("n_prints"),
                ((pl.col("price") * pl.col("size")).sum() / pl.col("size").sum()).alias("vwap"),
            )
            .with_columns(pl.lit(name).alias("interval"))
        )
    columns = ["date", "symbol", "interval", "ts", "open", "high", "low", "close", "volume",
               "lit_volume", "off_exchange_volume", "n_prints", "vwap"]  # fmt: skip
    return pl.concat(frames).select(columns)


@dg.asset(
    group_name="equities",
    partitions_def=trading_days,
    check_specs=specs("equity_candles", ["symbol_interval_ts_unique", "ohlc_consistent"]),
    deps=["equity_prints"],
    description="Equity OHLCV candles (1s/1m/5m) with lit and off-exchange volume and VWAP.",
)
def equity_candles(context: AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Build one day's candles and overwrite that partition (a live run: the bars from
    the start of the widest bar its tail falls in)."""
    lake = lake.scoped_to(context)
    day = partition_date(context.partition_key)
    plan = plan_for(context, lake.has("equity_candles"), ("equity",))
    prints = lake.require_day("equity_prints", day)
    since: int | None = None
    if plan.since_ns is not None:
        widest = max(INTERVALS.values())
        since = plan.since_ns // widest * widest
        prints = prints.filter(pl.col("ts_event") >= since)
    bars = build_candles(prints).collect()
    checks = [
        unique(bars, "symbol", "interval", "ts"),
        holds(
            "ohlc_consistent",
            bars,
            (pl.col("low") > pl.min_horizontal("open", "close"))
            | (pl.col("high") < pl.max_horizontal("open", "close")),
        ),
    ]
    return lake.overwrite("equity_candles", bars, day, checks, clock="ts", since_ns=since)
