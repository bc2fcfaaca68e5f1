"""Canonical raw schemas (docs/rules.md: the raw data) and the validator that guards landing.

One place for every landing table's columns and types. :func:`validate` splits a batch
into rows that may land and rows that go to ``quarantine`` with a reason; nothing is
dropped silently, so ``rows in == valid + quarantined`` always holds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl
import pyarrow as pa

from adapters.calendar import session_windows, trading_date_within
from adapters.osi import parse_osi_columns
from adapters.quotes import COMPLETE_SOURCES

Stream = Literal[
    "option_trades", "option_quotes", "equity_trades", "equity_quotes", "option_open_interest"
]

_COMMON: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "source": pl.String(),
    "ts_event": pl.Int64(),
    "ts_recv": pl.Int64(),
}

#: Column -> dtype per landing table, in landing order (``date`` is added by the validator).
RAW_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "option_trades": {
        **_COMMON,
        "contract": pl.String(),
        "underlying": pl.String(),
        "expiry": pl.Date(),
        "strike": pl.Float64(),
        "right": pl.String(),
        "multiplier": pl.Int64(),
        "price": pl.Float64(),
        "size": pl.Int64(),
        "exchange": pl.String(),
        "conditions": pl.List(pl.String()),
        "seq": pl.Int64(),
        "ref_event_id": pl.String(),
    },
    "option_quotes": {
        **_COMMON,
        "contract": pl.String(),
        "bid": pl.Float64(),
        "ask": pl.Float64(),
        "bid_size": pl.Int64(),
        "ask_size": pl.Int64(),
        "exchange": pl.String(),
        "seq": pl.Int64(),
    },
    "equity_trades": {
        **_COMMON,
        "symbol": pl.String(),
        "price": pl.Float64(),
        "size": pl.Int64(),
        "exchange": pl.String(),
        "conditions": pl.List(pl.String()),
        "seq": pl.Int64(),
        "ref_event_id": pl.String(),
    },
    "equity_quotes": {
        **_COMMON,
        "symbol": pl.String(),
        "bid": pl.Float64(),
        "ask": pl.Float64(),
        "bid_size": pl.Int64(),
        "ask_size": pl.Int64(),
        "seq": pl.Int64(),
    },
    "option_open_interest": {
        "event_id": pl.String(),
        "source": pl.String(),
        "date": pl.Date(),
        "contract": pl.String(),
        "open_interest": pl.Int64(),
    },
}

STREAMS: tuple[str, ...] = tuple(RAW_SCHEMAS)

#: The quarantine reason of a row whose event_id is landed already with other content: the
#: stored row stays (a landed row is never rewritten), and the new one is kept in quarantine.
CONFLICT = "duplicate event_id with different content than the landed row"

#: How a valid row of another trading day than the one being landed starts its reason.
OTHER_DAY = "trading date"

#: A column a file reader adds for rows it could not read whole (cut short, too many
#: fields): :func:`validate` quarantines such a row with the column's text as its reason.
ROW_ERROR = "_row_error"

#: Columns an adapter may leave out; the validator fills them as documented.
_DEFAULTS: dict[str, pl.Expr] = {
    "multiplier": pl.lit(100, pl.Int64),
    "conditions": pl.lit([], pl.List(pl.String())),
    "seq": pl.lit(0, pl.Int64),
    "exchange": pl.lit("NBBO"),
    # The print a cancel/correction refers to, where the source says so (else matched later).
    "ref_event_id": pl.lit(None, pl.String),
}

#: The largest value a raw column may hold; a row beyond it is quarantined with the bound in
#: its reason. Far above any real print (the dearest US stock trades near $750k, the largest
#: option blocks are ~10^5 contracts, deep index calls ~$10^4), and low enough that every
#: derived product and sum stays finite and exact: a print's premium is below 10^15 dollars,
#: and a day's share or contract volume below 2^63 for any count of prints a day can hold.
BOUNDS: dict[str, float] = {
    "option_price": 1e6,
    "equity_price": 1e7,
    "strike": 1e6,
    "option_size": 1e6,
    "equity_size": 1e9,
    "multiplier": 1e3,
    "quote_size": 1e9,
    "open_interest": 1e9,
}

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "quarantine_id": pl.String(),
    "date": pl.Date(),
    "stream": pl.String(),
    "source": pl.String(),
    "event_id": pl.String(),
    "ts_recv": pl.Int64(),
    "reason": pl.String(),
    "payload": pl.String(),
}


def landed_schema(stream: str) -> dict[str, pl.DataType]:
    """Return the schema of a landing table: the raw columns plus the ``date`` partition."""
    schema = dict(RAW_SCHEMAS[stream])
    schema.setdefault("date", pl.Date())
    return schema


def arrow_schema(stream: str) -> pa.Schema:
    """Return the pyarrow schema of a landing table as written to Delta (for readers that
    bypass polars): the types of ``DataFrame.to_arrow()``, large strings and lists."""
    return pl.DataFrame(schema=landed_schema(stream)).to_arrow().schema


@dataclass(frozen=True)
class ValidationResult:
    """A batch split by :func:`validate`.

    Attributes
    ----------
    valid
        Rows in the landing schema (with ``date``), one per ``event_id``.
    quarantined
        Rows in :data:`QUARANTINE_SCHEMA`, each with the raw payload and its reasons.
    id_hashes
        The 64-bit hashes of ``valid``'s ``event_id`` (``Series.hash(seed=0)``), one per
        row in order, when validation computed them (None otherwise): a landing job keys
        its rows on these and need not hash the ids again.
    """

    valid: pl.DataFrame
    quarantined: pl.DataFrame
    id_hashes: np.ndarray | None = None


def _rules(stream: str) -> list[tuple[str, pl.Expr]]:
    """Return ``(reason, expression true when the row breaks the rule)`` for a stream."""
    rules: list[tuple[str, pl.Expr]] = [
        ("missing event_id", pl.col("event_id").is_null() | (pl.col("event_id") == "")),
        ("missing source", pl.col("source").is_null()),
    ]
    if stream != "option_open_interest":
        rules += [
            ("missing ts_event", pl.col("ts_event").is_null()),
            ("missing ts_recv", pl.col("ts_recv").is_null()),
        ]
    kind = "option" if stream.startswith("option") else "equity"
    if stream in ("option_trades", "equity_trades"):
        rules += [
            ("price not a positive finite number", ~_positive_finite("price")),
            _above("price", f"{kind}_price"),
            ("size <= 0 or missing", pl.col("size").is_null() | (pl.col("size") <= 0)),
            _above("size", f"{kind}_size"),
            ("missing exchange", pl.col("exchange").is_null() | (pl.col("exchange") == "")),
        ]
    if stream in ("option_quotes", "equity_quotes"):
        both = pl.col("bid").is_not_null() & pl.col("ask").is_not_null()
        # In a complete change stream a crossed or empty NBBO is the state in force: kept,
        # it places nothing (rule 1); quarantined, the NBBO before it would place prints.
        complete = pl.col("source").is_in(COMPLETE_SOURCES)
        empty = pl.col("bid").is_null() & pl.col("ask").is_null()
        rules += [
            ("bid not a finite number >= 0", ~_nonnegative_finite("bid") & ~(complete & empty)),
            ("ask not a finite number >= 0", ~_nonnegative_finite("ask") & ~(complete & empty)),
            (
                "crossed quote (bid > ask)",
                both & (pl.col("bid") > pl.col("ask")) & (pl.col("ask") > 0) & ~complete,
            ),
            ("negative quote size", (pl.col("bid_size") < 0) | (pl.col("ask_size") < 0)),
            _above("bid", f"{kind}_price"),
            _above("ask", f"{kind}_price"),
            _above("bid_size", "quote_size"),
            _above("ask_size", "quote_size"),
        ]
    if stream in OSI_STREAMS:
        parsed = _osi_columns()
        rules.append(("unparseable OCC OSI contract symbol", parsed["expiry"].is_null()))
    if stream == "option_trades":
        parsed = _osi_columns()
        rules += [
            ("right not C or P", ~pl.col("right").is_in(["C", "P"]).fill_null(False)),
            ("strike not a positive finite number", ~_positive_finite("strike")),
            _above("strike", "strike"),
            ("multiplier <= 0", pl.col("multiplier").is_null() | (pl.col("multiplier") <= 0)),
            _above("multiplier", "multiplier"),
            (
                "contract symbol disagrees with underlying/expiry/right/strike",
                # Only judged when the symbol parses: an unparseable one is reported above.
                (
                    # An adjusted series (AAPL1) keeps its underlying's symbol before
                    # the digit; an index root (SPXW) is in the roots table.
                    (
                        (parsed["underlying"] != pl.col("underlying"))
                        & (parsed["root"].str.replace(r"\d+$", "") != pl.col("underlying"))
                    )
                    | (parsed["expiry"] != pl.col("expiry"))
                    | (parsed["right"] != pl.col("right"))
                    | ((parsed["strike"] - pl.col("strike")).abs() > 5e-4)
                ).fill_null(False),
            ),
        ]
    if stream in ("equity_trades", "equity_quotes"):
        rules.append(
            (
                "unparseable symbol",
                ~pl.col("symbol").str.contains(r"^[A-Z][A-Z0-9.\-/]{0,9}$").fill_null(False),
            )
        )
    if stream == "option_open_interest":
        rules += [
            ("missing date", pl.col("date").is_null()),
            ("open_interest < 0 or missing", pl.col("open_interest").fill_null(-1) < 0),
            _above("open_interest", "open_interest"),
        ]
    return rules


def _above(col: str, bound: str) -> tuple[str, pl.Expr]:
    """Return the rule that ``col`` is at most ``BOUNDS[bound]`` (a null passes: other rules
    judge a missing value)."""
    limit = BOUNDS[bound]
    return (f"{col} above the bound of {limit:,.0f}", (pl.col(col) > limit).fill_null(False))


def _positive_finite(col: str) -> pl.Expr:
    return pl.col(col).is_not_null() & pl.col(col).is_finite() & (pl.col(col) > 0)


def _nonnegative_finite(col: str) -> pl.Expr:
    return pl.col(col).is_not_null() & pl.col(col).is_finite() & (pl.col(col) >= 0)


def _whole_number(col: pl.Expr, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr]:
    """Return ``col`` (text or float) as Int64, and whether it holds a fraction.

    A size of 10.7 is not ten contracts: it lands nowhere (null, hence "wrong type") and
    the second expression names why. 10.0, from a Parquet float column or a CSV cell, is
    10, so both file types judge a value the same way. Digits are parsed as an integer
    first: a float holds integers exactly only up to 2^53.
    """
    number = col.str.strip_chars().cast(pl.Float64, strict=False) if dtype == pl.String() else col
    whole = number.is_finite() & (number.floor() == number) & (number.abs() < 2.0**63)
    direct = col.str.strip_chars().cast(pl.Int64, strict=False) if dtype == pl.String() else None
    as_int = pl.when(whole).then(number.cast(pl.Int64, strict=False))
    target = as_int if direct is None else direct.fill_null(as_int)
    return target, (number.is_finite() & (number.floor() != number)).fill_null(False)


#: The streams keyed by an OCC OSI contract symbol.
OSI_STREAMS = ("option_trades", "option_quotes", "option_open_interest")


#: The parts of an OSI symbol (the keys of ``parse_osi_columns``).
_OSI_FIELDS = ("root", "underlying", "expiry", "right", "strike")


def _osi_columns() -> dict[str, pl.Expr]:
    """Return the columns :func:`_with_osi` adds, by the names of ``parse_osi_columns``."""
    return {name: pl.col(f"_osi_{name}") for name in _OSI_FIELDS}


def _with_osi(frame: pl.DataFrame, fields: tuple[str, ...]) -> pl.DataFrame:
    """Return ``frame`` with the ``fields`` of its contract symbols parsed
    (:func:`_osi_columns`).

    Each distinct symbol is parsed once and each row takes its symbol's values by position:
    a day's quotes name a few thousand contracts in millions of rows, and parsing the text
    is the costly part (a join to the parsed symbols copied every column of the frame).
    """
    text = pl.col("contract").cast(pl.String, strict=False)
    names = frame.select(text.drop_nulls().unique().sort()).to_series()
    parsed = pl.DataFrame({"_osi_key": names}).select(
        **{k: e for k, e in parse_osi_columns(pl.col("_osi_key")).items() if k in fields}
    )
    at = frame.select(text.cast(pl.Enum(names), strict=False).to_physical()).to_series()
    return frame.with_columns(parsed.get_column(k).gather(at).alias(f"_osi_{k}") for k in fields)


def _fill_from_osi(frame: pl.DataFrame) -> pl.DataFrame:
    """Fill underlying/expiry/right/strike from the OSI symbol where an adapter left them out."""
    parsed = _osi_columns()
    fills = []
    for name, dtype in (
        ("underlying", pl.String()),
        ("expiry", pl.Date()),
        ("right", pl.String()),
        ("strike", pl.Float64()),
    ):
        fills.append(
            (pl.col(name) if name in frame.columns else pl.lit(None, dtype))
            .fill_null(parsed[name])
            .alias(name)
        )
    return frame.with_columns(fills)


def _payload_expr(columns: list[str]) -> pl.Expr:
    """Return an expression serialising each row's original values as JSON text."""
    return pl.struct([pl.col(c) for c in columns]).struct.json_encode()


