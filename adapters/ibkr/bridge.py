"""The IBKR options bridge: tick-by-tick trades and bid/ask of one option and its underlying.

ib_insync's ``IB`` client connects to TWS / IB Gateway; ticks arrive through
``pendingTickersEvent`` and are collected here, then handed out as canonical batches
every ``interval_s``. A dropped connection is re-established with a doubling back-off
and the subscriptions are renewed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field

import polars as pl
from ib_insync import IB, Contract, Option, Stock, TickByTickAllLast, TickByTickBidAsk, Ticker

from adapters.ibkr import parsing
from adapters.ibkr.config import IbkrConfig
from adapters.source import Batch, MarketSource


class GatewayUnreachableError(ConnectionError):
    """TWS / IB Gateway did not accept a connection within the back-off schedule."""


@dataclass
class TickCollector:
    """Collects tick-by-tick records per contract between two batches."""

    trades: dict[int, tuple[Contract, list[TickByTickAllLast]]] = field(default_factory=dict)
    quotes: dict[int, tuple[Contract, list[TickByTickBidAsk]]] = field(default_factory=dict)
    seq: int = 0

    def on_tickers(self, tickers: Iterable[Ticker]) -> None:
        """Take the ticks of an update (ib_insync refills ``tickByTicks`` on every cycle)."""
        for ticker in tickers:
            for tick in ticker.tickByTicks or []:
                target = (
                    self.trades
                    if isinstance(tick, TickByTickAllLast)
                    else self.quotes
                    if isinstance(tick, TickByTickBidAsk)
                    else None
                )
                if target is not None:
                    target.setdefault(ticker.contract.conId, (ticker.contract, []))[1].append(tick)

    def drain(self, received_ns: int) -> Batch:
        """Return what was collected as a canonical batch and start afresh."""
        parts: dict[str, list[pl.DataFrame]] = {}
        for book, convert, kind in (
            (self.trades, parsing.trades, "trades"),
            (self.quotes, parsing.quotes, "quotes"),
        ):
            for contract, ticks in book.values():
                if not ticks:
                    continue
                stream = f"{'option' if contract.secType == 'OPT' else 'equity'}_{kind}"
                parts.setdefault(stream, []).append(convert(contract, ticks, self.seq, received_ns))
                self.seq += len(ticks)
            book.clear()
        return Batch(streams={k: pl.concat(v) for k, v in parts.items()})


async def connect_with_backoff(
    ib: IB,
    config: IbkrConfig,
    attempts: int | None = None,
    sleep: Callable[[float], object] = asyncio.sleep,
) -> int:
    """Connect ``ib`` to the gateway, retrying on the back-off schedule; return attempts used.

    Raises
    ------
    GatewayUnreachableError
        After ``attempts`` failures (None: keep trying).
    """
    host, port, client_id = config.address()
    delays = config.delays()
    tried = 0
    while True:
        tried += 1
        try:
            await ib.connectAsync(host, port, clientId=client_id, timeout=4)
            return tried
        except (OSError, TimeoutError) as exc:
            if attempts is not None and tried >= attempts:
                raise GatewayUnreachableError(
                    f"could not reach TWS / IB Gateway at {host}:{port} after {tried} attempts: {exc}"
                ) from None
            await sleep(delays[min(tried - 1, len(delays) - 1)])  # type: ignore[misc]


@dataclass(frozen=True)
class IbkrOptionsBridge(MarketSource):
    """One option and its underlying from Interactive Brokers, tick by tick."""

    config: IbkrConfig
    ib_factory: Callable[[], IB] = IB
    name: str = "ibkr"

    def universe(self) -> str:
        """Return the option (and so its underlying) the bridge streams."""
        c = self.config
        return f"ibkr {c.symbol} {c.expiry} {c.strike} {c.right} {c.exchange} {c.currency}"

    def contracts(self) -> list[Contract]:
        """Return the option and its underlying as IB contracts."""
        c = self.config
        return [
            Option(c.symbol, c.expiry, c.strike, c.right, c.exchange, currency=c.currency),
            Stock(c.symbol, c.exchange, c.currency),
        ]

    def historical(self, day: dt.date) -> Iterator[Batch]:
        """The bridge is live only (IB's historical ticks are paced and capped).

        Raises
        ------
        ValueError
            Always: record the bridge live (``flowlake live --source ibkr``) instead.
        """
        raise ValueError(
            "the IBKR bridge streams live only; record it with `flowlake live --source ibkr`"
        )

    async def live(
        self, day: dt.date, *, speed: float = 1.0, interval_s: float = 1.0
    ) -> AsyncIterator[Batch]:
        """Stream ticks; yield a batch every ``interval_s``; reconnect on disconnects."""
        del day, speed
        ib = self.ib_factory()
        collector = TickCollector()
        ib.pendingTickersEvent += collector.on_tickers

        async def subscribe() -> None:
            contracts = await ib.qualifyContractsAsync(*self.contracts())
            for contract in contracts:
                ib.reqTickByTickData(contract, "AllLast")
                ib.reqTickByTickData(contract, "BidAsk")

        await connect_with_backoff(ib, self.config)
        await subscribe()
        try:
            while True:
                await asyncio.sleep(interval_s)
                if not ib.isConnected():
                    await connect_with_backoff(ib, self.config)
                    await subscribe()
                yield collector.drain(time.time_ns())
        finally:
            ib.pendingTickersEvent -= collector.on_tickers
            ib.disconnect()
