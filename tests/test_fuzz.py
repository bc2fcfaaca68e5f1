"""Hypothesis fuzz of the derived transforms: any schema-valid day computes, invariants hold."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets.classifier_hits import build_hits
from assets.contract_baselines import STATE_SCHEMA
from assets.dark_inferences import infer_dark
from assets.equity_candles import build_candles
from assets.equity_prints import enrich_equity_prints
from assets.flow_packets import build_packets
from assets.option_prints import enrich_option_prints
from assets.structures import find_structures
from assets.thresholds import load_thresholds
from tests.conftest import DAY, MS, option_quotes, option_trades
from tests.test_equity import frames

TH = load_thresholds()
ENRICH = TH
CONTRACTS = [
    "SPY   261124C00600000",
    "SPY   261124P00600000",
    "SPY   261127C00605000",
    "QQQ   261124C00500000",
]
CONDITIONS = st.lists(
    st.sampled_from(["", "I", "S", "a", "f", "j", "D", "e", "?", "219"]), max_size=2
)

trade = st.fixed_dictionaries(
    {
        "ts": st.integers(0, 5_000).map(lambda ms: ms * MS),
        "price": st.floats(0.01, 20, allow_nan=False).map(lambda p: round(p, 2)),
        "size": st.integers(1, 2_000),
        "exchange": st.sampled_from(list("ABCIXZ")),
        "contract": st.sampled_from(CONTRACTS),
        "conditions": CONDITIONS.map(lambda cs: [c for c in cs if c]),
    }
)
quote = st.fixed_dictionaries(
    {
        "ts": st.integers(0, 5_000).map(lambda ms: ms * MS),
        "bid": st.floats(0, 10, allow_nan=False).map(lambda p: round(p, 2)),
        "spread": st.floats(0, 2, allow_nan=False).map(lambda p: round(p, 2)),
        "contract": st.sampled_from(CONTRACTS),
    }
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(trade, min_size=1, max_size=40), st.lists(quote, max_size=40))
def test_option_path_on_any_valid_day(trades: list[dict], quotes: list[dict]) -> None:
    rows = [{**t, "event_id": f"e{i}", "seq": i} for i, t in enumerate(trades)]
    qrows = [
        {
            "ts": q["ts"],
            "bid": q["bid"],
            "ask": round(q["bid"] + q["spread"], 2),
            "contract": q["contract"],
            "seq": i,
        }
        for i, q in enumerate(quotes)
    ]
    prints = enrich_option_prints(
        option_trades(rows).lazy(), option_quotes(qrows).lazy(), ENRICH
    ).collect()
    assert prints.height == len(rows)
    assert set(prints["placement"]) <= {"AA", "A", "MID", "B", "BB", "NONE"}
    assert (
        prints.filter(pl.col("nbbo_ts").is_not_null())["nbbo_ts"]
        <= prints.filter(pl.col("nbbo_ts").is_not_null())["ts_event"]
    ).all()
    packets = build_packets(prints.lazy(), TH.packets).collect()
    assert packets["n_prints"].sum() == prints["in_flow"].sum()
    for col in ("nbbo_coverage", "buy_ratio"):
        assert packets[col].drop_nulls().is_between(0, 1).all()
    oi = pl.LazyFrame(schema={"contract": pl.String, "open_interest": pl.Int64})
    structures = find_structures(packets.lazy(), oi, TH.structures).collect()
    assert (
        structures["packet_ids"].explode().is_in(packets["packet_id"].implode()).all()
        if structures.height
        else True
    )
    equity_quotes = pl.LazyFrame(
        {
            "symbol": ["SPY"],
            "ts_event": [prints["ts_event"].min()],
            "seq": [0],
            "bid": [599.9],
            "ask": [600.1],
        }
    )
    hits = build_hits(
        packets.lazy(),
        structures.lazy(),
        pl.LazyFrame(schema=STATE_SCHEMA),
        equity_quotes,
        TH,
        "fuzz",
    )
    assert hits["confidence"].is_between(0, 1).all()
    assert hits["hit_id"].is_unique().all()


equity_trade = st.tuples(
    st.integers(0, 600).map(lambda s: s * 10**9),
    st.floats(99.5, 100.5, allow_nan=False).map(lambda p: round(p, 2)),
    st.integers(1, 5_000),
    st.sampled_from(["D", "Q", "N", "D"]),
    st.sampled_from([["@"], ["I"], ["W"], ["4"], ["T"], ["@", "F"], ["x"]]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(equity_trade, min_size=1, max_size=60))
def test_equity_path_on_any_valid_day(trades: list[tuple]) -> None:
    from adapters.calendar import ny_ns

    day = dt.date(2026, 11, 24)
    t0 = ny_ns(day, dt.time(11))
    shifted = [(t0 + ts, p, s, v, c) for ts, p, s, v, c in trades]
    lazy_trades, lazy_quotes = frames(
        day, shifted, [(t0 + k * 10**9 - 1, 99.95, 100.05) for k in range(-1, 602)]
    )
    prints = enrich_equity_prints(lazy_trades, lazy_quotes, ENRICH).collect()
    assert prints.height == len(trades)
    bars = build_candles(prints.lazy()).collect()
    counted = prints.filter(pl.col("counts_volume"))["size"].sum()
    for interval in ("1s", "1m", "5m"):
        assert bars.filter(pl.col("interval") == interval)["volume"].sum() == counted
    inferences = infer_dark(prints.lazy(), TH.darkpool)
    assert inferences["confidence"].is_between(0, 1).all()
    assert (
        inferences["event_ids"].explode().is_in(prints["event_id"].implode()).all()
        if inferences.height
        else True
    )
    assert day == DAY
