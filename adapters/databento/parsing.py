"""DBN records -> canonical raw frames (docs/rules.md: the raw data), columnar, no pandas.

Records come from ``DBNStore.to_ndarray()`` (fixed-point prices, 1e-9 units, with
``INT64_MAX`` meaning "no price"). Instrument ids map to symbols through the store's
symbology mappings (OCC OSI symbols for OPRA); publisher ids map to exchange codes.
"""

from __future__ import annotations

import polars as pl
from databento import DBNStore, Schema

from adapters.calendar import trading_date_expr
from adapters.databento.venues import venue_table
from adapters.quotes import NBBO

SOURCE = "databento"
UNDEF_PRICE = 2**63 - 1
UNDEF_TIMESTAMP = 2**64 - 1
#: DBN prices are integers of 1e-9 (see :func:`_decimal`).
PRICE_UNITS = 1e9
#: Databento's "unset" sentinel for i32 fields such as ``contract_multiplier``.
UNDEF_I32 = 2**31 - 1
#: ``stat_type`` of open interest in Databento statistics records.
STAT_OPEN_INTEREST = 9
SAMPLED_SCHEMAS = {Schema.CBBO_1S, Schema.CBBO_1M, Schema.BBO_1S, Schema.BBO_1M}
QUOTE_SCHEMAS = {Schema.MBP_1, Schema.CMBP_1}
#: Schemas whose book is consolidated across OPRA's venues (the NBBO). The others (mbp-1,
#: tbbo, bbo-1s/1m) carry the top of book of the venue in ``publisher_id``.
CONSOLIDATED_SCHEMAS = {Schema.CMBP_1, Schema.TCBBO, Schema.CBBO_1S, Schema.CBBO_1M}


def records(store: DBNStore) -> pl.DataFrame:
    """Return the store's records as a polars frame (bytes fields decoded to text)."""
    array = store.to_ndarray()
    if len(array) == 0:
        return pl.DataFrame()
    frame = pl.from_numpy(array)
    frame = frame.drop([c for c in frame.columns if c.startswith("_reserved")])
    # Timestamps are u64 ns with u64::MAX as "undefined": int64 with nulls from here on.
    frame = frame.with_columns(
        pl.when(pl.col(c) == UNDEF_TIMESTAMP)
        .then(None)
        .otherwise(pl.col(c))
        .cast(pl.Int64)
        .alias(c)
        for c, t in frame.schema.items()
        if c.startswith("ts_") and t == pl.UInt64
    )
    return frame.with_columns(
        pl.col(c).cast(pl.Binary).cast(pl.String, strict=False)
        for c, t in frame.schema.items()
        if t == pl.Binary
    )


def symbol_map(store: DBNStore) -> pl.DataFrame:
    """Return (instrument_id, symbol, start_date, end_date) from the store's symbology."""
    rows = [
        (int(interval["symbol"]), raw, interval["start_date"], interval["end_date"])
        for raw, intervals in store.metadata.mappings.items()
        for interval in intervals
        if str(interval["symbol"]).isdigit()
    ]
    return pl.DataFrame(
        rows,
        schema={
            "instrument_id": pl.UInt32,
            "symbol": pl.String,
            "start_date": pl.Date,
            "end_date": pl.Date,
        },
        orient="row",
    )


def _with_symbols(frame: pl.DataFrame, store: DBNStore) -> pl.DataFrame:
    """Attach each record's symbol valid on its UTC date (mappings are by date)."""
    day = pl.from_epoch(pl.col("ts_event").cast(pl.Int64), time_unit="ns").dt.date()
    mapped = frame.with_columns(day.alias("_day")).join(
        symbol_map(store), on="instrument_id", how="left"
    )
    return mapped.filter(
        pl.col("symbol").is_null()
        | ((pl.col("_day") >= pl.col("start_date")) & (pl.col("_day") < pl.col("end_date")))
    ).drop("_day", "start_date", "end_date")


