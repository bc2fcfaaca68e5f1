"""Equity enrichment and candles: off-exchange flag, condition policy, bar boundaries."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from adapters.calendar import ny_ns
from adapters.schema import landed_schema
from assets.equity_candles import INTERVALS, build_candles
from assets.equity_prints import enrich_equity_prints
from assets.thresholds import load_thresholds

TH = load_thresholds()
PARAMS = TH
S = 1_000_000_000


def frames(
    day: dt.date, trades: list[tuple], quotes: list[tuple]
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """trades: (ns, price, size, exchange, conditions); quotes: (ns, bid, ask)."""
    t = pl.DataFrame(
        [
            {"event_id": f"t{i}", "source": "test", "ts_event": ts, "ts_recv": ts, "symbol": "AAPL", "price": p,
             "size": s, "exchange": ex, "conditions": cond, "seq": i, "ref_event_id": None, "date": day}
            for i, (ts, p, s, ex, cond) in enumerate(trades)
        ],
        schema=landed_schema("equity_trades"),
    )  # fmt: skip
    q = pl.DataFrame(
        [
            {"event_id": f"q{i}", "source": "test", "ts_event": ts, "ts_recv": ts, "symbol": "AAPL", "bid": b,
             "ask": a, "bid_size": 100, "ask_size": 100, "seq": i, "date": day}
            for i, (ts, b, a) in enumerate(quotes)
        ],
        schema=landed_schema("equity_quotes"),
    )  # fmt: skip
    return t.lazy(), q.lazy()


def test_off_exchange_and_placement() -> None:
    day = dt.date(2026, 11, 24)
    t0 = ny_ns(day, dt.time(10))
    trades, quotes = frames(
        day,
        [(t0 + 5, 100.05, 300, "D", ["@"]), (t0 + 6, 100.10, 100, "Q", ["@"])],
        [(t0, 100.00, 100.10)],
    )
    out = enrich_equity_prints(trades, quotes, PARAMS).collect()
    assert out["off_exchange"].to_list() == [True, False]
    assert out["placement"].to_list() == ["MID", "A"]
    assert out["notional"][0] == pytest.approx(30015.0)


def test_candle_open_close_boundaries_and_policy() -> None:
    day = dt.date(2026, 11, 24)
    open_ns = ny_ns(day, dt.time(9, 30))
    trades, quotes = frames(
        day,
        [
            (open_ns - 1, 99.0, 100, "Q", ["T"]),  # 09:29:59.999999999 Form T: volume only, own bar
            (open_ns, 100.0, 100, "Q", ["@"]),  # first regular print at the open
            (open_ns + 30 * S, 101.0, 50, "D", ["I"]),  # odd lot off-exchange: volume, no OHLC
            (open_ns + 59 * S, 100.5, 200, "D", ["@"]),
            (open_ns + 60 * S, 102.0, 100, "Q", ["W"]),  # average price: volume only, next bar
        ],
        [(open_ns - S, 99.9, 100.1)],
    )
    prints = enrich_equity_prints(trades, quotes, PARAMS)
    bars = build_candles(prints).filter(pl.col("interval") == "1m").collect()
    first = bars.filter(pl.col("ts") == open_ns).row(0, named=True)
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        100.0,
        100.5,
        100.0,
        100.5,
    )
    assert (first["volume"], first["off_exchange_volume"], first["lit_volume"]) == (350, 250, 100)
    assert first["vwap"] == pytest.approx((100 * 100 + 101 * 50 + 100.5 * 200) / 350)
    pre = bars.filter(pl.col("ts") == open_ns - 60 * S).row(0, named=True)
    assert pre["open"] is None and pre["volume"] == 100
    after = bars.filter(pl.col("ts") == open_ns + 60 * S).row(0, named=True)
    assert after["open"] is None and after["volume"] == 100


def test_bars_align_to_new_york_minutes_on_dst_day() -> None:
    day = dt.date(2026, 3, 9)  # first session after the change to EDT
    ts = ny_ns(day, dt.time(9, 30, 30))
    trades, quotes = frames(day, [(ts, 50.0, 100, "Q", ["@"])], [(ts - S, 49.9, 50.1)])
    bars = build_candles(enrich_equity_prints(trades, quotes, PARAMS)).collect()
    five = bars.filter(pl.col("interval") == "5m")["ts"].item()
    assert five == ny_ns(day, dt.time(9, 30))
    assert bars.filter(pl.col("interval") == "1s")["ts"].item() == ts


def test_cancelled_equity_print_counts_for_nothing() -> None:
    day = dt.date(2026, 11, 24)
    t0 = ny_ns(day, dt.time(10))
    trades, quotes = frames(
        day,
        [
            (t0, 100.0, 100, "Q", ["@"]),
            (t0 + S, 150.0, 5000, "D", ["@"]),
            (t0 + 2 * S, 150.0, 5000, "D", ["x"]),
        ],
        [(t0 - S, 99.9, 100.1)],
    )
    prints = enrich_equity_prints(trades, quotes, PARAMS).collect()
    assert prints["cancelled"].to_list() == [False, True, False]
    bar = (
        build_candles(prints.lazy()).filter(pl.col("interval") == "1m").collect().row(0, named=True)
    )
    assert (bar["volume"], bar["high"], bar["off_exchange_volume"]) == (100, 100.0, 0)


def candles_by_symbol_sort(prints: pl.DataFrame) -> pl.DataFrame:
    """The candles the plain way: sort the counted prints by (symbol, ts_event, seq) and
    group each interval's (symbol, bar) by hash, in that order."""
    counted = prints.filter(pl.col("counts_volume")).sort("symbol", "ts_event", "seq")
    price = pl.col("price").filter(pl.col("sets_ohlc"))
    bars = [
        counted.with_columns((pl.col("ts_event") // width * width).alias("ts"))
        .group_by("date", "symbol", "ts", maintain_order=True)
        .agg(
            price.first().alias("open"), price.max().alias("high"), price.min().alias("low"),
            price.last().alias("close"), pl.col("size").sum().alias("volume"),
            pl.col("size").filter(~pl.col("off_exchange")).sum().alias("lit_volume"),
            pl.col("size").filter(pl.col("off_exchange")).sum().alias("off_exchange_volume"),
            pl.len().cast(pl.Int64).alias("n_prints"),
            ((pl.col("price") * pl.col("size")).sum() / pl.col("size").sum()).alias("vwap"),
        )
        .with_columns(pl.lit(name).alias("interval"))
        for name, width in INTERVALS.items()
    ]  # fmt: skip
    return pl.concat(bars).select(build_candles(prints.lazy()).collect_schema().names())


candle_print = st.tuples(
    st.sampled_from(["AAPL", "MSFT", "A", "ZZZZ"]),
    # A few seconds around a minute boundary, often the same ns: ties fall to seq.
    st.integers(-3, 3).map(lambda s: 60 * S + s * S // 2),
    st.floats(99.0, 101.0, allow_nan=False).map(lambda p: round(p, 2)),
    st.integers(1, 1_000),
    st.booleans(),  # sets_ohlc
    st.booleans(),  # off_exchange
    st.booleans(),  # counts_volume
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(candle_print, max_size=80), st.randoms(use_true_random=False))
def test_candles_equal_the_plain_symbol_sort(rows: list[tuple], rnd: object) -> None:
    """Bars as runs of one (symbol id, ts, seq) order equal the plain string sort and hash
    group-by, in the same order, whatever order the prints come in: exactly, but for the
    VWAP's last bits (polars sums a run of rows and a hashed group in different ways)."""
    day = dt.date(2026, 11, 24)
    t0 = ny_ns(day, dt.time(10))
    records = [
        {"date": day, "symbol": sym, "ts_event": t0 + ts, "seq": i, "price": price, "size": size,
         "sets_ohlc": ohlc, "off_exchange": dark, "counts_volume": counts}
        for i, (sym, ts, price, size, ohlc, dark, counts) in enumerate(rows)
    ]  # fmt: skip
    rnd.shuffle(records)  # type: ignore[attr-defined]
    schema = {"date": pl.Date, "symbol": pl.String, "ts_event": pl.Int64, "seq": pl.Int64,
              "price": pl.Float64, "size": pl.Int64, "sets_ohlc": pl.Boolean,
              "off_exchange": pl.Boolean, "counts_volume": pl.Boolean}  # fmt: skip
    prints = pl.DataFrame(records, schema=schema)
    lazy = build_candles(prints.lazy())
    bars = lazy.collect()
    assert lazy.collect_schema() == bars.schema
    plain = candles_by_symbol_sort(prints)
    assert_frame_equal(bars.drop("vwap"), plain.drop("vwap"), check_exact=True)
    assert_frame_equal(bars.select("vwap"), plain.select("vwap"), rel_tol=1e-12)
