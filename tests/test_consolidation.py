"""The NBBO from venue books (rule 1), and complete against sampled quote streams, by hand."""

from __future__ import annotations

import polars as pl
import pytest

from assets.nbbo import consolidate_venues, join_nbbo, nbbo_stream
from assets.thresholds import load_thresholds
from tests.conftest import T0

MS = 1_000_000
PARAMS = load_thresholds()


def books(rows: list[tuple]) -> pl.LazyFrame:
    """Venue quotes: (ms after 10:00, venue, bid, ask, bid size, ask size)."""
    return pl.LazyFrame(
        [
            {"contract": "C", "ts_event": T0 + ms * MS, "seq": i, "exchange": venue,
             "bid": bid, "ask": ask, "bid_size": bsz, "ask_size": asz,
             "source": "databento.mbp-1"}
            for i, (ms, venue, bid, ask, bsz, asz) in enumerate(rows)
        ],
        schema_overrides={"bid": pl.Float64, "ask": pl.Float64},
    )  # fmt: skip


def test_venues_joining_leaving_one_sided_and_crossing() -> None:
    nbbo = consolidate_venues(
        books(
            [
                (0, "C", 1.00, 1.20, 10, 10),  # C alone
                (1, "I", 1.05, 1.25, 5, 5),  # I joins: better bid
                (2, "X", 0.0, 1.15, 0, 3),  # X offers only (one-sided): better ask
                (3, "C", 1.05, 1.15, 7, 2),  # C matches both: sizes add up
                (4, "I", None, None, 0, 0),  # I leaves (empty book)
                (5, "X", 1.30, 1.40, 1, 1),  # X bids above C's offer: crossed
                (6, "X", 1.10, 1.15, 2, 4),  # uncrossed; 1.10 x 1.15 with C's 1.05 bid below
                (7, "C", 1.15, 1.15, 1, 1),  # C locks the market at 1.15
            ]
        )
    ).collect()
    assert nbbo.select("bid", "ask", "bid_size", "ask_size", "locked", "crossed").rows() == [
        (1.00, 1.20, 10, 10, False, False),
        (1.05, 1.20, 5, 10, False, False),
        (1.05, 1.15, 5, 3, False, False),
        (1.05, 1.15, 12, 5, False, False),  # C 7 + I 5 at 1.05; C 2 + X 3 at 1.15
        (1.05, 1.15, 7, 5, False, False),  # I gone
        (1.30, 1.15, 1, 2, False, True),  # X's bid over C's offer: crossed
        (1.10, 1.15, 2, 6, False, False),
        (1.15, 1.15, 1, 5, True, False),  # C's 1.15 bid meets C's (1) and X's (4) offer
    ]


def test_a_venue_that_empties_its_book_leaves_an_empty_nbbo() -> None:
    nbbo = consolidate_venues(books([(0, "C", 1.0, 1.1, 1, 1), (1, "C", None, None, 0, 0)]))
    assert nbbo.select("bid", "ask").collect().rows() == [(1.0, 1.1), (0.0, None)]


def prints(ms_prices: list[tuple[int, float]]) -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "contract": ["C"] * len(ms_prices),
            "ts_event": [T0 + ms * MS for ms, _ in ms_prices],
            "seq": list(range(len(ms_prices))),
            "price": [p for _, p in ms_prices],
        }
    )


def placements(trades: pl.LazyFrame, quotes: pl.LazyFrame) -> list[str]:
    return join_nbbo(trades, quotes, "contract", PARAMS).collect().get_column("placement").to_list()


def test_three_venues_place_trades_against_the_best_across_venues() -> None:
    """A day of one contract quoted by three venues; each placement by hand against the
    best bid and offer across venues, not the venue that updated last."""
    quotes = nbbo_stream(
        books(
            [
                (0, "C", 1.00, 1.20, 10, 10),
                (10, "I", 1.05, 1.30, 5, 5),  # NBBO 1.05 x 1.20
                (20, "X", 0.95, 1.10, 5, 5),  # NBBO 1.05 x 1.10 (X updated last, 0.95 bid)
                (5_000, "I", 1.08, 1.30, 5, 5),  # NBBO 1.08 x 1.10
                (9_000, "X", 1.12, 1.25, 5, 5),  # NBBO 1.12 x 1.20 (C's offer)
            ]
        )
    )
    # eps = max(0.01, 5% of the spread) = 0.01 throughout.
    # 30 ms, 1.10: NBBO 1.05 x 1.10 -> A.
    # 3 s, 1.06: the same NBBO, 3 s old (a complete stream: no age limit), 0.01 from the
    #   bid -> B. Against X's book alone (0.95 x 1.10), the venue that updated last: MID.
    # 6 s, 1.12: NBBO 1.08 x 1.10, 0.02 above the ask -> AA. Against I's book: MID.
    # 9.5 s, 1.22: NBBO 1.12 x 1.20, 0.02 above the ask -> AA. Against X's book (1.12 x 1.25): MID.
    # 9.5 s, 1.12: at the bid -> B.
    trades = prints([(30, 1.10), (3_000, 1.06), (6_000, 1.12), (9_500, 1.22), (9_500, 1.12)])
    assert placements(trades, quotes) == ["A", "B", "AA", "AA", "B"]


