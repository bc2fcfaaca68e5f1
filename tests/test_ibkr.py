"""IBKR source: ib_insync's own client against a loopback server speaking the TWS API.

What is not tested here: a real TWS / IB Gateway session (no account in CI); the README says so.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import polars as pl
import pytest
from ib_insync import (
    IB,
    Stock,
    TickAttribBidAsk,
    TickAttribLast,
    TickByTickAllLast,
    TickByTickBidAsk,
    TickData,
    Ticker,
)

from adapters import calendar as market_calendar
from adapters.calendar import ny_ns
from adapters.chain import SELECTION_STREAM, ChainPolicy
from adapters.ibkr.bridge import (
    GatewayUnreachableError,
    IbkrLive,
    IbkrRefused,
    TickCollector,
    connect_with_backoff,
    market_data_prints,
)
from adapters.ibkr.config import IbkrConfig
from adapters.schema import validate
from adapters.source import Batch
from tests.tws import TwsServer

DAY = dt.date(2026, 11, 24)
T = dt.datetime(2026, 11, 24, 15, 0, 1, tzinfo=dt.UTC)  # 10:00:01 New York
SPY_ID = 756733
EXPIRIES = ["20261127", "20261218", "20270115"]  # a weekly, the monthly, beyond 30 days
STRIKES = [590.0, 595.0, 600.0, 605.0, 610.0]


def tws() -> TwsServer:
    return TwsServer(
        stocks={"SPY": (SPY_ID, 600.4), "QQQ": (320730, 510.0)},
        chains={"SPY": (EXPIRIES, STRIKES)},
        missing={("SPY", "20261127", 590.0)},
        not_subscribed={"QQQ"},
    )


def test_tick_by_tick_ticks_become_canonical_rows() -> None:
    attrib = TickAttribLast(pastLimit=False, unreported=False)
    stock = Stock("SPY", "SMART", "USD", conId=SPY_ID)
    ticker = Ticker(
        contract=stock,
        tickByTicks=[
            TickByTickAllLast(1, T, 600.01, 300, attrib, "FINRA", ""),
            TickByTickAllLast(1, T, 600.01, 300, attrib, "FINRA", ""),  # identical print
            TickByTickBidAsk(T, 600.0, 600.02, 5, 7, TickAttribBidAsk(False, False)),
        ],
    )
    t_ns = int(T.timestamp()) * 10**9
    collector = TickCollector(clock=lambda: t_ns)
    collector.on_tickers([ticker])
    batch = collector.drain(received_ns=50)
    trades = batch.streams["equity_trades"]
    assert trades["exchange"].to_list() == ["D", "D"]
    assert trades["event_id"].is_unique().all()  # identical prints in one update stay apart
    assert trades["ts_event"].to_list() == [t_ns, t_ns]  # arrival: ib_insync keeps no other time
    assert batch.streams["equity_quotes"].select("bid", "ask", "bid_size").row(0) == (
        600.0,
        600.02,
        5,
    )
    for name, frame in batch.streams.items():
        assert validate(name, frame).quarantined.height == 0, name
    assert collector.drain(received_ns=1).streams == {}  # drained


def test_market_data_ticks_give_prints_by_hand() -> None:
    """LAST then its own LAST_SIZE is one print; a LAST_SIZE alone is another print at the
    last price; bid/ask ticks are not prints; a zero size is no print."""
    ticker = Ticker(lastExchange="C")
    ticker.ticks = [
        TickData(T, 1, 2.40, 30),
        TickData(T, 4, 2.45, 10),
        TickData(T, 5, 2.45, 10),  # the size of the print above
        TickData(T, 5, 2.45, 3),  # a second print at the same price
        TickData(T, 2, 2.50, 12),
        TickData(T, 5, 2.45, 3),  # a third, same size as the second
        TickData(T, 4, 2.46, 0),
    ]
    assert market_data_prints(ticker, 7) == (
        [(7, 2.45, 10, "C", ""), (7, 2.45, 3, "C", ""), (7, 2.45, 3, "C", "")],
        None,
    )
    # A LAST whose own size tick comes in the next update is still one print.
    ticker.ticks = [TickData(T, 4, 2.47, 8)]
    assert market_data_prints(ticker, 8) == ([(8, 2.47, 8, "C", "")], 8)
    ticker.ticks = [TickData(T, 5, 2.47, 8), TickData(T, 5, 2.47, 8)]
    assert market_data_prints(ticker, 9, 8) == ([(9, 2.47, 8, "C", "")], None)


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
    with pytest.raises(ValueError, match="live only"):
        next(IbkrLive(IbkrConfig()).historical(DAY))


def test_policy_and_lines_come_from_flags_then_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IBKR_MAX_LINES", "40")
    monkeypatch.setenv("IBKR_STRIKES_PER_SIDE", "3")
    config = IbkrConfig.from_settings(strikes_per_side="2", max_dte=None, underlyings=("SPY",))
    assert (config.max_lines, config.policy.strikes_per_side, config.policy.max_dte) == (40, 2, 30)
    with pytest.raises(ValueError, match="IBKR_MAX_LINES / --max-lines: '0'"):
        IbkrConfig.from_settings(max_lines="0")


def session_clock(start: dt.time) -> Callable[[], int]:
    """Return a clock running in real time from ``start`` New York time on ``DAY``."""
    origin, begun = ny_ns(DAY, start), time.time_ns()
    return lambda: origin + time.time_ns() - begun


async def feed(server: TwsServer, pushes: int) -> None:
    """Push quotes and prints to every subscribed option and to SPY, ``pushes`` rounds."""
    for _ in range(pushes):
        await asyncio.sleep(0.3)
        for sub in server.streaming("mkt"):
            server.quote(sub.contract.con_id, 2.40, 2.46, 30, 12)
        await server.flush()
        await asyncio.sleep(0.05)
        for sub in server.streaming("mkt"):
            server.trade(sub.contract.con_id, 2.46, 10, "W", repeat=False)
        await server.flush()
        await asyncio.sleep(0.05)
        for sub in server.streaming("mkt"):
            server.trade(sub.contract.con_id, 2.46, 4, "W", repeat=True)
        server.quote(SPY_ID, 600.39, 600.41, 3, 4)
        server.trade(SPY_ID, 600.40, 100, "FINRA", repeat=False)
        await server.flush()


async def stream(
    config: IbkrConfig,
    server: TwsServer,
    *,
    pushes: int,
    during: Callable[[TwsServer], object] | None = None,
) -> list[Batch]:
    """Run the source until the session closes, the server pushing ticks meanwhile."""
    batches: list[Batch] = []
    source: AsyncIterator[Batch] = IbkrLive(config).live(DAY, interval_s=0.25)

    async def drive() -> None:
        while len(server.streaming()) < 3:
            await asyncio.sleep(0.02)
        await feed(server, pushes)
        if during is not None:
            during(server)
            while len(server.streaming()) < 3:  # resubscribed after the reconnect
                await asyncio.sleep(0.02)
            await feed(server, pushes)

    driver = asyncio.create_task(drive())
    async for batch in source:
        batches.append(batch)
    await driver
    return batches


def rows(batches: list[Batch]) -> dict[str, pl.DataFrame]:
    names = {n for b in batches for n in b.streams}
    return {n: pl.concat([b.streams[n] for b in batches if n in b.streams]) for n in names}


def run(config_of: Callable[[int], IbkrConfig], clock_start: dt.time, monkeypatch: pytest.MonkeyPatch, **kw: object) -> tuple[dict[str, pl.DataFrame], TwsServer]:  # fmt: skip
    async def main() -> tuple[dict[str, pl.DataFrame], TwsServer]:
        server = tws()
        port = await server.start()
        monkeypatch.setattr(market_calendar, "wall_ns", session_clock(clock_start))
        try:
            got = await stream(config_of(port), server, **kw)  # type: ignore[arg-type]
        finally:
            await server.close()
        return rows(got), server

    return asyncio.run(main())


def config_at(port: int, **kw: object) -> IbkrConfig:
    return IbkrConfig(
        underlyings=("SPY",), port=port, backoff_s=0.1, backoff_max_s=0.2,
        policy=ChainPolicy(strikes_per_side=2), **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_options_stream_as_market_data_for_the_chosen_chain_slice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    got, server = run(config_at, dt.time(16, 14, 56), monkeypatch, pushes=2)
    # The policy: the weekly (11-27) and the monthly (12-18) within 30 days, 2 strikes a side
    # of 600.4 (600, 595 | 605, 610), calls and puts: 16, less 11-27's unlisted 590 (not near).
    chosen = sorted(got[SELECTION_STREAM]["contract"].to_list())
    assert len(chosen) == 16 and all(c[6:12] in ("261127", "261218") for c in chosen)
    assert {float(c[-8:]) / 1000 for c in chosen} == {595.0, 600.0, 605.0, 610.0}
    assert got[SELECTION_STREAM]["why"][0].startswith("16 of 30 listed contracts")
    # Options through reqMktData, the stock through tick-by-tick: IB has no tick-by-tick
    # data for options.
    requested = server.requests
    tick_by_tick = [r for r in requested if r[0] == "97"]
    market_data = [r for r in requested if r[0] == "1" and r[17] == "0"]
    assert {r[3] for r in tick_by_tick} == {"SPY"} and {r[4] for r in tick_by_tick} == {"STK"}
    assert len(market_data) == 16 and {r[5] for r in market_data} == {"OPT"}
    trades = got["option_trades"]
    # Each push: a print of 10 (LAST and its size) and a print of 4 (the size alone).
    assert sorted(set(trades["contract"].to_list())) == chosen
    per_contract = trades.group_by("contract").agg(pl.col("size").sort()).get_column("size")
    assert all(sizes.to_list() == [4, 4, 10, 10] for sizes in per_contract)
    # The stream's opening state (a print of 1 at 2.30 earlier in the day) is no new print.
    assert set(trades["exchange"]) == {"W"} and set(trades["price"]) == {2.46}
    quotes = got["option_quotes"]
    assert set(quotes["exchange"]) == {"NBBO"} and quotes.select("bid", "ask").unique().rows() == [
        (2.40, 2.46)
    ]
    equity = got["equity_trades"]
    assert equity.select("symbol", "exchange", "size").unique().rows() == [("SPY", "D", 100)]
    for name, frame in got.items():
        if name != SELECTION_STREAM:
            result = validate(name, frame, day=DAY)
            assert result.quarantined.height == 0, (name, result.quarantined["reason"].to_list())
    # The stream ended on its own at the recording's end (16:15 New York: the options' close).
    assert trades["ts_event"].max() < ny_ns(DAY, dt.time(16, 15, 1))  # type: ignore[operator]


def test_a_dropped_connection_reconnects_and_resubscribes(monkeypatch: pytest.MonkeyPatch) -> None:
    got, server = run(
        lambda port: config_at(port, contracts=("SPY   261218C00600000",)),
        dt.time(16, 14, 55),
        monkeypatch,
        pushes=1,
        during=TwsServer.drop,
    )
    assert server.connections == 2
    assert got["option_trades"].height == 4  # two prints before the drop, two after
    assert SELECTION_STREAM not in got  # named contracts: nothing was chosen


@pytest.mark.parametrize(
    ("underlyings", "message"),
    [(("XYZ",), "IB knows no stock XYZ on SMART"), (("QQQ",), "IB error 354 for QQQ")],
)
def test_refusals_are_one_clear_error(
    underlyings: tuple[str, ...], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> None:
        server = TwsServer(stocks={"QQQ": (320730, 510.0)}, chains={}, not_subscribed={"QQQ"})
        port = await server.start()
        monkeypatch.setattr(market_calendar, "wall_ns", session_clock(dt.time(11, 0)))
        config = IbkrConfig(underlyings=underlyings, port=port, contracts=())
        try:
            async for batch in IbkrLive(config).live(DAY, interval_s=0.2):
                del batch
        finally:
            await server.close()

    with pytest.raises(IbkrRefused, match=message):
        asyncio.run(main())


def test_a_restarted_recording_continues_and_reports_the_gap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Killed mid-stream and started again: every batch of both runs is spooled once, the
    positions go on, and the pause (IB does not replay market data) is logged."""
    from orchestration.live import record
    from orchestration.spool import Spool

    spool = Spool(tmp_path / "spool")

    async def once(stop_after: bool, start: dt.time) -> None:
        server = tws()
        port = await server.start()
        monkeypatch.setattr(market_calendar, "wall_ns", session_clock(start))
        source = IbkrLive(config_at(port, contracts=("SPY   261218C00600000",)))
        task = asyncio.create_task(record(source, spool, DAY, speed=1, interval_s=0.25))
        while len(server.streaming()) < 3:
            await asyncio.sleep(0.02)
        await feed(server, 2)
        if stop_after:
            await asyncio.sleep(0.6)  # the pushes are spooled (0.25 s batches); more may come
            task.cancel()  # the recorder killed mid-stream
            with pytest.raises(asyncio.CancelledError):
                await task
        else:
            await task
        await server.close()

    asyncio.run(once(stop_after=True, start=dt.time(15, 0)))
    first = spool.batches(DAY)
    with caplog.at_level(logging.WARNING, logger="flowlake"):
        asyncio.run(once(stop_after=False, start=dt.time(16, 14, 57)))
    every = spool.batches(DAY)
    assert [b.cursor for b in every] == list(range(len(every)))  # numbered on, none skipped
    assert len(every) > len(first)
    trades = pl.concat(
        [
            spool.read(b).streams["option_trades"]
            for b in every
            if "option_trades" in spool.read(b).streams
        ]
    )
    assert trades.height == 8 and trades["event_id"].is_unique().all()  # 4 a run, none twice
    assert any("IB does not replay market data" in r.getMessage() for r in caplog.records)


