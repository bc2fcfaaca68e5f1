"""Alpaca adapter: the real alpaca-py clients against local servers speaking Alpaca's protocols."""

from __future__ import annotations

import asyncio
import datetime as dt
import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import msgpack
import polars as pl
import pytest
from websockets.asyncio.server import ServerConnection, serve

from adapters import calendar as market_calendar
from adapters.alpaca.config import AlpacaConfig
from adapters.alpaca.loader import AlpacaHistorical, AlpacaLive
from adapters.alpaca.parsing import option_trades
from adapters.calendar import ny_ns
from adapters.chain import select_contracts
from adapters.credentials import MissingCredentialError
from adapters.schema import validate

DATA = Path(__file__).parent / "data" / "alpaca"
KEY, SECRET = "PKTEST", "secret-test"
T0 = 1_710_250_494_178_322_688  # 2024-03-12 13:34:54.178322688 UTC (09:34 New York)


def ts(ns: int) -> msgpack.Timestamp:
    return msgpack.Timestamp(ns // 1_000_000_000, ns % 1_000_000_000)


OPTION_FRAMES = [
    [{"T": "t", "S": "SPY240426C00555000", "t": ts(T0), "x": "M", "p": 0.24, "s": 1, "c": "I"}],
    [
        {
            "T": "q",
            "S": "SPY240426C00555000",
            "t": ts(T0 + 5),
            "ax": "C",
            "ap": 0.25,
            "as": 10,
            "bx": "M",
            "bp": 0.23,
            "bs": 7,
            "c": "A",
        },
        {
            "T": "t",
            "S": "SPY240426C00555000",
            "t": ts(T0 + 9),
            "x": "B",
            "p": 0.21,
            "s": 20,
            "c": "j",
        },
    ],
]
STOCK_FRAMES = [
    [
        {
            "T": "t",
            "S": "SPY",
            "t": ts(T0 + 1),
            "i": 52983525029461,
            "x": "D",
            "p": 512.3,
            "s": 200,
            "c": ["@"],
            "z": "B",
        }
    ],
    [
        {
            "T": "q",
            "S": "SPY",
            "t": ts(T0 + 2),
            "ax": "Q",
            "ap": 512.31,
            "as": 3,
            "bx": "K",
            "bp": 512.29,
            "bs": 2,
            "c": ["R"],
            "z": "B",
        }
    ],
]


def clock_on(day: dt.date, start: dt.time) -> Callable[[], int]:
    """Return a wall clock running in real time from ``start`` New York time on ``day``: a
    recording of a past day would otherwise be over before it starts."""
    origin, begun = ny_ns(day, start), time.time_ns()
    return lambda: origin + time.time_ns() - begun


class FakeAlpacaStream:
    """A websocket server with Alpaca's handshake: connected, auth, subscription, data frames."""

    def __init__(self, frames: list[list[dict[str, Any]]]) -> None:
        self.frames = frames
        self.subscriptions: list[dict[str, Any]] = []
        self.auth: list[dict[str, Any]] = []

    async def handler(self, ws: ServerConnection) -> None:
        await ws.send(msgpack.packb([{"T": "success", "msg": "connected"}]))
        auth = msgpack.unpackb(await ws.recv())
        self.auth.append(auth)
        if (auth.get("key"), auth.get("secret")) != (KEY, SECRET):
            await ws.send(msgpack.packb([{"T": "error", "code": 402, "msg": "auth failed"}]))
            await ws.close()
            return
        await ws.send(msgpack.packb([{"T": "success", "msg": "authenticated"}]))
        sub = msgpack.unpackb(await ws.recv())
        self.subscriptions.append(sub)
        await ws.send(
            msgpack.packb(
                [
                    {
                        "T": "subscription",
                        "trades": sub.get("trades", []),
                        "quotes": sub.get("quotes", []),
                    }
                ]
            )
        )
        for frame in self.frames:
            await asyncio.sleep(0.05)
            await ws.send(msgpack.packb(frame, datetime=False))
        await ws.wait_closed()


async def run_live(
    config_kwargs: dict[str, Any], batches: int = 3, day: dt.date = dt.date(2024, 3, 12)
) -> tuple[dict[str, pl.DataFrame], FakeAlpacaStream, FakeAlpacaStream]:
    opt, stk = FakeAlpacaStream(OPTION_FRAMES), FakeAlpacaStream(STOCK_FRAMES)
    async with serve(opt.handler, "127.0.0.1", 0) as s1, serve(stk.handler, "127.0.0.1", 0) as s2:
        p1, p2 = s1.sockets[0].getsockname()[1], s2.sockets[0].getsockname()[1]
        config = AlpacaConfig(**{
            "underlyings": ("SPY",), "contracts": ("SPY240426C00555000",),
            "options_stream_url": f"ws://127.0.0.1:{p1}/v1beta1/indicative",
            "stocks_stream_url": f"ws://127.0.0.1:{p2}/v2/iex", **config_kwargs,
        })  # fmt: skip
        got: dict[str, list[pl.DataFrame]] = {}
        stream = AlpacaLive(config).live(day, interval_s=0.4)
        clock = pytest.MonkeyPatch()
        clock.setattr(market_calendar, "wall_ns", clock_on(day, dt.time(10)))
        try:
            for _ in range(batches):
                batch = await asyncio.wait_for(anext(stream), timeout=20)
                for name, frame in batch.streams.items():
                    got.setdefault(name, []).append(frame)
        finally:
            await stream.aclose()
            clock.undo()
    return {k: pl.concat(v) for k, v in got.items()}, opt, stk


def test_live_streams_through_the_real_clients() -> None:
    rows, opt, stk = asyncio.run(run_live({"api_key": KEY, "secret_key": SECRET}))
    assert opt.auth[0] == {"action": "auth", "key": KEY, "secret": SECRET}
    assert opt.subscriptions[0]["trades"] == ["SPY240426C00555000"] and stk.subscriptions[0][
        "quotes"
    ] == ["SPY"]
    trades = rows["option_trades"]
    assert trades["contract"].to_list() == ["SPY   240426C00555000"] * 2
    assert trades["ts_event"].to_list() == [T0, T0 + 9]  # nanoseconds survive msgpack
    assert trades["conditions"].to_list() == [["I"], ["j"]]
    assert rows["option_quotes"].select("bid", "ask").row(0) == (0.23, 0.25)
    assert rows["equity_trades"].select("symbol", "exchange", "size").row(0) == ("SPY", "D", 200)
    for name, frame in rows.items():
        result = validate(name, frame)
        assert result.quarantined.height == 0, (name, result.quarantined["reason"].to_list())


def test_bad_keys_fail_with_the_services_message() -> None:
    with pytest.raises(ValueError, match="auth failed"):
        asyncio.run(run_live({"api_key": "wrong", "secret_key": "nope"}, batches=2))


def test_missing_keys_name_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("APCA_API_KEY_ID", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MissingCredentialError, match="APCA_API_KEY_ID is not set"):
        AlpacaConfig().keys()


class FakeAlpacaRest(http.server.BaseHTTPRequestHandler):
    """Serves the recorded response bodies of Alpaca's data API, one page each."""

    seen: ClassVar[list[tuple[str, dict[str, list[str]], str | None]]] = []
    BODIES: ClassVar[dict[str, str]] = {
        "/v1beta1/options/trades": "option_data__test_get_trades.json",
        "/v2/stocks/trades": "stock_data__test_get_trades.json",
        "/v2/stocks/quotes": "stock_data__test_get_quotes.json",
        "/v2/stocks/trades/latest": "stock_data__test_get_latest_trade.json",  # AAPL 161.2958
    }
    #: The option chain the snapshots endpoint lists (Alpaca's compact symbols).
    CHAIN: ClassVar[list[str]] = [
        f"AAPL{e}{r}{k * 1000:08d}"
        for e in ("220318", "220325", "220401", "220414", "220520")
        for r in "CP"
        for k in range(100, 225, 5)
    ]

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        type(self).seen.append((url.path, query, self.headers.get("APCA-API-KEY-ID")))
        if url.path.startswith("/v1beta1/options/snapshots/"):
            body = {"snapshots": {symbol: {} for symbol in self.CHAIN}}
        else:
            body = json.loads((DATA / self.BODIES[url.path]).read_text())["response"]
        body["next_page_token"] = None  # one page
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def fake_rest() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeAlpacaRest)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeAlpacaRest.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_rest_history_through_the_real_clients(fake_rest: str) -> None:
    config = AlpacaConfig(
        underlyings=("AAPL",),
        contracts=("SPY240426C00555000",),
        rest_url=fake_rest,
        api_key=KEY,
        secret_key=SECRET,
    )
    batch = next(AlpacaHistorical(config).historical(dt.date(2024, 3, 12)))
    paths = [p for p, _, _ in FakeAlpacaRest.seen]
    assert paths == ["/v1beta1/options/trades", "/v2/stocks/trades", "/v2/stocks/quotes"]
    assert all(key == KEY for _, _, key in FakeAlpacaRest.seen)
    trades = batch.streams["option_trades"]
    assert trades["ts_event"].to_list() == [T0, 1_710_251_542_558_447_104]
    assert trades["conditions"].to_list() == [["I"], ["j"]] and trades["exchange"].to_list() == [
        "M",
        "B",
    ]
    stock = batch.streams["equity_trades"]
    assert stock["conditions"][0].to_list() == ["@", "T", "I"] and stock["exchange"][0] == "D"
    # The recorded pre-market quotes are crossed (ask < bid): quarantined, not landed.
    quotes = validate("equity_quotes", batch.streams["equity_quotes"])
    assert quotes.valid.height == 0 and set(
        quotes.quarantined["reason"].str.contains("crossed quote")
    ) == {True}


