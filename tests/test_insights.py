"""Market tide, signal accuracy and alert outcomes: hand-computed frames, then a built day."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from adapters.calendar import ny_ns
from assets.alert_outcomes import INTRADAY, score_outcomes
from assets.market_tide import build_tide
from assets.packet_positioning import position_packets
from assets.signal_accuracy import score_signals
from assets.thresholds import PositioningRules
from lake import Lake
from lake.outcomes import HORIZONS, outcome_stats
from lake.read import read
from lake.tables import MARKET

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


DAY_NS = 24 * 3600 * 10**9


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


def test_tide_counts_a_structure_once_with_its_own_direction() -> None:
    """A call bought ($1,000) and a put sold ($500) at 10:00:01 are a bullish risk
    reversal: $1,000 bullish (its largest leg), once, not $1,500. A long straddle's legs
    ($700 call, $600 put, both bought) add nothing to either side. A lone call bought
    ($300) at 10:00:01.6, after the call leg's packet ended, is a single-leg print."""
    call, put = "SPY   261127C00610000", "SPY   261127P00590000"
    s_call, s_put = "SPY   261127C00600000", "SPY   261127P00600000"
    rows = [
        # (ms, contract, right, side, premium)
        (1000, call, "C", "buy", 1000.0), (1100, put, "P", "sell", 500.0),
        (2000, s_call, "C", "buy", 700.0), (2000, s_put, "P", "buy", 600.0),
        (1600, call, "C", "buy", 300.0),
    ]  # fmt: skip
    prints = pl.LazyFrame(
        [
            {"date": DAY, "ts_event": T0 + ms * 10**6, "underlying": "SPY", "contract": k,
             "right": r, "side": side, "premium": p, "in_flow": True, "complex": False}
            for ms, k, r, side, p in rows
        ]
    )  # fmt: skip
    structures = pl.LazyFrame(
        {
            "structure_id": ["S-rr", "S-rr", "S-st", "S-st"],
            "underlying": ["SPY"] * 4,
            "structure_ts": [T0 + 10**9] * 2 + [T0 + 2 * 10**9] * 2,
            "direction": ["bullish", "bullish", "none", "none"],
            "packet_id": ["c", "p", "sc", "sp"],
            "contract": [call, put, s_call, s_put],
            "start_ts": [T0 + 10**9, T0 + 1100 * 10**6, T0 + 2 * 10**9, T0 + 2 * 10**9],
            "end_ts": [T0 + 1500 * 10**6, T0 + 1100 * 10**6, T0 + 2 * 10**9, T0 + 2 * 10**9],
            "premium": [1000.0, 500.0, 700.0, 600.0],
        }
    )
    spy = (
        build_tide(prints, structures)
        .collect()
        .filter(pl.col("underlying") == "SPY")
        .row(0, named=True)
    )
    assert (spy["bullish_premium"], spy["bearish_premium"]) == (1000.0 + 300.0, 0.0)
    assert (spy["call_premium"], spy["put_premium"], spy["n_prints"]) == (2000.0, 1100.0, 5)


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


def test_accuracy_against_expected_hits_and_near_misses_by_hand() -> None:
    """L1 is a $120k sweep in a quiet contract: it expects {sweep, spike}. L2 is a $13k
    sweep-shaped order: it expects nothing, and is a near-miss of the sweep's premium
    floor. L3 is a straddle: it expects nothing. Hits: h1 sweep and h2 spike on L1 (true),
    h3 sweep on L2 (false: a near-miss that fired), h4 spike on the background (false)."""
    evidence = pl.LazyFrame(
        {
            "signal": ["sweep", "spike", "sweep", "spike"],
            "hit_id": ["h1", "h2", "h3", "h4"],
            "event_id": ["e1", "e2", "e5", "bg"],
        }
    )
    labels = pl.LazyFrame(
        {
            "date": [DAY] * 3,
            "label_id": ["L1", "L2", "L3"],
            "kind": ["sweep", "near_miss_sweep_premium", "long_straddle"],
            "event_ids": [["e1", "e2", "e3"], ["e5", "e6"], ["e8", "e9"]],
            "expected": [["spike", "sweep"], [], []],
            "near_miss": ["", "sweep:min_premium", ""],
        }
    )
    scores = {r["signal"]: r for r in score_signals(evidence, labels, "v1").iter_rows(named=True)}
    sweep, spike = scores["sweep"], scores["spike"]
    assert (sweep["hits"], sweep["true_hits"], sweep["labels"], sweep["labels_found"]) == (
        2,
        1,
        1,
        1,
    )
    assert (sweep["precision"], sweep["recall"]) == (0.5, 1.0)
    assert (sweep["near_misses"], sweep["near_misses_fired"]) == (1, 1)
    assert (spike["precision"], spike["recall"], spike["near_misses"]) == (0.5, 1.0, 0)
    assert scores["burst"]["precision"] is None and scores["burst"]["recall"] is None


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
    assert set(scores) == {"sweep", "spike", "zero_dte", "burst", "repeat_hitter", "roll",
                           "absorbed_block", "stealth_accumulation", "distribution"}  # fmt: skip
    # The labels state what the default thresholds must find: every signal finds all of
    # them and nothing else, and no near-miss fires.
    for kind in ("sweep", "spike", "burst", "repeat_hitter", "absorbed_block",
                 "stealth_accumulation", "distribution"):  # fmt: skip
        assert scores[kind]["labels"] > 0, kind
    for kind, row in scores.items():
        assert row["precision"] in (None, 1.0) and row["recall"] in (None, 1.0), (kind, row)
        assert row["near_misses_fired"] == 0, (kind, row)


