"""Flow: the FlowPacket tape and the options tape, filterable, refreshing while live."""

from __future__ import annotations

from dataclasses import asdict

import plotly.express as px
import polars as pl
import streamlit as st

from dashboards.charts import market_tide
from dashboards.data import flow_day, load_day, tape_end
from dashboards.filters import in_view, money, ny_clock
from dashboards.flowview import KINDS, PLACEMENTS, RIGHTS, SIDES, FlowFilter, packet_table, select
from dashboards.params import publish, seeded
from dashboards.state import open_page
from dashboards.tables import show

view = open_page("Options flow")

DEFAULTS = asdict(FlowFilter())
with st.container(border=True):
    r1 = st.columns(6)
    r1[0].multiselect("Kind", KINDS, key=seeded("kinds", DEFAULTS["kinds"], KINDS))
    r1[1].selectbox("Calls / puts", RIGHTS, key=seeded("rights", "both", RIGHTS))
    r1[2].selectbox("Side", SIDES, key=seeded("side", "all", SIDES))
    r1[3].multiselect(
        "Placement", PLACEMENTS, key=seeded("placements", [], PLACEMENTS),
        help="Where most of the order's prints traded: AA above the ask, A at the ask, MID, "
        "B at the bid, BB below the bid. Empty: any.",
    )  # fmt: skip
    r1[4].number_input(
        "Min premium ($)", min_value=0, step=5_000, key=seeded("min_premium", 25_000)
    )
    r1[5].number_input("Min size (contracts)", min_value=0, step=10, key=seeded("min_size", 0))
    r2 = st.columns(6)
    r2[0].number_input("DTE from", min_value=0, step=1, key=seeded("dte_min", 0))
    r2[1].number_input(
        "DTE to", min_value=0, step=1, value=None, key=seeded("dte_max", None, kind=int),
        placeholder="any",
    )  # fmt: skip
    otm_help = "Out of the money, in % of the spot at the order's time; negative: in the money."
    r2[2].number_input("OTM % from", step=1.0, value=None, key=seeded("otm_min", None, kind=float),
                       placeholder="any", help=otm_help)  # fmt: skip
    r2[3].number_input("OTM % to", step=1.0, value=None, key=seeded("otm_max", None, kind=float),
                       placeholder="any", help=otm_help)  # fmt: skip
    r2[4].text_input("Expiry", key=seeded("expiry", ""), placeholder="YYYY-MM-DD (empty: all)")
    r3 = st.columns(6)
    r3[0].toggle("Opening only", key=seeded("opening_only", False),
                 help="Orders larger than the open interest left after the day's earlier volume.")  # fmt: skip
    r3[1].toggle("Golden sweeps only", key=seeded("golden_only", False))
    r3[2].toggle("Unusual only", key=seeded("unusual_only", False),
                 help="The contract trades far above its own average, or the order's volume "
                 "exceeds the open interest.")  # fmt: skip
publish(DEFAULTS)
chosen = FlowFilter(**{name: st.session_state[name] for name in DEFAULTS})
SHOWN_ROWS = 5_000


