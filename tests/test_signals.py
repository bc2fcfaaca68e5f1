"""Rules 7-9: baselines (z against priors only), classifiers, alerts, replayability."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from adapters.calendar import ny_ns
from assets.alerts import score_alerts
from assets.classifier_hits import HIT_SCHEMA, build_hits
from assets.contract_baselines import (
    STATE_SCHEMA,
    end_of_day_state,
    roll_state,
    score_packets,
)
from assets.flow_packets import PACKET_COLUMNS
from assets.structures import STRUCTURE_COLUMNS
from assets.thresholds import load_thresholds

TH = load_thresholds()
THD = TH
BASE = TH.baselines
DAY = dt.date(2026, 11, 24)
NEXT = dt.date(2026, 11, 25)
CALL = "SPY   261124C00600000"
EMPTY_STATE = pl.LazyFrame(schema=STATE_SCHEMA)


def packet(i: int, **over: object) -> dict:
    """A single-leg packet with hand-set figures; ``ts`` is minutes after 10:00 on ``day``."""
    day = over.pop("day", DAY)
    row = {c: None for c in PACKET_COLUMNS}
    contract = over.pop("contract", CALL)
    row.update(
        packet_id=f"p{i}", date=day, contract=contract, underlying=contract[:6].strip(),
        expiry=dt.datetime.strptime(contract[6:12], "%y%m%d").date(), strike=int(contract[13:]) / 1000,
        right=contract[12], multiplier=100, start_ts=ny_ns(day, dt.time(10)) + int(over.pop("minute", i)) * 60 * 10**9,
        kind="single", complex=False, side="buy", n_prints=1, n_exchanges=1, size=10, max_print_size=10,
        premium=1000.0, vwap=1.0, n_aa=0, n_a=1, n_mid=0, n_b=0, n_bb=0, n_none=0, nbbo_coverage=1.0,
        buy_ratio=1.0, iso_count=0, has_late=False, has_auction_or_cross=False, has_floor=False,
        max_burst=1, spread=0.1, nbbo_bid=0.95, nbbo_ask=1.05, event_ids=[f"e{i}"],
    )  # fmt: skip
    row["end_ts"] = row["start_ts"]
    row.update(over)
    return row


def frame(rows: list[dict]) -> pl.LazyFrame:
    schema = {"event_ids": pl.List(pl.String), "date": pl.Date, "expiry": pl.Date, "premium": pl.Float64,
              "vwap": pl.Float64, "spread": pl.Float64, "nbbo_bid": pl.Float64, "nbbo_ask": pl.Float64,
              "buy_ratio": pl.Float64, "nbbo_coverage": pl.Float64, "strike": pl.Float64}  # fmt: skip
    return pl.DataFrame(rows, schema_overrides=schema, infer_schema_length=None).lazy()


NO_STRUCTURES = pl.LazyFrame(
    schema={
        "structure_id": pl.String, "date": pl.Date, "underlying": pl.String, "kind": pl.String, "direction": pl.String,
        "start_ts": pl.Int64, "end_ts": pl.Int64, "n_legs": pl.Int64, "packet_ids": pl.List(pl.String),
        "contracts": pl.List(pl.String), "sides": pl.List(pl.String), "net_premium": pl.Float64, "gross_premium": pl.Float64, "expiries": pl.List(pl.Date), "strikes": pl.List(pl.Float64),
        "rights": pl.List(pl.String),
    }
)  # fmt: skip
assert list(NO_STRUCTURES.collect_schema()) == STRUCTURE_COLUMNS


def quotes_at(price: float, day: dt.date = DAY) -> pl.LazyFrame:
    """The underlying's NBBO at 09:59:30, around ``price`` (younger than 60 s at 10:00)."""
    t = ny_ns(day, dt.time(9, 59, 30))
    return pl.LazyFrame(
        {
            "symbol": ["SPY"],
            "ts_event": [t],
            "seq": [0],
            "bid": [price - 0.01],
            "ask": [price + 0.01],
        }
    )


