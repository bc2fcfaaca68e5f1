"""flowlake dashboards: the entry point (``streamlit run dashboards/app.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

# Streamlit runs this file as a script: make the project importable from any working dir.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st

from dashboards.auth import require_sign_in
from dashboards.pages import PAGE_FILES, PAGES
from dashboards.state import sidebar
from lake.engine import use_in_memory_engine

# Streamlit's server process is the dashboards' own: their reads use the in-memory engine
# (the same rows, in the same order, every run).
use_in_memory_engine()

# The favicon is a file served by the app: a Material icon name would make the browser fetch
# it from a public font service.
st.set_page_config(
    page_title="flowlake",
    page_icon=str(Path(__file__).resolve().parent / "icon.png"),
    layout="wide",
)

pages = [
    st.Page(PAGE_FILES[path], title=title, icon=icon, url_path=path, default=path == "flow")
    for path, title, icon in PAGES
]
page = st.navigation(pages)
require_sign_in()
st.session_state["view"] = sidebar(page.url_path)
page.run()
