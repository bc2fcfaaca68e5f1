"""IBKR bridge: ib_insync's own objects fed recorded ticks, and reconnects against loopback.

What is not tested here: a real TWS / IB Gateway session (no account in CI); the README says so.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket

import pytest
from ib_insync import (
    IB,
    Option,
    Stock,
    TickAttribBidAsk,
    TickAttribLast,
    TickByTickAllLast,
    TickByTickBidAsk,
    Ticker,
)

from adapters.ibkr.bridge import GatewayUnreachableError, TickCollector, connect_with_backoff
from adapters.ibkr.config import IbkrConfig
from adapters.schema import validate

T = dt.datetime(2026, 11, 24, 15, 0, 1, tzinfo=dt.UTC)  # 10:00:01 New York


def option() -> Option:
    return Option("SPY", "20261127", 600.0, "C", "SMART", currency="USD", conId=123)


def recorded_ticks() -> list[Ticker]:
    attrib = TickAttribLast(pastLimit=False, unreported=False)
    last = [
        TickByTickAllLast(1, T, 2.45, 10, attrib, "CBOE", "I"),
        TickByTickAllLast(1, T, 2.45, 10, attrib, "CBOE", "I"),  # identical print, same second
        TickByTickAllLast(1, T, 2.46, 5, attrib, "ISE", ""),
    ]
    quote = [
        TickByTickBidAsk(
            T, 2.40, 2.46, 30, 12, TickAttribBidAsk(bidPastLow=False, askPastHigh=False)
        )
    ]
    stock = Stock("SPY", "SMART", "USD", conId=756733)
    return [
        Ticker(contract=option(), tickByTicks=[*quote, *last]),
        Ticker(
            contract=stock, tickByTicks=[TickByTickAllLast(1, T, 600.01, 300, attrib, "FINRA", "")]
        ),
    ]


def test_recorded_ticks_become_canonical_rows() -> None:
    collector = TickCollector()
    collector.on_tickers(recorded_ticks())
    batch = collector.drain(received_ns=0)
    trades = batch.streams["option_trades"]
    assert trades["contract"].unique().to_list() == ["SPY   261127C00600000"]
    assert trades["exchange"].to_list() == ["C", "C", "I"]
    assert trades["event_id"].is_unique().all()  # identical prints in one second stay apart
    assert trades["ts_event"][0] == int(T.timestamp()) * 10**9
    assert batch.streams["option_quotes"].select("bid", "ask").row(0) == (2.40, 2.46)
    assert batch.streams["equity_trades"]["exchange"].to_list() == ["D"]
    for name, frame in batch.streams.items():
        assert validate(name, frame).quarantined.height == 0, name
    assert collector.drain(received_ns=1).streams == {}  # drained


def test_backoff_schedule_doubles_to_the_cap() -> None:
    assert IbkrConfig(backoff_s=1, backoff_max_s=10).delays() == [1, 2, 4, 8, 10]


def test_reconnect_backoff_against_a_closed_loopback_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once we leave the block: connections are refused
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    config = IbkrConfig(host="127.0.0.1", port=port, backoff_s=0.5, backoff_max_s=2.0)
    with pytest.raises(GatewayUnreachableError, match=f"127.0.0.1:{port} after 4 attempts"):
        asyncio.run(connect_with_backoff(IB(), config, attempts=4, sleep=fake_sleep))
    assert slept == [0.5, 1.0, 2.0]


def test_historical_is_refused_clearly() -> None:
    from adapters.ibkr.bridge import IbkrOptionsBridge

    with pytest.raises(ValueError, match="live only"):
        next(IbkrOptionsBridge(IbkrConfig()).historical(dt.date(2026, 11, 24)))
