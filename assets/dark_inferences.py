"""``dark_inferences``: absorbed blocks, stealth accumulation and distribution off-exchange.

docs/rules.md rule 10. Only off-exchange prints whose sale conditions make them eligible
(the policy's ``dark_eligible``: regular-way prints, no odd lots, average-price,
derivatively priced, contingent, Form T or out-of-sequence prints) and that have a good
quote (age <= ``max_quote_age_ms``, spread / mid <= ``max_spread_to_mid``) are evidence.

- absorbed block: one print at MID of at least ``absorbed_min_shares`` shares, or of at
  least ``block_min_notional`` dollars (a $250k print of a $900 stock is a block too);
- stealth accumulation (distribution): within ``window_sec`` ending at a print (both ends
  included, like the packet window), at least
  ``stealth_min_prints`` prints of at least ``stealth_min_print_shares`` shares each at A/AA
  (B/BB), totalling at least ``stealth_min_total_shares``.

After an inference of one kind on one symbol, the next of that kind is at least
``cooldown_sec`` later. The cooldown chain is followed like packet starts (links to "the
first candidate past the cooldown"), so no Python loop touches a row.
"""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation.

import dagster as dg
import polars as pl

from assets.checks import all_exist, in_unit_interval, unique
from assets.classifier_hits import clearance
from assets.factory import DayRun, day_asset
from assets.flow_packets import chain_starts
from assets.money import exact_sum
from assets.tail import drop_held, held_until
from assets.thresholds import DarkpoolRules

INFERENCE_COLUMNS = [
    "inference_id", "date", "ts", "symbol", "kind", "direction", "shares", "notional", "n_prints",
    "confidence", "event_ids", "quote_bid", "quote_ask", "quote_age_ms", "explanation",
]  # fmt: skip


def eligible_prints(prints: pl.LazyFrame, p: DarkpoolRules) -> pl.LazyFrame:
    """Return the off-exchange prints that may be evidence (policy + quote-quality gate)."""
    mid = (pl.col("nbbo_bid") + pl.col("nbbo_ask")) / 2
    return prints.filter(
        pl.col("off_exchange")
        & pl.col("dark_eligible")
        & (pl.col("nbbo_age_ms") <= p.max_quote_age_ms)
        & ((pl.col("nbbo_ask") - pl.col("nbbo_bid")) / mid <= p.max_spread_to_mid)
    )


def _apply_cooldown(candidates: pl.DataFrame, cooldown_ns: int) -> pl.DataFrame:
    """Return the candidates that survive the per (symbol, kind) cooldown."""
    if candidates.is_empty():
        return candidates
    rows = candidates.sort("symbol", "kind", "ts", "event_id").with_columns(
        pl.struct("symbol", "kind").rank("dense").cast(pl.Int64).alias("_grp")
    )
    keep = chain_starts(rows["_grp"].to_numpy(), rows["ts"].to_numpy(), cooldown_ns)
    return rows.filter(pl.Series(keep)).drop("_grp")


def cooldown_ns(p: DarkpoolRules) -> int:
    """Return the cooldown between two inferences of one kind on one symbol, in ns."""
    return int(p.cooldown_sec) * 10**9


