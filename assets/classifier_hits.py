"""``classifier_hits``: sweep, spike, 0DTE gamma punch, burst, repeat hitter and roll, each
with its evidence.

docs/rules.md rule 8. Directional classifiers look only at single-leg packets that are not
legs of a structure (a structure is reported as a structure). A packet passes the gates
when its NBBO coverage is at least ``min_coverage`` and its buy ratio is at least
``min_buy_ratio`` (buy side) or at most ``max_sell_ratio`` (sell side); direction is right x
side (bought calls and sold puts are bullish). A z condition applies only once the
contract has ``z_min_samples`` priors; before that the absolute floors decide and the
confidence is scaled down by ``THIN_BASELINE_FACTOR``. Two classifiers see one contract
hit over and over, on two time scales: a *burst* is one packet with at least
``min_prints`` non-floor prints within ``burst_window_ms`` (its ``max_burst``: one order
split into rapid fills); a *repeat hitter* is the same contract hit again within minutes
by similar orders on one side (:func:`classify_repeats`).

Confidence: each condition scores how far its value clears the threshold,
``1 - exp(-(value - threshold) / scale)`` (0 at the threshold, towards 1 far beyond it);
confidence = 0.5 + 0.5 x the mean score, so a bare pass is 0.5 and it rises with every
margin (monotone in premium). A sweep's ISO prints raise its score (:func:`iso_strengthened`). ``explanation`` names each rule with its value and threshold.
"""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation.

from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg
import polars as pl

from adapters.calendar import trading_date_expr
from adapters.osi import index_roots
from assets.checks import all_exist, in_unit_interval, unique
from assets.contract_baselines import (
    PREVIOUS_DAY,
    earlier_packets,
    prior_state_for,
    score_packets,
)
from assets.factory import DayRun, day_asset
from assets.nbbo import nbbo_stream
from assets.parity import parity_levels
from assets.structures import structures_since
from assets.tail import Plan, tail_of
from assets.thresholds import GateRules, Thresholds

THIN_BASELINE_FACTOR = 0.8
#: Underlying price for the 0DTE distance: the equity NBBO mid no older than this.
UNDERLYING_MAX_AGE_NS = 60 * 10**9
HIT_SCHEMA: dict[str, pl.DataType] = {
    "hit_id": pl.String(),
    "date": pl.Date(),
    "ts": pl.Int64(),
    "classifier": pl.String(),
    "packet_id": pl.String(),
    "structure_id": pl.String(),
    "packet_ids": pl.List(pl.String()),
    "underlying": pl.String(),
    "contract": pl.String(),
    "direction": pl.String(),
    "confidence": pl.Float64(),
    "explanation": pl.String(),
    "premium": pl.Float64(),
    "nbbo_coverage": pl.Float64(),
    "config_version": pl.String(),
}


def clearance(value: pl.Expr, threshold: float, scale: float | None = None) -> pl.Expr:
    """Return how far ``value`` clears ``threshold`` in [0, 1): 0 at it, towards 1 far past it."""
    width = scale if scale is not None else max(abs(threshold), 1e-9)
    return (1.0 - (-(value - threshold) / width).exp()).clip(0.0, 1.0)


def iso_strengthened(score: pl.Expr, weight: float) -> pl.Expr:
    """Return a sweep's score raised by its ISO prints: ``score + (1 - score) x weight x
    iso_count / n_prints`` (all ISO at weight 0.5 closes half the gap to 1; none changes
    nothing).

    Examples
    --------
    >>> pl.DataFrame({"iso_count": [4, 0], "n_prints": [4, 4]}).select(
    ...     iso_strengthened(pl.lit(0.6), 0.5)).to_series().to_list()
    [0.8, 0.6]
    """
    share = pl.col("iso_count") / pl.col("n_prints")
    return score + (1 - score) * weight * share


def _num(expr: pl.Expr, decimals: int) -> pl.Expr:
    """Return a number as text for explanations: whole when ``decimals`` is 0."""
    rounded = expr.round(decimals)
    return (rounded.cast(pl.Int64) if decimals == 0 else rounded).cast(pl.String)


