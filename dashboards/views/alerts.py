"""Alerts: alerts and classifier hits, a severity strip over the day, the evidence drawer."""

from __future__ import annotations

import plotly.express as px
import polars as pl
import streamlit as st

from dashboards.data import load_day, pick_version
from dashboards.evidence import packets_and_prints, show_evidence
from dashboards.filters import in_view
from dashboards.state import open_page
from dashboards.tables import show

view = open_page("Alerts")


@st.fragment(run_every=view.refresh_seconds)
def panel() -> None:
    alerts = load_day("alerts", view.day)
    hits = load_day("classifier_hits", view.day)
    if alerts is None or hits is None:
        st.info(f"No alerts table for {view.day}: run `flowlake build --date {view.day}`.")
        return
    alerts, version = pick_version(in_view(alerts, view, "underlying", "ts_ny"))
    hits = hits.filter(pl.col("config_version") == version) if version else hits
    if alerts.is_empty():
        st.info("No alerts in this view. Widen the time window or clear the ticker filter.")
    else:
        strip = px.scatter(alerts, x="ts_ny", y="severity", color="severity", size="score", hover_name="contract", height=200,
                           category_orders={"severity": ["high", "medium", "low"]},
                           color_discrete_map={"high": "#d62728", "medium": "#ff7f0e", "low": "#7f7f7f"})  # fmt: skip
        strip.update_layout(margin={"l": 10, "r": 10, "t": 10, "b": 10}, showlegend=False)
        st.plotly_chart(strip, width="stretch")
        st.caption("Click an alert to open its evidence below.")
        picked = show(
            alerts.sort("score", "alert_id", descending=[True, False]).select(
                pl.col("ts_ny").dt.strftime("%H:%M:%S").alias("time"),
                "direction",
                pl.col("classifiers").list.join(", ").alias("classifiers"), "underlying", "contract", "severity",
                pl.col("score").round(1), pl.col("premium").round(0), "alert_id",
            ),
            "alerts_table", pick=True,
        )  # fmt: skip
        # A click opens that alert's evidence; the select box below still chooses freely.
        if picked is not None and picked["alert_id"] != st.session_state.get("_alert_clicked"):
            st.session_state["_alert_clicked"] = picked["alert_id"]
            st.session_state["evidence_alert"] = picked["alert_id"]
        evidence(alerts, hits)
    with st.expander("Classifier hits", expanded=False):
        show(in_view(hits, view, "underlying", "ts_ny").drop("date"), "hits_table")


def evidence(alerts: pl.DataFrame, hits: pl.DataFrame) -> None:
    """The evidence drawer: an alert down to its hits, packets and each print with its NBBO."""
    ranked = alerts.sort("score", "alert_id", descending=[True, False])
    labels = {
        r[
            "alert_id"
        ]: f"{r['severity'].upper()} {r['score']:.0f} · {r['subject']} · {', '.join(r['classifiers'])}"
        for r in ranked.iter_rows(named=True)
    }
    chosen = st.selectbox(
        "Evidence for alert", list(labels), format_func=labels.get, key="evidence_alert"
    )
    if chosen is None:
        return
    alert = ranked.filter(pl.col("alert_id") == chosen).row(0, named=True)
    st.markdown(
        f"**{alert['severity'].upper()} · score {alert['score']:.0f} · {alert['direction']}** — config `{alert['config_version']}`"
    )
    for hit in hits.filter(pl.col("hit_id").is_in(alert["hit_ids"])).iter_rows(named=True):
        st.markdown(
            f"- `{hit['classifier']}` confidence {hit['confidence']:.2f}: {hit['explanation']}"
        )
    packets, prints = packets_and_prints(
        view.day, alert["packet_ids"], int(alert["ts"]), int(alert["ts"])
    )
    show_evidence(packets, prints, "evidence")


panel()
