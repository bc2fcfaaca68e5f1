"""Databento Live: the configured datasets and schemas streamed through ``databento.Live``.

One live session per dataset carries every schema of that dataset. Records are collected
as they arrive and handed out every ``interval_s`` as DBN stores (metadata from the
session's symbol mappings, then the records), read by the same parsing as files and the
historical API: a live day and its replay give the same rows. A session that drops is
opened again with intraday replay from its last record's time, so the pause is filled
(records seen twice land once: their ids are the same). The stream ends at the recording's
end (the close and the options' 15 minutes), by the records' own clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace

import databento as db
import databento_dbn as dbn

from adapters.databento.config import DatabentoConfig
from adapters.databento.loader import DatabentoHistorical, load_stores
from adapters.source import Batch, MarketSource, merge_streams

LOG = logging.getLogger("flowlake.databento")


class GatewayRefused(ValueError):
    """The live gateway refused the session or a subscription (its message)."""


@dataclass(frozen=True)
class Interval:
    """One mapping interval (databento_dbn's ``MappingInterval`` protocol)."""

    start_date: dt.date
    end_date: dt.date
    symbol: str


@dataclass(frozen=True)
class Mapping:
    """One raw symbol's mappings (databento_dbn's ``SymbolMapping`` protocol)."""

    raw_symbol: str
    intervals: list[Interval]


def _date(ns: int) -> dt.date:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).date()


def store_of(
    dataset: str,
    schema: str,
    stype_in: str,
    symbols: dict[int, str],
    records: list[db.DBNRecord],
) -> db.DBNStore:
    """Return ``records`` of one schema as a DBN store whose metadata maps each instrument
    id to the raw symbol the session's symbol-mapping records gave it."""
    times = [int(r.ts_event) for r in records]
    first, last = min(times), max(times)
    meta = dbn.Metadata(
        dataset=dataset,
        start=first,
        end=last + 1,
        stype_in=dbn.SType(stype_in),
        stype_out=dbn.SType.INSTRUMENT_ID,
        schema=dbn.Schema.from_str(schema),
        symbols=sorted(set(symbols.values())),
        partial=[],
        not_found=[],
        mappings=[
            Mapping(raw, [Interval(_date(first), _date(last) + dt.timedelta(days=1), str(iid))])
            for iid, raw in sorted(symbols.items())
        ],
    )
    body = meta.encode() + b"".join(bytes(r) for r in records)  # type: ignore[call-overload]
    return db.DBNStore.from_bytes(body)