def with_underlying_price(
    packets: pl.LazyFrame,
    equity_quotes: pl.LazyFrame,
    option_quotes: Callable[[list[str]], pl.LazyFrame] | None = None,
) -> pl.LazyFrame:
    """Return packets with ``underlying_price``: the underlying's NBBO mid at the packet start.

    Only the 0DTE rule reads the price, so only underlyings with a same-day expiry packet
    have their quotes sorted and joined (a handful of index ETFs out of hundreds of names).
    An index (SPX, NDX, RUT, VIX: ``adapters/option_roots.csv``) that no quote of its own
    prices takes the level its same-day options imply (:func:`assets.parity.parity_levels`),
    from the NBBO rows ``option_quotes(underlyings)`` gives.
    """
    same_day = pl.col("expiry") == trading_date_expr(pl.col("start_ts"))
    # A list of names, not a semi-join: the filter reaches the quotes' Parquet scan, which
    # skips the row groups of other symbols.
    needed = packets.filter(same_day).select("underlying").unique().collect()
    mids = (
        equity_quotes.filter(pl.col("symbol").is_in(needed.get_column("underlying").to_list()))
        .filter((pl.col("bid") > 0) & (pl.col("ask") >= pl.col("bid")))
        .select(
            pl.col("symbol").alias("underlying"),
            pl.col("ts_event").alias("_qts"),
            pl.col("seq").alias("_qseq"),
            ((pl.col("bid") + pl.col("ask")) / 2).alias("underlying_price"),
        )
        .sort("_qts", "_qseq")
    )
    # Only those packets are sorted and joined too; the others carry no price. The rows
    # come out in no particular order (the hits are sorted at the end).
    priced = (
        packets.filter(same_day)
        .sort("start_ts", "packet_id")
        .join_asof(
            mids,
            left_on="start_ts",
            right_on="_qts",
            by="underlying",
            strategy="backward",
            tolerance=UNDERLYING_MAX_AGE_NS,
            check_sortedness=False,  # sorted explicitly above
        )
        .drop("_qts", "_qseq")
    )
    # Indices only (European, cash-settled: parity holds); an equity's options are American,
    # with dividends. A landed quote of the index itself comes first.
    indices = needed.filter(pl.col("underlying").is_in(sorted(set(index_roots().values()))))
    if option_quotes is not None and indices.height:
        names = indices.get_column("underlying").to_list()
        implied = parity_levels(
            packets.filter(same_day & pl.col("underlying").is_in(names)),
            option_quotes(names),
            UNDERLYING_MAX_AGE_NS,
        ).rename({"underlying_price": "_implied"})
        priced = (
            priced.join(implied, on="packet_id", how="left")
            .with_columns(
                (pl.col("underlying_price").is_null() & pl.col("_implied").is_not_null()).alias(
                    "underlying_implied"
                ),
                pl.coalesce("underlying_price", "_implied").alias("underlying_price"),
            )
            .drop("_implied")
        )
    else:
        priced = priced.with_columns(pl.lit(False).alias("underlying_implied"))
    unpriced = packets.filter(~same_day | same_day.is_null()).with_columns(
        pl.lit(None, pl.Float64).alias("underlying_price"),
        pl.lit(False).alias("underlying_implied"),
    )
    return pl.concat([priced, unpriced])