def test_z_scores_against_hand_computation() -> None:
    premiums = [1000.0 + 100 * k for k in range(12)] + [5000.0]
    z = score_packets(
        frame([packet(i, premium=p) for i, p in enumerate(premiums)]), EMPTY_STATE, BASE
    )
    last = z.filter(pl.col("packet_id") == "p12").row(0, named=True)
    prior = np.array(premiums[:12])
    assert last["n_prior"] == 12
    assert last["premium_mean"] == pytest.approx(prior.mean(), rel=1e-12)
    assert last["premium_sd"] == pytest.approx(prior.std(ddof=0), rel=1e-12)
    assert last["premium_z"] == pytest.approx((5000.0 - prior.mean()) / prior.std(ddof=0), rel=1e-9)
    # Eleven priors: below z_min_samples, so no z.
    assert z.filter(pl.col("packet_id") == "p11")["premium_z"].item() is None


def test_spread_z_by_hand_and_in_the_sweep_explanation() -> None:
    """Rule 7. Thirteen priors, one without an NBBO (no spread): 12 spread samples 0.05,
    0.06, ..., 0.16. By hand: mean 0.105, population sd sqrt(143/12) x 0.01, and the last
    packet's spread 0.30 has z = (0.30 - 0.105) / sd. With 11 samples there is no z."""
    spreads = [0.05 + 0.01 * k for k in range(12)]
    rows = [packet(i, spread=v, premium=1000.0 + 10 * i) for i, v in enumerate(spreads)]
    rows.insert(5, packet(99, minute=4.5, spread=None, nbbo_bid=None, nbbo_ask=None))
    rows.append(packet(12, minute=13, spread=0.30, kind="sweep", n_prints=4, n_exchanges=3,
                       premium=50_000.0, size=100))  # fmt: skip
    z = score_packets(frame(rows), EMPTY_STATE, BASE)
    last = z.filter(pl.col("packet_id") == "p12").row(0, named=True)
    sd = (143 / 12) ** 0.5 * 0.01
    assert (last["n_prior"], last["spread_n"]) == (13, 12)
    assert last["spread_mean"] == pytest.approx(0.105, rel=1e-12)
    assert last["spread_sd"] == pytest.approx(sd, rel=1e-9)
    assert last["spread_z"] == pytest.approx((0.30 - 0.105) / sd, rel=1e-9)
    # p11 has 12 priors but only 11 spread samples: no spread z.
    eleven = z.filter(pl.col("packet_id") == "p11").row(0, named=True)
    assert (eleven["n_prior"], eleven["spread_n"], eleven["spread_z"]) == (12, 11, None)
    hit = hits_of(rows).filter(pl.col("packet_ids").list.first() == "p12").row(0, named=True)
    assert f"spread z {(0.30 - 0.105) / sd:.2f} (n=12)" in hit["explanation"], hit["explanation"]


def test_window_is_the_last_50_priors() -> None:
    premiums = [float(k) for k in range(60)]
    z = score_packets(
        frame([packet(i, premium=p) for i, p in enumerate(premiums)]), EMPTY_STATE, BASE
    )
    row = z.filter(pl.col("packet_id") == "p59").row(0, named=True)
    assert row["n_prior"] == 50
    assert row["premium_mean"] == pytest.approx(np.mean(premiums[9:59]))


def test_ttl_drops_old_priors() -> None:
    params = replace(BASE, rolling_ttl_sec=120)
    rows = [packet(i, minute=i * 5) for i in range(4)]  # 5 minutes apart, TTL 2 minutes
    z = score_packets(frame(rows), EMPTY_STATE, params)
    assert z["n_prior"].to_list() == [0, 0, 0, 0]


