"""``gamma_exposure``: dealer gamma per underlying through the day, and the gamma flip.

At fixed snapshots (every ``snapshot_minutes`` from the open, up to the close and never
past the last landed quote) each contract with start-of-day open interest gets its mid
(the last valid NBBO at or before the snapshot, at most ``quote_max_age_s`` old), the
underlying's mid at the same moment (as old at most), the Black-Scholes implied volatility of that mid
(bisection, no dividends, ``rate``) and its gamma. Expiry is 16:00 New York on the
expiry date.

Sign convention (the common public one): dealers are assumed **long calls and short
puts** (customers sell calls and buy puts), so a contract contributes
``+gamma x OI x multiplier x S^2 x 1%`` for calls and the negative for puts: dollars of
underlying dealers trade per 1% move. Positive net GEX means dealers damp moves; negative,
they chase them. The **gamma flip** is the spot level where net GEX, re-evaluated with
each contract's implied vol held, crosses zero: the crossing on a grid of
``+-grid_pct`` around spot (step ``grid_step_pct``) nearest to spot, linearly
interpolated; null when the profile keeps one sign.
"""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation.

import datetime as dt

import dagster as dg
import numpy as np
import polars as pl

from adapters.calendar import NY, session_bounds, to_ns
from adapters.osi import parse_osi_columns
from adapters.quotes import NBBO
from adapters.synthetic.pricing import YEAR_SECONDS, black_scholes
from assets.checks import holds, unique
from assets.factory import DayRun, day_asset
from assets.nbbo import valid_quotes
from assets.thresholds import GammaRules

NS = 10**9
GAMMA_COLUMNS = [
    "date", "ts", "underlying", "spot", "n_contracts", "call_gex", "put_gex", "net_gex",
    "gamma_flip", "strikes", "net_gex_by_strike",
]  # fmt: skip


def snapshot_times(day: dt.date, every_minutes: int, last_ns: int | None) -> list[int]:
    """Return the day's snapshot times (ns): every ``every_minutes`` after the open, the
    close included, none after ``last_ns`` (the last landed quote)."""
    open_, close = (to_ns(t) for t in session_bounds(day))
    step = every_minutes * 60 * NS
    times = [*range(open_ + step, close, step), close]
    return [t for t in times if last_ns is not None and t <= last_ns]


def implied_vol(
    price: np.ndarray,
    spot: np.ndarray,
    strike: np.ndarray,
    t_years: np.ndarray,
    is_call: np.ndarray,
    rate: float,
) -> np.ndarray:
    """Return Black-Scholes implied vols by bisection on [0.01, 5]; NaN where the price is
    outside what any vol in that range gives (below intrinsic, above the bound)."""
    lo = np.full(len(price), 0.01)
    hi = np.full(len(price), 5.0)
    low_price = black_scholes(spot, strike, t_years, lo, is_call, rate)
    high_price = black_scholes(spot, strike, t_years, hi, is_call, rate)
    ok = (price >= low_price) & (price <= high_price)
    for _ in range(50):  # halves the bracket 50 times: far below a cent of price
        mid = (lo + hi) / 2
        above = black_scholes(spot, strike, t_years, mid, is_call, rate) > price
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    return np.where(ok, (lo + hi) / 2, np.nan)


def bs_gamma(
    spot: np.ndarray, strike: np.ndarray, t_years: np.ndarray, vol: np.ndarray, rate: float
) -> np.ndarray:
    """Return Black-Scholes gamma (per $1 of the underlying, per share)."""
    sd = vol * np.sqrt(t_years)
    d1 = (np.log(spot / strike) + (rate + 0.5 * vol * vol) * t_years) / sd
    return np.exp(-0.5 * d1 * d1) / np.sqrt(2 * np.pi) / (spot * sd)