def _gates(g: GateRules) -> tuple[pl.Expr, pl.Expr, pl.Expr, pl.Expr]:
    """Return (passes, direction, gate score, gate explanation) expressions."""
    buy = pl.col("buy_ratio") >= g.min_buy_ratio
    sell = pl.col("buy_ratio") <= g.max_sell_ratio
    covered = pl.col("nbbo_coverage") >= g.min_coverage
    call = pl.col("right") == "C"
    direction = (
        pl.when(buy & call).then(pl.lit("bullish")).when(buy).then(pl.lit("bearish"))
        .when(sell & call).then(pl.lit("bearish")).when(sell).then(pl.lit("bullish"))
    )  # fmt: skip
    side_score = (
        pl.when(buy)
        .then((pl.col("buy_ratio") - g.min_buy_ratio) / (1 - g.min_buy_ratio))
        .otherwise((g.max_sell_ratio - pl.col("buy_ratio")) / g.max_sell_ratio)
    )
    cover_score = (pl.col("nbbo_coverage") - g.min_coverage) / (1 - g.min_coverage)
    text = pl.format(
        "coverage {} >= {}; buy ratio {} {} -> {} ({} {})",
        _num(pl.col("nbbo_coverage"), 2), pl.lit(g.min_coverage), _num(pl.col("buy_ratio"), 2),
        pl.when(buy).then(pl.lit(f">= {g.min_buy_ratio}")).otherwise(pl.lit(f"<= {g.max_sell_ratio}")),
        direction, pl.when(call).then(pl.lit("call")).otherwise(pl.lit("put")),
        pl.when(buy).then(pl.lit("bought")).otherwise(pl.lit("sold")),
    )  # fmt: skip
    return (
        covered & (buy | sell),
        direction,
        (side_score.clip(0, 1) + cover_score.clip(0, 1)) / 2,
        text,
    )


def _z_rule(field: str, minimum: float, min_n: int) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """Return (passes, score, text) of a z condition that applies once the baseline is full."""
    thick = pl.col("n_prior") >= min_n
    z = pl.col(f"{field}_z")
    passes = ~thick | (z.fill_null(float("-inf")) >= minimum)
    score = pl.when(thick).then(clearance(z, minimum, scale=minimum)).otherwise(None)
    text = (
        pl.when(thick)
        .then(pl.format(f"{field} z {{}} >= {minimum} (n={{}})", _num(z, 2), pl.col("n_prior")))
        .otherwise(
            pl.format(f"{field} z not applied: baseline thin (n={{}} < {min_n})", pl.col("n_prior"))
        )
    )
    return passes, score, text


def _spread_text(min_n: int) -> pl.Expr:
    """Return the spread's z as evidence (rule 7): how wide the quote was for the contract."""
    return (
        pl.when(pl.col("spread_z").is_not_null())
        .then(pl.format("spread z {} (n={})", _num(pl.col("spread_z"), 2), pl.col("spread_n")))
        .otherwise(
            pl.format(
                f"spread z not applied: {{}} spread samples < {min_n}",
                pl.col("spread_n").fill_null(0),
            )
        )
    )


@dataclass(frozen=True)
class ZRule:
    """A z condition on ``field`` (``premium`` or ``size``) that applies once the baseline
    is full (:func:`_z_rule`)."""

    field: str
    minimum: float


@dataclass(frozen=True)
class PacketRule:
    """One single-packet classifier as data: :func:`classify_packets` turns each into its
    filter, its score and its explanation.

    A packet hits when ``where`` holds, every floor's value reaches its threshold, every z
    rule passes and the gates pass. The score is the mean of the floors' clearances, the z
    rules' scores, ``extra_scores`` and the gate score, in that order; ``boost`` may raise
    it (a sweep's ISO prints). ``explanation`` gets the z rules' texts, the spread z and
    the gates' text as ``{z}``, ``{spread}`` and ``{gates}`` placeholders' values.
    """

    name: str
    where: pl.Expr
    floors: tuple[tuple[pl.Expr, float], ...]
    z_rules: tuple[ZRule, ...]
    explanation: Callable[[list[pl.Expr], pl.Expr, pl.Expr], pl.Expr]
    extra_scores: tuple[pl.Expr, ...] = ()
    boost: Callable[[pl.Expr], pl.Expr] | None = None


