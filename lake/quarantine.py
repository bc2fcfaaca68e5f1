"""Which quarantined rows still stand: a row is resolved once its event landed since.

A file fixed and ingested again lands the rows it once had quarantined (a price out of
bounds corrected, the right ``--date`` given); their quarantine rows stay as the record of
what happened, and are shown as resolved rather than as outstanding.
"""

from __future__ import annotations

import polars as pl

from adapters.schema import CONFLICT, STREAMS
from lake.location import Lake
from lake.read import scan


def with_resolution(lake: Lake, quarantine: pl.DataFrame) -> pl.DataFrame:
    """Return ``quarantine`` rows with ``resolved``: True where the row's ``event_id`` is
    landed in its stream on the row's date.

    A conflicting duplicate is never resolved by its landed namesake: that is the other
    content, the one that was kept.
    """
    landed = []
    for stream in sorted(set(quarantine.get_column("stream").unique().to_list()) & set(STREAMS)):
        rows = quarantine.filter(pl.col("stream") == stream)
        stored = scan(lake, stream, dates=rows.get_column("date").unique().to_list())
        if stored is None:
            continue
        ids = rows.get_column("event_id").drop_nulls().unique().implode()
        landed.append(
            stored.filter(pl.col("event_id").is_in(ids))
            .select(pl.lit(stream).alias("stream"), "date", "event_id")
            .collect()
        )
    keys = (
        pl.concat(landed).unique()
        if landed
        else pl.DataFrame(schema={"stream": pl.String, "date": pl.Date, "event_id": pl.String})
    )
    return quarantine.join(
        keys.with_columns(pl.lit(True).alias("resolved")),
        on=["stream", "date", "event_id"],
        how="left",
        maintain_order="left",
    ).with_columns(pl.col("resolved").fill_null(False) & (pl.col("reason") != CONFLICT))