def test_flowlake_live_lands_placed_option_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``flowlake live --source ibkr`` against the loopback gateway: the chosen options'
    prints land, placed against IB's quote, and the run ends at the options' close."""
    import threading

    from lake import Lake
    from lake.read import read
    from orchestration.cli import main

    loop = asyncio.new_event_loop()
    server = tws()
    port = loop.run_until_complete(server.start())

    async def serve() -> None:
        while len(server.streaming()) < 3:
            await asyncio.sleep(0.02)
        await feed(server, 3)

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    monkeypatch.setenv("IBKR_PORT", str(port))
    monkeypatch.setenv("FLOWLAKE_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(market_calendar, "wall_ns", session_clock(dt.time(16, 14, 54)))
    args = ["live", "--source", "ibkr", "--date", DAY.isoformat(), "--underlyings", "SPY",
            "--strikes-per-side", "1", "--speed", "1", "--interval", "0.5",
            "--spool", str(tmp_path / "spool"), "--poll", "0.5"]  # fmt: skip
    try:
        with pytest.raises(SystemExit) as exc:
            main(args)
    finally:
        thread.join(timeout=10)
        loop.run_until_complete(server.close())
        loop.run_until_complete(asyncio.sleep(0.1))  # the connections' tasks end
        loop.close()
    assert exc.value.code == 0, capsys.readouterr().err
    prints = read(Lake(str(tmp_path / "lake")), "option_prints", dates=[DAY])
    assert prints is not None
    # 1 strike a side x 2 expiries x 2 rights = 8 contracts, 2 prints a push, 3 pushes.
    assert prints.height == 48 and prints["contract"].n_unique() == 8
    assert set(prints["placement"]) == {"A"}  # 2.46 at the ask of 2.40 x 2.46
    assert set(prints["nbbo_bid"]) == {2.40} and set(prints["side"]) == {"buy"}