def packet_rules(th: Thresholds) -> list[PacketRule]:
    """Return the single-packet classifiers under ``th`` (rule 8): sweep, spike, 0DTE
    gamma punch and burst, each a row of the rule table."""
    sw, sp, zd, bu = (th.classifiers.sweep, th.classifiers.spike, th.classifiers.zero_dte,
                      th.classifiers.burst)  # fmt: skip
    count = th.packets.sweep_min_count
    distance = (pl.col("strike") / pl.col("underlying_price") - 1).abs()
    return [
        PacketRule(
            name="sweep",
            where=pl.col("kind") == "sweep",
            floors=((pl.col("premium"), sw.min_premium), (pl.col("n_prints"), count)),
            z_rules=(ZRule("premium", sw.min_premium_z),),
            # Rule 5: ISO prints strengthen a sweep. Their share of its prints closes
            # ``iso_weight`` of the gap between the conditions' mean score and 1.
            boost=lambda score: iso_strengthened(score, float(sw.iso_weight)),
            explanation=lambda z, spread, gates: pl.format(
                "sweep: premium ${} >= ${}; {} prints >= {} over {} exchanges ({} ISO); {}; {}; {}",
                _num(pl.col("premium"), 0), pl.lit(sw.min_premium), pl.col("n_prints"),
                pl.lit(count), pl.col("n_exchanges"), pl.col("iso_count"), *z, spread, gates,
            ),
        ),
        PacketRule(
            name="spike",
            where=pl.lit(True),
            floors=((pl.col("premium"), sp.min_premium), (pl.col("size"), sp.min_size)),
            z_rules=(ZRule("premium", sp.min_premium_z), ZRule("size", sp.min_size_z)),
            explanation=lambda z, spread, gates: pl.format(
                "spike: premium ${} >= ${}; size {} >= {}; {}; {}; {}; {}",
                _num(pl.col("premium"), 0), pl.lit(sp.min_premium), pl.col("size"),
                pl.lit(sp.min_size), *z, spread, gates,
            ),
        ),
        PacketRule(
            name="zero_dte",
            # Trading date in New York, never UTC: a 19:30 New York print is still that day.
            where=(pl.col("expiry") == trading_date_expr(pl.col("start_ts")))
            & (distance <= zd.max_strike_distance),
            floors=((pl.col("premium"), zd.min_premium), (pl.col("size"), zd.min_size)),
            z_rules=(),
            extra_scores=((1 - distance / zd.max_strike_distance).clip(0, 1),),
            explanation=lambda z, spread, gates: pl.format(
                "0DTE gamma punch: expires today ({}); strike {} within {}% of underlying {}{} ({}%); premium ${} >= ${}; size {} >= {}; {}",
                pl.col("expiry").cast(pl.String), pl.col("strike"),
                pl.lit(zd.max_strike_distance * 100), _num(pl.col("underlying_price"), 2),
                pl.when(pl.col("underlying_implied").fill_null(False))
                .then(pl.lit(" (implied by its options' put-call parity)"))
                .otherwise(pl.lit("")),
                _num(distance * 100, 2), _num(pl.col("premium"), 0), pl.lit(zd.min_premium),
                pl.col("size"), pl.lit(zd.min_size), gates,
            ),
        ),
        PacketRule(
            name="burst",
            where=pl.lit(True),
            floors=((pl.col("max_burst"), bu.min_prints), (pl.col("premium"), bu.min_premium)),
            z_rules=(),
            explanation=lambda z, spread, gates: pl.format(
                "burst: {} non-floor prints within {} ms >= {}; {} prints over {} exchanges in the packet; premium ${} >= ${}; {}",
                pl.col("max_burst"), pl.lit(th.packets.burst_window_ms), pl.lit(bu.min_prints),
                pl.col("n_prints"), pl.col("n_exchanges"), _num(pl.col("premium"), 0),
                pl.lit(bu.min_premium), gates,
            ),
        ),
    ]  # fmt: skip


