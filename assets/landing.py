"""Landing: a source's raw rows for one day -> validated landing tables + quarantine.

Landing appends keyed on ``event_id`` (a batch delivered twice lands once) and never
drops a row: what breaks the schema, or belongs to another day, goes to ``quarantine``.
"""

# No `from __future__ import annotations` here: Dagster inspects the `context` annotation at
# definition time and does not resolve string annotations.

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import dagster as dg
import polars as pl
from dagster import AssetExecutionContext

from adapters.schema import (
    CONFLICT,
    OTHER_DAY,
    QUARANTINE_SCHEMA,
    STREAMS,
    ValidationResult,
    quarantine_rows,
    validate,
)
from adapters.source import Batch, merge_streams
from assets.partitions import partition_date, trading_days
from assets.resources import LakeResource
from assets.sources import MarketDataSource
from assets.tail import Tail, batch_tail
from lake import Lake
from lake.files import polars_writes_fast
from lake.ingest import DayAppend
from lake.write import WriteResult, land

LABELS_TABLE = "synthetic_labels"

#: Quarantine metadata: the rows of the run that were valid but of another trading day.
OTHER_DAY_ROWS = "rows_of_other_days"


def split_day(
    raw: dict[str, pl.DataFrame], day: dt.date
) -> tuple[dict[str, ValidationResult], pl.DataFrame]:
    """Return the validation of each stream of ``day`` and the quarantined rows of all
    streams.

    Rows that are valid but dated another day are quarantined with that reason: landing a
    partition writes that partition only.
    """
    results: dict[str, ValidationResult] = {}
    bad: list[pl.DataFrame] = []
    for stream in STREAMS:
        if stream not in raw:
            continue
        result = validate(stream, raw[stream], day=day)
        results[stream] = result
        bad.append(result.quarantined)
    quarantine = pl.concat(bad) if bad else pl.DataFrame(schema=QUARANTINE_SCHEMA)
    return results, quarantine


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


def land_batches(
    lake: Lake, batches: Iterable[Batch], day: dt.date, track_tail: bool = False
) -> LandingCounts:
    """Validate a day's batches and land them as one job: one commit per table.

    Each batch is validated on its own (a file that leaves out an optional column gets its
    default, whatever the others carry); its valid rows are checked against the stored
    rows and the batches before it, and written at once (:class:`~lake.ingest.DayAppend`);
    one commit per stream at the end makes them visible. Rows keyed on ``event_id`` (a
    batch delivered twice lands once; the first of two different rows with one id lands,
    the other is quarantined as a conflict), the rest to quarantine (keyed on
    ``quarantine_id``), labels keyed on ``label_id``: all idempotent, and the same rows
    as landing the batches one by one.

    With ``track_tail`` (live micro-batches) the result carries the batches'
    :class:`~assets.tail.Tail`, from their valid rows only.
    """
    jobs: dict[str, DayAppend] = {}
    direct: list[tuple[str, WriteResult]] = []
    rejected: list[pl.DataFrame] = []
    labelled: list[pl.DataFrame] = []
    kept: list[Batch] = []
    for batch in batches:
        results, quarantine = split_day(batch.streams, day)
        rejected.append(quarantine)
        valid = {stream: result.valid for stream, result in results.items()}
        for stream, result in results.items():
            frame = result.valid
            if lake.is_local and polars_writes_fast(frame):
                job = jobs.setdefault(stream, DayAppend(lake, stream, day))
                job.add(frame, result.id_hashes)
            else:  # an object store: Delta's own writer, a commit per batch
                direct.append((stream, land(lake, stream, frame)))
        if batch.labels is not None and batch.labels.height:
            labelled.append(batch.labels)
        if track_tail:
            kept.append(Batch(streams=valid))
    landed: dict[str, int] = {}
    present: dict[str, int] = {}
    results = direct + [(stream, job.commit()) for stream, job in jobs.items()]
    for stream, result in results:
        conflicts = 0 if result.conflicts is None else result.conflicts.height
        if conflicts:
            rejected.append(quarantine_rows(stream, result.conflicts, CONFLICT))
        landed[stream] = landed.get(stream, 0) + result.rows_written
        present[stream] = present.get(stream, 0) + result.rows_skipped - conflicts
    quarantine = pl.concat(rejected) if rejected else pl.DataFrame(schema=QUARANTINE_SCHEMA)
    quarantined = land(lake, "quarantine", quarantine, key="quarantine_id", compare=False)
    labels = 0
    if labelled:
        labels = land(
            lake,
            LABELS_TABLE,
            pl.concat(labelled).with_columns(pl.lit(day).alias("date")),
            key="label_id",
            compare=False,
        ).rows_written
    tail = batch_tail(lake, day, Batch(streams=merge_streams(kept))) if kept else Tail()
    other_day = quarantine.filter(
        pl.col("reason").str.starts_with(OTHER_DAY) & ~pl.col("reason").str.contains(";")
    ).height
    return LandingCounts(
        landed, present, quarantined.rows_written, labels, tail, other_day=other_day
    )


def land_batch(lake: Lake, batch: Batch, day: dt.date, track_tail: bool = False) -> LandingCounts:
    """Land one batch into ``day``: :func:`land_batches` of that batch alone."""
    return land_batches(lake, [batch], day, track_tail=track_tail)


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
    total = land_batches(lake.lake(), source.batches(day), day)
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
