"""XNYS calendar: sessions, holidays, half days, DST and the New York trading date."""

from __future__ import annotations

import datetime as dt

import polars as pl

from adapters.calendar import (
    is_session,
    ny_ns,
    session_bounds,
    session_windows,
    trading_date_expr,
    trading_date_within,
)
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


def test_trading_date_within_matches_the_time_zone_conversion() -> None:
    """Integer arithmetic inside one offset, the conversion across a daylight-saving change:
    both give every row the date the conversion gives, midnight and the change included."""
    import numpy as np

    def ns(*args: int) -> int:
        return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp()) * 10**9

    rng = np.random.default_rng(11)
    spans = [
        (ns(2026, 3, 19, 12), ns(2026, 3, 21, 12)),  # EDT throughout
        (ns(2026, 1, 5), ns(2026, 1, 7)),  # EST throughout
        (ns(2026, 3, 7), ns(2026, 3, 10)),  # EST -> EDT on 8 March
        (ns(2026, 10, 31), ns(2026, 11, 3)),  # EDT -> EST on 1 November
    ]
    for lo, hi in spans:
        ts = np.r_[rng.integers(lo, hi, 5000), lo, hi, ns(2026, 3, 20, 4), ns(2026, 3, 20, 4) - 1]
        frame = pl.DataFrame({"ts": ts.astype(np.int64)})
        lo_, hi_ = int(ts.min()), int(ts.max())
        fast = frame.select(trading_date_within(pl.col("ts"), lo_, hi_)).to_series()
        exact = frame.select(trading_date_expr(pl.col("ts"))).to_series()
        assert fast.to_list() == exact.to_list()
    # No bounds, or a damaged time: the conversion itself.
    frame = pl.DataFrame({"ts": [-(2**62), None]}, schema={"ts": pl.Int64})
    assert frame.select(trading_date_within(pl.col("ts"), -(2**62), -(2**62))).equals(
        frame.select(trading_date_expr(pl.col("ts")))
    )