def chain_at(
    quotes: pl.LazyFrame,
    equity_quotes: pl.LazyFrame,
    open_interest: pl.LazyFrame,
    times: list[int],
    max_age_ns: int,
) -> pl.DataFrame:
    """Return one row per (snapshot, contract with open interest): the contract's mid and
    the underlying's mid in force then, neither older than ``max_age_ns`` (rows without
    either are dropped).

    Only quotes within ``max_age_ns`` before a snapshot can be in force at it, so only
    those are read and sorted: a live run's snapshot costs the same at 10:00 and 15:30.
    """
    lo, hi = (min(times) - max_age_ns, max(times)) if times else (0, -1)
    in_a_window = pl.any_horizontal(
        [pl.lit(False), *(pl.col("ts_event").is_between(t - max_age_ns, t) for t in times)]
    )
    window = pl.col("ts_event").is_between(lo, hi) & in_a_window
    quotes, equity_quotes = quotes.filter(window), equity_quotes.filter(window)
    parsed = open_interest.filter(pl.col("open_interest") > 0).select(
        "contract",
        "open_interest",
        **parse_osi_columns(pl.col("contract")),
    )
    probes = parsed.join(pl.LazyFrame({"ts": times}, schema={"ts": pl.Int64}), how="cross")
    mids = (
        # A venue's own book is not the market's mid: NBBO rows only.
        valid_quotes(quotes.filter(pl.col("exchange") == NBBO))
        .filter(pl.col("bid") > 0)
        .select("contract", pl.col("ts_event").alias("_qts"), ((pl.col("bid") + pl.col("ask")) / 2).alias("mid"))
        .sort("_qts")
    )  # fmt: skip
    spots = (
        equity_quotes.filter((pl.col("bid") > 0) & (pl.col("ask") >= pl.col("bid")))
        .select(pl.col("symbol").alias("underlying"), pl.col("ts_event").alias("_sts"),
                ((pl.col("bid") + pl.col("ask")) / 2).alias("spot"))
        .sort("_sts")
    )  # fmt: skip
    return (
        probes.sort("ts")
        .join_asof(mids, left_on="ts", right_on="_qts", by="contract", strategy="backward",
                   tolerance=max_age_ns, check_sortedness=False)
        .join_asof(spots, left_on="ts", right_on="_sts", by="underlying", strategy="backward",
                   tolerance=max_age_ns, check_sortedness=False)
        .drop_nulls(["mid", "spot"])
        .drop("_qts", "_sts")
        .sort("ts", "contract")
        .collect()
    )  # fmt: skip


def gamma_table(chain: pl.DataFrame, day: dt.date, params: GammaRules) -> pl.DataFrame:
    """Return :data:`GAMMA_COLUMNS` per (snapshot, underlying) from :func:`chain_at` rows."""
    rate = float(params.rate)
    expiry_ns = (
        chain.select(
            pl.col("expiry")
            .dt.combine(pl.time(16))
            .dt.replace_time_zone(str(NY))
            .dt.timestamp("ns")
        )
        .to_series()
        .to_numpy()
    )
    t_years = np.maximum(expiry_ns - chain["ts"].to_numpy(), 60 * NS) / NS / YEAR_SECONDS
    spot, strike = chain["spot"].to_numpy(), chain["strike"].to_numpy()
    is_call = (chain["right"] == "C").to_numpy()
    vol = implied_vol(chain["mid"].to_numpy(), spot, strike, t_years, is_call, rate)
    sign = np.where(is_call, 1.0, -1.0)
    weight = sign * chain["open_interest"].to_numpy() * 100 * 0.01
    good = np.isfinite(vol)
    gex = np.where(good, bs_gamma(spot, strike, t_years, np.where(good, vol, 1.0), rate), 0.0)
    rows = chain.with_columns(
        pl.Series("_gex", gex * weight * spot * spot), pl.Series("_good", good)
    ).filter(pl.col("_good"))
    # The flip: net GEX on a grid of spot levels, each contract's implied vol held.
    steps = np.arange(-params.grid_pct, params.grid_pct + 1e-9, params.grid_step_pct) / 100
    group_ids = (
        rows.select(pl.struct("ts", "underlying").rank("dense").cast(pl.Int64) - 1)
        .to_series()
        .to_numpy()
    )
    profile = _profile(
        group_ids, spot[good], strike[good], t_years[good], vol[good], weight[good], steps, rate
    )
    flips = pl.DataFrame(
        {"_group": np.arange(len(profile)), "_flip": [_flip(net, steps) for net in profile]},
        schema={"_group": pl.Int64, "_flip": pl.Float64},
    )
    per_strike = (
        rows.group_by("ts", "underlying", "strike")
        .agg(pl.col("_gex").sum())
        .sort("strike")
        .group_by("ts", "underlying")
        .agg(pl.col("strike").alias("strikes"), pl.col("_gex").alias("net_gex_by_strike"))
    )
    return (
        rows.with_columns(pl.Series("_group", group_ids))
        .group_by("ts", "underlying")
        .agg(
            pl.col("_group").first(),
            pl.col("spot").first(),
            pl.len().cast(pl.Int64).alias("n_contracts"),
            pl.col("_gex").filter(pl.col("right") == "C").sum().alias("call_gex"),
            pl.col("_gex").filter(pl.col("right") == "P").sum().alias("put_gex"),
            pl.col("_gex").sum().alias("net_gex"),
        )
        .join(flips, on="_group")
        .with_columns(
            (pl.col("spot") * (1 + pl.col("_flip"))).alias("gamma_flip"), pl.lit(day).alias("date")
        )
        .join(per_strike, on=["ts", "underlying"])
        .select(GAMMA_COLUMNS)
        .sort("ts", "underlying")
    )  # fmt: skip


