"""A day's batches landed as one job: one commit per table, the same rows as part by part."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from deltalake import DeltaTable

from adapters.source import Batch
from assets.landing import land_batch, land_batches
from lake import Lake
from lake.ingest import _INDEXES, DayAppend, KeyIndex, key_hashes, stored_index
from lake.read import scan
from lake.write import land

DAY = dt.date(2026, 3, 20)


def rows(ids: list[str], values: list[float]) -> pl.DataFrame:
    return pl.DataFrame(
        {"date": [DAY] * len(ids), "event_id": ids, "v": values, "ts_recv": list(range(len(ids)))}
    )


def stored(lake: Lake, table: str = "t") -> pl.DataFrame:
    return scan(lake, table, dates=[DAY]).collect().sort("event_id")


def versions(lake: Lake, table: str = "t") -> int:
    return DeltaTable(lake.uri(table)).version()


def test_a_job_commits_once_and_the_first_of_a_repeated_id_wins(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    job = DayAppend(lake, "t", DAY)
    job.add(rows(["a", "b"], [1.0, 2.0]))
    # "b" again with the same content (a ts_recv of its own: a re-send is the same event),
    # "a" again with another value: a conflict; "c" new.
    job.add(rows(["b", "a", "c"], [2.0, 9.0, 3.0]).with_columns(ts_recv=pl.lit(7, pl.Int64)))
    result = job.commit()
    assert (result.rows_written, result.rows_skipped) == (3, 2)
    assert result.conflicts is not None
    assert result.conflicts.select("event_id", "v").rows() == [("a", 9.0)]
    assert stored(lake).select("event_id", "v").rows() == [("a", 1.0), ("b", 2.0), ("c", 3.0)]
    # Version 0 created the table, version 1 holds every row: one commit for the job.
    assert versions(lake) == 1
    # The repeat was written in the second part's file and rewritten without it: no file
    # left on disk that no version references.
    referenced = {Path(u).name for u in DeltaTable(lake.uri("t")).file_uris()}
    on_disk = {p.name for p in (tmp_path / "t").rglob("*.parquet")}
    assert on_disk == referenced


def test_a_day_landed_again_adds_nothing_and_finds_changed_rows(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    first = DayAppend(lake, "t", DAY)
    first.add(rows(["a", "b"], [1.0, 2.0]))
    first.commit()
    _INDEXES.clear()  # another process: its index is learned from the table's files
    again = DayAppend(lake, "t", DAY)
    conflicts = again.add(rows(["a", "b"], [1.0, 5.0]))
    assert conflicts.select("event_id", "v").rows() == [("b", 5.0)]
    result = again.commit()
    assert (result.rows_written, result.rows_skipped) == (0, 2)
    assert versions(lake) == 1  # nothing to commit: no new version
    assert stored(lake).get_column("v").to_list() == [1.0, 2.0]


def test_rows_another_writer_committed_meanwhile_win(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    land(lake, "t", rows(["z"], [0.0]))  # the table exists before the job opens it
    job = DayAppend(lake, "t", DAY)
    job.add(rows(["a", "b"], [1.0, 2.0]))
    # Another writer commits "b" (other content) and "x" after the job read the stored ids.
    land(lake, "t", rows(["b", "x"], [8.0, 4.0]))
    result = job.commit()
    assert result.rows_written == 1
    assert result.conflicts is not None
    assert result.conflicts.select("event_id", "v").rows() == [("b", 2.0)]
    assert stored(lake).select("event_id", "v").rows() == [
        ("a", 1.0), ("b", 8.0), ("x", 4.0), ("z", 0.0)
    ]  # fmt: skip


def test_a_job_that_never_commits_leaves_the_table_as_it_was(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    land(lake, "t", rows(["z"], [0.0]))
    job = DayAppend(lake, "t", DAY)
    job.add(rows(["a"], [1.0]))
    del job  # a crash before the commit
    assert stored(lake).get_column("event_id").to_list() == ["z"]
    assert versions(lake) == 1


def test_a_hash_in_the_index_is_checked_against_the_stored_ids(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    land(lake, "t", rows(["z"], [0.0]))
    index = stored_index(lake, "t", DeltaTable(lake.uri("t")), DAY, "event_id")
    # As if "a" collided with a stored id: its hash is in the index, the id is not stored.
    index.add(key_hashes(rows(["a"], [0.0]), "event_id"))
    job = DayAppend(lake, "t", DAY)
    job.add(rows(["a"], [1.0]))
    assert job.commit().rows_written == 1
    assert stored(lake).get_column("event_id").to_list() == ["a", "z"]


def test_the_index_learns_files_it_has_not_seen_and_restarts_when_files_go(
    tmp_path: Path,
) -> None:
    lake = Lake(str(tmp_path))
    land(lake, "t", rows(["a"], [1.0]))
    table = DeltaTable(lake.uri("t"))
    index = stored_index(lake, "t", table, DAY, "event_id")
    assert len(index) == 1
    land(lake, "t", rows(["b", "c"], [1.0, 2.0]))
    table.update_incremental()
    assert stored_index(lake, "t", table, DAY, "event_id") is index
    assert len(index) == 3
    # A day rewritten: the index's files are gone, so it starts again from the table.
    DeltaTable(lake.uri("t")).delete("event_id = 'a'")
    table.update_incremental()
    fresh = stored_index(lake, "t", table, DAY, "event_id")
    assert fresh is not index and len(fresh) == 2


def test_sorted_runs_find_every_hash_after_merges() -> None:
    rng = np.random.default_rng(3)
    index = KeyIndex()
    added = [rng.integers(0, 2**63, n, dtype=np.uint64) for n in (5, 3, 8, 1, 20, 2)]
    for hashes in added:
        index.add(hashes)
    # Runs merge while the one before is no larger: sizes stay decreasing.
    sizes = [run.size for run in index.runs]
    assert sizes == sorted(sizes, reverse=True) and sum(sizes) == 39
    every = np.concatenate(added)
    assert index.hits(every).all()
    assert not index.hits(np.array([2**63 + 1], dtype=np.uint64)).any()


def test_a_day_job_lands_the_rows_part_by_part_landing_lands(tmp_path: Path) -> None:
    """The landing job and one batch at a time give the same tables and counts."""
    from adapters.synthetic.market import SyntheticSpec, generate_day

    tables = generate_day(SyntheticSpec(date=DAY, underlyings=("SPY",), minutes=20)).tables

    def parts() -> list[Batch]:
        out = []
        for name, frame in tables.items():
            halves = [frame.head(frame.height // 2), frame.tail(frame.height - frame.height // 2)]
            # The second half again, one row changed: conflicts and re-sends across parts.
            changed = halves[1].head(3)
            if "size" in changed.columns:
                changed = changed.with_columns(pl.col("size") + 1)
            out += [Batch(streams={name: h}) for h in (*halves, changed)]
        return out

    job, one_by_one = Lake(str(tmp_path / "job")), Lake(str(tmp_path / "each"))
    together = land_batches(job, parts(), DAY)
    separately = [land_batch(one_by_one, part, DAY) for part in parts()]
    for name, frame in tables.items():
        if "event_id" in frame.columns and frame.height:
            a = scan(job, name, dates=[DAY]).collect().sort("event_id")
            b = scan(one_by_one, name, dates=[DAY]).collect().sort("event_id")
            assert a.equals(b), name
            assert together.landed[name] == sum(s.landed.get(name, 0) for s in separately)
            assert together.present[name] == sum(s.present.get(name, 0) for s in separately)
            assert versions(job, name) == 1  # created, then one commit
    assert together.quarantined == sum(s.quarantined for s in separately) > 0


def test_rows_of_another_day_are_refused(tmp_path: Path) -> None:
    job = DayAppend(Lake(str(tmp_path)), "t", DAY)
    with pytest.raises(ValueError, match="outside 2026-03-20"):
        job.add(rows(["a"], [1.0]).with_columns(date=pl.lit(dt.date(2026, 3, 19))))


def test_runs_stop_merging_at_their_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("lake.ingest._RUN_LIMIT", 8)
    index = KeyIndex()
    for start in range(0, 40, 4):
        index.add(np.arange(start, start + 4, dtype=np.uint64))
    # 4 + 4 merge into 8; then 8 + 8 would pass the limit, so runs of 8 stay apart.
    assert [run.size for run in index.runs] == [8, 8, 8, 8, 8]
    assert index.hits(np.arange(0, 41, dtype=np.uint64)).tolist() == [True] * 40 + [False]


def test_a_key_repeated_within_one_frame_lands_once(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    job = DayAppend(lake, "t", DAY)
    job.add(rows(["a", "b", "a", "b"], [1.0, 2.0, 1.0, 7.0]))
    result = job.commit()
    assert (result.rows_written, result.rows_skipped) == (2, 2)
    # The copy of "a" is skipped; "b" with another value is a conflict.
    assert result.conflicts is not None
    assert result.conflicts.select("event_id", "v").rows() == [("b", 7.0)]
    assert stored(lake).select("event_id", "v").rows() == [("a", 1.0), ("b", 2.0)]


def test_a_job_keys_rows_on_the_hashes_it_is_given_and_refuses_a_wrong_count(
    tmp_path: Path,
) -> None:
    """Handed-over hashes key the rows as the job's own would: a repeat found by them loses
    to the first row, and the index they enter finds the ids on the next landing. A count
    that is not the rows' is refused before anything is written."""
    lake = Lake(str(tmp_path))
    first = rows(["a", "b"], [1.0, 2.0])
    job = DayAppend(lake, "t", DAY)
    job.add(first, key_hashes(first, "event_id"))
    again = rows(["b", "c"], [2.0, 3.0])
    job.add(again, key_hashes(again, "event_id"))
    assert (job.commit().rows_written, len(stored(lake))) == (3, 3)
    later = DayAppend(lake, "t", DAY)
    repeat = rows(["c"], [3.0])
    later.add(repeat, key_hashes(repeat, "event_id"))
    assert later.commit().rows_written == 0
    with pytest.raises(ValueError, match="2 key hashes for 1 rows"):
        DayAppend(lake, "t", DAY).add(repeat, key_hashes(first, "event_id"))
    assert len(stored(lake)) == 3