def test_contract_selection_is_bounded() -> None:
    today = dt.date(2024, 3, 12)  # a Tuesday; 2024-03-15 is the monthly (third Friday)
    expiries = [
        dt.date(2024, 3, 13),
        dt.date(2024, 3, 15),
        dt.date(2024, 3, 22),
        dt.date(2024, 4, 19),
        dt.date(2024, 6, 21),
    ]
    symbols = [
        f"SPY{e:%y%m%d}{r}{k * 1000:08d}" for e in expiries for r in "CP" for k in range(400, 601)
    ]
    chosen = select_contracts(symbols, spot=500.0, today=today)
    exp = {s[3:9] for s in chosen}
    assert exp == {"240313", "240315"}  # nearest weekly + nearest monthly, both within 30 days
    assert len(chosen) == 2 * 2 * 2 * 8  # 2 expiries x 2 rights x 2 sides x 8 strikes
    strikes = sorted({int(s[-8:]) / 1000 for s in chosen})
    assert strikes == [float(k) for k in range(493, 509)]
    # Sparse strikes: fewer than 8 per side within 6% -> widen to 10%.
    sparse = [f"SPY240313C{k * 1000:08d}" for k in range(450, 551, 5)]
    wide = sorted(int(s[-8:]) / 1000 for s in select_contracts(sparse, 500.0, today))
    # below: 470..500 is 7 strikes -> 465..500; above: 505..530 is 6 -> 505..540 (8 nearest).
    assert min(wide) == 465.0 and max(wide) == 540.0 and len(wide) == 16
    many = [f"SPY240313{r}{k * 100:08d}" for r in "CP" for k in range(4000, 6001)]
    assert len(select_contracts(many, 500.0, today)) <= 200