def classify_packets(scored: pl.LazyFrame, th: Thresholds, config_version: str) -> pl.LazyFrame:
    """Return the hits of every :func:`packet_rules` rule on single-leg packets not in a
    structure.

    ``scored`` holds packets with their baseline columns (``n_prior``, ``premium_z``,
    ``size_z``, ``spread_z``, ``spread_n``), ``underlying_price`` and ``in_structure``.
    """
    gate_ok, direction, gate_score, gate_text = _gates(th.gates)
    min_n = th.baselines.z_min_samples
    base = scored.filter(~pl.col("complex") & ~pl.col("in_structure"))
    hits = []
    for rule in packet_rules(th):
        z = [_z_rule(r.field, r.minimum, min_n) for r in rule.z_rules]
        passes = [value >= threshold for value, threshold in rule.floors]
        passes += [ok for ok, _, _ in z]
        score = pl.mean_horizontal(
            *(clearance(value, threshold) for value, threshold in rule.floors),
            *(score for _, score, _ in z),
            *rule.extra_scores,
            gate_score,
        )
        hits.append(
            base.filter(rule.where, *passes, gate_ok).with_columns(
                pl.lit(rule.name).alias("classifier"),
                (score if rule.boost is None else rule.boost(score)).alias("_score"),
                pl.lit(bool(rule.z_rules)).alias("_leans_on_baseline"),
                rule.explanation([text for _, _, text in z], _spread_text(min_n), gate_text).alias(
                    "explanation"
                ),
            )
        )
    thin = pl.col("n_prior") < min_n
    return (
        pl.concat(hits, how="diagonal_relaxed")
        .with_columns(
            direction.alias("direction"),
            (
                (0.5 + 0.5 * pl.col("_score"))
                # Only classifiers with a z condition lean on the baseline.
                * pl.when(thin & pl.col("_leans_on_baseline"))
                .then(THIN_BASELINE_FACTOR)
                .otherwise(1.0)
            ).alias("confidence"),
            pl.lit(None, pl.String).alias("structure_id"),
            pl.concat_list(pl.col("packet_id")).alias("packet_ids"),
            pl.col("start_ts").alias("ts"),
        )
        .with_columns(
            _hit_id(config_version, pl.col("packet_id")),
            pl.lit(config_version).alias("config_version"),
        )
        .select(list(HIT_SCHEMA))
    )


def classify_repeats(
    packets: pl.LazyFrame, legs: pl.LazyFrame, th: Thresholds, config_version: str
) -> pl.LazyFrame:
    """Return repeat-hitter hits: one contract hit again and again by similar orders.

    An order is a single-leg packet, not a structure's leg, of at least ``min_order_size``
    contracts that passes the gates (its side is its direction). A hit is an order at which
    the last ``min_orders`` orders of its contract and side (itself included) started
    within ``window_sec``, the largest at most ``max_size_ratio`` times the smallest, and
    together reached ``min_premium``, when the orders before it did not already: one hit
    per run of such orders. It reads only orders before it (at most two windows back), so
    a live tail finds the hits the whole day does.

    Parameters
    ----------
    packets
        ``flow_packets`` rows (:data:`HIT_INPUTS`), any order.
    legs
        ``packet_id`` of every structure leg.

    Returns
    -------
    pl.LazyFrame
        Hits in :data:`HIT_SCHEMA`; ``packet_ids`` are the run's last ``min_orders`` orders,
        oldest first, and ``ts`` is the hitting order's start.

    Examples
    --------
    With the defaults, calls of one contract bought 120, 150 and 100 lots at 10:00, 10:02
    and 10:04 for $30k in all give one hit at 10:04; a fourth at 10:05 gives none.
    """
    rh = th.classifiers.repeat_hitter
    m = int(rh.min_orders)
    gate_ok, direction, gate_score, gate_text = _gates(th.gates)
    key = ["contract", "_direction"]
    orders = (
        packets.join(legs, on="packet_id", how="anti")
        .filter(~pl.col("complex") & (pl.col("size") >= rh.min_order_size) & gate_ok)
        .with_columns(direction.alias("_direction"), gate_score.alias("_gate_score"))
        .sort("contract", "_direction", "start_ts", "packet_id")
    )
    # The last m orders of the contract and side, this one included.
    last = [pl.col("packet_id").shift(i).over(key) for i in range(m - 1, -1, -1)]
    span = (pl.col("start_ts") - pl.col("start_ts").shift(m - 1).over(key)) / 1e9
    largest = pl.col("size").rolling_max(m).over(key)
    smallest = pl.col("size").rolling_min(m).over(key)
    # Sums of the m values themselves, oldest first, never a running window sum (whose
    # float bits depend on where the window started): a live tail gives the same bits.
    premium = pl.sum_horizontal(pl.col("premium").shift(i).over(key) for i in range(m - 1, -1, -1))
    runs = orders.with_columns(
        _span=span, _largest=largest, _smallest=smallest, _premium=premium,
        _gates=pl.mean_horizontal(pl.col("_gate_score").shift(i).over(key) for i in range(m - 1, -1, -1)),
        packet_ids=pl.concat_list(last),
    ).with_columns(
        _repeat=(
            (pl.col("_span") <= rh.window_sec)
            & (pl.col("_largest") <= rh.max_size_ratio * pl.col("_smallest"))
            & (pl.col("_premium") >= rh.min_premium)
        ).fill_null(False)
    )  # fmt: skip
    return (
        runs.filter(pl.col("_repeat") & ~pl.col("_repeat").shift(1).over(key).fill_null(False))
        .with_columns(
            pl.lit("repeat_hitter").alias("classifier"),
            pl.col("_direction").alias("direction"),
            (
                0.5
                + 0.5
                * pl.mean_horizontal(
                    clearance(pl.col("_premium"), rh.min_premium),
                    clearance(-pl.col("_span"), -float(rh.window_sec), float(rh.window_sec)),
                    pl.col("_gates"),
                )
            ).alias("confidence"),
            pl.format(
                "repeat hitter: {} orders of {}-{} contracts (at most {}x apart, each >= {}) within {} s <= {} s; premium ${} >= ${}; this order: {}",
                pl.lit(m),
                pl.col("_smallest"),
                pl.col("_largest"),
                pl.lit(rh.max_size_ratio),
                pl.lit(rh.min_order_size),
                _num(pl.col("_span"), 0),
                pl.lit(rh.window_sec),
                _num(pl.col("_premium"), 0),
                pl.lit(rh.min_premium),
                gate_text,
            ).alias("explanation"),
            pl.col("_premium").alias("premium"),
            pl.lit(None, pl.String).alias("structure_id"),
            pl.col("start_ts").alias("ts"),
        )
        .with_columns(
            _hit_id(config_version, pl.col("packet_id")),
            pl.lit(config_version).alias("config_version"),
        )
        .select(list(HIT_SCHEMA))
    )


