"""Landing: a source's raw rows for one day -> validated landing tables + quarantine.

Landing appends keyed on ``event_id`` (a batch delivered twice lands once) and never
drops a row: what breaks the schema, or belongs to another day, goes to ``quarantine``.
"""

# No `from __future__ import annotations` here: Dagster inspects the `context` annotation at
# definition time and does not resolve string annotations.

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

import dagster as dg
import polars as pl
from dagster import AssetExecutionContext

from adapters.schema import (
    CONFLICT,
    OTHER_DAY,
    QUARANTINE_SCHEMA,
    STREAMS,
    quarantine_rows,
    validate,
)
from adapters.source import Batch
from assets.partitions import partition_date, trading_days
from assets.resources import LakeResource
from assets.sources import MarketDataSource
from assets.tail import Tail, batch_tail
from lake import Lake
from lake.write import land

LABELS_TABLE = "synthetic_labels"

#: Quarantine metadata: the rows of the run that were valid but of another trading day.
OTHER_DAY_ROWS = "rows_of_other_days"


def split_day(
    raw: dict[str, pl.DataFrame], day: dt.date
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """Return the landable rows per stream of ``day`` and the quarantined rows of all streams.

    Rows that are valid but dated another day are quarantined with that reason: landing a
    partition writes that partition only.
    """
    valid: dict[str, pl.DataFrame] = {}
    bad: list[pl.DataFrame] = []
    for stream in STREAMS:
        if stream not in raw:
            continue
        result = validate(stream, raw[stream], day=day)
        valid[stream] = result.valid
        bad.append(result.quarantined)
    quarantine = pl.concat(bad) if bad else pl.DataFrame(schema=QUARANTINE_SCHEMA)
    return valid, quarantine


@dataclass(frozen=True)
class LandingCounts:
    """What landing one or more batches did (rows newly landed / already present per stream)."""

    landed: dict[str, int] = field(default_factory=dict)
    present: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    labels: int = 0
    #: The earliest event time the landed rows can change (tracked for live batches only).
    tail: Tail = field(default_factory=Tail)
    #: Why each spooled batch that could not be read was quarantined whole (live only).
    damaged: tuple[str, ...] = ()
    #: Rows quarantined for belonging to another trading day only (else valid).
    other_day: int = 0

    def __add__(self, other: "LandingCounts") -> "LandingCounts":
        def merged(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
            return {k: a.get(k, 0) + b.get(k, 0) for k in {*a, *b}}

        return LandingCounts(
            merged(self.landed, other.landed), merged(self.present, other.present),
            self.quarantined + other.quarantined, self.labels + other.labels, self.tail | other.tail,
            self.damaged + other.damaged, self.other_day + other.other_day,
        )  # fmt: skip


def land_batch(lake: Lake, batch: Batch, day: dt.date, track_tail: bool = False) -> LandingCounts:
    """Validate one batch and land it into ``day``: rows keyed on ``event_id``, the rest to
    quarantine (keyed on ``quarantine_id``), labels keyed on ``label_id``; all idempotent.

    With ``track_tail`` (live micro-batches) the result carries the batch's
    :class:`~assets.tail.Tail`, from its valid rows only.
    """
    valid, quarantine = split_day(batch.streams, day)
    landed, present = {}, {}
    rejected = [quarantine]
    for stream, frame in valid.items():
        result = land(lake, stream, frame)
        conflicts = 0 if result.conflicts is None else result.conflicts.height
        if conflicts:
            rejected.append(quarantine_rows(stream, result.conflicts, CONFLICT))
        landed[stream], present[stream] = result.rows_written, result.rows_skipped - conflicts
    quarantined = land(
        lake, "quarantine", pl.concat(rejected), key="quarantine_id", compare=False
    ).rows_written
    labels = 0
    if batch.labels is not None and batch.labels.height:
        labels = land(
            lake,
            LABELS_TABLE,
            batch.labels.with_columns(pl.lit(day).alias("date")),
            key="label_id",
            compare=False,
        ).rows_written
    tail = batch_tail(lake, day, Batch(streams=valid)) if track_tail else Tail()
    other_day = quarantine.filter(
        pl.col("reason").str.starts_with(OTHER_DAY) & ~pl.col("reason").str.contains(";")
    ).height
    return LandingCounts(landed, present, quarantined, labels, tail, other_day=other_day)


def _unique_ids_check(lake: LakeResource, stream: str, day: dt.date) -> dg.AssetCheckResult:
    frame = (
        lake.scan_day(stream, day)
        .select(pl.len().alias("rows"), pl.col("event_id").n_unique().alias("ids"))
        .collect()
    )
    rows, ids = frame.row(0)
    return dg.AssetCheckResult(
        asset_key=stream,
        check_name="event_id_unique",
        passed=bool(rows == ids),
        metadata={"rows": rows, "distinct_event_ids": ids},
    )


@dg.multi_asset(
    name="landing",
    specs=[
        *[
            dg.AssetSpec(
                s, group_name="landing", description=f"Raw {s} (docs/rules.md: the raw data)"
            )
            for s in STREAMS
        ],
        dg.AssetSpec(
            "quarantine",
            group_name="landing",
            description="Rows that broke the schema, with reasons",
        ),
        dg.AssetSpec(
            LABELS_TABLE,
            group_name="landing",
            description="Ground truth of the synthetic market's planted patterns",
        ),
    ],
    check_specs=[dg.AssetCheckSpec("event_id_unique", asset=s, blocking=True) for s in STREAMS],
    partitions_def=trading_days,
)
def landing(
    context: AssetExecutionContext, lake: LakeResource, source: MarketDataSource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """Fetch one day from the source, validate, land idempotently, quarantine the rest."""
    day = partition_date(context.partition_key)
    total = LandingCounts()
    for batch in source.batches(day):
        total = total + land_batch(lake.lake(), batch, day)
    for stream in STREAMS:
        yield dg.MaterializeResult(
            asset_key=stream,
            metadata={
                "rows_landed": total.landed.get(stream, 0),
                "rows_already_present": total.present.get(stream, 0),
            },
        )
    yield dg.MaterializeResult(
        asset_key="quarantine",
        metadata={"rows_quarantined": total.quarantined, OTHER_DAY_ROWS: total.other_day},
    )
    yield dg.MaterializeResult(asset_key=LABELS_TABLE, metadata={"rows_landed": total.labels})
    for stream in STREAMS:
        yield _unique_ids_check(lake, stream, day)
