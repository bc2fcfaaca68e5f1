"""Rules 1-4 on hand-computed cases: NBBO as-of, placement, side, premium, cancels."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from assets.option_prints import enrich_option_prints
from assets.thresholds import load_thresholds
from tests.conftest import MS, option_quotes, option_trades

TH = load_thresholds()
PARAMS = TH


def enrich(trades: list[dict], quotes: list[dict]) -> pl.DataFrame:
    return enrich_option_prints(
        option_trades(trades).lazy(), option_quotes(quotes).lazy(), PARAMS
    ).collect()


def one(trade: dict, quotes: list[dict]) -> dict:
    return enrich([trade], quotes).row(0, named=True)


QUOTE = {"ts": 0, "bid": 1.00, "ask": 1.20}  # spread 0.20 -> eps = max(0.01, 0.01) = 0.01


@pytest.mark.parametrize(
    ("price", "placement", "side"),
    [
        (1.22, "AA", "buy"),  # > ask + eps (1.21)
        (1.21, "A", "buy"),  # exactly ask + eps: within eps of the ask
        (1.20, "A", "buy"),
        (1.19, "A", "buy"),
        (1.10, "MID", "none"),
        (1.18, "MID", "none"),  # 0.02 from the ask: outside eps
        (1.01, "B", "sell"),
        (1.00, "B", "sell"),
        (0.99, "B", "sell"),
        (0.98, "BB", "sell"),
    ],
)
def test_placement_against_quote(price: float, placement: str, side: str) -> None:
    row = one({"ts": 10 * MS, "price": price}, [QUOTE])
    assert (row["placement"], row["side"]) == (placement, side)


def test_eps_grows_with_a_wide_spread() -> None:
    # spread 2.00 -> eps = 0.10: 4.95 is within eps of the ask (5.00)
    row = one({"ts": MS, "price": 4.95}, [{"ts": 0, "bid": 3.00, "ask": 5.00}])
    assert row["placement"] == "A"


def test_no_quote_is_none_and_counts_against_coverage() -> None:
    row = one({"ts": MS, "price": 1.10}, [])
    assert (row["placement"], row["side"], row["nbbo_bid"]) == ("NONE", "none", None)


def test_quote_exactly_max_age_old_matches_one_ns_more_does_not() -> None:
    at_limit = one({"ts": 1000 * MS, "price": 1.20}, [QUOTE])
    beyond = one({"ts": 1000 * MS + 1, "price": 1.20}, [QUOTE])
    assert (at_limit["placement"], at_limit["nbbo_age_ms"]) == ("A", 1000.0)
    assert beyond["placement"] == "NONE"
    assert one({"ts": 1001 * MS, "price": 1.20}, [QUOTE])["placement"] == "NONE"


def test_quote_one_ns_after_the_trade_never_matches() -> None:
    row = one({"ts": 5 * MS, "price": 1.20}, [{"ts": 5 * MS + 1, "bid": 1.00, "ask": 1.20}])
    assert row["placement"] == "NONE"


@pytest.mark.parametrize("stored", ["in_seq_order", "latest_first"])
def test_quote_at_the_same_ns_matches_and_latest_seq_wins(stored: str) -> None:
    quotes = [
        {"ts": 5 * MS, "bid": 1.00, "ask": 1.20, "seq": 1},
        {"ts": 5 * MS, "bid": 2.00, "ask": 2.20, "seq": 2},
    ]
    # Stored latest first, the book's one-key sort finds the tie out of seq order.
    row = one({"ts": 5 * MS, "price": 2.20}, quotes[::-1] if stored == "latest_first" else quotes)
    assert (row["nbbo_bid"], row["placement"]) == (2.00, "A")


def test_later_quote_replaces_earlier() -> None:
    quotes = [{"ts": 0, "bid": 1.00, "ask": 1.20}, {"ts": 3 * MS, "bid": 1.50, "ask": 1.60}]
    assert one({"ts": 2 * MS, "price": 1.20}, quotes)["placement"] == "A"
    assert one({"ts": 4 * MS, "price": 1.20}, quotes)["placement"] == "BB"


def test_crossed_quote_is_skipped_for_the_previous_valid_one() -> None:
    quotes = [{"ts": 0, "bid": 1.00, "ask": 1.20}, {"ts": 2 * MS, "bid": 1.30, "ask": 1.25}]
    row = one({"ts": 3 * MS, "price": 1.20}, quotes)
    assert (row["nbbo_bid"], row["nbbo_ask"], row["placement"]) == (1.00, 1.20, "A")


def test_empty_quote_does_not_count() -> None:
    row = one({"ts": 3 * MS, "price": 1.20}, [{"ts": 0, "bid": 0.0, "ask": 0.0}])
    assert row["placement"] == "NONE"


def test_locked_market_print_at_the_lock_is_mid() -> None:
    locked = [{"ts": 0, "bid": 1.10, "ask": 1.10}]
    assert one({"ts": MS, "price": 1.10}, locked)["placement"] == "MID"
    assert one({"ts": MS, "price": 1.12}, locked)["placement"] == "AA"


def test_one_tick_market_nearer_side_wins() -> None:
    tight = [{"ts": 0, "bid": 1.10, "ask": 1.11}]
    assert one({"ts": MS, "price": 1.11}, tight)["placement"] == "A"
    assert one({"ts": MS, "price": 1.10}, tight)["placement"] == "B"


def test_quotes_of_another_contract_never_match() -> None:
    other = [{"ts": 0, "bid": 1.00, "ask": 1.20, "contract": "SPY   261127P00600000"}]
    assert one({"ts": MS, "price": 1.20}, other)["placement"] == "NONE"


def test_premium_uses_the_multiplier() -> None:
    row = one({"ts": MS, "price": 2.50, "size": 7}, [QUOTE])
    assert row["premium"] == pytest.approx(2.50 * 7 * 100)
    mini = one({"ts": MS, "price": 2.50, "size": 7, "multiplier": 10}, [QUOTE])
    assert mini["premium"] == pytest.approx(175.0)


def test_multileg_print_is_complex_and_has_no_side() -> None:
    row = one({"ts": MS, "price": 1.20, "conditions": ["f"]}, [QUOTE])
    assert row["complex"] and row["placement"] == "A" and row["side"] == "none"
    stock_option = one({"ts": MS, "price": 1.20, "conditions": ["n"]}, [QUOTE])
    assert stock_option["complex"] and stock_option["stock_option"]


def test_numeric_vendor_codes_map_to_letters() -> None:
    row = one({"ts": MS, "price": 1.20, "conditions": ["219"]}, [QUOTE])
    assert row["iso"] and row["side"] == "buy"


def test_unknown_condition_keeps_the_print_but_not_its_side() -> None:
    row = one({"ts": MS, "price": 1.20, "conditions": ["?"]}, [QUOTE])
    assert row["unknown_conditions"] == ["?"]
    assert not row["aggressor_eligible"] and row["side"] == "none"


def test_cancel_by_reference_removes_both_from_flow() -> None:
    out = enrich(
        [
            {"ts": MS, "price": 1.20, "event_id": "orig"},
            {"ts": 2 * MS, "price": 1.20, "event_id": "keep"},
            {
                "ts": 9 * MS,
                "price": 1.20,
                "event_id": "cx",
                "conditions": ["A"],
                "ref_event_id": "orig",
            },
        ],
        [QUOTE],
    )
    flow = dict(zip(out["event_id"], out["in_flow"], strict=True))
    assert flow == {"orig": False, "keep": True, "cx": False}


def test_cancel_without_reference_matches_latest_identical_print() -> None:
    out = enrich(
        [
            {"ts": MS, "price": 1.20, "size": 5, "event_id": "old"},
            {"ts": 2 * MS, "price": 1.20, "size": 5, "event_id": "victim"},
            {"ts": 3 * MS, "price": 1.20, "size": 6, "event_id": "other_size"},
            {"ts": 9 * MS, "price": 1.20, "size": 5, "event_id": "cx", "conditions": ["A"]},
        ],
        [QUOTE],
    )
    cancelled = set(out.filter(pl.col("cancelled"))["event_id"])
    assert cancelled == {"victim"}


def test_cancel_refers_to_a_print_of_its_own_contract_only() -> None:
    """A cancel naming another contract's print cancels nothing (the live tail looks the
    print up among the cancel's contract only: replay must agree), but still counts for
    nothing itself; a referenced print of its own contract among many others is found."""
    other = "SPY   261127P00590000"
    out = enrich(
        [
            {"ts": MS, "price": 1.20, "event_id": "elsewhere", "contract": other},
            {"ts": 2 * MS, "price": 1.20, "event_id": "mine"},
            *({"ts": (3 + k) * MS, "price": 1.20, "event_id": f"n{k}"} for k in range(5)),
            {"ts": 9 * MS, "price": 1.2, "event_id": "cx1", "conditions": ["A"],
             "ref_event_id": "elsewhere"},
            {"ts": 9 * MS, "price": 1.2, "event_id": "cx2", "conditions": ["A"],
             "ref_event_id": "mine"},
        ],
        [QUOTE, {**QUOTE, "contract": other}],
    )  # fmt: skip
    assert set(out.filter(pl.col("cancelled"))["event_id"]) == {"mine"}
    assert set(out.filter(~pl.col("in_flow"))["event_id"]) == {"mine", "cx1", "cx2"}


def test_late_print_counts_but_is_not_aggressor_eligible() -> None:
    row = one({"ts": MS, "price": 1.20, "conditions": ["D"]}, [QUOTE])
    assert row["in_flow"] and row["late"] and row["side"] == "none"


def test_lazy_schema_matches_collected() -> None:
    lazy = enrich_option_prints(
        option_trades([{"ts": 1, "price": 1.0}]).lazy(), option_quotes([QUOTE]).lazy(), PARAMS
    )
    assert lazy.collect_schema() == lazy.collect().schema


def test_result_independent_of_input_row_order() -> None:
    trades = [{"ts": k * 7 * MS, "price": 1.0 + k / 100, "event_id": f"e{k}"} for k in range(30)]
    quotes = [{"ts": k * 5 * MS, "bid": 1.0, "ask": 1.2 + k / 1000, "seq": k} for k in range(40)]
    a = enrich_option_prints(
        option_trades(trades).lazy(), option_quotes(quotes).lazy(), PARAMS
    ).collect()
    b = enrich_option_prints(
        option_trades(trades).reverse().lazy(),
        option_quotes(quotes).sample(fraction=1.0, shuffle=True, seed=3).lazy(),
        PARAMS,
    ).collect()
    from polars.testing import assert_frame_equal

    assert_frame_equal(a, b)


def test_several_contracts_each_take_their_own_quotes_in_time_order() -> None:
    """Interleaved prints of three contracts (one quoted only by an untraded neighbour's
    quotes and its own late quote): each matches its own book; rows come out by time,
    then contract, then seq."""
    c1, c2, c3 = "AAPL  261127C00200000", "SPY   261127C00600000", "SPY   261127P00590000"
    untraded = "QQQ   261127C00500000"
    # Stored against the output order: c3 before c2 at the same ns, and a1's two prints at
    # one ns with the higher seq first.
    trades = [
        {"ts": 3 * MS, "price": 2.10, "contract": c2, "event_id": "b2", "seq": 5},
        {"ts": 1 * MS, "price": 1.20, "contract": c1, "event_id": "a1b", "seq": 9},
        {"ts": 1 * MS, "price": 1.20, "contract": c1, "event_id": "a1", "seq": 1},
        {"ts": 2 * MS, "price": 5.00, "contract": c3, "event_id": "c1", "seq": 2},
        {"ts": 2 * MS, "price": 2.00, "contract": c2, "event_id": "b1", "seq": 3},
        {"ts": 4 * MS, "price": 1.00, "contract": c1, "event_id": "a2", "seq": 4},
    ]
    quotes = [
        {"ts": 0, "bid": 1.00, "ask": 1.20, "contract": c1},
        {"ts": 0, "bid": 2.00, "ask": 2.10, "contract": c2},
        {"ts": 1 * MS, "bid": 4.00, "ask": 5.00, "contract": untraded},
        {"ts": 3 * MS, "bid": 4.00, "ask": 5.00, "contract": c3},  # after c3's print
    ]
    out = enrich(trades, quotes)
    assert out["event_id"].to_list() == ["a1", "a1b", "b1", "c1", "b2", "a2"]
    assert out["placement"].to_list() == ["A", "A", "B", "NONE", "A", "B"]
    assert out["nbbo_bid"].to_list() == [1.00, 1.00, 2.00, None, 2.00, 1.00]


def test_book_kept_near_prints_matches_every_print_as_the_whole_book_would() -> None:
    """Only quotes within the age limit before a print of their contract reach the as-of
    join; each print's match equals a brute-force search over every quote, with quotes
    placed on the age limit, 1 ns beyond it, on bucket edges and sharing timestamps."""
    import random

    rng = random.Random(11)
    age = int(PARAMS.nbbo.max_age_ms) * MS
    contracts = ["AAPL  261127C00200000", "SPY   261127C00600000", "SPY   261127P00590000"]
    trades, quotes = [], []
    for i in range(150):
        c = rng.choice(contracts)
        ts = rng.randrange(2 * age, 40 * age)
        trades.append({"ts": ts, "price": 1.1, "contract": c, "event_id": f"e{i}"})
        for offset in rng.sample([0, 1, age - 1, age, age + 1, 2 * age, ts % age], 3):
            quotes.append({"ts": ts - offset, "bid": 1.0, "ask": 1.2, "contract": c})
    for _ in range(600):  # background quotes, some crossed (never valid)
        bid = rng.choice([1.0, 1.3])
        quotes.append(
            {
                "ts": rng.randrange(0, 42 * age),
                "bid": bid,
                "ask": 1.2,
                "contract": rng.choice(contracts),
            }
        )
    quotes = [{**q, "seq": k, "ask": q["ask"] + k / 1e6} for k, q in enumerate(quotes)]
    out = enrich(trades, quotes)

    def latest(trade: dict) -> tuple[int, float] | None:
        seen = [
            (q["ts"], q["seq"], q["ask"])
            for q in quotes
            if q["contract"] == trade["contract"]
            and q["ts"] <= trade["ts"]
            and q["bid"] <= q["ask"]
        ]
        if not seen:
            return None
        ts, _, ask = max(seen)
        return (ts, ask) if trade["ts"] - ts <= age else None

    from tests.conftest import T0

    got = {
        r["event_id"]: None if r["nbbo_ts"] is None else (r["nbbo_ts"] - T0, r["nbbo_ask"])
        for r in out.iter_rows(named=True)
    }
    assert got == {t["event_id"]: latest(t) for t in trades}
    assert sum(v is not None for v in got.values()) > 100  # most prints do find a quote


def test_the_condition_policy_reads_as_rows_from_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rule 4's policy is data: a row per code, a named column per flag. By hand: OPRA 'S'
    (ISO) counts toward flow, is aggressor-eligible and is an ISO; 'f' (multi-leg) is
    complex and not eligible; a vendor's numeric 219 is 'S'. A malformed file (a flag that
    is not true/false, a code listed twice) fails with the file and the reason."""
    import assets.conditions as conditions

    opra = conditions.opra_policy()
    iso = opra.filter(pl.col("code") == "S").row(0, named=True)
    assert (iso["counts_flow"], iso["aggressor_eligible"], iso["iso"]) == (True, True, True)
    multi = opra.filter(pl.col("code") == "f").row(0, named=True)
    assert (multi["complex"], multi["aggressor_eligible"]) == (True, False)
    assert conditions.OPRA_NUMERIC["219"] == "S"
    flags = ("counts_flow", "iso")
    monkeypatch.setattr(conditions, "POLICY_DIR", tmp_path)
    (tmp_path / "bad.csv").write_text("code,description,counts_flow,iso\nS,iso,yes,true\n")
    with pytest.raises(ValueError, match=r"bad\.csv: flags must be true or false: counts_flow"):
        conditions._read("bad.csv", flags)
    (tmp_path / "twice.csv").write_text(
        "code,description,counts_flow,iso\nS,iso,true,true\nS,again,true,true\n"
    )
    with pytest.raises(ValueError, match=r"twice\.csv: a code is listed twice"):
        conditions._read("twice.csv", flags)