def validate(
    stream: str, batch: pl.DataFrame, *, source: str | None = None, day: dt.date | None = None
) -> ValidationResult:
    """Split a raw batch into landable rows and quarantined rows.

    Parameters
    ----------
    stream
        One of :data:`STREAMS`.
    batch
        Raw rows; columns may arrive with loose types (strings for numbers, say), which
        are cast here. Columns beyond the schema are ignored.
    source
        Fills ``source`` where the batch has no such column.
    day
        The partition being landed: valid rows of another trading date are quarantined
        with that reason (landing a partition writes that partition only).

    Returns
    -------
    ValidationResult
        ``valid`` in the landing schema (plus ``date``, the New York trading date of
        ``ts_event``), and ``quarantined`` rows with every reason that applied. A row
        whose ``event_id`` repeats an earlier row of the batch is quarantined as a
        duplicate unless it is an exact copy, which is simply collapsed.

    Raises
    ------
    ValueError
        For an unknown stream name.
    """
    if stream not in RAW_SCHEMAS:
        raise ValueError(f"unknown stream {stream!r}; expected one of {', '.join(STREAMS)}")
    schema = RAW_SCHEMAS[stream]
    # The raw payload is kept for quarantined rows only: encoding every row as JSON would
    # cost more than the rest of validation on a clean batch.
    original = batch.with_row_index("_row")
    frame = original
    if "source" not in frame.columns:
        frame = frame.with_columns(pl.lit(source, pl.String).alias("source"))
    if stream in OSI_STREAMS and "contract" in frame.columns:
        # Trades are checked against every part of their symbol; the others only parse it.
        frame = _with_osi(frame, _OSI_FIELDS if stream == "option_trades" else ("expiry",))
    if stream in ("option_trades",) and "contract" in frame.columns:
        frame = _fill_from_osi(frame.with_columns(pl.col("contract").cast(pl.String, strict=False)))

    missing = [c for c in schema if c not in frame.columns and c not in _DEFAULTS]
    if missing:
        reason = f"missing column(s): {', '.join(missing)}"
        return ValidationResult(
            valid=pl.DataFrame(schema=landed_schema(stream)),
            quarantined=_quarantine_frame(
                frame.with_columns(pl.lit([reason], pl.List(pl.String)).alias("_reasons")),
                stream,
                original,
            ),
        )

    casts: list[pl.Expr] = []
    cast_failures: list[pl.Expr] = []
    for name, dtype in schema.items():
        if name not in frame.columns:
            casts.append(_DEFAULTS[name].alias(name))
            continue
        col = pl.col(name)
        if dtype == pl.Date() and frame.schema[name] == pl.String():
            target = col.str.to_date(strict=False)
        elif isinstance(dtype, pl.List) and frame.schema[name] == pl.String():
            # A CSV carries conditions as one space/comma/semicolon separated field.
            target = (
                col.str.replace_all(r"[;,]", " ")
                .str.split(" ")
                .list.eval(pl.element().filter(pl.element() != ""))
            )
        elif dtype == pl.Int64() and frame.schema[name] in (
            pl.String(),
            pl.Float32(),
            pl.Float64(),
        ):
            target, fractional = _whole_number(col, frame.schema[name])
            failed = pl.when(fractional).then(pl.lit(f"{name} is not a whole number"))
        else:
            target = col.cast(dtype, strict=False)
            failed = pl
        casts.append(target.alias(name))
        cast_failures.append(
            failed.when(col.is_not_null() & target.is_null()).then(
                pl.lit(f"{name} has the wrong type")
            )
        )
    frame = frame.with_columns(
        pl.concat_list(cast_failures).list.drop_nulls().alias("_cast_reasons")
        if cast_failures
        else pl.lit([], pl.List(pl.String)).alias("_cast_reasons")
    ).with_columns(casts)
    if "conditions" in schema:
        frame = frame.with_columns(pl.col("conditions").fill_null(pl.lit([], pl.List(pl.String))))

    if stream != "option_open_interest":
        lo, hi = frame.select(
            pl.col("ts_event").min().alias("lo"), pl.col("ts_event").max().alias("hi")
        ).row(0)
        frame = frame.with_columns(trading_date_within(pl.col("ts_event"), lo, hi).alias("date"))
        kind = "option" if stream.startswith("option") else "equity"
        windows = session_windows(frame["date"].drop_nulls().unique().to_list(), kind)
        # A batch spans a day or two: a lookup in that small table, not a join (which also
        # loses the rows' order).
        lo, hi = (
            pl.col("date").replace_strict(
                windows["date"], windows[bound], default=None, return_dtype=pl.Int64
            )
            for bound in ("lo_ns", "hi_ns")
        )
        session_rule = [
            (
                "ts_event outside the trading session of its date",
                pl.col("ts_event").is_not_null()
                & (lo.is_null() | (pl.col("ts_event") < lo) | (pl.col("ts_event") > hi)),
            )
        ]
    else:
        session_rule = []

    rule_exprs = [
        pl.when(bad.fill_null(True)).then(pl.lit(reason))
        for reason, bad in _rules(stream) + session_rule
    ]
    if ROW_ERROR in frame.columns:  # a reader could not read the row whole: said first
        rule_exprs.insert(0, pl.col(ROW_ERROR))
    if day is not None:
        rule_exprs.append(
            pl.when(pl.col("date") != day).then(
                pl.format(
                    OTHER_DAY + " {} is not the partition being landed ({})",
                    pl.col("date"),
                    pl.lit(day.isoformat()),
                )
            )
        )
    frame = frame.with_columns(
        pl.concat_list(
            [pl.col("_cast_reasons"), pl.concat_list(rule_exprs).list.drop_nulls()]
        ).alias("_reasons")
    )
    clean = pl.col("_reasons").list.len() == 0
    ok = frame.filter(clean)
    # Duplicates inside one batch: an exact copy collapses, a different row with the same
    # event_id is a conflict and goes to quarantine (the first occurrence lands). Counting
    # the ids first spares the row-wide unique of a batch without any (most batches): it
    # was 40% of validating 2.2M option quotes. Their hashes are counted, not the strings
    # (a fifth of the time): equal ids hash equal, and a collision only sends the batch
    # down the exact path below.
    ids: pl.Series | None = ok.get_column("event_id").hash(seed=0)
    if ok.height > ids.n_unique():
        ids = None  # the rows change below: no hashes to hand over
        ok = ok.unique(subset=list(landed_schema(stream)), keep="first", maintain_order=True)
        conflict = ~pl.col("event_id").is_first_distinct()
        frame = pl.concat(
            [
                frame.filter(~clean),
                ok.with_columns(
                    pl.when(conflict)
                    .then(pl.lit(["duplicate event_id with different content in batch"]))
                    .otherwise(pl.col("_reasons"))
                    .alias("_reasons")
                ),
            ]
        ).sort("_row")
        ok = frame.filter(clean)
    valid = ok.select([pl.col(c).cast(t) for c, t in landed_schema(stream).items()])
    bad = frame.filter(~clean)
    return ValidationResult(
        valid=valid,
        quarantined=_quarantine_frame(bad, stream, original),
        # Text ids only: the landing job keys rows on the hashes of the ids as stored (text).
        id_hashes=None if ids is None or ok.schema["event_id"] != pl.String else ids.to_numpy(),
    )