def infer_dark(
    prints: pl.LazyFrame,
    p: DarkpoolRules,
    since_ns: int | None = None,
    held: pl.LazyFrame | None = None,
) -> pl.DataFrame:
    """Return one day's dark-pool inferences from ``equity_prints``.

    Parameters
    ----------
    prints
        ``equity_prints`` of the day (for a tail: from one window before ``since_ns``).
    p
        The ``darkpool`` thresholds.
    since_ns
        Only inferences at or after this time (a live run's tail); None: the whole day.
    held
        symbol, kind, ``_held_until``: cooldowns of stored inferences still in force at
        ``since_ns`` (see :func:`assets.tail.held_until`).

    Returns
    -------
    pl.DataFrame
        Columns :data:`INFERENCE_COLUMNS`, ordered by ts, inference_id; ``event_ids`` are
        the evidence prints, ``quote_*`` the NBBO used for the (last) print.
    """
    window_ns = int(p.window_sec) * 10**9
    good = eligible_prints(prints, p).select(
        "date", "symbol", pl.col("ts_event").alias("ts"), "seq", "event_id", "price", "size", "notional", "placement",
        "nbbo_bid", "nbbo_ask", "nbbo_age_ms",
    ).collect()  # fmt: skip

    absorbed = good.filter(
        (pl.col("placement") == "MID") & ((pl.col("size") >= p.absorbed_min_shares) | (pl.col("notional") >= p.block_min_notional))
    ).with_columns(
        pl.lit("absorbed_block").alias("kind"),
        pl.lit("neutral").alias("direction"),
        pl.concat_list("event_id").alias("event_ids"),
        pl.col("size").alias("shares"),
        pl.lit(1, pl.Int64).alias("n_prints"),
        (0.5 + 0.5 * pl.max_horizontal(clearance(pl.col("size"), p.absorbed_min_shares), clearance(pl.col("notional"), p.block_min_notional))).alias("confidence"),
        pl.format(
            "absorbed block: {} shares (${}) at the mid of {} x {} ({} ms old), >= {} shares or ${}",
            pl.col("size"), pl.col("notional").round(0).cast(pl.Int64), pl.col("nbbo_bid"), pl.col("nbbo_ask"),
            pl.col("nbbo_age_ms").round(0).cast(pl.Int64), pl.lit(p.absorbed_min_shares), pl.lit(p.block_min_notional),
        ).alias("explanation"),
    )  # fmt: skip

    sided = good.filter(pl.col("size") >= p.stealth_min_print_shares).with_columns(
        pl.when(pl.col("placement").is_in(["A", "AA"])).then(pl.lit("stealth_accumulation"))
        .when(pl.col("placement").is_in(["B", "BB"])).then(pl.lit("distribution")).alias("kind")
    ).filter(pl.col("kind").is_not_null()).sort("symbol", "kind", "ts", "seq")  # fmt: skip
    rolled = sided.with_columns(
        pl.col("ts").cast(pl.Datetime("ns")).alias("_t"),
    ).with_columns(
        pl.col("size")
        .rolling_sum_by("_t", f"{int(p.window_sec)}s", closed="both")
        .over("symbol", "kind")
        .alias("_shares"),
        pl.col("size")
        .is_not_null()
        .cast(pl.Int64)
        .rolling_sum_by("_t", f"{int(p.window_sec)}s", closed="both")
        .over("symbol", "kind")
        .alias("_count"),
    )
    triggered = rolled.filter(
        (pl.col("_count") >= p.stealth_min_prints)
        & (pl.col("_shares") >= p.stealth_min_total_shares)
    )
    candidates = pl.concat(
        [
            absorbed.select("symbol", "kind", "ts", "event_id"),
            triggered.select("symbol", "kind", "ts", "event_id"),
        ]
    )
    if since_ns is not None:
        candidates = candidates.filter(pl.col("ts") >= since_ns)
    if held is not None:
        candidates = drop_held(candidates.lazy(), held, ["symbol", "kind"], "ts").collect()
    kept = _apply_cooldown(candidates, cooldown_ns(p))
    stealth = (
        kept.filter(pl.col("kind") != "absorbed_block")
        .join(
            sided.select(
                "symbol",
                "kind",
                pl.col("ts").alias("_pts"),
                pl.col("event_id").alias("_eid"),
                "size",
                "notional",
                "seq",
            ),
            on=["symbol", "kind"],
        )
        .filter((pl.col("_pts") >= pl.col("ts") - window_ns) & (pl.col("_pts") <= pl.col("ts")))
        .sort("_pts", "seq")
        .group_by("symbol", "kind", "ts", "event_id", maintain_order=True)
        .agg(
            pl.col("_eid").alias("event_ids"),
            pl.col("size").sum().alias("shares"),
            exact_sum(pl.col("notional")).alias("notional"),
            pl.len().cast(pl.Int64).alias("n_prints"),
        )
        .join(good.select("event_id", "date", "nbbo_bid", "nbbo_ask", "nbbo_age_ms"), on="event_id")
        .with_columns(
            pl.when(pl.col("kind") == "stealth_accumulation")
            .then(pl.lit("bullish"))
            .otherwise(pl.lit("bearish"))
            .alias("direction"),
            (
                0.5
                + 0.5
                * pl.mean_horizontal(
                    clearance(pl.col("shares"), p.stealth_min_total_shares),
                    clearance(pl.col("n_prints"), p.stealth_min_prints),
                )
            ).alias("confidence"),
            pl.format(
                "{}: {} prints >= {} shares each at {} within {} s, {} shares >= {}; quote {} x {} ({} ms old)",
                pl.col("kind").str.replace("_", " "),
                pl.col("n_prints"),
                pl.lit(p.stealth_min_print_shares),
                pl.when(pl.col("kind") == "stealth_accumulation")
                .then(pl.lit("the ask (A/AA)"))
                .otherwise(pl.lit("the bid (B/BB)")),
                pl.lit(p.window_sec),
                pl.col("shares"),
                pl.lit(p.stealth_min_total_shares),
                pl.col("nbbo_bid"),
                pl.col("nbbo_ask"),
                pl.col("nbbo_age_ms").round(0).cast(pl.Int64),
            ).alias("explanation"),
        )
    )
    blocks = absorbed.join(
        kept.filter(pl.col("kind") == "absorbed_block").select("event_id"),
        on="event_id",
        how="semi",
    )
    columns = {"nbbo_bid": "quote_bid", "nbbo_ask": "quote_ask", "nbbo_age_ms": "quote_age_ms"}
    out = pl.concat(
        [
            frame.rename(columns).with_columns(pl.concat_str(pl.col("symbol"), pl.col("kind"), pl.col("event_id"), separator=":").alias("inference_id"))
            .select(INFERENCE_COLUMNS)
            for frame in (blocks, stealth)
        ],
        how="vertical_relaxed",
    )  # fmt: skip
    return out.with_columns(
        pl.col("shares").cast(pl.Int64), pl.col("notional").cast(pl.Float64)
    ).sort("ts", "inference_id")


