"""Databento adapter on real DBN sample files, and the real client against a local API."""

from __future__ import annotations

import datetime as dt
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs

import databento as db
import polars as pl
import pytest

from adapters.credentials import MissingCredentialError
from adapters.databento.config import DatabentoConfig
from adapters.databento.loader import DatabentoFiles, DatabentoHistorical, load_stores
from adapters.databento.parsing import parse
from adapters.databento.venues import venue_code
from adapters.schema import validate

DATA = Path(__file__).parent / "data" / "databento"
OPRA = DATA / "OPRA.PILLAR"
EQUS = DATA / "EQUS.MINI"
DAY = dt.date(2025, 2, 20)


def store(dataset: Path, schema: str) -> db.DBNStore:
    return db.DBNStore.from_file(dataset / f"test_data.{schema}.dbn.zst")


def test_opra_trades_match_the_vendor_decoder() -> None:
    trades = parse(store(OPRA, "trades"))["option_trades"]
    vendor = pl.read_csv(DATA / "head__OPRA.PILLAR__trades.csv")
    assert trades["price"].to_list() == pytest.approx(vendor["price"].to_list())
    assert trades["size"].to_list() == vendor["size"].to_list()
    assert trades["contract"].to_list() == vendor["symbol"].to_list()
    ts = vendor.select(
        pl.col("ts_event").str.to_datetime("%Y-%m-%d %H:%M:%S%.f%:z", time_unit="ns").dt.epoch("ns")
    )["ts_event"].to_list()
    assert trades["ts_event"].to_list() == ts
    # Publisher ids 23 / 26 / 37 are MIAX Emerald, Nasdaq ISE and MIAX Sapphire.
    assert trades["exchange"].to_list() == ["U", "I", "I", "S"]
    assert validate("option_trades", trades).quarantined.height == 0


def test_venue_codes() -> None:
    assert venue_code(23, options=True) == "U"
    assert venue_code(26, options=True) == "I"
    with pytest.raises(ValueError):
        venue_code(65_000, options=True)


def test_tbbo_gives_trades_and_the_quote_before_each() -> None:
    parsed = parse(store(OPRA, "tbbo"))
    trades, quotes = parsed["option_trades"], parsed["option_quotes"]
    assert trades.height == quotes.height == 4
    assert quotes["ts_event"].to_list() == trades["ts_event"].to_list()
    assert (quotes["bid"][0], quotes["ask"][0]) == pytest.approx((0.24, 0.25))


def test_definitions_fill_multiplier_sentinel_and_statistics_give_open_interest() -> None:
    batch = load_stores(
        [store(OPRA, "definition"), store(OPRA, "trades"), store(OPRA, "statistics")]
    )
    assert batch.streams["option_trades"]["multiplier"].unique().to_list() == [
        100
    ]  # i32::MAX means unset
    oi = batch.streams["option_open_interest"]
    assert oi.select("date", "contract", "open_interest").rows() == [
        (DAY, "AAPL  250221C00250000", 57924)
    ]
    assert validate("option_open_interest", oi).valid.height == 1


def test_empty_preopen_book_is_quarantined_not_dropped() -> None:
    quotes = parse(store(OPRA, "mbp-1"))["option_quotes"]
    result = validate("option_quotes", quotes)
    assert result.valid.height + result.quarantined.height == quotes.height
    assert result.quarantined.height > 0


def test_equities_trades_and_quotes() -> None:
    parsed = load_stores([store(EQUS, "tbbo"), store(EQUS, "mbp-1")]).streams
    vendor = pl.read_csv(DATA / "head__EQUS.MINI__trades.csv")
    assert parsed["equity_trades"]["price"].to_list() == pytest.approx(vendor["price"].to_list())
    assert parsed["equity_trades"]["symbol"].unique().to_list() == ["QQQ"]
    assert {"bid", "ask", "bid_size", "ask_size"} <= set(parsed["equity_quotes"].columns)


def test_unsupported_schema_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unsupported Databento schema"):
        parse(_ohlcv())