def _hit_id(config_version: str, subject: pl.Expr) -> pl.Expr:
    return pl.concat_str(
        pl.lit(config_version), pl.col("classifier"), subject, separator=":"
    ).alias("hit_id")


def classify_structures(
    structures: pl.LazyFrame, packets: pl.LazyFrame, th: Thresholds, config_version: str
) -> pl.LazyFrame:
    """Return roll hits: roll and calendar structures with enough premium and coverage."""
    ro = th.classifiers.roll
    min_cov = th.gates.min_coverage
    coverage = (
        structures.select("structure_id", "packet_ids").explode("packet_ids")
        .join(packets.select(pl.col("packet_id").alias("packet_ids"), "nbbo_coverage"), on="packet_ids")
        .group_by("structure_id").agg(pl.col("nbbo_coverage").mean())
    )  # fmt: skip
    return (
        structures.filter(
            pl.col("kind").is_in(["roll", "calendar"]) & (pl.col("gross_premium") >= ro.min_premium)
        )
        .join(coverage, on="structure_id", how="left")
        .filter(pl.col("nbbo_coverage") >= min_cov)
        .with_columns(
            pl.lit("roll").alias("classifier"),
            pl.lit("structure").alias("direction"),
            (
                0.5
                + 0.5
                * (
                    clearance(pl.col("gross_premium"), ro.min_premium)
                    + ((pl.col("nbbo_coverage") - min_cov) / (1 - min_cov)).clip(0, 1)
                )
                / 2
            ).alias("confidence"),
            pl.format(
                "roll: {} of {} legs ({}); gross premium ${} >= ${}; net ${}; coverage {} >= {}",
                pl.col("kind"),
                pl.col("n_legs"),
                pl.col("contracts").list.join(" / "),
                _num(pl.col("gross_premium"), 0),
                pl.lit(ro.min_premium),
                _num(pl.col("net_premium"), 0),
                _num(pl.col("nbbo_coverage"), 2),
                pl.lit(min_cov),
            ).alias("explanation"),
            pl.col("start_ts").alias("ts"),
            pl.lit(None, pl.String).alias("packet_id"),
            pl.col("contracts").list.first().alias("contract"),
            pl.col("gross_premium").alias("premium"),
        )
        .with_columns(
            _hit_id(config_version, pl.col("structure_id")),
            pl.lit(config_version).alias("config_version"),
        )
        .select(list(HIT_SCHEMA))
    )


