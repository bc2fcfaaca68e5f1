"""Cancels: a cancel print removes the print it refers to from flow, volume and inference."""

from __future__ import annotations

import polars as pl


def cancel_targets(cancels: pl.LazyFrame, prints: pl.LazyFrame, instrument: str) -> pl.LazyFrame:
    """Return ``event_id`` and ``ts_event`` of the prints among ``prints`` that ``cancels`` refer to.

    A cancel names its print by ``ref_event_id`` where the source says so; otherwise it
    refers to the latest earlier non-cancel print of the same instrument (``contract`` or
    ``symbol``), exchange, price and size (how cancel messages identify their trade).
    """
    by_ref = prints.join(
        cancels.filter(pl.col("ref_event_id").is_not_null()).select(
            pl.col("ref_event_id").alias("event_id")
        ),
        on="event_id",
        how="semi",
    ).select("event_id", "ts_event")
    keys = [instrument, "exchange", "price", "size"]
    unreferenced = cancels.filter(pl.col("ref_event_id").is_null())
    # Cancels are few: only prints identical to one of them can be its original, so only
    # those are sorted and joined, not the whole day.
    originals = (
        prints.filter(~pl.col("cancel"))
        .join(unreferenced.select(keys).unique(), on=keys, how="semi")
        .sort("ts_event", "seq")
    )
    matched = (
        unreferenced.select(*keys, "ts_event", "seq")
        .sort("ts_event", "seq")
        .join_asof(
            originals.select(
                instrument, "exchange", "price", "size", pl.col("ts_event").alias("_ts"), "event_id"
            ),
            left_on="ts_event",
            right_on="_ts",
            by=[instrument, "exchange", "price", "size"],
            strategy="backward",
            allow_exact_matches=True,
            check_sortedness=False,  # sorted explicitly above; polars cannot check with `by`
        )
        .select("event_id", pl.col("_ts").alias("ts_event"))
        .drop_nulls()
    )
    return pl.concat([by_ref, matched]).unique()


def mark_cancelled(prints: pl.DataFrame, instrument: str = "contract") -> pl.DataFrame:
    """Return ``prints`` with ``cancelled``: True for a print that a later cancel refers to.

    A cancel refers to a print of its own instrument (as the live tail looks it up, see
    :func:`assets.tail.batch_tail`): only the prints of the cancels' instruments, and only
    the columns a match reads, are matched against the cancels. The originals found are
    marked by row number, not looked up by id among the day's ids.

    Examples
    --------
    >>> prints = pl.DataFrame({
    ...     "event_id": ["a", "b", "x"], "contract": ["C"] * 3, "exchange": ["X"] * 3,
    ...     "price": [1.0, 2.0, 1.0], "size": [5, 5, 5], "ts_event": [1, 2, 3],
    ...     "seq": [0, 0, 0], "cancel": [False, False, True],
    ...     "ref_event_id": pl.Series([None] * 3, dtype=pl.String)})
    >>> mark_cancelled(prints).get_column("cancelled").to_list()
    [True, False, False]
    """
    # Taken by row number: a filter goes over every column of the day's rows for a few.
    cancels = prints[prints.get_column("cancel").arg_true()]
    match = [instrument, "exchange", "price", "size", "ts_event", "seq", "event_id", "cancel"]
    suspects = (
        prints.select(*match, "ref_event_id")
        .with_row_index("_row")
        .filter(pl.col(instrument).is_in(cancels.get_column(instrument).unique().implode()))
    )
    targets = cancel_targets(cancels.lazy(), suspects.lazy(), instrument).collect()
    hit = suspects.filter(pl.col("event_id").is_in(targets.get_column("event_id").implode()))
    cancelled = pl.repeat(False, prints.height, eager=True).scatter(hit.get_column("_row"), True)
    return prints.with_columns(cancelled.alias("cancelled"))
