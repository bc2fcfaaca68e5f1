"""``market_tide``: net options premium per underlying and market-wide, minute by minute.

Bullish premium is calls bought (AA/A) plus puts sold (B/BB); bearish premium is calls sold
plus puts bought; the tide is bullish minus bearish. A structure counts once, with its own
direction or none (:func:`build_tide`), never as its legs. Mid, unplaced, complex
(multi-leg, stock-option) and non-flow prints (cancels, cancelled prints) carry no
direction. The put/call premium ratio uses every single-leg flow print. Rows hold one
minute each (not running sums), so a live tail replaces whole minutes and the dashboard
accumulates them; the market-wide rows have ``underlying`` = :data:`MARKET`.
"""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation.

import dagster as dg
import polars as pl

from assets.checks import unique
from assets.factory import DayRun, day_asset
from assets.money import exact_sum
from assets.structures import structures_since
from lake.tables import MARKET

MINUTE_NS = 60 * 10**9
TIDE_COLUMNS = [
    "date", "underlying", "ts", "call_premium", "put_premium", "bullish_premium",
    "bearish_premium", "net_premium", "n_prints",
]  # fmt: skip


def structure_legs(structures: pl.LazyFrame, packets: pl.LazyFrame) -> pl.LazyFrame:
    """Return one row per structure leg: the structure (id, underlying, start, direction)
    and the leg's packet (contract, start_ts, end_ts, premium)."""
    return (
        structures.select(
            "structure_id", "underlying", pl.col("start_ts").alias("structure_ts"), "direction",
            pl.col("packet_ids").alias("packet_id"),
        )
        .explode("packet_id")
        .join(packets.select("packet_id", "contract", "start_ts", "end_ts", "premium"), on="packet_id")
    )  # fmt: skip


