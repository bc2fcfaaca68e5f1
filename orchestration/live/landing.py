"""The spool's landing step: the batches after a sequence number landed idempotently (a damaged
batch quarantined whole), for the Dagster sensor and ``flowlake live`` alike."""

from __future__ import annotations

import json

import polars as pl

from adapters.schema import quarantine_rows
from assets.landing import LandingCounts, land_batches
from lake import Lake
from lake.write import land
from orchestration.spool import Spool, SpoolDamaged, SpooledBatch

#: Materialization metadata of the quarantine: the spooled batches quarantined whole.
DAMAGED = "damaged_spool_batches"


def land_spooled(lake: Lake, spool: Spool, batches: list[SpooledBatch]) -> LandingCounts:
    """Land spooled batches of one day (a tick's backlog) with one commit per stream.

    Each commit costs tens of milliseconds whatever its size, so a backlog is landed as one
    job (:func:`~assets.landing.land_batches`); the result is the same as landing them one
    by one. The counts carry the backlog's :class:`~assets.tail.Tail`.
    """
    total = LandingCounts()
    for day in sorted({b.day for b in batches}):
        parts = []
        for spooled in (b for b in batches if b.day == day):
            try:
                parts.append(spool.read(spooled))
            except SpoolDamaged as exc:
                # One damaged batch must not stop the day: it is recorded in quarantine
                # with its reason and manifest, and the others land.
                damaged = quarantine_rows(
                    "spool",
                    pl.DataFrame(
                        {
                            "event_id": [spooled.manifest.get("batch_id", str(spooled.seq))],
                            "source": [spooled.manifest.get("source")],
                            "ts_recv": [spooled.manifest.get("created_ns")],
                            "date": [day],
                            "manifest": [json.dumps(spooled.manifest, sort_keys=True)],
                        },
                        schema_overrides={"ts_recv": pl.Int64, "source": pl.String},
                    ),
                    str(exc),
                )
                written = land(
                    lake, "quarantine", damaged, key="quarantine_id", compare=False
                ).rows_written
                total = total + LandingCounts(quarantined=written, damaged=(str(exc),))
        if not parts:
            continue
        total = total + land_batches(lake, parts, day, track_tail=True)
    return total
