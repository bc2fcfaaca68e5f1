"""``contract_baselines``: rolling per-contract baselines and the z-scores of each packet.

docs/rules.md rule 7. For each single-leg packet, the baseline is the contract's last
``rolling_window_size`` earlier packets no older than ``rolling_ttl_sec``; z = (x - mean) /
population sd of those *prior* values only, null below ``z_min_samples`` priors (and when
the priors do not vary). The state at the end of day D (each contract's last packets
still inside the TTL) is the D partition of ``contract_baselines``; day D+1 starts from it,
so any day replays alone exactly as in a run through all days.

Vectorised: an as-of join finds each packet's oldest prior inside the TTL, and windowed
sums come from cumulative sums of values centred on the contract's first value (centring
keeps the float64 sums of squares exact enough for premiums in the millions).
"""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation.

import datetime as dt

import dagster as dg
import numpy as np
import polars as pl

from adapters.calendar import session_bounds, sessions_between, to_ns
from assets.checks import unique
from assets.factory import DayRun, day_asset
from assets.flow_packets import window_ns
from assets.ordering import first_at_or_after, group_starts, instrument_codes, order_by_code_time
from assets.resources import LakeResource
from assets.thresholds import BaselineRules

BASELINE_FIELDS = ("premium", "size", "spread")
STATE_SCHEMA: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "contract": pl.String(),
    "n": pl.Int64(),
    "ts": pl.List(pl.Int64()),
    "packet_ids": pl.List(pl.String()),
    "premium": pl.List(pl.Float64()),
    "size": pl.List(pl.Float64()),
    "spread": pl.List(pl.Float64()),
}


def _window_stats(
    group: np.ndarray, ts: np.ndarray, values: dict[str, np.ndarray], window: int, ttl_ns: int
) -> dict[str, np.ndarray]:
    """Return each row's ``n_prior`` and ``<field>_mean`` / ``<field>_sd`` of its priors.

    Rows are in (contract, time) order: ``group`` numbers the contracts (equal numbers
    contiguous), ``ts`` holds the times and ``values`` the baseline fields (float64).
    """
    n = len(ts)
    if n == 0:
        empty = np.zeros(0)
        return (
            {"n_prior": np.zeros(0, dtype=np.int64)}
            | {f"{f}_{s}": empty for f in values for s in ("mean", "sd")}
            | {f"{f}_n": np.zeros(0, dtype=np.int64) for f in values}
        )
    starts = group_starts(group)
    # First row of the contract no older than the TTL relative to this row.
    oldest = first_at_or_after(group, ts, -ttl_ns)
    first_row = np.flatnonzero(starts)[np.cumsum(starts) - 1]
    index = np.arange(n)
    n_prior = np.minimum(window, index - oldest)
    lo = index - n_prior
    out = {"n_prior": n_prior}
    # Row i's priors are rows lo..i-1: sums are differences of running sums c[i] - c[lo]
    # (c[i] is c[:-1] as it stands, no gather), of values shifted by the contract's first
    # (for precision). Done in place: each new array of a day is fresh pages, and faulting
    # those in was much of this function's time.
    c1, c2 = np.zeros(n + 1), np.zeros(n + 1)
    for field, values_of in values.items():
        missing = np.isnan(values_of)
        count = n_prior
        if missing.any():
            # A packet without an NBBO has no spread: it is a prior of the others, but its
            # spread is not a sample. Counts of samples run alongside the sums.
            taken = np.concatenate(([0], np.cumsum(~missing)))
            count = taken[:-1] - taken[lo]
            first = np.nan_to_num(values_of[first_row])
            x = np.where(missing, 0.0, values_of - first)
        else:
            first = values_of[first_row]
            x = values_of - first
        out[f"{field}_n"] = count
        np.cumsum(x, out=c1[1:])
        np.cumsum(np.multiply(x, x, out=x), out=c2[1:])
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.divide(np.subtract(c1[:-1], c1[lo], out=x), count, out=x)
            var = c2[lo]
            np.divide(np.subtract(c2[:-1], var, out=var), count, out=var)
            np.subtract(var, np.multiply(mean, mean, out=c1[1:]), out=var)
            np.maximum(var, 0.0, out=var)
        out[f"{field}_mean"] = np.add(mean, first, out=first)
        out[f"{field}_sd"] = np.sqrt(var, out=var)
    return out