def test_day_by_day_replay_equals_day_alone() -> None:
    day1 = [packet(i, premium=1000.0 + 37 * i, size=10 + i) for i in range(30)]
    day2 = [packet(100 + i, day=NEXT, premium=900.0 + 11 * i, size=5 + i) for i in range(20)]
    state = end_of_day_state(frame(day1), EMPTY_STATE, DAY, BASE)
    alone = score_packets(frame(day2), state.lazy(), BASE)
    through = score_packets(frame(day1 + day2), EMPTY_STATE, BASE).filter(
        pl.col("start_ts") >= ny_ns(NEXT, dt.time(0))
    )
    assert_frame_equal(alone, through)
    assert alone.height == 20 and alone["n_prior"].max() > 0


def test_prior_state_of_contracts_not_traded_changes_nothing() -> None:
    """Yesterday's state of a contract that does not trade today changes nothing; the
    traded contract's state is still its prior."""
    put = "SPY   261124P00600000"
    day1 = [packet(i, premium=1000.0 + 37 * i) for i in range(10)]
    quiet = [packet(50 + i, contract=put, premium=10.0 * (i + 1)) for i in range(10)]
    state = end_of_day_state(frame(day1 + quiet), EMPTY_STATE, DAY, BASE)
    today = frame([packet(100 + i, day=NEXT, minute=i, premium=900.0 + 11 * i) for i in range(5)])
    with_quiet = score_packets(today, state.lazy(), BASE)
    alone = score_packets(today, state.filter(pl.col("contract") == CALL).lazy(), BASE)
    assert_frame_equal(with_quiet, alone)
    # Each minute one of yesterday's packets passes the 24 h TTL and one of today's joins.
    assert with_quiet["n_prior"].to_list() == [10, 10, 10, 10, 10]


def test_state_keeps_last_50_within_ttl() -> None:
    state = end_of_day_state(frame([packet(i) for i in range(70)]), EMPTY_STATE, DAY, BASE)
    assert state["n"].to_list() == [50]
    assert state["packet_ids"][0][0] == "p20"


def test_complex_packets_are_neither_scored_nor_priors() -> None:
    """A contract's complex packets (legs of one multi-leg order) stay out of its baseline:
    the single-leg packets score as if they were not there."""
    singles = [packet(i, premium=1000.0 + 50 * i) for i in range(0, 30, 2)]
    complex_ = [packet(i, premium=9e6, size=999, complex=True) for i in range(1, 30, 2)]
    with_complex = score_packets(frame(singles + complex_), EMPTY_STATE, BASE)
    assert_frame_equal(with_complex, score_packets(frame(singles), EMPTY_STATE, BASE))
    assert with_complex.height == len(singles)


def test_state_and_scores_do_not_depend_on_the_order_rows_are_read_in() -> None:
    """Two contracts interleaved, read in time order (rows kept by a mask) and reversed
    (rows gathered in contract order): the same state and the same scores."""
    put = "SPY   261124P00600000"
    rows = [
        packet(i, contract=CALL if i % 3 else put, premium=100.0 + 7 * i, size=1 + i % 5)
        for i in range(70)
    ]
    params = replace(BASE, rolling_window_size=20)
    state = end_of_day_state(frame(rows), EMPTY_STATE, DAY, params).sort("contract")
    backwards = end_of_day_state(frame(rows[::-1]), EMPTY_STATE, DAY, params).sort("contract")
    assert_frame_equal(state, backwards)
    assert state["n"].to_list() == [20, 20]
    assert state["packet_ids"].to_list()[0] == [f"p{i}" for i in range(70) if i % 3][-20:]
    scores = score_packets(frame(rows), EMPTY_STATE, params).sort("packet_id")
    assert_frame_equal(
        scores, score_packets(frame(rows[::-1]), EMPTY_STATE, params).sort("packet_id")
    )