def test_planted_drift_shows_in_the_built_days_outcomes(built_lake) -> None:  # noqa: ANN001
    # The synthetic market moves the underlying 0.5% over 5 minutes in the direction of each
    # planted pattern: the alerts' signed 5-minute moves show it.
    outcomes = read(Lake(str(built_lake)), "alert_outcomes")
    moves = outcomes["signed_5m"].drop_nulls()
    assert moves.len() >= 5
    assert moves.mean() > 0.002 and (moves > 0).mean() >= 0.8


def test_alert_outcomes_by_hand() -> None:
    # SPY 1-minute bars from 10:00 to 10:40 closing at 100 + minute (10:40's bar ends 10:41).
    candles = pl.LazyFrame(
        {
            "symbol": ["SPY"] * 41, "interval": ["1m"] * 41,
            "ts": [T0 + m * 60 * 10**9 for m in range(41)],
            "close": [100.0 + m for m in range(41)],
        }
    )  # fmt: skip
    at = T0 + 5 * 60 * 10**9 + 30 * 10**9  # 10:05:30
    late = T0 + 39 * 60 * 10**9  # 10:39:00: 5 minutes later is past the last bar
    alerts = pl.LazyFrame(
        {
            "alert_id": ["up", "down", "flat", "late"], "date": [DAY] * 4, "ts": [at, at, at, late],
            "underlying": ["SPY"] * 4, "classifiers": [["sweep"], ["sweep"], ["roll"], ["spike"]],
            "severity": ["high", "high", "low", "medium"],
            "direction": ["bullish", "bearish", "structure", "bullish"], "config_version": ["v1"] * 4,
        }
    )  # fmt: skip
    # The next session: SPY's last 1-minute bar closes at 150 (an earlier one at 90).
    tomorrow = pl.LazyFrame(
        {"symbol": ["SPY", "SPY"], "interval": ["1m"] * 2, "ts": [T0 + DAY_NS, T0 + DAY_NS + 60 * 10**9],
         "close": [90.0, 150.0]}
    )  # fmt: skip
    out = {
        r["alert_id"]: r for r in score_outcomes(alerts, candles, tomorrow).iter_rows(named=True)
    }
    unknown = score_outcomes(alerts, candles)
    assert unknown["ret_next"].null_count() == unknown.height == 4
    up = out["up"]
    assert up["ret_next"] == pytest.approx(150 / 104 - 1)
    assert out["down"]["signed_next"] == pytest.approx(-(150 / 104 - 1))
    # Entry: the 10:04 bar (ended 10:05, before the alert), not the 10:05 bar still open.
    assert up["entry_price"] == 104.0
    assert up["ret_5m"] == pytest.approx(109 / 104 - 1)  # the bar ended by 10:10:30
    assert up["ret_30m"] == pytest.approx(134 / 104 - 1)
    assert up["ret_close"] == pytest.approx(140 / 104 - 1)
    assert up["signed_30m"] == pytest.approx(up["ret_30m"])
    assert out["down"]["signed_30m"] == pytest.approx(-up["ret_30m"])
    assert out["flat"]["ret_5m"] == pytest.approx(up["ret_5m"]) and out["flat"]["signed_5m"] is None
    assert out["late"]["ret_5m"] is None and out["late"]["ret_30m"] is None
    assert out["late"]["entry_price"] == 138.0 and out["late"]["ret_close"] == pytest.approx(
        140 / 138 - 1
    )


def test_outcome_stats_by_hand() -> None:
    moves = [0.01, -0.02, 0.03]
    outcomes = pl.DataFrame(
        {
            "classifiers": [["sweep"]] * 3, "severity": ["high"] * 3,
            "signed_5m": moves, "signed_30m": [None, None, None], "signed_close": [None, None, None],
            "signed_next": [None, None, None],
        },
        schema_overrides={"signed_30m": pl.Float64, "signed_close": pl.Float64, "signed_next": pl.Float64},
    )  # fmt: skip
    (row,) = outcome_stats(outcomes).iter_rows(named=True)
    assert (row["classifier"], row["severity"], row["horizon"], row["n"]) == (
        "sweep",
        "high",
        "5m",
        3,
    )
    assert row["hit_rate"] == pytest.approx(2 / 3)
    assert row["median_move"] == pytest.approx(0.01)
    mean, sd = float(np.mean(moves)), float(np.std(moves, ddof=1))
    assert row["mean_move"] == pytest.approx(mean)
    assert row["mean_ci_low"] == pytest.approx(mean - 1.96 * sd / np.sqrt(3))
    # Wilson's interval for 2 of 3.
    z, p, n = 1.96, 2 / 3, 3
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert (row["hit_ci_low"], row["hit_ci_high"]) == (
        pytest.approx(centre - half),
        pytest.approx(centre + half),
    )


