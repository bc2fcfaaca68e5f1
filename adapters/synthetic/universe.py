"""The synthetic universe: S&P 500 constituents plus SPY, QQQ, IWM, with price levels.

The constituents list is ``sp500_constituents.csv`` beside this file (source and
licence in ``data/reference/README.md``).
"""

from __future__ import annotations

import zlib
from functools import lru_cache
from pathlib import Path

import polars as pl

INDEX_ETFS: dict[str, float] = {"SPY": 580.0, "QQQ": 500.0, "IWM": 220.0}
_CONSTITUENTS = Path(__file__).with_name("sp500_constituents.csv")


def symbol_key(symbol: str) -> int:
    """Return a stable 32-bit integer for a symbol (seeds and price levels derive from it)."""
    return zlib.crc32(symbol.encode("ascii"))


@lru_cache(maxsize=1)
def constituents() -> tuple[str, ...]:
    """Return the S&P 500 symbols in file order, in OSI-safe form (``BRK.B`` -> ``BRKB``)."""
    frame = pl.read_csv(_CONSTITUENTS, columns=["Symbol"])
    return tuple(s.replace(".", "").replace("-", "") for s in frame.get_column("Symbol"))


def universe() -> tuple[str, ...]:
    """Return the index ETFs followed by the constituents."""
    return (*INDEX_ETFS, *constituents())


def select_underlyings(spec: str | int | None) -> list[str]:
    """Return the underlyings chosen by ``--underlyings``: a count, a comma list or ``ALL``.

    A count takes the index ETFs first, then constituents in file order.

    Raises
    ------
    ValueError
        For an unknown symbol or a non-positive count.
    """
    names = universe()
    if spec is None or (isinstance(spec, str) and spec.upper() == "ALL"):
        return list(names)
    if isinstance(spec, int) or spec.isdigit():
        count = int(spec)
        if count <= 0:
            raise ValueError("--underlyings must be a positive count, a list or ALL")
        return list(names[:count])
    chosen = [s.strip().upper() for s in spec.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in names]
    if unknown:
        raise ValueError(f"unknown underlying(s): {', '.join(unknown)}")
    return chosen


def base_price(symbol: str) -> float:
    """Return a deterministic, realistic opening price level for a symbol."""
    if symbol in INDEX_ETFS:
        return INDEX_ETFS[symbol]
    # Log-uniform between $15 and $900: the spread of real S&P 500 share prices.
    u = (symbol_key(symbol) % 10_000) / 10_000
    return round(15.0 * (60.0**u), 2)
