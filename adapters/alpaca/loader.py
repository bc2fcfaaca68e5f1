"""Alpaca sources: live websocket streams and REST history, plus the bounded contract selection."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from adapters import calendar as market_calendar
from adapters.alpaca import parsing
from adapters.alpaca.config import AlpacaConfig
from adapters.chain import Selection, select_contracts, selection_frame, with_selection
from adapters.source import Batch, MarketSource


def choose_contracts(config: AlpacaConfig, today: dt.date) -> list[Selection]:
    """List each underlying's option chain and its last price through Alpaca's data API
    (alpaca-py's ``get_option_chain`` and ``get_stock_latest_trade``), then apply
    :func:`~adapters.chain.select_contracts` with the config's policy.

    Raises
    ------
    alpaca.common.exceptions.APIError
        When the API refuses (bad keys, no subscription), with the service's message.
    """
    from alpaca.data.enums import DataFeed, OptionsFeed
    from alpaca.data.historical import OptionHistoricalDataClient, StockHistoricalDataClient
    from alpaca.data.requests import OptionChainRequest, StockLatestTradeRequest

    key, secret = config.keys()
    options = OptionHistoricalDataClient(key, secret, raw_data=True, url_override=config.rest_url)
    stocks = StockHistoricalDataClient(key, secret, raw_data=True, url_override=config.rest_url)
    out = []
    for underlying in config.underlyings:
        chain = options.get_option_chain(
            OptionChainRequest(
                underlying_symbol=underlying,
                feed=OptionsFeed(config.options_feed),
                expiration_date_gte=today,
                expiration_date_lte=today + dt.timedelta(days=config.max_dte),
            )
        )
        last = stocks.get_stock_latest_trade(
            StockLatestTradeRequest(symbol_or_symbols=underlying, feed=DataFeed(config.stock_feed))
        )
        trade = last.get(underlying) if isinstance(last, dict) else None
        spot = float(trade["p"]) if trade else None
        listed = list(chain) if isinstance(chain, dict) else []
        chosen = select_contracts(listed, spot, today, config.policy) if spot else []
        why = (
            config.policy.why(len(chosen), len(listed), spot)
            if spot
            else f"no last trade of {underlying}: no contract chosen"
        )
        out.append(Selection(underlying, spot, len(listed), tuple(chosen), why))
    return out


def with_contracts(config: AlpacaConfig, today: dt.date) -> tuple[AlpacaConfig, list[Selection]]:
    """Return ``config`` with its contracts chosen by the policy when it names none."""
    if config.contracts:
        return config, []
    selections = choose_contracts(config, today)
    chosen = tuple(c for s in selections for c in s.contracts)
    for s in selections:
        logging.getLogger(__name__).info("alpaca %s: %s", s.underlying, s.why)
    return replace(config, contracts=chosen), selections


def _batch(buffers: dict[str, list[dict[str, Any]]], received_ns: int) -> Batch:
    converters: dict[str, Callable[..., pl.DataFrame]] = {
        "option_trades": parsing.option_trades,
        "option_quotes": parsing.option_quotes,
        "equity_trades": parsing.stock_trades,
        "equity_quotes": parsing.stock_quotes,
    }
    return Batch(
        streams={
            name: converters[name](rows, received_ns) for name, rows in buffers.items() if rows
        }
    )


@dataclass(frozen=True)
class AlpacaLive(MarketSource):
    """Alpaca's option and stock websocket streams (alpaca-py clients, msgpack frames)."""

    config: AlpacaConfig = field(default_factory=AlpacaConfig)
    name: str = "alpaca"
    replays_day: bool = False
    no_replay: str = (
        "Alpaca's streams do not replay (`flowlake ingest --source alpaca` fetches its trades)"
    )

    def universe(self) -> str:
        """Return the subscribed symbols and feeds."""
        c = self.config
        return (
            f"alpaca underlyings={','.join(c.underlyings)} contracts={','.join(c.contracts)} "
            f"options_feed={c.options_feed} stock_feed={c.stock_feed}"
        )

    def historical(self, day: dt.date) -> Iterator[Batch]:
        """Return :class:`AlpacaHistorical` batches for ``day`` (REST)."""
        return AlpacaHistorical(self.config).historical(day)

    async def live(
        self, day: dt.date, *, speed: float = 1.0, interval_s: float = 1.0
    ) -> AsyncIterator[Batch]:
        """Stream trades and quotes; yield what arrived every ``interval_s`` seconds until
        the recording's end (the options' close, :func:`~adapters.calendar.recording_end`).

        The clients reconnect with their own back-off; stopping the iteration stops them.
        """
        del speed  # a live feed is today, in real time
        end = market_calendar.recording_end(day)
        from alpaca.data.enums import DataFeed, OptionsFeed
        from alpaca.data.live import OptionDataStream, StockDataStream

        key, secret = self.config.keys()
        config, selections = await asyncio.to_thread(with_contracts, self.config, day)
        first = selection_frame(selections, market_calendar.wall_ns()) if selections else None
        buffers: dict[str, list[dict[str, Any]]] = {
            "option_trades": [],
            "option_quotes": [],
            "equity_trades": [],
            "equity_quotes": [],
        }

        def into(name: str) -> Callable[[dict[str, Any]], Any]:
            async def handler(msg: dict[str, Any]) -> None:
                buffers[name].append(msg)

            return handler

        streams = []
        if config.contracts:
            options = OptionDataStream(
                key,
                secret,
                raw_data=True,
                feed=OptionsFeed(config.options_feed),
                url_override=config.options_stream_url,
            )
            options.subscribe_trades(into("option_trades"), *config.contracts)
            options.subscribe_quotes(into("option_quotes"), *config.contracts)
            streams.append(options)
        if self.config.underlyings:
            stocks = StockDataStream(
                key,
                secret,
                raw_data=True,
                feed=DataFeed(self.config.stock_feed),
                url_override=self.config.stocks_stream_url,
            )
            stocks.subscribe_trades(into("equity_trades"), *self.config.underlyings)
            stocks.subscribe_quotes(into("equity_quotes"), *self.config.underlyings)
            streams.append(stocks)
        for stream in streams:
            # Fail fast on bad keys: the clients' own loop would log and retry forever.
            await stream._start_ws()
            await stream.close()
        tasks = [asyncio.create_task(s._run_forever()) for s in streams]
        try:
            while True:
                await asyncio.sleep(interval_s)
                for task in tasks:
                    if task.done() and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
                taken = {name: rows[:] for name, rows in buffers.items()}
                for rows in buffers.values():
                    rows.clear()
                batch = _batch(taken, market_calendar.wall_ns())
                yield with_selection(batch, first)
                first = None
                if market_calendar.wall_ns() >= end:
                    return
        finally:
            for stream in streams:
                await stream.stop_ws()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


@dataclass(frozen=True)
class AlpacaHistorical(MarketSource):
    """Alpaca REST history: option trades, stock trades and quotes of one day."""

    config: AlpacaConfig = field(default_factory=AlpacaConfig)
    name: str = "alpaca-rest"

    def historical(self, day: dt.date) -> Iterator[Batch]:
        """Yield one batch with the day's option trades, stock trades and stock quotes.

        Without configured contracts, the policy chooses them from the chain the API
        lists now (:func:`with_contracts`): contracts that have expired since are not
        listed. Alpaca keeps no history of option quotes, so these option prints have
        no NBBO and place NONE.
        """
        from alpaca.data.historical import OptionHistoricalDataClient, StockHistoricalDataClient
        from alpaca.data.requests import OptionTradesRequest, StockQuotesRequest, StockTradesRequest

        config, _ = with_contracts(self.config, day)
        key, secret = config.keys()
        start = dt.datetime.combine(day, dt.time(4), tzinfo=dt.UTC)
        end = start + dt.timedelta(days=1)
        streams: dict[str, pl.DataFrame] = {}
        if config.contracts:
            client = OptionHistoricalDataClient(
                key, secret, raw_data=True, url_override=config.rest_url
            )
            body = client.get_option_trades(
                OptionTradesRequest(symbol_or_symbols=list(config.contracts), start=start, end=end)
            )
            streams["option_trades"] = parsing.option_trades(_rows(body))
        if config.underlyings:
            client = StockHistoricalDataClient(
                key, secret, raw_data=True, url_override=config.rest_url
            )
            request = {
                "symbol_or_symbols": list(config.underlyings),
                "start": start,
                "end": end,
                "feed": config.stock_feed,
            }
            streams["equity_trades"] = parsing.stock_trades(
                _rows(client.get_stock_trades(StockTradesRequest(**request)))
            )
            streams["equity_quotes"] = parsing.stock_quotes(
                _rows(client.get_stock_quotes(StockQuotesRequest(**request)))
            )
        yield Batch(streams=streams)


def _rows(body: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Flatten a raw REST body ``{symbol: [records]}`` into records carrying ``S``."""
    return [{**record, "S": symbol} for symbol, records in body.items() for record in records]
