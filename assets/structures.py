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

from typing import Any

import dagster as dg
import polars as pl
from dagster import AssetExecutionContext

from assets.checks import all_exist, specs, unique
from orchestration.partitions import partition_date, trading_days
from orchestration.resources import LakeResource, ThresholdsResource

MAX_LEGS = 4
STRUCTURE_COLUMNS = [
    "structure_id", "date", "underlying", "kind", "start_ts", "end_ts", "n_legs", "packet_ids",
    "contracts", "net_premium", "gross_premium", "expiries", "strikes", "rights",
]  # fmt: skip


def find_structures(
    packets: pl.LazyFrame, open_interest: pl.LazyFrame, params: dict[str, Any]
) -> pl.LazyFrame:
    """Return the structures among one day's packets.

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
    window_ns = int(params["window_ms"]) * 1_000_000
    legs = (
        packets.filter(~pl.col("complex") & (pl.col("size") >= int(params["min_leg_size"])))
        .join(open_interest.select("contract", "open_interest"), on="contract", how="left")
        .sort("underlying", "start_ts", "packet_id")
        .with_columns(
            (pl.col("end_ts").cum_max().over("underlying")).alias("_reach"),
        )
        .with_columns(
            # A packet opens a new group when it starts beyond every earlier packet's end + window.
            (pl.col("start_ts") > pl.col("_reach").shift(1).over("underlying") + window_ns)
            .fill_null(True)
            .alias("_new")
        )
        .with_columns(pl.col("_new").cum_sum().over("underlying").alias("_g"))
    )
    signed = (
        pl.when(pl.col("side") == "buy")
        .then(pl.col("premium"))
        .when(pl.col("side") == "sell")
        .then(-pl.col("premium"))
        .otherwise(0.0)
    )
    groups = legs.group_by("underlying", "_g").agg(
        pl.col("date").first(),
        pl.col("start_ts").min(),
        pl.col("end_ts").max(),
        pl.len().alias("n_legs"),
        pl.col("contract").n_unique().alias("_n_contracts"),
        pl.col("packet_id"),
        pl.col("contract"),
        signed.sum().alias("net_premium"),
        pl.col("premium").sum().alias("gross_premium"),
        pl.col("expiry").unique().sort().alias("expiries"),
        pl.col("strike").unique().sort().alias("strikes"),
        pl.col("right").unique().sort().alias("rights"),
        (pl.col("size") > pl.col("open_interest")).fill_null(False).all().alias("_all_open"),
        pl.col("size").min().alias("_min_size"),
        pl.col("size").max().alias("_max_size"),
        (pl.col("size") % pl.col("size").min()).max().alias("_size_remainder"),
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
        groups.filter(
            (pl.col("n_legs") >= 2)
            & (pl.col("n_legs") <= MAX_LEGS)
            & (pl.col("_n_contracts") == pl.col("n_legs"))
            & (pl.col("_max_size") <= pl.col("_min_size") * int(params["max_leg_size_ratio"]))
            & (pl.col("_size_remainder") == 0)
        )
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
    check_specs=specs("structures", ["structure_id_unique", "packets_exist"]),
    deps=["flow_packets", "option_open_interest"],
    description="Multi-leg structures (vertical, straddle, strangle, ladder, roll, calendar).",
)
def structures(
    context: AssetExecutionContext, lake: LakeResource, thresholds: ThresholdsResource
) -> dg.MaterializeResult:
    """Find one day's structures and overwrite that partition."""
    day = partition_date(context.partition_key)
    packets = lake.require_day("flow_packets", day)
    oi = lake.scan_day("option_open_interest", day)
    found = find_structures(packets, oi, thresholds.load().section("structures")).collect()
    known = packets.select("packet_id").collect().get_column("packet_id")
    checks = [unique(found, "structure_id"), all_exist("packets_exist", found["packet_ids"], known)]
    return lake.overwrite("structures", found, day, checks)
