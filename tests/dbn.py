"""DBN files for schemas and venues the vendor samples lack, written with databento's own
record classes (``databento_dbn``), so databento's own decoder reads them in the tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import databento_dbn as dbn
from databento.common.publishers import Publisher

from adapters.databento.live import Interval, Mapping

PRICE = 1_000_000_000  # DBN prices are fixed-point, 1e-9 units


def publisher(dataset: str, venue: str) -> int:
    """Return the publisher id of ``venue`` in ``dataset`` (databento's own table)."""
    for p in Publisher:
        if p.dataset.value == dataset and p.venue.value == venue:
            return int(p.to_int())
    raise KeyError(f"{venue} in {dataset}")


def px(price: float | None) -> int:
    """Return a DBN fixed-point price (``UNDEF_PRICE`` for None)."""
    return dbn.UNDEF_PRICE if price is None else round(price * PRICE)


def write(
    path: Path,
    dataset: str,
    schema: dbn.Schema,
    start_ns: int,
    end_ns: int,
    symbols: dict[str, int],
    records: list[object],
) -> Path:
    """Write a DBN file: metadata for ``[start_ns, end_ns)`` mapping each raw symbol to its
    instrument id over the days it spans, then ``records`` in order."""
    first = dt.datetime.fromtimestamp(start_ns / 1e9, dt.UTC).date()
    last = dt.datetime.fromtimestamp(end_ns / 1e9, dt.UTC).date() + dt.timedelta(days=1)
    meta = dbn.Metadata(
        dataset=dataset,
        start=start_ns,
        end=end_ns,
        stype_in=dbn.SType.RAW_SYMBOL,
        stype_out=dbn.SType.INSTRUMENT_ID,
        schema=schema,
        symbols=list(symbols),
        partial=[],
        not_found=[],
        mappings=[Mapping(raw, [Interval(first, last, str(iid))]) for raw, iid in symbols.items()],
    )
    path.write_bytes(meta.encode() + b"".join(bytes(r) for r in records))  # type: ignore[call-overload]
    return path


def book(
    pub: int, iid: int, ts: int, bid: float | None, ask: float | None, bsz: int, asz: int, seq: int
) -> dbn.MBP1Msg:
    """A venue's top-of-book update (mbp-1)."""
    return dbn.MBP1Msg(
        publisher_id=pub, instrument_id=iid, ts_event=ts, price=px(bid if bid else ask),
        size=0, action=dbn.Action.ADD, side=dbn.Side.BID, depth=0, ts_recv=ts + 1000,
        sequence=seq,
        levels=dbn.BidAskPair(bid_px=px(bid), ask_px=px(ask), bid_sz=bsz, ask_sz=asz),
    )  # fmt: skip


def trade(pub: int, iid: int, ts: int, price: float, size: int, seq: int) -> dbn.TradeMsg:
    """A trade (trades schema)."""
    return dbn.TradeMsg(
        publisher_id=pub, instrument_id=iid, ts_event=ts, price=px(price), size=size,
        action=dbn.Action.TRADE, side=dbn.Side.NONE, depth=0, ts_recv=ts + 1000, sequence=seq,
    )  # fmt: skip


def option_definition(
    pub: int, iid: int, ts: int, raw: str, underlying: str, strike: float, right: str
) -> dbn.InstrumentDefMsg:
    """An option's definition: its underlying as OPRA gives it (SPX for an SPXW root)."""
    return dbn.InstrumentDefMsg(
        publisher_id=pub, instrument_id=iid, ts_event=ts, ts_recv=ts + 1000,
        min_price_increment=px(0.05), display_factor=PRICE, raw_symbol=raw,
        asset=underlying, security_type="OOSXXX",
        instrument_class=dbn.InstrumentClass.CALL if right == "C" else dbn.InstrumentClass.PUT,
        security_update_action=dbn.SecurityUpdateAction.ADD, strike_price=px(strike),
        underlying=underlying, contract_multiplier=100,
    )  # fmt: skip