def signals_plan(run: DayRun) -> Plan:
    """Return the plan of a signal table (hits, alerts) in a run.

    A live tail of these starts at the earliest of: the structures tail (which is at or
    before the packets tail) when options are new, and the equity tail when equities are
    new (the 0DTE rule reads the underlying's price at each packet).
    """
    plan = run.plan(("option", "equity"))
    tail = tail_of(run.context)
    if plan.whole_day or tail is None:
        return plan
    starts = []
    if tail.option_ns is not None:
        starts.append(
            structures_since(
                run.lake.require_day("flow_packets", run.day), tail.option_ns, run.day, run.th
            )
        )
    if tail.equity_ns is not None:
        starts.append(tail.equity_ns)
    return Plan(since_ns=min(starts))


#: The ``flow_packets`` columns the scores and the classifiers read.
HIT_INPUTS = [
    "packet_id", "date", "contract", "underlying", "start_ts", "complex", "kind", "premium",
    "size", "spread", "n_prints", "n_exchanges", "iso_count", "buy_ratio", "nbbo_coverage",
    "right", "expiry", "strike", "max_burst",
]  # fmt: skip


def hit_inputs(packets: pl.LazyFrame) -> pl.LazyFrame:
    """Return the columns of ``packets`` the hits are built from, read once into memory.

    The scores, the candidates, the roll legs' coverage and the asset's check each read
    the packets; read apart, each would read the day again, and a read of every column
    (the packets' ``event_ids`` lists) costs several times one of these. Cheap on a frame
    already in memory.
    """
    return packets.select(HIT_INPUTS).collect().lazy()


def _lowest_premium_floor(th: Thresholds) -> float:
    """Return the premium below which no packet classifier can fire."""
    c = th.classifiers
    return min(float(r.min_premium) for r in (c.sweep, c.spike, c.zero_dte, c.burst))


def build_hits(
    packets: pl.LazyFrame,
    structures: pl.LazyFrame,
    prior_state: pl.LazyFrame,
    equity_quotes: pl.LazyFrame,
    th: Thresholds,
    config_version: str,
    earlier: pl.LazyFrame | None = None,
    option_quotes: Callable[[list[str]], pl.LazyFrame] | None = None,
    orders: pl.LazyFrame | None = None,
) -> pl.DataFrame:
    """Return every classifier hit of one day, ordered by ts, hit_id.

    ``earlier`` is a live tail's carried baseline state (see
    :func:`assets.contract_baselines.earlier_packets`); ``option_quotes`` gives the option
    NBBO of underlyings no equity quote prices (see :func:`with_underlying_price`);
    ``orders`` are the packets the repeat hitter reads (:func:`classify_repeats`; a live
    tail's reach back :func:`repeat_reach_ns` further; None: ``packets``).

    Returns
    -------
    pl.DataFrame
        Rows in :data:`HIT_SCHEMA`; ``packet_ids`` links each hit to its evidence.
    """
    packets = hit_inputs(packets)
    # Baselines need every packet (small ones are priors too); the classifiers only those
    # that clear the lowest premium floor of any of them, so only those are priced and
    # joined (a few percent of a day's packets).
    wanted = pl.col("premium") >= _lowest_premium_floor(th)
    scores = score_packets(packets, prior_state, th.baselines, earlier, wanted).lazy()
    # Collected once: the pricing below reads the candidates three times (which underlyings,
    # the priced and the unpriced ones).
    candidates = packets.filter(wanted).collect().lazy()
    legs = (
        structures.select(pl.col("packet_ids").explode().alias("packet_id"))
        .unique()
        .with_columns(pl.lit(True).alias("in_structure"))
    )
    scored = (
        with_underlying_price(candidates, equity_quotes, option_quotes)
        .join(scores.drop("contract", "start_ts"), on="packet_id", how="left")
        .join(legs, on="packet_id", how="left")
        .with_columns(pl.col("in_structure").fill_null(False), pl.col("n_prior").fill_null(0))
        # Collected once: each classifier filters it again.
        .collect()
        .rechunk()
        .lazy()
    )
    hits = pl.concat(
        [
            classify_packets(scored, th, config_version),
            classify_structures(structures, packets, th, config_version),
            classify_repeats(
                packets if orders is None else hit_inputs(orders), legs.drop("in_structure"),
                th, config_version,
            ),
        ]
    )  # fmt: skip
    return hits.sort("ts", "hit_id").collect()


