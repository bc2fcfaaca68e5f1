"""What an adversarial pass broke (issue 38), each case by hand: huge values, conflicting
re-deliveries, truncated and mixed files, damaged spool batches, bad arguments."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from deltalake import DeltaTable

from adapters.schema import BOUNDS, validate
from adapters.source import Batch
from assets.checks import OverflowRefused, refuse_non_finite
from assets.contract_volume import roll_volume
from assets.landing import CONFLICT, LandingCounts, land_batch
from lake import Lake
from lake.read import read
from lake.write import land, overwrite_partition, upsert
from tests.conftest import DAY, T0, option_trades

INF = float("inf")


def raw_trade(event_id: str, price: object, size: object, **extra: object) -> dict:
    """One raw option trade row as a file would carry it (10:00 plus a second per id)."""
    return {
        "event_id": event_id,
        "source": "test",
        "ts_event": T0 + int(event_id.strip("abcdefghijklmnopqrstuvwxyz") or 0) * 10**9,
        "ts_recv": T0 + 1,
        "contract": "SPY   261127C00600000",
        "price": price,
        "size": size,
        "exchange": "C",
        **extra,
    }


def strict_json(text: str) -> dict:
    """Parse ``text`` as JSON proper: Python's parser accepts ``Infinity`` and ``NaN``,
    which Delta readers refuse."""

    def refuse(constant: str) -> float:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def log_lines(root: Path) -> list[dict]:
    """Every action in a table's JSON commits (each line must be JSON)."""
    return [
        strict_json(line)
        for commit in sorted((root / "_delta_log").glob("*.json"))
        for line in commit.read_text().splitlines()
    ]


# -- 1. one accepted row must not make a table unreadable ----------------------------------


def test_huge_finite_price_is_quarantined_not_landed() -> None:
    rows = pl.DataFrame([raw_trade("a1", 1.25, 10), raw_trade("a2", 1e308, 1)])
    result = validate("option_trades", rows)
    assert result.valid.get_column("event_id").to_list() == ["a1"]
    assert result.quarantined.get_column("reason").to_list() == [
        "price above the bound of 1,000,000"
    ]


@pytest.mark.parametrize(
    ("stream", "column", "value", "reason"),
    [
        ("option_trades", "size", 6e18, "size above the bound of 1,000,000"),
        ("option_trades", "multiplier", 10**6, "multiplier above the bound of 1,000"),
        ("option_trades", "strike", 1e7, "strike above the bound of 1,000,000"),
        ("equity_trades", "price", 2e7, "price above the bound of 10,000,000"),
        ("equity_trades", "size", 2e9, "size above the bound of 1,000,000,000"),
        ("option_quotes", "ask", 2e6, "ask above the bound of 1,000,000"),
        ("equity_quotes", "bid_size", 2e9, "bid_size above the bound of 1,000,000,000"),
    ],
)
def test_every_bound_quarantines_with_its_reason(
    stream: str, column: str, value: float, reason: str
) -> None:
    base = {"event_id": "x1", "source": "test", "ts_event": T0, "ts_recv": T0}
    rows = {
        "option_trades": {**raw_trade("x1", 1.0, 1), "strike": 600.0},
        "equity_trades": {**base, "symbol": "SPY", "price": 1.0, "size": 1, "exchange": "N"},
        "option_quotes": {**base, "contract": "SPY   261127C00600000", "bid": 1.0, "ask": 1.1,
                          "bid_size": 1, "ask_size": 1},
        "equity_quotes": {**base, "symbol": "SPY", "bid": 1.0, "ask": 1.1, "bid_size": 1,
                          "ask_size": 1},
    }[stream]  # fmt: skip
    frame = pl.DataFrame([{**rows, column: value}])
    result = validate(stream, frame)
    assert result.valid.height == 0
    assert reason in result.quarantined.item(0, "reason")


