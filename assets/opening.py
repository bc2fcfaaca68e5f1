"""Likely opening: one definition for every asset that asks whether a trade opens positions.

A trade is *likely opening* when its size exceeds the contract's start-of-day open
interest minus the contract's volume earlier in the day (in-flow prints strictly before
the trade): closing trades cannot exceed the positions that exist, so the excess must open
new ones. Unknown open interest never makes a trade opening. ``packet_positioning`` tags
packets with it (golden sweeps), and ``structures`` names a two-expiry structure whose
legs both open a calendar instead of a roll.
"""

from __future__ import annotations

import polars as pl

from assets.ordering import instrument_codes


def volume_through(prints: pl.LazyFrame) -> pl.LazyFrame:
    """Return each contract's in-flow volume through every print time.

    Parameters
    ----------
    prints
        ``option_prints`` (contract, ts_event, seq, size, in_flow).

    Returns
    -------
    pl.LazyFrame
        One row per (contract, time): ``_t`` and ``_cum`` (the volume through every print
        at that time), ordered by ``_t``; the right side of :func:`with_prior_volume`.
    """
    # In time order a contract's running sum over its own rows is its volume print by print,
    # and the last row of each (contract, time) holds its volume through that time, whatever
    # the order of the rows that share the time. Stored prints are in time order: checked,
    # not sorted again. Rows are grouped by integer codes, not by the contract strings.
    rows = prints.filter(pl.col("in_flow")).select("contract", "ts_event", "size").collect()
    if not rows.get_column("ts_event").is_sorted():
        rows = rows.sort("ts_event")
    return (
        rows.lazy()
        .with_columns(instrument_codes("contract").alias("_code"))
        .select(
            "contract",
            "_code",
            pl.col("ts_event").alias("_t"),
            pl.col("size").cum_sum().over("_code").alias("_cum"),
        )
        .unique(subset=["_code", "_t"], keep="last", maintain_order=True)
        .drop("_code")
    )


def with_prior_volume(frame: pl.LazyFrame, volume: pl.LazyFrame, ts: str) -> pl.LazyFrame:
    """Return ``frame`` (sorted by ``ts`` here) with ``prior_volume``: its contract's volume
    strictly before ``ts`` (:func:`volume_through`), 0 when none."""
    return (
        frame.sort(ts)
        .join_asof(
            volume,
            left_on=ts,
            right_on="_t",
            by="contract",
            strategy="backward",
            allow_exact_matches=False,
            check_sortedness=False,
        )
        .with_columns(pl.col("_cum").fill_null(0).alias("prior_volume"))
        .drop("_t", "_cum")
    )


def likely_opening(size: pl.Expr, open_interest: pl.Expr, prior_volume: pl.Expr) -> pl.Expr:
    """Return whether a trade of ``size`` likely opens positions (false when the open
    interest is unknown).

    Examples
    --------
    Open interest 50 at the open and 20 contracts traded earlier: 31 contracts open at
    least one position (31 > 50 - 20), 30 need not.

    >>> pl.DataFrame({"size": [31, 30], "oi": [50, 50], "prior": [20, 20]}).select(
    ...     likely_opening(pl.col("size"), pl.col("oi"), pl.col("prior"))).to_series().to_list()
    [True, False]
    """
    return (size > open_interest - prior_volume).fill_null(False)
