"""``flow_packets``: prints of one contract within ``cluster_window_ms`` of the packet's first.

DESIGN.md §3 rule 5. The assignment is exact (a print joins the open packet when it is at
most the window after that packet's *first* print, not after the previous print) and
vectorised: an as-of join gives each print the first print beyond its window ("next
start if this one starts a packet"), and the starts are found by following those links
from each contract's first print. The loop runs once per packet of the busiest contract,
each step over all contracts at once; no Python loop touches a row.
"""

# No `from __future__ import annotations` here: Dagster inspects the `context` annotation at
# definition time and does not resolve string annotations.

from typing import Any

import dagster as dg
import numpy as np
import polars as pl
from dagster import AssetExecutionContext

from assets.checks import all_exist, in_unit_interval, specs, unique
from assets.nbbo import PLACEMENTS
from assets.ordering import first_at_or_after, instrument_ids, sort_by_instrument_time
from assets.tail import ALERT_PATH, drop_held, held_until, plan_for
from orchestration.partitions import partition_date, trading_days
from orchestration.resources import LakeResource, ThresholdsResource

#: Packets of complex (multi-leg / stock-option) prints: never sweeps, never directional.
COMPLEX_KIND = "complex"
#: The ``option_prints`` columns a packet is made of (the rest is never read).
PRINT_COLUMNS = [
    "date", "contract", "underlying", "expiry", "strike", "right", "multiplier", "complex",
    "ts_event", "seq", "exchange", "size", "premium", "price", "placement", "iso", "late",
    "auction_or_cross", "floor", "nbbo_bid", "nbbo_ask", "side", "event_id",
]  # fmt: skip


def packet_starts(group: np.ndarray, next_index: np.ndarray) -> np.ndarray:
    """Return a boolean mask of packet-starting rows.

    Parameters
    ----------
    group
        Group id per row, rows sorted by (group, ts); equal ids are contiguous.
    next_index
        Per row, the index of the first row of the same group more than the window
        after it, or ``len(group)`` when there is none.
    """
    n = len(group)
    starts = np.zeros(n, dtype=bool)
    if n == 0:
        return starts
    current = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    while current.size:
        starts[current] = True
        current = next_index[current]
        current = current[current < n]
    return starts


def chain_starts(rows: pl.DataFrame, ts: str, reach_ns: int) -> np.ndarray:
    """Return the mask of chain starts in ``rows`` (sorted by ``_grp``, ``ts``).

    A start reaches ``reach_ns``; the next start is the first row of its group at or after
    ``start + reach_ns``. The "next start" of every row comes from one ``searchsorted``
    (:func:`assets.ordering.first_at_or_after`), then :func:`packet_starts` follows the
    links. Used for packets (reach = window + 1 ns) and for dark-pool cooldowns
    (reach = cooldown).
    """
    group = rows.get_column("_grp").to_numpy()
    nxt = first_at_or_after(group, rows.get_column(ts).to_numpy(), reach_ns)
    return packet_starts(group, nxt)


def window_ns(params: dict[str, Any]) -> int:
    """Return the packet window (``cluster_window_ms``) in ns."""
    return int(params["cluster_window_ms"]) * 1_000_000


def burst_counts(
    packet: np.ndarray, offset_ns: np.ndarray, counted: np.ndarray, burst_ns: int, reach_ns: int
) -> np.ndarray:
    """Return, per row, how many counted rows of its packet lie at most ``burst_ns`` before it
    (itself included; 0 for a row not counted).

    Parameters
    ----------
    packet
        Packet number per row, non-decreasing (rows sorted by packet, then time).
    offset_ns
        Time of the row after its packet's first print, in ``[0, reach_ns)``.
    counted
        Rows that take part (repeat hitting is counted over non-floor prints).
    burst_ns
        The span of a burst.
    reach_ns
        Upper bound of ``offset_ns``: packet number and offset fold into one sorted int64
        key, spaced so that no burst reaches back into the previous packet.
    """
    out = np.zeros(len(packet), dtype=np.int64)
    rows = np.flatnonzero(counted)
    key = packet[rows].astype(np.int64) * (reach_ns + burst_ns + 1) + offset_ns[rows]
    out[rows] = np.arange(len(rows)) - np.searchsorted(key, key - burst_ns, side="left") + 1
    return out