def test_bounds_keep_every_product_and_sum_finite() -> None:
    premium = BOUNDS["option_price"] * BOUNDS["option_size"] * BOUNDS["multiplier"]
    assert premium < 1e16  # a print's premium, exact in a float to the dollar
    # A day of a billion prints at the largest size still fits a share volume in Int64.
    assert 10**9 * BOUNDS["equity_size"] < 2**63


def test_overflowing_derived_values_are_refused_where_computed() -> None:
    with pytest.raises(OverflowRefused, match="premium is not finite in 1 row"):
        refuse_non_finite(
            pl.DataFrame({"event_id": ["a", "b"], "premium": [1.0, INF]}),
            "option_prints",
            "event_id",
            "premium",
        )
    prints = pl.LazyFrame(
        {
            "contract": ["C1", "C1"],
            "underlying": ["SPY"] * 2,
            "expiry": [dt.date(2026, 11, 27)] * 2,
            "size": [6 * 10**18, 6 * 10**18],
            "premium": [1.0, 1.0],
            "in_flow": [True, True],
        }
    )
    from assets.contract_volume import VOLUME_SCHEMA
    from assets.thresholds import VolumeRules

    params = VolumeRules(history_days=20, min_history_days=5, min_volume=1, min_relative_volume=2.0)

    with pytest.raises(pl.exceptions.InvalidOperationError):
        roll_volume(prints, pl.LazyFrame(schema=VOLUME_SCHEMA), None, None, DAY, params).collect()


def infinite_frame() -> pl.DataFrame:
    """Landed option trades whose every float column holds an infinity somewhere."""
    frame = option_trades([{"ts": i, "price": 1.0 + i, "event_id": f"t{i}"} for i in range(4)])
    return frame.with_columns(
        pl.Series("price", [1.0, INF, 2.0, -INF]),
        pl.Series("strike", [INF, 600.0, float("nan"), 600.0]),
    )


@pytest.mark.parametrize(
    "writer",
    ["land", "land_struct", "overwrite_day", "overwrite_where", "overwrite_since", "upsert"],
)
def test_no_writer_commits_statistics_that_are_not_json(lake: Lake, writer: str) -> None:
    frame = infinite_frame()
    if writer == "land":
        land(lake, "t", frame)
    elif writer == "land_struct":  # struct columns go through Delta's merge
        land(lake, "t", frame.with_columns(pl.struct("price", "strike").alias("pair")))
    elif writer == "overwrite_day":
        overwrite_partition(lake, "t", frame, DAY)
    elif writer == "overwrite_where":
        overwrite_partition(lake, "t", frame, DAY, where={"source": "test"})
    elif writer == "overwrite_since":
        overwrite_partition(lake, "t", frame, DAY, since=("ts_event", 0))
    else:
        upsert(lake, "t", frame, "event_id")
    root = Path(lake.uri("t").removeprefix("file://"))
    for action in log_lines(root):  # every line is JSON proper
        stats = strict_json(action.get("add", {}).get("stats") or "{}")
        for bound in ("minValues", "maxValues"):
            for column in ("price", "strike"):
                value = stats.get(bound, {}).get(column)
                # Either no range, or one that holds every finite value of the column.
                assert value is None or (1.0 <= value <= 600.0), (writer, bound, column, value)
    # The table opens again, and a second write to it works.
    assert DeltaTable(str(root)).version() >= 0
    assert read(lake, "t").height == 4


