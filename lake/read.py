"""The read API: what dashboards, the CLI and users read the lake through.

Readers open one Delta version and see it whole. SQL goes through DuckDB with bound
parameters only; user input (a ticker filter, say) is never formatted into SQL text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from lake.location import Lake

#: Columns holding int64 ns timestamps, shown as New York datetimes by :func:`with_times`.
TIME_COLUMNS = ("ts_event", "ts_recv", "ts", "start_ts", "end_ts")


def open_table(lake: Lake, table: str, version: int | None = None) -> DeltaTable | None:
    """Return the Delta table (at ``version`` if given), or None when it does not exist."""
    try:
        return DeltaTable(
            lake.uri(table), version=version, storage_options=lake.storage_options or None
        )
    except TableNotFoundError:
        return None


def table_version(lake: Lake, table: str) -> int:
    """Return the current version of a table, or -1 when it does not exist.

    Dashboards key their caches on this, so a new commit invalidates them and nothing else.
    """
    dtable = open_table(lake, table)
    return -1 if dtable is None else dtable.version()


def scan(
    lake: Lake,
    table: str,
    *,
    dates: Sequence[dt.date] | None = None,
    version: int | None = None,
) -> pl.LazyFrame | None:
    """Return a lazy scan of one table pinned to one version, or None if it does not exist.

    ``dates`` prunes partitions before any file is read.
    """
    dtable = open_table(lake, table, version)
    if dtable is None:
        return None
    frame = pl.scan_delta(dtable)
    if dates is not None:
        frame = frame.filter(pl.col("date").is_in(list(dates)))
    return frame


def read(lake: Lake, table: str, *, dates: Sequence[dt.date] | None = None) -> pl.DataFrame | None:
    """Return one table (or its ``dates`` partitions) collected, or None if it does not exist."""
    frame = scan(lake, table, dates=dates)
    return None if frame is None else frame.collect()


def dates_in(lake: Lake, table: str) -> list[dt.date]:
    """Return the partition dates present in a table, newest first."""
    frame = scan(lake, table)
    if frame is None:
        return []
    dates = frame.select(pl.col("date").unique()).collect().get_column("date").to_list()
    return sorted(dates, reverse=True)


def with_times(frame: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame | pl.DataFrame:
    """Return ``frame`` with a ``<col>_ny`` datetime (America/New_York) per ns time column."""
    names = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
    return frame.with_columns(
        pl.from_epoch(pl.col(c), time_unit="ns")
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone("America/New_York")
        .alias(f"{c}_ny")
        for c in TIME_COLUMNS
        if c in names
    )


def sql(
    lake: Lake, query: str, params: Sequence[Any] | dict[str, Any] = (), tables: Iterable[str] = ()
) -> pl.DataFrame:
    """Run read-only SQL over lake tables in DuckDB and return the result.

    Each name in ``tables`` is registered as a view of that Delta table's current
    version. Values go in ``params`` (``?`` or ``$name`` placeholders), never into
    ``query`` text.

    Raises
    ------
    LookupError
        When a named table does not exist.
    """
    con = duckdb.connect(":memory:")
    try:
        for name in tables:
            dtable = open_table(lake, name)
            if dtable is None:
                raise LookupError(f"table {name!r} does not exist in lake {lake.root}")
            con.register(name, dtable.to_pyarrow_dataset())
        return pl.from_arrow(con.sql(query, params=params).to_arrow_table())
    finally:
        con.close()


def _day_files(dtable: DeltaTable, day: dt.date, stats: list[str]) -> pl.DataFrame | None:
    """Return the Delta log's entries of ``day``'s data files, or None when a file lacks one
    of the statistics ``stats`` (its caller then reads the rows instead)."""
    # deltalake hands back an Arrow PyCapsule table: pyarrow reads it without a copy.
    files = pl.DataFrame(pa.table(dtable.get_add_actions(flatten=True)))
    if any(c not in files.columns for c in ["partition.date", *stats]):
        return None
    files = files.filter(pl.col("partition.date").cast(pl.Date) == day)
    missing = files.select(pl.any_horizontal(pl.col(stats).is_null()).any()).item()
    return None if missing else files


def day_rows(lake: Lake, table: str, day: dt.date) -> int:
    """Return the rows of ``table`` on ``day`` from the Delta log's per-file record counts
    (no data read; counted from the rows when a file lacks its count)."""
    dtable = open_table(lake, table)
    if dtable is None:
        return 0
    files = _day_files(dtable, day, ["num_records"])
    if files is None:
        return int(
            pl.scan_delta(dtable).filter(pl.col("date") == day).select(pl.len()).collect().item()
        )
    return int(files["num_records"].sum())


def day_landing_stats(
    lake: Lake, table: str, day: dt.date, lag_window_s: float = 60.0
) -> dict[str, Any]:
    """Return a landing table's day at a glance: ``rows``, ``latest_event_ns``,
    ``latest_recv_ns`` and ``recv_lag_ms_p50``, the median receive lag of the rows received
    in the last ``lag_window_s`` seconds before the latest receipt (what the feed lags now).

    Rows and the latest times come from the Delta log's per-file statistics (no data is
    read); the lag reads the recent rows only (the scan skips older files by their
    statistics). A day whose files lack statistics is counted from its rows instead.
    """
    dtable = open_table(lake, table)
    if dtable is None:
        return {"rows": 0}
    files = _day_files(dtable, day, ["num_records", "max.ts_event", "max.ts_recv"])
    if files is not None and files.is_empty():
        return {"rows": 0}
    frame = pl.scan_delta(dtable).filter(pl.col("date") == day)
    if files is None:
        row = frame.select(
            pl.len().alias("rows"), pl.col("ts_event").max().alias("latest_event_ns"),
            pl.col("ts_recv").max().alias("latest_recv_ns"),
        ).collect().row(0, named=True)  # fmt: skip
    else:
        row = {
            "rows": int(files["num_records"].sum()),
            "latest_event_ns": int(files["max.ts_event"].max()),  # type: ignore[arg-type]
            "latest_recv_ns": int(files["max.ts_recv"].max()),  # type: ignore[arg-type]
        }
    if row["latest_recv_ns"] is None:
        return {**row, "recv_lag_ms_p50": None}
    since = int(row["latest_recv_ns"]) - int(lag_window_s * 1e9)
    lag = (
        frame.filter(pl.col("ts_recv") >= since)
        .select(((pl.col("ts_recv") - pl.col("ts_event")) / 1e6).median())
        .collect()
        .item()
    )
    return {**row, "recv_lag_ms_p50": lag}
