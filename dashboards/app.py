"""flowlake dashboards: the entry point (``streamlit run dashboards/app.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

# Streamlit runs this file as a script: make the project importable from any working dir.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st

from dashboards.state import sidebar
from lake.engine import use_in_memory_engine

# Streamlit's server process is the dashboards' own: their reads use the in-memory engine
# (the same rows, in the same order, every run).
use_in_memory_engine()

st.set_page_config(page_title="flowlake", page_icon=":material/waterfall_chart:", layout="wide")

HERE = Path(__file__).resolve().parent / "views"
pages = [
    st.Page(HERE / "flow.py", title="Flow", icon=":material/stacked_line_chart:", default=True),
    st.Page(HERE / "alerts.py", title="Alerts", icon=":material/notifications:"),
    st.Page(HERE / "chart.py", title="Chart", icon=":material/candlestick_chart:"),
    st.Page(HERE / "darkpool.py", title="Dark pool", icon=":material/visibility_off:"),
    st.Page(HERE / "replay.py", title="Replay", icon=":material/replay:"),
    st.Page(HERE / "outcomes.py", title="Outcomes", icon=":material/query_stats:"),
    st.Page(HERE / "calibration.py", title="Calibration", icon=":material/tune:"),
    st.Page(HERE / "health.py", title="Pipeline health", icon=":material/monitor_heart:"),
]
page = st.navigation(pages)
st.session_state["view"] = sidebar()
page.run()
