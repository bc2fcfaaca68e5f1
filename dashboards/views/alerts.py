"""Alerts: alerts and classifier hits, a severity strip over the day, the evidence drawer."""

from __future__ import annotations

import plotly.express as px
import polars as pl
import streamlit as st

from dashboards.data import load_day
from dashboards.filters import in_view
from dashboards.state import View

view: View = st.session_state["view"]
st.title("Alerts")

if view.day is None:
    st.info("The lake has no trading day yet. Run `make run` to fill it.")
    st.stop()


@st.fragment(run_every=view.refresh_seconds)
def panel() -> None:
    alerts = load_day("alerts", view.day)
    hits = load_day("classifier_hits", view.day)
    if alerts is None or hits is None:
        st.info(f"No alerts table for {view.day}: run `flowlake build --date {view.day}`.")
        return
    alerts = in_view(alerts, view, "underlying", "ts_ny")
    if alerts.is_empty():
        st.info("No alerts in this view. Widen the time window or clear the ticker filter.")
    else:
        strip = px.scatter(alerts, x="ts_ny", y="severity", color="severity", size="score", hover_name="contract", height=200,
                           category_orders={"severity": ["high", "medium", "low"]},
                           color_discrete_map={"high": "#d62728", "medium": "#ff7f0e", "low": "#7f7f7f"})  # fmt: skip
        strip.update_layout(margin={"l": 10, "r": 10, "t": 10, "b": 10}, showlegend=False)
        st.plotly_chart(strip, width="stretch")
        st.dataframe(
            alerts.sort("score", descending=True).select(
                pl.col("ts_ny").dt.strftime("%H:%M:%S").alias("time"), "underlying", "contract", "severity", "score", "alert_id"
            ),
            hide_index=True, width="stretch", key="alerts_table",
        )  # fmt: skip
    with st.expander("Classifier hits", expanded=False):
        st.dataframe(
            in_view(hits, view, "underlying", "ts_ny").drop("date"),
            hide_index=True,
            width="stretch",
            key="hits_table",
        )


panel()
