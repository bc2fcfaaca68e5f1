"""Figures more than one page draws: the price chart with its overlays, GEX by strike and
the market tide."""

from __future__ import annotations

from dataclasses import replace

import plotly.express as px
import plotly.graph_objects as go
import polars as pl
import streamlit as st
from plotly.subplots import make_subplots

from dashboards.data import default_config_version, load_day
from dashboards.filters import in_view, money, signed_money
from dashboards.view import View
from lake.tables import MARKET

MARGIN = {"l": 10, "r": 10, "t": 10, "b": 10}


def at_price(frame: pl.DataFrame, bars: pl.DataFrame, time_col: str) -> pl.DataFrame:
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


def _markers(
    fig: go.Figure, x: pl.Series, y: pl.Series, name: str, marker: dict, text: pl.Series
) -> None:
    """Add one set of markers over the candles (the price chart's first row)."""
    fig.add_trace(
        go.Scatter(x=x, y=y, mode="markers", name=name, marker=marker, text=text), row=1, col=1
    )


def price_chart(view: View, symbol: str, interval: str, key: str) -> None:
    """Draw ``symbol``'s candles with off-exchange prints (>= 1,000 shares, sized by size),
    alerts, dark-pool inferences and the gamma flip over them, lit and off-exchange volume
    below, then the latest dealer gamma by strike."""
    candles = load_day("equity_candles", view.day, only=("symbol", symbol))
    if candles is None or candles.is_empty():
        st.info(f"No candles for {symbol} on {view.day}.")
        return
    whole_day = replace(view, ticker="")
    bars = in_view(
        candles.filter(pl.col("interval") == interval), whole_day, "symbol", "ts_ny"
    ).sort("ts")
    prints = load_day(
        "equity_prints",
        view.day,
        columns=("symbol", "ts_event", "price", "size", "off_exchange", "event_id"),
        only=("symbol", symbol),
    )
    dark = (
        prints.filter(pl.col("off_exchange") & (pl.col("size") >= 1000))
        if prints is not None
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
        marker = {"size": (dark["size"] ** 0.5 / 4).clip(4, 40), "color": "rgba(120,60,200,0.45)"}
        _markers(fig, dark["ts_event_ny"], dark["price"], "off-exchange >= 1000 sh", marker,
                 dark["event_id"])  # fmt: skip
    alerts = load_day("alerts", view.day, only=("underlying", symbol))
    if alerts is not None and alerts.height:
        marks = at_price(
            alerts.filter(pl.col("config_version") == default_config_version()), bars, "ts"
        )
        for severity, color in (("high", "#d62728"), ("medium", "#ff7f0e"), ("low", "#7f7f7f")):
            part = marks.filter(pl.col("severity") == severity)
            if part.height:
                label = pl.format("{} {}: {}", "severity", pl.col("score").round(0),
                                  pl.col("classifiers").list.join(", "))  # fmt: skip
                _markers(fig, part["ts_ny"], part["y"], f"{severity} alerts",
                         {"symbol": "triangle-up", "size": 13, "color": color},
                         part.select(label).to_series())  # fmt: skip
    inferences = load_day("dark_inferences", view.day, only=("symbol", symbol))
    if inferences is not None and inferences.height:
        marks = at_price(inferences, bars, "ts")
        if marks.height:
            _markers(fig, marks["ts_ny"], marks["y"], "dark-pool inferences",
                     {"symbol": "diamond", "size": 10, "color": "#17becf"}, marks["explanation"])  # fmt: skip
    gamma = load_day("gamma_exposure", view.day, only=("underlying", symbol))
    gamma = (
        in_view(gamma, whole_day, "underlying", "ts_ny") if gamma is not None else pl.DataFrame()
    )
    if gamma.height:
        fig.add_trace(
            go.Scatter(
                x=gamma["ts_ny"],
                y=gamma["gamma_flip"],
                mode="lines+markers",
                line_shape="hv",
                name="gamma flip",
                line={"dash": "dot", "color": "#2ca02c"},
            ),
            row=1,
            col=1,
        )
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
        margin=MARGIN,
        legend={"orientation": "h"},
    )
    st.plotly_chart(fig, width="stretch", key=key)
    if gamma.height:
        gamma_by_strike(gamma.sort("ts").row(-1, named=True), key=f"{key}_gamma")


def gamma_by_strike(latest: dict, key: str) -> None:
    """Draw one dealer-gamma snapshot by strike, with the spot and the flip marked."""
    flip = latest["gamma_flip"]
    st.caption(
        f"Dealer gamma at {latest['ts_ny']:%H:%M} (dealers long calls, short puts; $ per 1% move): "
        f"net {latest['net_gex'] / 1e6:,.1f}M, spot {latest['spot']:.2f}, "
        + (f"gamma flip {flip:.2f}" if flip is not None else "no flip within the searched range")
    )
    by_strike = go.Figure(
        go.Bar(
            x=latest["strikes"],
            y=latest["net_gex_by_strike"],
            name="net GEX by strike",
            marker_color=["#2ca02c" if v >= 0 else "#d62728" for v in latest["net_gex_by_strike"]],
        )
    )
    by_strike.add_vline(x=latest["spot"], line_dash="dash", annotation_text="spot")
    if flip is not None:
        by_strike.add_vline(x=flip, line_dash="dot", line_color="#2ca02c", annotation_text="flip")
    by_strike.update_layout(
        height=280, margin=MARGIN, xaxis_title="strike", yaxis_title="net GEX ($)"
    )
    st.plotly_chart(by_strike, width="stretch", key=key)


def market_tide(view: View, ticker: str, key: str) -> None:
    """Draw the market tide (cumulative net premium, bullish minus bearish, through the view's
    window) with its totals; with a ``ticker``, that underlying's tide beside the market's."""
    frame = load_day("market_tide", view.day)
    if frame is None or frame.is_empty():
        return
    t = pl.col("ts_ny").dt.time()
    frame = frame.filter((t >= view.start) & (t <= view.end))
    market = frame.filter(pl.col("underlying") == MARKET)
    lines = [market.with_columns(pl.lit("market").alias("scope"))]
    if ticker:
        lines.append(
            frame.filter(pl.col("underlying") == ticker).with_columns(pl.lit(ticker).alias("scope"))
        )
    series = (
        pl.concat(lines)
        .sort("scope", "ts")
        .with_columns(pl.col("net_premium").cum_sum().over("scope").alias("cumulative_net_premium"))
    )
    st.subheader("Market tide")
    calls, puts = float(market["call_premium"].sum() or 0), float(market["put_premium"].sum() or 0)
    total = {
        c: float(market[c].sum() or 0)
        for c in ("net_premium", "bullish_premium", "bearish_premium")
    }
    m1, m2, m3 = st.columns(3)
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
        labels={"ts_ny": "New York time", "cumulative_net_premium": "net premium ($)"},
    )
    fig.update_layout(margin=MARGIN, legend={"orientation": "h"})
    st.plotly_chart(fig, width="stretch", key=key)
    st.caption(
        "Calls bought and puts sold minus calls sold and puts bought; mid, unplaced, "
        "multi-leg and cancelled prints carry no direction and are left out."
    )
