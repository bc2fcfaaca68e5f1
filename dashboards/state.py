"""View state shared by every page: date, ticker filter, time window, live refresh.

The state lives in ``st.session_state`` and is mirrored to the URL query string, so a
view can be shared as a link and survives switching pages.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from dashboards.data import available_dates, current_lake
from dashboards.pages import PAGE_FILES
from dashboards.params import forget
from dashboards.view import View
from lake.saved_views import SavedView, ViewError, delete_view, load_views, save_view, views_path

KEYS = ("date", "ticker", "start", "end")


def _from_query() -> None:
    params = st.query_params
    for key in KEYS:
        if key in params and f"view_{key}" not in st.session_state:
            st.session_state[f"view_{key}"] = params[key]


def sidebar(page: str) -> View:
    """Draw the shared controls in the sidebar and return the current view.

    ``page`` is the URL path of the page on screen ("" for the default page, Flow): what a
    saved view re-opens.
    """
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
        saved_views(page)
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


#: Session keys set from the URL once per session: forgotten when a saved view is opened,
#: so that its query string sets them again.
_VIEW_KEYS = ("view_date", "view_ticker", "view_start", "view_end", "w_ticker", "w_start", "w_end")


def _open_view(view: SavedView) -> None:
    forget()
    for key in _VIEW_KEYS:
        st.session_state.pop(key, None)
    query = dict(view.query)
    if st.session_state.get("view_date"):
        query.setdefault("date", st.session_state["view_date"])
    st.switch_page(PAGE_FILES.get(view.page or "flow", PAGE_FILES["flow"]), query_params=query)


def saved_views(page: str) -> None:
    """The sidebar's saved views: save the filters on screen under a name, open or delete one,
    copy its link. A view keeps every filter but the date, so it opens on the day selected."""
    path = views_path(current_lake())
    views = load_views(path)
    st.markdown("### Saved views")
    with st.form("save_view_form", clear_on_submit=True, border=False):
        name = st.text_input("Name", key="w_view_name", placeholder="e.g. golden 0DTE calls")
        if st.form_submit_button("Save this view", icon=":material/bookmark_add:"):
            query = {k: v for k, v in st.query_params.to_dict().items() if k != "date"}
            try:
                save_view(path, SavedView(name, page, query))
                st.toast(f"Saved view '{name.strip()}'")
                views = load_views(path)
            except (ViewError, OSError) as exc:
                st.error(str(exc))
    if not views:
        st.caption("No saved view yet.")
        return
    chosen = st.selectbox("View", list(views), key="w_saved_view")
    if chosen is None:
        return
    view = views[chosen]
    c1, c2 = st.columns(2)
    if c1.button("Open", key="w_open_view", icon=":material/open_in_browser:"):
        _open_view(view)
    if c2.button("Delete", key="w_delete_view", icon=":material/delete:"):
        delete_view(path, chosen)
        st.rerun()
    st.code(view.link(_app_base()), language=None, wrap_lines=True)


def _app_base() -> str:
    """Return the app's address as the browser sees it (for links to copy)."""
    url = st.context.url or ""
    scheme, _, rest = url.partition("://")
    if not rest:
        return ""
    base_path = (st.get_option("server.baseUrlPath") or "").strip("/")
    return f"{scheme}://{rest.split('/', 1)[0]}" + (f"/{base_path}" if base_path else "")


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