def build_tide(
    prints: pl.LazyFrame,
    structures: pl.LazyFrame | None = None,
    counted: pl.LazyFrame | None = None,
) -> pl.LazyFrame:
    """Return the minute tide of ``option_prints`` per underlying plus the market rows.

    A structure counts once (rule 6): its legs' prints leave the bullish and bearish sums,
    and the structure adds the premium of its largest leg (its size as one order) to the
    side of its direction at its start minute, or to neither when it has none (a straddle
    trades volatility, not a view). Its legs stay in the call and put premiums and counts.

    Parameters
    ----------
    prints
        ``option_prints`` rows (ts_event, underlying, right, side, premium, in_flow,
        complex, event_id).
    structures
        :func:`structure_legs` rows: their legs' prints leave the directional sums (a
        single-leg packet's prints are its contract's prints from its start to its end);
        None: no structures.
    counted
        The legs of the structures whose premium is added (None: ``structures``; a live
        tail adds only those that start in it).

    Returns
    -------
    pl.LazyFrame
        :data:`TIDE_COLUMNS`, one row per (underlying, minute with flow), ordered by
        underlying, ts; ``ts`` is the minute's start (ns).

    Examples
    --------
    A call bought for $1,000 and a put sold for $500 are $1,500 bullish as single legs;
    as the two legs of a bullish risk reversal they are $1,000 bullish, once.
    """
    call, put = pl.col("right") == "C", pl.col("right") == "P"
    buy, sell = pl.col("side") == "buy", pl.col("side") == "sell"
    rows = prints.filter(pl.col("in_flow") & ~pl.col("complex")).with_columns(
        (pl.col("ts_event") // MINUTE_NS * MINUTE_NS).alias("ts"), pl.lit(False).alias("_leg")
    )
    if structures is not None:
        legs = structures.select(
            "contract", pl.col("start_ts").alias("_leg_start"), pl.col("end_ts").alias("_leg_end")
        ).sort("_leg_start")
        rows = (
            rows.drop("_leg")
            .sort("ts_event")
            # Both sides sorted just above.
            .join_asof(
                legs,
                left_on="ts_event",
                right_on="_leg_start",
                by="contract",
                check_sortedness=False,
            )
            .with_columns((pl.col("ts_event") <= pl.col("_leg_end")).fill_null(False).alias("_leg"))
            .drop("_leg_start", "_leg_end")
        )
    premium = pl.col("premium")
    single = ~pl.col("_leg")
    per = rows.group_by("date", "underlying", "ts").agg(
        exact_sum(premium.filter(call)).alias("call_premium"),
        exact_sum(premium.filter(put)).alias("put_premium"),
        exact_sum(premium.filter(single & ((call & buy) | (put & sell)))).alias("bullish_premium"),
        exact_sum(premium.filter(single & ((call & sell) | (put & buy)))).alias("bearish_premium"),
        pl.len().cast(pl.Int64).alias("n_prints"),
    )
    counted = structures if counted is None else counted
    if counted is not None:
        largest = pl.col("premium")
        added = (
            counted.filter(pl.col("direction") != "none")
            .group_by("structure_id")
            .agg(pl.col("underlying", "structure_ts", "direction").first(), largest.max())
            .with_columns((pl.col("structure_ts") // MINUTE_NS * MINUTE_NS).alias("ts"))
            .group_by("underlying", "ts")
            .agg(
                exact_sum(largest.filter(pl.col("direction") == "bullish")).alias("_bull"),
                exact_sum(largest.filter(pl.col("direction") == "bearish")).alias("_bear"),
            )
        )
        day = rows.select(pl.col("date").first().alias("_day"))
        per = (
            per.join(added, on=["underlying", "ts"], how="full", coalesce=True)
            .join(day, how="cross")
            .with_columns(
                pl.coalesce("date", "_day").alias("date"),
                pl.col("call_premium", "put_premium").fill_null(0.0),
                pl.col("n_prints").fill_null(0),
                pl.col("bullish_premium").fill_null(0.0) + pl.col("_bull").fill_null(0.0),
                pl.col("bearish_premium").fill_null(0.0) + pl.col("_bear").fill_null(0.0),
            )
            .drop("_bull", "_bear", "_day")
        )
    directional = ("call_premium", "put_premium", "bullish_premium", "bearish_premium")
    market = (
        per.group_by("date", "ts")
        .agg(*(exact_sum(pl.col(c)).alias(c) for c in directional), pl.col("n_prints").sum())
        .with_columns(pl.lit(MARKET).alias("underlying"))
    )
    return (
        pl.concat([per, market], how="diagonal")
        .with_columns((pl.col("bullish_premium") - pl.col("bearish_premium")).alias("net_premium"))
        .select(TIDE_COLUMNS)
        .sort("underlying", "ts")
    )


@day_asset(
    "market_tide",
    group="signals",
    deps=["option_prints", "flow_packets", "structures"],
    checks=["underlying_ts_unique", "market_is_the_sum"],
    description="Net options premium (bullish minus bearish, each structure once) per underlying and market-wide, per minute.",
)
def market_tide(run: DayRun) -> dg.MaterializeResult:
    """Build one day's tide (a live run: the minutes from its tail on, or from the
    earliest structure the tail can change)."""
    lake, day, th = run.lake, run.day, run.th
    plan = run.plan(("option",))
    prints = lake.require_day("option_prints", day)
    packets = lake.require_day("flow_packets", day)
    structures = lake.require_day("structures", day)
    since = None
    if plan.since_ns is not None:
        restart = structures_since(packets, plan.since_ns, day, th)
        since = min(plan.since_ns, restart) // MINUTE_NS * MINUTE_NS
        prints = prints.filter(pl.col("ts_event") >= since)
        # Structures that reach into the tail take their legs out of it; only those that
        # start in it are counted in it.
        structures = structures.filter(pl.col("end_ts") >= since)
    legs = structure_legs(structures, packets)
    counted = None if since is None else legs.filter(pl.col("structure_ts") >= since)
    tide = build_tide(prints, legs, counted).collect()
    per = tide.filter(pl.col("underlying") != MARKET)
    market = tide.filter(pl.col("underlying") == MARKET)
    off = (
        per.group_by("ts").agg(pl.col("net_premium").sum().alias("_sum"))
        .join(market.select("ts", "net_premium"), on="ts", how="full", coalesce=True)
        .filter((pl.col("_sum").fill_null(0) - pl.col("net_premium").fill_null(0)).abs() > 1e-6)
    )  # fmt: skip
    checks = [
        unique(tide, "underlying", "ts"),
        dg.AssetCheckResult(
            check_name="market_is_the_sum",
            passed=off.is_empty(),
            metadata={"minutes_off": off.height},
        ),
    ]
    return run.overwrite(tide, checks, clock="ts", since_ns=since)
