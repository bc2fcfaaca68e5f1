"""The condition policy (docs/rules.md rule 4): data files, not ``if`` chains.

Every normalised condition code of OPRA option trades and of CTA/UTP equity trades maps
to what it means for flow. The policy is three files beside this module, one row per
code with a named column per flag, so that a row reads as a sentence
(``policy/opra_conditions.csv``, ``policy/equity_conditions.csv``, and
``policy/opra_numeric.csv`` for vendors that send OPRA conditions as numbers, 201-248 in
the common numbering). A print's flags are the OR (``counts``/``eligible``: AND) over its
codes, so a print with an unknown code is kept for volume but never used to infer the
aggressor, and the unknown code is listed in ``unknown_conditions`` for review.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import polars as pl

POLICY_DIR = Path(__file__).with_name("policy")

OPRA_FLAGS = (
    "counts_flow", "aggressor_eligible", "complex", "stock_option", "iso", "cancel", "late",
    "out_of_sequence", "floor", "auction_or_cross", "extended_hours",
)  # fmt: skip
EQUITY_FLAGS = (
    "counts_volume", "sets_ohlc", "dark_eligible", "iso", "odd_lot", "extended_hours",
    "average_price", "derivatively_priced", "contingent", "out_of_sequence", "opening",
    "closing", "cancel",
)  # fmt: skip
#: Flags combined with AND across a print's codes; every other flag is an OR.
_ALL_OF = {"counts_flow", "aggressor_eligible", "counts_volume", "sets_ohlc", "dark_eligible"}


def _read(name: str, flags: tuple[str, ...]) -> pl.DataFrame:
    """Return one policy file: ``code`` (``""``: a print with no code), ``description`` and
    one ``true``/``false`` column per flag, in this order.

    Raises
    ------
    ValueError
        When the file's columns are not these, a flag is not ``true``/``false``, or a code
        is listed twice.
    """
    path = POLICY_DIR / name
    schema = {"code": pl.String, "description": pl.String, **dict.fromkeys(flags, pl.String)}
    raw = pl.read_csv(path, schema=schema, empty_string_is_null=False)
    bad = [f for f in flags if not raw.get_column(f).is_in(["true", "false"]).all()]
    if bad:
        raise ValueError(f"{path}: flags must be true or false: {', '.join(bad)}")
    if raw.get_column("code").is_duplicated().any():
        raise ValueError(f"{path}: a code is listed twice")
    return raw.with_columns(pl.col(f) == "true" for f in flags)


@cache
def opra_policy() -> pl.DataFrame:
    """Return the OPRA condition policy (``policy/opra_conditions.csv``): one row per
    letter code with its flags."""
    return _read("opra_conditions.csv", OPRA_FLAGS)


@cache
def equity_policy() -> pl.DataFrame:
    """Return the equity sale-condition policy (``policy/equity_conditions.csv``): one row
    per CTA/UTP code with its flags."""
    return _read("equity_conditions.csv", EQUITY_FLAGS)


def _opra_numeric() -> dict[str, str]:
    """Return the numeric condition ids some vendors send for OPRA prints -> OPRA letters
    (``policy/opra_numeric.csv``)."""
    frame = pl.read_csv(
        POLICY_DIR / "opra_numeric.csv", schema={"vendor_id": pl.String, "code": pl.String}
    )
    return dict(zip(frame["vendor_id"], frame["code"], strict=True))


#: Numeric condition ids some vendors send for OPRA prints -> OPRA letters.
OPRA_NUMERIC: dict[str, str] = _opra_numeric()


def apply_policy(prints: pl.DataFrame, policy: pl.DataFrame) -> pl.DataFrame:
    """Return ``prints`` with one boolean column per policy flag and ``unknown_conditions``.

    A print with no codes takes the row of code ``""`` (a regular print). Codes missing
    from the policy make the AND-flags False and are listed in ``unknown_conditions``.
    Flags are worked out once per distinct condition list (a day has dozens of them, not
    millions) and joined back, so the cost is one hash of each print's list.
    """
    flags = [c for c in policy.columns if c not in ("code", "description")]
    # Keyed on the list itself: hashing and joining the list column costs less than first
    # joining its codes into one string per print.
    combos = (
        prints.lazy()
        .select(pl.col("conditions").unique())
        .with_columns(
            pl.when(pl.col("conditions").list.len() == 0)
            .then(pl.lit([""], pl.List(pl.String)))
            .otherwise(pl.col("conditions").list.eval(pl.element().replace(OPRA_NUMERIC)))
            .alias("code")
        )
        .with_columns(pl.col("conditions").alias("_key"))
        .explode("code")
        .join(policy.lazy().with_columns(pl.lit(True).alias("_known")), on="code", how="left")
        .group_by("_key")
        .agg(
            *[
                (
                    pl.col(f).fill_null(False).all()
                    if f in _ALL_OF
                    else pl.col(f).fill_null(False).any()
                ).alias(f)
                for f in flags
            ],
            pl.col("code").filter(pl.col("_known").is_null()).alias("unknown_conditions"),
        )
        .rename({"_key": "conditions"})
        .collect()
        # One chunk: the join gathers the flags by row, and polars gathers a list column
        # across chunks many times slower than from one.
        .rechunk()
    )
    # Eager: the lazy engine's join of a day's prints is the slower one (bench/README.md).
    return prints.join(combos, on="conditions", how="left", maintain_order="left")
