"""Equities tape: lit and off-exchange prints with the NBBO they traded against."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboards.data import load_day, tape_end
from dashboards.filters import in_view
from dashboards.params import publish, seeded
from dashboards.state import open_page
from dashboards.tables import show

view = open_page("Equities tape")

VENUES = ("both", "lit", "off-exchange")
COLUMNS = ("ts_event", "seq", "symbol", "exchange", "price", "size", "notional", "nbbo_bid", "nbbo_ask", "placement",
           "off_exchange", "conditions", "counts_volume", "cancelled", "event_id")  # fmt: skip
SHOWN_ROWS = 5_000
DEFAULTS = {"minutes": 15, "where": "both", "exchanges": [], "min_shares": 0}

c1, c2, c3 = st.columns([1, 1, 1])
c1.number_input("Minutes", min_value=1, max_value=405, step=5, key=seeded("minutes", 15),
                help="How far back from the window's end (a full day of prints is millions of rows).")  # fmt: skip
c2.selectbox("Where", VENUES, key=seeded("where", "both", VENUES))
min_shares = c3.number_input(
    "Min size (shares)", min_value=0, step=100, key=seeded("min_shares", 0)
)


@st.fragment(run_every=view.refresh_seconds)
def tape() -> None:
    end = tape_end("equity_prints", view.day, view.end)
    window = ("ts_event", end - st.session_state["minutes"] * 60 * 10**9, end)
    prints = load_day("equity_prints", view.day, columns=COLUMNS, window=window)
    if prints is None:
        st.info(f"No equity prints for {view.day}: run `flowlake build --date {view.day}`.")
        return
    venues = sorted(prints.get_column("exchange").unique().to_list())
    chosen = st.multiselect("Venues", venues, key=seeded("exchanges", [], venues), placeholder="all",
                            help="Lit exchanges by MIC; off-exchange prints carry the reporting facility.")  # fmt: skip
    publish(DEFAULTS)
    shown = in_view(prints, view, "symbol", "ts_event_ny").filter(pl.col("size") >= min_shares)
    where = st.session_state["where"]
    if where != "both":
        shown = shown.filter(pl.col("off_exchange") == (where == "off-exchange"))
    if chosen:
        shown = shown.filter(pl.col("exchange").is_in(chosen))
    shown = shown.sort("ts_event", "seq", descending=True)
    m1, m2, m3 = st.columns(3)
    m1.metric("Prints", f"{shown.height:,}")
    m2.metric("Shares", f"{int(shown['size'].sum() or 0):,}")
    off = shown.filter(pl.col("off_exchange"))
    m3.metric("Off-exchange share", f"{off['size'].sum() / shown['size'].sum():.1%}" if shown.height else "n/a",
              help="Of the shares shown, those reported off-exchange (dark pools, wholesalers).")  # fmt: skip
    table = shown.select(
        pl.col("ts_event_ny").dt.strftime("%H:%M:%S%.6f").alias("time"), "symbol", "exchange", "off_exchange",
        "price", "size", pl.col("notional").round(0), "nbbo_bid", "nbbo_ask", "placement", "conditions",
        "counts_volume", "cancelled", "event_id",
    )  # fmt: skip
    show(table, "equities_tape", height=480, limit=SHOWN_ROWS)


tape()
