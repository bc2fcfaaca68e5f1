"""Outcomes: did the alerts mean something? Moves after alerts over a range of sessions,
per classifier and group, and the classifiers' accuracy over the same range."""

from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from dashboards.data import (
    available_dates,
    current_lake,
    default_config_version,
    load_day,
    versions,
)
from dashboards.filters import in_view
from dashboards.params import publish, seeded
from dashboards.state import open_page
from dashboards.tables import show
from lake.backtest import GROUPS, accuracy_backtest, outcome_backtest
from lake.outcomes import HORIZONS

view = open_page("Alert outcomes")
st.caption(
    "Move of the underlying after each alert, in the alert's direction (bullish: up, bearish: "
    "down), from the last 1-minute bar closed when the alert was known to the last bar closed "
    "5 and 30 minutes later, at the close and at the next close. 95% intervals: normal for "
    "the mean, Wilson for the hit rate. Neutral, structure and mixed alerts have no "
    "direction and are not counted. Alerts of the packaged thresholds' config version."
)
days = sorted(available_dates("alert_outcomes"))
if not days:
    st.info(f"No alert outcomes yet: run `flowlake build --date {view.day}`.")
    st.stop()
names = [d.isoformat() for d in days]
default_start = names[max(0, len(names) - 20)]
c1, c2, c3, c4 = st.columns([1, 1, 2, 1])
c1.selectbox("From", names, key=seeded("from", default_start, names))
c2.selectbox("To", names, key=seeded("to", names[-1], names))
c3.multiselect("Group by", GROUPS, key=seeded("by", ["severity", "premium_bucket"], GROUPS))
c4.selectbox("Horizon", HORIZONS, key=seeded("horizon", "30m", HORIZONS))
publish(
    {"from": default_start, "to": names[-1], "by": ["severity", "premium_bucket"], "horizon": "30m"}
)


@st.cache_data(show_spinner=False, max_entries=32)
def _backtest(
    root: str,
    start: dt.date,
    end: dt.date,
    version: str,
    by: tuple[str, ...],
    stamp: tuple[int, ...],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    del stamp  # the tables' versions: a new commit reruns the backtest
    lake = current_lake()
    return outcome_backtest(lake, start, end, version, by), accuracy_backtest(
        lake, start, end, version
    )


@st.fragment(run_every=view.refresh_seconds)
def backtest() -> None:
    start, end = (dt.date.fromisoformat(st.session_state[k]) for k in ("from", "to"))
    if end < start:
        start, end = end, start
    stamp = versions("alert_outcomes", "alerts", "signal_accuracy")
    by = tuple(st.session_state["by"])
    stats, accuracy = _backtest(
        current_lake().root, start, end, default_config_version(), by, stamp
    )
    st.subheader(f"Over {start} to {end}")
    if stats.is_empty():
        st.info("No alert of the packaged thresholds in this range.")
    else:
        show(
            stats.filter(pl.col("horizon") == st.session_state["horizon"]).drop("horizon"),
            "outcome_stats",
        )
    if not accuracy.is_empty():
        st.subheader("Accuracy against the planted labels (synthetic days, pooled)")
        show(accuracy, "accuracy_backtest")
    outcomes = load_day("alert_outcomes", view.day)
    if outcomes is None or outcomes.is_empty():
        return
    st.subheader(f"Per alert on {view.day}")
    show(
        in_view(outcomes.filter(pl.col("config_version") == default_config_version()), view, "underlying", "ts_ny").select(
            pl.col("ts_ny").dt.strftime("%H:%M:%S").alias("time"), "underlying", "classifiers", "severity",
            "direction", "entry_price", *[pl.col(c).round(5) for c in ("ret_5m", "ret_30m", "ret_close", "ret_next")], "alert_id",
        ),
        "outcome_alerts",
    )  # fmt: skip


backtest()
