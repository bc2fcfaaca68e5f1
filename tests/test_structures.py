"""Rule 6: structures across packets of one underlying within +-500 ms."""

from __future__ import annotations

import numpy as np
import polars as pl

from assets.flow_packets import build_packets
from assets.opening import volume_through
from assets.option_prints import enrich_option_prints
from assets.structures import find_structures, leg_groups
from assets.thresholds import load_thresholds
from tests.conftest import DAY, MS, option_quotes, option_trades

TH = load_thresholds()
ENRICH = TH


def c(right: str, strike: int, expiry: str = "261127", root: str = "SPY") -> str:
    return f"{root:<6}{expiry}{right}{strike * 1000:08d}"


def structures_of(
    legs: list[tuple[str, int, float, int]],
    oi: dict[str, int] | None = None,
    earlier: list[tuple[str, int, float, int]] = (),  # type: ignore[assignment]
) -> pl.DataFrame:
    """legs: (contract, ts_ms, price, size); every contract quoted 1.00 x 1.20."""
    trades = [
        {"contract": k, "ts": ms * MS, "price": p, "size": s, "event_id": f"e{i}"}
        for i, (k, ms, p, s) in enumerate([*earlier, *legs])
    ]
    quotes = [{"contract": k, "ts": 0, "bid": 1.0, "ask": 1.2} for k in {leg[0] for leg in legs}]
    prints = enrich_option_prints(
        option_trades(trades).lazy(), option_quotes(quotes).lazy(), ENRICH
    )
    packets = build_packets(prints, TH.packets)
    oi_frame = pl.DataFrame(
        {
            "date": [DAY] * len(oi or {}),
            "contract": list((oi or {}).keys()),
            "open_interest": list((oi or {}).values()),
        },
        schema={"date": pl.Date, "contract": pl.String, "open_interest": pl.Int64},
    )
    collected = prints.collect()

    def volume(contracts: list[str]) -> pl.LazyFrame:
        return volume_through(collected.lazy().filter(pl.col("contract").is_in(contracts)))

    return find_structures(packets, oi_frame.lazy(), TH.structures, volume).collect()


ASK, BID, MID = 1.2, 1.0, 1.1  # every contract is quoted 1.00 x 1.20: bought, sold, no side


def named(*legs: tuple[str, int, float, int]) -> list[tuple[str, str]]:
    out = structures_of(list(legs))
    return list(zip(out["kind"].to_list(), out["direction"].to_list(), strict=True))


def test_straddle() -> None:
    out = structures_of([(c("C", 600), 0, ASK, 50), (c("P", 600), 100, ASK, 50)])
    assert out["kind"].to_list() == ["long_straddle"]
    assert out["direction"].to_list() == ["none"]
    assert out["net_premium"][0] == 2 * 1.2 * 50 * 100
    assert out["sides"].to_list() == [["buy", "buy"]]
    assert named((c("C", 600), 0, BID, 50), (c("P", 600), 100, BID, 50)) == [
        ("short_straddle", "none")
    ]
    assert named((c("C", 600), 0, MID, 50), (c("P", 600), 100, ASK, 50)) == [("straddle", "none")]


def test_risk_reversal_is_named_from_the_sides_and_has_a_direction() -> None:
    """A call bought with a put sold is a bullish risk reversal, never a strangle; the
    reverse is bearish. Its legs are not directional single legs (see test_signals)."""
    assert named((c("C", 610), 0, ASK, 20), (c("P", 590), 0, BID, 20)) == [
        ("risk_reversal", "bullish")
    ]
    assert named((c("C", 610), 0, BID, 20), (c("P", 590), 0, ASK, 20)) == [
        ("risk_reversal", "bearish")
    ]
    assert named((c("C", 610), 0, ASK, 20), (c("P", 590), 0, ASK, 20)) == [
        ("long_strangle", "none")
    ]
    assert named((c("C", 610), 0, BID, 20), (c("P", 590), 0, BID, 20)) == [
        ("short_strangle", "none")
    ]


def test_verticals_debit_or_credit_bull_or_bear() -> None:
    """Calls: the lower strike bought is a debit (bull call spread), sold a credit (bear
    call spread). Puts: the higher strike bought is a debit (bear put spread), sold a
    credit (bull put spread)."""
    assert named((c("C", 600), 0, ASK, 20), (c("C", 605), 0, BID, 20)) == [
        ("debit_vertical", "bullish")
    ]
    assert named((c("C", 600), 0, BID, 20), (c("C", 605), 0, ASK, 20)) == [
        ("credit_vertical", "bearish")
    ]
    assert named((c("P", 600), 0, BID, 20), (c("P", 605), 0, ASK, 20)) == [
        ("debit_vertical", "bearish")
    ]
    assert named((c("P", 600), 0, ASK, 20), (c("P", 605), 0, BID, 20)) == [
        ("credit_vertical", "bullish")
    ]
    assert named((c("C", 600), 0, ASK, 20), (c("C", 605), 0, ASK, 20)) == [("vertical", "none")]


