"""The lake on real Delta tables in a temp dir: idempotent landing, partition overwrite,
whole-version reads, parameterised SQL."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from polars.testing import assert_frame_equal

from lake import Lake
from lake.location import resolve_lake_root
from lake.read import read, scan, sql, table_version
from lake.write import TABLE_PROPERTIES, RowScope, land, overwrite_partition, upsert
from tests.conftest import DAY, at_once, option_trades, probe

OTHER_DAY = dt.date(2026, 11, 25)


def trades(n: int, prefix: str = "t", day: dt.date = DAY) -> pl.DataFrame:
    frame = option_trades(
        [{"ts": i, "price": 1.0 + i / 100, "event_id": f"{prefix}{i}"} for i in range(n)]
    )
    return frame.with_columns(pl.lit(day).alias("date"))


def test_same_batch_landed_twice_lands_once(lake: Lake) -> None:
    batch = trades(50)
    first = land(lake, "option_trades", batch)
    second = land(lake, "option_trades", batch)
    assert (first.rows_written, first.rows_skipped) == (50, 0)
    assert (second.rows_written, second.rows_skipped) == (0, 50)
    stored = read(lake, "option_trades")
    assert stored.height == 50
    assert_frame_equal(stored.sort("event_id"), batch.sort("event_id"), check_column_order=False)


def test_overlapping_batch_adds_only_new_rows(lake: Lake) -> None:
    land(lake, "option_trades", trades(30))
    result = land(lake, "option_trades", trades(40))
    assert result.rows_written == 10
    assert read(lake, "option_trades").height == 40


def test_same_event_id_on_another_day_is_another_row(lake: Lake) -> None:
    land(lake, "option_trades", trades(5))
    land(lake, "option_trades", trades(5, day=OTHER_DAY))
    assert read(lake, "option_trades").group_by("date").len().height == 2


def test_partition_overwrite_replaces_only_that_day(lake: Lake) -> None:
    overwrite_partition(lake, "flow_packets", trades(10), DAY)
    overwrite_partition(lake, "flow_packets", trades(7, day=OTHER_DAY), OTHER_DAY)
    overwrite_partition(lake, "flow_packets", trades(3), DAY)
    counts = dict(read(lake, "flow_packets").group_by("date").len().iter_rows())
    assert counts == {DAY: 3, OTHER_DAY: 7}


def test_a_table_of_an_older_flowlake_gains_the_columns_added_since(lake: Lake) -> None:
    """A lake written before a column existed (synthetic_labels before ``expected``,
    structures before ``direction``): landing or overwriting with the new column adds it in
    one commit, the earlier rows read it as null; a retyped column still fails."""
    old = pl.DataFrame({"label_id": ["a"], "date": [DAY], "kind": ["sweep"]})
    land(lake, "labels", old, key="label_id", compare=False)
    new = pl.DataFrame(
        {"label_id": ["b"], "date": [DAY], "kind": ["spike"], "expected": [["spike"]]}
    )
    assert land(lake, "labels", new, key="label_id", compare=False).rows_written == 1
    stored = read(lake, "labels").sort("label_id")
    assert stored["expected"].to_list() == [None, ["spike"]]
    overwrite_partition(lake, "derived", old, DAY)
    later = new.with_columns(pl.lit("x").alias("extra"), pl.lit(OTHER_DAY).alias("date"))
    overwrite_partition(lake, "derived", later, OTHER_DAY)
    assert read(lake, "derived").sort("label_id")["extra"].to_list() == [None, "x"]
    retyped = new.with_columns(pl.lit(1).alias("kind"))
    with pytest.raises(ValueError, match="is not the table's"):
        land(lake, "labels", retyped, key="label_id", compare=False)


def test_partition_overwrite_with_empty_frame_empties_the_day(lake: Lake) -> None:
    overwrite_partition(lake, "flow_packets", trades(10), DAY)
    overwrite_partition(lake, "flow_packets", trades(0), DAY)
    assert read(lake, "flow_packets").height == 0


def test_partition_overwrite_refuses_rows_of_another_day(lake: Lake) -> None:
    with pytest.raises(ValueError, match="outside partition"):
        overwrite_partition(lake, "flow_packets", trades(3, day=OTHER_DAY), DAY)


def test_reader_sees_only_whole_versions_during_writes(lake: Lake) -> None:
    batch_size = 500
    land(lake, "option_trades", trades(batch_size, "b0-"))
    seen: list[int] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            frame = scan(lake, "option_trades")
            seen.append(frame.select(pl.len()).collect().item())

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for k in range(1, 8):
            land(lake, "option_trades", trades(batch_size, f"b{k}-"))
    finally:
        stop.set()
        thread.join()
    assert seen, "the reader never ran"
    assert all(count % batch_size == 0 for count in seen), seen
    assert table_version(lake, "option_trades") >= 7


def test_writers_landing_the_same_rows_at_once_land_each_row_once(lake: Lake) -> None:
    """Four writers land overlapping batches into one local table at the same time: a
    commit lands only on the version its key check read, so a writer that lost the race
    checks again and inserts only what is still missing."""
    assert lake.is_local
    results: list[int] = []

    def writer(w: int) -> None:
        for k in range(3):
            # Writers w and w + 1 share half of every batch.
            rows = trades(40, f"k{k}-").slice(10 * w, 20)
            results.append(land(lake, "option_trades", rows).rows_written)

    at_once(4, writer)
    stored = read(lake, "option_trades")
    assert stored.height == 3 * 40 and stored["event_id"].is_unique().all()
    assert sum(results) == 3 * 40


def test_landing_that_loses_a_race_leaves_no_files_behind(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer commits between a landing's key check and its commit: the landing's
    commit fails, its written files are removed, and the retry lands what is still
    missing. Every data file on disk is one the table references."""
    import lake.write as write

    land(lake, "option_trades", trades(10, "a"))
    real = write.write_files
    rival: list[int] = []

    def write_then_lose(*args: object, **kwargs: object) -> list:
        actions = real(*args, **kwargs)
        if write.write_files is write_then_lose:  # once: the rival writes as usual
            monkeypatch.setattr(write, "write_files", real)
            rival.append(land(lake, "option_trades", trades(15, "a").slice(5)).rows_written)
        return actions

    monkeypatch.setattr(write, "write_files", write_then_lose)
    result = land(lake, "option_trades", trades(12, "a"))
    assert rival == [5] and result.rows_written == 0  # a10, a11: landed by the rival
    stored = read(lake, "option_trades")
    assert stored.height == 15 and stored["event_id"].is_unique().all()
    root = Path(lake.uri("option_trades").removeprefix("file://"))
    referenced = DeltaTable(lake.uri("option_trades")).file_uris()
    assert {str(p) for p in root.rglob("*.parquet")} == {
        u.removeprefix("file://") for u in referenced
    }


