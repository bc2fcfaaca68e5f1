"""Outcomes: did the alerts mean something? The underlying's move after each alert."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboards.data import default_config_version, load_day
from dashboards.filters import in_view
from dashboards.state import open_page
from lake.outcomes import outcome_stats

view = open_page("Alert outcomes")

outcomes = load_day("alert_outcomes", view.day)
if outcomes is None or outcomes.is_empty():
    st.info(f"No alert outcomes for {view.day}: run `flowlake build --date {view.day}`.")
    st.stop()
outcomes = outcomes.filter(pl.col("config_version") == default_config_version())
st.caption(
    "Move of the underlying after each alert, in the alert's direction (bullish: up, bearish: "
    "down), from the last 1-minute bar closed when the alert was known to the last bar closed "
    "5 and 30 minutes later and at the close. 95% intervals: normal for the mean, Wilson for "
    "the hit rate. Neutral, structure and mixed alerts have no direction and are not counted."
)
stats = outcome_stats(outcomes)
st.dataframe(
    stats.with_columns(
        pl.col(c).round(4)
        for c in ("hit_rate", "mean_move", "median_move", "mean_ci_low", "mean_ci_high", "hit_ci_low", "hit_ci_high")
    ),
    hide_index=True, width="stretch", key="outcome_stats",
)  # fmt: skip
st.subheader("Per alert")
st.dataframe(
    in_view(outcomes, view, "underlying", "ts_ny").select(
        pl.col("ts_ny").dt.strftime("%H:%M:%S").alias("time"), "underlying", "classifiers", "severity",
        "direction", "entry_price", *[pl.col(c).round(5) for c in ("ret_5m", "ret_30m", "ret_close", "ret_next")], "alert_id",
    ),
    hide_index=True, width="stretch", key="outcome_alerts",
)  # fmt: skip
