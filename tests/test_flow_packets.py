"""Rule 5: exact FlowPackets (window from the packet's first print), kinds, ids, properties."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from assets.flow_packets import build_packets, packet_starts
from assets.option_prints import enrich_option_prints
from assets.thresholds import load_thresholds
from tests.conftest import MS, option_quotes, option_trades

TH = load_thresholds()
ENRICH = TH
PACKETS = TH.packets
QUOTE = {"ts": 0, "bid": 1.00, "ask": 1.20}
PUT = "SPY   261127P00590000"


def packets_of(
    trades: list[dict], quotes: list[dict] | None = None, params: dict | None = None
) -> pl.DataFrame:
    quotes = quotes if quotes is not None else [QUOTE, {**QUOTE, "contract": PUT}]
    prints = enrich_option_prints(
        option_trades(trades).lazy(), option_quotes(quotes).lazy(), ENRICH
    )
    return build_packets(prints, params or PACKETS).collect()


def test_print_exactly_500ms_after_first_joins_501_does_not() -> None:
    out = packets_of(
        [{"ts": 0, "price": 1.2}, {"ts": 500 * MS, "price": 1.2}, {"ts": 501 * MS, "price": 1.2}]
    )
    assert out["n_prints"].to_list() == [2, 1]
    assert out["start_ts"][1] - out["start_ts"][0] == 501 * MS


def test_window_is_from_first_print_not_a_gap_rule() -> None:
    # 0, 300, 600, 900 ms: consecutive gaps of 300 ms would chain all four into one packet
    # under a gap rule; measured from each packet's first print they form [0, 300], [600, 900].
    out = packets_of([{"ts": k * 300 * MS, "price": 1.2} for k in range(4)])
    assert out["n_prints"].to_list() == [2, 2]


def test_same_ns_prints_on_different_exchanges_form_a_sweep() -> None:
    trades = [
        {"ts": 0, "price": 1.2, "exchange": ex, "conditions": ["S"], "event_id": f"s{ex}"}
        for ex in "CXZ"
    ]
    row = packets_of(trades).row(0, named=True)
    assert row["kind"] == "sweep"
    assert (row["n_prints"], row["n_exchanges"], row["iso_count"]) == (3, 3, 3)
    assert row["event_ids"] == ["sC", "sX", "sZ"]
    assert row["side"] == "buy" and row["buy_ratio"] == 1.0


def test_kinds_block_split_single() -> None:
    block = packets_of([{"ts": 0, "price": 1.2, "size": 500}]).row(0, named=True)
    split = packets_of([{"ts": 0, "price": 1.2}, {"ts": MS, "price": 1.2}]).row(0, named=True)
    single = packets_of([{"ts": 0, "price": 1.2, "size": 499}]).row(0, named=True)
    assert (block["kind"], split["kind"], single["kind"]) == ("block", "split", "single")


def test_two_exchanges_below_sweep_count_is_single_kind() -> None:
    out = packets_of(
        [{"ts": 0, "price": 1.2, "exchange": "C"}, {"ts": MS, "price": 1.2, "exchange": "X"}]
    )
    assert out["kind"].to_list() == ["single"]


def test_packet_figures_hand_computed() -> None:
    trades = [
        {"ts": 0, "price": 1.20, "size": 10, "exchange": "C", "event_id": "a"},
        {"ts": 100 * MS, "price": 1.10, "size": 30, "exchange": "X", "event_id": "b"},
        {"ts": 200 * MS, "price": 1.00, "size": 10, "exchange": "Z", "event_id": "c"},
        {
            "ts": 300 * MS,
            "price": 1.20,
            "size": 50,
            "exchange": "C",
            "event_id": "d",
            "conditions": ["S"],
        },
    ]
    row = packets_of(trades).row(0, named=True)
    assert row["premium"] == pytest.approx((1.2 * 10 + 1.1 * 30 + 1.0 * 10 + 1.2 * 50) * 100)
    assert row["vwap"] == pytest.approx((1.2 * 10 + 1.1 * 30 + 1.0 * 10 + 1.2 * 50) / 100)
    assert (row["n_a"], row["n_mid"], row["n_b"], row["n_none"]) == (2, 1, 1, 0)
    assert row["nbbo_coverage"] == 1.0
    assert row["buy_ratio"] == pytest.approx(2 / 3)
    assert row["packet_id"] == "SPY261127C00600000@a"
    assert row["end_ts"] - row["start_ts"] == 300 * MS


def test_the_aggressor_mix_counts_aggressor_eligible_prints_only() -> None:
    """Rule 4: two prints at the ask, then a late report (code D: counts toward flow, not
    aggressor-eligible) at the bid. By hand: n_a 2, n_b 0, the late print NONE; buy ratio
    2 / 2 = 1.0, side buy (counting every print it was 2 / 3). The NBBO placed all three,
    so the coverage stays 1.0."""
    trades = [
        {"ts": 0, "price": 1.20, "size": 10, "exchange": "C", "event_id": "a"},
        {"ts": 100 * MS, "price": 1.20, "size": 10, "exchange": "X", "event_id": "b"},
        {"ts": 200 * MS, "price": 1.00, "size": 10, "exchange": "Z", "event_id": "c",
         "conditions": ["D"]},
    ]  # fmt: skip
    row = packets_of(trades).row(0, named=True)
    assert (row["n_a"], row["n_b"], row["n_none"], row["n_prints"]) == (2, 0, 1, 3)
    assert (row["buy_ratio"], row["side"], row["nbbo_coverage"]) == (1.0, "buy", 1.0)
    assert row["has_late"]


@pytest.mark.parametrize(("floor_at_40ms", "burst"), [(True, 5), (False, 6)])
def test_max_burst_counts_non_floor_prints_within_the_burst_window(
    floor_at_40ms: bool, burst: int
) -> None:
    # One packet (all within 500 ms of the first print) at 0, 20, 40, 60, 80, 100, 101 and
    # 300 ms. Within 100 ms ending at 100 ms: 0, 20, 40, 60, 80, 100 (six prints); ending at
    # 101 ms the print at 0 is out. A floor print at 40 ms does not count: five.
    times = [0, 20, 40, 60, 80, 100, 101, 300]
    trades = [
        {"ts": t * MS, "price": 1.2, "conditions": ["e"] if (t == 40 and floor_at_40ms) else []}
        for t in times
    ]
    row = packets_of(trades).row(0, named=True)
    assert (row["n_prints"], row["kind"], row["max_burst"]) == (8, "split", burst)
    assert row["has_floor"] is floor_at_40ms


def test_max_burst_never_reaches_into_the_previous_packet() -> None:
    # Packet 1: 0..500 ms (six prints 100 ms apart); packet 2 opens at 501 ms with two prints.
    # 400, 500, 501 and 520 ms lie within 120 ms, but the burst is counted per packet.
    times = [0, 100, 200, 300, 400, 500, 501, 520]
    out = packets_of(
        [{"ts": t * MS, "price": 1.2} for t in times], params=replace(PACKETS, burst_window_ms=120)
    )
    assert out["n_prints"].to_list() == [6, 2]
    assert out["max_burst"].to_list() == [2, 2]


def test_cancelled_print_inside_sweep_leaves_it() -> None:
    trades = [
        {"ts": k * 10 * MS, "price": 1.2, "exchange": ex, "conditions": ["S"], "event_id": f"s{k}"}
        for k, ex in enumerate("CXZ")
    ] + [
        {
            "ts": 2 * 1000 * MS,
            "price": 1.2,
            "exchange": "X",
            "event_id": "cx",
            "conditions": ["A"],
            "ref_event_id": "s1",
        }
    ]
    out = packets_of(trades)
    assert out.height == 1
    row = out.row(0, named=True)
    assert row["event_ids"] == ["s0", "s2"] and row["kind"] == "single"


def test_prints_outside_the_flow_neither_open_nor_join_a_packet() -> None:
    # "u" (compression) does not count as flow. Counted, the print at 0 ms would open a
    # packet [0, 400] and leave 800 ms alone; left out, the packet opens at 400 ms and
    # takes 800 ms (within 500 ms of its first print). The put's flow print at 100 ms sits
    # between them in time order.
    trades = [
        {"ts": 0, "price": 1.2, "conditions": ["u"], "event_id": "u0", "seq": 0},
        {"ts": 100 * MS, "price": 1.2, "contract": PUT, "event_id": "p1", "seq": 1},
        {"ts": 400 * MS, "price": 1.2, "event_id": "c2", "seq": 2},
        {"ts": 600 * MS, "price": 1.0, "conditions": ["u"], "event_id": "u3", "seq": 3},
        {"ts": 800 * MS, "price": 1.2, "event_id": "c4", "seq": 4},
    ]
    prints = enrich_option_prints(
        option_trades(trades).lazy(),
        option_quotes([QUOTE, {**QUOTE, "contract": PUT}]).lazy(),
        ENRICH,
    ).collect()
    assert prints["in_flow"].to_list() == [False, True, True, False, True]
    out = build_packets(prints.lazy(), PACKETS).collect()
    assert out["event_ids"].to_list() == [["p1"], ["c2", "c4"]]
    day_start = prints["ts_event"].min()
    assert (out["start_ts"] - day_start).to_list() == [100 * MS, 400 * MS]
    assert (out["end_ts"] - day_start).to_list() == [100 * MS, 800 * MS]
    assert out["n_prints"].to_list() == [1, 2]
    assert out["packet_id"][1].endswith("@c2")
    # Stored out of time order, the same packets (the gather paths, not the masks).
    assert_frame_equal(build_packets(prints.reverse().lazy(), PACKETS).collect(), out)


def test_multileg_prints_pack_apart_as_complex() -> None:
    trades = [
        {"ts": 0, "price": 1.2, "exchange": "C"},
        {"ts": MS, "price": 1.1, "exchange": "X", "conditions": ["f"]},
        {"ts": 2 * MS, "price": 1.1, "exchange": "Z", "conditions": ["f"]},
    ]
    out = packets_of(trades).sort("kind")
    assert out["kind"].to_list() == ["complex", "single"]
    assert out.filter(pl.col("kind") == "complex")["side"].item() == "none"


def test_packet_starts_follows_links_per_group() -> None:
    group = np.array([0, 0, 0, 0, 1, 1])
    nxt = np.array([2, 3, 6, 6, 6, 6])  # rows 0->2 within group 0; group 1 one packet
    assert packet_starts(group, nxt).tolist() == [True, False, True, False, True, False]


def test_lazy_schema_matches_collected() -> None:
    prints = enrich_option_prints(
        option_trades([{"ts": 0, "price": 1.2}]).lazy(), option_quotes([QUOTE]).lazy(), ENRICH
    )
    lazy = build_packets(prints, PACKETS)
    assert lazy.collect_schema() == lazy.collect().schema


def reference_packets(trades: list[dict], window: int) -> list[list[str]]:
    """Row-by-row reference: a packet opens at a print and takes prints within window of it."""
    out: list[list[str]] = []
    for contract in sorted({t["contract"] for t in trades}):
        rows = sorted(
            (t for t in trades if t["contract"] == contract), key=lambda t: (t["ts"], t["seq"])
        )
        first, current = 0, []
        for t in rows:
            if current and t["ts"] - first <= window:
                current.append(t["event_id"])
            else:
                if current:
                    out.append(current)
                first, current = t["ts"], [t["event_id"]]
        out.append(current)
    return sorted(out)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["C", "P"]),
            st.integers(0, 3000),
            st.integers(1, 50),
            st.sampled_from("CXZI"),
        ),
        min_size=1,
        max_size=60,
    ),
    st.randoms(use_true_random=False),
)
def test_packet_properties(rows: list[tuple[str, int, int, str]], rnd: random.Random) -> None:
    contracts = {"C": "SPY   261127C00600000", "P": PUT}
    trades = [
        {
            "ts": ms * MS,
            "price": 1.2,
            "size": size,
            "exchange": ex,
            "contract": contracts[c],
            "event_id": f"e{i}",
            "seq": i,
        }
        for i, (c, ms, size, ex) in enumerate(rows)
    ]
    out = packets_of(trades)
    # Sizes sum to print sizes; every print in exactly one packet.
    assert out["size"].sum() == sum(r[2] for r in rows)
    assert sorted(out["event_ids"].explode().to_list()) == sorted(t["event_id"] for t in trades)
    # Exactly the row-by-row reference assignment.
    assert sorted(out["event_ids"].to_list()) == reference_packets(trades, 500 * MS)
    # Independent of input row order.
    shuffled = trades[:]
    rnd.shuffle(shuffled)
    assert_frame_equal(packets_of(shuffled), out)


#: OPRA condition per (multi-leg, floor, ISO) draw: I electronic, S ISO, e single-leg floor,
#: f multi-leg electronic, i multi-leg floor (ISO only where no other code applies).
CODES = {
    (False, False, False): "I", (False, False, True): "S", (False, True, False): "e",
    (False, True, True): "e", (True, False, False): "f", (True, False, True): "f",
    (True, True, False): "i", (True, True, True): "i",
}  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["C", "P"]),
            st.booleans(),  # complex (multi-leg) print
            st.integers(0, 2500),  # ms
            st.integers(1, 600),  # size
            st.sampled_from("CXZI"),
            st.sampled_from([1.0, 1.1, 1.2, 1.3]),  # price: B, MID, A, AA against 1.00/1.20
            st.booleans(),  # floor
            st.booleans(),  # ISO (single-leg, not floor)
        ),
        min_size=1,
        max_size=60,
    )
)
def test_every_figure_equals_the_row_by_row_builder(rows: list[tuple]) -> None:
    """Every column of every packet (ids, heads, counts, exchanges, sums, vwap, placements,
    flags, bursts, kinds, sides) is the row-by-row builder's, and packets come in (start_ts, contract, complex) order."""
    from bench.reference import as_frame, packets_row_by_row

    contracts = {"C": "SPY   261127C00600000", "P": PUT}
    trades = [
        {
            "ts": ms * MS,
            "price": price,
            "size": size,
            "exchange": ex,
            "contract": contracts[c],
            "conditions": [CODES[multi, floor, iso]],
            "event_id": f"e{i}",
            "seq": i,
        }
        for i, (c, multi, ms, size, ex, price, floor, iso) in enumerate(rows)
    ]
    prints = enrich_option_prints(
        option_trades(trades).lazy(),
        option_quotes([QUOTE, {**QUOTE, "contract": PUT}]).lazy(),
        ENRICH,
    ).collect()
    out = build_packets(prints.lazy(), PACKETS).collect()
    ref = as_frame(packets_row_by_row(prints, PACKETS), out.schema)
    assert_frame_equal(out.sort("packet_id"), ref)
    # Prints not stored in time order (here backwards): the same packets, in the same order.
    assert_frame_equal(build_packets(prints.reverse().lazy(), PACKETS).collect(), out)
    assert out.select("start_ts", "contract", "complex").rows() == sorted(
        out.select("start_ts", "contract", "complex").rows()
    )
    assert out["start_ts"].flags["SORTED_ASC"]


def test_a_day_without_flow_prints_has_no_packets_and_the_packets_schema() -> None:
    # "u" (multilateral compression) does not count as flow: nothing to pack.
    out = packets_of([{"ts": 0, "price": 1.2, "conditions": ["u"]}])
    with_one = packets_of([{"ts": 0, "price": 1.2}])
    assert out.height == 0
    assert out.schema == with_one.schema
