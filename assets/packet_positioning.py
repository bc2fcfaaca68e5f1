"""``packet_positioning``: does a packet open new positions? Golden sweeps.

With the contract's start-of-day open interest (``option_open_interest``, from the
vendor's statistics or the synthetic market), a packet is *likely opening* as
:mod:`assets.opening` defines it (its size exceeds the open interest minus the contract's
in-flow volume before its first print).
A *golden sweep* is a sweep of at least ``golden_min_premium`` that is likely opening.
``volume_to_oi`` is the contract's volume up to and including the packet over its open
interest; ``relative_volume`` is that volume over the contract's average daily volume of
its previous sessions (``avg_volume`` from ``contract_volume``; null while the history is
shorter than ``[volume] min_history_days``): above 1 the contract has already traded more
than a usual full day.
"""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation.

import dagster as dg
import polars as pl

from assets.checks import all_exist, unique
from assets.factory import DayRun, day_asset
from assets.flow_packets import window_ns
from assets.opening import likely_opening, volume_through, with_prior_volume
from assets.thresholds import PositioningRules

POSITIONING_COLUMNS = [
    "packet_id", "date", "start_ts", "underlying", "contract", "kind", "size", "premium",
    "prior_volume", "open_interest", "volume_to_oi", "avg_volume", "relative_volume",
    "likely_opening", "golden_sweep",
]  # fmt: skip


def position_packets(
    packets: pl.LazyFrame,
    prints: pl.LazyFrame,
    open_interest: pl.LazyFrame,
    history: pl.LazyFrame,
    params: PositioningRules,
) -> pl.LazyFrame:
    """Return each packet with its prior volume, open interest and opening tags.

    Parameters
    ----------
    packets
        ``flow_packets`` of one day.
    prints
        ``option_prints`` of the day (contract, ts_event, seq, size, in_flow).
    open_interest
        ``option_open_interest`` of the day (contract, open_interest).
    history
        ``contract_volume`` of the day (contract, avg_volume).
    params
        ``golden_min_premium``.

    Returns
    -------
    pl.LazyFrame
        :data:`POSITIONING_COLUMNS`, ordered by start_ts, packet_id.
    """
    volume = volume_through(prints)
    oi = open_interest.group_by("contract").agg(pl.col("open_interest").max())
    return (
        with_prior_volume(
            packets.select("packet_id", "date", "start_ts", "underlying", "contract", "kind", "size", "premium"),
            volume, "start_ts",
        )
        .join(oi, on="contract", how="left")
        .join(history.select("contract", "avg_volume"), on="contract", how="left")
        .with_columns(
            pl.when(pl.col("open_interest") > 0)
            .then((pl.col("prior_volume") + pl.col("size")) / pl.col("open_interest"))
            .alias("volume_to_oi"),
            pl.when(pl.col("avg_volume") > 0)
            .then((pl.col("prior_volume") + pl.col("size")) / pl.col("avg_volume"))
            .alias("relative_volume"),
            likely_opening(pl.col("size"), pl.col("open_interest"), pl.col("prior_volume"))
            .alias("likely_opening"),
        )
        .with_columns(
            (
                pl.col("likely_opening")
                & (pl.col("kind") == "sweep")
                & (pl.col("premium") >= float(params.golden_min_premium))
            ).alias("golden_sweep")
        )
        .select(POSITIONING_COLUMNS)
        .sort("start_ts", "packet_id")
    )  # fmt: skip


@day_asset(
    "packet_positioning",
    group="signals",
    deps=["flow_packets", "option_prints", "option_open_interest", "contract_volume"],
    checks=["packet_id_unique", "packets_exist"],
    description="Per packet: prior volume, open interest, volume/OI, relative volume, likely opening, golden sweep.",
)
def packet_positioning(run: DayRun) -> dg.MaterializeResult:
    """Tag one day's packets (a live run: the packets its flow_packets tail rebuilt)."""
    lake, day, th = run.lake, run.day, run.th
    plan = run.plan(("option",))
    packets = lake.require_day("flow_packets", day)
    prints = lake.require_day("option_prints", day).select(
        "contract", "ts_event", "seq", "size", "in_flow"
    )
    since: int | None = None
    if plan.since_ns is not None:
        # Packets change from one packet window before the tail (see flow_packets); prints
        # before that are as they were, so they are carried as one volume per contract.
        since = plan.since_ns - window_ns(th.packets)
        packets = packets.filter(pl.col("start_ts") >= since)
        prints = carried_volume(prints, since)
    out = position_packets(
        packets,
        prints,
        lake.scan_day("option_open_interest", day),
        lake.require_day("contract_volume", day),
        th.positioning,
    ).collect()
    known = packets.select("packet_id").collect().get_column("packet_id")
    checks = [unique(out, "packet_id"), all_exist("packets_exist", out["packet_id"], known)]
    return run.overwrite(out, checks, clock="start_ts", since_ns=since)


def carried_volume(prints: pl.LazyFrame, since_ns: int) -> pl.LazyFrame:
    """Return the prints from ``since_ns`` on, preceded by one in-flow row per contract at
    ``since_ns - 1`` holding its volume before then (the carried state of a live tail):
    every packet from ``since_ns`` on gets the same prior volume as from the whole day."""
    before = (
        prints.filter(pl.col("in_flow") & (pl.col("ts_event") < since_ns))
        .group_by("contract")
        .agg(pl.col("size").sum())
        .select(
            "contract",
            pl.lit(since_ns - 1, pl.Int64).alias("ts_event"),
            pl.lit(-1, pl.Int64).alias("seq"),
            pl.col("size").cast(pl.Int64),
            pl.lit(True).alias("in_flow"),
        )
    )
    later = prints.filter(pl.col("ts_event") >= since_ns).with_columns(
        pl.col("seq").cast(pl.Int64), pl.col("size").cast(pl.Int64)
    )
    return pl.concat([before, later])
