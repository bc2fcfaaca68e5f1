"""Chart: equity candles with off-exchange prints overlaid by size and flow markers."""

from __future__ import annotations

from dataclasses import replace

import plotly.graph_objects as go
import polars as pl
import streamlit as st
from plotly.subplots import make_subplots

from dashboards.data import default_config_version, load_day
from dashboards.filters import in_view
from dashboards.state import open_page

view = open_page("Chart")

candles = load_day("equity_candles", view.day)
if candles is None or candles.is_empty():
    st.info(f"No candles for {view.day}: run `flowlake build --date {view.day}`.")
    st.stop()

symbols = sorted(candles["symbol"].unique().to_list())
default = view.ticker if view.ticker in symbols else symbols[0]
c1, c2 = st.columns([3, 1])
symbol = c1.selectbox("Symbol", symbols, index=symbols.index(default), key="chart_symbol")
interval = (
    c2.segmented_control("Interval", ["1m", "5m", "1s"], default="1m", key="chart_interval") or "1m"
)

bars = in_view(
    candles.filter((pl.col("symbol") == symbol) & (pl.col("interval") == interval)),
    replace(view, ticker=""),
    "symbol",
    "ts_ny",
).sort("ts")
prints = load_day("equity_prints", view.day)
dark = (
    prints.filter((pl.col("symbol") == symbol) & pl.col("off_exchange") & (pl.col("size") >= 1000))
    if prints is not None
    else pl.DataFrame()
)
packets = load_day("flow_packets", view.day)
flow = (
    packets.filter((pl.col("underlying") == symbol) & pl.col("kind").is_in(["sweep", "block"]))
    if packets is not None
    else pl.DataFrame()
)

fig = make_subplots(
    rows=2, cols=1, shared_xaxes=True, row_heights=[0.75, 0.25], vertical_spacing=0.03
)
fig.add_trace(
    go.Candlestick(
        x=bars["ts_ny"],
        open=bars["open"],
        high=bars["high"],
        low=bars["low"],
        close=bars["close"],
        name=symbol,
    ),
    row=1,
    col=1,
)
if dark.height:
    fig.add_trace(
        go.Scatter(x=dark["ts_event_ny"], y=dark["price"], mode="markers", name="off-exchange >= 1000 sh",
                   marker={"size": (dark["size"] ** 0.5 / 4).clip(4, 40), "color": "rgba(120,60,200,0.45)"},
                   text=dark["event_id"]),
        row=1, col=1,
    )  # fmt: skip
alerts = load_day("alerts", view.day)
inferences = load_day("dark_inferences", view.day)


def at_price(frame: pl.DataFrame, time_col: str) -> pl.DataFrame:
    """Return ``frame`` with ``y``: the bar close at (or before) each marker's time."""
    closes = (
        bars.select(pl.col("ts").alias("_bar"), pl.col("close").alias("y"))
        .drop_nulls()
        .sort("_bar")
    )
    return (
        frame.sort(time_col)
        .join_asof(closes, left_on=time_col, right_on="_bar", strategy="backward")
        .drop_nulls("y")
    )


if alerts is not None and alerts.height:
    marks = at_price(
        alerts.filter(
            (pl.col("underlying") == symbol)
            & (pl.col("config_version") == default_config_version())
        ),
        "ts",
    )
    for severity, color in (("high", "#d62728"), ("medium", "#ff7f0e"), ("low", "#7f7f7f")):
        part = marks.filter(pl.col("severity") == severity)
        if part.height:
            fig.add_trace(
                go.Scatter(x=part["ts_ny"], y=part["y"], mode="markers", name=f"{severity} alerts", marker={"symbol": "triangle-up", "size": 13, "color": color},
                           text=part.select(pl.format("{} {}: {}", pl.col("severity"), pl.col("score").round(0), pl.col("classifiers").list.join(", ")))["severity"]),
                row=1, col=1,
            )  # fmt: skip
if inferences is not None and inferences.height:
    marks = at_price(inferences.filter(pl.col("symbol") == symbol), "ts")
    if marks.height:
        fig.add_trace(
            go.Scatter(x=marks["ts_ny"], y=marks["y"], mode="markers", name="dark-pool inferences", marker={"symbol": "diamond", "size": 10, "color": "#17becf"},
                       text=marks["explanation"]),
            row=1, col=1,
        )  # fmt: skip
gamma = load_day("gamma_exposure", view.day)
gamma = (
    in_view(gamma.filter(pl.col("underlying") == symbol), replace(view, ticker=""), "underlying", "ts_ny")
    if gamma is not None
    else pl.DataFrame()
)  # fmt: skip
if gamma.height:
    fig.add_trace(
        go.Scatter(x=gamma["ts_ny"], y=gamma["gamma_flip"], mode="lines+markers", line_shape="hv", name="gamma flip",
                   line={"dash": "dot", "color": "#2ca02c"}),
        row=1, col=1,
    )  # fmt: skip
fig.add_trace(
    go.Bar(x=bars["ts_ny"], y=bars["lit_volume"], name="lit volume", marker_color="#1f77b4"),
    row=2,
    col=1,
)
fig.add_trace(
    go.Bar(
        x=bars["ts_ny"],
        y=bars["off_exchange_volume"],
        name="off-exchange volume",
        marker_color="#9467bd",
    ),
    row=2,
    col=1,
)
fig.update_layout(
    barmode="stack",
    height=620,
    xaxis_rangeslider_visible=False,
    margin={"l": 10, "r": 10, "t": 10, "b": 10},
    legend={"orientation": "h"},
)
st.plotly_chart(fig, width="stretch", key="chart_figure")

if gamma.height:
    latest = gamma.sort("ts").row(-1, named=True)
    flip = latest["gamma_flip"]
    st.caption(
        f"Dealer gamma at {latest['ts_ny']:%H:%M} (dealers long calls, short puts; $ per 1% move): "
        f"net {latest['net_gex'] / 1e6:,.1f}M, spot {latest['spot']:.2f}, "
        + (f"gamma flip {flip:.2f}" if flip is not None else "no flip within the searched range")
    )
    by_strike = go.Figure(
        go.Bar(x=latest["strikes"], y=latest["net_gex_by_strike"], name="net GEX by strike",
               marker_color=["#2ca02c" if v >= 0 else "#d62728" for v in latest["net_gex_by_strike"]])
    )  # fmt: skip
    by_strike.add_vline(x=latest["spot"], line_dash="dash", annotation_text="spot")
    if flip is not None:
        by_strike.add_vline(x=flip, line_dash="dot", line_color="#2ca02c", annotation_text="flip")
    by_strike.update_layout(height=280, margin={"l": 10, "r": 10, "t": 10, "b": 10})
    st.plotly_chart(by_strike, width="stretch", key="chart_gamma")

if flow.height:
    st.caption("Sweeps and blocks on this underlying (the evidence: each packet lists its prints)")
    st.dataframe(
        flow.select(
            pl.col("start_ts_ny").dt.strftime("%H:%M:%S%.3f").alias("time"),
            "contract",
            "kind",
            "side",
            "premium",
            "event_ids",
        ),
        hide_index=True,
        width="stretch",
    )