def _profile(
    group: np.ndarray,
    spot: np.ndarray,
    strike: np.ndarray,
    t_years: np.ndarray,
    vol: np.ndarray,
    weight: np.ndarray,
    steps: np.ndarray,
    rate: float,
    chunk: int = 50_000,
) -> np.ndarray:
    """Return net GEX per group (rows) and spot level (columns); contracts are taken in
    chunks so the contracts x levels matrix stays small on a whole-market day."""
    out = np.zeros((int(group.max()) + 1 if len(group) else 0, len(steps)))
    for lo in range(0, len(group), chunk):
        part = slice(lo, lo + chunk)
        levels = spot[part, None] * (1 + steps[None, :])
        gex = bs_gamma(levels, strike[part, None], t_years[part, None], vol[part, None], rate)
        np.add.at(out, group[part], gex * weight[part, None] * levels * levels)
    return out


def _flip(net: np.ndarray, steps: np.ndarray) -> float | None:
    """Return the relative move (from spot) where ``net`` crosses zero nearest to spot, or None."""
    cross = np.flatnonzero(np.sign(net[:-1]) * np.sign(net[1:]) < 0)
    if not cross.size:
        return None
    i = cross[np.argmin(np.abs(steps[cross] + steps[cross + 1]))]
    a, b = net[i], net[i + 1]
    return float(steps[i] + (steps[i + 1] - steps[i]) * a / (a - b))


@day_asset(
    "gamma_exposure",
    group="signals",
    deps=["option_quotes", "equity_quotes", "option_open_interest"],
    checks=["ts_underlying_unique", "flip_near_spot"],
    description="Dealer gamma exposure per underlying at intraday snapshots, by strike, and the gamma flip level.",
)
def gamma_exposure(run: DayRun) -> dg.MaterializeResult:
    """Compute the day's GEX snapshots (a live run: the snapshots from its tail on)."""
    lake, day, th = run.lake, run.day, run.th
    params = th.gamma
    plan = run.plan(("option", "equity"))
    quotes = lake.scan_day("option_quotes", day)
    last = quotes.select(pl.col("ts_event").max()).collect().item()
    times = snapshot_times(day, int(params.snapshot_minutes), last)
    since = plan.since_ns
    if since is not None:
        # A snapshot falls due once a quote at or after its time has landed, even when the
        # batch's own rows all come after it (a batch starting at 10:00:00.2 makes the
        # 10:00 snapshot due): recompute from the first snapshot not stored yet too.
        latest = lake.require_day("gamma_exposure", day).select(pl.col("ts").max()).collect().item()
        due = [t for t in times if latest is None or t > latest]
        if due:
            since = min(since, due[0])
        times = [t for t in times if t >= since]
    chain = chain_at(
        quotes,
        lake.scan_day("equity_quotes", day),
        lake.scan_day("option_open_interest", day),
        times,
        int(params.quote_max_age_s) * NS,
    )
    out = gamma_table(chain, day, params)
    checks = [
        unique(out, "ts", "underlying"),
        # A flip is searched only within the grid around spot.
        holds(
            "flip_near_spot",
            out,
            (pl.col("gamma_flip") / pl.col("spot") - 1).abs() > params.grid_pct / 100 + 1e-9,
        ),
    ]
    return run.overwrite(out, checks, clock="ts", since_ns=since)