def test_one_huge_price_through_landing_and_build_leaves_every_table_readable(
    clean_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchestration.cli import main

    csv = tmp_path / "option_trades.csv"
    pl.DataFrame([raw_trade("a1", 1.25, 10), raw_trade("a2", "1e308", 1)]).write_csv(csv)
    for args in (
        ["ingest", str(csv), "--date", DAY.isoformat()],
        ["build", "--date", DAY.isoformat()],
    ):
        with pytest.raises(SystemExit) as exc:
            main(args)
        assert exc.value.code == 0, capsys.readouterr().err
    lake = Lake(str(clean_env))
    assert read(lake, "option_prints").get_column("premium").to_list() == [1250.0]
    assert "price above the bound" in read(lake, "quarantine").item(0, "reason")


# -- 3. a conflicting duplicate across ingests is quarantined ------------------------------


@pytest.mark.parametrize("struct", [False, True], ids=["append", "merge"])
def test_conflicting_redelivery_is_reported_and_the_stored_row_stays(
    lake: Lake, struct: bool
) -> None:
    frame = option_trades([{"ts": i, "price": 1.0 + i, "event_id": f"t{i}"} for i in range(3)])
    if struct:
        frame = frame.with_columns(pl.struct("price", "size").alias("pair"))
    land(lake, "option_trades", frame)
    changed = frame.with_columns(
        pl.when(pl.col("event_id") == "t1").then(9.99).otherwise(pl.col("price")).alias("price")
    )
    again = land(lake, "option_trades", changed)
    assert (again.rows_written, again.rows_skipped) == (0, 3)
    assert again.conflicts is not None
    assert again.conflicts.get_column("event_id").to_list() == ["t1"]
    assert again.conflicts.item(0, "price") == 9.99
    assert read(lake, "option_trades").filter(pl.col("event_id") == "t1").item(0, "price") == 2.0
    # An exact copy is no conflict.
    assert land(lake, "option_trades", frame).conflicts.height == 0  # type: ignore[union-attr]


def test_conflicting_redelivery_lands_in_quarantine_once(lake: Lake) -> None:
    raw = pl.DataFrame([raw_trade("a1", 1.25, 10), raw_trade("a2", 2.5, 3)])
    first = land_batch(lake, Batch({"option_trades": raw}), DAY)
    assert first.landed["option_trades"] == 2
    changed = raw.with_columns(pl.Series("price", [1.30, 2.5]))
    second = land_batch(lake, Batch({"option_trades": changed}), DAY)
    assert (second.landed["option_trades"], second.present["option_trades"]) == (0, 1)
    assert second.quarantined == 1
    quarantine = read(lake, "quarantine")
    assert quarantine.get_column("reason").to_list() == [CONFLICT]
    assert json.loads(quarantine.item(0, "payload"))["price"] == 1.30
    # Delivered again, the conflict is recorded once.
    assert land_batch(lake, Batch({"option_trades": changed}), DAY).quarantined == 0


# -- 10. sizes that are not whole numbers --------------------------------------------------


@pytest.mark.parametrize("as_text", [False, True], ids=["parquet-float", "csv-text"])
def test_fractional_sizes_are_quarantined_the_same_from_every_file_type(as_text: bool) -> None:
    sizes = [10.7, 10.0, 3.0]
    rows = pl.DataFrame([raw_trade(f"a{i}", 1.0, s) for i, s in enumerate(sizes)])
    if as_text:
        rows = rows.with_columns(pl.Series("size", ["10.7", "10.0", "3"]))
    result = validate("option_trades", rows)
    assert result.valid.get_column("size").to_list() == [10, 3]
    assert result.quarantined.get_column("event_id").to_list() == ["a0"]
    assert result.quarantined.item(0, "reason").startswith("size is not a whole number")


# -- 4. truncated files, and rows of the wrong length --------------------------------------


def test_csv_cut_mid_row_quarantines_the_cut_row_and_lands_the_rest(
    lake: Lake, tmp_path: Path
) -> None:
    from adapters.files import read_canonical

    csv = tmp_path / "option_trades.csv"
    pl.DataFrame([raw_trade(f"a{i}", 1.25, 10) for i in range(3)]).write_csv(csv)
    text = csv.read_text()
    csv.write_text(text[: text.rindex(",SPY") + 3])  # cut inside the last row's contract
    counts = land_batch(lake, Batch({"option_trades": read_canonical(csv)}), DAY)
    assert counts.landed["option_trades"] == 2
    reason = read(lake, "quarantine").item(0, "reason")
    assert reason.startswith("row has 5 fields where the header has 8"), reason


def test_csv_row_with_an_extra_field_costs_that_row_only(lake: Lake, tmp_path: Path) -> None:
    from adapters.files import read_canonical

    csv = tmp_path / "option_trades.csv"
    pl.DataFrame([raw_trade(f"a{i}", 1.25, 10) for i in range(3)]).write_csv(csv)
    lines = csv.read_text().splitlines()
    lines[2] += ",surplus"
    csv.write_text("\n".join(lines) + "\n")
    counts = land_batch(lake, Batch({"option_trades": read_canonical(csv)}), DAY)
    assert counts.landed["option_trades"] == 2
    quarantine = read(lake, "quarantine")
    assert quarantine.item(0, "event_id") == "a1"
    assert quarantine.item(0, "reason") == "row has 9 fields where the header has 8"
    # Nothing is lost: the line as read is in the payload.
    assert json.loads(quarantine.item(0, "payload"))["_line"].endswith(",C,surplus")


def test_truncated_uncompressed_dbn_is_an_error_naming_the_file(tmp_path: Path) -> None:
    import zstandard

    from adapters.databento.loader import DatabentoFiles

    packed = (
        Path(__file__).parent / "data" / "databento" / "OPRA.PILLAR" / "test_data.trades.dbn.zst"
    )
    whole = zstandard.ZstdDecompressor().decompressobj().decompress(packed.read_bytes())
    cut = tmp_path / "cut.dbn"
    cut.write_bytes(whole[:-20])
    with pytest.raises(ValueError, match=f"{cut}: DBN file is truncated"):
        next(DatabentoFiles((str(cut),)).historical(dt.date(2023, 3, 28)))
    (tmp_path / "whole.dbn").write_bytes(whole)
    assert next(DatabentoFiles((str(tmp_path / "whole.dbn"),)).historical(DAY)).rows == 4


# -- 5. files ingested together are judged each on its own ---------------------------------


def test_file_without_optional_columns_lands_beside_one_that_has_them(
    lake: Lake, tmp_path: Path
) -> None:
    from assets.sources import FilesSource

    full = tmp_path / "option_trades.a.csv"
    pl.DataFrame([raw_trade("a1", 1.25, 10, multiplier=100)]).write_csv(full)
    bare = tmp_path / "option_trades.b.csv"
    pl.DataFrame([raw_trade("a2", 1.5, 5)]).drop("exchange").write_csv(bare)
    total = sum(
        (land_batch(lake, b, DAY) for b in FilesSource(paths=[str(full), str(bare)]).batches(DAY)),
        start=LandingCounts(),
    )
    assert total.landed["option_trades"] == 2 and total.quarantined == 0
    stored = read(lake, "option_trades").sort("event_id")
    assert stored.get_column("exchange").to_list() == ["C", "NBBO"]
    assert stored.get_column("multiplier").to_list() == [100, 100]


# -- 2. a recording resumed with other settings is refused, not silently short -------------


def test_resume_with_another_interval_or_universe_is_refused_in_one_line(tmp_path: Path) -> None:
    import asyncio

    from adapters.synthetic import SyntheticSpec
    from adapters.synthetic.source import SyntheticMarket
    from orchestration.live import SettingsChanged, record
    from orchestration.spool import Spool
    from tests.test_live import Crashing

    spool = Spool(tmp_path / "spool")
    one = SyntheticMarket(SyntheticSpec(date=DAY, underlyings=("SPY",), minutes=10))
    with pytest.raises(RuntimeError, match="killed"):
        asyncio.run(record(Crashing(one, after=3), spool, DAY, speed=0, interval_s=5))
    with pytest.raises(SettingsChanged, match=r"interval_s 5 -> 30\b"):
        asyncio.run(record(one, spool, DAY, speed=0, interval_s=30))
    two = SyntheticMarket(SyntheticSpec(date=DAY, underlyings=("SPY", "AAPL"), minutes=10))
    with pytest.raises(SettingsChanged, match="underlyings=SPY minutes"):
        asyncio.run(record(two, spool, DAY, speed=0, interval_s=5))
    assert len(spool.batches(DAY)) == 3  # refused before recording anything
    # The same settings resume where the recording stopped, whatever the speed.
    resumed = asyncio.run(record(one, spool, DAY, speed=0, interval_s=5))
    ids = pl.concat(
        [spool.read(b).streams["option_trades"] for b in spool.batches(DAY)]
    ).get_column("event_id")
    whole = pl.concat([b.streams["option_trades"] for _, b in one.time_slices(DAY, 5)])
    assert resumed.skipped == 3
    assert ids.is_unique().all() and ids.sort().equals(whole.get_column("event_id").sort())


# -- 6. one damaged spool batch does not stop the day --------------------------------------


def test_damaged_spool_batch_is_quarantined_and_the_rest_land(lake: Lake, tmp_path: Path) -> None:
    import asyncio

    from adapters.synthetic import SyntheticSpec
    from adapters.synthetic.source import SyntheticMarket
    from assets.resources import LakeResource
    from orchestration.live import DAMAGED, record, spool_tick
    from orchestration.spool import Spool

    spool = Spool(tmp_path / "spool")
    market = SyntheticMarket(SyntheticSpec(date=DAY, underlyings=("SPY",), minutes=10))
    asyncio.run(record(market, spool, DAY, speed=0, interval_s=60))
    batches = spool.batches(DAY)
    broken = batches[4].path / "option_trades.parquet"
    broken.write_bytes(broken.read_bytes()[:100])
    (batches[6].path / "manifest.json").write_text('{"seq": 6, "rows": {"opt')
    result = spool_tick(LakeResource(root=lake.root), spool, None, [DAY])
    expected = pl.concat(
        [spool.read(b).streams["option_trades"] for i, b in enumerate(batches) if i not in (4, 6)]
    )
    assert read(lake, "option_trades").height == expected.height > 0
    quarantine = read(lake, "quarantine").filter(pl.col("stream") == "spool")
    reasons = sorted(quarantine.get_column("reason").to_list())
    assert reasons[0].startswith(f"spool batch 4 of {DAY} is damaged: option_trades.parquet")
    assert reasons[1].startswith(f"spool batch 6 of {DAY} is damaged: manifest.json")
    damaged = [e for e in result.asset_events or [] if DAMAGED in e.metadata]
    assert len(damaged) == 1
    assert json.loads(result.cursor or "{}")[DAY.isoformat()]["seq"] == batches[-1].seq


# -- 7. an ingest whose rows are all of another day is an error ----------------------------


def test_ingest_whose_rows_are_all_of_another_day_fails_in_one_line(
    clean_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchestration.cli import main

    csv = tmp_path / "option_trades.csv"
    pl.DataFrame([raw_trade("a1", 1.25, 10)]).write_csv(csv)
    with pytest.raises(SystemExit) as exc:
        main(["ingest", str(csv), "--date", "2026-11-25"])
    err = capsys.readouterr().err
    assert exc.value.code == 1
    assert err.count("\n") == 1
    assert "none of the rows is of 2026-11-25: 1 rows of other trading days" in err
    with pytest.raises(SystemExit) as exc:
        main(["ingest", str(csv), "--date", DAY.isoformat()])
    assert exc.value.code == 0, capsys.readouterr().err


# -- 8, 9. serve: the Dagster UI stays on loopback, and its children die with it ------------


def test_serve_keeps_dagster_on_loopback_and_its_children_die_with_it(
    clean_env: Path, built_lake: Path
) -> None:
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    from orchestration.serve import port_in_use

    def free_port() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    flowlake = str(Path(sys.executable).parent / "flowlake")
    dagster, dashboards = free_port(), free_port()
    args = ["serve", "--lake", str(built_lake), "--dagster-port", str(dagster),
            "--streamlit-port", str(dashboards)]  # fmt: skip
    # Another loopback address stands for "a host other than 127.0.0.1" without leaving
    # this machine.
    proc = subprocess.Popen([flowlake, *args, "--host", "127.0.0.2"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, start_new_session=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == f"Dagster UI:  http://127.0.0.1:{dagster}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and (
            port_in_use("127.0.0.1", dagster) is None
            or port_in_use("127.0.0.2", dashboards) is None
        ):
            time.sleep(0.5)
        holder = port_in_use("127.0.0.1", dagster)
        assert holder is not None and "dagster" in holder
        with pytest.raises(OSError):  # nothing of Dagster's on the other address
            socket.create_connection(("127.0.0.2", dagster), timeout=1).close()
        streamlit = port_in_use("127.0.0.2", dashboards)
        assert streamlit is not None and "--browser.serverAddress 127.0.0.2" in streamlit
        # A second serve on the same ports: one line naming what holds them.
        second = subprocess.run([flowlake, *args], capture_output=True, text=True, timeout=60)
        assert second.returncode == 1 and second.stderr.count("\n") == 1
        assert f"--dagster-port {dagster} on 127.0.0.1 is taken (pid " in second.stderr
        # SIGKILL of serve's whole group, as a terminal or a supervisor might: the children
        # are in sessions of their own, and still stop.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (
            port_in_use("127.0.0.1", dagster) or port_in_use("127.0.0.2", dashboards)
        ):
            time.sleep(0.5)
        assert port_in_use("127.0.0.1", dagster) is None
        assert port_in_use("127.0.0.2", dashboards) is None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


# -- 10. files of killed writes are vacuumed; killed runs are failed -----------------------


def test_vacuum_removes_old_unreferenced_files_only(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os
    import time

    from orchestration.cli import main

    lake = Lake(str(clean_env))
    frame = option_trades([{"ts": i, "price": 1.0 + i, "event_id": f"t{i}"} for i in range(5)])
    overwrite_partition(lake, "option_prints", frame, DAY)
    overwrite_partition(lake, "option_prints", frame.head(3), DAY)  # the first files replaced
    folder = Path(lake.uri("option_prints")) / f"date={DAY.isoformat()}"
    replaced = sorted(folder.glob("*.parquet"), key=lambda p: p.stat().st_mtime)[0]
    # What a writer killed before its commit leaves: a data file no version names.
    orphan, fresh = folder / "part-killed-old.parquet", folder / "part-killed-new.parquet"
    frame.drop("date").write_parquet(orphan)
    frame.drop("date").write_parquet(fresh)
    two_hours_ago = time.time() - 7200
    for path in (orphan, replaced):
        os.utime(path, (two_hours_ago, two_hours_ago))

    def flowlake(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exc:
            main(list(args))
        out, err = capsys.readouterr()
        return int(exc.value.code), out, err

    code, out, _ = flowlake("vacuum", "--retention-hours", "1", "--dry-run")
    assert code == 0 and "option_prints: would remove 1 files" in out
    assert orphan.exists()
    code, out, _ = flowlake("vacuum", "--retention-hours", "1")
    assert code == 0 and "option_prints: removed 1 files" in out
    assert not orphan.exists() and fresh.exists()
    # A replaced file's age counts from its removal (just now), not from when it was written:
    # time travel to the version before keeps working for the retention.
    assert replaced.exists()
    assert read(lake, "option_prints").height == 3
    code, _, err = flowlake("vacuum", "--retention-hours", "0")
    assert code == 2 and "under 1 h" in err and err.count("\n") == 1


def test_quarantine_rows_of_a_fixed_and_reingested_file_are_resolved(lake: Lake) -> None:
    from lake.quarantine import with_resolution

    raw = pl.DataFrame([raw_trade("a1", 1.25, 10), raw_trade("a2", "1e308", 1)])
    land_batch(lake, Batch({"option_trades": raw}), DAY)
    before = with_resolution(lake, read(lake, "quarantine"))
    assert before.select("event_id", "resolved").rows() == [("a2", False)]
    fixed = raw.with_columns(pl.Series("price", ["1.30", "2.5"]))  # a1 now conflicts
    land_batch(lake, Batch({"option_trades": fixed}), DAY)
    after = with_resolution(lake, read(lake, "quarantine")).sort("event_id")
    assert after.select("event_id", "resolved").rows() == [("a1", False), ("a2", True)]
    assert after.item(0, "reason") == CONFLICT


def test_an_event_received_again_later_is_the_same_event(lake: Lake) -> None:
    frame = option_trades([{"ts": i, "price": 1.0 + i, "event_id": f"t{i}"} for i in range(3)])
    land(lake, "option_trades", frame)
    later = frame.with_columns(pl.col("ts_recv") + 5_000_000_000)  # resent after a reconnect
    again = land(lake, "option_trades", later)
    assert again.rows_skipped == 3 and again.conflicts is not None and again.conflicts.height == 0


def test_only_runs_whose_process_is_gone_are_marked_failed(
    instance: dg.DagsterInstance,
) -> None:
    import subprocess
    import sys

    from dagster._core.storage.dagster_run import DagsterRun

    from orchestration.instance import PID_TAG, STARTED_TAG, fail_orphaned_runs, process_tags

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    runs = {
        "mine": process_tags(),  # this process: alive
        "gone": {PID_TAG: gone, STARTED_TAG: "1"},  # its process has ended
        "reused": {PID_TAG: process_tags()[PID_TAG], STARTED_TAG: "1"},  # pid reused since
        "daemon": {},  # launched by the daemon: run monitoring's business
    }
    for run_id, tags in runs.items():
        instance.add_run(
            DagsterRun(job_name="j", run_id=run_id, status=dg.DagsterRunStatus.STARTED, tags=tags)
        )
    assert sorted(fail_orphaned_runs(instance)) == ["gone", "reused"]
    status = {r.run_id: r.status for r in instance.get_runs()}
    assert status["mine"] == status["daemon"] == dg.DagsterRunStatus.STARTED
    assert status["gone"] == status["reused"] == dg.DagsterRunStatus.FAILURE


def test_the_guard_takes_a_stubborn_process_tree_down() -> None:
    """A UI that ignores SIGTERM and leaves a grandchild behind (as ``dagster dev`` can,
    waiting a minute for its webserver): the guard's group is gone within its grace."""
    import os
    import signal
    import subprocess
    import sys
    import time

    stubborn = (
        "import signal, subprocess, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "subprocess.Popen(['sleep', '300'])\n"
        "time.sleep(300)\n"
    )
    guard = subprocess.Popen(
        [sys.executable, "-m", "orchestration.guard", "--grace", "1", sys.executable, "-c", stubborn],
        start_new_session=True,
    )  # fmt: skip
    time.sleep(1.5)  # the child and its sleep are up
    group = guard.pid

    def alive() -> list[str]:
        """The group's processes that still run (a zombie waits only to be reaped)."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == group and fields[0] != "Z":
                found.append(stat.parent.name)
        return found

    assert len(alive()) == 3  # the guard, the stubborn child, its sleep
    os.kill(guard.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and alive():
        guard.poll()
        time.sleep(0.2)
    if alive():
        os.killpg(group, signal.SIGKILL)
        pytest.fail("the guard's process group outlived its grace")
    assert guard.wait(timeout=5) == -signal.SIGKILL
