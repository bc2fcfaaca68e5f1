"""Databento Live: ``databento.Live`` itself against a loopback gateway speaking the live
protocol (CRAM, subscriptions, a DBN stream)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import databento as db
import databento_dbn as dbn
import polars as pl
import pytest

from adapters.calendar import ny_ns
from adapters.databento.config import DatabentoConfig
from adapters.databento.live import DatabentoLive, GatewayRefused
from adapters.databento.loader import DatabentoFiles
from adapters.source import Batch
from tests.dbn import option_definition, publisher, px, trade
from tests.lsg import LiveGateway

KEY = "db-loopbackKeyForTests00000"
DAY = dt.date(2026, 11, 24)
OPTION = "SPY   261218C00600000"
MIDNIGHT = str(int(dt.datetime(2026, 11, 24, tzinfo=dt.UTC).timestamp()) * 10**9)
SAMPLES = Path(__file__).parent / "data" / "databento"


def day_records() -> tuple[dict[tuple[str, str], list[object]], dict[str, dict[str, int]]]:
    """A session's last seconds: an option printing at the NBBO's ask (tcbbo) 20 times, SPY
    trading on Nasdaq and off-exchange (a FINRA TRF), SPY's consolidated quote; and each
    stream's last record at 16:15, when a recording ends."""
    cboe, nasdaq, trf = (
        publisher("OPRA.PILLAR", "XCBO"),
        publisher("EQUS.PLUS", "XNAS"),
        publisher("EQUS.PLUS", "FINN"),
    )
    mini = publisher("EQUS.MINI", "EQUS")
    t0 = ny_ns(DAY, dt.time(16, 14, 41))
    second = 1_000_000_000
    prints = [
        dbn.CBBOMsg(
            rtype=int(dbn.RType.TCBBO), publisher_id=cboe, instrument_id=11, ts_event=t0 + k * second,
            price=px(2.46), size=10, side=dbn.Side.NONE, ts_recv=t0 + k * second + 1000,
            levels=dbn.ConsolidatedBidAskPair(bid_px=px(2.40), ask_px=px(2.46), bid_sz=30, ask_sz=12),
        )
        for k in range(20)
    ]  # fmt: skip
    equity = [
        trade(nasdaq if k % 2 else trf, 1, t0 + k * second, 600.4, 100, k + 1) for k in range(20)
    ]
    quotes = [
        dbn.MBP1Msg(
            publisher_id=mini, instrument_id=1, ts_event=t0 + k * second, price=px(600.39),
            size=0, action=dbn.Action.ADD, side=dbn.Side.BID, depth=0,
            ts_recv=t0 + k * second + 500, sequence=k + 1,
            levels=dbn.BidAskPair(bid_px=px(600.39), ask_px=px(600.41), bid_sz=3, ask_sz=4),
        )
        for k in range(20)
    ]  # fmt: skip
    definition = option_definition(cboe, 11, t0 - 10 * second, OPTION, "SPY", 600.0, "C")
    return (
        {
            ("OPRA.PILLAR", "definition"): [definition],
            ("OPRA.PILLAR", "tcbbo"): prints,
            ("OPRA.PILLAR", "statistics"): [],
            ("EQUS.PLUS", "trades"): equity,
            ("EQUS.MINI", "mbp-1"): quotes,
        },
        {"OPRA.PILLAR": {OPTION: 11}, "EQUS.PLUS": {"SPY": 1}, "EQUS.MINI": {"SPY": 1}},
    )


def config(port: int, **kw: object) -> DatabentoConfig:
    return DatabentoConfig.for_underlyings(
        ("SPY",), api_key=KEY, live_gateway="127.0.0.1", live_port=port, **kw
    )


async def collect(gateway: LiveGateway, source: DatabentoLive, until: Callable[[list[Batch]], bool] | None = None) -> list[Batch]:  # fmt: skip
    batches: list[Batch] = []
    async for batch in source.live(DAY, interval_s=0.2):
        batches.append(batch)
        if until is not None and until(batches):
            break
    return batches


def rows(batches: list[Batch]) -> dict[str, pl.DataFrame]:
    names = {n for b in batches for n in b.streams}
    return {
        n: pl.concat([b.streams[n] for b in batches if n in b.streams], how="diagonal_relaxed")
        for n in names
    }


