"""Row filters every page applies the same way (ticker, New York time window)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from dashboards.state import View


def in_view(frame: pl.DataFrame, view: View, symbol_col: str, time_col: str) -> pl.DataFrame:
    """Return the rows of ``frame`` for the view's ticker and time window."""
    out = frame
    if view.ticker:
        out = out.filter(pl.col(symbol_col) == view.ticker)
    t = pl.col(time_col).dt.time()
    return out.filter((t >= view.start) & (t <= view.end))


def money(x: float) -> str:
    """Return a premium as $1.2M / $350K / $900."""
    if x >= 1e6:
        return f"${x / 1e6:.1f}M"
    if x >= 1e3:
        return f"${x / 1e3:.0f}K"
    return f"${x:,.0f}"


def signed_money(x: float) -> str:
    """Return a signed premium as -$1.2M / $350K."""
    return "-" + money(-x) if x < 0 else money(x)


def ny_time(day: dt.date, clock: dt.time) -> dt.datetime:
    """Return a New York datetime (for axis ranges)."""
    from zoneinfo import ZoneInfo

    return dt.datetime.combine(day, clock, tzinfo=ZoneInfo("America/New_York"))


def ns(moment: dt.datetime) -> int:
    """Return a timezone-aware datetime as int64 ns since the epoch (the lake's time unit)."""
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def ny_clock(ts_ns: int) -> str:
    """Return an int64 ns time as New York HH:MM:SS."""
    from zoneinfo import ZoneInfo

    return dt.datetime.fromtimestamp(ts_ns / 1e9, ZoneInfo("America/New_York")).strftime("%H:%M:%S")
