"""A loopback TWS / IB Gateway speaking the TWS API wire protocol, so that ib_insync's own
client and decoder run unmodified.

It answers what a market-data session asks: the handshake (``API\\0`` then the version
range, answered with the server version and time), ``startApi`` (next id and the managed
account), the requests ``IB.connectAsync`` makes before it reports ready (positions,
account updates, executions), contract details, the option-chain parameters, market data
(snapshots and streams) and tick-by-tick data, and IB's errors (200 no such contract, 354
not subscribed). Ticks are pushed by the test (:meth:`TwsServer.quote`,
:meth:`TwsServer.trade`) to the connections subscribed to the contract. Every message is
a 4-byte big-endian length, then fields each ended by a NUL, as in IB's ``EClient``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import struct
from dataclasses import dataclass, field

SERVER_VERSION = 176
ACCOUNT = "DU1234567"


@dataclass(frozen=True)
class Listed:
    """One contract the server knows."""

    con_id: int
    symbol: str
    sec_type: str
    expiry: str = ""
    strike: float = 0.0
    right: str = ""
    trading_class: str = ""

    def local_symbol(self) -> str:
        """Return IB's local symbol (an option's OSI symbol)."""
        if self.sec_type != "OPT":
            return self.symbol
        return (
            f"{self.trading_class:<6}{self.expiry[2:]}{self.right}{round(self.strike * 1000):08d}"
        )


def _frame(*fields: object) -> bytes:
    body = b"".join(str(f).encode() + b"\0" for f in fields)
    return struct.pack(">I", len(body)) + body


@dataclass
class Subscription:
    """A streaming request of one connection."""

    writer: asyncio.StreamWriter
    req_id: int
    contract: Listed
    kind: str  # "mkt", "AllLast" or "BidAsk"


@dataclass
class TwsServer:
    """The loopback gateway: stocks with their last price and option chains.

    Attributes
    ----------
    stocks
        Symbol -> (con id, last price).
    chains
        Symbol -> (expirations YYYYMMDD, strikes): what ``reqSecDefOptParams`` lists.
    missing
        (symbol, expiry, strike) that the chain's strike list names but that are not
        contracts (IB lists strikes over all expiries at once).
    not_subscribed
        Symbols whose market data the account may not see (error 354).
    """

    stocks: dict[str, tuple[int, float]]
    chains: dict[str, tuple[list[str], list[float]]]
    missing: set[tuple[str, str, float]] = field(default_factory=set)
    not_subscribed: set[str] = field(default_factory=set)
    subscriptions: list[Subscription] = field(default_factory=list)
    requests: list[list[str]] = field(default_factory=list)
    connections: int = 0
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _options: dict[tuple[str, str, float, str], Listed] = field(default_factory=dict)

    async def start(self) -> int:
        """Listen on a free loopback port; return it."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening and drop every connection."""
        self.drop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def drop(self) -> None:
        """Close every open connection (the gateway restarting, a network cut)."""
        for writer in self._writers:
            writer.close()
        self._writers.clear()
        self.subscriptions.clear()

    def streaming(self, kind: str | None = None) -> list[Subscription]:
        """Return the open streaming subscriptions (of one kind)."""
        return [s for s in self.subscriptions if kind is None or s.kind == kind]

    def option(self, symbol: str, expiry: str, strike: float, right: str) -> Listed | None:
        """Return a listed option (con ids are stable across connections)."""
        if (symbol, expiry, strike) in self.missing or symbol not in self.chains:
            return None
        expiries, strikes = self.chains[symbol]
        if expiry not in expiries or strike not in strikes or right not in ("C", "P"):
            return None
        key = (symbol, expiry, strike, right)
        if key not in self._options:
            self._options[key] = Listed(
                1_000_000 + len(self._options), symbol, "OPT", expiry, strike, right, symbol
            )
        return self._options[key]

    def _send(self, writer: asyncio.StreamWriter, *fields: object) -> None:
        if not writer.is_closing():
            writer.write(_frame(*fields))

    def quote(self, con_id: int, bid: float, ask: float, bid_size: int, ask_size: int) -> None:
        """Push a bid/ask: market-data ticks to option streams, tick by tick to BidAsk."""
        now = int(dt.datetime.now(dt.UTC).timestamp())
        for s in self.subscriptions:
            if s.contract.con_id != con_id:
                continue
            if s.kind == "mkt":
                self._send(s.writer, 1, 6, s.req_id, 1, bid, bid_size, 0)
                self._send(s.writer, 1, 6, s.req_id, 2, ask, ask_size, 0)
            elif s.kind == "BidAsk":
                self._send(s.writer, 99, s.req_id, 3, now, bid, ask, bid_size, ask_size, 0)

    def trade(self, con_id: int, price: float, size: int, exchange: str, repeat: bool) -> None:
        """Push a print: the last exchange, price and size (and, as TWS does for a print at
        an unchanged price, the size alone when ``repeat``) to market-data streams, the print
        to AllLast streams."""
        now = int(dt.datetime.now(dt.UTC).timestamp())
        for s in self.subscriptions:
            if s.contract.con_id != con_id:
                continue
            if s.kind == "mkt":
                self._send(s.writer, 46, 6, s.req_id, 84, exchange)
                if repeat:
                    self._send(s.writer, 2, 6, s.req_id, 5, size)
                else:
                    self._send(s.writer, 1, 6, s.req_id, 4, price, size, 0)
                    self._send(s.writer, 2, 6, s.req_id, 5, size)
            elif s.kind == "AllLast":
                self._send(s.writer, 99, s.req_id, 1, now, price, size, 0, exchange, "")

    async def flush(self) -> None:
        """Wait until what was pushed is written to the sockets."""
        for writer in list(self._writers):
            if not writer.is_closing():
                await writer.drain()

    def _details(self, writer: asyncio.StreamWriter, req_id: str, c: Listed) -> None:
        self._send(
            writer, 10, req_id, c.symbol, c.sec_type, c.expiry, c.strike if c.strike else "",
            c.right, "SMART", "USD", c.local_symbol(), c.trading_class or c.symbol,
            c.trading_class or c.symbol, c.con_id, 0.01, 100 if c.sec_type == "OPT" else "",
            "LMT", "SMART,CBOE", 1, 0, c.symbol, "", "", "", "", "", "US/Eastern", "", "", "",
            "", 0, 1, "", "", "", "", "", 1, 1, 1,
        )  # fmt: skip
        self._send(writer, 52, 1, req_id)

    def _contract(self, fields: list[str]) -> Listed | None:
        """Return the contract of a request's 12 contract fields (by con id, else terms)."""
        con_id, symbol, sec_type, expiry, strike, right = fields[:6]
        if con_id and con_id != "0":
            known = [c for c in self._known() if c.con_id == int(con_id)]
            return known[0] if known else None
        if sec_type == "STK":
            found = self.stocks.get(symbol)
            return Listed(found[0], symbol, "STK") if found else None
        if sec_type == "OPT" and strike:
            return self.option(symbol, expiry, float(strike), right)
        return None

    def _known(self) -> list[Listed]:
        return [Listed(i, s, "STK") for s, (i, _) in self.stocks.items()] + list(
            self._options.values()
        )

    def _handle(self, writer: asyncio.StreamWriter, f: list[str]) -> None:
        self.requests.append(f)
        match f[0]:
            case "71":  # startApi
                self._send(writer, 9, 1, 1)
                self._send(writer, 15, 1, ACCOUNT)
            case "61":  # reqPositions
                self._send(writer, 62, 1)
            case "6" if f[2] == "1":  # reqAccountUpdates
                self._send(writer, 54, 1, ACCOUNT)
            case "76":  # reqAccountUpdatesMulti
                self._send(writer, 74, 1, f[2])
            case "7":  # reqExecutions
                self._send(writer, 55, 1, f[2])
            case "9":  # reqContractDetails
                found = self._contract(f[3:15])
                if found is None:
                    msg = "No security definition has been found for the request"
                    self._send(writer, 4, 2, f[2], 200, msg, "")
                else:
                    self._details(writer, f[2], found)
            case "78":  # reqSecDefOptParams
                req_id, symbol = f[1], f[2]
                if symbol in self.chains:
                    expiries, strikes = self.chains[symbol]
                    self._send(
                        writer, 75, req_id, "SMART", self.stocks[symbol][0], symbol, 100,
                        len(expiries), *expiries, len(strikes), *strikes,
                    )  # fmt: skip
                self._send(writer, 76, req_id)
            case "1":  # reqMktData
                req_id, found = int(f[2]), self._contract(f[3:15])
                if found is None:
                    return
                if found.symbol in self.not_subscribed:
                    msg = "Requested market data is not subscribed."
                    self._send(writer, 4, 2, req_id, 354, msg, "")
                elif f[17] == "1":  # snapshot
                    self._send(writer, 1, 6, req_id, 4, self.stocks[found.symbol][1], 100, 0)
                    self._send(writer, 57, 1, req_id)
                else:
                    # TWS opens a stream with the contract's state: here a print of 1 at
                    # 2.30 on C earlier in the day, and its size again.
                    self._send(writer, 46, 6, req_id, 84, "C")
                    self._send(writer, 1, 6, req_id, 4, 2.30, 1, 0)
                    self._send(writer, 2, 6, req_id, 5, 1)
                    self.subscriptions.append(Subscription(writer, req_id, found, "mkt"))
            case "97":  # reqTickByTickData
                found = self._contract(f[2:14])
                if found is not None:
                    self.subscriptions.append(Subscription(writer, int(f[1]), found, f[14]))
            case "2" | "98":  # cancelMktData, cancelTickByTickData
                req_id = int(f[2] if f[0] == "2" else f[1])
                self.subscriptions = [
                    s for s in self.subscriptions if (s.writer, s.req_id) != (writer, req_id)
                ]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            if await reader.readexactly(4) != b"API\0":
                return
            size = struct.unpack(">I", await reader.readexactly(4))[0]
            await reader.readexactly(size)  # "v157..176": the client's version range
            self._send(
                writer, SERVER_VERSION, dt.datetime.now(dt.UTC).strftime("%Y%m%d %H:%M:%S UTC")
            )
            while True:
                size = struct.unpack(">I", await reader.readexactly(4))[0]
                body = await reader.readexactly(size)
                self._handle(writer, body.decode().split("\0")[:-1])
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client left, or the server is closing
        finally:
            self.subscriptions = [s for s in self.subscriptions if s.writer is not writer]
            writer.close()
