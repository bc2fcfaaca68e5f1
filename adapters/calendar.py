"""XNYS trading calendar: sessions, half days, and the trading date of a timestamp.

Everything that needs "which trading day is this" or "when does the session open"
asks this module, so partitions, the validator and the generators agree.
"""

from __future__ import annotations

import datetime as dt
import time
from functools import lru_cache
from zoneinfo import ZoneInfo

import polars as pl
from exchange_calendars import ExchangeCalendar

NY = ZoneInfo("America/New_York")
NY_TZ = "America/New_York"
#: Options on index ETFs trade until 16:15; prints may be reported up to then.
OPTION_CLOSE_GRACE = dt.timedelta(minutes=15)
#: Equity extended hours (pre-market 04:00, after-hours until 20:00, Form T prints).
EQUITY_EXTENDED_OPEN = dt.time(4, 0)
EQUITY_EXTENDED_CLOSE = dt.time(20, 0)


#: The first day flowlake lands, builds and backfills (OPRA.PILLAR history starts
#: 2023-03-28; equity history is older).
FIRST_SUPPORTED = dt.date(2010, 1, 1)


@lru_cache(maxsize=1)
def _calendar() -> ExchangeCalendar:
    import exchange_calendars as xcals

    # From 2010 whatever today is (the library's default window starts 20 years back).
    return xcals.get_calendar("XNYS", start=FIRST_SUPPORTED.isoformat())  # type: ignore[no-any-return]


def first_session() -> dt.date:
    """Return the first XNYS session the calendar knows."""
    return _calendar().first_session.date()


def last_session() -> dt.date:
    """Return the last XNYS session the calendar knows (about a year ahead)."""
    return _calendar().last_session.date()


def is_session(day: dt.date) -> bool:
    """Return True when ``day`` is an XNYS trading day."""
    cal = _calendar()
    if not (cal.first_session.date() <= day <= cal.last_session.date()):
        return False
    return bool(cal.is_session(day.isoformat()))


def sessions_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """Return the XNYS sessions in ``[start, end]``, in order."""
    return [ts.date() for ts in _calendar().sessions_in_range(start.isoformat(), end.isoformat())]


def holidays_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """Return the weekdays in ``[start, end]`` on which XNYS is closed."""
    sessions = set(sessions_between(start, end))
    days = (start + dt.timedelta(n) for n in range((end - start).days + 1))
    return [d for d in days if d.weekday() < 5 and d not in sessions]


def next_session(day: dt.date) -> dt.date | None:
    """Return the first session after ``day``, or None past the calendar's end."""
    later = sessions_between(day + dt.timedelta(days=1), day + dt.timedelta(days=10))
    return later[0] if later else None


def previous_session(day: dt.date) -> dt.date:
    """Return the last session before ``day``."""
    return latest_session(day - dt.timedelta(days=1))


def latest_session(on_or_before: dt.date) -> dt.date:
    """Return the most recent session on or before ``on_or_before``."""
    day = min(on_or_before, last_session())
    while not is_session(day):
        day -= dt.timedelta(days=1)
    return day