def test_rolled_state_equals_the_whole_day_or_asks_for_a_refill() -> None:
    """The live roll (carried state + the tail's packets) against the whole-day state,
    window 3: packets at minutes 0..5, the tail rebuilds from minute 4."""
    params = replace(BASE, rolling_window_size=3)
    day = [packet(i) for i in range(6)]
    so_far = end_of_day_state(frame(day[:5]), EMPTY_STATE, DAY, params)  # holds p2, p3, p4
    since = day[4]["start_ts"]
    # The tail brings back p4 and adds p5: the carried p2, p3 are enough.
    rolled, refill = roll_state(so_far.lazy(), frame(day[4:]), since, DAY, params)
    assert refill == []
    assert_frame_equal(rolled, end_of_day_state(frame(day), EMPTY_STATE, DAY, params))
    assert rolled["packet_ids"].to_list() == [["p3", "p4", "p5"]]
    # A cancel removed p4 and nothing replaces it: the state needs p1, which it no longer
    # holds, so the contract is rolled again from the whole day.
    now = end_of_day_state(frame(day), EMPTY_STATE, DAY, params)  # p3, p4, p5
    _, refill = roll_state(
        now.lazy(), frame([day[0]]).filter(pl.lit(False)), day[3]["start_ts"], DAY, params
    )
    assert refill == [CALL]


def test_roll_touches_only_the_tails_contracts() -> None:
    """Three contracts, window 3: one trades in the tail, one last traded before it (its
    state row is kept as stored), one had its packet at the tail's start removed (no
    packet comes back; its state was not full, so nothing earlier is missing). All equal the whole day."""
    params = replace(BASE, rolling_window_size=3)
    put, other = "SPY   261124P00600000", "QQQ   261124C00500000"
    day = [packet(i) for i in range(6)]
    quiet = [packet(10 + i, contract=put, minute=i) for i in range(2)]
    gone = [packet(20 + i, contract=other, minute=i * 4) for i in range(2)]  # minutes 0, 4
    since = day[4]["start_ts"]
    so_far = end_of_day_state(frame(day[:5] + quiet + gone), EMPTY_STATE, DAY, params)
    rolled, refill = roll_state(so_far.lazy(), frame(day[4:]), since, DAY, params)
    assert refill == []
    whole = end_of_day_state(frame(day + quiet + gone[:1]), EMPTY_STATE, DAY, params)
    assert_frame_equal(rolled.sort("contract"), whole.sort("contract"))
    assert rolled.filter(pl.col("contract") == other)["packet_ids"].to_list() == [["p20"]]


def hits_of(
    rows: list[dict],
    price: float = 600.0,
    structures: pl.LazyFrame = NO_STRUCTURES,
    th: dict | None = None,
) -> pl.DataFrame:
    return build_hits(frame(rows), structures, EMPTY_STATE, quotes_at(price), th or THD, "v1")


def test_sweep_hit_with_thin_baseline_and_explanation() -> None:
    row = packet(
        0, kind="sweep", n_prints=4, n_exchanges=3, iso_count=4, premium=50_000.0, size=100
    )
    hits = hits_of([row]).filter(pl.col("classifier") == "sweep")
    hit = hits.row(0, named=True)
    assert hit["direction"] == "bullish"
    assert 0.5 <= hit["confidence"] < 0.8  # thin baseline scales confidence down
    for part in (
        "premium $50000 >= $40000",
        "4 prints >= 3 over 3 exchanges (4 ISO)",
        "baseline thin (n=0 < 12)",
        "coverage 1.0 >= 0.5",
        "-> bullish (call bought)",
    ):
        assert part in hit["explanation"], hit["explanation"]
    assert hits.schema == pl.Schema(HIT_SCHEMA)


@pytest.mark.parametrize(
    ("right", "buy_ratio", "direction"),
    [("C", 1.0, "bullish"), ("C", 0.0, "bearish"), ("P", 1.0, "bearish"), ("P", 0.2, "bullish")],
)
def test_direction_is_right_times_side(right: str, buy_ratio: float, direction: str) -> None:
    contract = f"SPY   261124{right}00600000"
    row = packet(
        0,
        contract=contract,
        kind="sweep",
        n_prints=3,
        n_exchanges=3,
        premium=60_000.0,
        buy_ratio=buy_ratio,
    )
    assert hits_of([row]).filter(pl.col("classifier") == "sweep")["direction"].to_list() == [
        direction
    ]


