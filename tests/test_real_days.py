"""Real-data days end to end: DBN files of several venues, index roots, days read from the
files, FINRA TRF prints. Files the vendor samples lack are written with databento's own
record classes (tests/dbn.py); every expectation is worked out by hand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import databento_dbn as dbn
import polars as pl
import pytest

from adapters.calendar import ny_ns
from lake import Lake
from lake.read import read
from tests.dbn import book, option_definition, publisher, trade, write

DAY = dt.date(2025, 12, 5)  # a Friday: SPXW's 0DTE expiry
MS = 1_000_000
SPXW = "SPXW  251205C06000000"
DATA = Path(__file__).parent / "data" / "databento"


def flowlake(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    from orchestration.cli import main

    with pytest.raises(SystemExit) as exc:
        main(args)
    out, err = capsys.readouterr()
    assert exc.value.code == 0, err
    return out


def opra_day(folder: Path) -> list[str]:
    """A 0DTE SPXW call quoted by three venues (mbp-1) and traded five times."""
    t0 = ny_ns(DAY, dt.time(10, 0))
    start, end = ny_ns(DAY, dt.time(0)), ny_ns(DAY, dt.time(23))
    cboe, ise, arca = (publisher("OPRA.PILLAR", v) for v in ("XCBO", "XISX", "ARCO"))
    iid = 1001
    books = [
        book(cboe, iid, t0, 1.00, 1.20, 10, 10, 1),
        book(ise, iid, t0 + 10 * MS, 1.05, 1.30, 5, 5, 2),  # NBBO 1.05 x 1.20
        book(arca, iid, t0 + 20 * MS, 0.95, 1.10, 5, 5, 3),  # NBBO 1.05 x 1.10
        book(ise, iid, t0 + 5_000 * MS, 1.08, 1.30, 5, 5, 4),  # NBBO 1.08 x 1.10
        book(arca, iid, t0 + 9_000 * MS, 1.12, 1.25, 5, 5, 5),  # NBBO 1.12 x 1.20
    ]
    trades = [
        trade(cboe, iid, t0 + 30 * MS, 1.10, 3, 10),
        trade(ise, iid, t0 + 3_000 * MS, 1.06, 2, 11),
        trade(arca, iid, t0 + 6_000 * MS, 1.12, 4, 12),
        trade(cboe, iid, t0 + 9_500 * MS, 1.22, 1, 13),
        trade(ise, iid, t0 + 9_500 * MS + 1, 1.12, 6, 14),
    ]
    opra = publisher("OPRA.PILLAR", "OPRA")
    definition = option_definition(opra, iid, start, SPXW, "SPX", 6000.0, "C")
    symbols = {SPXW: iid}
    return [
        str(write(folder / "day.definition.dbn", "OPRA.PILLAR", dbn.Schema.DEFINITION,
                  start, end, symbols, [definition])),
        str(write(folder / "day.mbp-1.dbn", "OPRA.PILLAR", dbn.Schema.MBP_1, start, end,
                  symbols, books)),
        str(write(folder / "day.trades.dbn", "OPRA.PILLAR", dbn.Schema.TRADES, start, end,
                  symbols, trades)),
    ]  # fmt: skip


def test_venue_books_day_lands_without_date_and_places_against_the_nbbo(
    clean_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = opra_day(tmp_path)
    out = flowlake(["ingest", *files], capsys)
    assert out.startswith(f"ingest {DAY} -> ") and "option_trades=5" in out
    flowlake(["build", "--date", DAY.isoformat()], capsys)
    lake = Lake(str(clean_env))
    prints = read(lake, "option_prints").sort("ts_event", "seq")
    # By hand, eps = max(0.01, 5% of the spread) = 0.01 (tests/test_consolidation.py has
    # the same book): each against the best bid and offer across the three venues.
    assert prints.get_column("placement").to_list() == ["A", "B", "AA", "AA", "B"]
    assert prints.select("nbbo_bid", "nbbo_ask").rows() == [
        (1.05, 1.10), (1.05, 1.10), (1.08, 1.10), (1.12, 1.20), (1.12, 1.20),
    ]  # fmt: skip
    # The index root's underlying comes from the definition: SPX, not SPXW.
    assert set(prints.get_column("underlying")) == {"SPX"}
    assert read(lake, "quarantine") is None or read(lake, "quarantine").height == 0
    # No venue book is stored as an NBBO.
    quotes = read(lake, "option_quotes")
    assert quotes.height == 5 and set(quotes.get_column("exchange")) == {"C", "I", "N"}
    assert set(read(lake, "flow_packets").get_column("underlying")) == {"SPX"}


def test_index_root_without_a_definition_takes_its_underlying_from_the_root_table() -> None:
    from adapters.schema import validate

    trades = pl.DataFrame(
        {"event_id": ["x"], "source": ["t"], "ts_event": [ny_ns(DAY, dt.time(10))],
         "ts_recv": [ny_ns(DAY, dt.time(10))], "contract": [SPXW], "price": [1.0],
         "size": [1], "exchange": ["C"]}
    )  # fmt: skip
    result = validate("option_trades", trades)
    assert result.valid.get_column("underlying").to_list() == ["SPX"]
    adjusted = trades.with_columns(
        pl.lit("AAPL1 251219C00200000").alias("contract"), pl.lit("AAPL").alias("underlying")
    )
    assert validate("option_trades", adjusted).quarantined.height == 0
    wrong = trades.with_columns(pl.lit("QQQ").alias("underlying"))
    assert "disagrees" in validate("option_trades", wrong).quarantined.item(0, "reason")


def test_a_file_of_two_days_lands_each_row_on_its_own_date(
    clean_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = DAY - dt.timedelta(days=1)
    contract, iid = "SPY   251219C00680000", 7
    cboe = publisher("OPRA.PILLAR", "XCBO")
    rows = [
        trade(cboe, iid, ny_ns(before, dt.time(10)), 5.0, 1, 1),
        trade(cboe, iid, ny_ns(before, dt.time(15, 59)), 5.1, 2, 2),
        trade(cboe, iid, ny_ns(DAY, dt.time(9, 31)), 5.2, 3, 3),
    ]
    path = write(tmp_path / "two.trades.dbn", "OPRA.PILLAR", dbn.Schema.TRADES,
                 ny_ns(before, dt.time(0)), ny_ns(DAY, dt.time(23)), {contract: iid}, rows)  # fmt: skip
    out = flowlake(["ingest", str(path)], capsys)
    assert [line.split(" -> ")[0] for line in out.splitlines()] == [
        f"ingest {before}",
        f"ingest {DAY}",
    ]
    lake = Lake(str(clean_env))
    landed = read(lake, "option_trades").sort("ts_event")
    assert landed.select("date", "size").rows() == [(before, 1), (before, 2), (DAY, 3)]
    assert read(lake, "quarantine") is None  # nothing was "another day" of a run


def test_a_given_date_no_row_falls_on_is_one_line(
    clean_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchestration.cli import main

    files = opra_day(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["ingest", files[2], "--date", "2025-12-04"])
    err = capsys.readouterr().err
    assert exc.value.code == 1 and err.count("\n") == 1
    assert "none of the rows is of 2025-12-04: 5 rows of other trading days" in err


def test_real_2023_equity_files_land_on_their_day_without_a_date(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [str(DATA / "EQUS.MINI" / f"test_data.{s}.dbn.zst") for s in ("trades", "mbp-1")]
    out = flowlake(["ingest", *files], capsys)
    assert out.startswith("ingest 2023-03-28 -> ") and "equity_trades=4" in out
    assert set(read(Lake(str(clean_env)), "equity_trades").get_column("date")) == {
        dt.date(2023, 3, 28)
    }


def test_trf_prints_are_off_exchange_prints_candle_volume_and_dark_pool_inputs(
    clean_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t0 = ny_ns(DAY, dt.time(10, 0))
    start, end = ny_ns(DAY, dt.time(0)), ny_ns(DAY, dt.time(23))
    nasdaq, trf = publisher("EQUS.PLUS", "XNAS"), publisher("EQUS.PLUS", "FINN")
    iid = 42
    trades = [
        trade(nasdaq, iid, t0, 600.00, 100, 1),
        trade(trf, iid, t0 + 2 * MS, 600.01, 5_000, 2),  # a dark block
        trade(nasdaq, iid, t0 + 4 * MS, 600.02, 200, 3),
    ]
    path = write(tmp_path / "spy.trades.dbn", "EQUS.PLUS", dbn.Schema.TRADES, start, end,
                 {"SPY": iid}, trades)  # fmt: skip
    flowlake(["ingest", str(path)], capsys)
    flowlake(["build", "--date", DAY.isoformat()], capsys)
    lake = Lake(str(clean_env))
    landed = read(lake, "equity_trades").sort("ts_event")
    assert landed.get_column("exchange").to_list() == ["Q", "D", "Q"]
    prints = read(lake, "equity_prints").sort("ts_event")
    assert prints.get_column("off_exchange").to_list() == [False, True, False]
    candles = read(lake, "equity_candles").filter(pl.col("symbol") == "SPY")
    minute = candles.filter(pl.col("interval") == candles.get_column("interval").min())
    assert minute.get_column("off_exchange_volume").sum() == 5_000
    assert minute.get_column("volume").sum() == 5_300


def test_live_tails_of_a_venue_books_day_equal_its_replay(tmp_path: Path) -> None:
    """Landed a second at a time as the live path does, each tail places its prints
    against books that stand from before it (Cboe's 10:00:00 offer is the NBBO's at 9.5 s):
    the same rows as the whole day built at once."""

    import dagster as dg
    from polars.testing import assert_frame_equal

    from adapters.databento.loader import DatabentoFiles
    from adapters.source import slice_by_time
    from assets.landing import land_batch
    from assets.resources import LakeResource, ThresholdsResource
    from assets.sources import DatabentoFilesSource
    from orchestration.definitions import defs

    files = opra_day(tmp_path)
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}

    def run(root: Path, selection: dg.AssetSelection | None, tags: dict[str, str]) -> None:
        resources = {"lake": LakeResource(root=str(root)), "thresholds": ThresholdsResource(),
                     "source": DatabentoFilesSource(paths=files)}  # fmt: skip
        with dg.DagsterInstance.ephemeral() as instance:
            assert dg.materialize(
                list(defs.assets), resources=resources, partition_key=DAY.isoformat(),
                instance=instance, selection=selection, run_config=quiet, tags=tags,
            ).success  # fmt: skip

    replay, live = tmp_path / "replay", tmp_path / "live"
    run(replay, None, {})
    # The day a second at a time from 10:00, as the live path lands it (DESIGN: a tail per
    # batch); books before a piece's start arrive with earlier pieces only.
    whole = next(DatabentoFiles(tuple(files)).historical(DAY))
    t0 = ny_ns(DAY, dt.time(10, 0))
    derived = dg.AssetSelection.all() - dg.AssetSelection.groups("landing")
    tails = 0
    for _, piece in slice_by_time(whole, t0, t0 + 10_000 * MS, 1_000 * MS):
        tail = land_batch(Lake(str(live)), piece, DAY, track_tail=True).tail
        if tail.option_ns is not None and piece.streams["option_trades"].height:
            run(live, derived, tail.tags())
            tails += 1
    assert tails >= 4  # the prints arrive over several batches
    a = read(Lake(str(replay)), "option_prints").sort("event_id")
    b = read(Lake(str(live)), "option_prints").sort("event_id")
    assert_frame_equal(a, b, check_column_order=False, check_exact=True)
    assert sorted(b.get_column("placement").to_list()) == sorted(["A", "B", "AA", "AA", "B"])


def test_spx_0dte_flow_is_priced_against_the_level_its_options_imply(
    clean_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No feed prints the SPX index; its 0DTE calls and puts do. By hand: at the 6000
    strike the call mid is 12.25 and the put mid 9.25 (the closest pair; at 6010, 7.25 and
    14.25), so SPX = 6000 + 12.25 - 9.25 = 6003. A 500-lot bought at the 6000 call's ask
    is 0.05% from the money: a 0DTE hit."""
    t0 = ny_ns(DAY, dt.time(10, 0))
    books = {  # contract -> (bid, ask)
        "SPXW  251205C06000000": (12.0, 12.5), "SPXW  251205P06000000": (9.0, 9.5),
        "SPXW  251205C06010000": (7.0, 7.5), "SPXW  251205P06010000": (14.0, 14.5),
    }  # fmt: skip
    quotes = pl.DataFrame(
        [
            {"event_id": f"q{i}", "source": "test", "ts_event": t0, "ts_recv": t0,
             "contract": c, "bid": b, "ask": a, "bid_size": 10, "ask_size": 10,
             "exchange": "NBBO", "seq": i}
            for i, (c, (b, a)) in enumerate(books.items())
        ]
    )  # fmt: skip
    trades = pl.DataFrame(
        [{"event_id": "t0", "source": "test", "ts_event": t0 + 500 * MS, "ts_recv": t0 + 500 * MS,
          "contract": "SPXW  251205C06000000", "price": 12.5, "size": 500, "exchange": "C"}]
    )  # fmt: skip
    quotes.write_parquet(tmp_path / "option_quotes.parquet")
    trades.write_parquet(tmp_path / "option_trades.parquet")
    flowlake(["ingest", str(tmp_path / "option_quotes.parquet"),
              str(tmp_path / "option_trades.parquet")], capsys)  # fmt: skip
    flowlake(["build", "--date", DAY.isoformat()], capsys)
    lake = Lake(str(clean_env))
    prints = read(lake, "option_prints")
    assert prints.select("underlying", "placement", "premium").rows() == [("SPX", "A", 625_000.0)]
    hits = read(lake, "classifier_hits").filter(pl.col("classifier") == "zero_dte")
    assert hits.height == 1
    assert "of underlying 6003.0 (implied by its options' put-call parity)" in hits.item(
        0, "explanation"
    )


