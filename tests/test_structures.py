"""Rule 6: structures across packets of one underlying within +-500 ms."""

from __future__ import annotations

import numpy as np
import polars as pl

from assets.flow_packets import build_packets
from assets.option_prints import enrich_option_prints
from assets.structures import find_structures, leg_groups
from orchestration.thresholds import load_thresholds
from tests.conftest import DAY, MS, option_quotes, option_trades

TH = load_thresholds()
ENRICH = {**TH.section("nbbo"), **TH.section("placement")}


def c(right: str, strike: int, expiry: str = "261127", root: str = "SPY") -> str:
    return f"{root:<6}{expiry}{right}{strike * 1000:08d}"


def structures_of(
    legs: list[tuple[str, int, float, int]], oi: dict[str, int] | None = None
) -> pl.DataFrame:
    """legs: (contract, ts_ms, price, size); every contract quoted 1.00 x 1.20."""
    trades = [
        {"contract": k, "ts": ms * MS, "price": p, "size": s, "event_id": f"e{i}"}
        for i, (k, ms, p, s) in enumerate(legs)
    ]
    quotes = [{"contract": k, "ts": 0, "bid": 1.0, "ask": 1.2} for k in {leg[0] for leg in legs}]
    prints = enrich_option_prints(
        option_trades(trades).lazy(), option_quotes(quotes).lazy(), ENRICH
    )
    packets = build_packets(prints, TH.section("packets"))
    oi_frame = pl.DataFrame(
        {
            "date": [DAY] * len(oi or {}),
            "contract": list((oi or {}).keys()),
            "open_interest": list((oi or {}).values()),
        },
        schema={"date": pl.Date, "contract": pl.String, "open_interest": pl.Int64},
    )
    return find_structures(packets, oi_frame.lazy(), TH.section("structures")).collect()


def test_straddle() -> None:
    out = structures_of([(c("C", 600), 0, 1.2, 50), (c("P", 600), 100, 1.2, 50)])
    assert out["kind"].to_list() == ["straddle"]
    assert out["net_premium"][0] == 2 * 1.2 * 50 * 100


def test_strangle_and_vertical() -> None:
    assert structures_of([(c("C", 610), 0, 1.2, 20), (c("P", 590), 0, 1.2, 20)])[
        "kind"
    ].to_list() == ["strangle"]
    vertical = structures_of([(c("C", 600), 0, 1.2, 20), (c("C", 605), 200, 1.0, 20)])
    assert vertical["kind"].to_list() == ["vertical"]
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
    ].to_list() == ["vertical"]
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
        }
    ).with_columns(pl.col("start_ts", "end_ts") * MS)
    order, group = leg_groups(legs, TH.section("structures"))
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
    assert first["kind"].to_list() == ["straddle", "strangle"]
    assert first["structure_id"][0] == "S-SPY261127C00600000@e0"