def test_opening_tags_and_golden_sweeps_by_hand() -> None:
    c, u = "SPY   261124C00600000", "SPY   261124P00590000"
    at = [T0 + s * 10**9 for s in range(6)]
    prints = pl.LazyFrame(
        {
            "contract": [c, c, c, c, u], "ts_event": [at[1], at[2], at[3], at[3], at[4]],
            "seq": [1, 2, 3, 4, 5], "size": [30, 50, 25, 15, 10], "in_flow": [True, True, True, True, True],
        }
    )  # fmt: skip
    packets = pl.LazyFrame(
        {
            "packet_id": ["first", "third", "unknown_oi"], "date": [DAY] * 3,
            "start_ts": [at[0], at[3], at[4]], "underlying": ["SPY"] * 3, "contract": [c, c, u],
            "kind": ["sweep", "sweep", "sweep"], "size": [50, 40, 10], "premium": [1.5e6, 1.2e6, 2e6],
        }
    )  # fmt: skip
    oi = pl.LazyFrame({"contract": [c], "open_interest": [100]})
    # c trades 60 contracts on an average day; u has too short a history for an average.
    history = pl.LazyFrame({"contract": [c, u], "avg_volume": [60.0, None]})
    out = {
        r["packet_id"]: r
        for r in position_packets(
            packets, prints, oi, history, PositioningRules(golden_min_premium=1e6)
        )
        .collect()
        .iter_rows(named=True)
    }
    # Before any print 100 contracts are open: a 50-lot may close them all, so not opening.
    assert (out["first"]["prior_volume"], out["first"]["likely_opening"]) == (0, False)
    # At the third print time: 30 + 50 traded before, so at most 20 of the 40 can close.
    third = out["third"]
    assert (third["prior_volume"], third["likely_opening"], third["golden_sweep"]) == (
        80,
        True,
        True,
    )
    assert third["volume_to_oi"] == pytest.approx(1.2)
    # 80 traded before plus its own 40: twice the contract's average day.
    assert third["relative_volume"] == pytest.approx(120 / 60)
    assert out["unknown_oi"]["relative_volume"] is None
    # Unknown open interest never tags a packet.
    assert (
        out["unknown_oi"]["likely_opening"] is False and out["unknown_oi"]["volume_to_oi"] is None
    )
    low = position_packets(
        packets, prints, oi, history, PositioningRules(golden_min_premium=1.3e6)
    ).collect()
    assert not low.filter(pl.col("packet_id") == "third")["golden_sweep"].item()


def test_carried_volume_gives_a_tail_the_whole_days_prior_volume() -> None:
    """A live tail sees the prints before it as one volume per contract: the packets from
    the tail on get exactly the positioning of a whole-day run."""
    from assets.packet_positioning import carried_volume

    c, u = "SPY   261124C00600000", "SPY   261124P00590000"
    at = [T0 + s * 10**9 for s in range(8)]
    prints = pl.LazyFrame(
        {
            "contract": [c, c, u, c, c, u, c], "ts_event": [at[0], at[1], at[1], at[3], at[3], at[5], at[6]],
            "seq": [1, 2, 3, 4, 5, 6, 7], "size": [30, 50, 5, 25, 15, 10, 40],
            "in_flow": [True, False, True, True, True, True, True],  # a cancelled print counts for nothing
        }
    )  # fmt: skip
    packets = pl.LazyFrame(
        {
            "packet_id": ["p1", "p3", "p5", "p6"], "date": [DAY] * 4,
            "start_ts": [at[0], at[3], at[5], at[6]], "underlying": ["SPY"] * 4, "contract": [c, c, u, c],
            "kind": ["sweep"] * 4, "size": [30, 40, 10, 40], "premium": [1e6] * 4,
        }
    )  # fmt: skip
    oi = pl.LazyFrame({"contract": [c, u], "open_interest": [100, 12]})
    history = pl.LazyFrame({"contract": [c], "avg_volume": [50.0]})
    params = PositioningRules(golden_min_premium=1e6)
    whole = position_packets(packets, prints, oi, history, params).collect()
    since = at[3]
    tail = position_packets(
        packets.filter(pl.col("start_ts") >= since),
        carried_volume(prints, since),
        oi,
        history,
        params,
    ).collect()
    assert_frame_equal(tail, whole.filter(pl.col("start_ts") >= since))
    # By hand: at 3 s, c has 30 (the cancelled 50 excluded) before it; at 6 s, 30 + 25 + 15.
    assert tail["prior_volume"].to_list() == [30, 5, 70]


def test_the_outcome_horizons_are_the_read_sides() -> None:
    assert [*INTRADAY, "next"] == HORIZONS