def _ohlcv() -> db.DBNStore:
    from databento_dbn import Metadata, OHLCVMsg, Schema, SType

    meta = Metadata(
        dataset="OPRA.PILLAR",
        start=0,
        stype_in=SType.RAW_SYMBOL,
        stype_out=SType.INSTRUMENT_ID,
        schema=Schema.OHLCV_1M,
        symbols=[],
        partial=[],
        not_found=[],
        mappings=[],
    )
    record = OHLCVMsg(
        rtype=0x21,
        publisher_id=30,
        instrument_id=1,
        ts_event=1,
        open=1,
        high=1,
        low=1,
        close=1,
        volume=1,
    )
    return db.DBNStore.from_bytes(meta.encode() + bytes(record))


def test_files_source_and_cli_ingest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lake import Lake
    from lake.read import read
    from orchestration.cli import main

    monkeypatch.setenv("FLOWLAKE_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    files = [
        str(OPRA / f"test_data.{s}.dbn.zst")
        for s in ("definition", "statistics", "tbbo", "trades", "cbbo-1s")
    ]
    with pytest.raises(SystemExit) as exc:
        main(["ingest", *files, "--date", DAY.isoformat()])
    assert exc.value.code == 0, capsys.readouterr().err
    lake = Lake(str(tmp_path / "lake"))
    assert (
        read(lake, "option_trades").height == 4
    )  # trades and tbbo carry the same prints: landed once
    assert read(lake, "option_open_interest").height == 1
    with pytest.raises(SystemExit):
        main(["build", "--date", DAY.isoformat()])
    prints = read(lake, "option_prints")
    # The tbbo books are each trade's own venue (publishers 23, 26, 37), not the NBBO: they
    # place nothing. The NBBO is the cbbo-1s sample, known at the end of its second
    # (hand-checked, eps = max(0.01, 5% of the spread)):
    # 14:30:00.818 0.24: the NBBO in force is the 13:00:01 sample, an empty book -> NONE;
    # 14:30:01.632 0.20, 01.645 0.19, 01.746 0.19: the 14:30:01 sample 0.10 x 0.25, under a
    # second old, eps 0.01; each is over 0.01 from both sides -> MID.
    assert prints.sort("ts_event", "seq")["placement"].to_list() == ["NONE", "MID", "MID", "MID"]
    quotes = read(lake, "option_quotes")
    venues = quotes.filter(pl.col("source") == "databento.tbbo")
    assert venues.height == 4 and set(venues.get_column("exchange")) == {"U", "I", "S"}
    assert set(quotes.filter(pl.col("exchange") == "NBBO").get_column("source")) == {
        "databento.cbbo-1s"
    }
    assert list(DatabentoFiles(tuple(files)).historical(DAY))


class _FakeDatabento(http.server.BaseHTTPRequestHandler):
    """Speaks the historical API's timeseries.get_range: basic auth, form body, DBN reply."""

    requests: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        form = {k: v[0] for k, v in parse_qs(body).items()}
        type(self).requests.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), **form}
        )
        dataset = DATA / form["dataset"]
        file = dataset / f"test_data.{form['schema']}.dbn.zst"
        if self.path != "/v0/timeseries.get_range" or not file.exists():
            self.send_response(422)
            self.end_headers()
            return
        payload = file.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def fake_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The fake API over TLS on loopback (the client always speaks https), with a throwaway
    self-signed certificate that requests is told to trust for this test only."""
    import ssl
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeDatabento)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _FakeDatabento.requests = []
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_historical_api_through_the_real_client(fake_api: str) -> None:
    config = DatabentoConfig(
        datasets=(("OPRA.PILLAR", ("definition", "tbbo")),),
        symbols=(("OPRA.PILLAR", ("AAPL.OPT",)),),
        api_key="db-" + "k" * 29,
        gateway=fake_api,
    )
    batches = list(DatabentoHistorical(config).historical(DAY))
    assert batches[0].streams["option_trades"].height == 4
    sent = _FakeDatabento.requests
    assert [r["schema"] for r in sent] == ["definition", "tbbo"]
    assert (
        sent[0]["stype_in"] == "parent"
        and sent[0]["symbols"] == "AAPL.OPT"
        and sent[0]["start"].startswith("2025-02-20")
    )
    assert sent[0]["auth"].startswith("Basic ")


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DATABENTO_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MissingCredentialError, match="DATABENTO_API_KEY is not set"):
        list(DatabentoHistorical(DatabentoConfig()).historical(DAY))
    (tmp_path / ".env").write_text("DATABENTO_API_KEY=db-fromdotenv\n")
    assert DatabentoConfig().key() == "db-fromdotenv"
