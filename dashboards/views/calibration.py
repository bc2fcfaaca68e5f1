"""Calibration: accuracy against the planted labels, precision and recall over a swept
threshold, and two config versions side by side (hit and alert counts, changed alerts)."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from dashboards.data import current_lake, load_day
from dashboards.state import open_page
from dashboards.tables import show
from lake.compare import compare_versions, config_versions, sweep_points

view = open_page("Calibration")


@st.fragment(run_every=view.refresh_seconds)
def calibration() -> None:
    lake = current_lake()
    accuracy = load_day("signal_accuracy", view.day)
    if accuracy is not None and accuracy.height:
        st.subheader("Accuracy against the planted labels")
        st.caption(
            "Each planted pattern states the hits the default thresholds must produce on it. "
            "Precision: hits on a pattern that expects them. Recall: patterns whose expected "
            "hits were found. Near-misses are planted just past one gate; 'fired' counts those "
            "their signal caught anyway. Per config version, so a threshold change shows its "
            "effect on accuracy, not only on counts (synthetic days only)."
        )
        show(
            accuracy.select(
                "config_version", "signal", "hits", "true_hits", "labels", "labels_found",
                pl.col("precision").round(3), pl.col("recall").round(3),
                *(c for c in ("near_misses", "near_misses_fired") if c in accuracy.columns),
            ),
            "cal_accuracy",
        )  # fmt: skip
        points = sweep_points(lake.root)
        if points.height:
            st.subheader("One threshold swept")
            st.caption(
                "`flowlake calibrate --sweep KEY=VALUES` re-runs the classifiers once per value: "
                "how precision and recall move, before the threshold is changed."
            )
            keys = sorted(points.get_column("key").unique().to_list())
            key = st.selectbox("Threshold", keys, key="cal_sweep_key")
            swept = (
                points.filter(pl.col("key") == key)
                .join(accuracy, on="config_version")
                .sort("signal", "value")
            )
            signals = sorted(swept.get_column("signal").unique().to_list())
            chosen = st.multiselect(
                "Signals", signals, default=signals[:3], key="cal_sweep_signals"
            )
            fig = go.Figure()
            for signal in chosen:
                one = swept.filter(pl.col("signal") == signal)
                for measure, dash in (("precision", "solid"), ("recall", "dot")):
                    fig.add_trace(
                        go.Scatter(
                            x=one["value"], y=one[measure], mode="lines+markers",
                            name=f"{signal} {measure}", line={"dash": dash},
                        )
                    )  # fmt: skip
            fig.update_layout(
                xaxis_title=key, yaxis_title="precision / recall", yaxis_range=[0, 1.05], height=380
            )
            st.plotly_chart(fig, width="stretch", key="cal_sweep_chart")
            show(
                swept.select("value", "config_version", "signal", "hits",
                             pl.col("precision").round(3), pl.col("recall").round(3)),
                "cal_sweep_table",
            )  # fmt: skip
    versions = config_versions(lake, [view.day])
    if len(versions) < 2:
        st.info(
            f"{len(versions)} config version(s) on {view.day}. Run `flowlake calibrate --thresholds FILE --start {view.day}` "
            "to add a candidate version to compare."
        )
        return

    c1, c2 = st.columns(2)
    base = c1.selectbox("Base version", versions, key="cal_base")
    candidate = c2.selectbox(
        "Candidate version", [v for v in versions if v != base], key="cal_candidate"
    )
    cmp = compare_versions(lake, [view.day], base, candidate)
    left, right = st.columns(2)
    left.subheader("Hits per classifier")
    with left:
        show(cmp.hits, "cal_hits")
    right.subheader("Alerts per severity")
    with right:
        show(cmp.severities, "cal_severities")
    st.subheader(f"Alerts added ({cmp.added.height})")
    show(cmp.added, "cal_added")
    st.subheader(f"Alerts removed ({cmp.removed.height})")
    show(cmp.removed, "cal_removed")


calibration()
