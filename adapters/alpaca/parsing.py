"""Alpaca wire records (websocket msgpack / REST JSON) -> canonical raw frames.

Wire schemas: option trade ``{S, t, x, p, s, c}`` (``c`` one letter), option quote
``{S, t, ax, ap, as, bx, bp, bs, c}``; stock trade ``{S, t, i, x, p, s, c[], z}``, stock
quote ``{S, t, ax, ap, as, bx, bp, bs, c[], z}``. ``t`` is a msgpack Timestamp on the
stream (nanoseconds kept) and an RFC 3339 string over REST.
"""

from __future__ import annotations

from typing import Any

import msgpack
import polars as pl

from adapters.osi import from_compact

SOURCE = "alpaca"


def _ns(value: Any) -> int | str:
    """Return ns since the epoch for a msgpack Timestamp; RFC 3339 text stays text (parsed later)."""
    if isinstance(value, msgpack.Timestamp):
        return value.seconds * 1_000_000_000 + value.nanoseconds
    return str(value)


def _frame(rows: list[dict[str, Any]], columns: dict[str, pl.DataType]) -> pl.DataFrame:
    clean = [
        {k: (_ns(v) if k == "t" else v) for k, v in row.items() if k in columns} for row in rows
    ]
    frame = (
        pl.DataFrame(clean, schema={k: (pl.String if k == "t" else v) for k, v in columns.items()})
        if clean
        else pl.DataFrame(schema=columns)
    )
    # REST gives RFC 3339 strings, the stream ns integers (already text here): one parse.
    ts = pl.col("t")
    return frame.with_columns(
        pl.when(ts.str.contains("^[0-9]+$")).then(ts.cast(pl.Int64, strict=False))
        .otherwise(ts.str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_unit="ns", time_zone="UTC", strict=False).dt.epoch("ns"))
        .alias("t")
    )  # fmt: skip


def _common(tag: str, parts: list[pl.Expr]) -> list[pl.Expr]:
    return [
        pl.concat_str([pl.lit(f"alp-{tag}"), *parts], separator="-").alias("event_id"),
        pl.lit(SOURCE).alias("source"),
        pl.col("t").alias("ts_event"),
    ]


def option_trades(rows: list[dict[str, Any]], received_ns: int | None = None) -> pl.DataFrame:
    """Return canonical option trades. Alpaca option prints have no id: the id is their content."""
    f = _frame(
        rows,
        {
            "S": pl.String,
            "t": pl.Int64,
            "x": pl.String,
            "p": pl.Float64,
            "s": pl.Int64,
            "c": pl.String,
        },
    )
    return f.select(
        *_common("ot", [pl.col("S"), pl.col("t").cast(pl.String), pl.col("x"), pl.col("p").cast(pl.String), pl.col("s").cast(pl.String)]),
        (pl.lit(received_ns, pl.Int64) if received_ns is not None else pl.col("t")).alias("ts_recv"),
        from_compact(pl.col("S")).alias("contract"),
        pl.col("p").alias("price"),
        pl.col("s").alias("size"),
        pl.col("x").alias("exchange"),
        pl.when(pl.col("c").fill_null("").str.strip_chars() == "").then(pl.lit([], pl.List(pl.String))).otherwise(pl.concat_list(pl.col("c").str.strip_chars())).alias("conditions"),
        pl.lit(0, pl.Int64).alias("seq"),
    )  # fmt: skip


def _quotes(
    rows: list[dict[str, Any]], tag: str, key: str, received_ns: int | None
) -> pl.DataFrame:
    f = _frame(
        rows,
        {
            "S": pl.String,
            "t": pl.Int64,
            "bp": pl.Float64,
            "ap": pl.Float64,
            "bs": pl.Int64,
            "as": pl.Int64,
            "bx": pl.String,
            "ax": pl.String,
        },
    )
    instrument = from_compact(pl.col("S")) if key == "contract" else pl.col("S")
    return f.select(
        *_common(tag, [pl.col("S"), pl.col("t").cast(pl.String), pl.col("bp").cast(pl.String), pl.col("ap").cast(pl.String), pl.col("bs").cast(pl.String), pl.col("as").cast(pl.String)]),
        (pl.lit(received_ns, pl.Int64) if received_ns is not None else pl.col("t")).alias("ts_recv"),
        instrument.alias(key),
        pl.col("bp").alias("bid"),
        pl.col("ap").alias("ask"),
        pl.col("bs").alias("bid_size"),
        pl.col("as").alias("ask_size"),
        pl.lit(0, pl.Int64).alias("seq"),
        *([pl.lit("NBBO").alias("exchange")] if key == "contract" else []),
    )  # fmt: skip


def option_quotes(rows: list[dict[str, Any]], received_ns: int | None = None) -> pl.DataFrame:
    """Return canonical option quotes (Alpaca's option quote is the NBBO)."""
    return _quotes(rows, "oq", "contract", received_ns)


def stock_quotes(rows: list[dict[str, Any]], received_ns: int | None = None) -> pl.DataFrame:
    """Return canonical equity quotes."""
    return _quotes(rows, "eq", "symbol", received_ns)


def stock_trades(rows: list[dict[str, Any]], received_ns: int | None = None) -> pl.DataFrame:
    """Return canonical equity trades (``i`` is the SIP trade id, unique per symbol and venue)."""
    f = _frame(
        rows,
        {
            "S": pl.String,
            "t": pl.Int64,
            "i": pl.Int64,
            "x": pl.String,
            "p": pl.Float64,
            "s": pl.Int64,
            "c": pl.List(pl.String),
        },
    )
    return f.select(
        *_common("et", [pl.col("S"), pl.col("x"), pl.col("i").cast(pl.String), pl.col("t").cast(pl.String)]),
        (pl.lit(received_ns, pl.Int64) if received_ns is not None else pl.col("t")).alias("ts_recv"),
        pl.col("S").alias("symbol"),
        pl.col("p").alias("price"),
        pl.col("s").alias("size"),
        pl.col("x").alias("exchange"),
        pl.col("c").fill_null(pl.lit([], pl.List(pl.String))).alias("conditions"),
        pl.col("i").fill_null(0).alias("seq"),
    )  # fmt: skip
