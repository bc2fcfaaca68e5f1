"""Pipeline health: latest landing per stream, lag, quarantine, table versions."""

from __future__ import annotations

import time

import polars as pl
import streamlit as st

from dashboards.data import current_lake, load_day
from dashboards.state import View
from lake.read import table_version

view: View = st.session_state["view"]
st.title("Pipeline health")

STREAMS = ("option_trades", "option_quotes", "equity_trades", "equity_quotes")
DERIVED = (
    "option_prints",
    "flow_packets",
    "structures",
    "classifier_hits",
    "alerts",
    "equity_prints",
    "equity_candles",
    "dark_inferences",
)

if view.day is None:
    st.info("The lake has no trading day yet. Run `make run` to fill it.")
    st.stop()


@st.fragment(run_every=view.refresh_seconds)
def health() -> None:
    lake = current_lake()
    rows = []
    now_ns = time.time_ns()
    for stream in STREAMS:
        frame = load_day(stream, view.day)
        if frame is None or frame.is_empty():
            rows.append(
                {
                    "stream": stream,
                    "rows": 0,
                    "latest event (NY)": None,
                    "receive lag (ms, p50)": None,
                    "age of latest (s)": None,
                    "version": table_version(lake, stream),
                }
            )
            continue
        latest = frame["ts_recv"].max()
        rows.append(
            {
                "stream": stream,
                "rows": frame.height,
                "latest event (NY)": frame["ts_event_ny"].max(),
                "receive lag (ms, p50)": float(
                    ((frame["ts_recv"] - frame["ts_event"]) / 1e6).median()
                ),
                "age of latest (s)": round((now_ns - latest) / 1e9, 1),
                "version": table_version(lake, stream),
            }
        )
    st.subheader(f"Landing for {view.day}")
    st.dataframe(pl.DataFrame(rows), hide_index=True, width="stretch", key="landing_health")
    st.subheader("Derived tables")
    st.dataframe(
        pl.DataFrame([{"table": t, "rows": (f.height if (f := load_day(t, view.day)) is not None else None), "version": table_version(lake, t)} for t in DERIVED]),
        hide_index=True, width="stretch", key="derived_health",
    )  # fmt: skip
    quarantine = load_day("quarantine", view.day)
    st.subheader("Quarantine")
    if quarantine is None or quarantine.is_empty():
        st.success("Nothing quarantined for this day.")
    else:
        st.dataframe(
            quarantine.group_by("stream", "reason").len().sort("len", descending=True),
            hide_index=True,
            width="stretch",
            key="quarantine_counts",
        )


health()
