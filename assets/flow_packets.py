"""``flow_packets``: prints of one contract within ``cluster_window_ms`` of the packet's first.

docs/rules.md rule 5. The assignment is exact (a print joins the open packet when it is at
most the window after that packet's *first* print, not after the previous print) and
vectorised: one `searchsorted` gives each print the first print beyond its window ("next
start if this one starts a packet"), and the starts are found by following those links
from each contract's first print. The loop runs once per packet of the busiest contract,
each step over all contracts at once; no Python loop touches a row.

Only the int64 keys are sorted by contract. The rows are then taken packet by packet,
packets in time order, and every figure is a reduction over each packet's slice (numpy's
``reduceat``, in the rows' order) or a value of its first print: the packets come out in
the order the day is stored in, and no wide frame is sorted or grouped.
"""

# No `from __future__ import annotations` here: Dagster inspects the `context` annotation at
# definition time and does not resolve string annotations.

from typing import NamedTuple

import dagster as dg
import numpy as np
import polars as pl
import pyarrow as pa

from assets.checks import all_exist, in_unit_interval, unique
from assets.factory import DayRun, day_asset
from assets.nbbo import PLACEMENTS
from assets.ordering import by_instrument_time, first_at_or_after, group_starts, instrument_ids
from assets.tail import drop_held, held_until
from assets.thresholds import PacketRules

