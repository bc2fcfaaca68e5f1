"""Ticker: one symbol's day on one page: summary, options tape, alerts, structures, dark
pool and chart."""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import streamlit as st

from dashboards.charts import price_chart
from dashboards.data import default_config_version, flow_day, load_day
from dashboards.evidence import packets_and_prints, show_evidence
from dashboards.filters import in_view, money, signed_money
from dashboards.flowview import packet_table, with_spot
from dashboards.params import publish, seeded
from dashboards.state import open_page
from dashboards.structures import with_legs
from dashboards.tables import show

view = open_page("Ticker")

candles = load_day("equity_candles", view.day, columns=("symbol",), only=("interval", "1m"))
symbols = [] if candles is None else sorted(candles.get_column("symbol").unique().to_list())
if not symbols:
    st.info(f"No equity data for {view.day}: run `flowlake build --date {view.day}`.")
    st.stop()
default = view.ticker if view.ticker in symbols else symbols[0]
symbol: str = st.selectbox("Symbol", symbols, key=seeded("symbol", default, symbols))
publish({"symbol": default})
# Every panel below shows this one symbol; the sidebar's time window still applies.
one = replace(view, ticker=symbol)


def summary() -> None:
    """Price, the day's call and put premium, net tide, the gamma flip, unusual contracts."""
    bars = load_day("equity_candles", view.day, only=("symbol", symbol))
    bars = (
        None
        if bars is None
        else in_view(bars.filter(pl.col("interval") == "1m"), one, "symbol", "ts_ny").sort("ts")
    )
    tide = load_day("market_tide", view.day, only=("underlying", symbol))
    tide = None if tide is None else in_view(tide, one, "underlying", "ts_ny")
    gamma = load_day("gamma_exposure", view.day, only=("underlying", symbol))
    volume = load_day(
        "contract_volume", view.day, columns=("underlying", "unusual"), only=("underlying", symbol)
    )
    cols = st.columns(5)
    if bars is not None and bars.height:
        last, first = float(bars["close"][-1]), float(bars["open"][0])
        cols[0].metric(
            "Price",
            f"{last:,.2f}",
            f"{(last / first - 1) * 100:+.2f}%",
            help="Last 1-minute close in the window; change from the window's first open.",
        )
    else:
        cols[0].metric("Price", "n/a")
    if tide is not None and tide.height:
        calls, puts = float(tide["call_premium"].sum()), float(tide["put_premium"].sum())
        cols[1].metric("Call / put premium", f"{money(calls)} / {money(puts)}")
        cols[2].metric(
            "Net tide",
            signed_money(float(tide["net_premium"].sum())),
            help="Bullish minus bearish premium (calls bought and puts sold, minus calls sold and puts bought).",
        )
    else:
        cols[1].metric("Call / put premium", "n/a")
        cols[2].metric("Net tide", "n/a")
    flip = (
        None
        if gamma is None or gamma.is_empty()
        else gamma.sort("ts").row(-1, named=True)["gamma_flip"]
    )
    cols[3].metric(
        "Gamma flip",
        "n/a" if flip is None else f"{flip:,.2f}",
        help="The spot at which dealers' net gamma changes sign, from the latest snapshot.",
    )
    unusual = 0 if volume is None else volume.filter(pl.col("unusual")).height
    cols[4].metric("Unusual contracts", f"{unusual:,}", help="Contracts trading far above their own average volume today.")  # fmt: skip


@st.fragment(run_every=view.refresh_seconds)
def ticker_page() -> None:
    summary()
    tape, alerts_tab, structures_tab, dark_tab, chart_tab = st.tabs(
        ["Options tape", "Alerts", "Structures", "Dark pool", "Chart"]
    )
    with tape:
        day = flow_day(view.day)
        if day is not None:
            mine = with_spot(in_view(day.packets, one, "underlying", "start_ts_ny"), day.ends)
            mine = mine.sort("start_ts", descending=True)
            show(packet_table(mine), "ticker_tape", height=360, limit=2_000)
    with alerts_tab:
        alerts = load_day("alerts", view.day, only=("underlying", symbol))
        if alerts is not None:
            alerts = in_view(alerts, one, "underlying", "ts_ny").filter(
                pl.col("config_version") == default_config_version()
            )
            picked = show(
                alerts.sort("score", "alert_id", descending=[True, False]).select(
                    pl.col("ts_ny").dt.strftime("%H:%M:%S").alias("time"),
                    "contract",
                    "severity",
                    "direction",
                    pl.col("classifiers").list.join(", ").alias("classifiers"),
                    pl.col("score").round(1),
                    pl.col("premium").round(0),
                    "alert_id",
                ),
                "ticker_alerts",
                pick=True,
            )
            if picked is not None:
                alert = alerts.filter(pl.col("alert_id") == picked["alert_id"]).row(0, named=True)
                show_evidence(
                    *packets_and_prints(
                        view.day, alert["packet_ids"], int(alert["ts"]), int(alert["ts"])
                    ),
                    "ticker_evidence",
                )
    with structures_tab:
        structures = load_day("structures", view.day, only=("underlying", symbol))
        if structures is not None:
            rows = with_legs(
                in_view(structures, one, "underlying", "start_ts_ny").sort(
                    "start_ts", descending=True
                )
            )
            show(
                rows.select(
                    pl.col("start_ts_ny").dt.strftime("%H:%M:%S%.3f").alias("time"),
                    "kind",
                    "direction",
                    "legs",
                    pl.col("net_premium").round(0),
                    pl.col("gross_premium").round(0),
                    "structure_id",
                ),
                "ticker_structures",
            )
    with dark_tab:
        inferences = load_day("dark_inferences", view.day, only=("symbol", symbol))
        if inferences is not None and inferences.height:
            show(
                in_view(inferences, one, "symbol", "ts_ny").select(
                    pl.col("ts_ny").dt.strftime("%H:%M:%S").alias("time"),
                    "kind",
                    "direction",
                    "shares",
                    pl.col("notional").round(0),
                    "confidence",
                    "explanation",
                ),
                "ticker_inferences",
            )
        prints = load_day("equity_prints", view.day, only=("symbol", symbol))
        if prints is not None:
            off = in_view(prints.filter(pl.col("off_exchange")), one, "symbol", "ts_event_ny")
            st.caption("Largest off-exchange prints")
            show(
                off.sort("notional", descending=True)
                .head(200)
                .select(
                    pl.col("ts_event_ny").dt.strftime("%H:%M:%S%.3f").alias("time"),
                    "price",
                    "size",
                    pl.col("notional").round(0),
                    "placement",
                    "nbbo_bid",
                    "nbbo_ask",
                    "conditions",
                    "event_id",
                ),
                "ticker_dark_prints",
            )
    with chart_tab:
        price_chart(view, symbol, "1m", key="ticker_chart")


ticker_page()
