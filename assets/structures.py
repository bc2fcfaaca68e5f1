"""``structures``: multi-leg trades recognised across packets of one underlying.

docs/rules.md rule 6. Packets of one underlying whose windows overlap within ``window_ms``
form a candidate group (overlap chains: a packet starting within the window of the group's
latest end joins it). Complex packets (exchange-reported multi-leg prints) and single-leg
packets are grouped apart. A group of 2-4 single-leg packets on distinct contracts is a
structure when its legs match a known shape; the legs' sides (bought at the ask, sold at
the bid) name it as a trader would (:func:`structure_kind`):

- one expiry, call and put: long / short straddle (one strike) or strangle (two), both
  bought / sold; one bought and one sold: risk reversal (bullish when the call was bought);
- one expiry, one right, two strikes: debit or credit vertical (bull or bear from which
  leg was bought); three or more strikes: ladder, or butterfly (1 x 2 x 1, body opposite);
- one right, two expiries: roll, or calendar when both legs likely open new positions
  (:mod:`assets.opening`: the leg's size exceeds the open interest left after the
  contract's earlier volume; unknown OI never counts as open);
- a group of complex packets on two or more contracts: ``complex``.

Only packets of at least ``min_leg_size`` contracts are single-leg legs, and a structure's
leg sizes must be whole multiples of the smallest within ``max_leg_size_ratio`` (1x1, 1x2,
1x3): a real multi-leg order trades in such ratios, while unrelated small prints that
happen to meet in a busy book do not. A group that is no structure as a whole (busy
windows chain five or more packets) is searched one leg size at a time: the legs of one
order share a size.
"""

# No `from __future__ import annotations` here: Dagster inspects the `context` annotation at
# definition time and does not resolve string annotations.

import datetime as dt
from collections.abc import Callable

import dagster as dg
import numpy as np
import polars as pl

from adapters.calendar import to_ns
from assets.checks import all_exist, unique
from assets.factory import DayRun, day_asset
from assets.flow_packets import window_ns
from assets.money import exact_sum
from assets.opening import likely_opening, volume_through, with_prior_volume
from assets.ordering import KEY_LIMIT, group_starts, instrument_codes, order_by_code_time
from assets.thresholds import StructureRules, Thresholds

MAX_LEGS = 4
STRUCTURE_COLUMNS = [
    "structure_id", "date", "underlying", "kind", "direction", "start_ts", "end_ts", "n_legs",
    "packet_ids", "contracts", "sides", "net_premium", "gross_premium", "expiries", "strikes",
    "rights",
]  # fmt: skip


def leg_candidates(packets: pl.LazyFrame, params: StructureRules) -> pl.LazyFrame:
    """Return the packets that may be legs: complex ones (the exchange reported them as
    legs of one order), and single-leg ones of at least ``min_leg_size``."""
    return packets.filter(pl.col("complex") | (pl.col("size") >= int(params.min_leg_size)))


#: The leg columns a structure is built from (and ``complex``, which makes a leg).
LEG_COLUMNS = [
    "date", "underlying", "contract", "packet_id", "start_ts", "end_ts", "side", "premium",
    "size", "expiry", "strike", "right", "complex",
]  # fmt: skip


def read_legs(packets: pl.LazyFrame, params: StructureRules) -> pl.DataFrame:
    """Return the packets that may be legs (:func:`leg_candidates`), their leg columns only.

    Read once: the asset builds the structures from them (:func:`structures_of_legs`) and
    checks the structures' packets against them (a leg is a packet; no second read of every
    packet id).
    """
    return leg_candidates(packets, params).select(LEG_COLUMNS).collect()


def leg_groups(legs: pl.DataFrame, params: StructureRules) -> tuple[np.ndarray, np.ndarray]:
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
    window_ns = int(params.window_ms) * 1_000_000
    # Complex and single-leg packets never share a group: one order's legs are reported
    # as one or the other.
    code = instrument_codes("underlying").cast(pl.Int64) * 2 + pl.col("complex").cast(pl.Int64)
    order, uid = order_by_code_time(legs, code, "start_ts", "packet_id")
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


def flag_reach_ns(params: StructureRules, packet_window_ns: int) -> int:
    """Return how far back a leg's group flag looks: packet window + structure window."""
    return packet_window_ns + int(params.window_ms) * 1_000_000 + 1


