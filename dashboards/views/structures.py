"""Structures: multi-leg orders (spreads, straddles, risk reversals, rolls...) with their legs."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboards.data import load_day
from dashboards.evidence import packets_and_prints, show_evidence
from dashboards.filters import in_view
from dashboards.params import publish, seeded
from dashboards.state import open_page
from dashboards.structures import DIRECTIONS, leg_table, with_legs
from dashboards.tables import show

view = open_page("Structures")
st.caption(
    "Orders on two or more contracts of one underlying traded together, named from the legs' "
    "rights, strikes, expiries and sides: long/short straddles and strangles, risk reversals, "
    "debit/credit verticals, butterflies, ladders, rolls, calendars; `complex` when an "
    "exchange reported the legs as one multi-leg print. Net premium signs each leg by its side."
)

structures = load_day("structures", view.day)
if structures is None:
    st.info(f"No structures for {view.day}: run `flowlake build --date {view.day}`.")
    st.stop()
KIND_NAMES = sorted(structures.get_column("kind").unique().to_list())
DEFAULTS = {"structure_kinds": [], "direction": "all", "min_gross": 0}
c1, c2, c3 = st.columns([3, 1, 1])
c1.multiselect("Kind", KIND_NAMES, key=seeded("structure_kinds", [], KIND_NAMES), placeholder="any")
c2.selectbox("Direction", DIRECTIONS, key=seeded("direction", "all", DIRECTIONS))
c3.number_input("Min gross premium ($)", min_value=0, step=5_000, key=seeded("min_gross", 0))
publish(DEFAULTS)


@st.fragment(run_every=view.refresh_seconds)
def structures_panel() -> None:
    frame = load_day("structures", view.day)
    if frame is None:
        return
    kinds, direction = st.session_state["structure_kinds"], st.session_state["direction"]
    shown = in_view(frame, view, "underlying", "start_ts_ny").filter(
        pl.col("gross_premium") >= st.session_state["min_gross"]
    )
    if kinds:
        shown = shown.filter(pl.col("kind").is_in(kinds))
    if direction != "all":
        shown = shown.filter(pl.col("direction") == direction)
    shown = with_legs(shown.sort("start_ts", "structure_id", descending=[True, False]))
    m1, m2, m3 = st.columns(3)
    m1.metric("Structures", f"{shown.height:,}")
    m2.metric("Bullish / bearish", f"{shown.filter(pl.col('direction') == 'bullish').height:,} / "
              f"{shown.filter(pl.col('direction') == 'bearish').height:,}")  # fmt: skip
    m3.metric("Legs", f"{int(shown['n_legs'].sum() or 0):,}")
    if shown.is_empty():
        st.info("No structure in this view. Widen the time window or the filters.")
        return
    st.caption("Click a structure to open its legs, packets and prints below.")
    picked = show(
        shown.select(
            pl.col("start_ts_ny").dt.strftime("%H:%M:%S%.3f").alias("time"), "underlying", "kind", "direction",
            "n_legs", "legs", pl.col("net_premium").round(0), pl.col("gross_premium").round(0), "structure_id",
        ),
        "structures_table", pick=True, height=360,
    )  # fmt: skip
    if picked is None:
        return
    structure = shown.filter(pl.col("structure_id") == picked["structure_id"]).row(0, named=True)
    st.subheader(f"{structure['kind'].replace('_', ' ')} on {structure['underlying']}")
    st.markdown(
        f"**{structure['direction']}** · {structure['n_legs']} legs · net "
        f"${structure['net_premium']:,.0f} · gross ${structure['gross_premium']:,.0f}"
    )
    packets, prints = packets_and_prints(
        view.day, structure["packet_ids"], int(structure["start_ts"]), int(structure["end_ts"])
    )
    show(leg_table(structure, packets), "structure_legs")
    show_evidence(packets, prints, "structure")


structures_panel()
