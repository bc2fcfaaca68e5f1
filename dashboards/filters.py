"""Row filters every page applies the same way (ticker, New York time window)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from dashboards.view import View


def in_view(frame: pl.DataFrame, view: View, symbol_col: str, time_col: str) -> pl.DataFrame:
    """Return the rows of ``frame`` for the view's ticker and time window.

    ``time_col`` is a New York datetime column (``start_ts_ny``); the window is compared on
    its int64 ns column (``start_ts``) when the frame has it, which is the same test
    without converting every row's time zone.
    """
    out = frame
    if view.ticker:
        out = out.filter(pl.col(symbol_col) == view.ticker)
    raw = time_col.removesuffix("_ny")
    if raw != time_col and raw in frame.columns and view.day is not None:
        lo, hi = ns(ny_time(view.day, view.start)), ns(ny_time(view.day, view.end))
        return out.filter(pl.col(raw).is_between(lo, hi))
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
