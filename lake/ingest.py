"""Ingest: a day's batches appended to a local table in one commit, keyed on an id.

A day of raw parts lands as one job per table (:class:`DayAppend`): each part is checked
against what is stored and written as data files at once, and one commit at the end adds
them all. Part by part, each with its own commit, every part was checked against the
growing table: the cost of the day's landing grew with the square of its parts.

The ids stored for a day are known to the process as hashes (:class:`KeyIndex`), kept up to
date with the table's files: a batch's ids are looked up in memory, and only an id whose
hash is stored already is read back from the files. A live micro-batch thus costs the same
at 15:30 as at 10:00; a hash is never trusted on its own, so a collision costs a read,
never a row.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import CommitFailedError
from deltalake.transaction import AddAction

from lake.files import local_root, stored_order, write_files
from lake.location import Lake
from lake.write import _COMMIT_RETRIES, WriteResult, _ensure_table, differing

#: Files whose key column is read at once when an index learns a table's stored files: a
#: day re-landed has hundreds, and reading all ids as strings at once would hold gigabytes.
_FILES_PER_READ = 16


#: The largest run of an index: merging two runs costs a pass over both, and a live batch
#: that merges 30M hashes into 30M waits for it (8M: ~50 ms).
_RUN_LIMIT = 1 << 23


def key_hashes(frame: pl.DataFrame, key: str) -> np.ndarray:
    """Return the 64-bit hashes of ``frame``'s ``key`` column (stable within a process).

    Examples
    --------
    >>> a = key_hashes(pl.DataFrame({"id": ["x", "y", "x"]}), "id")
    >>> bool(a[0] == a[2]), bool(a[0] == a[1])
    (True, False)
    """
    return frame.get_column(key).hash(seed=0).to_numpy()


def _within(sorted_run: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Return which ``hashes`` are in ``sorted_run`` (ascending)."""
    if sorted_run.size == 0 or hashes.size == 0:
        return np.zeros(hashes.size, dtype=bool)
    at = np.minimum(np.searchsorted(sorted_run, hashes), sorted_run.size - 1)
    return sorted_run[at] == hashes


@dataclass
class KeyIndex:
    """The key hashes of a table's stored files of one day, as sorted runs.

    A run is merged with the one before it once it is as large, up to :data:`_RUN_LIMIT`
    hashes: each hash is merged a few times over a day, no merge holds up one batch for
    long, and a lookup is a binary search per run, so a small batch's lookup does not grow
    with the day.

    Examples
    --------
    >>> index = KeyIndex()
    >>> index.add(np.array([5, 1, 9], dtype=np.uint64))
    >>> index.hits(np.array([9, 2], dtype=np.uint64)).tolist()
    [True, False]
    """

    files: set[str] = field(default_factory=set)
    runs: list[np.ndarray] = field(default_factory=list)

    def add(self, hashes: np.ndarray, ordered: bool = False) -> None:
        """Add ``hashes`` to the index: in any order, or ascending when ``ordered`` (then
        the array itself becomes a run, uncopied)."""
        if hashes.size == 0:
            return
        self.runs.append(hashes if ordered else np.sort(hashes))
        while (
            len(self.runs) > 1
            and self.runs[-2].size <= self.runs[-1].size
            and self.runs[-2].size + self.runs[-1].size <= _RUN_LIMIT
        ):
            last = self.runs.pop()
            # Two sorted runs: a merge sort finds them and merges in one pass.
            self.runs[-1] = np.sort(np.concatenate([self.runs[-1], last]), kind="stable")

    def hits(self, hashes: np.ndarray) -> np.ndarray:
        """Return which of ``hashes`` are in the index (a bool per hash)."""
        if not self.runs:  # a day's first landing: nothing stored, nothing to search
            return np.zeros(hashes.size, dtype=bool)
        # Searched in ascending order, the binary searches walk each run once, front to back:
        # in random order every probe of a run of millions missed the cache.
        order = np.argsort(hashes)
        ordered = hashes[order]
        found = np.zeros(hashes.size, dtype=bool)
        for run in self.runs:
            found |= _within(run, ordered)
        hit = np.empty_like(found)
        hit[order] = found
        return hit

    def __len__(self) -> int:
        return sum(run.size for run in self.runs)


#: One index per table (its URI) of this process: the day it is of and the index. Live
#: landing adds a batch at a time to the same day; a new day replaces the old one.
_INDEXES: dict[str, tuple[dt.date, KeyIndex]] = {}
_INDEXES_LOCK = threading.Lock()


