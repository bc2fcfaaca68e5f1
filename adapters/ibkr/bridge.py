"""The IBKR source: options through streaming market data, underlyings tick by tick.

IB gives no tick-by-tick data for options: they stream through ``reqMktData``, IB's
sampled market data (a few snapshots a second), as last-trade and bid/ask ticks. The
underlyings stream tick by tick (``reqTickByTickData``: every print with its venue and
the bid/ask). The options are the ones named, or a chain slice chosen from what IB lists
(``reqSecDefOptParams``) by :class:`~adapters.chain.ChainPolicy`, within the account's
market-data lines. ib_insync's ``IB`` client connects to TWS / IB Gateway; ticks arrive
through ``pendingTickersEvent`` and are handed out as canonical batches every
``interval_s``. A dropped connection is re-established with a doubling back-off and the
same contracts are subscribed again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace

import polars as pl
from ib_insync import (
    IB,
    Contract,
    Option,
    Stock,
    TickByTickAllLast,
    TickByTickBidAsk,
    Ticker,
)

from adapters import calendar as market_calendar
from adapters.chain import Selection, select_contracts, selection_frame, with_selection
from adapters.ibkr import parsing
from adapters.ibkr.config import IbkrConfig
from adapters.osi import format_osi, index_roots, parse_osi
from adapters.source import Batch, MarketSource

LOG = logging.getLogger("flowlake.ibkr")

#: Market-data tick types (IB's tick-type table): a print's price and size, a size alone
#: (another print at the last price), the quote's sides. The delayed twins (66-76) are
#: not taken: stamped on arrival, a 15-minute-old print would land as a new one.
LAST, LAST_SIZE = 4, 5
QUOTE_TICKS = frozenset({0, 1, 2, 3})
DELAYED_TICKS = frozenset(range(66, 77))
#: IB error codes that end the recording with their message (retrying cannot help):
#: no market-data subscription, no such contract, a competing session.
FATAL_ERRORS = frozenset({200, 354, 10089, 10090, 10091, 10167, 10168, 10197})


class GatewayUnreachableError(ConnectionError):
    """TWS / IB Gateway did not accept a connection within the back-off schedule."""


class IbkrRefused(ValueError):
    """IB refused a request in a way retrying cannot mend (its code and message)."""


def market_data_prints(
    ticker: Ticker, now: int, taken: float | None = None
) -> tuple[list[parsing.TradeTick], float | None]:
    """Return the prints one market-data update of ``ticker`` carries, and the size of a
    ``LAST`` whose own size tick has not come yet.

    A ``LAST`` tick is a print of its price and size. TWS follows it with a ``LAST_SIZE``
    of the same size, possibly in the next update (``taken`` carries it over): that is the
    same print. Any other ``LAST_SIZE`` is another print at the last price (TWS sends the
    size alone when the price did not change).
    """
    out: list[parsing.TradeTick] = []
    venue = ticker.lastExchange or ""
    for tick in ticker.ticks:
        if tick.tickType == LAST:
            taken = tick.size if tick.size > 0 else None
        elif tick.tickType != LAST_SIZE:
            continue
        elif taken is not None and tick.size == taken:
            taken = None
            continue
        else:
            taken = None
        if tick.price > 0 and tick.size > 0 and math.isfinite(tick.price):
            out.append((now, tick.price, tick.size, venue, ""))
    return out, taken


@dataclass
class TickCollector:
    """Collects prints and quote states per contract between two batches.

    Every row is stamped with ``clock()`` (the wall clock, :func:`adapters.calendar.wall_ns`, when None) when its update
    arrives: ib_insync keeps only the arrival time of a tick.
    """

    clock: Callable[[], int] | None = None
    trades: dict[int, tuple[Contract, list[parsing.TradeTick]]] = field(default_factory=dict)
    quotes: dict[int, tuple[Contract, list[parsing.QuoteTick]]] = field(default_factory=dict)
    seq: int = 0
    delayed: set[int] = field(default_factory=set)
    #: Contract -> size of a LAST print whose LAST_SIZE is still to come.
    taken: dict[int, float | None] = field(default_factory=dict)
    #: Options subscribed whose first LAST has not come: TWS opens a subscription with the
    #: contract's state, and its LAST is the day's last print so far, not a new one.
    opening: set[int] = field(default_factory=set)

    def subscribed(self, con_ids: Iterable[int]) -> None:
        """Expect the opening state of these (re)subscribed options."""
        self.opening.update(con_ids)

    def _add(self, book: dict, contract: Contract, rows: list) -> None:  # type: ignore[type-arg]
        if rows:
            book.setdefault(contract.conId, (contract, []))[1].extend(rows)

    def on_tickers(self, tickers: Iterable[Ticker]) -> None:
        """Take the ticks of an update (ib_insync refills ``ticks`` and ``tickByTicks``
        on every update)."""
        now = (self.clock or market_calendar.wall_ns)()
        for ticker in tickers:
            contract = ticker.contract
            if contract is None:
                continue
            for t in ticker.tickByTicks or []:
                if isinstance(t, TickByTickAllLast):
                    row = (now, t.price, t.size, t.exchange, t.specialConditions)
                    self._add(self.trades, contract, [row])
                elif isinstance(t, TickByTickBidAsk):
                    self._add(
                        self.quotes, contract, [(now, t.bidPrice, t.askPrice, t.bidSize, t.askSize)]
                    )
            if contract.secType == "OPT":
                self._market_data(ticker, now)

    def _market_data(self, ticker: Ticker, now: int) -> None:
        """Take an option's market-data update: its prints and its quote state."""
        contract = ticker.contract
        assert contract is not None
        types = {t.tickType for t in ticker.ticks or []}
        if types & DELAYED_TICKS and contract.conId not in self.delayed:
            self.delayed.add(contract.conId)
            LOG.warning(
                "IB sends delayed market data for %s (no real-time subscription): "
                "its delayed ticks are not recorded",
                contract.localSymbol or contract.symbol,
            )
        prints, self.taken[contract.conId] = market_data_prints(
            ticker, now, self.taken.get(contract.conId)
        )
        if LAST in types and contract.conId in self.opening:
            self.opening.discard(contract.conId)
            prints = []  # the subscription's opening state
        self._add(self.trades, contract, prints)
        quoted = [ticker.bid, ticker.ask, ticker.bidSize, ticker.askSize]
        if types & QUOTE_TICKS and all(math.isfinite(v) and v >= 0 for v in quoted):
            # A side IB does not quote (NaN or -1) leaves the last state in force, for
            # rule 1's age limit to retire.
            self._add(self.quotes, contract, [(now, *quoted)])

    def drain(self, received_ns: int) -> Batch:
        """Return what was collected as a canonical batch and start afresh."""
        parts: dict[str, list[pl.DataFrame]] = {}
        for book, convert, kind in (
            (self.trades, parsing.trades, "trades"),
            (self.quotes, parsing.quotes, "quotes"),
        ):
            for contract, ticks in book.values():
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
    """Connect ``ib`` (read-only: market data only) to the gateway, retrying on the
    back-off schedule; return the attempts used.

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
            await ib.connectAsync(host, port, clientId=client_id, timeout=4, readonly=True)
            return tried
        except (OSError, TimeoutError) as exc:
            if attempts is not None and tried >= attempts:
                raise GatewayUnreachableError(
                    f"could not reach TWS / IB Gateway at {host}:{port} after {tried} attempts: {exc}"
                ) from None
            delay = delays[min(tried - 1, len(delays) - 1)]
            LOG.warning("TWS / IB Gateway at %s:%s: %s; retrying in %ss", host, port, exc, delay)
            await sleep(delay)  # type: ignore[misc]


def _option(osi: str, config: IbkrConfig) -> Option:
    """Return the IB contract of an OSI symbol: IB's symbol is the underlying and its
    trading class the OSI root (``SPX`` / ``SPXW``)."""
    root, expiry, right, strike = parse_osi(osi)
    return Option(
        index_roots().get(root, root), expiry.strftime("%Y%m%d"), strike, right,
        config.exchange, currency=config.currency, tradingClass=root,
    )  # fmt: skip


async def choose_options(
    ib: IB, config: IbkrConfig, stocks: list[Contract], today: dt.date
) -> tuple[list[Contract], list[Selection]]:
    """Return the qualified option contracts to stream and why: the named ones, else per
    underlying the policy's slice of the chain IB lists, within the market-data lines.

    The spot is a market-data snapshot's price (last, else midpoint, else close).
    """
    if config.contracts:
        named = await ib.qualifyContractsAsync(*(_option(c, config) for c in config.contracts))
        return list(named)[: config.max_lines], []
    budget = max(1, config.max_lines // max(1, len(stocks)))
    policy = replace(config.policy, max_quotes=min(config.policy.max_quotes, budget))
    options: list[Contract] = []
    selections: list[Selection] = []
    snapshots = await ib.reqTickersAsync(*stocks)
    for stock, snap in zip(stocks, snapshots, strict=True):
        price = snap.marketPrice()
        spot = price if math.isfinite(price) and price > 0 else snap.close
        chains = await ib.reqSecDefOptParamsAsync(stock.symbol, "", stock.secType, stock.conId)
        chain = next(
            (c for c in chains if c.exchange == config.exchange and c.tradingClass == stock.symbol),
            next((c for c in chains if c.exchange == config.exchange), None),
        )
        if chain is None or not (math.isfinite(spot) and spot > 0):
            why = (
                f"IB lists no {config.exchange} option chain for {stock.symbol}"
                if chain is None
                else f"no price for {stock.symbol}: no contract chosen"
            )
            selections.append(Selection(stock.symbol, None, 0, (), why))
            continue
        listed = [
            format_osi(
                chain.tradingClass or stock.symbol,
                dt.datetime.strptime(e, "%Y%m%d").date(),
                right,
                strike,
            )
            for e in chain.expirations
            for strike in chain.strikes
            for right in "CP"
        ]
        chosen = select_contracts(listed, spot, today, policy)
        qualified = await ib.qualifyContractsAsync(*(_option(c, config) for c in chosen))
        # IB lists strikes over all expiries at once: a strike missing from one expiry is
        # not a contract, and IB's answer drops it here.
        missing = len(chosen) - len(qualified)
        why = policy.why(len(qualified), len(listed), spot) + (
            f"; {missing} of the chosen not listed by IB" if missing else ""
        )
        LOG.info("ibkr %s: %s", stock.symbol, why)
        options.extend(qualified)
        selections.append(
            Selection(
                stock.symbol, spot, len(listed),
                tuple(parsing.option_symbol(c) for c in qualified), why,
            )
        )  # fmt: skip
    return options, selections


@dataclass(frozen=True)
class IbkrLive(MarketSource):
    """Options (streaming market data) and their underlyings (tick by tick) from IB."""

    config: IbkrConfig = field(default_factory=IbkrConfig)
    ib_factory: Callable[[], IB] = IB
    name: str = "ibkr"
    replays_day: bool = False
    no_replay: str = "IB does not replay market data"

    def universe(self) -> str:
        """Return the underlyings, the named contracts or the policy, and the line limit."""
        c = self.config
        return (
            f"ibkr underlyings={','.join(c.underlyings)} contracts={','.join(c.contracts)} "
            f"policy={c.policy} max_lines={c.max_lines} exchange={c.exchange} "
            f"currency={c.currency}"
        )

    def historical(self, day: dt.date) -> Iterator[Batch]:
        """IB's streaming market data is live only.

        Raises
        ------
        ValueError
            Always: record it live (``flowlake live --source ibkr``) instead.
        """
        raise ValueError(
            "the IBKR source streams live only; record it with `flowlake live --source ibkr`"
        )

    async def live(
        self, day: dt.date, *, speed: float = 1.0, interval_s: float = 1.0
    ) -> AsyncIterator[Batch]:
        """Stream; yield a batch every ``interval_s`` until the recording's end (the close
        and the options' 15 minutes, :func:`~adapters.calendar.recording_end`); reconnect
        and resubscribe on drops.

        Raises
        ------
        IbkrRefused
            When IB refuses an underlying (unknown symbol) or market data (no
            subscription), with IB's code and message.
        """
        del speed  # a live feed is today, in real time
        end = market_calendar.recording_end(day)
        ib = self.ib_factory()
        collector = TickCollector()
        refused: list[str] = []

        def on_error(req_id: int, code: int, message: str, contract: Contract | None) -> None:
            if code in FATAL_ERRORS:
                what = contract.localSymbol or contract.symbol if contract else f"request {req_id}"
                refused.append(f"IB error {code} for {what}: {message}")

        ib.pendingTickersEvent += collector.on_tickers
        ib.errorEvent += on_error
        try:
            await connect_with_backoff(ib, self.config)
            stocks = await ib.qualifyContractsAsync(
                *(
                    Stock(s, self.config.exchange, self.config.currency)
                    for s in self.config.underlyings
                )
            )
            if len(stocks) < len(self.config.underlyings):
                known = {s.symbol for s in stocks}
                unknown = [s for s in self.config.underlyings if s not in known]
                raise IbkrRefused(
                    f"IB knows no stock {', '.join(unknown)} on {self.config.exchange}"
                )
            options, selections = await choose_options(ib, self.config, stocks, day)
            first = selection_frame(selections, market_calendar.wall_ns()) if selections else None

            def subscribe() -> None:
                collector.subscribed(o.conId for o in options)
                for option in options:
                    ib.reqMktData(option, "", False, False)
                for stock in stocks:
                    ib.reqTickByTickData(stock, "AllLast")
                    ib.reqTickByTickData(stock, "BidAsk")

            subscribe()
            while True:
                await asyncio.sleep(interval_s)
                if refused:
                    raise IbkrRefused(refused[0])
                if not ib.isConnected():
                    LOG.warning("ibkr: connection lost; reconnecting")
                    await connect_with_backoff(ib, self.config)
                    subscribe()
                batch = collector.drain(market_calendar.wall_ns())
                yield with_selection(batch, first)
                first = None
                if market_calendar.wall_ns() >= end:
                    return
        finally:
            ib.pendingTickersEvent -= collector.on_tickers
            ib.errorEvent -= on_error
            ib.disconnect()
