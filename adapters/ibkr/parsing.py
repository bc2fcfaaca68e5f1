"""ib_insync tick-by-tick records -> canonical raw frames.

IB stamps tick-by-tick data to the second, so several prints share a ``ts_event``; ``seq``
(the arrival order on the connection) keeps their order, and the event id adds an
occurrence index for prints identical in time, venue, price and size.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl
from ib_insync import Contract, TickByTickAllLast, TickByTickBidAsk

from adapters.osi import format_osi

SOURCE = "ibkr"
#: IB option exchange names -> OPRA participant codes.
OPTION_EXCHANGES: dict[str, str] = {
    "AMEX": "A", "BOX": "B", "CBOE": "C", "EDGX": "E", "GEMINI": "H", "ISE": "I", "MERCURY": "J",
    "MIAX": "M", "PSE": "N", "ARCA": "N", "PEARL": "P", "NASDAQOM": "Q", "BX": "T", "EMERALD": "U",
    "CBOE2": "W", "PHLX": "X", "BATS": "Z", "SAPPHIRE": "S",
}  # fmt: skip
#: IB equity venue names -> CTA/UTP participant codes (dark pools and TRF as D).
EQUITY_EXCHANGES: dict[str, str] = {
    "NYSE": "N", "ARCA": "P", "NASDAQ": "Q", "ISLAND": "Q", "BATS": "Z", "BYX": "Y", "EDGEA": "J",
    "EDGX": "K", "IEX": "V", "MEMX": "U", "AMEX": "A", "CHX": "M", "BEX": "B", "PSX": "X",
    "LTSE": "L", "NSX": "C", "PEARLEQ": "H", "FINRA": "D", "DARK": "D", "ADF": "D",
}  # fmt: skip


def _ns(moment: dt.datetime) -> int:
    stamp = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return int(stamp.timestamp()) * 1_000_000_000 + stamp.microsecond * 1000


def option_symbol(contract: Contract) -> str:
    """Return the OSI symbol of an IB option contract."""
    expiry = dt.datetime.strptime(contract.lastTradeDateOrContractMonth[:8], "%Y%m%d").date()
    return format_osi(contract.symbol, expiry, contract.right[:1].upper(), float(contract.strike))


def trades(
    contract: Contract, ticks: Sequence[TickByTickAllLast], first_seq: int, received_ns: int
) -> pl.DataFrame:
    """Return canonical trades (option or equity by ``contract.secType``) of tick-by-tick prints."""
    options = contract.secType == "OPT"
    venues = OPTION_EXCHANGES if options else EQUITY_EXCHANGES
    key = "contract" if options else "symbol"
    instrument = option_symbol(contract) if options else contract.symbol
    frame = pl.DataFrame(
        {
            "ts_event": [_ns(t.time) for t in ticks],
            "price": [float(t.price) for t in ticks],
            "size": [int(t.size) for t in ticks],
            "venue": [str(t.exchange or "") for t in ticks],
            "special": [str(t.specialConditions or "") for t in ticks],
        },
        schema={
            "ts_event": pl.Int64,
            "price": pl.Float64,
            "size": pl.Int64,
            "venue": pl.String,
            "special": pl.String,
        },
    )
    return frame.with_row_index("_i").select(
        pl.concat_str(
            pl.lit(f"ib-{contract.conId}"), pl.col("ts_event").cast(pl.String), pl.col("venue"), pl.col("price").cast(pl.String),
            pl.col("size").cast(pl.String), pl.int_range(pl.len()).over("ts_event", "venue", "price", "size").cast(pl.String), separator="-",
        ).alias("event_id"),
        pl.lit(SOURCE).alias("source"),
        "ts_event",
        pl.lit(received_ns, pl.Int64).alias("ts_recv"),
        pl.lit(instrument).alias(key),
        "price",
        "size",
        pl.col("venue").replace(venues).alias("exchange"),
        pl.col("special").str.split(" ").list.eval(pl.element().filter(pl.element() != "")).alias("conditions"),
        (pl.col("_i").cast(pl.Int64) + first_seq).alias("seq"),
    )  # fmt: skip


def quotes(
    contract: Contract, ticks: Sequence[TickByTickBidAsk], first_seq: int, received_ns: int
) -> pl.DataFrame:
    """Return canonical quotes of tick-by-tick bid/ask updates."""
    options = contract.secType == "OPT"
    key = "contract" if options else "symbol"
    frame = pl.DataFrame(
        {
            "ts_event": [_ns(t.time) for t in ticks],
            "bid": [float(t.bidPrice) for t in ticks],
            "ask": [float(t.askPrice) for t in ticks],
            "bid_size": [int(t.bidSize) for t in ticks],
            "ask_size": [int(t.askSize) for t in ticks],
        },
        schema={
            "ts_event": pl.Int64,
            "bid": pl.Float64,
            "ask": pl.Float64,
            "bid_size": pl.Int64,
            "ask_size": pl.Int64,
        },
    )
    return frame.with_row_index("_i").select(
        pl.concat_str(pl.lit(f"ib-q-{contract.conId}"), pl.col("ts_event").cast(pl.String), (pl.col("_i").cast(pl.Int64) + first_seq).cast(pl.String), separator="-").alias("event_id"),
        pl.lit(SOURCE).alias("source"),
        "ts_event",
        pl.lit(received_ns, pl.Int64).alias("ts_recv"),
        pl.lit(option_symbol(contract) if options else contract.symbol).alias(key),
        "bid", "ask", "bid_size", "ask_size",
        (pl.col("_i").cast(pl.Int64) + first_seq).alias("seq"),
        *([pl.lit("NBBO").alias("exchange")] if options else []),
    )  # fmt: skip