def _decimal(fixed: pl.Expr) -> pl.Expr:
    """Return DBN fixed-point prices as floats, each the float nearest its decimal value.

    Divided in numpy: polars turns a division by a constant into a multiplication by its
    reciprocal, and 1_200_000_000 * 1e-9 is 1.2000000000000002, a price no venue quoted.
    """
    return fixed.cast(pl.Float64).map_batches(
        lambda s: pl.Series(s.name, s.to_numpy() / PRICE_UNITS),
        return_dtype=pl.Float64,
        is_elementwise=True,
    )


def _price(col: str) -> pl.Expr:
    return (
        pl.when(pl.col(col) == UNDEF_PRICE).then(None).otherwise(_decimal(pl.col(col))).alias(col)
    )


def _exchange(frame: pl.DataFrame, options: bool) -> pl.Expr:
    table = venue_table(frame.get_column("publisher_id").unique().to_list(), options)
    return (
        pl.col("publisher_id")
        .cast(pl.Int64)
        .replace_strict(table, return_dtype=pl.String)
        .alias("exchange")
    )


def _ids(tag: str, seq: str) -> pl.Expr:
    return pl.concat_str(
        pl.lit(f"db-{tag}"),
        pl.col("publisher_id"),
        pl.col("instrument_id"),
        pl.col("ts_event"),
        pl.col(seq),
        separator="-",
    ).alias("event_id")


def _common(tag: str, seq: str, source: str = SOURCE) -> list[pl.Expr]:
    return [
        _ids(tag, seq),
        pl.lit(source).alias("source"),
        pl.col("ts_event").cast(pl.Int64),
        pl.col("ts_recv").cast(pl.Int64),
        pl.col(seq).cast(pl.Int64).alias("seq"),
    ]


def _prints(frame: pl.DataFrame) -> pl.DataFrame:
    """Return the records that are prints: those with action ``T``, or every record of a
    schema without actions (a tcbbo record is a print and the book before it)."""
    return frame.filter(pl.col("action") == "T") if "action" in frame.columns else frame


def _trades(frame: pl.DataFrame, options: bool) -> pl.DataFrame:
    key = "contract" if options else "symbol"
    out = _prints(frame).select(
        *_common("t", _sequence(frame)),
        pl.col("symbol").alias(key),
        _price("price").alias("price"),
        pl.col("size").cast(pl.Int64),
        _exchange(frame, options),
        # DBN trades carry no sale conditions (OPRA side is always N: the NBBO decides).
        pl.lit([], pl.List(pl.String)).alias("conditions"),
    )
    return out


def quote_source(schema: Schema | str) -> str:
    """Return the ``source`` of quotes from a schema (``databento.cmbp-1``): what the book
    is (consolidated or one venue's) and whether it holds every change or samples them
    (:data:`adapters.quotes.QUOTE_SOURCES`) depends on it."""
    return f"{SOURCE}.{Schema(schema).value}"


def _quotes(frame: pl.DataFrame, options: bool, seq: str, schema: Schema) -> pl.DataFrame:
    key = "contract" if options else "symbol"
    # Options: a consolidated book is the NBBO; a venue's book keeps its venue, and never
    # places a trade unless flowlake consolidates every venue's book (adapters.quotes).
    exchange = (
        [
            pl.lit(NBBO).alias("exchange")
            if schema in CONSOLIDATED_SCHEMAS
            else _exchange(frame, True)
        ]
        if options
        else []
    )
    return frame.select(
        *_common("q", seq, quote_source(schema)),
        pl.col("symbol").alias(key),
        # A one-sided book (an ask, no bid) is a zero bid, as OPRA shows "no bid"; a book
        # with neither side stays empty and is quarantined on landing.
        pl.when(pl.col("bid_px_00") == UNDEF_PRICE)
        .then(pl.when(pl.col("ask_px_00") == UNDEF_PRICE).then(None).otherwise(0.0))
        .otherwise(_decimal(pl.col("bid_px_00")))
        .alias("bid"),
        _price("ask_px_00").alias("ask"),
        pl.col("bid_sz_00").cast(pl.Int64).alias("bid_size"),
        pl.col("ask_sz_00").cast(pl.Int64).alias("ask_size"),
        *exchange,
    )


