"""XNYS calendar: sessions, holidays, half days, DST and the New York trading date."""

from __future__ import annotations

import datetime as dt

import polars as pl

from adapters.calendar import is_session, ny_ns, session_bounds, session_windows, trading_date_expr
from assets.partitions import trading_days


def test_holidays_and_weekends_are_not_sessions() -> None:
    assert not is_session(dt.date(2026, 11, 26))  # Thanksgiving
    assert not is_session(dt.date(2026, 11, 28))  # Saturday
    assert is_session(dt.date(2026, 11, 27))


def test_half_day_closes_at_13_new_york() -> None:
    open_, close = session_bounds(dt.date(2026, 11, 27))
    assert close - open_ == dt.timedelta(hours=3, minutes=30)


def test_dst_changes_utc_open_not_new_york_open() -> None:
    summer, _ = session_bounds(dt.date(2026, 3, 9))  # Monday after the March DST change
    winter, _ = session_bounds(dt.date(2026, 3, 6))
    assert (summer.hour, winter.hour) == (13, 14)  # 09:30 New York is 13:30 / 14:30 UTC


def test_trading_date_is_new_york_date_not_utc() -> None:
    late = ny_ns(dt.date(2026, 11, 24), dt.time(19, 30))  # 00:30 UTC on the 25th
    out = pl.select(trading_date_expr(pl.lit(late, pl.Int64))).item()
    assert out == dt.date(2026, 11, 24)


def test_option_window_includes_grace_equity_window_extended_hours() -> None:
    day = dt.date(2026, 11, 27)
    opt = session_windows([day], "option").row(0, named=True)
    eq = session_windows([day], "equity").row(0, named=True)
    assert opt["hi_ns"] == ny_ns(day, dt.time(13, 15))
    assert (eq["lo_ns"], eq["hi_ns"]) == (ny_ns(day, dt.time(4)), ny_ns(day, dt.time(20)))
    assert session_windows([dt.date(2026, 11, 26)], "option").height == 0


def test_partitions_are_xnys_sessions() -> None:
    keys = set(trading_days.get_partition_keys())
    assert "2025-07-04" not in keys and "2025-12-25" not in keys and "2025-07-05" not in keys
    assert "2025-07-03" in keys and "2025-11-28" in keys