def _contract_order(rows: pl.DataFrame, apart: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return the order of baseline ``rows`` by (contract, ts, packet_id) and, in that
    order, each row's contract code (equal codes contiguous).

    Contracts come in no set order of their names (codes, not names, are sorted): every
    figure here is per contract, and the tables are stored in their own clock order.
    ``apart`` names a boolean column whose true rows get codes of their own (a contract's
    complex packets apart from its single-leg ones).
    """
    code = instrument_codes("contract").cast(pl.Int64)
    if apart is not None:
        code = code * 2 + pl.col(apart).cast(pl.Int64)
    return order_by_code_time(rows, code, "ts", "packet_id")


def _rows_of(packets: pl.LazyFrame) -> pl.LazyFrame:
    """Return every packet in the baseline rows' shape (contract, ts, packet_id, values),
    with ``complex``."""
    return packets.select(
        "contract", pl.col("start_ts").alias("ts"), "packet_id",
        pl.col("premium").cast(pl.Float64), pl.col("size").cast(pl.Float64), pl.col("spread").cast(pl.Float64),
        "complex",
    )  # fmt: skip


def _values(packets: pl.LazyFrame) -> pl.LazyFrame:
    """Return the single-leg packets as baseline rows (contract, ts, packet_id, values)."""
    return _rows_of(packets).filter(~pl.col("complex")).drop("complex")


def _prior_rows(prior_state: pl.LazyFrame) -> pl.LazyFrame:
    """Return the baseline rows of a state (one row per packet it holds)."""
    return (
        prior_state.select("contract", "ts", "packet_ids", "premium", "size", "spread")
        .explode("ts", "packet_ids", "premium", "size", "spread")
        .rename({"packet_ids": "packet_id"})
    )


def earlier_packets(
    day_packets: pl.LazyFrame, packets: pl.LazyFrame, since_ns: int, params: BaselineRules
) -> pl.LazyFrame:
    """Return the carried baseline state of a live tail: per contract of ``packets``, the
    last ``rolling_window_size`` single-leg packets of the day that started before
    ``since_ns`` (only those can be among the priors of a packet of the tail)."""
    return (
        _values(day_packets.filter(pl.col("start_ts") < since_ns))
        .join(packets.select("contract").unique(), on="contract", how="semi")
        .sort("contract", "ts", "packet_id")
        .group_by("contract", maintain_order=True)
        .tail(int(params.rolling_window_size))
    )


def score_packets(
    packets: pl.LazyFrame,
    prior_state: pl.LazyFrame,
    params: BaselineRules,
    earlier: pl.LazyFrame | None = None,
    wanted: pl.Expr | None = None,
) -> pl.DataFrame:
    """Return each single-leg packet with its baseline and z-scores.

    Parameters
    ----------
    packets
        ``flow_packets`` of one day (complex packets are skipped).
    prior_state
        The previous day's ``contract_baselines`` partition (may be empty).
    params
        ``rolling_window_size``, ``rolling_ttl_sec``, ``z_min_samples``.
    earlier
        For a live tail: baseline rows of the day's packets before it
        (:func:`earlier_packets`).
    wanted
        When given, only the packets it holds for (over ``premium``, ``size``, ``spread``)
        are returned; every packet still counts as a prior of the later ones.

    Returns
    -------
    pl.DataFrame
        packet_id, contract, start_ts, n_prior, premium_mean, premium_sd, premium_z,
        size_mean, size_sd, size_z, spread_n, spread_mean, spread_sd, spread_z (z null below
        ``z_min_samples`` samples or when sd is 0; a packet without an NBBO is a prior with
        no spread sample).
    """
    window, ttl_ns, min_n = (
        int(params.rolling_window_size),
        int(params.rolling_ttl_sec) * 10**9,
        int(params.z_min_samples),
    )
    prior = _prior_rows(prior_state)
    if earlier is not None:
        prior = pl.concat([prior, earlier])
    # ``_out``: the rows scored (this day's wanted single-leg packets); the others are
    # only priors. Complex packets are kept apart (a group of their own per contract, never
    # scored), not filtered out: a filter copied every row (0.9 s on 9.6M packets).
    scored = ~pl.col("complex") & (pl.lit(True) if wanted is None else wanted.fill_null(False))
    both = pl.concat(
        [
            prior.with_columns(pl.lit(False).alias("complex"), pl.lit(False).alias("_out")),
            _rows_of(packets).with_columns(scored.alias("_out")),
        ]
    ).collect()
    order, group = _contract_order(both, apart="complex")
    stats = _window_stats(
        group,
        both.get_column("ts").to_numpy()[order],
        {f: both.get_column(f).to_numpy()[order] for f in BASELINE_FIELDS},
        window,
        ttl_ns,
    )
    # Only the scored rows' strings are gathered: a few percent of a day's packets when
    # the classifiers ask for those that can pass their premium floors.
    out = both.get_column("_out").to_numpy()[order]
    # A z needs ``z_min_samples`` samples: priors for premium and size, priors with a
    # spread for the spread (rule 7).
    z = {
        f"{f}_z": pl.when((pl.col(f"{f}_n") >= min_n) & (pl.col(f"{f}_sd") > 0))
        .then((pl.col(f) - pl.col(f"{f}_mean")) / pl.col(f"{f}_sd"))
        .otherwise(None)
        for f in BASELINE_FIELDS
    }
    return (
        both[pl.Series(order[out])]
        .with_columns(pl.Series(k, v[out]) for k, v in stats.items())
        .with_columns(**z)
        .with_columns(
            pl.when(pl.col(f"{f}_n") > 0).then(pl.col(c)).alias(c)
            for f in BASELINE_FIELDS
            for c in (f"{f}_mean", f"{f}_sd")
        )
        .select(
            "packet_id",
            "contract",
            pl.col("ts").alias("start_ts"),
            pl.col("n_prior").cast(pl.Int64),
            "premium_mean",
            "premium_sd",
            "premium_z",
            "size_mean",
            "size_sd",
            "size_z",
            pl.col("spread_n").cast(pl.Int64),
            "spread_mean",
            "spread_sd",
            "spread_z",
        )
    )


def _state_of(rows: pl.LazyFrame, day: dt.date, params: BaselineRules) -> pl.DataFrame:
    """Return the state rows of ``day`` from baseline rows: per contract, the last
    ``rolling_window_size`` rows younger than ``rolling_ttl_sec`` at the session close."""
    window, ttl_ns = int(params.rolling_window_size), int(params.rolling_ttl_sec) * 10**9
    cutoff = to_ns(session_bounds(day)[1]) - ttl_ns
    recent = rows.filter(pl.col("ts") >= cutoff).collect()
    order, group = _contract_order(recent)
    # Each contract's last ``window`` rows (3.1M of 9M on a 10M-print day), not the whole
    # day sorted and then cut.
    starts = group_starts(group)
    last = np.r_[np.flatnonzero(starts)[1:], len(group)] - 1
    rows = order[last[np.cumsum(starts) - 1] - np.arange(len(group)) < window]
    if np.all(np.diff(order)[~starts[1:]] > 0):
        # Each contract's rows come in time order as read (the usual case: the day's
        # packets are stored in time order, after the earlier state): the rows are kept by
        # a mask, and grouping keeps their order: no gather across the many chunks of a
        # day read from many files.
        keep = np.zeros(recent.height, dtype=bool)
        keep[rows] = True
        kept = recent.filter(pl.Series(keep))
    else:
        kept = recent[pl.Series(rows)]
    return (
        kept.lazy()
        .group_by("contract", maintain_order=True)
        .agg(pl.all())
        .select(
            pl.lit(day).alias("date"),
            "contract",
            pl.col("ts").list.len().cast(pl.Int64).alias("n"),
            "ts",
            pl.col("packet_id").alias("packet_ids"),
            "premium",
            "size",
            "spread",
        )
        .collect()
    )


def end_of_day_state(
    packets: pl.LazyFrame, prior_state: pl.LazyFrame, day: dt.date, params: BaselineRules
) -> pl.DataFrame:
    """Return the baseline state at the end of ``day``: per contract, the last
    ``rolling_window_size`` packets younger than ``rolling_ttl_sec`` at the session close."""
    return _state_of(pl.concat([_prior_rows(prior_state), _values(packets)]), day, params)


def roll_state(
    state: pl.LazyFrame, tail: pl.LazyFrame, since_ns: int, day: dt.date, params: BaselineRules
) -> tuple[pl.DataFrame, list[str]]:
    """Return the state after a live tail, from the state so far (the carried state).

    ``tail`` holds the day's packets from ``since_ns`` on (they replace the state's rows
    from there). Only the contracts the tail can change are rolled: those with packets in
    the tail and those whose state reaches ``since_ns`` (a packet there may be gone); every
    other contract's state row is kept as it is, so the cost follows the tail, not the
    contracts traded so far. A contract whose state was full and loses more rows from
    ``since_ns`` than the tail brings back (a cancel removed a packet) needs earlier packets
    the state no longer holds: those contracts are returned to be rolled from the whole day.

    Returns
    -------
    tuple[pl.DataFrame, list[str]]
        The state (one row per contract, not in any promised order) and the contracts to
        roll again from the whole day.
    """
    window = int(params.rolling_window_size)
    so_far = state.collect()
    new = _values(tail).collect()
    # A state row's times are in order: its last is its latest. Never null: a row is
    # either rolled or kept.
    touched = (
        pl.col("contract").is_in(new.get_column("contract").implode())
        | (pl.col("ts").list.last() >= since_ns)
    ).fill_null(False)
    carried = (
        so_far.lazy()
        .filter(touched)
        .select("contract", "n", "ts", "packet_ids", "premium", "size", "spread")
        .explode("ts", "packet_ids", "premium", "size", "spread")
        .rename({"packet_ids": "packet_id"})
    )
    lost = (
        carried.filter(pl.col("ts") >= since_ns)
        .group_by("contract")
        .agg(pl.len().alias("_lost"), pl.col("n").first())
    )
    back = new.lazy().group_by("contract").agg(pl.len().alias("_back"))
    refill = (
        lost.join(back, on="contract", how="left")
        .filter((pl.col("n") >= window) & (pl.col("_back").fill_null(0) < pl.col("_lost")))
        .select("contract")
        .collect()
        .get_column("contract")
        .sort()
        .to_list()
    )
    rows = pl.concat([carried.filter(pl.col("ts") < since_ns).drop("n"), new.lazy()])
    kept = so_far.filter(~touched)
    return pl.concat([kept, _state_of(rows, day, params).select(kept.columns)]), refill


def previous_session(day: dt.date) -> dt.date | None:
    """Return the XNYS session before ``day`` (None before the calendar's first)."""
    earlier = sessions_between(day - dt.timedelta(days=10), day - dt.timedelta(days=1))
    return earlier[-1] if earlier else None


def prior_state_for(lake: LakeResource, day: dt.date) -> tuple[pl.LazyFrame, dt.date | None]:
    """Return the previous session's baseline state (empty when it was never built)."""
    prev = previous_session(day)
    empty = pl.LazyFrame(schema=STATE_SCHEMA)
    if prev is None:
        return empty, None
    frame = lake.find_day("contract_baselines", prev)
    return (frame if frame is not None else empty), prev


#: The previous trading day (partitions are XNYS sessions, so -1 skips weekends and holidays).
PREVIOUS_DAY = dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)