def restart(
    packets: pl.LazyFrame,
    since_ns: int,
    params: StructureRules,
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
            .select("underlying", "complex", "start_ts", "end_ts", "packet_id")
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
            .group_by("underlying", "complex")
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


def _equal_size_groups(group: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return, for legs in ``group`` order, the rows of those in sub-groups of one group
    and one size with 2 to ``MAX_LEGS`` legs, and their sub-group numbers from 0.

    A busy window chains unrelated packets to an order's legs; the legs of one order share
    a size, so a group that is no structure as a whole may still hold one per size.
    """
    if len(group) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    order = np.lexsort((size, group))  # stable: legs keep their time order in a sub-group
    key_g, key_s = group[order], size[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = (key_g[1:] != key_g[:-1]) | (key_s[1:] != key_s[:-1])
    sub = np.cumsum(starts) - 1
    n = np.bincount(sub)[sub]
    keep = (n >= 2) & (n <= MAX_LEGS) & (key_s > 0)
    kept_sub = sub[keep]
    return order[keep], np.unique(kept_sub, return_inverse=True)[1].astype(np.int64)


#: Gives the in-flow volume table (:func:`assets.opening.volume_through`) of some contracts.
VolumeOf = Callable[[list[str]], pl.LazyFrame]


def _prior_volumes(legs: pl.DataFrame, volume: VolumeOf | None) -> pl.DataFrame:
    """Return each of ``legs``' ``prior_volume`` (``packet_id``, ``prior_volume``): its
    contract's in-flow volume before it starts, from one ``volume`` table of all their
    contracts (None: no earlier volume, no rows)."""
    if volume is None or legs.height == 0:
        return pl.DataFrame(schema={"packet_id": pl.String, "prior_volume": pl.Int64})
    contracts = legs.get_column("contract").unique().to_list()
    return (
        with_prior_volume(
            legs.lazy().select("packet_id", "contract", "start_ts"), volume(contracts), "start_ts"
        )
        .select("packet_id", pl.col("prior_volume").cast(pl.Int64))
        .collect()
    )


def _aggregate(
    legs: pl.DataFrame,
    rows: np.ndarray,
    groups: np.ndarray,
    open_interest: pl.LazyFrame,
    prior: pl.DataFrame,
) -> pl.LazyFrame:
    """Return one row per group of ``legs[rows]`` (``groups`` numbers them) with the
    columns :func:`_named` reads; a leg opens positions as :mod:`assets.opening` says
    (its ``prior_volume`` from ``prior``; a leg not there: no earlier volume)."""
    signed = (
        pl.when(pl.col("side") == "buy")
        .then(pl.col("premium"))
        .when(pl.col("side") == "sell")
        .then(-pl.col("premium"))
        .otherwise(0.0)
    )
    by_strike = pl.col("strike").rank("ordinal")
    kept = legs[pl.Series(rows)]
    return (
        kept.lazy()
        .with_columns(pl.Series("_g", groups))
        # The legs' order kept: a group's premiums are summed in (start_ts, packet_id)
        # order, so the sums are the same bits on every run.
        .join(
            open_interest.select("contract", "open_interest"),
            on="contract",
            how="left",
            maintain_order="left",
        )
        .join(prior.lazy(), on="packet_id", how="left", maintain_order="left")
        .with_columns(pl.col("prior_volume").fill_null(0))
        .group_by("_g")
        .agg(
            pl.col("date").first(),
            pl.col("underlying").first(),
            pl.col("complex").first(),
            pl.col("start_ts").min(),
            pl.col("end_ts").max(),
            pl.len().alias("n_legs"),
            pl.col("contract").n_unique().alias("_n_contracts"),
            pl.col("packet_id").sort().alias("packet_ids"),
            pl.col("contract").sort_by("packet_id").alias("contracts"),
            # Leg by leg, in the order of ``contracts`` (a packet id starts with its contract).
            pl.col("side").fill_null("none").sort_by("packet_id").alias("sides"),
            exact_sum(signed).alias("net_premium"),
            exact_sum(pl.col("premium")).alias("gross_premium"),
            pl.col("expiry").unique().sort().alias("expiries"),
            pl.col("strike").unique().sort().alias("strikes"),
            pl.col("right").unique().sort().alias("rights"),
            likely_opening(pl.col("size"), pl.col("open_interest"), pl.col("prior_volume"))
            .all()
            .alias("_all_open"),
            (pl.col("side") == "buy").sum().alias("_n_buy"),
            (pl.col("side") == "sell").sum().alias("_n_sell"),
            pl.col("side").filter(pl.col("right") == "C").first().alias("_call_side"),
            pl.col("side").sort_by(by_strike).alias("_sides_by_strike"),
            pl.col("size").sort_by(by_strike).alias("_sizes_by_strike"),
            pl.col("strike").sort().diff().drop_nulls().unique().len().alias("_n_gaps"),
        )
    )


def _named(groups: pl.LazyFrame) -> pl.LazyFrame:
    """Return the groups that are structures, named from their legs' shapes and sides
    (:func:`structure_kind`, :func:`structure_direction`)."""
    return (
        groups.filter(pl.col("_n_contracts") == pl.col("n_legs"))
        .with_columns(structure_kind().alias("kind"))
        .filter(pl.col("kind").is_not_null())
        .with_columns(
            structure_direction().alias("direction"),
            pl.concat_str(pl.lit("S-"), pl.col("packet_ids").list.first()).alias("structure_id"),
            pl.col("n_legs").cast(pl.Int64),
        )
        .select(*STRUCTURE_COLUMNS, "_g")
    )


def structure_kind() -> pl.Expr:
    """Return the structure's name from its legs (rule 6), null when it is no structure.

    Bought legs are those placed at the ask (AA/A), sold ones at the bid (B/BB); a leg
    at the mid or unplaced has no side, and a shape with an unsided leg keeps its plain
    name (``straddle``, ``strangle``, ``vertical``). Exchange-reported multi-leg prints are
    ``complex`` whatever their shape.

    Examples
    --------
    Call and put of one expiry and strike, both bought: ``long_straddle``; a call bought
    with a put sold (any strikes): ``risk_reversal``; two calls of one expiry, the lower
    strike bought and the higher sold: ``debit_vertical``; three equidistant strikes of one
    right, the wings bought and the body (twice their size) sold: ``butterfly``.
    """
    n_exp, n_strike, n_right = (pl.col(c).list.len() for c in ("expiries", "strikes", "rights"))
    n_legs, n_buy, n_sell = pl.col("n_legs"), pl.col("_n_buy"), pl.col("_n_sell")
    two = n_legs == 2
    one_each = (n_buy == 1) & (n_sell == 1)
    all_buy, all_sell = n_buy == n_legs, n_sell == n_legs
    combo = (n_exp == 1) & (n_right == 2)
    spread = (n_exp == 1) & (n_right == 1)
    sides, sizes = pl.col("_sides_by_strike"), pl.col("_sizes_by_strike")
    butterfly = (
        (n_legs == 3) & (n_strike == 3) & (pl.col("_n_gaps") == 1)
        & (sides.list.get(0, null_on_oob=True) == sides.list.get(2, null_on_oob=True)) & (sides.list.get(0, null_on_oob=True) != sides.list.get(1, null_on_oob=True))
        & sides.list.get(0, null_on_oob=True).is_in(["buy", "sell"]) & sides.list.get(1, null_on_oob=True).is_in(["buy", "sell"])
        & (sizes.list.get(1, null_on_oob=True) == 2 * sizes.list.get(0, null_on_oob=True)) & (sizes.list.get(2, null_on_oob=True) == sizes.list.get(0, null_on_oob=True))
    )  # fmt: skip
    return (
        pl.when(pl.col("complex")).then(pl.lit("complex"))
        .when(combo & two & one_each).then(pl.lit("risk_reversal"))
        .when(combo & two & (n_strike == 1) & all_buy).then(pl.lit("long_straddle"))
        .when(combo & two & (n_strike == 1) & all_sell).then(pl.lit("short_straddle"))
        .when(combo & two & (n_strike == 1)).then(pl.lit("straddle"))
        .when(combo & two & all_buy).then(pl.lit("long_strangle"))
        .when(combo & two & all_sell).then(pl.lit("short_strangle"))
        .when(combo & two).then(pl.lit("strangle"))
        .when(combo).then(pl.lit("combo"))
        .when(spread & two & (n_strike == 2) & one_each & _debit()).then(pl.lit("debit_vertical"))
        .when(spread & two & (n_strike == 2) & one_each).then(pl.lit("credit_vertical"))
        .when(spread & two & (n_strike == 2)).then(pl.lit("vertical"))
        .when(spread & butterfly).then(pl.lit("butterfly"))
        .when(spread & (n_strike >= 3)).then(pl.lit("ladder"))
        .when((n_exp == 2) & (n_right == 1) & pl.col("_all_open")).then(pl.lit("calendar"))
        .when((n_exp == 2) & (n_right == 1)).then(pl.lit("roll"))
    )  # fmt: skip


def _debit() -> pl.Expr:
    """Return whether a one-right vertical paid for its bought leg: the lower strike call
    or the higher strike put was bought."""
    low_side = pl.col("_sides_by_strike").list.first()
    call = pl.col("rights").list.first() == "C"
    return pl.when(call).then(low_side == "buy").otherwise(low_side == "sell")


def structure_direction() -> pl.Expr:
    """Return a structure's direction: a risk reversal is bullish when its call was bought;
    a debit call vertical and a credit put vertical are bullish, the other two bearish;
    every other structure is ``none`` (it trades volatility, time or a roll, not a view)."""
    call = pl.col("rights").list.first() == "C"
    kind = pl.col("kind")
    bullish = (
        ((kind == "risk_reversal") & (pl.col("_call_side") == "buy"))
        | ((kind == "debit_vertical") & call)
        | ((kind == "credit_vertical") & ~call)
    )
    directional = kind.is_in(["risk_reversal", "debit_vertical", "credit_vertical"])
    return (
        pl.when(directional & bullish).then(pl.lit("bullish"))
        .when(directional).then(pl.lit("bearish"))
        .otherwise(pl.lit("none"))
    )  # fmt: skip


def find_structures(
    packets: pl.LazyFrame,
    open_interest: pl.LazyFrame,
    params: StructureRules,
    volume: VolumeOf | None = None,
) -> pl.LazyFrame:
    """Return the structures among one day's packets (:func:`read_legs`, then
    :func:`structures_of_legs`).

    Parameters
    ----------
    packets
        ``flow_packets`` rows of one day.
    open_interest
        ``option_open_interest`` rows (contract, open_interest) of the day; may be empty.
    params
        ``window_ms``, ``min_leg_size``, ``max_leg_size_ratio``.
    volume
        The in-flow volume of some contracts (:func:`assets.opening.volume_through`), for
        whether a leg opens positions; None: no earlier volume.

    Returns
    -------
    pl.LazyFrame
        One row per structure: ``kind`` and ``direction`` (:func:`structure_kind`,
        :func:`structure_direction`), legs (``packet_ids``, and in the same order
        ``contracts`` and ``sides``), ``net_premium`` (bought legs positive, sold negative,
        unsided zero) and ``gross_premium``.

    Examples
    --------
    A call bought at the ask and a put of the same expiry sold at the bid within 500 ms,
    20 contracts each, give one ``risk_reversal`` whose direction is ``bullish``.
    """
    return structures_of_legs(read_legs(packets, params), open_interest, params, volume)


def structures_of_legs(
    legs: pl.DataFrame,
    open_interest: pl.LazyFrame,
    params: StructureRules,
    volume: VolumeOf | None = None,
) -> pl.LazyFrame:
    """Return the structures of ``legs`` (:func:`read_legs`), as :func:`find_structures`.

    Three kinds of groups are structures: a group of 2 to ``MAX_LEGS`` single-leg packets
    in whole size ratios that forms a known shape; in a group that does not, each set of 2
    to ``MAX_LEGS`` legs of one size that does; and a group of complex packets (the
    exchange reported them as one multi-leg order).
    """
    order, group = leg_groups(legs, params)
    size = legs.get_column("size").to_numpy()[order]
    complex_leg = legs.get_column("complex").to_numpy()[order]
    # Most groups are one packet alone, and most others have legs of sizes no order would
    # trade together: only the legs of groups of 2 to MAX_LEGS packets in whole ratios
    # are gathered and aggregated, and only they look up their open interest.
    kept = _in_ratio_groups(group, size, int(params.max_leg_size_ratio)) & ~complex_leg
    # A complex group with legs on two or more contracts (one alone shows no structure).
    multi = np.bincount(group, minlength=int(group.max()) + 1 if len(group) else 0)[group] >= 2
    in_complex = complex_leg & multi
    # A leg's prior volume only decides calendar against roll: two expiries of one right,
    # single-leg packets. Every group, and every set of legs taken from a group, has at most
    # the expiries of its whole group, so the legs of single-leg groups with two or more
    # expiries are all that need it, and they get it from one volume table: the day's prints
    # are read and summed once, for the fewest contracts.
    expiry = legs.get_column("expiry").to_physical().to_numpy()[order]
    several = (
        (pl.DataFrame({"g": group, "e": expiry}).select(pl.col("e").n_unique().over("g") > 1))
        .to_series()
        .to_numpy()
    )
    candidates = np.zeros(legs.height, dtype=bool)
    candidates[order[several & ~complex_leg]] = True
    prior = _prior_volumes(legs.filter(pl.Series(candidates)), volume)
    whole = _named(_aggregate(legs, order[kept], group[kept], open_interest, prior)).collect()
    complexes = _named(_aggregate(legs, order[in_complex], group[in_complex], open_interest, prior))
    # Single-leg groups that are no structure as a whole: their legs one size at a time.
    named = np.zeros(int(group.max()) + 1 if len(group) else 0, dtype=bool)
    named[whole.get_column("_g").to_numpy()] = True
    rest = ~complex_leg & ~named[group]
    rows, sub = _equal_size_groups(group[rest], size[rest])
    parts = _named(_aggregate(legs, order[rest][rows], sub, open_interest, prior))
    return (
        pl.concat([whole.lazy(), complexes, parts])
        .select(STRUCTURE_COLUMNS)
        .sort("underlying", "start_ts", "structure_id")
    )


@day_asset(
    "structures",
    group="options",
    deps=["flow_packets", "option_open_interest", "option_prints"],
    checks=["structure_id_unique", "packets_exist"],
    description="Multi-leg structures named from their legs' sides (straddles, strangles, risk reversals, verticals, butterflies, ladders, rolls, calendars, complex orders), with a direction.",
    alert_path=True,
)
def structures(run: DayRun) -> dg.MaterializeResult:
    """Find one day's structures and overwrite that partition (a live run: its tail)."""
    lake, day, th = run.lake, run.day, run.th
    plan = run.plan(("option",))
    packets = lake.require_day("flow_packets", day)
    oi = lake.scan_day("option_open_interest", day)
    params = th.structures
    since: int | None = None
    if plan.since_ns is not None:
        since = structures_since(packets, plan.since_ns, day, th)
        # Flags are exact one reach after the read starts: read from there, keep the groups
        # that start at or after the restart.
        packet_window = window_ns(th.packets)
        packets = packets.filter(pl.col("start_ts") >= since - flag_reach_ns(params, packet_window))
    legs = read_legs(packets, params)
    prints = lake.require_day("option_prints", day)

    def volume(contracts: list[str]) -> pl.LazyFrame:
        # The whole day's, a tail's too: a leg's earlier volume may be hours before it.
        return volume_through(
            prints.filter(pl.col("contract").is_in(contracts)).select(
                "contract", "ts_event", "seq", "size", "in_flow"
            )
        )

    found = structures_of_legs(legs, oi, params, volume)
    if since is not None:
        found = found.filter(pl.col("start_ts") >= since)
    found = found.collect()
    checks = [
        unique(found, "structure_id"),
        all_exist("packets_exist", found["packet_ids"], legs.get_column("packet_id")),
    ]
    return run.overwrite(found, checks, clock="start_ts", since_ns=since)


def structures_since(
    packets: pl.LazyFrame, option_since_ns: int, day: dt.date, th: Thresholds
) -> int:
    """Return where a live run's structures tail starts: the start of the earliest group
    that the packets rebuilt from ``option_since_ns`` (one packet window earlier) can change."""
    packet_window = window_ns(th.packets)
    floor = to_ns(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC))
    return restart(packets, option_since_ns - packet_window, th.structures, packet_window, floor)
