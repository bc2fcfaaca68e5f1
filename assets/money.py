"""Sums of money that do not depend on the order of their rows.

A float sum rounds after each addition, so the same prints summed in another order (a live
day's tails against its replay, files landed in another split) differ in the last bits:
~1e-11 on a day's premium. Each amount is rounded to a hundredth of a cent and the
integers are summed, which is exact in any order; landing's bounds keep a print's premium
below 10^15 dollars, and Int128 holds any day's total.
"""

from __future__ import annotations

import polars as pl

#: Sums are exact in hundredths of a cent.
UNITS_PER_DOLLAR = 10_000


def exact_sum(amount: pl.Expr) -> pl.Expr:
    """Return the sum of ``amount`` (dollars), the same whatever the order of the rows.

    Examples
    --------
    >>> frame = pl.DataFrame({"p": [0.1, 0.2]})
    >>> frame.select(exact_sum(pl.col("p"))).item()
    0.3
    """
    units = (amount * UNITS_PER_DOLLAR).round().cast(pl.Int128)
    return units.sum().cast(pl.Float64) / UNITS_PER_DOLLAR