def test_tcbbo_beside_trades_of_the_same_dataset_is_refused(tmp_path: Path) -> None:
    from adapters.databento.loader import DatabentoFiles

    t0 = ny_ns(DAY, dt.time(10))
    start, end = ny_ns(DAY, dt.time(0)), ny_ns(DAY, dt.time(23))
    cboe = publisher("OPRA.PILLAR", "XCBO")
    record = dbn.CBBOMsg(  # a tcbbo record: a print and the consolidated book before it
        rtype=int(dbn.RType.TCBBO), publisher_id=cboe, instrument_id=1, ts_event=t0,
        price=1_100_000_000, size=1, side=dbn.Side.NONE, ts_recv=t0 + 1000,
        levels=dbn.ConsolidatedBidAskPair(bid_px=1_000_000_000, ask_px=1_100_000_000,
                                          bid_sz=1, ask_sz=1),
    )  # fmt: skip
    tcbbo = write(tmp_path / "d.tcbbo.dbn", "OPRA.PILLAR", dbn.Schema.TCBBO, start, end,
                  {SPXW: 1}, [record])  # fmt: skip
    trades = write(tmp_path / "d.trades.dbn", "OPRA.PILLAR", dbn.Schema.TRADES, start, end,
                   {SPXW: 1}, [trade(cboe, 1, t0, 1.1, 1, 1)])  # fmt: skip
    alone = next(DatabentoFiles((str(tcbbo),)).historical(DAY)).streams
    assert alone["option_trades"].height == 1
    assert alone["option_quotes"].select("exchange", "source", "bid", "ask").rows() == [
        ("NBBO", "databento.tcbbo", 1.0, 1.1)
    ]
    with pytest.raises(ValueError, match="ingest tcbbo or trades/tbbo, not both"):
        next(DatabentoFiles((str(tcbbo), str(trades))).historical(DAY))


