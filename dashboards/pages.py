"""The dashboards' pages: script, title, icon and URL path of each, in menu order."""

from __future__ import annotations

from pathlib import Path

VIEWS = Path(__file__).resolve().parent / "views"

#: (URL path, title, icon); each page's script is ``views/<URL path>.py``.
PAGES: tuple[tuple[str, str, str], ...] = (
    ("flow", "Flow", ":material/stacked_line_chart:"),
    ("ticker", "Ticker", ":material/search:"),
    ("structures", "Structures", ":material/account_tree:"),
    ("alerts", "Alerts", ":material/notifications:"),
    ("chart", "Chart", ":material/candlestick_chart:"),
    ("equities", "Equities tape", ":material/receipt_long:"),
    ("darkpool", "Dark pool", ":material/visibility_off:"),
    ("replay", "Replay", ":material/replay:"),
    ("outcomes", "Outcomes", ":material/query_stats:"),
    ("calibration", "Calibration", ":material/tune:"),
    ("health", "Pipeline health", ":material/monitor_heart:"),
)

#: A page's script by URL path (what ``st.switch_page`` opens).
PAGE_FILES: dict[str, Path] = {path: VIEWS / f"{path}.py" for path, _, _ in PAGES}
