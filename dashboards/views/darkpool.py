"""Dark pool: off-exchange prints and the inferences drawn from them, with evidence."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboards.data import load_day
from dashboards.filters import in_view
from dashboards.state import open_page

view = open_page("Dark pool")

inferences = load_day("dark_inferences", view.day)
if inferences is not None and inferences.height:
    st.dataframe(
        in_view(inferences, view, "symbol", "ts_ny").drop("date"),
        hide_index=True,
        width="stretch",
        key="dark_table",
    )
else:
    st.info(
        "No dark-pool inferences for this day yet (the inference rules arrive with the off-exchange issue)."
    )

prints = load_day("equity_prints", view.day)
if prints is not None and prints.height:
    off = in_view(prints.filter(pl.col("off_exchange")), view, "symbol", "ts_event_ny")
    st.subheader("Largest off-exchange prints")
    st.dataframe(
        off.sort("notional", descending=True).head(200).select(
            pl.col("ts_event_ny").dt.strftime("%H:%M:%S%.3f").alias("time"), "symbol", "price", "size",
            pl.col("notional").round(0), "placement", "nbbo_bid", "nbbo_ask", "conditions", "event_id",
        ),
        hide_index=True, width="stretch", key="dark_prints",
    )  # fmt: skip