@dataclass
class _Session:
    """One dataset's live session and what it has delivered since the last batch."""

    dataset: str
    schemas: tuple[str, ...]
    symbols: tuple[str, ...]
    stype_in: str
    config: DatabentoConfig
    client: db.Live | None = None
    records: list[db.DBNRecord] = field(default_factory=list)
    definitions: list[db.DBNRecord] = field(default_factory=list)
    mapping: dict[int, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    last_ns: int | None = None
    #: ``last_ns`` when the records were last taken: what the batches so far hold.
    taken_ns: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def rtypes(self) -> dict[int, str]:
        """Return record type -> subscribed schema."""
        out: dict[int, str] = {}
        for schema in self.schemas:
            rtype = int(dbn.RType.from_schema(dbn.Schema.from_str(schema)))
            if rtype in out:
                raise ValueError(f"{self.dataset}: {out[rtype]} and {schema} share a record type")
            out[rtype] = schema
        return out

    def on_record(self, record: db.DBNRecord) -> None:
        """Take one record (called on the client's own thread)."""
        with self.lock:
            if isinstance(record, dbn.SymbolMappingMsg):
                self.mapping[int(record.instrument_id)] = str(record.stype_out_symbol)
            elif isinstance(record, dbn.ErrorMsg):
                self.errors.append(str(record.err))
            elif isinstance(record, dbn.SystemMsg):
                if record.code == dbn.SystemCode.SLOW_READER_WARNING:
                    # The gateway is buffering for us; with "warn" it drops nothing.
                    LOG.warning("databento %s: the gateway says: %s", self.dataset, record.msg)
                elif not record.is_heartbeat():
                    LOG.info("databento %s: %s", self.dataset, record.msg)
            else:
                self.records.append(record)
                self.last_ns = max(self.last_ns or 0, int(record.ts_event))

    def open(self, start_ns: int | None, day_ns: int) -> None:
        """Open the session (intraday replay from ``start_ns`` when given) and start it.

        Definitions are replayed from ``day_ns`` (the day's start) whenever the session
        opens: they are published once, before the session, and a recording that starts
        or resumes later still needs every contract's multiplier and underlying.

        Raises
        ------
        GatewayRefused
            For a refused key or subscription, with the gateway's message.
        """
        config = self.config
        kwargs = {"gateway": config.live_gateway} if config.live_gateway else {}
        # A slow reader is warned, never skipped: "skip" would drop records to catch up.
        client = db.Live(
            key=config.key(),
            port=config.live_port,
            slow_reader_behavior="warn",
            **kwargs,  # type: ignore[arg-type]
        )
        try:
            for schema in self.schemas:
                client.subscribe(
                    dataset=self.dataset, schema=schema, symbols=list(self.symbols),
                    stype_in=self.stype_in,
                    start=day_ns if schema == "definition" else start_ns,
                )  # fmt: skip
        except (db.BentoError, ValueError) as exc:
            raise GatewayRefused(f"databento {self.dataset}: {exc}") from None
        client.add_callback(self.on_record)
        client.start()
        self.client = client

    def take(self) -> tuple[list[db.DBNRecord], dict[int, str]]:
        """Return the records since the last call and the symbol mappings so far."""
        with self.lock:
            taken, self.records = self.records, []
            self.taken_ns = self.last_ns
            return taken, dict(self.mapping)

    def batch_streams(self, records: list[db.DBNRecord], mapping: dict[int, str]) -> Batch:
        """Return the canonical rows of ``records`` (every definition seen so far fills
        the options' multipliers and underlyings)."""
        rtypes = self.rtypes()
        by_schema: dict[str, list[db.DBNRecord]] = {}
        for record in records:
            schema = rtypes.get(int(record.rtype))
            if schema == "definition":
                self.definitions.append(record)
            elif schema is not None:
                by_schema.setdefault(schema, []).append(record)
        if self.definitions:
            by_schema["definition"] = list(self.definitions)
        if not set(by_schema) - {"definition"}:
            return Batch(streams={})
        names = sorted(by_schema)
        stores = (store_of(self.dataset, s, self.stype_in, mapping, by_schema[s]) for s in names)
        return load_stores(stores, (f"databento live {self.dataset} {s}" for s in names))

    def close(self) -> None:
        """Stop the session."""
        if self.client is not None:
            with contextlib.suppress(ValueError, db.BentoError):  # already closed
                self.client.terminate()
            self.client = None


@dataclass(frozen=True)
class DatabentoLive(MarketSource):
    """Databento's live gateway: every configured dataset and schema, one session each.

    Attributes
    ----------
    config
        Datasets, schemas, symbols, key and gateway (:class:`DatabentoConfig`).
    start_ns
        Intraday replay from this time (a resumed recording); None: from now.
    """

    config: DatabentoConfig = field(default_factory=DatabentoConfig)
    start_ns: int | None = None
    name: str = "databento"
    replays_day: bool = False

    def universe(self) -> str:
        """Return the datasets, schemas, symbols and symbology streamed."""
        c = self.config
        return f"databento live datasets={c.datasets} symbols={c.symbols} stype_in={c.stype_in}"

    def resumed(self, resume: int | None, stopped_ns: int) -> MarketSource:
        """Continue with intraday replay from the last spooled batch's record time."""
        if resume is None:
            return self
        at = dt.datetime.fromtimestamp(resume / 1e9, dt.UTC).strftime("%H:%M:%S")
        LOG.warning("databento: resuming a recording; intraday replay from %s UTC", at)
        return replace(self, start_ns=resume)

    def historical(self, day: dt.date) -> Iterator[Batch]:
        """Return the historical API's batches of ``day``."""
        return DatabentoHistorical(self.config).historical(day)

    async def live(
        self, day: dt.date, *, speed: float = 1.0, interval_s: float = 1.0
    ) -> AsyncIterator[Batch]:
        """Stream; yield a batch every ``interval_s`` until every session's records reach
        the recording's end; reopen a dropped session with replay from its last record.

        Raises
        ------
        GatewayRefused
            When the gateway refuses the key or a subscription, or reports an error.
        """
        del speed  # a live feed is today, in real time
        from adapters.calendar import recording_end, to_ns

        end = recording_end(day)
        symbols, stype_in = dict(self.config.symbols), dict(self.config.stype_in)
        sessions = [
            _Session(
                dataset, tuple(schemas), tuple(symbols.get(dataset, ("ALL_SYMBOLS",))),
                stype_in.get(dataset, "raw_symbol"), self.config,
            )
            for dataset, schemas in self.config.datasets
        ]  # fmt: skip
        try:
            day_ns = to_ns(dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC))
            for session in sessions:
                await asyncio.to_thread(session.open, self.start_ns, day_ns)
            while True:
                await asyncio.sleep(interval_s)
                parts: list[Batch] = []
                for session in sessions:
                    if session.errors:
                        raise GatewayRefused(f"databento {session.dataset}: {session.errors[0]}")
                    parts.append(session.batch_streams(*session.take()))
                    client = session.client
                    ended = session.last_ns is not None and session.last_ns >= end
                    if client is not None and not client.is_connected() and not ended:
                        since = session.taken_ns if session.taken_ns is not None else self.start_ns
                        LOG.warning(
                            "databento %s: connection lost; reopening with replay from %s",
                            session.dataset,
                            "now" if since is None else dt.datetime.fromtimestamp(since / 1e9, dt.UTC).strftime("%H:%M:%S UTC"),
                        )  # fmt: skip
                        session.close()
                        await asyncio.to_thread(session.open, since, day_ns)
                # Each session's records up to its taken_ns are in this batch or before: a
                # restart replays from the earliest of them.
                known = [s.taken_ns for s in sessions if s.taken_ns is not None]
                yield Batch(
                    streams=merge_streams(parts), resume=min(known) if known else self.start_ns
                )
                # Done when every session that delivers records has reached the end (a
                # silent one, say a symbol without trades, does not hold the day open).
                if known and all(s.taken_ns is None or s.taken_ns >= end for s in sessions):
                    return
        finally:
            for session in sessions:
                session.close()