def test_gates_block_mixed_or_uncovered_packets() -> None:
    base = {"kind": "sweep", "n_prints": 3, "n_exchanges": 3, "premium": 60_000.0}
    assert hits_of([packet(0, buy_ratio=0.5, **base)]).height == 0
    assert hits_of([packet(0, nbbo_coverage=0.49, **base)]).height == 0
    assert hits_of([packet(0, complex=True, **base)]).height == 0


def test_changing_one_threshold_changes_exactly_the_expected_hits() -> None:
    rows = [
        packet(i, kind="sweep", n_prints=3, n_exchanges=2, premium=p, minute=i)
        for i, p in enumerate([39_000.0, 41_000.0, 45_000.0, 60_000.0])
    ]
    default = set(hits_of(rows).filter(pl.col("classifier") == "sweep")["packet_id"])
    stricter = TH.replaced("classifiers.sweep.min_premium", 44_000)
    strict = set(hits_of(rows, th=stricter).filter(pl.col("classifier") == "sweep")["packet_id"])
    assert default == {"p1", "p2", "p3"}
    assert strict == {"p2", "p3"}


def test_spike_needs_z_once_baseline_is_full() -> None:
    quiet = [packet(i, premium=1000.0 + 10 * (i % 3), size=10 + i % 3) for i in range(15)]
    big = packet(20, premium=30_000.0, size=500, minute=20)
    small_jump = packet(21, premium=21_000.0, size=400, minute=21)
    hits = hits_of([*quiet, big, small_jump]).filter(pl.col("classifier") == "spike")
    assert set(hits["packet_id"]) == {"p20", "p21"} or set(hits["packet_id"]) == {"p20"}
    explanation = hits.filter(pl.col("packet_id") == "p20")["explanation"].item()
    assert "premium z" in explanation and "(n=15)" in explanation


def test_burst_needs_six_prints_within_the_burst_window_and_premium() -> None:
    split = {"kind": "split", "n_prints": 8, "n_exchanges": 1, "size": 400}
    rows = [
        packet(0, max_burst=6, premium=12_000.0, **split),
        packet(1, max_burst=5, premium=12_000.0, **split),  # five: not "more than 5"
        packet(2, max_burst=8, premium=9_000.0, **split),  # under $10000
        packet(3, max_burst=8, premium=12_000.0, buy_ratio=0.5, **split),  # gates: mixed
        packet(4, max_burst=8, premium=12_000.0, complex=True, **split),  # multi-leg
    ]
    hits = hits_of(rows).filter(pl.col("classifier") == "burst")
    assert hits["packet_id"].to_list() == ["p0"]
    hit = hits.row(0, named=True)
    assert hit["direction"] == "bullish"
    # No z condition, so a thin baseline does not scale it down. Scores: burst 6 at its
    # floor 0; premium 1 - exp(-2000/10000); gates (buy ratio 1, coverage 1) 1.
    premium_score = 1 - math.exp(-(12_000 - 10_000) / 10_000)
    assert hit["confidence"] == pytest.approx(0.5 + 0.5 * (0 + premium_score + 1) / 3)
    for part in (
        "burst: 6 non-floor prints within 100 ms >= 6",
        "8 prints over 1 exchanges in the packet",
        "premium $12000 >= $10000",
        "coverage 1.0 >= 0.5",
    ):
        assert part in hit["explanation"], hit["explanation"]