@day_asset(
    "contract_baselines",
    group="signals",
    deps=["flow_packets", dg.AssetDep("contract_baselines", partition_mapping=PREVIOUS_DAY)],
    checks=["contract_unique"],
    description="Per-contract rolling baseline state at the end of the day (seeds the next day).",
    alert_path=True,
)
def contract_baselines(run: DayRun) -> dg.MaterializeResult:
    """Roll the previous session's state forward through this day's packets.

    A live run rolls the state so far (this partition) through the packets its tail
    rebuilt: the cost follows the number of contracts, not the prints of the day.
    """
    lake, day, th = run.lake, run.day, run.th
    plan = run.plan(("option",))
    prior, prev = prior_state_for(lake, day)
    params = th.baselines
    packets = lake.require_day("flow_packets", day)
    if plan.since_ns is None:
        state = end_of_day_state(packets, prior, day, params)
    else:
        # Packets change from one packet window before the tail (see flow_packets).
        since = plan.since_ns - window_ns(th.packets)
        state, refill = roll_state(
            lake.require_day("contract_baselines", day),
            packets.filter(pl.col("start_ts") >= since), since, day, params,
        )  # fmt: skip
        if refill:
            again = end_of_day_state(
                packets.filter(pl.col("contract").is_in(refill)),
                prior.filter(pl.col("contract").is_in(refill)), day, params,
            )  # fmt: skip
            state = pl.concat([state.filter(~pl.col("contract").is_in(refill)), again])
    result = run.overwrite(state, [unique(state, "contract")], clock="contract")
    return dg.MaterializeResult(
        check_results=result.check_results,
        metadata={**(result.metadata or {}), "seeded_from": str(prev) if prev else "none"},
    )
