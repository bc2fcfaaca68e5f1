"""The validator: bad rows go to quarantine with a reason; nothing is lost."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.calendar import ny_ns
from adapters.schema import QUARANTINE_SCHEMA, STREAMS, landed_schema, validate
from tests.conftest import CONTRACT, DAY, T0


def raw_trade(**over: object) -> dict:
    row = {
        "event_id": "e1", "source": "test", "ts_event": T0, "ts_recv": T0 + 5,
        "contract": CONTRACT, "price": 1.25, "size": 10, "exchange": "C", "conditions": ["I"],
    }  # fmt: skip
    row.update(over)
    return row


def reasons(stream: str, rows: list[dict]) -> list[str]:
    return validate(stream, pl.DataFrame(rows)).quarantined.get_column("reason").to_list()


def test_valid_trade_lands_with_parsed_contract_fields() -> None:
    result = validate("option_trades", pl.DataFrame([raw_trade()]))
    assert result.quarantined.height == 0
    row = result.valid.row(0, named=True)
    assert (row["underlying"], row["expiry"], row["right"], row["strike"]) == (
        "SPY",
        dt.date(2026, 11, 27),
        "C",
        600.0,
    )
    assert row["multiplier"] == 100 and row["date"] == DAY
    assert result.valid.schema == pl.Schema(landed_schema("option_trades"))


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"price": None}, "price not a positive finite number"),
        ({"price": -1.0}, "price not a positive finite number"),
        ({"price": float("nan")}, "price not a positive finite number"),
        ({"size": 0}, "size <= 0 or missing"),
        ({"contract": "SPY 12C"}, "unparseable OCC OSI contract symbol"),
        (
            {"ts_event": ny_ns(DAY, dt.time(3, 0))},
            "ts_event outside the trading session of its date",
        ),
        (
            {"ts_event": ny_ns(dt.date(2026, 11, 26), dt.time(10, 0))},
            "ts_event outside the trading session of its date",
        ),
        ({"event_id": None}, "missing event_id"),
    ],
)
def test_bad_trade_is_quarantined_with_reason(override: dict, reason: str) -> None:
    assert reason in reasons("option_trades", [raw_trade(**override)])[0]


def test_crossed_quote_quarantined_locked_quote_valid() -> None:
    base = {
        "event_id": "q",
        "source": "t",
        "ts_event": T0,
        "ts_recv": T0,
        "contract": CONTRACT,
        "bid_size": 1,
        "ask_size": 1,
    }
    crossed = validate("option_quotes", pl.DataFrame([{**base, "bid": 1.2, "ask": 1.1}]))
    locked = validate("option_quotes", pl.DataFrame([{**base, "bid": 1.1, "ask": 1.1}]))
    assert crossed.quarantined.get_column("reason").to_list() == ["crossed quote (bid > ask)"]
    assert locked.valid.height == 1


def test_missing_column_quarantines_whole_batch() -> None:
    result = validate("equity_trades", pl.DataFrame({"event_id": ["a", "b"], "price": [1.0, 2.0]}))
    assert result.valid.height == 0
    assert result.quarantined.height == 2
    assert result.quarantined.get_column("reason")[0].startswith("missing column(s): ")


def test_duplicates_in_batch_exact_copy_collapses_conflict_quarantined() -> None:
    rows = [raw_trade(), raw_trade(), raw_trade(price=9.99)]
    result = validate("option_trades", pl.DataFrame(rows))
    assert result.valid.height == 1 and result.valid.get_column("price")[0] == 1.25
    assert result.quarantined.get_column("reason").to_list() == [
        "duplicate event_id with different content in batch"
    ]


def test_validation_hands_over_the_valid_ids_hashes_as_the_landing_job_computes_them() -> None:
    """One bad row among three: the hashes are the two valid rows', in order, equal to the
    landing job's own (so the job keys rows the same either way), also for ids sent as
    numbers. A batch with a repeated id hands none over."""
    import numpy as np

    from lake.ingest import key_hashes

    rows = [raw_trade(event_id="a"), raw_trade(event_id="b", price=-1.0), raw_trade(event_id="c")]
    result = validate("option_trades", pl.DataFrame(rows))
    assert result.valid.get_column("event_id").to_list() == ["a", "c"]
    assert result.id_hashes is not None
    assert np.array_equal(result.id_hashes, key_hashes(result.valid, "event_id"))
    repeated = validate("option_trades", pl.DataFrame([raw_trade(), raw_trade()]))
    assert repeated.valid.height == 1 and repeated.id_hashes is None
    numbers = validate("option_trades", pl.DataFrame([raw_trade(event_id=7)]))
    assert numbers.valid.get_column("event_id").to_list() == ["7"]
    assert np.array_equal(numbers.id_hashes, key_hashes(numbers.valid, "event_id"))


def test_loose_csv_types_are_cast_or_quarantined() -> None:
    frame = pl.DataFrame(
        {
            "event_id": ["a", "b"], "source": ["csv", "csv"], "ts_event": [str(T0), "yesterday"],
            "ts_recv": [str(T0), str(T0)], "symbol": ["AAPL", "AAPL"], "price": ["190.5", "190.5"],
            "size": ["100", "100"], "exchange": ["D", "D"], "conditions": ["@ I", ""],
        }
    )  # fmt: skip
    result = validate("equity_trades", frame)
    assert result.valid.get_column("conditions").to_list() == [["@", "I"]]
    assert "ts_event has the wrong type" in result.quarantined.get_column("reason")[0]


def test_quarantine_keeps_payload_and_schema() -> None:
    result = validate("option_trades", pl.DataFrame([raw_trade(price=-3.0)]))
    assert result.quarantined.schema == pl.Schema(QUARANTINE_SCHEMA)
    assert '"price":-3.0' in result.quarantined.get_column("payload")[0]


def test_unknown_stream_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown stream"):
        validate("nope", pl.DataFrame())


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "event_id": st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d"])),
                "price": st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
                "size": st.one_of(st.none(), st.integers(-5, 5_000)),
                "offset_s": st.integers(-20_000, 40_000),
            }
        ),
        max_size=25,
    )
)
def test_rows_in_equal_valid_plus_quarantined_plus_exact_duplicates(rows: list[dict]) -> None:
    if not rows:
        return
    frame = pl.DataFrame(
        [
            raw_trade(
                event_id=r["event_id"],
                price=r["price"],
                size=r["size"],
                ts_event=T0 + r["offset_s"] * 10**9,
            )
            for r in rows
        ],
        schema_overrides={"price": pl.Float64, "size": pl.Int64, "event_id": pl.String},
    )
    result = validate("option_trades", frame)
    # Exact copies of a row that landed collapse into it; every other row is accounted for.
    keys = ["event_id", "price", "size", "ts_event"]
    copies = (
        frame.group_by(keys)
        .len()
        .join(result.valid.select(keys), on=keys, how="inner", nulls_equal=True)
    )
    collapsed = int((copies.get_column("len") - 1).sum())
    assert result.valid.height + result.quarantined.height + collapsed == frame.height
    assert result.valid.get_column("event_id").is_unique().all()
    assert (result.valid.get_column("price") > 0).all()
    assert (result.valid.get_column("size") > 0).all()


@pytest.mark.parametrize("stream", STREAMS)
def test_every_stream_accepts_its_own_empty_schema(stream: str) -> None:
    empty = pl.DataFrame(
        schema={
            k: v
            for k, v in landed_schema(stream).items()
            if k != "date" or stream == "option_open_interest"
        }
    )
    result = validate(stream, empty)
    assert result.valid.height == 0 and result.quarantined.height == 0


@pytest.mark.parametrize("stream", STREAMS)
def test_arrow_schema_matches_the_landing_schema(stream: str) -> None:
    from adapters.schema import arrow_schema

    schema = arrow_schema(stream)
    assert schema.names == list(landed_schema(stream))
    assert pl.DataFrame(schema=landed_schema(stream)).to_arrow().schema.equals(schema)


def test_rows_of_another_day_are_quarantined_when_landing_a_partition() -> None:
    import datetime as dt

    from adapters.calendar import ny_ns

    other = ny_ns(dt.date(2026, 11, 25), dt.time(10))
    result = validate(
        "option_trades",
        pl.DataFrame([raw_trade(), raw_trade(event_id="e2", ts_event=other)]),
        day=DAY,
    )
    assert result.valid["event_id"].to_list() == ["e1"]
    assert result.quarantined["reason"].to_list() == [
        "trading date 2026-11-25 is not the partition being landed (2026-11-24)"
    ]
