"""Asset checks for derived tables: computed on the frame just written, so a wrong table is
flagged (and, where blocking, stops its downstream assets) in the same run."""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg
import polars as pl


def specs(asset: str, names: Iterable[str], blocking: bool = False) -> list[dg.AssetCheckSpec]:
    """Return the check specs of one asset."""
    return [dg.AssetCheckSpec(name, asset=asset, blocking=blocking) for name in names]


def unique(frame: pl.DataFrame, *columns: str) -> dg.AssetCheckResult:
    """Pass when ``columns`` identify rows uniquely (a null counts as one value)."""
    # Counted, not listed: ``unique()`` builds the distinct rows, the peak of the stage.
    keys = pl.col(columns[0]) if len(columns) == 1 else pl.struct(columns)
    # Distinct hashes are distinct keys: when no two rows' hashes meet, the keys are unique
    # without hashing and comparing the strings themselves. Any repeated hash, a duplicate
    # or a collision, is settled exactly.
    if frame.select(keys.hash().n_unique()).item() == frame.height:
        dupes = 0
    else:
        dupes = frame.height - frame.select(keys.n_unique()).item()
    return dg.AssetCheckResult(
        check_name=f"{'_'.join(columns)}_unique",
        passed=dupes == 0,
        metadata={"duplicates": dupes, "rows": frame.height},
    )


def in_unit_interval(frame: pl.DataFrame, *columns: str) -> dg.AssetCheckResult:
    """Pass when every non-null value of ``columns`` is within [0, 1]."""
    bad = {c: int(frame.filter((pl.col(c) < 0) | (pl.col(c) > 1)).height) for c in columns}
    return dg.AssetCheckResult(
        check_name="ratios_in_unit_interval",
        passed=not any(bad.values()),
        metadata={f"outside_{c}": n for c, n in bad.items()},
    )


#: References per id below which :func:`all_exist` looks the ids up in the references.
FEW_REFERENCES = 8


def all_exist(name: str, refs: pl.Series, known: pl.Series) -> dg.AssetCheckResult:
    """Pass when every reference (explode lists first) is among ``known`` ids."""
    flat = refs.explode().drop_nulls() if refs.dtype == pl.List(pl.String) else refs.drop_nulls()
    ids = pl.DataFrame({"id": known.cast(flat.dtype)})
    missing = None
    if flat.len() * FEW_REFERENCES <= known.len():
        # Few references among many ids (a day's hits among its packets): the distinct
        # references are hashed and the ids looked up in them, instead of hashing every id.
        # Short of one, the anti-join below
        # counts the missing references.
        wanted = flat.unique()
        found = ids.join(wanted.to_frame("id"), on="id", how="semi").get_column("id").n_unique()
        missing = 0 if found == wanted.len() else None
    if missing is None:
        # An anti-join, not ``is_in``: a hash join per side.
        missing = pl.DataFrame({"id": flat}).join(ids, on="id", how="anti").height
    return dg.AssetCheckResult(
        check_name=name,
        passed=missing == 0,
        metadata={"missing": missing, "references": flat.len()},
    )


def holds(name: str, frame: pl.DataFrame, violation: pl.Expr) -> dg.AssetCheckResult:
    """Pass when no row matches ``violation``."""
    bad = int(frame.filter(violation.fill_null(False)).height)
    return dg.AssetCheckResult(check_name=name, passed=bad == 0, metadata={"violations": bad})


class OverflowRefused(ValueError):
    """A derived value left the range of its type (an infinity, or an integer past 2^63)."""


def refuse_non_finite(frame: pl.DataFrame, table: str, key: str, *columns: str) -> None:
    """Raise :class:`OverflowRefused` when a float column of ``columns`` holds an infinity or
    NaN, naming the first row's ``key``.

    Landing bounds every raw value, so this never fires on landed rows; it is where a
    derived value that overflows stops, instead of reaching a table and its statistics.

    Examples
    --------
    >>> refuse_non_finite(pl.DataFrame({"id": ["a"], "x": [1.0]}), "t", "id", "x")
    """
    for column in columns:
        bad = frame.filter(~pl.col(column).is_finite())
        if bad.height:
            raise OverflowRefused(
                f"{table}: {column} is not finite in {bad.height} row(s), first {key} "
                f"{bad.get_column(key)[0]!r}: refused"
            )