def stored_index(lake: Lake, table: str, target: DeltaTable, day: dt.date, key: str) -> KeyIndex:
    """Return the index of ``key`` hashes of ``target``'s stored files of ``day``, brought up
    to its current version: the files it has not seen are read (their key column only).

    A file the index saw that the table no longer holds (a compaction, a re-landed day)
    starts the index afresh.
    """
    uris = target.file_uris(file_pruning_predicate=[("date", "=", day.isoformat())])
    name = lake.uri(table)
    with _INDEXES_LOCK:
        cached = _INDEXES.get(name)
        if cached is None or cached[0] != day or not cached[1].files <= set(uris):
            cached = (day, KeyIndex())
            _INDEXES[name] = cached
        index = cached[1]
        new = [u for u in uris if u not in index.files]
        index.add(_file_hashes(new, key))
        index.files.update(new)
        return index


def _file_hashes(files: list[str], key: str) -> np.ndarray:
    """Return the ``key`` hashes of the rows of ``files``, read :data:`_FILES_PER_READ`
    files at a time (the key column only)."""
    parts = [
        pl.scan_parquet(files[start : start + _FILES_PER_READ], hive_partitioning=False)
        .select(pl.col(key).hash(seed=0))
        .collect()
        .to_series()
        .to_numpy()
        for start in range(0, len(files), _FILES_PER_READ)
    ]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)


def _remember(
    lake: Lake, table: str, day: dt.date, files: list[str], hashes: np.ndarray, ordered: bool
) -> None:
    """Add the files this process just committed, and their key ``hashes`` (ascending when
    ``ordered``), to its index of ``table``'s ``day``."""
    with _INDEXES_LOCK:
        cached = _INDEXES.get(lake.uri(table))
        if cached is not None and cached[0] == day:
            cached[1].add(hashes, ordered)
            cached[1].files.update(files)


def _stored_rows(files: list[str], keys: pl.Series, whole: bool, key: str) -> pl.DataFrame:
    """Return the rows of ``files`` whose ``key`` is one of ``keys`` (the key column only
    unless ``whole``)."""
    scan = pl.scan_parquet(files, hive_partitioning=False, extra_columns="ignore")
    if not whole:
        scan = scan.select(key)
    return scan.filter(pl.col(key).is_in(keys.implode())).collect()


@dataclass
class _Chunk:
    """The files one added frame was written to (numbered from ``first``), with its rows'
    key hashes (one per row, in order)."""

    first: int
    actions: list[AddAction]
    hashes: np.ndarray

    @property
    def rows(self) -> int:
        """Return how many rows the chunk's files hold."""
        return self.hashes.size


