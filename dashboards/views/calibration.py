"""Calibration: two config versions side by side (hit and alert counts, added/removed alerts)."""

from __future__ import annotations

import streamlit as st

from dashboards.data import current_lake
from dashboards.state import View
from lake.compare import compare_versions, config_versions

view: View = st.session_state["view"]
st.title("Calibration")

if view.day is None:
    st.info("The lake has no trading day yet. Run `make run` to fill it.")
    st.stop()

lake = current_lake()
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
