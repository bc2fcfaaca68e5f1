"""Micro-batch cost vs time of day: a live tail update at 10:00 and at 15:30 of a full day.

For each time point the day is landed up to it (in 15-minute pieces, the file layout live
landing leaves) and built whole; then one micro-batch
(``batch_s`` of every stream) lands (timed) and the derived run for its tail is timed, per
asset.
The same state is then rebuilt whole (the cost every micro-batch had before tail
updates) and the tables are compared with the tail result: they must be identical.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
from polars.testing import assert_frame_equal

from adapters.calendar import NY, to_ns
from adapters.source import Batch
from adapters.synthetic.market import SyntheticSpec, generate_day
from adapters.synthetic.universe import select_underlyings
from assets.landing import land_batch
from assets.resources import LakeResource, ThresholdsResource
from assets.sources import SyntheticSource
from lake.compare import day_rows
from orchestration.definitions import defs

CHUNK_NS = 15 * 60 * 10**9
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def _part(tables: dict[str, pl.DataFrame], lo: int | None, hi: int) -> Batch:
    """Return the rows with ``lo <= ts_event < hi`` (untimed streams with the first part)."""
    streams = {}
    for name, frame in tables.items():
        if "ts_event" not in frame.columns:
            if lo is None:
                streams[name] = frame
            continue
        keep = pl.col("ts_event") < hi
        streams[name] = frame.filter(keep if lo is None else keep & (pl.col("ts_event") >= lo))
    return Batch(streams=streams)


def _build(
    resources: dict[str, Any], day: dt.date, instance: dg.DagsterInstance, tags: dict[str, str]
) -> tuple[float, dict[str, float]]:
    """Materialize the derived assets of ``day``; return wall seconds and seconds per asset."""
    derived = dg.AssetSelection.all() - dg.AssetSelection.groups("landing")
    started = time.perf_counter()
    result = dg.materialize(
        list(defs.assets), resources=resources, partition_key=day.isoformat(), selection=derived,
        instance=instance, run_config=QUIET, tags=tags,
    )  # fmt: skip
    wall = time.perf_counter() - started
    begun: dict[str, float] = {}
    per: dict[str, float] = {}
    for entry in instance.all_logs(result.run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            begun[event.step_key] = entry.timestamp
        elif event.event_type_value == "STEP_SUCCESS":
            per[event.step_key] = round(entry.timestamp - begun[event.step_key], 3)
    return round(wall, 3), per


def micro_batch_cost(
    work: Path,
    day: dt.date,
    underlyings: str,
    points: tuple[dt.time, ...] = (dt.time(10, 0), dt.time(15, 30)),
    batch_s: float = 5.0,
    minutes: int | None = None,
) -> dict[str, Any]:
    """Return the tail-update and whole-rebuild cost of one micro-batch at each time point."""
    spec = SyntheticSpec(
        date=day, underlyings=tuple(select_underlyings(underlyings)), minutes=minutes
    )
    tables = generate_day(spec).tables
    lake = LakeResource(root=str(work / "lake"))
    resources = {"lake": lake, "thresholds": ThresholdsResource(), "source": SyntheticSource()}
    instance = dg.DagsterInstance.ephemeral()
    figures: dict[str, Any] = {
        "underlyings": underlyings, "option_prints_day": tables["option_trades"].height,
        "batch_s": batch_s, "points": [],
    }  # fmt: skip
    landed_to: int | None = None
    with instance:  # closed afterwards, not left to the garbage collector
        for point in points:
            at = to_ns(dt.datetime.combine(day, point, tzinfo=NY))
            # Landed in 15-minute pieces, as live landing leaves the day: time-bounded files.
            edges = list(
                range(
                    landed_to or to_ns(dt.datetime.combine(day, dt.time(9, 30), tzinfo=NY)),
                    at,
                    CHUNK_NS,
                )
            )
            for lo, hi in zip(
                [None, *edges[1:]] if landed_to is None else edges, [*edges[1:], at], strict=True
            ):
                land_batch(lake.lake(), _part(tables, lo, hi), day)
            _build(resources, day, instance, {})
            batch = _part(tables, at, at + int(batch_s * 1e9))
            started = time.perf_counter()
            tail = land_batch(lake.lake(), batch, day, track_tail=True).tail
            # Landing looks the batch's keys up among the day's stored ids: a cost that grows
            # through the day, reported beside the derived run's.
            land_s = round(time.perf_counter() - started, 3)
            landed_to = at + int(batch_s * 1e9)
            tail_s, tail_steps = _build(resources, day, instance, tail.tags())
            after_tail = day_rows(lake.lake(), day)
            whole_s, _ = _build(resources, day, instance, {})
            after_whole = day_rows(lake.lake(), day)
            assert after_tail.keys() == after_whole.keys()
            for table, frame in after_whole.items():
                assert_frame_equal(after_tail[table], frame)
            figures["points"].append(
                {
                    "time": point.isoformat(timespec="minutes"),
                    "option_prints_so_far": after_whole["option_prints"].height,
                    "batch_option_prints": batch.streams["option_trades"].height,
                    "land_s": land_s,
                    "tail_update_s": tail_s,
                    "whole_rebuild_s": whole_s,
                    "tail_steps_s": tail_steps,
                    "identical": True,
                }
            )
    first, last = figures["points"][0], figures["points"][-1]
    figures["tail_cost_ratio_last_vs_first"] = round(
        last["tail_update_s"] / first["tail_update_s"], 2
    )
    figures["land_cost_ratio_last_vs_first"] = (
        round(last["land_s"] / first["land_s"], 2) if first["land_s"] else None
    )
    figures["whole_cost_ratio_last_vs_first"] = round(
        last["whole_rebuild_s"] / first["whole_rebuild_s"], 2
    )
    return figures