def test_repeat_hitter_is_one_contract_hit_again_within_minutes_by_similar_orders() -> None:
    """Defaults: 3 orders of >= 20 contracts within 300 s, largest <= 2x smallest, >= $25k.
    Calls of one contract bought 120, 150, 100 lots at minutes 0, 2, 4 ($10k each): a hit
    at minute 4 with those three as evidence; a fourth at minute 5 continues the run (no
    second hit). Another contract hit at minutes 0, 3, 6 spans 360 s: no hit; a third with
    sizes 40, 100, 60 (2.5x apart): no hit; a fourth whose middle order was sold: the run
    on the buy side has two orders, no hit."""
    other, third, fourth = (f"SPY   261127C00{k}000" for k in (61000, 62000, 63000))
    rows = [
        packet(0, size=120, premium=10_000.0, minute=0),
        packet(1, size=150, premium=10_000.0, minute=2),
        packet(2, size=100, premium=10_000.0, minute=4),
        packet(3, size=110, premium=10_000.0, minute=5),
        *(packet(4 + i, contract=other, size=100, premium=10_000.0, minute=3 * i) for i in range(3)),
        *(packet(7 + i, contract=third, size=z, premium=10_000.0, minute=i) for i, z in enumerate((40, 100, 60))),
        packet(10, contract=fourth, size=100, premium=10_000.0, minute=0),
        packet(11, contract=fourth, size=100, premium=10_000.0, minute=1, buy_ratio=0.0, side="sell"),
        packet(12, contract=fourth, size=100, premium=10_000.0, minute=2),
    ]  # fmt: skip
    hits = hits_of(rows).filter(pl.col("classifier") == "repeat_hitter")
    assert hits.select("packet_id", "packet_ids", "direction").rows() == [
        ("p2", ["p0", "p1", "p2"], "bullish")
    ]
    explanation = hits["explanation"].item()
    assert "3 orders of 100-150 contracts" in explanation and "within 240 s <= 300 s" in explanation
    assert "premium $30000 >= $25000" in explanation
    # Under $25k in all: no hit. A structure's legs are not orders.
    cheap = [{**r, "premium": 8_000.0} for r in rows[:3]]
    assert hits_of(cheap).filter(pl.col("classifier") == "repeat_hitter").is_empty()
    legs = NO_STRUCTURES.collect().vstack(
        pl.DataFrame(
            [{"structure_id": "S-p1", "packet_ids": ["p1"], "kind": "roll"}],
            schema=NO_STRUCTURES.collect_schema(),
        )
    )
    assert (
        hits_of(rows[:3], structures=legs.lazy())
        .filter(pl.col("classifier") == "repeat_hitter")
        .is_empty()
    )


def test_zero_dte_uses_the_new_york_date() -> None:
    # 18:30 New York on the expiry day is 23:30 UTC: still the expiry day in New York.
    late = packet(0, size=500, premium=25_000.0, start_ts=ny_ns(DAY, dt.time(18, 30)))
    quotes = pl.LazyFrame(
        {
            "symbol": ["SPY"],
            "ts_event": [ny_ns(DAY, dt.time(18, 29))],
            "seq": [0],
            "bid": [599.99],
            "ask": [600.01],
        }
    )
    assert build_hits(frame([late]), NO_STRUCTURES, EMPTY_STATE, quotes, THD, "v1")[
        "classifier"
    ].to_list() == ["spike", "zero_dte"]
    # 19:30 New York the evening before is 00:30 UTC on the expiry date: not 0DTE.
    before = packet(
        0,
        size=500,
        premium=25_000.0,
        day=DAY - dt.timedelta(days=1),
        contract=CALL,
        start_ts=ny_ns(DAY - dt.timedelta(days=1), dt.time(19, 30)),
    )
    quotes = pl.LazyFrame(
        {
            "symbol": ["SPY"],
            "ts_event": [ny_ns(DAY - dt.timedelta(days=1), dt.time(19, 29))],
            "seq": [0],
            "bid": [599.99],
            "ask": [600.01],
        }
    )
    got = build_hits(frame([before]), NO_STRUCTURES, EMPTY_STATE, quotes, THD, "v1")
    assert "zero_dte" not in got["classifier"].to_list()


def test_zero_dte_needs_strike_near_the_underlying() -> None:
    row = packet(0, size=500, premium=25_000.0)
    assert "zero_dte" in hits_of([row], price=605.9)["classifier"].to_list()  # 0.97% away
    assert "zero_dte" not in hits_of([row], price=606.2)["classifier"].to_list()  # 1.02% away