def run(gateway: LiveGateway, make: Callable[[int], DatabentoLive], until: Callable[[list[Batch]], bool] | None = None) -> list[Batch]:  # fmt: skip
    async def main() -> list[Batch]:
        port = await gateway.start()
        try:
            return await collect(gateway, make(port), until)
        finally:
            await gateway.close()

    return asyncio.run(main())


def test_a_live_day_streams_through_the_vendor_client_and_ends_at_the_close() -> None:
    records, instruments = day_records()
    gateway = LiveGateway(KEY, records, instruments)
    got = rows(run(gateway, lambda port: DatabentoLive(config(port))))
    # One session per dataset, each schema subscribed by its symbols from now.
    subscribed = {
        (d, str(s.schema), str(s.symbols), s.start) for d, subs in gateway.sessions for s in subs
    }
    assert subscribed == {
        ("OPRA.PILLAR", "definition", "SPY.OPT", MIDNIGHT),  # definitions: the day's
        ("OPRA.PILLAR", "statistics", "SPY.OPT", None),
        ("OPRA.PILLAR", "tcbbo", "SPY.OPT", None),
        ("EQUS.PLUS", "trades", "SPY", None),
        ("EQUS.MINI", "mbp-1", "SPY", None),
    }
    trades = got["option_trades"]
    assert trades.height == 20 and set(trades["contract"]) == {OPTION}
    assert set(trades["multiplier"]) == {100}  # the definition, sent once, fills every batch
    quotes = got["option_quotes"]
    assert set(quotes["exchange"]) == {"NBBO"} and set(quotes["source"]) == {"databento.tcbbo"}
    equity = got["equity_trades"]
    assert sorted(set(equity["exchange"])) == ["D", "Q"]  # off-exchange prints keep their venue
    assert got["equity_quotes"].height == 20


def test_live_rows_equal_the_files_rows_of_the_same_records() -> None:
    """The vendor's own sample files, streamed live, give the rows the files give."""
    files = [SAMPLES / "OPRA.PILLAR" / "test_data.trades.dbn.zst", SAMPLES / "OPRA.PILLAR" / "test_data.definition.dbn.zst"]  # fmt: skip
    stores = [db.DBNStore.from_file(f) for f in files]
    records = {("OPRA.PILLAR", str(s.schema)): list(s) for s in stores}
    raw = {r: int(i["symbol"]) for r, ints in stores[0].metadata.mappings.items() for i in ints}
    gateway = LiveGateway(KEY, records, {"OPRA.PILLAR": raw})
    day = dt.datetime.fromtimestamp(stores[0].metadata.start / 1e9, dt.UTC).date()
    cfg = DatabentoConfig(
        datasets=(("OPRA.PILLAR", ("definition", "trades")),),
        symbols=(("OPRA.PILLAR", tuple(raw)),), stype_in=(("OPRA.PILLAR", "raw_symbol"),),
        api_key=KEY, live_gateway="127.0.0.1",
    )  # fmt: skip
    expected = next(DatabentoFiles(tuple(str(f) for f in files)).historical(day)).streams[
        "option_trades"
    ]

    async def main() -> pl.DataFrame:
        port = await gateway.start()
        got: list[Batch] = []
        try:
            from dataclasses import replace

            async for batch in DatabentoLive(replace(cfg, live_port=port)).live(
                day, interval_s=0.2
            ):
                got.append(batch)
                if (
                    sum(b.streams.get("option_trades", pl.DataFrame()).height for b in got)
                    >= expected.height
                ):
                    break
        finally:
            await gateway.close()
        return rows(got)["option_trades"]

    live = asyncio.run(asyncio.wait_for(main(), 60))
    assert live.sort("event_id").equals(expected.sort("event_id"))


def test_a_cut_connection_reopens_with_replay_from_the_last_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    records, instruments = day_records()
    gateway = LiveGateway(KEY, records, instruments, drop_after=8)
    with caplog.at_level(logging.WARNING, logger="flowlake"):
        got = rows(run(gateway, lambda port: DatabentoLive(config(port))))
    reopened = [subs for d, subs in gateway.sessions[3:]]
    assert reopened and all(s.start is not None for subs in reopened for s in subs)
    assert any("connection lost; reopening with replay" in r.getMessage() for r in caplog.records)
    # Every print once, though the replay sent some twice (their ids are the same).
    from adapters.schema import validate

    landed = validate("option_trades", got["option_trades"], day=DAY).valid.unique("event_id")
    assert landed.height == 20


