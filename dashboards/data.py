"""Cached reads of the lake for the dashboards, keyed by Delta table version.

A cache entry is valid exactly as long as its table version is current, so a refresh
re-reads a table only after a new commit, and only the partition on screen.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from lake import Lake
from lake.read import dates_in, scan, table_version, with_times


def current_lake() -> Lake:
    """Return the lake the app reads (``FLOWLAKE_LAKE`` or ``data/lake``)."""
    return Lake.from_env()


@st.cache_data(show_spinner=False, max_entries=64)
def _load(root: str, table: str, day: dt.date, version: int) -> pl.DataFrame | None:
    del version  # part of the cache key only
    frame = scan(Lake(root), table, dates=[day])
    return None if frame is None else with_times(frame).collect()


def load_day(table: str, day: dt.date) -> pl.DataFrame | None:
    """Return one day of a table with New York datetime columns, or None if the table is absent."""
    lake = current_lake()
    return _load(lake.root, table, day, table_version(lake, table))


@st.cache_data(show_spinner=False, ttl=5)
def _dates(root: str, table: str) -> list[dt.date]:
    return dates_in(Lake(root), table)


def available_dates(table: str = "option_trades") -> list[dt.date]:
    """Return the days present in a table, newest first."""
    return _dates(current_lake().root, table)
