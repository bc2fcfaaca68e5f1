"""Alpaca sources: live websocket streams and REST history, plus the bounded contract selection."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from adapters.alpaca import parsing
from adapters.alpaca.config import AlpacaConfig
from adapters.osi import parse_osi_columns
from adapters.source import Batch, MarketSource

MAX_DTE = 30
STRIKES_PER_SIDE = 8
NEAR_BAND, WIDE_BAND = 0.06, 0.10
MAX_SUBSCRIPTIONS = 200


def _third_friday(day: dt.date) -> bool:
    return day.weekday() == 4 and 15 <= day.day <= 21


def select_contracts(symbols: list[str], spot: float, today: dt.date) -> list[str]:
    """Return the bounded subscription set for one underlying's option chain.

    The nearest weekly and the nearest monthly expiry within 30 days; per expiry and
    right, the 8 strikes nearest the spot on each side within +-6% (+-10% when a side
    has fewer than 8 there); at most 200 contracts, nearest the money first.

    Parameters
    ----------
    symbols
        Contract symbols of the chain (Alpaca's compact form or OSI).
    spot
        The underlying's last price.
    today
        The trading date.
    """
    if not symbols:
        return []
    chain = (
        pl.DataFrame({"symbol": symbols})
        .with_columns(parsing.osi_symbol(pl.col("symbol").str.replace_all(" ", "")).alias("osi"))
        .with_columns(**parse_osi_columns(pl.col("osi")))
        .drop_nulls("expiry")
    )
    chain = chain.filter(
        (pl.col("expiry") >= today) & (pl.col("expiry") <= today + dt.timedelta(days=MAX_DTE))
    )
    expiries = sorted(set(chain["expiry"].to_list()))
    monthly = next((e for e in expiries if _third_friday(e)), None)
    weekly = next((e for e in expiries if not _third_friday(e)), None)
    chosen_exp = [e for e in (weekly, monthly) if e is not None]
    picked = []
    for (expiry, right), part in chain.filter(pl.col("expiry").is_in(chosen_exp)).group_by(
        "expiry", "right", maintain_order=True
    ):
        del expiry, right
        for side in (pl.col("strike") <= spot, pl.col("strike") > spot):
            near = part.filter(side & ((pl.col("strike") / spot - 1).abs() <= NEAR_BAND))
            band = (
                near
                if near.height >= STRIKES_PER_SIDE
                else part.filter(side & ((pl.col("strike") / spot - 1).abs() <= WIDE_BAND))
            )
            picked.append(band.sort((pl.col("strike") - spot).abs()).head(STRIKES_PER_SIDE))
    if not picked:
        return []
    out = (
        pl.concat(picked)
        .sort((pl.col("strike") - spot).abs(), "expiry", "symbol")
        .head(MAX_SUBSCRIPTIONS)
    )
    return sorted(out["symbol"].to_list())


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
        """Stream trades and quotes; yield what arrived every ``interval_s`` seconds.

        The clients reconnect with their own back-off; stopping the iteration stops them.
        """
        del day, speed  # a live feed is today, in real time
        from alpaca.data.enums import DataFeed, OptionsFeed
        from alpaca.data.live import OptionDataStream, StockDataStream

        key, secret = self.config.keys()
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
        if self.config.contracts:
            options = OptionDataStream(
                key,
                secret,
                raw_data=True,
                feed=OptionsFeed(self.config.options_feed),
                url_override=self.config.options_stream_url,
            )
            options.subscribe_trades(into("option_trades"), *self.config.contracts)
            options.subscribe_quotes(into("option_quotes"), *self.config.contracts)
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
                yield _batch(taken, time.time_ns())
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
        """Yield one batch with the day's option trades, stock trades and stock quotes."""
        from alpaca.data.historical import OptionHistoricalDataClient, StockHistoricalDataClient
        from alpaca.data.requests import OptionTradesRequest, StockQuotesRequest, StockTradesRequest

        key, secret = self.config.keys()
        start = dt.datetime.combine(day, dt.time(4), tzinfo=dt.UTC)
        end = start + dt.timedelta(days=1)
        streams: dict[str, pl.DataFrame] = {}
        if self.config.contracts:
            client = OptionHistoricalDataClient(
                key, secret, raw_data=True, url_override=self.config.rest_url
            )
            body = client.get_option_trades(
                OptionTradesRequest(
                    symbol_or_symbols=list(self.config.contracts), start=start, end=end
                )
            )
            streams["option_trades"] = parsing.option_trades(_rows(body))
        if self.config.underlyings:
            client = StockHistoricalDataClient(
                key, secret, raw_data=True, url_override=self.config.rest_url
            )
            request = {
                "symbol_or_symbols": list(self.config.underlyings),
                "start": start,
                "end": end,
                "feed": self.config.stock_feed,
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