def repeat_reach_ns(th: Thresholds) -> int:
    """Return how far before a live tail the repeat hitter reads: two windows (the orders
    before a hit, and those before them that may already have been a hit)."""
    return 2 * int(float(th.classifiers.repeat_hitter.window_sec) * 1e9)


@day_asset(
    "classifier_hits",
    group="signals",
    deps=[
        "flow_packets",
        "structures",
        "equity_quotes",
        dg.AssetDep("contract_baselines", partition_mapping=PREVIOUS_DAY),
    ],
    checks=["hit_id_unique", "subjects_exist", "ratios_in_unit_interval"],
    description="Classifier hits (sweep, spike, 0DTE gamma punch, burst, repeat hitter, roll) with confidence and explanation.",
    alert_path=True,
    blocking=True,
)
def classifier_hits(run: DayRun) -> dg.MaterializeResult:
    """Classify one day's packets and structures under the configured thresholds (a live
    run: those from its tail on, with the day's earlier packets as baseline priors)."""
    lake, day, th = run.lake, run.day, run.th
    plan = signals_plan(run)
    prior, prev = prior_state_for(lake, day)
    day_packets = lake.require_day("flow_packets", day)
    structures = lake.require_day("structures", day)
    quotes, earlier = lake.scan_day("equity_quotes", day), None
    # Read once, here: the tail's priors, the hits and the check below use these columns.
    packets = hit_inputs(
        day_packets
        if plan.since_ns is None
        else day_packets.filter(pl.col("start_ts") >= plan.since_ns)
    )
    orders = None
    if plan.since_ns is not None:
        # The repeat hitter reads orders up to two windows before the tail; structures that
        # end from there on mark their legs (only hits from the tail on are kept).
        reach = plan.since_ns - repeat_reach_ns(th)
        orders = day_packets.filter(pl.col("start_ts") >= reach)
        structures = structures.filter(pl.col("end_ts") >= reach)
        quotes = quotes.filter(pl.col("ts_event") >= plan.since_ns - UNDERLYING_MAX_AGE_NS)
        earlier = earlier_packets(day_packets, packets, plan.since_ns, th.baselines)
        # Only the previous day's state of the tail's contracts can be priors: a tail of a
        # few hundred packets does not explode every contract of yesterday (37k contracts:
        # 0.24 s -> 0.01 s for the scores, the same scores).
        prior = prior.join(packets.select("contract").unique(), on="contract", how="semi")

    def index_options(underlyings: list[str]) -> pl.LazyFrame:
        # The whole day's, a tail's too: the as-of join sees only quotes before each packet,
        # so a tail prices a packet as the whole day does.
        roots = [r for r, u in index_roots().items() if u in underlyings] + underlyings
        root = pl.col("contract").str.slice(0, 6).str.strip_chars_end(" ")
        return nbbo_stream(lake.scan_day("option_quotes", day).filter(root.is_in(roots)))

    hits = build_hits(
        packets, structures, prior, quotes, th, th.config_version, earlier,
        index_options, orders,
    )  # fmt: skip
    if plan.since_ns is not None:
        hits = hits.filter(pl.col("ts") >= plan.since_ns)
    known = (packets if orders is None else orders).select("packet_id").collect()["packet_id"]
    checks = [
        unique(hits, "hit_id"),
        all_exist("subjects_exist", hits["packet_ids"], known),
        in_unit_interval(hits, "confidence"),
    ]
    result = run.overwrite_version(hits, checks, clock="ts", since_ns=plan.since_ns)
    return dg.MaterializeResult(
        check_results=result.check_results,
        metadata={
            **(result.metadata or {}),
            "config_version": th.config_version,
            "baseline_seeded_from": str(prev) if prev else "none",
            "hits_by_classifier": dict(hits.group_by("classifier").len().iter_rows()),
        },
    )
