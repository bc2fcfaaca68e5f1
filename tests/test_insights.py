"""Market tide and signal accuracy: hand-computed frames, then a built synthetic day."""

from __future__ import annotations

import datetime as dt

import polars as pl
from polars.testing import assert_frame_equal

from adapters.calendar import ny_ns
from assets.market_tide import MARKET, build_tide
from assets.signal_accuracy import score_signals
from lake import Lake
from lake.read import read

DAY = dt.date(2026, 11, 24)
T0 = ny_ns(DAY, dt.time(10))


def prints(rows: list[tuple]) -> pl.LazyFrame:
    """(second, underlying, right, side, premium, in_flow, complex) rows."""
    return pl.LazyFrame(
        [
            {"date": DAY, "ts_event": T0 + s * 10**9, "underlying": u, "right": r, "side": side,
             "premium": p, "in_flow": f, "complex": c}
            for s, u, r, side, p, f, c in rows
        ]
    )  # fmt: skip


def test_tide_by_hand() -> None:
    tide = build_tide(
        prints(
            [
                (1, "SPY", "C", "buy", 1000.0, True, False),  # bullish
                (2, "SPY", "P", "sell", 500.0, True, False),  # bullish
                (3, "SPY", "P", "buy", 300.0, True, False),  # bearish
                (4, "SPY", "C", "none", 800.0, True, False),  # mid: no direction, in put/call
                (5, "SPY", "C", "buy", 9999.0, True, True),  # complex: out
                (6, "SPY", "C", "buy", 7777.0, False, False),  # cancelled: out
                (61, "AAPL", "C", "sell", 200.0, True, False),  # next minute, bearish
            ]
        )
    ).collect()
    spy = tide.filter(pl.col("underlying") == "SPY").row(0, named=True)
    assert (spy["bullish_premium"], spy["bearish_premium"], spy["net_premium"]) == (
        1500.0,
        300.0,
        1200.0,
    )
    assert (spy["call_premium"], spy["put_premium"], spy["n_prints"]) == (1800.0, 800.0, 4)
    market = tide.filter(pl.col("underlying") == MARKET).sort("ts")
    assert market["net_premium"].to_list() == [1200.0, -200.0]
    assert market["ts"].to_list() == [T0, T0 + 60 * 10**9]


def test_accuracy_by_hand() -> None:
    evidence = pl.LazyFrame(
        {
            "signal": ["sweep", "sweep", "sweep", "spike", "absorbed_block"],
            "hit_id": ["h1", "h1", "h2", "h3", "d1"],
            "event_id": ["e1", "e2", "e9", "e5", "x1"],
        }
    )
    labels = pl.LazyFrame(
        {
            "date": [DAY] * 4,
            "label_id": ["L1", "L2", "L3", "L4"],
            "kind": ["sweep", "sweep", "spike", "absorbed_block"],
            "event_ids": [["e1", "e3"], ["e7"], ["e6"], ["x1"]],
        }
    )
    scores = score_signals(evidence, labels, "v1")
    sweep = scores.filter(pl.col("signal") == "sweep").row(0, named=True)
    # h1 shares e1 with L1 (true), h2 matches nothing; L1 found, L2 missed.
    assert (sweep["hits"], sweep["true_hits"], sweep["labels"], sweep["labels_found"]) == (
        2,
        1,
        2,
        1,
    )
    assert (sweep["precision"], sweep["recall"]) == (0.5, 0.5)
    spike = scores.filter(pl.col("signal") == "spike").row(0, named=True)
    assert (spike["precision"], spike["recall"]) == (0.0, 0.0)
    block = scores.filter(pl.col("signal") == "absorbed_block").row(0, named=True)
    assert (block["precision"], block["recall"]) == (1.0, 1.0)
    roll = scores.filter(pl.col("signal") == "roll").row(0, named=True)
    assert roll["precision"] is None and roll["recall"] is None  # no hits, no labels


def test_built_day_has_tide_and_accuracy(built_lake) -> None:  # noqa: ANN001 - fixture
    lake = Lake(str(built_lake))
    tide = read(lake, "market_tide")
    per = (
        tide.filter(pl.col("underlying") != MARKET)
        .group_by("date", "ts")
        .agg(pl.col("net_premium").sum())
    )
    market = tide.filter(pl.col("underlying") == MARKET).select("date", "ts", "net_premium")
    assert_frame_equal(per.sort("ts"), market.sort("ts"), check_column_order=False)
    scores = {r["signal"]: r for r in read(lake, "signal_accuracy").iter_rows(named=True)}
    assert set(scores) == {"sweep", "spike", "zero_dte", "roll", "absorbed_block",
                           "stealth_accumulation", "distribution"}  # fmt: skip
    # On this day every planted stealth / distribution pattern is inferred and nothing
    # else is, and every sweep hit is a planted sweep (recall of sweeps is lower: the
    # accuracy table is there to show such gaps, see the Calibration page).
    for kind in ("stealth_accumulation", "distribution"):
        assert scores[kind]["labels"] > 0
        assert (scores[kind]["precision"], scores[kind]["recall"]) == (1.0, 1.0)
    assert scores["sweep"]["hits"] > 0 and scores["sweep"]["precision"] == 1.0
