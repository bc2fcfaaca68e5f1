"""Chart: equity candles with off-exchange prints overlaid by size and flow markers."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboards.charts import price_chart
from dashboards.data import load_day
from dashboards.params import publish, seeded
from dashboards.state import open_page
from dashboards.tables import show

view = open_page("Chart")

candles = load_day("equity_candles", view.day, columns=("symbol",), only=("interval", "1m"))
if candles is None or candles.is_empty():
    st.info(f"No candles for {view.day}: run `flowlake build --date {view.day}`.")
    st.stop()

symbols = sorted(candles["symbol"].unique().to_list())
default = view.ticker if view.ticker in symbols else symbols[0]
INTERVALS = ["1m", "5m", "1s"]
c1, c2 = st.columns([3, 1])
symbol = c1.selectbox("Symbol", symbols, key=seeded("symbol", default, symbols))
interval = (
    c2.segmented_control("Interval", INTERVALS, key=seeded("interval", "1m", INTERVALS)) or "1m"
)
publish({"symbol": default, "interval": "1m"})


@st.fragment(run_every=view.refresh_seconds)
def chart() -> None:
    price_chart(view, symbol, interval, key="chart_figure")
    packets = load_day("flow_packets", view.day, only=("underlying", symbol))
    if packets is None:
        return
    flow = packets.filter(pl.col("kind").is_in(["sweep", "block"]))
    if flow.height:
        st.caption(
            "Sweeps and blocks on this underlying (the evidence: each packet lists its prints)"
        )
        show(
            flow.sort("start_ts").select(
                pl.col("start_ts_ny").dt.strftime("%H:%M:%S%.3f").alias("time"),
                "contract", "kind", "side", "size", pl.col("premium").round(0), "event_ids",
            ),
            "chart_flow",
        )  # fmt: skip


chart()