#: Packets of complex (multi-leg / stock-option) prints: never sweeps, never directional.
COMPLEX_KIND = "complex"
#: Bits of a print's flags (late, auction or cross, floor), OR-ed over a packet.
LATE, AUCTION_OR_CROSS, FLOOR = 1, 2, 4
#: The ``option_prints`` columns a packet is made of (the rest is never read).
PRINT_COLUMNS = [
    "date", "contract", "underlying", "expiry", "strike", "right", "multiplier", "complex",
    "ts_event", "seq", "exchange", "size", "premium", "price", "placement", "iso", "late",
    "auction_or_cross", "floor", "nbbo_bid", "nbbo_ask", "event_id", "aggressor_eligible",
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
    current = np.flatnonzero(group_starts(group))
    while current.size:
        starts[current] = True
        current = next_index[current]
        current = current[current < n]
    return starts


def chain_starts(group: np.ndarray, ts: np.ndarray, reach_ns: int) -> np.ndarray:
    """Return the mask of chain starts of rows sorted by (``group``, ``ts``).

    A start reaches ``reach_ns``; the next start is the first row of its group at or after
    ``start + reach_ns``. The "next start" of every row comes from one ``searchsorted``
    (:func:`assets.ordering.first_at_or_after`), then :func:`packet_starts` follows the
    links. Used for packets (reach = window + 1 ns) and for dark-pool cooldowns
    (reach = cooldown).
    """
    return packet_starts(group, first_at_or_after(group, ts, reach_ns))


def window_ns(params: PacketRules) -> int:
    """Return the packet window (``cluster_window_ms``) in ns."""
    return int(params.cluster_window_ms) * 1_000_000


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
    # In place where it can be: on a 10M-print day each new array is 80 MB of fresh pages.
    key = packet[rows].astype(np.int64, copy=False)
    key *= reach_ns + burst_ns + 1
    key += offset_ns[rows]
    first = np.searchsorted(key, key - burst_ns, side="left")
    np.subtract(np.arange(1, len(rows) + 1), first, out=first)
    out[rows] = first
    return out


class Packing(NamedTuple):
    """Prints grouped into packets, packets in (start_ts, contract, complex) order."""

    #: Row numbers of the prints, packet by packet, each packet's rows in (ts, seq) order.
    index: np.ndarray
    #: Packet ``k`` is ``index[bounds[k]:bounds[k + 1]]``.
    bounds: np.ndarray
    #: The day's contracts, sorted: a packet's contract is ``names[contract_id[k]]``.
    names: pl.Series
    #: Per packet, the position of its contract in ``names``.
    contract_id: np.ndarray


def _in_start_order(
    first_rows: np.ndarray, start: np.ndarray, group: np.ndarray, n_rows: int
) -> np.ndarray:
    """Return the packets' order by (``start``, ``group``).

    Packets are numbered as found (by group, then time); ``first_rows`` holds each one's
    first print's row number. The prints are stored in time order, ties by contract, so
    listing packets by first row is almost always the order wanted, in one pass and no
    sort; the order is checked, and sorted only when the day's rows were not so stored.
    """
    packet_at = np.full(n_rows, -1, dtype=np.int64)
    packet_at[first_rows] = np.arange(len(first_rows))
    order = packet_at[packet_at >= 0]
    d_start, d_group = np.diff(start[order]), np.diff(group[order])
    if np.all((d_start > 0) | ((d_start == 0) & (d_group > 0))):
        return order
    return (
        pl.DataFrame({"start": start, "group": group})
        .select(pl.arg_sort_by("start", "group"))
        .to_series()
        .to_numpy()
    )


def _packet_rows(rows: pl.DataFrame, reach_ns: int) -> Packing:
    """Return the rows of ``rows`` grouped into packets, packets in time order.

    Packets are found over the prints sorted by (contract, complex, ts, seq); only an
    int64 key is sorted, never the wide rows. Each packet's rows keep their (ts, seq)
    order; packets come by (start_ts, contract, complex).
    """
    # One integer group per (contract, complex): the contract's position in sorted order,
    # so sorting by (group, ts, seq) is sorting by (contract, complex, ts, seq) without
    # comparing strings (docs/stack.md).
    names = rows.get_column("contract").unique().sort()
    keys = rows.select(
        (
            instrument_ids("contract", names).cast(pl.Int64) * 2 + pl.col("complex").cast(pl.Int64)
        ).alias("_grp"),
        "ts_event",
        "seq",
    )
    ts = keys.get_column("ts_event")
    lo, hi = int(ts.min()), int(ts.max())  # type: ignore[arg-type]
    by_contract = (
        keys.select(
            pl.arg_sort_by(by_instrument_time("_grp", "ts_event", "seq", 2 * len(names), lo, hi))
        )
        .to_series()
        .to_numpy()
    )
    group = keys.get_column("_grp").to_numpy()[by_contract]
    times = ts.to_numpy()[by_contract]
    firsts = np.flatnonzero(chain_starts(group, times, reach_ns))
    lengths = np.diff(np.r_[firsts, len(times)])
    # A packet's rows stay together and in their order: the packets come out in the order
    # the day is stored in, with no sort of the rows.
    in_time = _in_start_order(by_contract[firsts], times[firsts], group[firsts], len(times))
    lengths = lengths[in_time]
    bounds = np.r_[0, np.cumsum(lengths)]
    at = np.repeat(firsts[in_time] - bounds[:-1], lengths) + np.arange(len(times))
    return Packing(by_contract[at], bounds, names, group[firsts[in_time]] // 2)


def _distinct_per_packet(
    values: pl.Series, index: np.ndarray, packet: np.ndarray, lengths: np.ndarray
) -> np.ndarray:
    """Return how many distinct ``values`` each packet has.

    ``values`` is a column of the day's rows; ``index`` lists its rows packet by packet
    (``packet`` numbers them, ``lengths`` counts each packet's rows). A one-print packet
    has one: only the rows of packets of several prints are looked at.
    """
    several = np.repeat(lengths > 1, lengths)
    taken = values.gather(index[several]).to_frame()
    codes = (
        taken.select(instrument_ids(values.name, taken.to_series().unique().sort()))
        .to_series()
        .to_numpy()
        .astype(np.int64)
    )
    width = int(codes.max(initial=0)) + 1
    pairs = np.unique(packet[several] * width + codes)
    return np.where(lengths > 1, np.bincount(pairs // width, minlength=len(lengths)), 1)


def _rows_at(frame: pl.DataFrame, at: np.ndarray) -> pl.DataFrame:
    """Return the rows of ``frame`` numbered ``at``, in that order.

    When ``at`` only increases (the packets' first prints when the day is stored in time
    order: the usual case) the rows are kept by a mask, not gathered (several times
    faster).
    """
    if np.all(at[1:] > at[:-1]):
        keep = np.zeros(frame.height, dtype=bool)
        keep[at] = True
        return frame.filter(pl.Series(keep))
    return frame[pl.Series(at)]


def build_packets(prints: pl.LazyFrame, params: PacketRules) -> pl.LazyFrame:
    """Return the FlowPackets of one day's ``option_prints``.

    Parameters
    ----------
    prints
        ``option_prints`` rows; only ``in_flow`` prints are packed. Complex prints are
        packed apart from single-leg ones (kind ``complex``).
    params
        ``cluster_window_ms``, ``sweep_min_count``, ``sweep_min_exchanges``,
        ``block_min_size``, ``burst_window_ms``.

    Returns
    -------
    pl.LazyFrame
        One row per packet in the ``flow_packets`` schema, ordered by start_ts, contract,
        complex (``start_ts`` flagged sorted).
    """
    rows = prints.filter(pl.col("in_flow")).select(PRINT_COLUMNS).collect()
    # A print opens a packet when it is strictly beyond the open packet's window: w + 1 ns.
    reach_ns = window_ns(params) + 1
    if rows.is_empty():
        empty = np.zeros(0, dtype=np.int64)
        names = pl.Series([], dtype=pl.String)
        packing = Packing(empty, np.zeros(1, dtype=np.int64), names, empty)
    else:
        packing = _packet_rows(rows, reach_ns)
    index, bounds = packing.index, packing.bounds
    heads, lengths = bounds[:-1], np.diff(bounds)
    # The ids' list is built from offsets, its values exported as one compact string
    # array: gathered string views would share the day's string buffers, which polars'
    # Parquet writer goes through for every list.
    event_ids = pl.from_arrow(
        pa.LargeListArray.from_arrays(
            pa.array(bounds, pa.int64()),
            rows.get_column("event_id")[pl.Series(index)].to_arrow(
                compat_level=pl.CompatLevel.oldest()
            ),
        )
    )
    # A packet's contract comes from the sorted names: its packet id (the contract without
    # spaces) is built once per contract, not once per packet.
    contract_id = pl.Series(packing.contract_id)
    heads_frame = _rows_at(
        rows.select(
            "date", "underlying", "expiry", "strike", "right", "multiplier", "complex",
            pl.col("ts_event").alias("start_ts"), "nbbo_bid", "nbbo_ask", "event_id",
        ),
        index[heads],
    ).select(
        pl.concat_str(
            packing.names.str.replace_all(" ", "", literal=True).gather(contract_id),
            pl.lit("@"),
            pl.col("event_id"),
        ).alias("packet_id"),
        pl.lit(packing.names).gather(contract_id).alias("contract"),
        pl.exclude("event_id"),
    )  # fmt: skip
    # Per-print figures, packet by packet; each packet's figure is a reduction over its
    # slice (numpy's reduceat: one pass, in the rows' order, for every packet at once).
    per_print = rows.select(
        "ts_event",
        "size",
        "premium",
        (pl.col("price") * pl.col("size")).alias("notional"),
        # Strict: a placement outside the known ones is an error, not an uncounted print.
        pl.col("placement").cast(pl.Enum(PLACEMENTS)).to_physical().alias("placement"),
        # Rule 4: the aggressor mix counts aggressor-eligible prints only (a late, out of
        # sequence, auction, floor or unknown-condition print says nothing of who crossed
        # the spread: it counts as NONE). Complex packets are never directional anyway.
        pl.when(pl.col("aggressor_eligible") | pl.col("complex"))
        .then(pl.col("placement"))
        .otherwise(pl.lit("NONE"))
        .cast(pl.Enum(PLACEMENTS))
        .to_physical()
        .alias("aggressor"),
        pl.col("iso").cast(pl.Int64),
        # The flags as bits of one byte: one OR-reduction gives a packet's three "has" flags.
        (
            pl.col("late").cast(pl.UInt8) * LATE
            | pl.col("auction_or_cross").cast(pl.UInt8) * AUCTION_OR_CROSS
            | pl.col("floor").cast(pl.UInt8) * FLOOR
        ).alias("flags"),
    )[pl.Series(index)]
    packet = np.repeat(np.arange(len(lengths)), lengths)
    n_exchanges = _distinct_per_packet(rows.get_column("exchange"), index, packet, lengths)
    # The day's prints are the widest frame here: gone before the figures are built, as
    # the per-print arrays are after (holding them all set the stage's peak).
    del rows
    column = {name: per_print.get_column(name).to_numpy() for name in per_print.columns}
    burst = burst_counts(
        packet,
        column["ts_event"] - np.repeat(column["ts_event"][heads], lengths),
        (column["flags"] & FLOOR) == 0,
        int(params.burst_window_ms) * 1_000_000,
        reach_ns,
    )
    size = np.add.reduceat(column["size"], heads)
    flags = np.bitwise_or.reduceat(column["flags"], heads)

    # Every placement count in one pass: a histogram of (placement, packet) pairs, one
    # contiguous row of counts per placement. The NBBO coverage counts every placed print;
    # the aggressor mix, the eligible ones.
    def histogram(codes: np.ndarray) -> np.ndarray:
        return np.bincount(
            codes.astype(np.int64) * len(lengths) + packet,
            minlength=len(PLACEMENTS) * len(lengths),
        ).reshape(len(PLACEMENTS), len(lengths))

    placed = histogram(column["aggressor"])
    unplaced = histogram(column["placement"])[PLACEMENTS.index("NONE")]
    figures = pl.DataFrame(
        {
            "end_ts": column["ts_event"][bounds[1:] - 1],
            "n_prints": lengths.astype(np.int64),
            "n_exchanges": n_exchanges.astype(np.int64),
            "size": size,
            "max_print_size": np.maximum.reduceat(column["size"], heads),
            "premium": np.add.reduceat(column["premium"], heads),
            "vwap": np.add.reduceat(column["notional"], heads) / size,
            **{f"n_{p.lower()}": placed[k] for k, p in enumerate(PLACEMENTS)},
            "_unplaced": unplaced,
            "iso_count": np.add.reduceat(column["iso"], heads),
            "has_late": (flags & LATE) > 0,
            "has_auction_or_cross": (flags & AUCTION_OR_CROSS) > 0,
            "has_floor": (flags & FLOOR) > 0,
            "max_burst": np.maximum.reduceat(burst, heads),
        }
    )
    del per_print, column, burst, placed, unplaced
    packets = pl.concat(
        [heads_frame, figures, pl.DataFrame({"event_ids": event_ids})], how="horizontal"
    )
    directional = pl.col("n_aa") + pl.col("n_a") + pl.col("n_b") + pl.col("n_bb")
    return (
        packets.lazy()
        .with_columns(
            pl.col("start_ts").set_sorted(),
            (pl.col("nbbo_ask") - pl.col("nbbo_bid")).alias("spread"),
            ((pl.col("n_prints") - pl.col("_unplaced")) / pl.col("n_prints")).alias(
                "nbbo_coverage"
            ),
            pl.when(directional > 0)
            .then((pl.col("n_aa") + pl.col("n_a")) / directional)
            .alias("buy_ratio"),
            pl.when(pl.col("complex"))
            .then(pl.lit(COMPLEX_KIND))
            .when(
                (pl.col("n_prints") >= int(params.sweep_min_count))
                & (pl.col("n_exchanges") >= int(params.sweep_min_exchanges))
            )
            .then(pl.lit("sweep"))
            .when(pl.col("max_print_size") >= int(params.block_min_size))
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
        .select(PACKET_COLUMNS)
    )


PACKET_COLUMNS = [
    "packet_id", "date", "contract", "underlying", "expiry", "strike", "right", "multiplier",
    "start_ts", "end_ts", "kind", "complex", "side", "n_prints", "n_exchanges", "size",
    "max_print_size", "premium", "vwap", "n_aa", "n_a", "n_mid", "n_b", "n_bb", "n_none",
    "nbbo_coverage", "buy_ratio", "iso_count", "has_late", "has_auction_or_cross", "has_floor",
    "max_burst", "spread", "nbbo_bid", "nbbo_ask", "event_ids",
]  # fmt: skip


@day_asset(
    "flow_packets",
    group="options",
    deps=["option_prints"],
    checks=["packet_id_unique", "prints_exist", "ratios_in_unit_interval"],
    description="FlowPackets: prints of one contract within the cluster window of the first.",
    alert_path=True,
    blocking=True,
)
def flow_packets(run: DayRun) -> dg.MaterializeResult:
    """Build one day's FlowPackets from ``option_prints`` and overwrite that partition.

    A live run rebuilds the packets from one window before its tail (a packet that started
    there may take prints of the tail); the prints still inside a stored packet that
    started earlier (the open packet, carried state) stay with it.
    """
    lake, day, th = run.lake, run.day, run.th
    params = th.packets
    plan = run.plan(("option",))
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
    return run.overwrite(packets, checks, clock="start_ts", since_ns=since)