@day_asset(
    "dark_inferences",
    group="equities",
    deps=["equity_prints"],
    checks=["inference_id_unique", "evidence_exists", "ratios_in_unit_interval"],
    description="Dark-pool inferences (absorbed block, stealth accumulation, distribution) with evidence.",
)
def dark_inferences(run: DayRun) -> dg.MaterializeResult:
    """Infer one day's off-exchange behaviour and overwrite that partition.

    A live run infers from its tail on, reading prints one window earlier (the stealth
    window) and carrying the cooldowns of stored inferences still in force.
    """
    lake, day, th = run.lake, run.day, run.th
    p = th.darkpool
    plan = run.plan(("equity",))
    prints = lake.require_day("equity_prints", day)
    held = None
    if plan.since_ns is not None:
        prints = prints.filter(pl.col("ts_event") >= plan.since_ns - int(p.window_sec) * 10**9)
        held = held_until(
            lake.require_day("dark_inferences", day), ["symbol", "kind"], "ts", cooldown_ns(p),
            plan.since_ns,
        )  # fmt: skip
    out = infer_dark(prints, p, plan.since_ns, held)
    known = prints.select("event_id").collect().get_column("event_id")
    checks = [
        unique(out, "inference_id"),
        all_exist("evidence_exists", out["event_ids"], known),
        in_unit_interval(out, "confidence"),
    ]
    result = run.overwrite(out, checks, clock="ts", since_ns=plan.since_ns)
    return dg.MaterializeResult(
        check_results=result.check_results,
        metadata={
            **(result.metadata or {}),
            "by_kind": dict(out.group_by("kind").len().iter_rows()),
        },
    )