class DayAppend:
    """Frames of one ``day`` appended to a local table in one commit, keyed on ``key``.

    Each :meth:`add` drops the rows whose key is stored already (with ``compare``, those
    stored with other content are returned as conflicts) and writes the rest as data files,
    uncommitted. :meth:`commit` settles keys repeated between added frames (the first one
    added wins, as landing them one by one would have it) and commits every file in one
    transaction on the version the stored keys were read from; after another writer's
    commit it checks that writer's files and commits again. Until then no reader sees a
    row, and a crash leaves the table as it was.

    Examples
    --------
    >>> import tempfile
    >>> lake = Lake(tempfile.mkdtemp())
    >>> day = dt.date(2026, 3, 20)
    >>> rows = pl.DataFrame({"date": [day, day], "event_id": ["a", "b"], "v": [1, 2]})
    >>> job = DayAppend(lake, "t", day)
    >>> job.add(rows).height, job.add(rows).height  # conflicts found against stored rows
    (0, 0)
    >>> result = job.commit()
    >>> result.rows_written, result.rows_skipped
    (2, 2)
    """

    def __init__(
        self, lake: Lake, table: str, day: dt.date, key: str = "event_id", compare: bool = True
    ) -> None:
        if not lake.is_local:
            raise ValueError(f"{table}: a day append writes local tables only")
        self.lake, self.table, self.day, self.key, self.compare = lake, table, day, key, compare
        self._target: DeltaTable | None = None
        self._stored: list[str] = []
        self._chunks: list[_Chunk] = []
        self._offered = 0
        self._conflicts: list[pl.DataFrame] = []
        # The chunks' hashes in one ascending array, from the repeats' check, while no chunk
        # has changed since: the index takes it as it is, not a copy sorted again (a day's
        # hashes are hundreds of MB).
        self._ordered: np.ndarray | None = None

    def _open(self, frame: pl.DataFrame) -> DeltaTable:
        if self._target is None:
            self._target = _ensure_table(self.lake, self.table, frame, ["date"])
            self._index = stored_index(self.lake, self.table, self._target, self.day, self.key)
            self._stored = self._target.file_uris(
                file_pruning_predicate=[("date", "=", self.day.isoformat())]
            )
        return self._target

    def add(self, frame: pl.DataFrame, hashes: np.ndarray | None = None) -> pl.DataFrame:
        """Write ``frame``'s rows whose key is not stored; return those whose key is stored
        with other content (empty without ``compare``).

        ``hashes`` are the rows' key hashes (:func:`key_hashes`) when the caller has them
        (validation computes them for its own check); otherwise they are computed here.

        Raises
        ------
        ValueError
            When ``frame`` holds a row of another day, or its columns are not the table's.
        """
        if frame.height == 0:
            return frame
        if (frame.get_column("date") != self.day).any():
            raise ValueError(f"{self.table}: frame holds rows outside {self.day}")
        self._offered += frame.height
        rows = stored_order(self.table, self._open(frame), frame)
        # A key repeated within the frame is settled with those repeated between frames, at
        # the commit (the first row wins).
        if hashes is None:
            hashes = key_hashes(rows, self.key)
        elif hashes.size != rows.height:
            raise ValueError(f"{self.table}: {hashes.size} key hashes for {rows.height} rows")
        hit = self._index.hits(hashes)
        conflicts = rows.head(0)
        if hit.any():
            keys = rows.get_column(self.key).filter(pl.Series(hit))
            stored = _stored_rows(self._stored, keys, self.compare, self.key)
            if stored.height:
                if self.compare:
                    conflicts = differing(
                        stored.with_columns(pl.lit(self.day).alias("date")), rows, self.key
                    )
                keep = ~rows.get_column(self.key).is_in(stored.get_column(self.key).implode())
                rows, hashes = rows.filter(keep), hashes[keep.to_numpy()]
        if rows.height:
            self._write(rows, hashes)
        self._conflicts.append(conflicts)
        return conflicts

    def _write(self, rows: pl.DataFrame, hashes: np.ndarray) -> None:
        first = sum(len(c.actions) for c in self._chunks)
        actions = write_files(self.lake, self.table, rows, self.day, first=first)
        self._chunks.append(_Chunk(first, actions, hashes))

    def commit(self) -> WriteResult:
        """Commit every added frame's files in one transaction; return what was done.

        Raises
        ------
        RuntimeError
            When every one of the retries lost the race to another writer.
        """
        self._settle_repeats()
        written = sum(c.rows for c in self._chunks)
        if not written:
            self._drop_files()
            version = self._target.version() if self._target is not None else -1
            return WriteResult(self.table, 0, self._offered, version, self._all_conflicts())
        target = self._target
        assert target is not None  # rows were added
        for n in range(_COMMIT_RETRIES):
            try:
                target.create_write_transaction(
                    [a for c in self._chunks for a in c.actions],
                    mode="append",
                    schema=target.schema(),
                    partition_by=["date"],
                    commit_properties=CommitProperties(max_commit_retries=0),
                )
                break
            except CommitFailedError:
                # Another writer committed first: its files of the day may hold keys
                # written here. They are stored now, so they win; the rest commits again.
                time.sleep(random.uniform(0, min(1.0, 0.05 * 2**n)))
                target.update_incremental()
                self._settle_against_new_files()
        else:
            self._drop_files()
            raise RuntimeError(
                f"could not commit to {self.table} after {_COMMIT_RETRIES} concurrent retries"
            )
        target.update_incremental()
        root = local_root(self.lake, self.table)
        ordered = self._ordered
        _remember(
            self.lake,
            self.table,
            self.day,
            [str(root / a.path) for c in self._chunks for a in c.actions],
            np.concatenate([c.hashes for c in self._chunks]) if ordered is None else ordered,
            ordered is not None,
        )
        self._ordered = None
        written = sum(c.rows for c in self._chunks)  # a lost race may have settled rows away
        return WriteResult(
            self.table, written, self._offered - written, target.version(), self._all_conflicts()
        )

    def _all_conflicts(self) -> pl.DataFrame | None:
        return pl.concat(self._conflicts) if self._conflicts else None

    def _drop_files(self) -> None:
        root = local_root(self.lake, self.table)
        for chunk in self._chunks:
            for action in chunk.actions:
                (root / action.path).unlink(missing_ok=True)

    def _settle_repeats(self) -> None:
        """Drop the rows whose key an earlier row wrote, in an earlier added frame or earlier
        in the same one (conflicts when different)."""
        if not self._chunks:
            return
        hashes = np.concatenate([c.hashes for c in self._chunks])
        hashes.sort()  # in place: the day's hashes are hundreds of MB
        self._ordered = hashes
        repeated = np.unique(hashes[1:][hashes[1:] == hashes[:-1]])
        if repeated.size:
            self._settle(repeated, stored=[])

    def _settle_against_new_files(self) -> None:
        """Drop the rows whose key another writer's newly committed files of the day hold."""
        assert self._target is not None
        uris = self._target.file_uris(file_pruning_predicate=[("date", "=", self.day.isoformat())])
        new = [u for u in uris if u not in set(self._stored)]
        self._stored = uris
        if not new or not self._chunks:
            return
        theirs = _file_hashes(new, self.key)
        ours = np.concatenate([c.hashes for c in self._chunks])
        shared = np.unique(ours[_within(np.sort(theirs), ours)])
        if shared.size:
            self._settle(shared, stored=new)

    def _settle(self, hashes: np.ndarray, stored: list[str]) -> None:
        """Keep, of each key among ``hashes``, its first row (stored files first, then the
        added frames in order); the chunks that lose a row are written again without it."""
        wanted = pl.Series(hashes).implode()
        root = local_root(self.lake, self.table)
        found: list[pl.DataFrame] = []
        if stored:
            rows = pl.scan_parquet(stored, hive_partitioning=False, extra_columns="ignore")
            found.append(
                self._as_stored(
                    rows.filter(pl.col(self.key).hash(seed=0).is_in(wanted)).collect()
                ).pipe(self._placed, -1)
            )
        ordered = np.sort(hashes)
        for i, chunk in enumerate(self._chunks):
            if not chunk.rows or not _within(ordered, chunk.hashes).any():
                continue
            found.append(
                self._read(chunk)
                .pipe(self._placed, i)
                .filter(pl.col(self.key).hash(seed=0).is_in(wanted))
            )
        occurrences = pl.concat(found).sort("_chunk", "_pos")
        losers = occurrences.filter(~pl.col(self.key).is_first_distinct())
        if losers.height == 0:
            return  # only a hash collision: different keys
        if self.compare:
            winners = occurrences.filter(pl.col(self.key).is_first_distinct())
            self._conflicts.append(
                differing(winners.drop("_chunk", "_pos"), losers.drop("_chunk", "_pos"), self.key)
            )
        for i in losers.get_column("_chunk").unique().sort().to_list():
            chunk = self._chunks[i]
            lost = losers.filter(pl.col("_chunk") == i).get_column("_pos").implode()
            kept = self._read(chunk).with_row_index("_pos").filter(~pl.col("_pos").is_in(lost))
            for action in chunk.actions:
                (root / action.path).unlink()
            kept = kept.drop("_pos")
            # Numbered as before, in no more files than before: the numbers stay apart from
            # the next chunk's.
            actions = (
                write_files(self.lake, self.table, kept, self.day, chunk.first, len(chunk.actions))
                if kept.height
                else []
            )
            self._chunks[i] = _Chunk(chunk.first, actions, key_hashes(kept, self.key))
            self._ordered = None

    def _read(self, chunk: _Chunk) -> pl.DataFrame:
        """Return a chunk's rows as written (with ``date``), in order."""
        root = local_root(self.lake, self.table)
        rows = pl.read_parquet([root / a.path for a in chunk.actions], hive_partitioning=False)
        return self._as_stored(rows)

    def _as_stored(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Return rows read from the day's files as the table holds them (with ``date``)."""
        assert self._target is not None
        dated = rows.with_columns(pl.lit(self.day).alias("date"))
        return stored_order(self.table, self._target, dated)

    @staticmethod
    def _placed(frame: pl.DataFrame, chunk: int) -> pl.DataFrame:
        return frame.with_row_index("_pos").with_columns(pl.lit(chunk, pl.Int64).alias("_chunk"))