def test_iso_prints_strengthen_a_sweeps_confidence_by_hand() -> None:
    """Rule 5. The same 4-print sweep with 0, 2 and 4 ISO prints, baseline thin (x 0.8).
    By hand: without ISO, confidence c0 = 0.8 x (0.5 + 0.5 m), so m = (c0 / 0.8 - 0.5) / 0.5.
    With k of 4 ISO at weight 0.5 the score is m + (1 - m) x 0.5 x k / 4."""
    confidence = {}
    for iso in (0, 2, 4):
        row = packet(0, kind="sweep", n_prints=4, n_exchanges=3, iso_count=iso, premium=50_000.0)
        confidence[iso] = (
            hits_of([row]).filter(pl.col("classifier") == "sweep")["confidence"].item()
        )
    m = (confidence[0] / 0.8 - 0.5) / 0.5
    for iso in (2, 4):
        score = m + (1 - m) * 0.5 * iso / 4
        assert confidence[iso] == pytest.approx(0.8 * (0.5 + 0.5 * score)), iso
    assert confidence[0] < confidence[2] < confidence[4]


def test_confidence_is_monotone_in_premium() -> None:
    confidences = []
    for premium in (41_000.0, 50_000.0, 80_000.0, 200_000.0, 2_000_000.0):
        row = packet(0, kind="sweep", n_prints=3, n_exchanges=3, premium=premium)
        confidences.append(
            hits_of([row]).filter(pl.col("classifier") == "sweep")["confidence"].item()
        )
    assert confidences == sorted(confidences) and len(set(confidences)) == 5
    assert all(0.0 <= c <= 1.0 for c in confidences)


def test_structure_legs_are_not_directional_and_roll_hits() -> None:
    near = packet(
        0, contract="SPY   261124C00600000", size=500, premium=25_000.0, buy_ratio=0.0, side="sell"
    )
    far = packet(1, contract="SPY   261125C00600000", size=500, premium=30_000.0, minute=0)
    structures = pl.LazyFrame(
        {"structure_id": ["S-p0"], "date": [DAY], "underlying": ["SPY"], "kind": ["roll"], "start_ts": [near["start_ts"]],
         "end_ts": [near["start_ts"]], "n_legs": [2], "packet_ids": [["p0", "p1"]], "contracts": [[near["contract"], far["contract"]]],
         "net_premium": [5000.0], "gross_premium": [55_000.0], "expiries": [[near["expiry"], far["expiry"]]], "strikes": [[600.0]], "rights": [["C"]]}
    )  # fmt: skip
    hits = hits_of([near, far], structures=structures)
    assert hits["classifier"].to_list() == ["roll"]
    assert hits.row(0, named=True)["direction"] == "structure" and hits["packet_ids"][
        0
    ].to_list() == ["p0", "p1"]


def test_alert_score_and_severity_hand_computed() -> None:
    hits = pl.LazyFrame(
        {"hit_id": ["v1:sweep:p0", "v1:spike:p0", "v1:spike:p1", "v1:roll:S"], "date": [DAY] * 4, "ts": [1, 1, 2, 3],
         "classifier": ["sweep", "spike", "spike", "roll"], "packet_id": ["p0", "p0", "p1", None], "structure_id": [None, None, None, "S"],
         "packet_ids": [["p0"], ["p0"], ["p1"], ["a", "b"]], "underlying": ["SPY"] * 4, "contract": ["C"] * 4,
         "direction": ["bullish", "bullish", "bearish", "structure"], "confidence": [0.74, 0.66, 0.5, 0.5],
         "explanation": [""] * 4, "premium": [50_000.0, 50_000.0, 30_000.0, 90_000.0], "nbbo_coverage": [1.0, 1.0, 1.0, 0.4],
         "config_version": ["v1"] * 4}
    )  # fmt: skip
    alerts = score_alerts(hits, THD).collect()
    by = {r["subject"]: r for r in alerts.iter_rows(named=True)}
    # p0: min(70, 50) + round(0.74 * 20) + min(20, 5 * 2) = 50 + 15 + 10 = 75 -> medium
    assert (by["p0"]["score"], by["p0"]["severity"], by["p0"]["classifiers"]) == (
        75.0,
        "medium",
        ["spike", "sweep"],
    )
    # p1: 30 + 10 + 5 = 45 -> medium (boundary)
    assert (by["p1"]["score"], by["p1"]["severity"]) == (45.0, "medium")
    # S: 70 + 10 + 5 = 85 -> high, one level lower for coverage 0.4 < 0.5 -> medium
    assert (by["S"]["score"], by["S"]["severity"]) == (85.0, "medium")
    assert by["S"]["packet_ids"] == ["a", "b"] and by["p0"]["hit_ids"] == [
        "v1:spike:p0",
        "v1:sweep:p0",
    ]
    assert by["p0"]["alert_id"] == "v1:p0"