def test_option_symbol_to_osi() -> None:
    frame = option_trades(
        [
            {
                "S": "AAPL250221C00250000",
                "t": "2025-02-20T14:30:00.817657088Z",
                "x": "C",
                "p": 1.0,
                "s": 1,
                "c": " ",
            }
        ]
    )
    assert frame.row(0, named=True)["contract"] == "AAPL  250221C00250000"
    assert frame["conditions"].to_list() == [[]]


def test_credentials_never_reach_the_spool_or_the_lake(tmp_path: Path) -> None:
    import datetime as dt

    from adapters.source import Batch
    from assets.landing import land_batch
    from lake import Lake
    from orchestration.spool import Spool

    rows, _, _ = asyncio.run(run_live({"api_key": KEY, "secret_key": SECRET}))
    day = dt.date(2024, 3, 12)
    spooled = Spool(tmp_path / "spool").append(day, Batch(streams=rows), source="alpaca", cursor=0)
    land_batch(Lake(str(tmp_path / "lake")), Batch(streams=rows), day)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert KEY.encode() not in data and SECRET.encode() not in data, path
    assert spooled.manifest["source"] == "alpaca"


#: By hand, AAPL last 161.2958 on 2022-03-18 (a third Friday: the monthly, and 0DTE), strikes
#: every 5: within 6% (151.6-171.0) a side has 2 (155, 160) and 2 (165, 170) strikes, fewer
#: than 8, so 10% (145.2-177.4): 150, 155, 160 below and 165, 170, 175 above. Expiries: the
#: nearest weekly (03-25) and the nearest monthly (03-18) within 30 days.
CHOSEN = sorted(
    f"AAPL{e}{r}{k * 1000:08d}"
    for e in ("220318", "220325") for r in "CP" for k in (150, 155, 160, 165, 170, 175)
)  # fmt: skip


