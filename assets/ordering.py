"""Rows in (instrument, time) order, sorted by one int64 key where the day allows it.

Sorting dominates the option path (docs/stack.md): by two columns (instrument, ts) it takes
several times longer than by one int64 key ``instrument id x width + ns into the span``,
which orders the rows the same way. The key fits in an int64 when instruments x width
does; a real full OPRA day can have more contracts than that over a long span, and then
the same order comes from the columns themselves. Ids must follow the instruments'
sorted order (an ``Enum`` of the sorted names does) for the order to be the names' order.
"""

from __future__ import annotations

import numpy as np
import polars as pl

#: Keys stay below this (int64, with room for a probe past the last row).
KEY_LIMIT = 2**62


def time_key_width(ts_min: int, ts_max: int, reach: int = 0) -> int:
    """Return the key width of one instrument: its span of times plus ``reach`` and 1."""
    return ts_max - ts_min + reach + 1


def by_instrument_time(
    group: str, ts: str, tie: str, n_groups: int, ts_min: int, ts_max: int
) -> list[pl.Expr]:
    """Return the sort keys that order rows by (``group``, ``ts``, ``tie``).

    ``group`` holds ids in ``[0, n_groups)``; every ``ts`` lies in ``[ts_min, ts_max]``.

    Returns
    -------
    list[pl.Expr]
        ``[key, tie]`` with one int64 key when ``n_groups`` x width fits, else the three
        columns; either list sorts the rows into the same order.
    """
    width = time_key_width(ts_min, ts_max)
    if n_groups * width < KEY_LIMIT:  # Python ints: the check itself cannot overflow
        key = pl.col(group).cast(pl.Int64) * width + (pl.col(ts) - ts_min)
        return [key, pl.col(tie)]
    return [pl.col(group), pl.col(ts), pl.col(tie)]


def instrument_ids(column: str, names: pl.Series) -> pl.Expr:
    """Return ``column`` as ids in ``[0, len(names))``: positions in the sorted ``names``
    (null for a name not among them), so id order is name order."""
    return pl.col(column).cast(pl.Enum(names), strict=False).to_physical()


def sort_keyed(frame: pl.DataFrame, keys: list[pl.Expr]) -> pl.DataFrame:
    """Return ``frame`` sorted by ``keys`` as :func:`by_instrument_time` gives them.

    With one int64 key and a tie column, the rows are sorted by the key alone, stably, and
    kept when the rows sharing a key are already in tie order (a day's rows mostly come
    that way: one instrument's rows at one ns in ``seq`` order); only otherwise are they
    sorted by both. A one-int64 sort is the fast one. Rows equal in every key
    keep their order either way, so the result is the same on every run.

    Returns
    -------
    pl.DataFrame
        ``frame``'s rows in key order, its columns unchanged.
    """
    if len(keys) != 2:
        return frame.sort(keys, maintain_order=True)
    if "_sort_key" in frame.columns:
        raise ValueError("sort_keyed: the frame already has a column named _sort_key")
    key, tie = pl.col("_sort_key"), pl.col(keys[1].meta.output_name())
    ordered = frame.with_columns(keys[0].alias("_sort_key")).sort(key, maintain_order=True)
    # Out of tie order: a lower tie after a higher one, or a null (sorted first) after a value.
    behind = pl.when(tie.is_null()).then(tie.shift(1).is_not_null()).otherwise(tie < tie.shift(1))
    if ordered.select((key.eq_missing(key.shift(1)) & behind).any()).item():
        ordered = ordered.sort(key, tie, maintain_order=True)
    return ordered.drop("_sort_key")


def instrument_codes(column: str) -> pl.Expr:
    """Return ``column`` as integer codes that group each instrument's rows.

    One hash per row (polars' categorical codes), no unique or sort of the names: about
    half the time of :func:`instrument_ids`. The
    codes follow no order of the names, so they suit work that needs each instrument's
    rows together but not the instruments in name order. Codes lie in ``[0, max + 1)``.
    """
    return pl.col(column).cast(pl.Categorical).to_physical()


