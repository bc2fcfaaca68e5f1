"""OCC OSI option symbols: ``ROOT  YYMMDDC00450000`` (21 characters).

Root padded to 6 with spaces, expiry YYMMDD, right C/P, strike x 1000 as 8 digits.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path

import polars as pl

OSI_PATTERN = r"^[A-Z0-9.]{1,6} *\d{6}[CP]\d{8}$"
#: Roots that are not their underlying's symbol (index options: SPXW -> SPX).
ROOTS_FILE = Path(__file__).with_name("option_roots.csv")


@cache
def index_roots() -> dict[str, str]:
    """Return root -> underlying for the roots that are not their underlying
    (``option_roots.csv``); any other root is its underlying's symbol."""
    table = pl.read_csv(ROOTS_FILE)
    return dict(zip(table.get_column("root"), table.get_column("underlying"), strict=True))


def underlying_of(root: pl.Expr) -> pl.Expr:
    """Return the underlying of OSI roots: the root table's, else the root itself.

    Examples
    --------
    >>> pl.select(underlying_of(pl.lit("SPXW"))).item()
    'SPX'
    """
    roots = index_roots()
    return root.replace_strict(list(roots), list(roots.values()), default=root)


def format_osi(root: str, expiry: dt.date, right: str, strike: float) -> str:
    """Return the 21-character OSI symbol of one contract.

    Raises
    ------
    ValueError
        When the root is longer than 6 characters, the right is not C/P or the strike
        does not fit in 8 digits of thousandths.
    """
    if not 1 <= len(root) <= 6:
        raise ValueError(f"OSI root must be 1-6 characters, got {root!r}")
    if right not in ("C", "P"):
        raise ValueError(f"right must be 'C' or 'P', got {right!r}")
    milli = round(strike * 1000)
    if not 0 < milli < 100_000_000:
        raise ValueError(f"strike {strike} does not fit an OSI symbol")
    return f"{root:<6}{expiry:%y%m%d}{right}{milli:08d}"


def parse_osi(symbol: str) -> tuple[str, dt.date, str, float]:
    """Return (root, expiry, right, strike) of one OSI symbol (spaces optional).

    Raises
    ------
    ValueError
        For a symbol that is not in the OSI layout.

    Examples
    --------
    >>> parse_osi("SPXW  261218P05900000")
    ('SPXW', datetime.date(2026, 12, 18), 'P', 5900.0)
    """
    compact = symbol.replace(" ", "")
    tail, root = compact[-15:], compact[:-15]
    if not (
        1 <= len(root) <= 6
        and tail[6:7] in ("C", "P")
        and tail[:6].isdigit()
        and tail[7:].isdigit()
    ):
        raise ValueError(f"{symbol!r} is not an OSI option symbol")
    expiry = dt.datetime.strptime(tail[:6], "%y%m%d").date()
    return root, expiry, tail[6], int(tail[7:]) / 1000


def osi_expr(root: pl.Expr, expiry: pl.Expr, right: pl.Expr, strike: pl.Expr) -> pl.Expr:
    """Return an expression building OSI symbols from column expressions (vectorised)."""
    return pl.concat_str(
        root.str.pad_end(6, " "),
        expiry.dt.strftime("%y%m%d"),
        right,
        (strike * 1000).round(0).cast(pl.Int64).cast(pl.String).str.zfill(8),
    )


def from_compact(symbol: pl.Expr) -> pl.Expr:
    """Return the 21-character OSI symbol of a compact one (``SPY240426C00555000``, as Alpaca
    writes them; spaces are dropped first, so an OSI symbol maps to itself)."""
    compact = symbol.str.replace_all(" ", "")
    return pl.concat_str(
        compact.str.slice(0, compact.str.len_chars() - 15).str.pad_end(6, " "),
        compact.str.slice(-15),
    )


def parse_osi_columns(contract: pl.Expr) -> dict[str, pl.Expr]:
    """Return expressions for root, underlying, expiry, right and strike parsed from OSI
    symbols (the underlying of an index root from :func:`underlying_of`).

    Symbols that do not match the OSI layout give nulls in every parsed column, which
    the validator reports as an unparseable symbol.
    """
    ok = contract.str.contains(OSI_PATTERN) & (contract.str.len_chars() == 21)
    tail = contract.str.slice(-15)
    root = pl.when(ok).then(contract.str.slice(0, 6).str.strip_chars_end(" "))
    return {
        "root": root,
        "underlying": underlying_of(root),
        "expiry": pl.when(ok).then(tail.str.slice(0, 6).str.to_date("%y%m%d", strict=False)),
        "right": pl.when(ok).then(tail.str.slice(6, 1)),
        "strike": pl.when(ok).then(
            tail.str.slice(7, 8).cast(pl.Int64, strict=False).cast(pl.Float64) / 1000.0
        ),
    }