def test_butterfly_one_by_two_by_one_with_the_body_opposite() -> None:
    fly = [(c("C", 600), 0, ASK, 10), (c("C", 605), 0, BID, 20), (c("C", 610), 0, ASK, 10)]
    assert named(*fly) == [("butterfly", "none")]
    # Uneven strikes or the body on the wings' side: a ladder.
    assert named(fly[0], fly[1], (c("C", 615), 0, ASK, 10)) == [("ladder", "none")]
    assert named(fly[0], (c("C", 605), 0, ASK, 20), fly[2]) == [("ladder", "none")]


def test_complex_prints_on_two_contracts_are_one_structure() -> None:
    """Exchange-reported multi-leg prints (OPRA 'f'): one ``complex`` structure whatever
    their sizes, never placed; a lone complex print shows no structure."""
    trades = [
        {"contract": c("C", 600), "ts": 0, "price": 1.1, "size": 7, "event_id": "e0",
         "conditions": ["f"]},
        {"contract": c("C", 605), "ts": 0, "price": 1.1, "size": 7, "event_id": "e1",
         "conditions": ["f"]},
        {"contract": c("P", 590), "ts": 90_000 * MS, "price": 1.1, "size": 30, "event_id": "e2",
         "conditions": ["f"]},
    ]  # fmt: skip
    quotes = [{"contract": t["contract"], "ts": 0, "bid": 1.0, "ask": 1.2} for t in trades]
    prints = enrich_option_prints(
        option_trades(trades).lazy(), option_quotes(quotes).lazy(), ENRICH
    )
    packets = build_packets(prints, TH.packets)
    empty_oi = pl.DataFrame(schema={"contract": pl.String, "open_interest": pl.Int64}).lazy()
    out = find_structures(packets, empty_oi, TH.structures).collect()
    assert out.select("kind", "direction", "n_legs").rows() == [("complex", "none", 2)]
    assert out["sides"].to_list() == [["none", "none"]]


def test_a_busy_window_keeps_the_order_whose_legs_share_a_size() -> None:
    """Five packets chain into one group (too many legs for one order); the two of 37
    contracts form a risk reversal, the others (13, 24, 50) no structure."""
    legs = [
        (c("C", 600), 0, ASK, 13), (c("C", 610), 100, ASK, 37), (c("P", 580), 200, ASK, 24),
        (c("P", 590), 300, BID, 37), (c("C", 620), 400, ASK, 50),
    ]  # fmt: skip
    out = structures_of(legs)
    assert out.select("kind", "direction", "contracts").rows() == [
        ("risk_reversal", "bullish", [c("C", 610), c("P", 590)])
    ]


def test_strangle_and_vertical() -> None:
    assert structures_of([(c("C", 610), 0, 1.2, 20), (c("P", 590), 0, 1.2, 20)])[
        "kind"
    ].to_list() == ["long_strangle"]
    vertical = structures_of([(c("C", 600), 0, 1.2, 20), (c("C", 605), 200, 1.0, 20)])
    assert vertical["kind"].to_list() == ["debit_vertical"]
    assert (
        vertical["net_premium"][0] == 1.2 * 20 * 100 - 1.0 * 20 * 100
    )  # bought one leg, sold the other


def test_four_leg_ladder() -> None:
    legs = [(c("C", k), i * 100, 1.2, 10) for i, k in enumerate((600, 605, 610, 615))]
    out = structures_of(legs)
    assert out["kind"].to_list() == ["ladder"]
    assert out["n_legs"][0] == 4 and len(out["packet_ids"][0]) == 4


def test_roll_across_expiries_and_calendar_when_both_legs_open() -> None:
    near, far = c("C", 600, "261127"), c("C", 600, "261204")
    legs = [(near, 0, 1.0, 40), (far, 300, 1.2, 40)]
    assert structures_of(legs)["kind"].to_list() == ["roll"]
    assert structures_of(legs, oi={near: 100, far: 5})["kind"].to_list() == ["roll"]
    assert structures_of(legs, oi={near: 10, far: 5})["kind"].to_list() == ["calendar"]