def test_cmbp1_lands_as_a_complete_nbbo(tmp_path: Path) -> None:
    from adapters.databento.loader import DatabentoFiles
    from adapters.schema import validate

    t0 = ny_ns(DAY, dt.time(10))
    opra = publisher("OPRA.PILLAR", "OPRA")

    def update(ms: int, bid: float | None, ask: float | None) -> dbn.CMBP1Msg:
        return dbn.CMBP1Msg(
            rtype=int(dbn.RType.CMBP_1), publisher_id=opra, instrument_id=1,
            ts_event=t0 + ms * MS, price=0, size=0, action=dbn.Action.MODIFY,
            side=dbn.Side.NONE, ts_recv=t0 + ms * MS + 1000,
            levels=dbn.ConsolidatedBidAskPair(
                bid_px=dbn.UNDEF_PRICE if bid is None else round(bid * 1e9),
                ask_px=dbn.UNDEF_PRICE if ask is None else round(ask * 1e9), bid_sz=2, ask_sz=3),
        )  # fmt: skip

    path = write(tmp_path / "d.cmbp-1.dbn", "OPRA.PILLAR", dbn.Schema.CMBP_1,
                 ny_ns(DAY, dt.time(0)), ny_ns(DAY, dt.time(23)), {SPXW: 1},
                 [update(0, 1.0, 1.1), update(5, 1.2, 1.1), update(9, None, None)])  # fmt: skip
    quotes = next(DatabentoFiles((str(path),)).historical(DAY)).streams["option_quotes"]
    assert quotes.select("exchange", "source", "bid", "ask").rows() == [
        ("NBBO", "databento.cmbp-1", 1.0, 1.1),
        ("NBBO", "databento.cmbp-1", 1.2, 1.1),  # crossed: the state in force, kept
        ("NBBO", "databento.cmbp-1", None, None),  # empty: kept too
    ]
    assert validate("option_quotes", quotes).quarantined.height == 0
