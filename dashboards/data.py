"""Cached reads of the lake for the dashboards, keyed by Delta table version.

A cache entry is valid exactly as long as its table version is current, so a refresh
re-reads a table only after a new commit, and only the partition on screen.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import streamlit as st

from lake import Lake
from lake.compare import config_version_of
from lake.read import dates_in, scan, table_version, with_times


def current_lake() -> Lake:
    """Return the lake the app reads (``FLOWLAKE_LAKE`` or ``data/lake``)."""
    return Lake.from_env()


# A resource cache, not a data cache: ``st.cache_data`` pickles each result to store it
# and unpickles it for every hit. The Flow page's first render on a 10M-print day spent
# 18 of its 24 s pickling the day's 9.6M packets. Frames are never changed in place
# (every page derives new ones), so one shared frame per key is safe.
@st.cache_resource(show_spinner=False, max_entries=64)
def _load(
    root: str,
    table: str,
    day: dt.date,
    version: int,
    columns: tuple[str, ...] | None,
    window: tuple[str, int, int] | None,
) -> pl.DataFrame | None:
    del version  # part of the cache key only
    frame = scan(Lake(root), table, dates=[day])
    if frame is None:
        return None
    if window is not None:
        # Pushed down to the Parquet scan: files outside the window are not read.
        col, lo, hi = window
        frame = frame.filter(pl.col(col).is_between(lo, hi))
    if columns is not None:
        frame = frame.select(columns)
    return with_times(frame).collect()


def load_day(
    table: str,
    day: dt.date,
    *,
    columns: tuple[str, ...] | None = None,
    window: tuple[str, int, int] | None = None,
) -> pl.DataFrame | None:
    """Return one day of a table (only ``columns``, only rows whose ``window[0]`` is within
    ``[window[1], window[2]]`` ns when given) with New York datetime columns; None if absent."""
    lake = current_lake()
    return _load(lake.root, table, day, table_version(lake, table), columns, window)


@st.cache_data(show_spinner=False, max_entries=64)
def _stats(
    root: str, table: str, day: dt.date, version: int, timed: bool
) -> dict[str, float | int | None]:
    del version
    frame = scan(Lake(root), table, dates=[day])
    if frame is None:
        return {"rows": 0}
    if not timed:
        return {"rows": frame.select(pl.len()).collect().item()}
    row = frame.select(
        pl.len().alias("rows"),
        pl.col("ts_event").max().alias("latest_event_ns"),
        pl.col("ts_recv").max().alias("latest_recv_ns"),
        ((pl.col("ts_recv") - pl.col("ts_event")) / 1e6).median().alias("recv_lag_ms_p50"),
    ).collect()
    return row.row(0, named=True)


def stream_stats(
    table: str, day: dt.date, time_col: str | None = "ts_event"
) -> dict[str, float | int | None]:
    """Return rows (and, for landing tables, latest event/receive time and median receive
    lag) of a table's day, reading only those columns (cached until the next commit)."""
    lake = current_lake()
    return _stats(lake.root, table, day, table_version(lake, table), time_col is not None)


@st.cache_data(show_spinner=False, ttl=5)
def _dates(root: str, table: str) -> list[dt.date]:
    return dates_in(Lake(root), table)


def available_dates(table: str = "option_trades") -> list[dt.date]:
    """Return the days present in a table, newest first."""
    return _dates(current_lake().root, table)


#: The packaged thresholds file (read as bytes: the dashboards import no asset); its hash is
#: the config version `flowlake build` writes.
DEFAULT_THRESHOLDS = Path(__file__).resolve().parent.parent / "assets" / "thresholds.toml"


def default_config_version() -> str:
    """Return the config version of the packaged thresholds (the same hash the pipeline stores)."""
    return config_version_of(DEFAULT_THRESHOLDS.read_bytes())


def pick_version(
    frame: pl.DataFrame, key: str = "signal_version"
) -> tuple[pl.DataFrame, str | None]:
    """Let the user pick one config version of a signal table; default: the packaged one.

    Returns
    -------
    tuple
        The rows of the chosen version and the version (None when the frame is empty).
    """
    versions = sorted(frame.get_column("config_version").unique().to_list())
    if not versions:
        return frame, None
    default = default_config_version()
    index = versions.index(default) if default in versions else 0
    chosen = (
        st.selectbox("Config version", versions, index=index, key=key)
        if len(versions) > 1
        else versions[0]
    )
    return frame.filter(pl.col("config_version") == chosen), chosen