def test_chain_listed_and_chosen_by_the_policy_through_the_real_clients(fake_rest: str) -> None:
    from adapters.alpaca.loader import choose_contracts

    config = AlpacaConfig(underlyings=("AAPL",), rest_url=fake_rest, api_key=KEY, secret_key=SECRET)
    (selection,) = choose_contracts(config, dt.date(2022, 3, 18))
    assert sorted(selection.contracts) == CHOSEN
    assert (selection.spot, selection.listed) == (161.2958, len(FakeAlpacaRest.CHAIN))
    assert selection.why.startswith("24 of 250 listed contracts: nearest weekly and monthly")
    chain_path, query, _ = FakeAlpacaRest.seen[0]
    assert chain_path == "/v1beta1/options/snapshots/AAPL"
    assert (query["feed"], query["expiration_date_gte"], query["expiration_date_lte"]) == (
        ["indicative"],
        ["2022-03-18"],
        ["2022-04-17"],
    )
    # The knobs are the config's: 2 strikes a side within 6% -> 2 x 2 x 2 x 2.
    narrow = AlpacaConfig(underlyings=("AAPL",), rest_url=fake_rest, api_key=KEY,
                          secret_key=SECRET, strikes_per_side=2, max_quotes=12)  # fmt: skip
    (small,) = choose_contracts(narrow, dt.date(2022, 3, 18))
    assert len(small.contracts) == 12


def test_history_without_contracts_fetches_the_chosen_ones(fake_rest: str) -> None:
    config = AlpacaConfig(underlyings=("AAPL",), rest_url=fake_rest, api_key=KEY, secret_key=SECRET)
    batch = next(AlpacaHistorical(config).historical(dt.date(2022, 3, 18)))
    trades = [q for p, q, _ in FakeAlpacaRest.seen if p == "/v1beta1/options/trades"]
    assert sorted(trades[0]["symbols"][0].split(",")) == CHOSEN
    assert batch.streams["option_trades"].height > 0


