"""Dark pool: off-exchange prints and the inferences drawn from them, with evidence."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboards.data import load_day
from dashboards.filters import in_view
from dashboards.state import open_page
from dashboards.tables import show

view = open_page("Dark pool")
PRINT_COLUMNS = ("ts_event", "symbol", "price", "size", "notional", "placement", "nbbo_bid", "nbbo_ask", "conditions",
                 "event_id")  # fmt: skip
st.caption(
    "Inferences from off-exchange prints against the NBBO: blocks absorbed at the bid or "
    "lifted at the ask, stealth accumulation (many mid-sized prints on one side), "
    "distribution. Each lists the prints it rests on and the quote they traded against."
)


@st.fragment(run_every=view.refresh_seconds)
def dark_pool() -> None:
    inferences = load_day("dark_inferences", view.day)
    if inferences is not None and inferences.height:
        show(
            in_view(inferences, view, "symbol", "ts_ny").sort("ts", descending=True).select(
                pl.col("ts_ny").dt.strftime("%H:%M:%S").alias("time"), "symbol", "kind", "direction", "shares",
                pl.col("notional").round(0), "n_prints", "confidence", "quote_bid", "quote_ask",
                pl.col("quote_age_ms").round(1), "explanation", "event_ids", "inference_id",
            ),
            "dark_table",
        )  # fmt: skip
    else:
        st.info(f"No dark-pool inferences for {view.day}.")
    prints = load_day("equity_prints", view.day, only=("off_exchange", True), columns=PRINT_COLUMNS)
    if prints is not None and prints.height:
        off = in_view(prints, view, "symbol", "ts_event_ny")
        st.subheader("Largest off-exchange prints")
        show(
            off.sort("notional", descending=True).head(200).select(
                pl.col("ts_event_ny").dt.strftime("%H:%M:%S%.3f").alias("time"), "symbol", "price", "size",
                pl.col("notional").round(0), "placement", "nbbo_bid", "nbbo_ask", "conditions", "event_id",
            ),
            "dark_prints",
        )  # fmt: skip


dark_pool()