def order_by_instrument_time(
    frame: pl.DataFrame, group: str, ts: str, tie: str, n_groups: int
) -> np.ndarray:
    """Return the row numbers of ``frame`` in (``group``, ``ts``, ``tie``) order.

    An order, not a sorted frame: callers gather only the columns they need, and only the
    rows they keep (a sorted frame gathers every column, strings included, of every row).
    With one int64 key (:func:`by_instrument_time`) the rows are ordered by the key alone,
    stably, and by the tie too only when two rows share a key.

    Returns
    -------
    numpy.ndarray
        Row numbers (int64); equal rows keep their order, so the order is the same on
        every run.
    """
    if frame.is_empty():
        return np.zeros(0, dtype=np.int64)
    times = frame.get_column(ts)
    lo, hi = int(times.min()), int(times.max())  # type: ignore[arg-type]
    keys = by_instrument_time(group, ts, tie, n_groups, lo, hi)
    if len(keys) == 2:
        # The key as one contiguous array: sorted, and checked for ties, without gathers
        # across the many chunks of a day read from many files (1.5 s -> 0.95 s on 9.6M).
        key = frame.select(keys[0].alias("_key")).to_series().rechunk()
        order = key.to_frame().select(pl.arg_sort_by("_key", maintain_order=True))
        rows = order.to_series().to_numpy().astype(np.int64)
        ordered = key.to_numpy()[rows]
        if not np.any(ordered[1:] == ordered[:-1]):
            return rows
    order = frame.select(pl.arg_sort_by(keys, maintain_order=True)).to_series()
    # int64, not polars' unsigned row index: differences of row numbers may be negative.
    return order.to_numpy().astype(np.int64)


def order_by_code_time(
    frame: pl.DataFrame, code: pl.Expr, ts: str, tie: str
) -> tuple[np.ndarray, np.ndarray]:
    """Return the row numbers of ``frame`` in (``code``, ``ts``, ``tie``) order and, in
    that order, each row's code (equal codes contiguous).

    ``code`` is a non-negative integer expression that groups the rows (an instrument's
    :func:`instrument_codes`, say); the groups come in code order, not in any order of
    their names.
    """
    codes = frame.select(code.cast(pl.Int64).alias("_code"))
    if frame.is_empty():
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    n_codes = int(codes.get_column("_code").max()) + 1  # type: ignore[arg-type]
    order = order_by_instrument_time(
        frame.select(ts, tie).with_columns(codes), "_code", ts, tie, n_codes
    )
    return order, codes.get_column("_code").to_numpy()[order]


def group_starts(group: np.ndarray) -> np.ndarray:
    """Return the mask of rows that start a run of equal ``group`` values (none when empty)."""
    starts = np.empty(len(group), dtype=bool)
    starts[:1] = True
    np.not_equal(group[1:], group[:-1], out=starts[1:])
    return starts


def first_at_or_after(group: np.ndarray, ts: np.ndarray, reach: int) -> np.ndarray:
    """Return, per row, the first row of its group at or after ``ts + reach``.

    ``reach`` may be negative (the oldest row of the group within ``-reach`` before).

    Parameters
    ----------
    group
        Group per row, rows sorted by (group, ts): equal groups are contiguous.
    ts
        Int64 times.
    reach
        How far ahead (> 0) or back (< 0) to look.

    Returns
    -------
    numpy.ndarray
        Row indexes, ``len(ts)`` where the group has no such row. One ``searchsorted``
        over a combined key per chunk of groups small enough for the key to fit an
        int64 (one chunk for any day of up to ~200k contracts).
    """
    n = len(ts)
    out = np.full(n, n, dtype=np.int64)
    if n == 0:
        return out
    boundary = group_starts(group)
    ordinal = np.cumsum(boundary) - 1
    firsts = np.flatnonzero(boundary)
    ends = np.r_[firsts[1:], n][ordinal]  # one past each row's group
    base = int(ts.min())
    # Wide enough that no probe, forward or back, reaches another group's keys.
    width = time_key_width(base, int(ts.max()), abs(reach))
    per_chunk = max(1, KEY_LIMIT // width)
    for c in range(0, len(firsts), per_chunk):
        lo = firsts[c]
        hi = firsts[c + per_chunk] if c + per_chunk < len(firsts) else n
        key = (ordinal[lo:hi] - c) * width + (ts[lo:hi] - base)
        out[lo:hi] = lo + np.searchsorted(key, key + reach, side="left")
    # A probe beyond its group's last row lands on the next group's first: none.
    out[out >= ends] = n
    return out