@st.fragment(run_every=view.refresh_seconds)
def tape() -> None:
    day = flow_day(view.day)
    if day is None or day.packets.is_empty():
        st.info(f"No FlowPackets for {view.day}: run `flowlake build --date {view.day}`.")
        return
    shown = select(in_view(day.packets, view, "underlying", "start_ts_ny"), chosen, day.ends)
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Packets", f"{shown.height:,}")
    m2.metric("Premium", money(float(shown["premium"].sum() or 0)))
    calls = float(shown.filter(pl.col("right") == "C")["premium"].sum() or 0)
    puts = float(shown.filter(pl.col("right") == "P")["premium"].sum() or 0)
    m3.metric("Put/call premium", f"{puts / calls:.2f}" if calls else "n/a")
    golden = shown.filter(pl.col("golden_sweep").fill_null(False)).height
    m4.metric("Sweeps (golden)", f"{shown.filter(pl.col('kind') == 'sweep').height:,} ({golden:,})")
    if shown.height:
        fig = px.scatter(
            shown.select("start_ts_ny", "premium", "kind", "contract", "side"),
            x="start_ts_ny",
            y="premium",
            color="side",
            symbol="kind",
            color_discrete_map={
                "buy": "#2ca02c",
                "sell": "#d62728",
                "mixed": "#ff7f0e",
                "none": "#7f7f7f",
            },
            hover_name="contract",
            log_y=True,
            height=320,
            labels={"start_ts_ny": "New York time", "premium": "premium ($)"},
        )
        fig.update_layout(margin={"l": 10, "r": 10, "t": 10, "b": 10}, legend={"orientation": "h"})
        st.plotly_chart(fig, width="stretch")
    table = packet_table(shown.sort("start_ts", descending=True))
    show(table, "flow_packets_table", height=420, limit=SHOWN_ROWS)


tape()


@st.fragment(run_every=view.refresh_seconds)
def tide() -> None:
    market_tide(view, view.ticker, key="tide_chart")


tide()


@st.fragment(run_every=view.refresh_seconds)
def unusual_volume() -> None:
    """Contracts trading far above their own daily average (``contract_volume``)."""
    frame = load_day("contract_volume", view.day)
    if frame is None or frame.is_empty():
        return
    if view.ticker:
        frame = frame.filter(pl.col("underlying") == view.ticker)
    unusual = frame.filter(pl.col("unusual")).sort("relative_volume", descending=True)
    st.subheader("Unusual volume")
    st.caption(
        "Today's volume against the contract's own previous sessions (a whole day: not "
        "limited to the time in view); OI change is the next session's open interest minus "
        "today's, once it has landed."
    )
    if unusual.is_empty():
        with_history = frame.filter(pl.col("avg_volume").is_not_null()).height
        st.info(f"No unusual volume ({with_history:,} contracts have enough history to compare).")
        return
    show(
        unusual.select(
            "underlying", "contract", "volume", pl.col("avg_volume").round(1).alias("avg volume"),
            pl.col("relative_volume").round(2).alias("rel vol"), pl.col("volume_z").round(2).alias("z"),
            "n_history", "open_interest", pl.col("volume_to_oi").round(2).alias("vol/OI"), "oi_change",
            pl.col("premium").round(0),
        ),
        "unusual_volume_table",
    )  # fmt: skip


unusual_volume()

TAPE_COLUMNS = ("ts_event", "seq", "underlying", "contract", "exchange", "price", "size", "nbbo_bid", "nbbo_ask", "placement",
                "side", "premium", "conditions", "in_flow", "event_id")  # fmt: skip
TAPE_MINUTES = 15
if st.toggle("Options tape (every print with its NBBO)", key="flow_show_tape"):
    # The last minutes of the view only: a full day of prints is millions of rows.
    end = tape_end("option_prints", view.day, view.end)
    window = ("ts_event", end - TAPE_MINUTES * 60 * 10**9, end)
    prints = load_day("option_prints", view.day, columns=TAPE_COLUMNS, window=window)
    if prints is not None and prints.height:
        tape_rows = (
            in_view(prints, view, "underlying", "ts_event_ny")
            .sort("ts_event", "seq", descending=True)
            .head(2000)
        )
        st.caption(f"Latest prints of the {TAPE_MINUTES} minutes up to {ny_clock(end)} New York")
        show(
            tape_rows.select(
                pl.col("ts_event_ny").dt.strftime("%H:%M:%S%.6f").alias("time"), "contract", "exchange", "price", "size",
                "nbbo_bid", "nbbo_ask", "placement", "side", pl.col("premium").round(0), "conditions", "in_flow", "event_id",
            ),
            "options_tape",
        )  # fmt: skip
