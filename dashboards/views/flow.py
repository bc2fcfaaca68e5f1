"""Flow: the FlowPacket tape and the options tape, filterable, refreshing while live."""

from __future__ import annotations

import plotly.express as px
import polars as pl
import streamlit as st

from dashboards.data import load_day
from dashboards.filters import in_view, money, ns, ny_time, signed_money
from dashboards.state import open_page
from lake.tables import MARKET

view = open_page("Options flow")

c1, c2, c3, c4 = st.columns(4)
kinds = c1.multiselect(
    "Kind",
    ["sweep", "block", "split", "single", "complex"],
    default=["sweep", "block", "split"],
    key="flow_kind",
)
min_premium = c2.number_input(
    "Min premium ($)", min_value=0, value=25_000, step=5_000, key="flow_min_premium"
)
side = c3.selectbox("Side", ["all", "buy", "sell", "mixed", "none"], key="flow_side")
expiry_text = c4.text_input("Expiry (YYYY-MM-DD, empty: all)", key="flow_expiry")


PACKET_COLUMNS = ("packet_id", "start_ts", "underlying", "contract", "expiry", "right", "kind", "side", "n_prints",
                  "n_exchanges", "size", "premium", "vwap", "nbbo_coverage", "buy_ratio", "iso_count")  # fmt: skip


@st.fragment(run_every=view.refresh_seconds)
def tape() -> None:
    packets = load_day("flow_packets", view.day, columns=PACKET_COLUMNS)
    if packets is None or packets.is_empty():
        st.info(f"No FlowPackets for {view.day}: run `flowlake build --date {view.day}`.")
        return
    positioning = load_day(
        "packet_positioning", view.day,
        columns=("packet_id", "volume_to_oi", "relative_volume", "likely_opening", "golden_sweep"),
    )  # fmt: skip
    if positioning is not None:
        packets = packets.join(positioning.drop("date", strict=False), on="packet_id", how="left")
    else:
        packets = packets.with_columns(
            pl.lit(None, pl.Float64).alias("volume_to_oi"),
            pl.lit(None, pl.Float64).alias("relative_volume"),
            pl.lit(None, pl.Boolean).alias("likely_opening"),
            pl.lit(None, pl.Boolean).alias("golden_sweep"),
        )
    shown = in_view(packets, view, "underlying", "start_ts_ny").filter(
        pl.col("kind").is_in(kinds) & (pl.col("premium") >= min_premium)
    )
    if side != "all":
        shown = shown.filter(pl.col("side") == side)
    if expiry_text.strip():
        shown = shown.filter(pl.col("expiry").cast(pl.String) == expiry_text.strip())
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
        )
        fig.update_layout(margin={"l": 10, "r": 10, "t": 10, "b": 10}, legend={"orientation": "h"})
        st.plotly_chart(fig, width="stretch")
    table = shown.sort("start_ts", descending=True).select(
        pl.col("start_ts_ny").dt.strftime("%H:%M:%S%.3f").alias("time"),
        "underlying", "contract", "kind", "side", "n_prints", "n_exchanges", "size",
        pl.col("premium").round(0), pl.col("vwap").round(2), pl.col("nbbo_coverage").round(2).alias("coverage"),
        pl.col("buy_ratio").round(2), "iso_count", pl.col("volume_to_oi").round(2).alias("vol/OI"),
        pl.col("relative_volume").round(2).alias("rel vol"),
        pl.col("likely_opening").alias("opening"), pl.col("golden_sweep").alias("golden"), "packet_id",
    )  # fmt: skip
    st.dataframe(table, hide_index=True, width="stretch", height=420, key="flow_packets_table")


tape()


@st.fragment(run_every=view.refresh_seconds)
def tide() -> None:
    """Market tide: cumulative net premium (bullish minus bearish) through the day."""
    frame = load_day("market_tide", view.day)
    if frame is None or frame.is_empty():
        return
    t = pl.col("ts_ny").dt.time()
    frame = frame.filter((t >= view.start) & (t <= view.end))
    market = frame.filter(pl.col("underlying") == MARKET)
    lines = [market.with_columns(pl.lit("market").alias("scope"))]
    if view.ticker:
        lines.append(
            frame.filter(pl.col("underlying") == view.ticker).with_columns(
                pl.lit(view.ticker).alias("scope")
            )
        )
    series = (
        pl.concat(lines)
        .sort("scope", "ts")
        .with_columns(pl.col("net_premium").cum_sum().over("scope").alias("cumulative_net_premium"))
    )
    st.subheader("Market tide")
    calls, puts = float(market["call_premium"].sum() or 0), float(market["put_premium"].sum() or 0)
    m1, m2, m3 = st.columns(3)
    total = {
        c: float(market[c].sum() or 0)
        for c in ("net_premium", "bullish_premium", "bearish_premium")
    }
    m1.metric("Net premium (market)", signed_money(total["net_premium"]))
    m2.metric(
        "Bullish / bearish",
        f"{money(total['bullish_premium'])} / {money(total['bearish_premium'])}",
    )
    m3.metric("Put/call premium (market)", f"{puts / calls:.2f}" if calls else "n/a")
    fig = px.line(
        series.select("ts_ny", "cumulative_net_premium", "scope"),
        x="ts_ny",
        y="cumulative_net_premium",
        color="scope",
        height=260,
    )
    fig.update_layout(margin={"l": 10, "r": 10, "t": 10, "b": 10}, legend={"orientation": "h"})
    st.plotly_chart(fig, width="stretch", key="tide_chart")
    st.caption(
        "Calls bought and puts sold minus calls sold and puts bought; mid, unplaced, "
        "multi-leg and cancelled prints carry no direction and are left out."
    )


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
    st.dataframe(
        unusual.select(
            "underlying", "contract", "volume", pl.col("avg_volume").round(1).alias("avg volume"),
            pl.col("relative_volume").round(2).alias("rel vol"), pl.col("volume_z").round(2).alias("z"),
            "n_history", "open_interest", pl.col("volume_to_oi").round(2).alias("vol/OI"), "oi_change",
            pl.col("premium").round(0),
        ),
        hide_index=True, width="stretch", key="unusual_volume_table",
    )  # fmt: skip


unusual_volume()

TAPE_COLUMNS = ("ts_event", "seq", "underlying", "contract", "exchange", "price", "size", "nbbo_bid", "nbbo_ask", "placement",
                "side", "premium", "conditions", "in_flow", "event_id")  # fmt: skip
TAPE_MINUTES = 15
if st.toggle("Options tape (every print with its NBBO)", key="flow_show_tape"):
    # The last minutes of the view only: a full day of prints is millions of rows.
    end = ny_time(view.day, view.end)
    window = ("ts_event", ns(end) - TAPE_MINUTES * 60 * 10**9, ns(end))
    prints = load_day("option_prints", view.day, columns=TAPE_COLUMNS, window=window)
    if prints is not None and prints.height:
        tape_rows = (
            in_view(prints, view, "underlying", "ts_event_ny")
            .sort("ts_event", "seq", descending=True)
            .head(2000)
        )
        st.caption(
            f"Latest prints of the {TAPE_MINUTES} minutes up to {view.end.isoformat('minutes')}"
        )
        st.dataframe(
            tape_rows.select(
                pl.col("ts_event_ny").dt.strftime("%H:%M:%S%.6f").alias("time"), "contract", "exchange", "price", "size",
                "nbbo_bid", "nbbo_ask", "placement", "side", pl.col("premium").round(0), "conditions", "in_flow", "event_id",
            ),
            hide_index=True, width="stretch", key="options_tape",
        )  # fmt: skip
