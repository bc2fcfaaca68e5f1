"""Black-Scholes with a simple smile, vectorised over numpy arrays (no scipy needed)."""

from __future__ import annotations

import numpy as np

YEAR_SECONDS = 365.0 * 86_400.0


def norm_cdf(x: np.ndarray) -> np.ndarray:
    """Return the standard normal CDF (Abramowitz-Stegun 7.1.26, |error| < 1.5e-7)."""
    z = np.abs(x) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    erf = 1.0 - poly * np.exp(-z * z)
    return 0.5 * (1.0 + np.sign(x) * erf)


def smile_vol(
    base_vol: np.ndarray, spot: np.ndarray, strike: np.ndarray, t_years: np.ndarray
) -> np.ndarray:
    """Return implied vol with a skew (puts richer) and curvature that fade with maturity."""
    m = np.log(strike / spot) / np.sqrt(np.maximum(t_years, 1e-6))
    return base_vol * (1.0 - 0.08 * m + 0.04 * m * m).clip(0.6, 2.5)


def black_scholes(
    spot: np.ndarray,
    strike: np.ndarray,
    t_years: np.ndarray,
    vol: np.ndarray,
    is_call: np.ndarray,
    rate: float = 0.04,
) -> np.ndarray:
    """Return Black-Scholes option values (no dividends); expiring options get intrinsic."""
    t = np.maximum(t_years, 1e-8)
    sd = vol * np.sqrt(t)
    d1 = (np.log(spot / strike) + (rate + 0.5 * vol * vol) * t) / sd
    d2 = d1 - sd
    disc = np.exp(-rate * t)
    call = spot * norm_cdf(d1) - strike * disc * norm_cdf(d2)
    put = strike * disc * norm_cdf(-d2) - spot * norm_cdf(-d1)
    return np.where(is_call, call, put).clip(0.0)
