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
    :func:`assets.tail.batch_tail`): only the prints of the cancels' instruments, a few
    thousand of a 10M-print day, are matched against the cancels. Filtering the day down to
    those copies few rows; matching the whole day would copy its non-cancel rows first. A
    membership test against the few targets then costs one hash of each print's id.
    """
    # Taken by row number: a filter goes over every column of the day's rows for a few.
    cancels = prints[prints.get_column("cancel").arg_true()]
    suspects = prints.filter(
        pl.col(instrument).is_in(cancels.get_column(instrument).unique().implode())
    )
    targets = cancel_targets(cancels.lazy(), suspects.lazy(), instrument)
    ids = targets.select("event_id").collect().get_column("event_id")
    return prints.with_columns(
        pl.col("event_id").is_in(ids.implode()).fill_null(False).alias("cancelled")
    )
