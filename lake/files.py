"""The Delta file writer under the lake's writes: Parquet files written by polars, their
Delta statistics, and the one transaction that commits them.

polars writes a day's files faster than Delta's own writer, so for local tables
:mod:`lake.write` hands its rows here; the statistics (min, max, null counts per column)
are computed from the rows themselves, because Delta's data skipping trusts them.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import ColumnProperties, DeltaTable, WriterProperties
from deltalake.exceptions import CommitFailedError
from deltalake.transaction import AddAction

from lake.location import Lake

#: Target size of a derived table's data files.
DERIVED_FILE_BYTES = 8 * 1024 * 1024

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


#: Column types whose min/max go into a data file's statistics (data skipping on the
#: ``since`` bounds of tail writes, dates, underlyings); lists and booleans: null counts.
_RANGED = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64,
           pl.Float32, pl.Float64, pl.Date, pl.String)  # fmt: skip
_FLOATS = (pl.Float32, pl.Float64)


def _flat_columns(schema: pl.Schema) -> list[str]:
    """Return the columns of ``schema`` that are not nested (the ones with null counts)."""
    return [c for c, t in schema.items() if not isinstance(t, pl.List | pl.Struct | pl.Array)]


def local_root(lake: Lake, table: str) -> Path:
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
    read from the file's footer, where the writer put them (cheaper than computing them
    from the rows). A column is
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


def polars_writes_fast(frame: pl.DataFrame) -> bool:
    """Return True unless ``frame`` holds a struct column (Delta's writer keeps those):
    polars writes a day's files several times faster than Delta's writer."""
    return not any(isinstance(t, pl.Struct) for t in frame.schema.values())


def stored_order(table: str, target: DeltaTable, frame: pl.DataFrame) -> pl.DataFrame:
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


#: Rows whose size stands for a frame's when :func:`write_files` splits it into files.
_SIZE_SAMPLE = 20_000


def write_files(
    lake: Lake,
    table: str,
    rows: pl.DataFrame,
    date: dt.date,
    first: int = 0,
    most: int | None = None,
) -> list[AddAction]:
    """Write one ``date``'s ``rows`` (the table's columns) as data files of a local table and
    return their add actions, uncommitted. Files are numbered from ``first``: one commit of
    many writes numbers them on, so that name order stays the order the rows were written.
    ``most`` caps the number of files (rows rewritten in place of earlier files take no
    more numbers than those had).

    polars writes the files (slices of about :data:`DERIVED_FILE_BYTES` on disk, rows in
    the frame's order) with the statistics a Delta write would give them, without the cost
    of Delta's writer.
    Until a commit adds them the files are unreferenced: a crash leaves the table as it was.
    """
    # polars holds ~2x the bytes a compressed file does. The bytes per row come from the
    # first rows: sizing a whole frame goes through each of its chunks, and a part's first
    # rows are as wide as the rest.
    sample = rows.head(_SIZE_SAMPLE)
    row_bytes = sample.estimated_size() / max(1, sample.height)
    per_file = max(1, int(2 * DERIVED_FILE_BYTES / max(1e-9, row_bytes)))
    if most is not None:
        per_file = max(per_file, -(-rows.height // max(1, most)))
    folder = f"date={date.isoformat()}"
    # A partition column lives in the path, not in the file.
    data = rows.drop("date")
    lists = [n for n, t in data.schema.items() if isinstance(t, pl.List | pl.Array)]
    root = local_root(lake, table)
    (root / folder).mkdir(parents=True, exist_ok=True)
    actions = []
    for offset in range(0, data.height, per_file):
        # A slice of a list column keeps the whole column's values, and polars' writer goes
        # through all of them for each file; gathered, the slice holds only its own.
        part = data.slice(offset, per_file).with_columns(
            pl.col(lists).gather(pl.int_range(pl.len()))
        )
        # Numbered as Delta names its files: readers list them in name order, time order.
        name = f"{folder}/part-{first + len(actions):05d}-{uuid.uuid4()}-c000.lz4raw.parquet"
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


def commit_files(
    lake: Lake, table: str, target: DeltaTable, actions: list[AddAction], **transaction: Any
) -> None:
    """Commit the files of :func:`write_files` (``actions``) to ``target`` in one
    transaction (``transaction``: ``create_write_transaction``'s arguments).

    A commit that loses the race to another writer removes its files before the error
    goes on to :func:`_committed`: no version references them and the next attempt writes
    its own (until they were removed, every lost race left a batch's files on disk for
    good). Only local tables come here, where a failed commit is known not to have landed.
    """
    try:
        target.create_write_transaction(actions, **transaction)
    except CommitFailedError:
        root = local_root(lake, table)
        for action in actions:
            (root / action.path).unlink(missing_ok=True)
        raise
