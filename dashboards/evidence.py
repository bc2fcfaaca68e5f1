"""Evidence: FlowPackets down to each print with the NBBO it was placed against.

The Alerts drawer and the Structures page both end here: a set of packet ids around a time.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from dashboards.data import load_day
from dashboards.tables import show

#: Packets of an alert or structure start within this many ns of its time (structures span
#: their window; the read is pushed down to the scan either way).
AROUND_NS = 10**9


def packets_and_prints(
    day: dt.date, packet_ids: list[str], start_ns: int, end_ns: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return the packets ``packet_ids`` (which start within ``[start_ns, end_ns]``, widened by
    :data:`AROUND_NS`) and their prints in time order; empty frames when none is stored."""
    packets = load_day(
        "flow_packets", day, window=("start_ts", start_ns - AROUND_NS, end_ns + AROUND_NS)
    )
    if packets is None:
        return pl.DataFrame(), pl.DataFrame()
    chosen = packets.filter(pl.col("packet_id").is_in(packet_ids))
    if chosen.is_empty():
        return chosen, pl.DataFrame()
    span = ("ts_event", int(chosen["start_ts"].min()), int(chosen["end_ts"].max()))
    prints = load_day("option_prints", day, window=span)
    if prints is None:
        return chosen, pl.DataFrame()
    event_ids = chosen.get_column("event_ids").explode().implode()
    return chosen, prints.filter(pl.col("event_id").is_in(event_ids)).sort("ts_event", "seq")


def show_evidence(packets: pl.DataFrame, prints: pl.DataFrame, key: str) -> None:
    """Draw the packets and each of their prints with its NBBO, placement and conditions."""
    if packets.is_empty():
        return
    show(
        packets.select("packet_id", "contract", "kind", "side", "n_prints", "n_exchanges", "size",
                       pl.col("premium").round(0), "nbbo_coverage", "buy_ratio"),
        f"{key}_packets",
    )  # fmt: skip
    if prints.is_empty():
        return
    show(
        prints.select(
            pl.col("ts_event_ny").dt.strftime("%H:%M:%S%.6f").alias("time"), "event_id", "contract", "exchange", "price",
            "size", "nbbo_bid", "nbbo_ask", pl.col("nbbo_age_ms").round(1), "placement", "side", "conditions",
        ),
        f"{key}_prints",
    )  # fmt: skip