def quarantine_rows(stream: str, rows: pl.DataFrame, reason: str) -> pl.DataFrame:
    """Return ``rows`` (validated rows of ``stream``) as quarantine rows with ``reason``.

    For rows judged after validation, such as a row whose ``event_id`` is already landed
    with other content: the payload is the row as it would have landed.
    """
    numbered = rows.with_row_index("_row")
    return _quarantine_frame(
        numbered.with_columns(pl.lit([reason], pl.List(pl.String)).alias("_reasons")),
        stream,
        numbered,
    )


def _quarantine_frame(frame: pl.DataFrame, stream: str, original: pl.DataFrame) -> pl.DataFrame:
    """Return quarantine rows with a deterministic id (so a re-delivered batch lands once)."""
    if frame.height == 0:  # most batches: no look through the original rows
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    date = (
        pl.col("date").cast(pl.Date, strict=False)
        if "date" in frame.columns
        else pl.lit(None, pl.Date)
    )

    def text(name: str) -> pl.Expr:
        return (
            pl.col(name).cast(pl.String, strict=False)
            if name in frame.columns
            else pl.lit(None, pl.String)
        )

    ts_recv = (
        pl.col("ts_recv").cast(pl.Int64, strict=False)
        if "ts_recv" in frame.columns
        else pl.lit(None, pl.Int64)
    )
    out = frame.select(
        date.fill_null(pl.lit(dt.date(1970, 1, 1))).alias("date"),
        pl.lit(stream).alias("stream"),
        text("source").alias("source"),
        text("event_id").alias("event_id"),
        ts_recv.alias("ts_recv"),
        pl.col("_reasons").list.join("; ").alias("reason"),
        pl.col("_row"),
    )
    raw = original.join(frame.select("_row"), on="_row", how="semi")
    columns = [c for c in raw.columns if c != "_row"]
    payload = raw.select(
        "_row", (_payload_expr(columns) if columns else pl.lit("{}")).alias("payload")
    )
    out = out.join(payload, on="_row", how="left", maintain_order="left").drop("_row")
    return out.with_columns(
        pl.concat_str(pl.col("stream"), pl.col("payload"), separator="|")
        .hash(seed=0)
        .cast(pl.String)
        .alias("quarantine_id")
    ).select(list(QUARANTINE_SCHEMA))