def test_scan_of_missing_table_is_none_and_version_minus_one(lake: Lake) -> None:
    assert scan(lake, "nothing") is None
    assert table_version(lake, "nothing") == -1


def test_sql_binds_user_input_as_parameters(lake: Lake) -> None:
    land(lake, "option_trades", trades(5))
    hostile = "SPY' OR '1'='1"
    rows = sql(
        lake,
        "select count(*) as n from option_trades where underlying = ?",
        [hostile],
        tables=["option_trades"],
    )
    assert rows.item() == 0
    rows = sql(
        lake,
        "select count(*) as n from option_trades where underlying = ?",
        ["SPY"],
        tables=["option_trades"],
    )
    assert rows.item() == 5


def test_lake_root_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FLOWLAKE_LAKE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve_lake_root() == str(tmp_path / "data" / "lake")
    monkeypatch.setenv("FLOWLAKE_LAKE", str(tmp_path / "env"))
    assert resolve_lake_root() == str(tmp_path / "env")
    assert resolve_lake_root(str(tmp_path / "flag")) == str(tmp_path / "flag")
    assert resolve_lake_root("s3://bucket/lake/") == "s3://bucket/lake"


def test_writes_skip_dictionaries_of_unique_columns_and_keep_file_statistics(lake: Lake) -> None:
    """ids and times are written plainly, repeated values with a dictionary; every column
    still has Delta file statistics, so window reads skip files."""
    import pyarrow.parquet as pq
    from deltalake import DeltaTable

    from lake.files import writer_properties

    frame = trades(3000)
    plain = set((writer_properties(frame).column_properties or {}).keys())
    assert {"event_id", "ts_event", "ts_recv", "seq"} <= plain
    assert not {"contract", "exchange", "date"} & plain
    overwrite_partition(lake, "option_trades", frame, DAY)
    table = DeltaTable(lake.uri("option_trades"))
    actions = pl.DataFrame(table.get_add_actions(flatten=True)).to_dict(as_series=False)
    assert actions["min.ts_event"] == [int(frame["ts_event"].min())]
    assert actions["max.ts_event"] == [int(frame["ts_event"].max())]
    (path,) = [Path(lake.uri("option_trades")) / p for p in actions["path"]]
    columns = pq.ParquetFile(path).metadata.row_group(0)
    encodings = {
        columns.column(i).path_in_schema: columns.column(i).encodings
        for i in range(columns.num_columns)
    }
    assert not any("DICTIONARY" in e or "RLE_DICTIONARY" in e for e in encodings["event_id"])
    assert any("DICTIONARY" in e for e in encodings["contract"])
    assert_frame_equal(
        read(lake, "option_trades").sort("event_id"),
        frame.sort("event_id"),
        check_column_order=False,
    )


