"""IB ticks (tick-by-tick and streaming market data, as ib_insync delivers them) -> canonical
raw frames.

ib_insync stamps every tick with its arrival time (it drops IB's own second-resolution
time), so the rows carry the time the bridge saw them; ``seq`` (the arrival order on the
connection) orders rows sharing a time, and a trade's event id adds an occurrence index
for prints identical in time, venue, price and size.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl
from ib_insync import Contract

from adapters.osi import format_osi
from adapters.quotes import NBBO

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


#: A print as the bridge saw it: (ts ns, price, size, IB exchange name, IB conditions).
TradeTick = tuple[int, float, float, str, str]
#: A quote state: (ts ns, bid, ask, bid size, ask size).
QuoteTick = tuple[int, float, float, float, float]


def option_symbol(contract: Contract) -> str:
    """Return the OSI symbol of an IB option contract (its root is the trading class:
    ``SPXW`` for SPX weeklies)."""
    expiry = dt.datetime.strptime(contract.lastTradeDateOrContractMonth[:8], "%Y%m%d").date()
    root = contract.tradingClass or contract.symbol
    return format_osi(root, expiry, contract.right[:1].upper(), float(contract.strike))


def _instrument(contract: Contract) -> tuple[str, str]:
    """Return (key column, instrument) of a contract: an option's OSI symbol or a stock's."""
    if contract.secType == "OPT":
        return "contract", option_symbol(contract)
    return "symbol", contract.symbol


def trades(
    contract: Contract, ticks: Sequence[TradeTick], first_seq: int, received_ns: int
) -> pl.DataFrame:
    """Return canonical trades (option or equity by ``contract.secType``) of prints."""
    venues = OPTION_EXCHANGES if contract.secType == "OPT" else EQUITY_EXCHANGES
    key, instrument = _instrument(contract)
    frame = pl.DataFrame(
        [(t, p, round(q), x or "", c or "") for t, p, q, x, c in ticks],
        schema={"ts_event": pl.Int64, "price": pl.Float64, "size": pl.Int64,
                "venue": pl.String, "special": pl.String},
        orient="row",
    )  # fmt: skip
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
    contract: Contract, ticks: Sequence[QuoteTick], first_seq: int, received_ns: int
) -> pl.DataFrame:
    """Return canonical quotes of bid/ask states; an option's SMART quote is IB's NBBO."""
    key, instrument = _instrument(contract)
    frame = pl.DataFrame(
        [(t, b, a, round(bs), round(as_)) for t, b, a, bs, as_ in ticks],
        schema={"ts_event": pl.Int64, "bid": pl.Float64, "ask": pl.Float64,
                "bid_size": pl.Int64, "ask_size": pl.Int64},
        orient="row",
    )  # fmt: skip
    return frame.with_row_index("_i").select(
        pl.concat_str(pl.lit(f"ib-q-{contract.conId}"), pl.col("ts_event").cast(pl.String), (pl.col("_i").cast(pl.Int64) + first_seq).cast(pl.String), separator="-").alias("event_id"),
        pl.lit(SOURCE).alias("source"),
        "ts_event",
        pl.lit(received_ns, pl.Int64).alias("ts_recv"),
        pl.lit(instrument).alias(key),
        "bid", "ask", "bid_size", "ask_size",
        (pl.col("_i").cast(pl.Int64) + first_seq).alias("seq"),
        *([pl.lit(NBBO).alias("exchange")] if key == "contract" else []),
    )  # fmt: skip