def test_a_hand_built_day_gets_its_sweep_leaves_the_near_miss_and_names_a_risk_reversal() -> None:
    """Prints through the whole rule chain (NBBO, placement, packets, structures, hits),
    every contract quoted 1.00 x 1.20 at 10:00:
    - 4 ISO prints of 100 calls at the ask on 4 exchanges within 180 ms: $48,000, a sweep
      (n_prior 0: the floors decide), and a spike (size 400 >= 400, premium >= $20,000);
    - the same shape of 25 calls: $12,000, under the sweep floor: nothing fires;
    - a call of another strike bought at the ask with a put sold at the bid, 50 each,
      100 ms apart, a minute later: a bullish risk reversal, and its legs are no
      directional hits."""
    from assets.flow_packets import build_packets
    from assets.option_prints import enrich_option_prints
    from assets.structures import find_structures
    from tests.conftest import option_quotes, option_trades

    sweep_c, miss_c = "SPY   261127C00600000", "SPY   261127C00605000"
    rr_call, rr_put = "SPY   261127C00610000", "SPY   261127P00590000"
    s = 10**9
    trades = [
        *({"contract": sweep_c, "ts": 60 * s + i * 60_000_000, "price": 1.2, "size": 100,
           "exchange": ex, "conditions": ["S"], "event_id": f"sw{i}"} for i, ex in enumerate("CXIQ")),
        *({"contract": miss_c, "ts": 180 * s + i * 60_000_000, "price": 1.2, "size": 25,
           "exchange": ex, "conditions": ["S"], "event_id": f"nm{i}"} for i, ex in enumerate("CXIQ")),
        {"contract": rr_call, "ts": 300 * s, "price": 1.2, "size": 50, "event_id": "rc"},
        {"contract": rr_put, "ts": 300 * s + 100_000_000, "price": 1.0, "size": 50, "event_id": "rp"},
    ]  # fmt: skip
    quotes = [
        {"contract": t["contract"], "ts": t["ts"] - 50_000_000, "bid": 1.0, "ask": 1.2}
        for t in trades
    ]
    prints = enrich_option_prints(
        option_trades(trades).lazy(),
        option_quotes(quotes).lazy(),
        TH,
    )
    packets = build_packets(prints, TH.packets).collect()
    no_oi = pl.LazyFrame(schema={"contract": pl.String, "open_interest": pl.Int64})
    structures = find_structures(packets.lazy(), no_oi, TH.structures).collect()
    assert structures.select("kind", "direction", "contracts").rows() == [
        ("risk_reversal", "bullish", [rr_call, rr_put])
    ]
    hits = build_hits(packets.lazy(), structures.lazy(), EMPTY_STATE, quotes_at(600.0), THD, "v1")
    fired = sorted(zip(hits["classifier"], hits["contract"], strict=True))
    assert fired == [("spike", sweep_c), ("sweep", sweep_c)]
    sweep = hits.filter(pl.col("classifier") == "sweep").row(0, named=True)
    assert sweep["premium"] == 48_000.0 and sweep["direction"] == "bullish"
