"""``structures``: multi-leg trades recognised across packets of one underlying.

DESIGN.md §3 rule 6. Single-leg packets of one underlying whose windows overlap within
``window_ms`` form a candidate group (overlap chains: a packet starting within the window
of the group's latest end joins it). A group of 2-4 packets on distinct contracts is a
structure when its legs match a known shape:

- one expiry, two rights, one strike: straddle; two rights, >= 2 strikes: strangle;
- one expiry, one right, two strikes: vertical; >= 3 strikes: ladder;
- one right, two expiries: roll, or calendar when both legs open new positions (the leg's
  size exceeds the contract's start-of-day open interest; unknown OI never counts as open).

Only packets of at least ``min_leg_size`` contracts are legs, and a structure's leg sizes
must be whole multiples of the smallest within ``max_leg_size_ratio`` (1x1, 1x2, 1x3):
a real multi-leg order trades in such ratios, while unrelated small prints that happen to
meet in a busy book do not. Busier groups (five or more legs in one window) are left as
single legs: at that density overlapping packets are more likely unrelated than one order.
"""

# No `from __future__ import annotations` here: Dagster inspects the `context` annotation at
# definition time and does not resolve string annotations.

import datetime as dt
from typing import Any

import dagster as dg
import numpy as np
import polars as pl
from dagster import AssetExecutionContext

from adapters.calendar import to_ns
from assets.checks import all_exist, specs, unique
from assets.flow_packets import window_ns
from assets.money import exact_sum
from assets.ordering import KEY_LIMIT, group_starts, instrument_codes, order_by_code_time
from assets.tail import ALERT_PATH, plan_for
from orchestration.partitions import partition_date, trading_days
from orchestration.resources import LakeResource, ThresholdsResource

MAX_LEGS = 4
STRUCTURE_COLUMNS = [
    "structure_id", "date", "underlying", "kind", "start_ts", "end_ts", "n_legs", "packet_ids",
    "contracts", "net_premium", "gross_premium", "expiries", "strikes", "rights",
]  # fmt: skip


def leg_candidates(packets: pl.LazyFrame, params: dict[str, Any]) -> pl.LazyFrame:
    """Return the packets that may be legs: single-leg, at least ``min_leg_size``."""
    return packets.filter(~pl.col("complex") & (pl.col("size") >= int(params["min_leg_size"])))


#: The leg columns a structure is built from (and ``complex``, which makes a leg).
LEG_COLUMNS = [
    "date", "underlying", "contract", "packet_id", "start_ts", "end_ts", "side", "premium",
    "size", "expiry", "strike", "right", "complex",
]  # fmt: skip


def read_legs(packets: pl.LazyFrame, params: dict[str, Any]) -> pl.DataFrame:
    """Return the packets that may be legs (:func:`leg_candidates`), their leg columns only.

    Read once: the asset builds the structures from them (:func:`structures_of_legs`) and
    checks the structures' packets against them (a leg is a packet; a second read of every
    packet id took 0.4 s on a 10M-print day).
    """
    return leg_candidates(packets, params).select(LEG_COLUMNS).collect()