def session_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Return the regular session's (open, close) as UTC datetimes; half days close early.

    Raises
    ------
    ValueError
        When ``day`` is not an XNYS session.
    """
    if not is_session(day):
        raise ValueError(f"{day} is not an XNYS trading session")
    cal = _calendar()
    return (
        cal.session_open(day.isoformat()).to_pydatetime(),
        cal.session_close(day.isoformat()).to_pydatetime(),
    )


def to_ns(moment: dt.datetime) -> int:
    """Return ``moment`` (timezone-aware) as int64 ns since the epoch."""
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def ny_ns(day: dt.date, clock: dt.time) -> int:
    """Return the ns timestamp of wall-clock ``clock`` in New York on ``day`` (DST-aware)."""
    return to_ns(dt.datetime.combine(day, clock, tzinfo=NY))


def trading_date_expr(ts_ns: pl.Expr) -> pl.Expr:
    """Return an expression giving the America/New_York calendar date of ns timestamps."""
    return (
        pl.from_epoch(ts_ns, time_unit="ns")
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone(NY_TZ)
        .dt.date()
    )


#: Nanoseconds in a day, and the longest span :func:`trading_date_within` does arithmetic
#: on: New York changes its offset at most twice a year, months apart.
_DAY_NS = 86_400 * 10**9
_ONE_OFFSET_SPAN_NS = 7 * _DAY_NS
#: 2200-01-01 in ns: beyond it the arithmetic is not used.
_LAST_NS = int(dt.datetime(2200, 1, 1, tzinfo=dt.UTC).timestamp()) * 10**9


def trading_date_within(ts_ns: pl.Expr, lo_ns: int | None, hi_ns: int | None) -> pl.Expr:
    """Return :func:`trading_date_expr` for timestamps known to lie in ``[lo_ns, hi_ns]``.

    When New York keeps one UTC offset over the whole span (any span of a week or less
    without a daylight-saving change: a day's batch), the date is the offset time divided
    into days, integer arithmetic instead of a time-zone conversion per row; otherwise, and
    without bounds, the conversion.

    Examples
    --------
    >>> import datetime as dt
    >>> at = [int(dt.datetime(2026, 3, 20, 3, 59, tzinfo=dt.UTC).timestamp() * 1e9)]
    >>> pl.select(trading_date_within(pl.lit(at[0]), at[0], at[0])).item()
    datetime.date(2026, 3, 19)
    """
    if (
        lo_ns is None
        or hi_ns is None
        or hi_ns - lo_ns > _ONE_OFFSET_SPAN_NS
        # Times far outside any session (a damaged row) take the conversion: the shift
        # must not wrap an int64.
        or not 0 <= lo_ns <= hi_ns < _LAST_NS
    ):
        return trading_date_expr(ts_ns)
    offsets = {
        dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC).astimezone(NY).utcoffset()
        for ns in (lo_ns, hi_ns)
    }
    if len(offsets) != 1:
        return trading_date_expr(ts_ns)
    (offset,) = offsets
    assert offset is not None  # a ZoneInfo time always has one
    shift = int(offset.total_seconds()) * 10**9
    return pl.from_epoch((ts_ns + shift) // _DAY_NS, time_unit="d")


def row_date(columns: list[str]) -> pl.Expr | None:
    """Return the trading date of a raw row as landing sees it: the New York date of
    ``ts_event``, else its ``date`` (open interest); None for rows with neither. A value
    that does not parse gives null."""
    if "ts_event" in columns:
        return trading_date_expr(pl.col("ts_event").cast(pl.Int64, strict=False))
    if "date" in columns:
        return pl.col("date").cast(pl.Date, strict=False)
    return None


def sessions_meeting(start_ns: int, end_ns: int, stream_kind: str) -> list[dt.date]:
    """Return the sessions whose accepted window (:func:`session_windows`) meets the time
    range ``[start_ns, end_ns)``: the trading days a file covering that range can hold.

    Examples
    --------
    >>> day = dt.date(2023, 3, 28)
    >>> sessions_meeting(ny_ns(day, dt.time(0)), ny_ns(day, dt.time(23)), "option")
    [datetime.date(2023, 3, 28)]
    """
    first = dt.datetime.fromtimestamp(start_ns / 1e9, NY).date() - dt.timedelta(days=1)
    last = dt.datetime.fromtimestamp(end_ns / 1e9, NY).date() + dt.timedelta(days=1)
    windows = session_windows(
        [first + dt.timedelta(n) for n in range((last - first).days + 1)], stream_kind
    )
    return (
        windows.filter((pl.col("lo_ns") < end_ns) & (pl.col("hi_ns") > start_ns))
        .get_column("date")
        .to_list()
    )


def wall_ns() -> int:
    """Return the wall clock (ns since the epoch): what real-time sources stamp arrivals
    with and end their recordings by (one place, so a test can run a session's clock)."""
    return time.time_ns()


def recording_end(day: dt.date) -> int:
    """Return when a live recording of ``day`` ends (ns since the epoch): the close plus
    the options' grace, when the last option print may come.

    Raises
    ------
    ValueError
        When ``day`` is not an XNYS session.
    """
    return to_ns(session_bounds(day)[1] + OPTION_CLOSE_GRACE)


def session_windows(days: list[dt.date], stream_kind: str) -> pl.DataFrame:
    """Return the accepted ``[lo_ns, hi_ns]`` window per session day for a stream kind.

    Options are accepted from the open to the close plus a 15-minute grace (index ETF
    options trade to 16:15); equities from 04:00 to 20:00 New York time (extended hours
    and Form T prints are real prints; the condition policy decides what they count for).
    Days that are not sessions are absent, so a join leaves them null.
    """
    rows: list[tuple[dt.date, int, int]] = []
    for day in sorted(set(days)):
        if not is_session(day):
            continue
        open_, close = session_bounds(day)
        if stream_kind == "option":
            rows.append((day, to_ns(open_), to_ns(close + OPTION_CLOSE_GRACE)))
        else:
            rows.append((day, ny_ns(day, EQUITY_EXTENDED_OPEN), ny_ns(day, EQUITY_EXTENDED_CLOSE)))
    return pl.DataFrame(
        rows, schema={"date": pl.Date, "lo_ns": pl.Int64, "hi_ns": pl.Int64}, orient="row"
    )
