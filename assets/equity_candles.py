"""``equity_candles``: OHLCV per symbol per interval (1 s, 1 min, 5 min), lit and off-exchange apart.

docs/rules.md rule 11. Bars are aligned to the epoch in UTC, which for these intervals is
also aligned to the New York session on any day, DST or not. A print sets OHLC only when
the condition policy says so (``sets_ohlc``: no odd lots, Form T, average-price,
derivatively priced, contingent or out-of-sequence prints), and counts toward volume when
``counts_volume``. A bar whose prints all count only toward volume has null OHLC.
"""

# No `from __future__ import annotations` here: Dagster inspects the `context` annotation at
# definition time and does not resolve string annotations.

import dagster as dg
import polars as pl

from assets.checks import holds, unique
from assets.factory import DayRun, day_asset
from assets.ordering import by_instrument_time, instrument_ids

INTERVALS: dict[str, int] = {"1s": 1_000_000_000, "1m": 60_000_000_000, "5m": 300_000_000_000}


def build_candles(prints: pl.LazyFrame, intervals: dict[str, int] = INTERVALS) -> pl.LazyFrame:
    """Return candles of ``equity_prints`` for each interval.

    The counted prints' few needed columns are sorted once, by (symbol, ``ts_event``,
    ``seq``) on one int64 key, and every interval's bars are runs of that one order: a bar
    starts where the symbol or the bar's start time changes, so a bar is a contiguous
    slice and its open and close are its first and last OHLC print (sorting by the symbol
    strings for each interval and grouping by hash costs several times more).

    Returns
    -------
    pl.LazyFrame
        date, symbol, interval, ts (bar start, ns), open, high, low, close, volume,
        lit_volume, off_exchange_volume, n_prints, vwap; the intervals in the order of
        ``intervals``, each ordered by symbol, ts.
    """
    counted = (
        prints.filter(pl.col("counts_volume"))
        .select("date", "symbol", "ts_event", "seq", "price", "size", "sets_ohlc", "off_exchange")
        .collect()
    )
    names = counted.get_column("symbol").drop_nulls().unique().sort()
    times = counted.get_column("ts_event")
    lo, hi = (int(times.min()), int(times.max())) if counted.height else (0, 0)  # type: ignore[arg-type]
    ordered = counted.with_columns(instrument_ids("symbol", names).alias("_sid")).sort(
        by_instrument_time("_sid", "ts_event", "seq", len(names), lo, hi)
    )
    # Aggregations of plain columns, not of filtered ones (a filter inside a group-by's
    # aggregation is evaluated group by group): the price of a print that does not set
    # OHLC is null, and nulls are skipped; a volume a print does not count toward is 0.
    ordered = ordered.with_columns(
        pl.when(pl.col("sets_ohlc")).then(pl.col("price")).alias("_ohlc"),
        pl.when(~pl.col("off_exchange")).then(pl.col("size")).otherwise(0).alias("_lit"),
        pl.when(pl.col("off_exchange")).then(pl.col("size")).otherwise(0).alias("_off"),
    )
    new_bar = (pl.col("_sid") != pl.col("_sid").shift()) | (pl.col("ts") != pl.col("ts").shift())
    frames = []
    for name, width in intervals.items():
        frames.append(
            ordered.lazy()
            .with_columns((pl.col("ts_event") // width * width).alias("ts"))
            .with_columns(new_bar.fill_null(True).cum_sum().alias("_bar"))
            # Bar numbers never fall down the rows: flagged sorted, polars groups them as runs
            # (a third of the time of hashing them).
            .with_columns(pl.col("_bar").set_sorted())
            .group_by("_bar", maintain_order=True)
            .agg(
                pl.col("date", "symbol", "ts").first(),
                pl.col("_ohlc").first(ignore_nulls=True).alias("open"),
                pl.col("_ohlc").max().alias("high"),
                pl.col("_ohlc").min().alias("low"),
                pl.col("_ohlc").last(ignore_nulls=True).alias("close"),
                pl.col("size").sum().alias("volume"),
                pl.col("_lit").sum().alias("lit_volume"),
                pl.col("_off").sum().alias("off_exchange_volume"),
                pl.len().cast(pl.Int64).alias("n_prints"),
                ((pl.col("price") * pl.col("size")).sum() / pl.col("size").sum()).alias("vwap"),
            )
            .with_columns(pl.lit(name).alias("interval"))
        )
    columns = ["date", "symbol", "interval", "ts", "open", "high", "low", "close", "volume",
               "lit_volume", "off_exchange_volume", "n_prints", "vwap"]  # fmt: skip
    return pl.concat(frames).select(columns)


@day_asset(
    "equity_candles",
    group="equities",
    deps=["equity_prints"],
    checks=["symbol_interval_ts_unique", "ohlc_consistent"],
    description="Equity OHLCV candles (1s/1m/5m) with lit and off-exchange volume and VWAP.",
)
def equity_candles(run: DayRun) -> dg.MaterializeResult:
    """Build one day's candles and overwrite that partition (a live run: the bars from
    the start of the widest bar its tail falls in)."""
    lake, day = run.lake, run.day
    plan = run.plan(("equity",))
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
    return run.overwrite(bars, checks, clock="ts", since_ns=since)