def parse(store: DBNStore) -> dict[str, pl.DataFrame]:
    """Return the canonical frames in one DBN store, keyed by stream.

    ``definition`` stores give ``option_contracts`` (contract metadata used to fill
    multipliers), ``statistics`` give ``option_open_interest``.

    Raises
    ------
    ValueError
        For a schema this adapter does not turn into canonical rows.
    """
    options = str(store.dataset).startswith("OPRA")
    raw = records(store)
    if raw.is_empty():
        return {}
    frame = _with_symbols(raw, store)
    trades = "option_trades" if options else "equity_trades"
    quotes = "option_quotes" if options else "equity_quotes"
    match store.schema:
        case Schema.TRADES:
            return {trades: _trades(frame, options)}
        case Schema.TBBO | Schema.TCBBO:
            # The BBO of a tbbo (tcbbo) record is the venue's (the consolidated) book just
            # before its trade: a quote at the trade's own timestamp, which the backward
            # as-of join still matches.
            return {
                trades: _trades(frame, options),
                quotes: _quotes(_prints(frame), options, _sequence(frame), store.schema),
            }
        case schema if schema in SAMPLED_SCHEMAS:
            # A sampled book (cbbo-1s, bbo-1m, ...) is the state at the end of its interval,
            # known only then: dating it at its last change (ts_event) would let it place
            # trades that happened at that same instant but before the change.
            sampled = frame.with_columns(pl.col("ts_recv").alias("ts_event"))
            return {quotes: _quotes(sampled, options, "ts_recv", schema)}
        case schema if schema in QUOTE_SCHEMAS:
            return {quotes: _quotes(frame, options, _sequence(frame), schema)}
        case Schema.DEFINITION:
            return {"option_contracts": _definitions(frame)} if options else {}
        case Schema.STATISTICS:
            return {"option_open_interest": _open_interest(frame)}
        case other:
            raise ValueError(f"unsupported Databento schema {other} in {store.dataset}")


def _sequence(frame: pl.DataFrame) -> str:
    """Return the column that orders records sharing a timestamp: ``sequence`` where the
    schema has it (cmbp-1 and tcbbo records have none: their receive time orders them)."""
    return "sequence" if "sequence" in frame.columns else "ts_recv"


def _definitions(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        pl.col("raw_symbol").alias("contract"),
        pl.col("underlying"),
        pl.when(pl.col("contract_multiplier") == UNDEF_I32)
        .then(100)
        .otherwise(pl.col("contract_multiplier"))
        .cast(pl.Int64)
        .alias("multiplier"),
        _price("strike_price").alias("strike"),
        pl.col("instrument_class").alias("right"),
    ).unique("contract", keep="last", maintain_order=True)


def _open_interest(frame: pl.DataFrame) -> pl.DataFrame:
    oi = frame.filter(pl.col("stat_type") == STAT_OPEN_INTEREST)
    day = trading_date_expr(pl.col("ts_event").cast(pl.Int64))
    # One record per venue carries the same OCC figure: keep the latest per contract and day.
    return (
        oi.with_columns(day.alias("date"))
        .sort("ts_event", "publisher_id")
        .group_by("symbol", "date", maintain_order=True)
        .agg(pl.col("quantity").last().cast(pl.Int64).alias("open_interest"))
        .select(
            pl.concat_str(
                pl.lit("db-oi"),
                pl.col("symbol").str.replace_all(" ", ""),
                pl.col("date").cast(pl.String),
                separator="-",
            ).alias("event_id"),
            pl.lit(SOURCE).alias("source"),
            "date",
            pl.col("symbol").alias("contract"),
            "open_interest",
        )
    )


def apply_definitions(trades: pl.DataFrame, contracts: pl.DataFrame | None) -> pl.DataFrame:
    """Return option trades with ``multiplier`` (and ``underlying``) from definitions where known."""
    if contracts is None or contracts.is_empty():
        return trades
    return trades.join(
        contracts.select("contract", "multiplier", "underlying"), on="contract", how="left"
    )
