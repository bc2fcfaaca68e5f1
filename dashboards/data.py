"""Cached reads of the lake for the dashboards, keyed by Delta table version.

A cache entry is valid exactly as long as its table version is current, so a refresh
re-reads a table only after a new commit, and only the partition on screen.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import NamedTuple

import polars as pl
import streamlit as st

from dashboards.filters import ns, ny_time
from dashboards.flowview import POSITIONING, bar_ends, enrich
from lake import Lake
from lake.compare import config_version_of
from lake.read import dates_in, day_landing_stats, day_rows, scan, table_version, with_times


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
    only: tuple[str, object] | None = None,
) -> pl.DataFrame | None:
    del version  # part of the cache key only
    frame = scan(Lake(root), table, dates=[day])
    if frame is None:
        return None
    if only is not None:
        frame = frame.filter(pl.col(only[0]) == only[1])
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
    only: tuple[str, object] | None = None,
) -> pl.DataFrame | None:
    """Return one day of a table (only ``columns``, only rows whose ``window[0]`` is within
    ``[window[1], window[2]]`` ns, only rows whose column ``only[0]`` equals ``only[1]``,
    when given) with New York datetime columns; None if absent."""
    lake = current_lake()
    return _load(lake.root, table, day, table_version(lake, table), columns, window, only)


def versions(*tables: str) -> tuple[int, ...]:
    """Return the current Delta version of each table (a cache key for frames built from
    several tables)."""
    lake = current_lake()
    return tuple(table_version(lake, table) for table in tables)


@st.cache_data(show_spinner=False, max_entries=64)
def _stats(
    root: str, table: str, day: dt.date, version: int, timed: bool
) -> dict[str, float | int | None]:
    del version
    if not timed:
        return {"rows": day_rows(Lake(root), table, day)}
    return day_landing_stats(Lake(root), table, day)


def stream_stats(
    table: str, day: dt.date, time_col: str | None = "ts_event"
) -> dict[str, float | int | None]:
    """Return rows (and, for landing tables, the latest event and receive times and the
    median receive lag of the last minute received) of a table's day, from the Delta log's
    file statistics where it can (cached until the next commit)."""
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


#: The FlowPacket columns the Flow and Ticker tapes show or filter by.
PACKET_COLUMNS = ("packet_id", "date", "start_ts", "underlying", "contract", "expiry", "strike", "right", "kind",
                  "side", "n_prints", "n_exchanges", "size", "premium", "vwap", "nbbo_coverage", "buy_ratio",
                  "iso_count", "n_aa", "n_a", "n_mid", "n_b", "n_bb")  # fmt: skip
FLOW_TABLES = ("flow_packets", "packet_positioning", "equity_candles", "contract_volume")


class FlowDay(NamedTuple):
    """A day's FlowPackets with the filters' columns, and the 1-second bar ends their spots
    come from (looked up for the rows a view keeps: :func:`dashboards.flowview.select`)."""

    packets: pl.DataFrame
    ends: pl.DataFrame | None


@st.cache_resource(show_spinner=False, max_entries=8)
def _flow(root: str, day: dt.date, versions: tuple[int, ...]) -> FlowDay | None:
    del versions  # the cache key only
    lake = Lake(root)
    packets = scan(lake, "flow_packets", dates=[day])
    if packets is None:
        return None
    positioning = scan(lake, "packet_positioning", dates=[day])
    candles = scan(lake, "equity_candles", dates=[day])
    volume = scan(lake, "contract_volume", dates=[day])
    # The four reads run at once (one collect_all): a first render after a commit waits for
    # the slowest, not the sum.
    frames = pl.collect_all(
        [
            with_times(packets.select(PACKET_COLUMNS)),
            *([positioning.select("packet_id", *POSITIONING)] if positioning is not None else []),
            *([candles.filter(pl.col("interval") == "1s").select("symbol", "ts", "close")] if candles is not None else []),
            *([volume.filter(pl.col("unusual")).select("contract")] if volume is not None else []),
        ]
    )  # fmt: skip
    rest = iter(frames[1:])
    chosen = next(rest) if positioning is not None else None
    seconds = next(rest) if candles is not None else None
    unusual = next(rest).get_column("contract") if volume is not None else None
    return FlowDay(
        enrich(frames[0], chosen, unusual), None if seconds is None else bar_ends(seconds)
    )


def flow_day(day: dt.date) -> FlowDay | None:
    """Return the day's FlowPackets with the Flow filters' columns (:func:`enrich`), one
    shared frame until one of the tables it is built from gets a new commit."""
    return _flow(current_lake().root, day, versions(*FLOW_TABLES))


def tape_end(table: str, day: dt.date, until: dt.time) -> int:
    """Return where a tape's window ends, in ns: the view's end ``until`` (New York), or the
    table's latest print when that is earlier (a live day, or a day that stopped early), so
    that "the last N minutes" always holds prints."""
    end = ns(ny_time(day, until))
    latest = stream_stats(table, day).get("latest_event_ns")
    return end if latest is None else min(end, int(latest))