def build_packets(prints: pl.LazyFrame, params: dict[str, Any]) -> pl.LazyFrame:
    """Return the FlowPackets of one day's ``option_prints``.

    Parameters
    ----------
    prints
        ``option_prints`` rows; only ``in_flow`` prints are packed. Complex prints are
        packed apart from single-leg ones (kind ``complex``).
    params
        ``cluster_window_ms``, ``sweep_min_count``, ``sweep_min_exchanges``,
        ``block_min_size``.

    Returns
    -------
    pl.LazyFrame
        One row per packet in the ``flow_packets`` schema, ordered by contract, start_ts.
    """
    rows = prints.filter(pl.col("in_flow")).select(PRINT_COLUMNS).collect()
    # One integer group per (contract, complex): the contract's position in sorted order,
    # so sorting by (group, ts, seq) is sorting by (contract, complex, ts, seq) without
    # comparing strings (DESIGN.md §8).
    names = rows.get_column("contract").unique().sort()
    rows = sort_by_instrument_time(
        rows.with_columns(
            (
                instrument_ids("contract", names).cast(pl.Int64) * 2
                + pl.col("complex").cast(pl.Int64)
            ).alias("_grp")
        ),
        "_grp", "ts_event", "seq", 2 * len(names),
    )  # fmt: skip
    # A print opens a packet when it is strictly beyond the open packet's window: w + 1 ns.
    starts = chain_starts(rows, "ts_event", window_ns(params) + 1)
    pkt = np.cumsum(starts) - 1
    # Packet numbers only grow down the rows: flagged sorted, the group-by below takes
    # each packet as a slice instead of hashing (16x faster on a 10M-print day).
    rows = rows.with_columns(pl.Series("_pkt", pkt).set_sorted())
    ts = rows.get_column("ts_event").to_numpy()
    first_ts = ts[np.flatnonzero(starts)]
    rows = rows.with_columns(
        pl.Series(
            "_burst",
            burst_counts(
                pkt,
                ts - first_ts[pkt],
                ~rows.get_column("floor").to_numpy(),
                int(params["burst_window_ms"]) * 1_000_000,
                window_ns(params) + 1,
            ),
        )
    )

    counts = [
        (p, (pl.col("placement") == p).sum().cast(pl.Int64).alias(f"n_{p.lower()}"))
        for p in PLACEMENTS
    ]
    packets = (
        rows.lazy()
        .group_by("_pkt", maintain_order=True)
        .agg(
            # Dates as their day numbers: first() of a Date column misses the sorted-slice
            # fast path (it alone took a third of the aggregation); cast back below.
            pl.col("date").to_physical().first(),
            pl.col("contract").first(),
            pl.col("underlying").first(),
            pl.col("expiry").to_physical().first(),
            pl.col("strike").first(),
            pl.col("right").first(),
            pl.col("multiplier").first(),
            pl.col("complex").first(),
            pl.col("ts_event").first().alias("start_ts"),
            pl.col("ts_event").last().alias("end_ts"),
            pl.len().cast(pl.Int64).alias("n_prints"),
            pl.col("exchange").n_unique().cast(pl.Int64).alias("n_exchanges"),
            pl.col("size").sum().alias("size"),
            pl.col("size").max().alias("max_print_size"),
            pl.col("premium").sum().alias("premium"),
            ((pl.col("price") * pl.col("size")).sum() / pl.col("size").sum()).alias("vwap"),
            *[expr for _, expr in counts],
            pl.col("iso").sum().cast(pl.Int64).alias("iso_count"),
            pl.col("late").any().alias("has_late"),
            pl.col("auction_or_cross").any().alias("has_auction_or_cross"),
            pl.col("floor").any().alias("has_floor"),
            pl.col("_burst").max().alias("max_burst"),
            (pl.col("nbbo_ask") - pl.col("nbbo_bid")).first().alias("spread"),
            pl.col("nbbo_bid").first().alias("nbbo_bid"),
            pl.col("nbbo_ask").first().alias("nbbo_ask"),
            pl.col("side").filter(pl.col("side") != "none").len().cast(pl.Int64).alias("_sided"),
            pl.col("event_id").alias("event_ids"),
            pl.col("event_id").first().alias("_first_id"),
        )
    )
    placed = pl.col("n_aa") + pl.col("n_a") + pl.col("n_mid") + pl.col("n_b") + pl.col("n_bb")
    directional = pl.col("n_aa") + pl.col("n_a") + pl.col("n_b") + pl.col("n_bb")
    return (
        packets.with_columns(
            pl.col("date").cast(pl.Date),
            pl.col("expiry").cast(pl.Date),
            pl.concat_str(
                pl.col("contract").str.replace_all(" ", ""), pl.lit("@"), pl.col("_first_id")
            ).alias("packet_id"),
            (placed / pl.col("n_prints")).alias("nbbo_coverage"),
            pl.when(directional > 0)
            .then((pl.col("n_aa") + pl.col("n_a")) / directional)
            .alias("buy_ratio"),
            pl.when(pl.col("complex"))
            .then(pl.lit(COMPLEX_KIND))
            .when(
                (pl.col("n_prints") >= int(params["sweep_min_count"]))
                & (pl.col("n_exchanges") >= int(params["sweep_min_exchanges"]))
            )
            .then(pl.lit("sweep"))
            .when(pl.col("max_print_size") >= int(params["block_min_size"]))
            .then(pl.lit("block"))
            .when((pl.col("n_prints") >= 2) & (pl.col("n_exchanges") == 1))
            .then(pl.lit("split"))
            .otherwise(pl.lit("single"))
            .alias("kind"),
        )
        .with_columns(
            pl.when(pl.col("complex") | pl.col("buy_ratio").is_null())
            .then(pl.lit("none"))
            .when(pl.col("buy_ratio") > 0.5)
            .then(pl.lit("buy"))
            .when(pl.col("buy_ratio") < 0.5)
            .then(pl.lit("sell"))
            .otherwise(pl.lit("mixed"))
            .alias("side")
        )
        .drop("_pkt", "_first_id", "_sided")
        .select(PACKET_COLUMNS)
    )