def test_upsert_replaces_rows_of_the_same_date_and_key_only(lake: Lake) -> None:
    first = pl.DataFrame(
        {"check_key": ["a", "b", "a"], "date": [DAY, DAY, OTHER_DAY], "v": [1, 2, 3]}
    )
    upsert(lake, "checks", first, key="check_key")
    # "a" of DAY replaced (the last of two wins), "c" added; "b" and "a" of OTHER_DAY stay.
    second = pl.DataFrame({"check_key": ["a", "c", "a"], "date": [DAY] * 3, "v": [10, 11, 12]})
    result = upsert(lake, "checks", second, key="check_key")
    assert result.rows_written == 2
    expected = pl.DataFrame(
        {"check_key": ["a", "b", "c", "a"], "date": [DAY, DAY, DAY, OTHER_DAY], "v": [12, 2, 11, 3]}
    )
    assert_frame_equal(read(lake, "checks").sort("date", "check_key"), expected)


def test_tables_checkpoint_every_ten_commits_old_tables_included(lake: Lake) -> None:
    """Opening a table replays the commits since its last checkpoint: the lake's tables
    checkpoint every 10 commits; a table created without the property gets it on its
    first write."""
    for n in range(12):
        land(lake, "option_trades", trades(1, prefix=f"b{n}-"))
    log = Path(lake.uri("option_trades")) / "_delta_log"
    assert (log / "_last_checkpoint").exists()
    schema = pa.schema([("date", pa.date32()), ("k", pa.string())])
    DeltaTable.create(lake.uri("old"), schema, partition_by=["date"])
    upsert(lake, "old", pl.DataFrame({"date": [DAY], "k": ["x"]}), key="k")
    assert DeltaTable(lake.uri("old")).metadata().configuration == TABLE_PROPERTIES


def test_whole_partition_write_has_delta_statistics_and_no_partition_column(lake: Lake) -> None:
    """A whole-day overwrite writes its own files and commits them: each file holds every
    column but ``date`` and carries Delta statistics (row count, null counts, numeric
    ranges) that a later tail write's predicate prunes on."""
    import pyarrow.parquet as pq

    frame = trades(40).sort("ts_event")
    overwrite_partition(lake, "option_prints", frame, DAY)
    table = DeltaTable(lake.uri("option_prints"))
    adds = pl.DataFrame(table.get_add_actions(flatten=True))
    assert adds["num_records"].sum() == 40
    for path in adds["path"]:
        assert "date" not in pq.read_schema(Path(lake.uri("option_prints")) / path).names
    got = adds.row(0, named=True)
    assert got["partition.date"] == DAY
    assert got["min.ts_event"] == frame["ts_event"].min()
    assert got["max.ts_event"] == frame["ts_event"].max()
    assert got["min.contract"] == got["max.contract"] == frame["contract"][0]
    assert got["null_count.ref_event_id"] == 40
    assert_frame_equal(
        read(lake, "option_prints").sort("event_id"),
        frame.sort("event_id"),
        check_column_order=False,
    )
    # A tail rewrite (Delta's predicate write) on top of the committed files.
    tail = frame.filter(pl.col("ts_event") >= frame["ts_event"][30])
    overwrite_partition(
        lake, "option_prints", tail.head(4), DAY, since=("ts_event", tail["ts_event"][0])
    )
    assert read(lake, "option_prints").height == 34


def test_whole_partition_write_refuses_a_frame_of_another_schema(lake: Lake) -> None:
    overwrite_partition(lake, "option_prints", trades(5), DAY)
    with pytest.raises(ValueError, match="is not the table's"):
        overwrite_partition(lake, "option_prints", trades(5).drop("seq"), DAY)