def leg_groups(legs: pl.DataFrame, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Return the legs' order by (underlying, start_ts, packet_id) and, in that order, the
    group each leg falls in.

    A leg opens a new group when it starts beyond every earlier leg's end of its underlying
    + ``window_ms``. Only the keys are ordered, not the legs (2.4M on a 10M-print day):
    each caller gathers the legs it keeps. Underlyings come in no set order of their names.

    Returns
    -------
    tuple[numpy.ndarray, numpy.ndarray]
        Row numbers of ``legs`` (int64) and group numbers from 0, non-decreasing (each
        group is one underlying's).
    """
    window_ns = int(params["window_ms"]) * 1_000_000
    order, uid = order_by_code_time(legs, instrument_codes("underlying"), "start_ts", "packet_id")
    if len(order) == 0:
        return order, uid
    start = legs.get_column("start_ts").to_numpy()[order]
    end = legs.get_column("end_ts").to_numpy()[order]
    # The latest end so far within each underlying, for all at once: each underlying's ends
    # are lifted above every earlier underlying's by its position x the day's span, so one
    # running maximum never carries across underlyings.
    lo = int(start.min())
    span = max(int(end.max()), int(start.max())) - lo + 1
    first = group_starts(uid)
    ordinal = np.cumsum(first) - 1
    if int(ordinal[-1]) * span >= KEY_LIMIT:
        raise ValueError(
            f"structures: {ordinal[-1] + 1} underlyings over {span} ns do not fit one key"
        )
    lift = ordinal * span
    reach = np.maximum.accumulate(lift + (end - lo)) - lift + lo
    opens = first.copy()
    opens[1:] |= start[1:] > reach[:-1] + window_ns
    return order, np.cumsum(opens) - 1


def flag_reach_ns(params: dict[str, Any], packet_window_ns: int) -> int:
    """Return how far back a leg's group flag looks: packet window + structure window."""
    return packet_window_ns + int(params["window_ms"]) * 1_000_000 + 1


def restart(
    packets: pl.LazyFrame,
    since_ns: int,
    params: dict[str, Any],
    packet_window_ns: int,
    floor_ns: int,
) -> int:
    """Return the earliest start of a group that packets from ``since_ns`` on may change.

    A leg's group flag depends only on legs that started at most ``reach`` = packet window
    + structure window before it (a packet ends within one packet window of its start), so
    flags computed from legs read from ``lo`` are exact from ``lo + reach``. Only legs from
    ``since - reach`` can be joined by later ones; the group open there started at the last
    flag at or before them, which must be in the exact zone: the read goes further back
    (x4) until it is, at worst to ``floor_ns`` (nothing is earlier: every flag is exact).
    """
    reach = flag_reach_ns(params, packet_window_ns)
    span = 4 * reach
    while True:
        lo = max(since_ns - span, floor_ns)
        read = (
            leg_candidates(packets, params)
            .filter(pl.col("start_ts").is_between(lo, since_ns, closed="left"))
            .select("underlying", "start_ts", "end_ts", "packet_id")
            .collect()
        )
        order, group = leg_groups(read, params)
        legs = (
            read[pl.Series(order)]
            .lazy()
            .with_columns(
                pl.Series("_new", group_starts(group)),
                ((pl.col("start_ts") >= lo + reach) | (lo == floor_ns)).alias("_exact"),
            )
            .group_by("underlying")
            .agg(
                (pl.col("start_ts").max() >= since_ns - reach).alias("_open"),
                pl.col("start_ts").filter(pl.col("_new") & pl.col("_exact")).max().alias("_start"),
            )
            .filter(pl.col("_open"))
            .collect()
        )
        if legs.is_empty():
            return since_ns
        if legs.get_column("_start").null_count() == 0:
            return min(since_ns, int(legs.get_column("_start").min()))
        span *= 4


def _in_ratio_groups(group: np.ndarray, size: np.ndarray, max_ratio: int) -> np.ndarray:
    """Return the mask of legs in groups of 2 to ``MAX_LEGS`` legs whose sizes are whole
    multiples of the group's smallest, at most ``max_ratio`` times it.

    ``group`` numbers the legs' groups (equal numbers contiguous), ``size`` their sizes in
    the same order. A smallest size of 0 divides nothing: such a group is never kept.
    """
    if len(group) == 0:
        return np.zeros(0, dtype=bool)
    first = np.flatnonzero(group_starts(group))
    n_legs = np.diff(np.r_[first, len(group)])
    smallest = np.minimum.reduceat(size, first)
    largest = np.maximum.reduceat(size, first)
    divisor = np.maximum(smallest, 1)[group]
    whole = np.maximum.reduceat(size % divisor, first) == 0
    keep = (n_legs >= 2) & (n_legs <= MAX_LEGS) & (smallest > 0) & whole
    keep &= largest <= smallest * max_ratio
    return keep[group]


def find_structures(
    packets: pl.LazyFrame, open_interest: pl.LazyFrame, params: dict[str, Any]
) -> pl.LazyFrame:
    """Return the structures among one day's packets (:func:`read_legs`, then
    :func:`structures_of_legs`).

    Parameters
    ----------
    packets
        ``flow_packets`` rows of one day; complex packets are ignored (their legs are
        already known to be one order).
    open_interest
        ``option_open_interest`` rows (contract, open_interest) of the day; may be empty.
    params
        ``window_ms``, ``min_leg_size``, ``max_leg_size_ratio``.

    Returns
    -------
    pl.LazyFrame
        One row per structure: kind, legs (``packet_ids``, ``contracts``), ``net_premium``
        (bought legs positive, sold negative, unsided zero) and ``gross_premium``.
    """
    return structures_of_legs(read_legs(packets, params), open_interest, params)


def structures_of_legs(
    legs: pl.DataFrame, open_interest: pl.LazyFrame, params: dict[str, Any]
) -> pl.LazyFrame:
    """Return the structures of ``legs`` (:func:`read_legs`), as :func:`find_structures`."""
    order, group = leg_groups(legs, params)
    # Most groups are one packet alone, and most others have legs of sizes no order would
    # trade together: only the legs of groups of 2 to MAX_LEGS packets in whole ratios
    # are gathered and aggregated, and only they look up their open interest.
    kept = _in_ratio_groups(
        group, legs.get_column("size").to_numpy()[order], int(params["max_leg_size_ratio"])
    )
    signed = (
        pl.when(pl.col("side") == "buy")
        .then(pl.col("premium"))
        .when(pl.col("side") == "sell")
        .then(-pl.col("premium"))
        .otherwise(0.0)
    )
    groups = (
        legs[pl.Series(order[kept])]
        .lazy()
        .with_columns(pl.Series("_g", group[kept]))
        # The legs' order kept: a group's premiums are summed in (start_ts, packet_id)
        # order, so the sums are the same bits on every run.
        .join(
            open_interest.select("contract", "open_interest"),
            on="contract",
            how="left",
            maintain_order="left",
        )
        .group_by("_g")
        .agg(
            pl.col("date").first(),
            pl.col("underlying").first(),
            pl.col("start_ts").min(),
            pl.col("end_ts").max(),
            pl.len().alias("n_legs"),
            pl.col("contract").n_unique().alias("_n_contracts"),
            pl.col("packet_id"),
            pl.col("contract"),
            exact_sum(signed).alias("net_premium"),
            exact_sum(pl.col("premium")).alias("gross_premium"),
            pl.col("expiry").unique().sort().alias("expiries"),
            pl.col("strike").unique().sort().alias("strikes"),
            pl.col("right").unique().sort().alias("rights"),
            (pl.col("size") > pl.col("open_interest")).fill_null(False).all().alias("_all_open"),
        )
    )
    n_exp = pl.col("expiries").list.len()
    n_strike = pl.col("strikes").list.len()
    n_right = pl.col("rights").list.len()
    kind = (
        pl.when((n_exp == 1) & (n_right == 2) & (n_strike == 1))
        .then(pl.lit("straddle"))
        .when((n_exp == 1) & (n_right == 2) & (n_strike >= 2))
        .then(pl.lit("strangle"))
        .when((n_exp == 1) & (n_right == 1) & (n_strike == 2))
        .then(pl.lit("vertical"))
        .when((n_exp == 1) & (n_right == 1) & (n_strike >= 3))
        .then(pl.lit("ladder"))
        .when((n_exp == 2) & (n_right == 1) & pl.col("_all_open"))
        .then(pl.lit("calendar"))
        .when((n_exp == 2) & (n_right == 1))
        .then(pl.lit("roll"))
    )
    return (
        groups.filter(pl.col("_n_contracts") == pl.col("n_legs"))
        .with_columns(
            kind.alias("kind"),
            pl.col("packet_id").list.sort().alias("packet_ids"),
            pl.col("contract").list.sort().alias("contracts"),
        )
        .filter(pl.col("kind").is_not_null())
        .with_columns(
            pl.concat_str(pl.lit("S-"), pl.col("packet_ids").list.first()).alias("structure_id"),
            pl.col("n_legs").cast(pl.Int64),
        )
        .select(STRUCTURE_COLUMNS)
        .sort("underlying", "start_ts", "structure_id")
    )


@dg.asset(
    group_name="options",
    partitions_def=trading_days,
    op_tags=ALERT_PATH,
    check_specs=specs("structures", ["structure_id_unique", "packets_exist"]),
    deps=["flow_packets", "option_open_interest"],
    description="Multi-leg structures (vertical, straddle, strangle, ladder, roll, calendar).",
)
def structures(
    context: AssetExecutionContext, lake: LakeResource, thresholds: ThresholdsResource
) -> dg.MaterializeResult:
    """Find one day's structures and overwrite that partition (a live run: its tail)."""
    lake = lake.scoped_to(context)
    day = partition_date(context.partition_key)
    plan = plan_for(context, lake.has("structures"), ("option",))
    packets = lake.require_day("flow_packets", day)
    oi = lake.scan_day("option_open_interest", day)
    params = thresholds.load().section("structures")
    since: int | None = None
    if plan.since_ns is not None:
        since = structures_since(packets, plan.since_ns, day, thresholds)
        # Flags are exact one reach after the read starts: read from there, keep the groups
        # that start at or after the restart.
        packet_window = window_ns(thresholds.load().section("packets"))
        packets = packets.filter(pl.col("start_ts") >= since - flag_reach_ns(params, packet_window))
    legs = read_legs(packets, params)
    found = structures_of_legs(legs, oi, params)
    if since is not None:
        found = found.filter(pl.col("start_ts") >= since)
    found = found.collect()
    checks = [
        unique(found, "structure_id"),
        all_exist("packets_exist", found["packet_ids"], legs.get_column("packet_id")),
    ]
    return lake.overwrite("structures", found, day, checks, clock="start_ts", since_ns=since)


def structures_since(
    packets: pl.LazyFrame, option_since_ns: int, day: dt.date, thresholds: ThresholdsResource
) -> int:
    """Return where a live run's structures tail starts: the start of the earliest group
    that the packets rebuilt from ``option_since_ns`` (one packet window earlier) can change."""
    th = thresholds.load()
    packet_window = window_ns(th.section("packets"))
    floor = to_ns(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC))
    return restart(
        packets, option_since_ns - packet_window, th.section("structures"), packet_window, floor
    )