PACKET_COLUMNS = [
    "packet_id", "date", "contract", "underlying", "expiry", "strike", "right", "multiplier",
    "start_ts", "end_ts", "kind", "complex", "side", "n_prints", "n_exchanges", "size",
    "max_print_size", "premium", "vwap", "n_aa", "n_a", "n_mid", "n_b", "n_bb", "n_none",
    "nbbo_coverage", "buy_ratio", "iso_count", "has_late", "has_auction_or_cross", "has_floor",
    "max_burst", "spread", "nbbo_bid", "nbbo_ask", "event_ids",
]  # fmt: skip


@dg.asset(
    group_name="options",
    partitions_def=trading_days,
    op_tags=ALERT_PATH,
    check_specs=specs(
        "flow_packets",
        ["packet_id_unique", "prints_exist", "ratios_in_unit_interval"],
        blocking=True,
    ),
    deps=["option_prints"],
    description="FlowPackets: prints of one contract within the cluster window of the first.",
)
def flow_packets(
    context: AssetExecutionContext, lake: LakeResource, thresholds: ThresholdsResource
) -> dg.MaterializeResult:
    """Build one day's FlowPackets from ``option_prints`` and overwrite that partition.

    A live run rebuilds the packets from one window before its tail (a packet that started
    there may take prints of the tail); the prints still inside a stored packet that
    started earlier (the open packet, carried state) stay with it.
    """
    lake = lake.scoped_to(context)
    day = partition_date(context.partition_key)
    params = thresholds.load().section("packets")
    plan = plan_for(context, lake.has("flow_packets"), ("option",))
    prints = lake.require_day("option_prints", day)
    since: int | None = None
    if plan.since_ns is not None:
        since = plan.since_ns - window_ns(params)
        held = held_until(
            lake.require_day("flow_packets", day), ["contract", "complex"], "start_ts",
            window_ns(params) + 1, since,
        )  # fmt: skip
        prints = drop_held(
            prints.filter(pl.col("ts_event") >= since), held, ["contract", "complex"], "ts_event"
        )
    packets = build_packets(prints, params).collect()
    known = prints.select("event_id").collect().get_column("event_id")
    checks = [
        unique(packets, "packet_id"),
        all_exist("prints_exist", packets["event_ids"], known),
        in_unit_interval(packets, "nbbo_coverage", "buy_ratio"),
    ]
    return lake.overwrite("flow_packets", packets, day, checks, clock="start_ts", since_ns=since)
