"""Calibration: two config versions side by side (hit and alert counts, added/removed alerts)."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboards.data import current_lake, load_day
from dashboards.state import open_page
from lake.compare import compare_versions, config_versions

view = open_page("Calibration")

lake = current_lake()
accuracy = load_day("signal_accuracy", view.day)
if accuracy is not None and accuracy.height:
    st.subheader("Accuracy against the planted labels")
    st.caption(
        "Precision: hits that share a print with a planted pattern of their kind. Recall: "
        "planted patterns found by at least one hit. Per config version, so a threshold "
        "change shows its effect on accuracy, not only on counts (synthetic days only)."
    )
    st.dataframe(
        accuracy.select(
            "config_version", "signal", "hits", "true_hits", "labels", "labels_found",
            pl.col("precision").round(3), pl.col("recall").round(3),
        ),
        hide_index=True, width="stretch", key="cal_accuracy",
    )  # fmt: skip
versions = config_versions(lake, [view.day])
if len(versions) < 2:
    st.info(
        f"{len(versions)} config version(s) on {view.day}. Run `flowlake calibrate --thresholds FILE --start {view.day}` "
        "to add a candidate version to compare."
    )
    st.stop()

c1, c2 = st.columns(2)
base = c1.selectbox("Base version", versions, key="cal_base")
candidate = c2.selectbox(
    "Candidate version", [v for v in versions if v != base], key="cal_candidate"
)
cmp = compare_versions(lake, [view.day], base, candidate)
left, right = st.columns(2)
left.subheader("Hits per classifier")
left.dataframe(cmp.hits, hide_index=True, width="stretch")
right.subheader("Alerts per severity")
right.dataframe(cmp.severities, hide_index=True, width="stretch")
st.subheader(f"Alerts added ({cmp.added.height})")
st.dataframe(cmp.added, hide_index=True, width="stretch", key="cal_added")
st.subheader(f"Alerts removed ({cmp.removed.height})")
st.dataframe(cmp.removed, hide_index=True, width="stretch", key="cal_removed")