def test_calendar_uses_the_one_opening_definition() -> None:
    """Opening = size > open interest - the contract's earlier volume (assets.opening), as
    packet_positioning says. OI 50 on both legs; legs of 40. With no earlier volume 40 is
    not > 50: a roll. After 20 lots traded on each contract earlier, 40 > 50 - 20: both
    legs open, a calendar. 10 earlier: 40 > 40 is false, a roll."""
    near, far = c("C", 600, "261127"), c("C", 600, "261204")
    legs = [(near, 60_000, 1.0, 40), (far, 60_300, 1.2, 40)]
    oi = {near: 50, far: 50}
    assert structures_of(legs, oi=oi)["kind"].to_list() == ["roll"]
    twenty = [(near, 0, 1.1, 20), (far, 1000, 1.1, 20)]
    assert structures_of(legs, oi=oi, earlier=twenty)["kind"].to_list() == ["calendar"]
    ten = [(near, 0, 1.1, 10), (far, 1000, 1.1, 10)]
    assert structures_of(legs, oi=oi, earlier=ten)["kind"].to_list() == ["roll"]


def test_legs_overlap_within_500ms_not_beyond() -> None:
    assert structures_of([(c("C", 600), 0, 1.2, 50), (c("P", 600), 500, 1.2, 50)]).height == 1
    assert structures_of([(c("C", 600), 0, 1.2, 50), (c("P", 600), 501, 1.2, 50)]).height == 0


def test_other_underlying_never_joins() -> None:
    out = structures_of([(c("C", 600), 0, 1.2, 50), (c("P", 600, root="QQQ"), 0, 1.2, 50)])
    assert out.height == 0


def test_small_or_unrelated_sizes_are_not_legs() -> None:
    assert structures_of([(c("C", 600), 0, 1.2, 5), (c("P", 600), 0, 1.2, 5)]).height == 0
    assert structures_of([(c("C", 600), 0, 1.2, 17), (c("P", 600), 0, 1.2, 40)]).height == 0
    assert structures_of([(c("C", 600), 0, 1.2, 20), (c("C", 605), 0, 1.0, 40)])[
        "kind"
    ].to_list() == ["debit_vertical"]
    # Whole ratios up to max_leg_size_ratio (3): 1x3 is a structure, 1x4 is not.
    assert structures_of([(c("C", 600), 0, 1.2, 10), (c("C", 605), 0, 1.0, 30)]).height == 1
    assert structures_of([(c("C", 600), 0, 1.2, 10), (c("C", 605), 0, 1.0, 40)]).height == 0


def test_leg_groups_chain_on_the_latest_end_by_hand() -> None:
    """Window 500 ms. SPY: a spans 0-1000 ms, b 600-600, c starts at 1400: beyond b's
    end + 500 but within a's, so it joins; d at 1901 is beyond 1400 + 500: {a, b, c},
    {d}. QQQ: two legs at one time, ordered by packet id. Underlyings never share a group."""
    legs = pl.DataFrame(
        {
            "underlying": ["SPY", "QQQ", "SPY", "QQQ", "SPY", "SPY"],
            "packet_id": ["a", "q1", "b", "q0", "c", "d"],
            "start_ts": [0, 100, 600, 100, 1400, 1901],
            "end_ts": [1000, 100, 600, 100, 1400, 1901],
            "complex": [False] * 6,
        }
    ).with_columns(pl.col("start_ts", "end_ts") * MS)
    order, group = leg_groups(legs, TH.structures)
    ids = legs["packet_id"].to_numpy()[order]
    groups = [ids[group == g].tolist() for g in np.unique(group)]
    assert sorted(groups) == [["a", "b", "c"], ["d"], ["q0", "q1"]]
    assert np.all(np.diff(group) >= 0)


def test_five_overlapping_packets_are_too_busy() -> None:
    legs = [(c("C", k), i * 50, 1.2, 10) for i, k in enumerate((600, 605, 610, 615, 620))]
    assert structures_of(legs).height == 0


def test_structure_id_is_deterministic_and_order_independent() -> None:
    legs = [
        (c("C", 600), 0, 1.2, 50),
        (c("P", 600), 100, 1.2, 50),
        (c("C", 610), 9000, 1.2, 20),
        (c("P", 590), 9000, 1.2, 20),
    ]
    first = structures_of(legs)
    assert first["structure_id"].to_list() == structures_of(legs)["structure_id"].to_list()
    # The strangle's quotes are 9 s old by then: its legs are unplaced, so unsided.
    assert first["kind"].to_list() == ["long_straddle", "strangle"]
    assert first["structure_id"][0] == "S-SPY261127C00600000@e0"
