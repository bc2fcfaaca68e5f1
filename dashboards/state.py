"""View state shared by every page: date, ticker filter, time window, live refresh.

The state lives in ``st.session_state`` and is mirrored to the URL query string, so a
view can be shared as a link and survives switching pages.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import streamlit as st

from dashboards.data import available_dates

KEYS = ("date", "ticker", "start", "end")


@dataclass(frozen=True)
class View:
    """What the user is looking at."""

    day: dt.date | None
    ticker: str
    start: dt.time
    end: dt.time
    refresh_seconds: float | None
    #: Set while replaying: every page shows the state as of this New York time.
    as_of: dt.time | None = None


def _from_query() -> None:
    params = st.query_params
    for key in KEYS:
        if key in params and f"view_{key}" not in st.session_state:
            st.session_state[f"view_{key}"] = params[key]


def sidebar() -> View:
    """Draw the shared controls in the sidebar and return the current view."""
    _from_query()
    dates = available_dates()
    with st.sidebar:
        st.markdown("### View")
        if dates:
            wanted = st.session_state.get("view_date")
            index = next((i for i, d in enumerate(dates) if d.isoformat() == wanted), 0)
            day = st.selectbox(
                "Trading date",
                dates,
                index=index,
                format_func=lambda d: d.isoformat(),
                key="w_date",
            )
        else:
            day = None
            st.caption("No trading day in the lake yet.")
        ticker = st.text_input(
            "Ticker",
            value=st.session_state.get("view_ticker", ""),
            key="w_ticker",
            placeholder="e.g. SPY (empty: all)",
        )
        start = st.time_input(
            "From (New York)",
            value=_time(st.session_state.get("view_start"), dt.time(9, 30)),
            key="w_start",
            step=300,
        )
        end = st.time_input(
            "To (New York)",
            value=_time(st.session_state.get("view_end"), dt.time(16, 15)),
            key="w_end",
            step=300,
        )
        live = st.toggle("Live refresh", value=True, key="w_live")
        every = st.number_input(
            "Every (s)",
            min_value=1.0,
            max_value=60.0,
            value=2.0,
            step=1.0,
            key="w_every",
            disabled=not live,
        )
        as_of: dt.time | None = st.session_state.get("replay_as_of")
        if as_of is not None:
            st.info(f"Replay: state as of {as_of.isoformat('seconds')} New York")
            if st.button("Stop replay", key="w_stop_replay"):
                st.session_state["replay_as_of"] = None
                st.session_state["replay_playing"] = False
                as_of = None
    ticker = ticker.strip().upper()
    st.session_state.update(
        view_date=day.isoformat() if day else None,
        view_ticker=ticker,
        view_start=start.isoformat("minutes"),
        view_end=end.isoformat("minutes"),
    )
    st.query_params.update(
        {
            k: v
            for k, v in (
                ("date", day.isoformat() if day else ""),
                ("ticker", ticker),
                ("start", start.isoformat("minutes")),
                ("end", end.isoformat("minutes")),
            )
            if v
        }
    )
    if as_of is not None:
        end = min(end, as_of)
    return View(
        day=day,
        ticker=ticker,
        start=start,
        end=end,
        refresh_seconds=float(every) if live else None,
        as_of=as_of,
    )


def _time(text: str | None, default: dt.time) -> dt.time:
    try:
        return dt.time.fromisoformat(text) if text else default
    except ValueError:
        return default


def open_page(title: str) -> View:
    """Return the view for the page titled ``title``; on an empty lake, say how to fill it
    and stop the page there."""
    view: View = st.session_state["view"]
    st.title(title)
    if view.day is None:
        st.info(
            "The lake has no trading day yet. Run `make run` (or `flowlake synth` then "
            "`flowlake build`) to fill it."
        )
        st.stop()
    return view
