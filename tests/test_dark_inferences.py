"""Rule 10: dark-pool inference on hand-built off-exchange prints."""

from __future__ import annotations

import datetime as dt

import polars as pl

from adapters.calendar import ny_ns
from adapters.schema import landed_schema
from assets.dark_inferences import INFERENCE_COLUMNS, infer_dark
from assets.equity_prints import enrich_equity_prints
from assets.thresholds import load_thresholds

TH = load_thresholds()
ENRICH = TH
DP = TH.darkpool
DAY = dt.date(2026, 11, 24)
T0 = ny_ns(DAY, dt.time(11))
S = 10**9
BID, ASK = 100.00, 100.10  # spread/mid = 0.1%: a good quote


def infer(trades: list[dict], quotes: list[tuple[int, float, float]] | None = None) -> pl.DataFrame:
    """trades: dicts with s (seconds after 11:00), price, size; venue D unless given."""
    quotes = quotes if quotes is not None else [(T0 + k * S - 1, BID, ASK) for k in range(-1, 300)]
    t = pl.DataFrame(
        [{"event_id": row.get("id", f"t{i}"), "source": "test", "ts_event": T0 + int(row["s"] * S), "ts_recv": T0, "symbol": "AAPL",
          "price": row["price"], "size": row["size"], "exchange": row.get("venue", "D"), "conditions": row.get("cond", ["@"]),
          "seq": i, "ref_event_id": None, "date": DAY} for i, row in enumerate(trades)],
        schema=landed_schema("equity_trades"),
    )  # fmt: skip
    q = pl.DataFrame(
        [{"event_id": f"q{i}", "source": "test", "ts_event": ts, "ts_recv": ts, "symbol": "AAPL", "bid": b, "ask": a,
          "bid_size": 100, "ask_size": 100, "seq": i, "date": DAY} for i, (ts, b, a) in enumerate(quotes)],
        schema=landed_schema("equity_quotes"),
    )  # fmt: skip
    return infer_dark(enrich_equity_prints(t.lazy(), q.lazy(), ENRICH), DP)


MID = 100.05


def test_absorbed_block_by_shares_and_by_notional() -> None:
    out = infer(
        [
            {"s": 1, "price": MID, "size": 2000, "id": "big"},
            {"s": 100, "price": MID, "size": 1999, "id": "small"},
        ]
    )
    assert out["event_ids"].to_list() == [["big"]]
    assert out.columns == INFERENCE_COLUMNS
    # 1999 shares at $100.05 is $199,990: below both; at $120 it is a $239,880 block by notional.
    quotes = [(T0 + k * S - 1, 119.95, 120.05) for k in range(-1, 10)]
    notional = infer([{"s": 1, "price": 120.00, "size": 1999}], quotes)
    assert (
        notional["kind"].to_list() == ["absorbed_block"] and notional["notional"][0] == 1999 * 120.0
    )


def test_absorbed_block_needs_mid_good_quote_and_eligible_conditions() -> None:
    assert infer([{"s": 1, "price": ASK, "size": 5000}]).height == 0  # at the ask: not absorbed
    assert infer([{"s": 1, "price": MID, "size": 5000, "venue": "Q"}]).height == 0  # lit venue
    assert infer([{"s": 1, "price": MID, "size": 5000, "cond": ["W"]}]).height == 0  # average price
    stale = [(T0 + S - 1_000_000_001, BID, ASK)]  # 1001 ms before the print
    assert infer([{"s": 1, "price": MID, "size": 5000}], stale).height == 0
    fresh = [(T0 + S - 1_000_000_000, BID, ASK)]  # exactly 1000 ms
    assert infer([{"s": 1, "price": MID, "size": 5000}], fresh).height == 1
    wide = [(T0 + k * S - 1, 99.00, 101.00) for k in range(-1, 10)]  # 2% spread
    assert infer([{"s": 1, "price": 100.0, "size": 5000}], wide).height == 0


def test_stealth_accumulation_four_prints_at_the_ask() -> None:
    prints = [{"s": 10 * k, "price": ASK, "size": 800, "id": f"a{k}"} for k in range(4)]
    out = infer(prints)
    row = out.row(0, named=True)
    assert (out.height, row["kind"], row["direction"], row["shares"], row["n_prints"]) == (
        1,
        "stealth_accumulation",
        "bullish",
        3200,
        4,
    )
    assert row["event_ids"] == ["a0", "a1", "a2", "a3"]
    assert "4 prints >= 200 shares each at the ask" in row["explanation"]


def test_stealth_needs_count_total_and_window() -> None:
    assert (
        infer([{"s": 10 * k, "price": ASK, "size": 1500} for k in range(3)]).height == 0
    )  # 3 prints
    assert (
        infer([{"s": 10 * k, "price": ASK, "size": 700} for k in range(4)]).height == 0
    )  # 2800 shares
    assert (
        infer([{"s": 21 * k, "price": ASK, "size": 800} for k in range(4)]).height == 0
    )  # 63 s span
    assert (
        infer([{"s": 20 * k, "price": ASK, "size": 800} for k in range(4)]).height == 1
    )  # exactly 60 s
    small = [{"s": k, "price": ASK, "size": 199} for k in range(30)]
    assert infer(small).height == 0  # prints under 200 shares never count


def test_distribution_at_the_bid() -> None:
    out = infer([{"s": 5 * k, "price": BID, "size": 1000} for k in range(4)])
    assert out["kind"].to_list() == ["distribution"] and out["direction"].to_list() == ["bearish"]


def test_cooldown_suppresses_repeats_for_30_seconds() -> None:
    burst = [{"s": 2 * k, "price": MID, "size": 3000, "id": f"b{k}"} for k in range(3)]  # 0, 2, 4 s
    later = [{"s": 35, "price": MID, "size": 3000, "id": "late"}]
    out = infer(burst + later)
    assert out["event_ids"].to_list() == [["b0"], ["late"]]
    boundary = infer(
        [
            {"s": 0, "price": MID, "size": 3000, "id": "x"},
            {"s": 30, "price": MID, "size": 3000, "id": "y"},
        ]
    )
    assert boundary["event_ids"].to_list() == [["x"], ["y"]]  # exactly 30 s later is allowed


def test_inference_ids_are_deterministic() -> None:
    prints = [{"s": 10 * k, "price": ASK, "size": 800, "id": f"a{k}"} for k in range(4)]
    assert (
        infer(prints)["inference_id"].to_list()
        == infer(prints[::-1])["inference_id"].to_list()
        == ["AAPL:stealth_accumulation:a3"]
    )
