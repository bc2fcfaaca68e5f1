"""Transactional writes: idempotent landing and whole-partition overwrite of derived tables.

Every write is one Delta commit, so a reader sees the table before or after it, never a
half. A crash mid-write leaves only unreferenced files; the previous version stays current.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import (
    ColumnProperties,
    CommitProperties,
    DeltaTable,
    Schema,
    WriterProperties,
    write_deltalake,
)
from deltalake.exceptions import CommitFailedError, TableNotFoundError
from deltalake.transaction import AddAction

from lake.location import Lake

T = TypeVar("T")

#: Optimistic-concurrency retries when another writer commits first.
_COMMIT_RETRIES = 12


@dataclass(frozen=True)
class WriteResult:
    """What one write did.

    Attributes
    ----------
    table
        Table name.
    rows_written
        Rows inserted (landing) or written (partition overwrite).
    rows_skipped
        Rows already present (landing only): a re-delivered batch skips all of its rows,
        and a row whose key is stored with other content is skipped too and listed in
        ``conflicts``.
    version
        The Delta table version after the write.
    """

    table: str
    rows_written: int
    rows_skipped: int
    version: int
    #: Landing only: rows of the batch whose key is stored with other content (the stored
    #: row stays; the caller quarantines these).
    conflicts: pl.DataFrame | None = None


def _open(lake: Lake, table: str) -> DeltaTable | None:
    try:
        return DeltaTable(lake.uri(table), storage_options=lake.storage_options or None)
    except TableNotFoundError:
        return None


#: Table properties of every table the lake creates. A checkpoint every 10 commits, not
#: Delta's default 100: opening a table replays the JSON commits since the last checkpoint,
#: and a live day commits to each table every micro-batch. Measured on a live lake: an open
#: took 22-26 ms 40 commits after a checkpoint, 6 ms right after one (a live tail opens
#: ~65 tables); a checkpoint of a 36-file table costs ~30 ms, i.e. 3 ms a commit.
TABLE_PROPERTIES = {"delta.checkpointInterval": "10"}


def _ensure_table(
    lake: Lake, table: str, frame: pl.DataFrame, partition_by: list[str]
) -> DeltaTable:
    existing = _open(lake, table)
    if existing is None:
        return DeltaTable.create(
            lake.uri(table),
            frame.head(0).to_arrow().schema,
            mode="ignore",  # another writer may have created it a moment ago
            partition_by=partition_by,
            configuration=TABLE_PROPERTIES,
            storage_options=lake.storage_options or None,
        )
    configuration = existing.metadata().configuration
    if any(configuration.get(k) != v for k, v in TABLE_PROPERTIES.items()):
        # A table of an older lake: one commit brings it to today's properties.
        existing.alter.set_table_properties(TABLE_PROPERTIES)
    stored = {f.name for f in existing.schema().fields}
    added = [c for c in frame.columns if c not in stored]
    if added:
        # A table written by an older flowlake lacks the columns added since: one commit
        # adds them (its earlier rows read them as null); a column dropped or retyped
        # still fails in _stored_order.
        arrow = frame.head(0).select(added).to_arrow().schema
        existing.alter.add_columns(list(Schema.from_arrow(arrow).fields))
        existing.update_incremental()
    return existing


#: Rows looked at to tell a column's cardinality.
_SAMPLE_ROWS = 10_000


def writer_properties(frame: pl.DataFrame) -> WriterProperties:
    """Return Parquet writer settings for ``frame``: no dictionary for nearly-unique columns.

    The writer tries a dictionary for every column and falls back to plain encoding once
    it outgrows its limit; for ids and nanosecond times that is wasted work (it more than
    doubled the write time of ``option_prints``) and no smaller file. A column whose first
    rows are mostly distinct skips the dictionary; the others (contracts, exchanges,
    placements, strikes) keep it. Delta's file statistics are kept for every column.
    """
    head = frame.head(_SAMPLE_ROWS)
    unique = {
        name: head.get_column(name).n_unique()
        for name, dtype in head.schema.items()
        if not isinstance(dtype, pl.List | pl.Struct)
    }
    plain = [name for name, n in unique.items() if head.height and n > head.height // 2]
    # Statistics per row group, not per page: Delta's file statistics (data skipping) come
    # from the row groups; page indexes cost a third of the write time and nothing reads them.
    return WriterProperties(
        default_column_properties=ColumnProperties(statistics_enabled="CHUNK"),
        column_properties={
            name: ColumnProperties(dictionary_enabled=False, statistics_enabled="CHUNK")
            for name in plain
        },
    )


def _date_list(frame: pl.DataFrame) -> str:
    dates = sorted(frame.get_column("date").drop_nulls().unique().to_list())
    return ", ".join(f"'{d.isoformat()}'" for d in dates)


def _committed(table: str, attempt: Callable[[], T]) -> T:
    """Return ``attempt()``, run again (from the table's new version) while another writer
    commits first.

    Raises
    ------
    RuntimeError
        When every one of :data:`_COMMIT_RETRIES` attempts lost the race.
    """
    for n in range(_COMMIT_RETRIES):
        try:
            return attempt()
        except CommitFailedError:
            # Exponential back-off with full jitter: writers that lost the same race must
            # not all come back at the same moment and collide again. Capped at 1 s so that a
            # burst of writers (4 merging at once lost 8 rounds once under load) still ends.
            time.sleep(random.uniform(0, min(1.0, 0.05 * 2**n)))
    raise RuntimeError(f"could not commit to {table} after {_COMMIT_RETRIES} concurrent retries")


def _merge_by_key(
    lake: Lake, table: str, frame: pl.DataFrame, key: str, keep: str, *, update: bool
) -> tuple[int, int]:
    """Merge ``frame`` into ``table`` on ``(date, key)`` in one commit, retrying when another
    writer commits first; return (rows inserted, table version). Matched rows are updated
    when ``update``, else left alone (insert-only)."""
    source = frame.unique(subset=["date", key], keep=keep, maintain_order=True)  # type: ignore[arg-type]
    predicate = f"t.date IN ({_date_list(source)}) AND t.date = s.date AND t.{key} = s.{key}"
    properties = writer_properties(source)

    def attempt() -> tuple[int, int]:
        # Creating the table races too: two first writers may both create it.
        target = _ensure_table(lake, table, source, ["date"])
        merger = target.merge(
            source.to_arrow(),
            predicate,
            source_alias="s",
            target_alias="t",
            error_on_type_mismatch=False,
            writer_properties=properties,
        )
        if update:
            merger = merger.when_matched_update_all()
        metrics = merger.when_not_matched_insert_all().execute()
        return int(metrics.get("num_target_rows_inserted", 0)), target.version()

    return _committed(table, attempt)


def _nothing(lake: Lake, table: str) -> WriteResult:
    existing = _open(lake, table)
    return WriteResult(table, 0, 0, existing.version() if existing is not None else -1)


def land(
    lake: Lake, table: str, frame: pl.DataFrame, key: str = "event_id", compare: bool = True
) -> WriteResult:
    """Append rows whose ``(date, key)`` is not in the table yet; return what was done.

    The same batch landed twice inserts its rows once, in one commit: on a local lake an
    append of the rows whose keys the table lacks, committed only on the version the keys
    were read from (:func:`_append_unseen`); elsewhere, and for struct columns, Delta's
    insert-only merge. ``frame`` must carry ``date`` (the partition column). With
    ``compare``, rows whose key is stored with other content are returned as
    ``conflicts``; without it (a key that is a hash of the content, such as
    ``quarantine_id``) the stored rows are not read for that.
    """
    if frame.height == 0:
        return _nothing(lake, table)
    if lake.is_local and _polars_writes_fast(frame):
        inserted, version, conflicts = _append_unseen(lake, table, frame, key, compare)
    else:
        existing = _open(lake, table) if compare else None
        conflicts = None
        if existing is not None:
            stored = (
                pl.scan_delta(existing)
                .filter(
                    pl.col("date").is_in(frame.get_column("date").unique().implode()),
                    pl.col(key).is_in(frame.get_column(key).implode()),
                )
                .collect()
            )
            conflicts = differing(stored, frame, key)
        inserted, version = _merge_by_key(lake, table, frame, key, "first", update=False)
    return WriteResult(table, inserted, frame.height - inserted, version, conflicts)


def differing(stored: pl.DataFrame, batch: pl.DataFrame, key: str) -> pl.DataFrame:
    """Return the rows of ``batch`` whose ``(date, key)`` is in ``stored`` with other content.

    Rows are compared by a hash of every column but ``ts_recv`` (both sides hashed in this
    process, so the hash function is the same): a feed that sends an event again after a
    reconnect receives it at another time, and that is the same event, not a conflict.

    Examples
    --------
    >>> a = pl.DataFrame({"date": [1, 1], "id": ["x", "y"], "v": [1.0, 2.0]})
    >>> differing(a, a.with_columns(v=pl.Series([1.0, 2.5])), "id").get_column("id").to_list()
    ['y']
    """
    if stored.height == 0:
        return batch.head(0)
    columns = [c for c in batch.columns if c != "ts_recv"]

    def hashed(rows: pl.DataFrame) -> pl.DataFrame:
        return rows.select("date", key, pl.struct(columns).hash(seed=0).alias("_hash"))

    stored_hash = hashed(stored.select(columns)).rename({"_hash": "_stored"})
    matched = hashed(batch).with_row_index("_i").join(stored_hash, on=["date", key], how="inner")
    rows = matched.filter(pl.col("_hash") != pl.col("_stored")).get_column("_i").unique()
    return batch.with_row_index("_i").filter(pl.col("_i").is_in(rows.implode())).drop("_i")


@dataclass(frozen=True)
class RowScope:
    """Rows owned by a set of values (date x bucket runs): rows whose ``column`` is one of
    ``values`` or, with ``width``, whose ``column`` starts with one of them padded with
    spaces to ``width`` characters (an OCC option symbol's root).

    Raises
    ------
    ValueError
        When a prefix value is longer than ``width`` or holds a ``LIKE`` wildcard.
    """

    column: str
    values: tuple[str, ...]
    width: int | None = None

    def __post_init__(self) -> None:
        if self.width is None:
            return
        bad = [v for v in self.values if len(v) > self.width or "%" in v or "_" in v]
        if bad:
            raise ValueError(f"{self.column}: not a prefix of width {self.width}: {bad}")

    def rows(self) -> pl.Expr:
        """Return the polars predicate selecting these rows."""
        if self.width is None:
            return pl.col(self.column).is_in(list(self.values))
        padded = [v.ljust(self.width) for v in self.values]
        return pl.col(self.column).str.slice(0, self.width).is_in(padded)

    def predicate(self) -> str:
        """Return the Delta predicate selecting these rows (none when there are no values:
        a bucket with no underlyings that day replaces nothing, and still creates the table
        its downstream assets read)."""
        if not self.values:
            return "FALSE"
        if self.width is None:
            return f"{self.column} IN ({', '.join(_sql_literal(v) for v in self.values)})"
        # No function call: Delta keeps the predicate as DataFusion prints it, and parses
        # that text again when a concurrent commit makes it retry; integer arguments print
        # as ``Int64(1)``, which it cannot parse (``substr(contract, 1, 6) IN (...)``
        # failed so, measured on deltalake 1.6.6).
        like = (
            f"{self.column} LIKE {_sql_literal(v.ljust(self.width) + '%')}" for v in self.values
        )
        return f"({' OR '.join(like)})"


#: Target size of a derived table's data files.
DERIVED_FILE_BYTES = 8 * 1024 * 1024


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def overwrite_partition(
    lake: Lake,
    table: str,
    frame: pl.DataFrame,
    date: dt.date,
    where: dict[str, str] | None = None,
    since: tuple[str, int] | None = None,
    scope: RowScope | None = None,
) -> WriteResult:
    """Replace one ``date`` partition of a derived table with ``frame`` in one commit.

    ``where`` narrows what is replaced to rows with those column values (for example one
    ``config_version`` of ``classifier_hits``, leaving the other versions as they were);
    ``since = (column, ns)`` narrows it to rows with ``column >= ns`` (the tail of the day
    a micro-batch recomputed); ``scope`` to the rows of some underlyings (one bucket).

    Raises
    ------
    ValueError
        When ``frame`` holds rows outside the predicate.
    """
    where = where or {}
    bounds = [] if since is None else [pl.col(since[0]) < since[1]]
    if scope is not None:
        bounds.append(~scope.rows())
    outside = frame.filter(
        (pl.col("date") != date).or_(*[pl.col(c) != v for c, v in where.items()], *bounds)
    )
    if outside.height:
        raise ValueError(
            f"{table}: frame holds rows outside partition {date} {where or ''}".rstrip()
        )
    # A whole day of a local lake: polars writes the files, one transaction commits them.
    if (
        not where
        and since is None
        and scope is None
        and lake.is_local
        and _polars_writes_fast(frame)
    ):
        return _commit_partition(lake, table, frame, date)
    predicate = " AND ".join(
        [
            f"date = '{date.isoformat()}'",
            *(f"{c} = {_sql_literal(v)}" for c, v in where.items()),
            *([] if since is None else [f"{since[0]} >= {int(since[1])}"]),
            *([] if scope is None else [scope.predicate()]),
        ]
    )
    # Rows come in time order: bounded files each cover a span of the day, so a live tail's
    # overwrite rewrites the last files only, not the whole day.
    return _replace(lake, table, frame, predicate, DERIVED_FILE_BYTES)


#: Column types whose min/max go into a data file's statistics (data skipping on the
#: ``since`` bounds of tail writes, dates, underlyings); lists and booleans: null counts.
_RANGED = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64,
           pl.Float32, pl.Float64, pl.Date, pl.String)  # fmt: skip
_FLOATS = (pl.Float32, pl.Float64)


def _flat_columns(schema: pl.Schema) -> list[str]:
    """Return the columns of ``schema`` that are not nested (the ones with null counts)."""
    return [c for c, t in schema.items() if not isinstance(t, pl.List | pl.Struct | pl.Array)]


def _local_root(lake: Lake, table: str) -> Path:
    """Return the folder of a local table (its data files' paths are relative to it)."""
    return Path(lake.uri(table).removeprefix("file://"))


def computed_stats(frame: pl.DataFrame, columns: list[str] | None = None) -> dict[str, dict]:
    """Return the Delta statistics of ``frame`` computed from its values: ``minValues`` /
    ``maxValues`` of its ranged ``columns`` (all of them by default) and ``nullCount`` of
    its flat ones.

    A float column holding NaN or an infinity gets no range: NaN has no place in an
    ordering, a wrong range would skip a file a predicate needs, and JSON has no word for
    an infinity (a log holding ``Infinity`` cannot be opened again, so the table is lost).
    """
    schema = frame.schema
    flat = _flat_columns(schema)
    ranged = [c for c in (flat if columns is None else columns) if schema[c] in _RANGED]
    row = frame.select(
        *[pl.col(c).null_count().alias(f"n:{c}") for c in flat],
        *[pl.col(c).min().alias(f"lo:{c}") for c in ranged],
        *[pl.col(c).max().alias(f"hi:{c}") for c in ranged],
        *[_not_finite(c).alias(f"nan:{c}") for c in ranged if schema[c] in _FLOATS],
    ).row(0, named=True)
    kept = [c for c in ranged if row[f"lo:{c}"] is not None and not row.get(f"nan:{c}")]
    return {
        "minValues": {c: row[f"lo:{c}"] for c in kept},
        "maxValues": {c: row[f"hi:{c}"] for c in kept},
        "nullCount": {c: row[f"n:{c}"] for c in flat},
    }


def _not_finite(column: str) -> pl.Expr:
    """Return whether a float column holds NaN or an infinity (nulls aside)."""
    return ~pl.col(column).is_finite().all()


#: Parquet writers may cut a string statistic short (polars at 64 bytes): a cut maximum is
#: below the column's true maximum, so a string statistic this long is recomputed.
_STRING_STAT_BYTES = 60


def file_stats(frame: pl.DataFrame, path: Path) -> str:
    """Return the Delta statistics (JSON) of the data file ``path`` just written from
    ``frame``.

    ``numRecords``, ``nullCount`` for every flat column, and ``minValues`` / ``maxValues``
    for numeric, date and string columns, as :func:`computed_stats` gives them. They are
    read from the file's footer, where the writer put them (the 104 files of a 10M-print
    day of ``option_prints``: 0.3 s, against 0.9 s computing them from the rows). A column is
    computed instead where a row group of it has values but no range in the footer, or a
    string statistic may have been cut short; whether a float column holds NaN is always
    computed (the footer leaves NaN out of its range and keeps infinities in it): such a
    column gets no range, as in :func:`computed_stats`.
    """
    schema = frame.schema  # built anew at each access
    flat = _flat_columns(schema)
    ranged = [c for c in flat if schema[c] in _RANGED]
    nulls = dict.fromkeys(flat, 0)
    ranges: dict[str, list[tuple[object, object]]] = {c: [] for c in ranged}
    recompute: set[str] = set()
    meta = pq.read_metadata(path)
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for i in range(group.num_columns):
            chunk = group.column(i)
            name, st = chunk.path_in_schema, chunk.statistics
            if name not in nulls:  # a leaf of a list column: no statistics kept
                continue
            if st is None or not st.has_null_count:
                recompute.add(name)
                continue
            nulls[name] += st.null_count
            if name not in ranges:
                continue
            if st.has_min_max:
                ranges[name].append((st.min, st.max))
                if (
                    isinstance(st.max, str)
                    and max(len(st.min.encode()), len(st.max.encode())) >= _STRING_STAT_BYTES
                ):
                    recompute.add(name)
            elif st.null_count < chunk.num_values:
                recompute.add(name)
    floats = [c for c in ranged if schema[c] in _FLOATS]
    nan = frame.select(_not_finite(c) for c in floats).row(0, named=True) if floats else {}
    exact = computed_stats(frame, [c for c in ranged if c in recompute]) if recompute else {}
    low: dict[str, object] = {}
    high: dict[str, object] = {}
    for c in ranged:
        if c in recompute:
            if c in exact["minValues"]:
                low[c], high[c] = exact["minValues"][c], exact["maxValues"][c]
        elif ranges[c] and not nan.get(c):
            low[c] = min(lo for lo, _ in ranges[c])  # type: ignore[type-var]
            high[c] = max(hi for _, hi in ranges[c])  # type: ignore[type-var]
    if recompute:
        nulls.update({c: exact["nullCount"][c] for c in recompute})

    def value(v: object) -> object:
        # ``+ 0.0``: a zero minimum is written as -0.0 (the Parquet rule for float ranges).
        return v.isoformat() if isinstance(v, dt.date) else v + 0.0 if isinstance(v, float) else v

    return json.dumps(
        {
            "numRecords": frame.height,
            "minValues": {c: value(v) for c, v in low.items()},
            "maxValues": {c: value(v) for c, v in high.items()},
            "nullCount": nulls,
        },
        # A non-finite number here would be written as ``Infinity``, which is not JSON: every
        # later open of the table would fail. Ranges above leave such columns out.
        allow_nan=False,
    )


def _polars_writes_fast(frame: pl.DataFrame) -> bool:
    """Return True unless ``frame`` holds a struct column (Delta's writer keeps those).

    Measured on a 10M-print day: polars wrote ``option_prints`` in 3.7-4.5 s where Delta's
    writer took 12-24 s, and the 9.6M packets of ``flow_packets`` (one-id ``event_ids``
    lists) in 7.6 s where Delta's took 14-49 s.
    """
    return not any(isinstance(t, pl.Struct) for t in frame.schema.values())


def _stored_order(table: str, target: DeltaTable, frame: pl.DataFrame) -> pl.DataFrame:
    """Return ``frame`` with the table's columns in the table's order.

    Raises
    ------
    ValueError
        When ``frame``'s columns or types are not the table's: a Delta write refuses such
        a frame, and files written past this check would not.
    """
    stored = pl.from_arrow(pa.schema(target.schema().to_arrow()).empty_table()).schema
    if dict(stored) != dict(frame.schema):
        raise ValueError(
            f"{table}: frame schema {dict(frame.schema)} is not the table's {dict(stored)}"
        )
    return frame.select(stored.names())


def _write_files(lake: Lake, table: str, rows: pl.DataFrame, date: dt.date) -> list[AddAction]:
    """Write one ``date``'s ``rows`` (the table's columns) as data files of a local table and
    return their add actions, uncommitted.

    polars writes the files (slices of about :data:`DERIVED_FILE_BYTES` on disk, rows in
    the frame's order) with the statistics a Delta write would give them, without the cost
    of Delta's writer (on a 10M-print day ``option_prints`` took 4.5 s instead of 12-24 s).
    Until a commit adds them the files are unreferenced: a crash leaves the table as it was.
    """
    # polars holds ~2x the bytes a compressed file does.
    per_file = max(1, int(rows.height * 2 * DERIVED_FILE_BYTES / max(1, rows.estimated_size())))
    folder = f"date={date.isoformat()}"
    # A partition column lives in the path, not in the file.
    data = rows.drop("date")
    lists = [n for n, t in data.schema.items() if isinstance(t, pl.List | pl.Array)]
    root = _local_root(lake, table)
    (root / folder).mkdir(parents=True, exist_ok=True)
    actions = []
    for offset in range(0, data.height, per_file):
        # A slice of a list column keeps the whole column's values, and polars' writer goes
        # through all of them for each file (10x slower, measured on 9.6M one-id lists);
        # gathered, the slice holds only its own.
        part = data.slice(offset, per_file).with_columns(
            pl.col(lists).gather(pl.int_range(pl.len()))
        )
        # Numbered as Delta names its files: readers list them in name order, time order.
        name = f"{folder}/part-{len(actions):05d}-{uuid.uuid4()}-c000.lz4raw.parquet"
        part.write_parquet(root / name, compression="lz4", statistics=True)
        stat = (root / name).stat()
        actions.append(
            AddAction(
                path=name,
                size=stat.st_size,
                partition_values={"date": date.isoformat()},
                modification_time=stat.st_mtime_ns // 1_000_000,
                data_change=True,
                stats=file_stats(part, root / name),
            )
        )
    return actions


def _commit_files(
    lake: Lake, table: str, target: DeltaTable, actions: list[AddAction], **transaction: Any
) -> None:
    """Commit the files of :func:`_write_files` (``actions``) to ``target`` in one
    transaction (``transaction``: ``create_write_transaction``'s arguments).

    A commit that loses the race to another writer removes its files before the error
    goes on to :func:`_committed`: no version references them and the next attempt writes
    its own (until they were removed, every lost race left a batch's files on disk for
    good). Only local tables come here, where a failed commit is known not to have landed.
    """
    try:
        target.create_write_transaction(actions, **transaction)
    except CommitFailedError:
        root = _local_root(lake, table)
        for action in actions:
            (root / action.path).unlink(missing_ok=True)
        raise


def _commit_partition(lake: Lake, table: str, frame: pl.DataFrame, date: dt.date) -> WriteResult:
    """Replace the whole ``date`` partition of a local table with ``frame`` in one commit:
    the files of :func:`_write_files`, swapped in for the partition's old files by one
    Delta transaction."""

    def attempt() -> WriteResult:
        target = _ensure_table(lake, table, frame, ["date"])
        actions = _write_files(lake, table, _stored_order(table, target, frame), date)
        _commit_files(
            lake,
            table,
            target,
            actions,
            mode="overwrite",
            schema=target.schema(),
            partition_by=["date"],
            partition_filters=[("date", "=", date.isoformat())],
        )
        target.update_incremental()
        return WriteResult(table, frame.height, 0, target.version())

    return _committed(table, attempt)


def _append_unseen(
    lake: Lake, table: str, frame: pl.DataFrame, key: str, compare: bool = True
) -> tuple[int, int, pl.DataFrame]:
    """Append the rows of ``frame`` whose ``(date, key)`` a local table lacks, in one commit;
    return (rows inserted, table version, the batch's rows whose key is stored with other
    content).

    The keys already stored are read from the table's files of the batch's dates (the key
    column only) and the new rows written by :func:`_write_files`. The commit must land on
    the very version those keys were read from (no rebase, ``max_commit_retries=0``):
    after another writer's commit this batch's keys may be stored already, so the attempt
    fails and :func:`_committed` starts it again from the new version. Measured on a
    3M-print day (18M option quotes landed in 8 parts): Delta's insert-only merge took
    4.9-9.8 s a part, growing with the partition, and held 5.5 GiB at the end.
    """
    source = frame.unique(subset=["date", key], keep="first", maintain_order=True)

    def attempt() -> tuple[int, int, pl.DataFrame]:
        target = _ensure_table(lake, table, source, ["date"])
        rows = _stored_order(table, target, source)
        new: list[tuple[dt.date, pl.DataFrame]] = []
        conflicts: list[pl.DataFrame] = [rows.head(0)]
        for (day,), batch in rows.partition_by("date", as_dict=True, maintain_order=True).items():
            files = target.file_uris(file_pruning_predicate=[("date", "=", day.isoformat())])
            if files:
                scan = pl.scan_parquet(files, hive_partitioning=False, extra_columns="ignore")
                keys = batch.get_column(key).implode()
                stored = scan.select(key).filter(pl.col(key).is_in(keys)).collect()
                if stored.height:
                    seen = stored.get_column(key).implode()
                    if compare:
                        # Keys seen before (a re-delivery, or a row changed since): only
                        # their stored rows are read whole, to tell a copy from a conflict.
                        whole = scan.filter(pl.col(key).is_in(seen)).collect()
                        conflicts.append(
                            differing(whole.with_columns(pl.lit(day).alias("date")), batch, key)
                        )
                    batch = batch.filter(~pl.col(key).is_in(seen))
            if batch.height:
                new.append((day, batch))
        conflicted = pl.concat(conflicts)
        if not new:
            return 0, target.version(), conflicted
        actions = [a for day, batch in new for a in _write_files(lake, table, batch, day)]
        _commit_files(
            lake,
            table,
            target,
            actions,
            mode="append",
            schema=target.schema(),
            partition_by=["date"],
            commit_properties=CommitProperties(max_commit_retries=0),
        )
        target.update_incremental()
        return sum(batch.height for _, batch in new), target.version(), conflicted

    return _committed(table, attempt)


def _replace(
    lake: Lake, table: str, frame: pl.DataFrame, predicate: str, file_bytes: int | None = None
) -> WriteResult:
    """Replace the rows matching ``predicate`` with ``frame`` in one commit (retried when
    another writer commits first); return what was written."""
    # Delta's writer lists the files of a many-chunk frame out of order (measured: 8 chunks,
    # reads no longer in the rows' order), and readers then see the day shuffled.
    if max(frame.n_chunks("all"), default=1) > 1:
        frame = frame.rechunk()
    # Arrow string views, as polars holds them: no copy of every string column (on a 10M
    # packet day the copy was several GiB); the table's type stays Delta's ``string``.
    data = frame.to_arrow(compat_level=pl.CompatLevel.newest())
    properties = writer_properties(frame)

    def attempt() -> WriteResult:
        # Writing through the opened table updates it to the new version: one open per
        # write instead of two; a live tail pays it per asset.
        target = _ensure_table(lake, table, frame, ["date"])
        write_deltalake(
            target,
            data,
            mode="overwrite",
            partition_by=["date"],
            predicate=predicate,
            target_file_size=file_bytes,
            writer_properties=properties,
        )
        return WriteResult(table, frame.height, 0, target.version())

    return _committed(table, attempt)


def upsert(lake: Lake, table: str, frame: pl.DataFrame, key: str) -> WriteResult:
    """Insert rows, replacing those with the same ``(date, key)`` (latest wins), in one commit.

    The replaced rows are deleted by a predicate naming each date's keys and the new rows
    appended, in the same commit: a third of the cost of a merge (about 25 ms instead of
    75 ms on a small table), which a live tail pays once per asset for its check outcomes.
    """
    if frame.height == 0:
        return _nothing(lake, table)
    rows = frame.unique(subset=["date", key], keep="last", maintain_order=True)
    per_date = (
        rows.group_by("date", maintain_order=True)
        .agg(pl.col(key).unique(maintain_order=True))
        .sort("date")
    )
    predicate = " OR ".join(
        f"(date = '{day.isoformat()}' AND {key} IN ({', '.join(_sql_literal(str(k)) for k in keys)}))"
        for day, keys in per_date.iter_rows()
    )
    return _replace(lake, table, rows, predicate)
