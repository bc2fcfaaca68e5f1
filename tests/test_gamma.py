"""Gamma exposure: implied vol, gamma, the dealer sign convention, the flip, snapshots."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from adapters.calendar import ny_ns
from adapters.synthetic.pricing import black_scholes
from assets.gamma_exposure import (
    GAMMA_COLUMNS,
    _flip,
    bs_gamma,
    chain_at,
    gamma_table,
    implied_vol,
    snapshot_times,
)
from assets.thresholds import load_thresholds
from lake import Lake
from lake.read import read
from tests.conftest import DAY

PARAMS = load_thresholds().gamma


def normal_gamma(s: float, k: float, t: float, vol: float, r: float) -> float:
    """Gamma from the textbook formula, written out independently."""
    d1 = (math.log(s / k) + (r + vol * vol / 2) * t) / (vol * math.sqrt(t))
    return math.exp(-d1 * d1 / 2) / math.sqrt(2 * math.pi) / (s * vol * math.sqrt(t))


def test_gamma_by_hand() -> None:
    # S = K = 100, T = 1, vol 20%, r = 0: d1 = 0.1, phi(0.1) = 0.3969525; / (100 x 0.2).
    assert bs_gamma(np.array([100.0]), np.array([100.0]), np.array([1.0]), np.array([0.2]), 0.0)[
        0
    ] == pytest.approx(0.3969525 / 20, rel=1e-6)


def test_implied_vol_recovers_the_vol_and_rejects_impossible_prices() -> None:
    spot = np.array([100.0, 100.0, 100.0, 100.0])
    strike = np.array([90.0, 100.0, 110.0, 100.0])
    t = np.array([0.1, 0.25, 0.5, 0.25])
    call = np.array([True, False, True, True])
    price = black_scholes(spot, strike, t, np.array([0.3, 0.2, 0.45, 0.2]), call, 0.04)
    price[3] = 0.5 * max(0.0, 100 - 100)  # zero for an at-the-money call: below any vol's value
    vol = implied_vol(price, spot, strike, t, call, 0.04)
    assert vol[:3] == pytest.approx([0.3, 0.2, 0.45], abs=1e-6)
    assert np.isnan(vol[3])


def test_flip_is_the_crossing_nearest_spot_interpolated() -> None:
    steps = np.array([-0.02, -0.01, 0.0, 0.01, 0.02])
    # Crossings between -2% and -1% and between 0% and +1%; the latter is nearer spot:
    # from -1 to +3 it crosses a quarter of the way: +0.25%.
    assert _flip(np.array([1.0, -1.0, -1.0, 3.0, 4.0]), steps) == pytest.approx(0.0025)
    assert _flip(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), steps) is None


def test_snapshots_every_30_minutes_to_the_close_and_not_past_the_last_quote() -> None:
    last = ny_ns(DAY, dt.time(10, 45))
    assert snapshot_times(DAY, 30, last) == [ny_ns(DAY, dt.time(10)), ny_ns(DAY, dt.time(10, 30))]
    full = snapshot_times(DAY, 30, ny_ns(DAY, dt.time(20)))
    assert len(full) == 13 and full[-1] == ny_ns(DAY, dt.time(16))
    half_day = dt.date(2026, 11, 27)  # the Friday after Thanksgiving closes at 13:00
    times = snapshot_times(half_day, 30, ny_ns(half_day, dt.time(20)))
    assert len(times) == 7 and times[-1] == ny_ns(half_day, dt.time(13))
    assert snapshot_times(DAY, 30, None) == []


def test_dealer_sign_convention_and_strike_profile_by_hand() -> None:
    # At 10:00: SPY mid 100; a 105 call (OI 30) and a 95 put (OI 10), both expiring the next
    # Friday at 16:00 New York, quoted at their 25%-vol value. Calls count +, puts -.
    expiry = dt.date(2026, 11, 27)
    at = ny_ns(DAY, dt.time(10))
    t = (ny_ns(expiry, dt.time(16)) - at) / 1e9 / (365 * 86400)
    call_mid = float(black_scholes(np.array([100.0]), np.array([105.0]), np.array([t]), np.array([0.25]), np.array([True]), 0.04)[0])  # fmt: skip
    put_mid = float(black_scholes(np.array([100.0]), np.array([95.0]), np.array([t]), np.array([0.25]), np.array([False]), 0.04)[0])  # fmt: skip
    quotes = pl.LazyFrame(
        {
            "contract": ["SPY   261127C00105000", "SPY   261127P00095000", "SPY   261127C00105000"],
            "ts_event": [at - 10**9, at - 10**9, at + 10**9],  # the last one is after 10:00
            "bid": [call_mid - 0.01, put_mid - 0.01, 9.0],
            "ask": [call_mid + 0.01, put_mid + 0.01, 9.5],
            "exchange": ["NBBO"] * 3,
        }
    )
    equity = pl.LazyFrame(
        {"symbol": ["SPY"], "ts_event": [at - 5 * 10**9], "bid": [99.99], "ask": [100.01]}
    )
    oi = pl.LazyFrame(
        {"contract": ["SPY   261127C00105000", "SPY   261127P00095000"], "open_interest": [30, 10]}
    )
    chain = chain_at(quotes, equity, oi, [at], 1800 * 10**9)
    assert chain["mid"].to_list() == pytest.approx([call_mid, put_mid])  # never the later quote
    out = gamma_table(chain, DAY, PARAMS)
    assert out.columns == GAMMA_COLUMNS
    row = out.row(0, named=True)
    dollars = 100 * 100.0**2 * 0.01
    call = normal_gamma(100, 105, t, 0.25, 0.04) * 30 * dollars
    put = -normal_gamma(100, 95, t, 0.25, 0.04) * 10 * dollars
    assert (row["spot"], row["n_contracts"]) == (100.0, 2)
    assert row["call_gex"] == pytest.approx(call, rel=1e-4)
    assert row["put_gex"] == pytest.approx(put, rel=1e-4)
    assert row["net_gex"] == pytest.approx(call + put, rel=1e-4)
    assert row["strikes"] == [95.0, 105.0]
    assert row["net_gex_by_strike"] == pytest.approx([put, call], rel=1e-4)
    # Long call gamma above spot outweighs short put gamma below: positive here, negative
    # once spot falls towards the put: the flip lies between the strikes, below spot.
    assert call + put > 0 and 95 < row["gamma_flip"] < 100


def test_built_day_has_gamma_snapshots(built_lake: Path) -> None:
    gamma = read(Lake(str(built_lake)), "gamma_exposure")
    # The built day's quotes run 09:30 to just before 10:30: one snapshot, 10:00, per underlying.
    assert gamma.height == 2 and set(gamma["underlying"]) == {"SPY", "AAPL"}
    assert set(gamma["ts"]) == {ny_ns(DAY, dt.time(10))}
    assert (gamma["n_contracts"] > 0).all()
    flips = gamma.drop_nulls("gamma_flip")
    assert ((flips["gamma_flip"] / flips["spot"] - 1).abs() <= 0.1).all()


def test_a_venue_book_is_not_the_mid_gex_uses() -> None:
    """One venue's book (an OPRA tbbo or mbp-1 row) is not the market: the same quotes as
    venue rows give no snapshot mid, so no exposure."""
    from assets.gamma_exposure import chain_at

    at = ny_ns(DAY, dt.time(10))
    quotes = pl.LazyFrame(
        {"contract": ["SPY   261127C00105000"], "ts_event": [at - 10**9], "bid": [1.0],
         "ask": [1.1], "exchange": ["C"]}
    )  # fmt: skip
    equity = pl.LazyFrame(
        {"symbol": ["SPY"], "ts_event": [at - 5 * 10**9], "bid": [99.99], "ask": [100.01]}
    )
    oi = pl.LazyFrame({"contract": ["SPY   261127C00105000"], "open_interest": [1000]})
    assert chain_at(quotes, equity, oi, [at], 60 * 10**9).height == 0
