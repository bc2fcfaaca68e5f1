"""Dashboard render times: every page through Streamlit's AppTest on one stored day.

A page's first render of a day reads its tables from the lake (cold: what the first user
after a new commit waits for); later renders of an unchanged day hit the dashboards'
caches (warm: what a live refresh and every other user see until the next commit). Both
are reported, per page. What a server pays once per process (importing Streamlit, plotly
and polars, plotly loading its templates for the first figure) is paid before the timing:
every page runs once on an empty lake, and one figure is drawn.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "dashboards" / "app.py"
#: The target of the dashboards issue: each page within a second on a full-universe day.
TARGET_S = 1.0
WARM_RUNS = 3


def page_renders(lake: str, warm_runs: int = WARM_RUNS) -> dict[str, dict[str, Any]]:
    """Return, per page, its cold render, the median of ``warm_runs`` warm renders, and
    whether the page raised (seconds; the pages of :mod:`dashboards.pages`)."""
    import plotly.express as px
    from streamlit.testing.v1 import AppTest

    from dashboards.pages import PAGES

    px.scatter(x=[0, 1], y=[1, 2], color=["a", "b"], symbol=["a", "b"]).to_json()
    with tempfile.TemporaryDirectory() as empty:
        os.environ["FLOWLAKE_LAKE"] = empty
        at = AppTest.from_file(str(APP), default_timeout=600)
        at.run()
        for path, _, _ in PAGES[1:]:
            at.switch_page(f"views/{path}.py").run()
    os.environ["FLOWLAKE_LAKE"] = lake
    at = AppTest.from_file(str(APP), default_timeout=600)
    out: dict[str, dict[str, Any]] = {}
    for path, _, _ in PAGES:
        times = []
        for _ in range(1 + warm_runs):
            t0 = time.perf_counter()
            if path == PAGES[0][0]:
                at.run()
            else:
                at.switch_page(f"views/{path}.py").run()
            times.append(time.perf_counter() - t0)
        out[path] = {
            "cold_s": round(times[0], 3),
            "warm_s": round(statistics.median(times[1:]), 3),
            "error": str(at.exception[0].message)[:300] if at.exception else None,
        }
    return out


def build_day(work: Path, day: str, underlyings: str = "ALL", seed: int = 7) -> str:
    """Land and build a synthetic day with ``flowlake synth`` and ``flowlake build`` (the
    user's commands) into ``work/lake``; return the lake root."""
    lake = str(work / "lake")
    flowlake = str(Path(sys.executable).parent / "flowlake")
    for command in (["synth", "--underlyings", underlyings, "--seed", str(seed)], ["build"]):
        subprocess.run([flowlake, *command, "--lake", lake, "--date", day], check=True)
    return lake