def test_crossed_or_empty_nbbo_in_force_places_nothing_even_after_a_good_one() -> None:
    quotes = nbbo_stream(
        books(
            [
                (0, "C", 1.00, 1.10, 1, 1),
                (0, "X", 1.00, 1.10, 1, 1),
                (100, "X", 1.20, 1.30, 1, 1),  # crosses C's 1.10 offer
                (300, "X", None, None, 0, 0),  # X leaves: C's 1.00 x 1.10 again
                (400, "C", None, None, 0, 0),  # C leaves: empty
            ]
        )
    )
    trades = prints([(50, 1.10), (200, 1.10), (350, 1.00), (500, 1.05)])
    out = join_nbbo(trades, quotes, "contract", PARAMS).collect()
    assert out.get_column("placement").to_list() == ["A", "NONE", "B", "NONE"]
    # The crossed NBBO is the one in force: its time is the evidence, no prices.
    assert out.get_column("nbbo_ts").to_list()[1] == T0 + 100 * MS
    assert out.get_column("nbbo_bid").to_list()[1] is None


def sampled(
    rows: list[tuple[int, float, float]], source: str = "databento.cbbo-1s"
) -> pl.LazyFrame:
    return pl.LazyFrame(
        [
            {"contract": "C", "ts_event": T0 + ms * MS, "seq": i, "exchange": "NBBO",
             "bid": bid, "ask": ask, "bid_size": 1, "ask_size": 1, "source": source}
            for i, (ms, bid, ask) in enumerate(rows)
        ]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("source", "expected"),
    [("databento.cmbp-1", "B"), ("databento.cbbo-1s", "NONE"), ("synthetic", "NONE")],
)
def test_age_limit_applies_to_sampled_streams_only(source: str, expected: str) -> None:
    # A print 2.5 s after the last NBBO change: from a complete stream that NBBO is in
    # force; from a sampled one (or a source flowlake knows nothing of) it is too old.
    quotes = nbbo_stream(sampled([(0, 1.00, 1.10)], source))
    assert placements(prints([(2_500, 1.00)]), quotes) == [expected]


def test_venue_snapshots_never_place_a_trade() -> None:
    tbbo = books([(0, "C", 1.00, 1.10, 1, 1)]).with_columns(
        pl.lit("databento.tbbo").alias("source")
    )
    assert placements(prints([(0, 1.10)]), nbbo_stream(tbbo)) == ["NONE"]


def test_a_complete_streams_crossed_or_empty_nbbo_lands_and_places_nothing() -> None:
    from adapters.schema import validate
    from tests.conftest import CONTRACT

    def quote(ms: int, bid: float | None, ask: float | None, source: str) -> dict:
        return {"event_id": f"q{ms}{source}", "source": source, "ts_event": T0 + ms * MS,
                "ts_recv": T0 + ms * MS, "contract": CONTRACT, "bid": bid, "ask": ask,
                "bid_size": 1, "ask_size": 1, "exchange": "NBBO", "seq": ms}  # fmt: skip

    rows = [quote(0, 1.0, 1.1, "databento.cmbp-1"), quote(10, 1.2, 1.1, "databento.cmbp-1"),
            quote(20, None, None, "databento.cmbp-1"), quote(30, 1.2, 1.1, "databento.cbbo-1s"),
            quote(40, None, None, "databento.cbbo-1s")]  # fmt: skip
    result = validate(
        "option_quotes", pl.DataFrame(rows, schema_overrides={"bid": pl.Float64, "ask": pl.Float64})
    )
    # A sampled stream's crossed or empty sample says nothing certain: quarantined.
    assert result.valid.get_column("ts_event").to_list() == [T0, T0 + 10 * MS, T0 + 20 * MS]
    assert result.quarantined.height == 2
    trades = pl.LazyFrame(
        {"contract": [CONTRACT] * 3, "ts_event": [T0 + 5 * MS, T0 + 15 * MS, T0 + 25 * MS],
         "seq": [0, 1, 2], "price": [1.1, 1.1, 1.1]}
    )  # fmt: skip
    assert placements(trades, nbbo_stream(result.valid.lazy())) == ["A", "NONE", "NONE"]
