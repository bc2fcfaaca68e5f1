"""Pipeline health: latest landing per stream, lag, quarantine, table versions."""

from __future__ import annotations

import time

import polars as pl
import streamlit as st

from dashboards.data import current_lake, load_day, stream_stats
from dashboards.state import open_page
from dashboards.tables import show
from lake.quarantine import with_resolution
from lake.read import table_version

view = open_page("Pipeline health")

STREAMS = ("option_trades", "option_quotes", "equity_trades", "equity_quotes")
DERIVED = (
    "option_prints",
    "flow_packets",
    "structures",
    "classifier_hits",
    "alerts",
    "equity_prints",
    "equity_candles",
    "dark_inferences",
    "market_tide",
    "packet_positioning",
    "alert_outcomes",
    "signal_accuracy",
    "gamma_exposure",
    "contract_volume",
)


@st.fragment(run_every=view.refresh_seconds)
def health() -> None:
    lake = current_lake()
    rows = []
    now_ns = time.time_ns()
    for stream in STREAMS:
        stats = stream_stats(stream, view.day)
        latest = stats.get("latest_recv_ns")
        rows.append(
            {
                "stream": stream,
                "rows": stats["rows"],
                "latest event (NY)": None
                if stats.get("latest_event_ns") is None
                else pl.from_epoch(pl.Series([stats["latest_event_ns"]]), time_unit="ns")
                .dt.replace_time_zone("UTC")
                .dt.convert_time_zone("America/New_York")[0],
                "receive lag (ms, p50, last minute)": stats.get("recv_lag_ms_p50"),
                "age of latest (s)": None if latest is None else round((now_ns - latest) / 1e9, 1),
                "version": table_version(lake, stream),
            }
        )
    st.subheader(f"Landing for {view.day}")
    show(pl.DataFrame(rows), "landing_health")
    st.subheader("Derived tables")
    show(
        pl.DataFrame([{"table": t, "rows": stream_stats(t, view.day, time_col=None)["rows"], "version": table_version(lake, t)} for t in DERIVED]),
        "derived_health",
    )  # fmt: skip
    checks = load_day("asset_checks", view.day)
    st.subheader("Asset checks")
    if checks is None or checks.is_empty():
        st.info("No asset check has run for this day yet.")
    else:
        failed = checks.filter(~pl.col("passed"))
        if failed.height:
            st.error(
                f"{failed.height} asset check(s) failing: "
                + ", ".join(failed["check_key"].to_list())
            )
        else:
            st.success(f"All {checks.height} asset checks passed.")
        show(
            checks.select(
                "asset",
                "check_name",
                "passed",
                "metadata",
                pl.from_epoch("checked_ns", time_unit="ns").alias("checked (UTC)"),
            ).sort("asset", "check_name"),
            "asset_checks",
        )
    quarantine = load_day("quarantine", view.day)
    st.subheader("Quarantine")
    if quarantine is None or quarantine.is_empty():
        st.success("Nothing quarantined for this day.")
    else:
        # Rows landed since (a file fixed and ingested again) are resolved, not outstanding.
        quarantine = with_resolution(lake, quarantine)
        show(
            quarantine.group_by("stream", "reason", "resolved")
            .len()
            .sort("resolved", "len", descending=[False, True]),
            "quarantine_counts",
        )


health()