def test_live_without_contracts_subscribes_the_chosen_ones_and_spools_why(fake_rest: str) -> None:
    from adapters.chain import SELECTION_STREAM

    rows, opt, _ = asyncio.run(
        run_live(
            {
                "underlyings": ("AAPL",),
                "contracts": (),
                "rest_url": fake_rest,
                "api_key": KEY,
                "secret_key": SECRET,
            },
            day=dt.date(2022, 3, 18),
        )
    )
    assert (
        sorted(opt.subscriptions[0]["trades"]) == sorted(opt.subscriptions[0]["quotes"]) == CHOSEN
    )
    chosen = rows[SELECTION_STREAM]
    assert sorted(chosen.get_column("contract").to_list()) == CHOSEN
    assert set(chosen.get_column("spot")) == {161.2958}


def test_policy_knobs_come_from_flags_then_the_environment_then_dotenv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("ALPACA_MAX_QUOTES=50\nALPACA_STRIKES_PER_SIDE=3\n")
    monkeypatch.setenv("ALPACA_STRIKES_PER_SIDE", "4")
    monkeypatch.setenv("ALPACA_OPTIONS_FEED", "opra")
    config = AlpacaConfig.from_settings(moneyness="0.05", max_dte=None)
    assert (config.max_quotes, config.strikes_per_side, config.options_feed) == (50, 4, "opra")
    assert (config.moneyness, config.max_dte) == (0.05, 30)
    monkeypatch.setenv("ALPACA_OPTIONS_FEED", "sip")
    with pytest.raises(ValueError, match="ALPACA_OPTIONS_FEED / --options-feed: 'sip'"):
        AlpacaConfig.from_settings()


def test_flowlake_live_alpaca_lands_placed_option_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``flowlake live --source alpaca`` against the local streams: the named contract's
    prints land placed against Alpaca's quote, and the run ends at the options' close."""
    from lake import Lake
    from lake.read import read
    from orchestration.cli import main

    day = dt.date(2024, 3, 12)
    monkeypatch.setattr(market_calendar, "wall_ns", clock_on(day, dt.time(16, 14, 57)))
    opt, stk = FakeAlpacaStream(OPTION_FRAMES), FakeAlpacaStream(STOCK_FRAMES)
    loop = asyncio.new_event_loop()

    async def start(fake: FakeAlpacaStream) -> Any:
        return await serve(fake.handler, "127.0.0.1", 0)

    servers = [loop.run_until_complete(start(f)) for f in (opt, stk)]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    p1, p2 = (s.sockets[0].getsockname()[1] for s in servers)
    for name, value in {
        "APCA_API_KEY_ID": KEY, "APCA_API_SECRET_KEY": SECRET,
        "ALPACA_OPTIONS_STREAM_URL": f"ws://127.0.0.1:{p1}/v1beta1/indicative",
        "ALPACA_STOCKS_STREAM_URL": f"ws://127.0.0.1:{p2}/v2/iex",
        "FLOWLAKE_LAKE": str(tmp_path / "lake"), "DAGSTER_HOME": str(tmp_path / "home"),
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    args = ["live", "--source", "alpaca", "--date", day.isoformat(), "--underlyings", "SPY",
            "--contracts", "SPY240426C00555000", "--speed", "1", "--interval", "0.5",
            "--spool", str(tmp_path / "spool"), "--poll", "0.5"]  # fmt: skip
    try:
        with pytest.raises(SystemExit) as exc:
            main(args)
    finally:
        for server in servers:
            server.close()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
    assert exc.value.code == 0, capsys.readouterr().err
    assert opt.subscriptions[0]["trades"] == ["SPY240426C00555000"]
    prints = read(Lake(str(tmp_path / "lake")), "option_prints", dates=[day])
    assert prints is not None
    placed = prints.sort("ts_event").select("price", "placement", "nbbo_bid", "nbbo_ask").rows()
    # The first print comes before any quote: NONE. The second, 0.21 under the 0.23 x 0.25
    # quote 4 ns before it: below the bid.
    assert placed == [(0.24, "NONE", None, None), (0.21, "BB", 0.23, 0.25)]