def test_a_slow_reader_is_warned_and_loses_nothing(caplog: pytest.LogCaptureFixture) -> None:
    records, instruments = day_records()
    gateway = LiveGateway(KEY, records, instruments, slow_after=5)
    with caplog.at_level(logging.WARNING, logger="flowlake"):
        got = rows(run(gateway, lambda port: DatabentoLive(config(port))))
    assert {str(a.slow_reader_behavior) for a in gateway.auths} == {"warn"}  # never "skip"
    assert any("slow reading detected" in r.getMessage() for r in caplog.records)
    assert got["option_trades"].height == 20


def test_a_wrong_key_and_an_unknown_symbol_are_one_clear_error() -> None:
    records, instruments = day_records()
    with pytest.raises(GatewayRefused, match="Authentication failed"):
        run(LiveGateway("db-someOtherKey000000000000", records, instruments),
            lambda port: DatabentoLive(config(port)))  # fmt: skip
    with pytest.raises(GatewayRefused, match="Failed to resolve symbol: NOPE"):
        run(LiveGateway(KEY, records, instruments),
            lambda port: DatabentoLive(DatabentoConfig.for_underlyings(
                ("NOPE",), api_key=KEY, live_gateway="127.0.0.1", live_port=port)))  # fmt: skip


def test_a_killed_recording_resumes_by_intraday_replay_without_loss_or_doubles(
    tmp_path: Path,
) -> None:
    from orchestration.live import record
    from orchestration.spool import Spool

    records, instruments = day_records()
    spool = Spool(tmp_path / "spool")

    async def once(kill: bool) -> LiveGateway:
        gateway = LiveGateway(KEY, records, instruments, pace_s=0.05)
        port = await gateway.start()
        task = asyncio.create_task(
            record(DatabentoLive(config(port)), spool, DAY, speed=1, interval_s=0.2)
        )
        if kill:
            while not any("option_trades" in spool.read(b).streams for b in spool.batches(DAY)):
                await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        else:
            await task
        await gateway.close()
        return gateway

    asyncio.run(once(kill=True))
    resume = spool.batches(DAY)[-1].manifest["resume"]
    second = asyncio.run(once(kill=False))
    starts = {int(s.start) for _, subs in second.sessions for s in subs if s.schema != "definition"}
    assert starts == {resume}
    every = [spool.read(b) for b in spool.batches(DAY)]
    trades = pl.concat(
        [b.streams["option_trades"] for b in every if "option_trades" in b.streams],
        how="diagonal_relaxed",
    )
    assert set(trades["multiplier"]) == {100}  # definitions replayed from the day's start
    assert trades["event_id"].n_unique() == 20  # nothing lost; replayed prints share their ids


def test_flowlake_live_databento_lands_placed_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lake import Lake
    from lake.read import read
    from orchestration.cli import main

    records, instruments = day_records()
    gateway = LiveGateway(KEY, records, instruments)
    loop = asyncio.new_event_loop()
    port = loop.run_until_complete(gateway.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("DATABENTO_API_KEY", KEY)
    monkeypatch.setenv("DATABENTO_LIVE_GATEWAY", f"127.0.0.1:{port}")
    monkeypatch.setenv("FLOWLAKE_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    args = ["live", "--source", "databento", "--date", DAY.isoformat(), "--underlyings", "SPY",
            "--speed", "1", "--interval", "0.3", "--spool", str(tmp_path / "spool"), "--poll", "0.3"]  # fmt: skip
    try:
        with pytest.raises(SystemExit) as exc:
            main(args)
    finally:
        asyncio.run_coroutine_threadsafe(gateway.close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
    assert exc.value.code == 0, capsys.readouterr().err
    lake = Lake(str(tmp_path / "lake"))
    prints = read(lake, "option_prints", dates=[DAY])
    assert prints is not None and prints.height == 20
    assert set(prints["placement"]) == {"A"} and set(prints["premium"]) == {2.46 * 10 * 100}
    equity = read(lake, "equity_prints", dates=[DAY])
    assert equity is not None and sorted(set(equity["exchange"])) == ["D", "Q"]