def test_whole_partition_write_of_lists_in_several_files_reads_back_equal(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """List columns take polars' writer too: written as several files, each file holds
    its own rows' lists and the day reads back as written, in order."""
    import lake.files as write

    monkeypatch.setattr(write, "DERIVED_FILE_BYTES", 64)  # a few rows per file
    frame = trades(40).with_columns(
        pl.concat_list("event_id", pl.col("event_id") + "-b").alias("conditions")
    )
    overwrite_partition(lake, "option_prints", frame, DAY)
    files = [f.removeprefix("file://") for f in DeltaTable(lake.uri("option_prints")).file_uris()]
    assert len(files) > 5
    stored = pl.concat([pl.read_parquet(f) for f in sorted(files)])
    assert stored["conditions"].to_list() == frame["conditions"].to_list()
    assert_frame_equal(read(lake, "option_prints"), frame, check_column_order=False)


def test_whole_partition_write_reads_back_in_the_order_written(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A day written as several files reads back in time order (files are listed by name)."""
    import lake.files as write

    monkeypatch.setattr(write, "DERIVED_FILE_BYTES", 64)  # a few rows per file
    frame = trades(300).sort("ts_event")
    overwrite_partition(lake, "option_prints", frame, DAY)
    assert len(DeltaTable(lake.uri("option_prints")).file_uris()) > 10
    assert read(lake, "option_prints")["event_id"].to_list() == frame["event_id"].to_list()


def test_delta_write_of_a_many_chunk_frame_reads_back_in_the_order_written(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Delta's writer (a tail write) lists the files of a many-chunk frame out of order
    unless the frame is rechunked first."""
    import lake.files as write

    monkeypatch.setattr(write, "DERIVED_FILE_BYTES", 64)
    frame = trades(300).sort("ts_event")
    chunked = pl.concat([frame.slice(k * 50, 50) for k in range(6)], rechunk=False)
    assert chunked.n_chunks() == 6
    since = ("ts_event", int(frame["ts_event"].min()))
    overwrite_partition(lake, "option_prints", chunked, DAY, since=since)
    assert read(lake, "option_prints")["event_id"].to_list() == frame["event_id"].to_list()


def test_row_scope_by_root_matches_the_padded_root_only() -> None:
    scope = RowScope(column="contract", values=("SPY", "QQQ"), width=6)
    frame = pl.DataFrame(
        {"contract": ["SPY   261127C00600000", "SPYX  261127C00600000", "QQQ   261127P00500000"]}
    )
    assert frame.filter(scope.rows())["contract"].to_list() == [
        "SPY   261127C00600000",
        "QQQ   261127P00500000",
    ]
    assert scope.predicate() == "(contract LIKE 'SPY   %' OR contract LIKE 'QQQ   %')"
    with pytest.raises(ValueError, match="not a prefix of width 6"):
        RowScope(column="contract", values=("TOOLONG",), width=6)


def test_scoped_write_that_loses_a_race_to_another_day_commits(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bucket run's scoped write whose table another run commits to (another day) between
    its open and its commit: Delta parses the write's predicate again to retry it, so the
    predicate it prints must parse (``substr(contract, 1, 6)`` printed as ``Int64(1)`` did not)."""
    import lake.write as write

    def baselines(day: dt.date, roots: list[str]) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "date": [day] * len(roots),
                "contract": [f"{r:<6}261127C00600000" for r in roots],
                "volume": list(range(len(roots))),
            }
        )

    roots = ["SPY", "QQQ", "IWM"]
    for day in (DAY, OTHER_DAY):
        overwrite_partition(lake, "contract_baselines", baselines(day, roots), day)
    scope = RowScope(column="contract", values=("SPY", "QQQ"), width=6)
    opened = write._ensure_table
    raced: list[int] = []

    def open_then_lose_the_race(*args: object) -> DeltaTable:
        table = opened(*args)  # type: ignore[arg-type]
        if not raced:  # the other run commits after this one read the table
            raced.append(1)
            other = baselines(OTHER_DAY, ["SPY", "QQQ"]).with_columns(volume=pl.lit(7))
            overwrite_partition(lake, "contract_baselines", other, OTHER_DAY, scope=scope)
        return table

    monkeypatch.setattr(write, "_ensure_table", open_then_lose_the_race)
    mine = baselines(DAY, ["SPY", "QQQ"]).with_columns(volume=pl.lit(9))
    overwrite_partition(lake, "contract_baselines", mine, DAY, scope=scope)
    stored = read(lake, "contract_baselines").sort("date", "contract")
    assert stored.select("date", "contract", "volume").rows() == [
        (DAY, "IWM   261127C00600000", 2),
        (DAY, "QQQ   261127C00600000", 9),
        (DAY, "SPY   261127C00600000", 9),
        (OTHER_DAY, "IWM   261127C00600000", 2),
        (OTHER_DAY, "QQQ   261127C00600000", 7),
        (OTHER_DAY, "SPY   261127C00600000", 7),
    ]


@pytest.mark.parametrize(("setting", "expected"), [(None, "in-memory"), ("streaming", "streaming")])
def test_entry_points_pin_polars_in_memory_engine_unless_told(
    setting: str | None, expected: str
) -> None:
    """polars 2 collects on its streaming engine by default, whose morsel order follows
    thread scheduling (replay must be byte-identical): each entry point (here the Dagster
    code location) pins the in-memory engine; ``POLARS_ENGINE_AFFINITY`` wins. Importing
    the lake alone changes nothing."""
    code = "import os, orchestration.definitions; print(os.environ['POLARS_ENGINE_AFFINITY'])"
    assert probe(code, "POLARS_ENGINE_AFFINITY", setting) == expected
    untouched = (
        "import os, lake, assets.structures; print(os.environ.get('POLARS_ENGINE_AFFINITY'))"
    )
    assert probe(untouched, "POLARS_ENGINE_AFFINITY", None) == "None"


def _stats_frame() -> pl.DataFrame:
    """Columns of every kind a statistic treats apart: nulls, NaN, zero minima, long and
    non-ASCII strings, unsigned ints past int64, dates, booleans and lists."""
    return pl.DataFrame(
        {
            "i": pl.Series([3, None, -7, 12], dtype=pl.Int64),
            "i8": pl.Series([1, -3, None, 0], dtype=pl.Int8),
            "u": pl.Series([1, 2**63 + 5, None, 0], dtype=pl.UInt64),
            "f": [0.0, 1.5, None, -0.0],
            "f_nan": [float("nan"), 1.5, -2.0, None],
            "f32": pl.Series([1.0, 2.5, None, 0.0], dtype=pl.Float32),
            "s": ["b", "a" * 70, None, "é" * 40],  # 70 and 80 bytes: cut short by the writer
            "s_short": ["zz", "ab", "ä", None],
            "all_null": pl.Series([None] * 4, dtype=pl.String),
            "d": [DAY, None, OTHER_DAY, DAY],
            "flag": [True, None, False, True],
            "ids": [["a"], [], None, ["b", "c"]],
        }
    )


@pytest.mark.parametrize("rows", [4, 1, 0])
def test_file_statistics_from_the_footer_equal_the_computed_ones(tmp_path: Path, rows: int) -> None:
    """The statistics read back from a written file's footer are those computed from the
    frame: ranges left out where NaN is present, cut-short strings recomputed, -0.0 as 0,
    and a file of several row groups folded into one range."""
    import json

    from lake.files import computed_stats, file_stats

    frame = _stats_frame().head(rows)
    for row_group_size in (None, 1):
        path = tmp_path / f"part-{rows}-{row_group_size}.parquet"
        frame.write_parquet(path, compression="lz4", statistics=True, row_group_size=row_group_size)
        got = json.loads(file_stats(frame, path))
        want = computed_stats(frame)
        assert got["numRecords"] == rows
        assert got["nullCount"] == want["nullCount"]
        dates = {c: v.isoformat() for c, v in want["minValues"].items() if isinstance(v, dt.date)}
        assert got["minValues"] == {**want["minValues"], **dates}
        dates = {c: v.isoformat() for c, v in want["maxValues"].items() if isinstance(v, dt.date)}
        assert got["maxValues"] == {**want["maxValues"], **dates}
    if rows == 4:
        assert got["maxValues"]["s"] == "é" * 40 and got["minValues"]["s"] == "a" * 70
        assert "f_nan" not in got["minValues"] and got["minValues"]["u"] == 0
        assert got["maxValues"]["u"] == 2**63 + 5 and got["minValues"]["f"] == 0.0
