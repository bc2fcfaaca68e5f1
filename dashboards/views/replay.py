"""Replay: pick a time of a stored day and watch it unfold; every page shows that moment."""

from __future__ import annotations

import datetime as dt

import plotly.express as px
import polars as pl
import streamlit as st

from dashboards.data import load_day
from dashboards.filters import money
from dashboards.state import open_page
from dashboards.tables import show

view = open_page("Replay")

OPEN, CLOSE = dt.time(9, 30), dt.time(16, 15)
SPEEDS = {"1x": 1, "10x": 10, "60x": 60, "300x": 300}
minutes = [
    (dt.datetime.combine(view.day, OPEN) + dt.timedelta(minutes=m)).time() for m in range(0, 406)
]

st.session_state.setdefault("replay_playing", False)
current: dt.time = st.session_state.get("replay_as_of") or OPEN
c1, c2, c3 = st.columns([4, 1, 1])
picked = c1.select_slider(
    "Time (New York)",
    options=minutes,
    value=min(
        minutes, key=lambda m: abs((m.hour * 60 + m.minute) - (current.hour * 60 + current.minute))
    ),
    format_func=lambda t: t.strftime("%H:%M"),
    key="replay_slider",
)
speed = c2.selectbox("Speed", list(SPEEDS), index=2, key="replay_speed")
playing = c3.toggle("Play", value=st.session_state["replay_playing"], key="replay_play")
st.session_state["replay_playing"] = playing
if (
    not playing and (picked.hour, picked.minute) != (current.hour, current.minute)
) or st.session_state.get("replay_as_of") is None:
    st.session_state["replay_as_of"] = picked


@st.fragment(run_every=1.0 if playing else None)
def moment() -> None:
    as_of: dt.time = st.session_state["replay_as_of"]
    if st.session_state.get("replay_playing"):
        moved = (dt.datetime.combine(view.day, as_of) + dt.timedelta(seconds=SPEEDS[speed])).time()
        as_of = min(moved, CLOSE)
        st.session_state["replay_as_of"] = as_of
    st.subheader(f"As of {as_of.isoformat('seconds')}")
    packets = load_day("flow_packets", view.day)
    alerts = load_day("alerts", view.day)
    if packets is None or alerts is None:
        st.info(f"{view.day} is not built yet: run `flowlake build --date {view.day}`.")
        return
    until = pl.col("start_ts_ny").dt.time() <= as_of
    so_far = packets.filter(
        until & ((pl.col("underlying") == view.ticker) if view.ticker else pl.lit(True))
    )
    fired = alerts.filter(
        (pl.col("ts_ny").dt.time() <= as_of)
        & ((pl.col("underlying") == view.ticker) if view.ticker else pl.lit(True))
    )
    m1, m2, m3 = st.columns(3)
    m1.metric("Packets so far", f"{so_far.height:,}")
    m2.metric("Premium so far", money(float(so_far["premium"].sum() or 0)))
    m3.metric("Alerts so far", f"{fired.height:,}")
    if so_far.height:
        cumulative = (
            so_far.sort("start_ts")
            .group_by_dynamic("start_ts_ny", every="1m")
            .agg(pl.col("premium").sum())
            .with_columns(pl.col("premium").cum_sum())
        )
        fig = px.area(cumulative, x="start_ts_ny", y="premium", height=260)
        fig.update_layout(margin={"l": 10, "r": 10, "t": 10, "b": 10})
        st.plotly_chart(fig, width="stretch")
    show(
        fired.sort("ts", descending=True).head(20).select(pl.col("ts_ny").dt.strftime("%H:%M:%S").alias("time"), "underlying", "contract", "severity", pl.col("score").round(1), pl.col("classifiers").list.join(", ")),
        "replay_alerts",
    )  # fmt: skip


moment()
st.caption(
    "While a replay time is set, every page shows the day as of that time (see the sidebar)."
)
