"""Live load: a synthetic day recorded at full speed while the sensor tick lands and builds.

Reports batches/s recorded and landed, the lag from a batch being spooled to it being
landed and to the derived tables (alerts included) that contain it being readable, and
that the landed rows reconcile with the source.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import time
from pathlib import Path
from typing import Any

import dagster as dg

from adapters.synthetic.market import SyntheticSpec, generate_day
from adapters.synthetic.source import SyntheticMarket
from adapters.synthetic.universe import select_underlyings
from lake.read import read
from orchestration.definitions import defs
from orchestration.live import record
from orchestration.resources import LakeResource, SyntheticSource, ThresholdsResource
from orchestration.sensors import spool_tick
from orchestration.spool import Spool


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3) if ordered else 0.0


def live_load(
    work: Path,
    day: dt.date,
    underlyings: str,
    minutes: int | None,
    interval_s: float,
    speed: float = 0.0,
) -> dict[str, Any]:
    """Run the recorder and the tick loop until caught up; return the figures."""
    spec = SyntheticSpec(
        date=day, underlyings=tuple(select_underlyings(underlyings)), minutes=minutes
    )
    spool = Spool(work / "spool")
    lake = LakeResource(root=str(work / "lake"))
    resources = {"lake": lake, "thresholds": ThresholdsResource(), "source": SyntheticSource()}
    derived = dg.AssetSelection.all() - dg.AssetSelection.groups("landing")
    instance = dg.DagsterInstance.ephemeral()
    landed_lag: list[float] = []
    readable_lag: list[float] = []
    builds: list[float] = []

    async def main() -> tuple[float, float, int]:
        started = time.perf_counter()
        recorder = asyncio.create_task(
            record(SyntheticMarket(spec), spool, day, speed=speed, interval_s=interval_s)
        )
        cursor: str | None = None
        recorded_at = 0.0
        while True:
            finished = recorder.done()
            if finished and not recorded_at:
                recorded_at = time.perf_counter() - started
            before = {b.seq: b.manifest["created_ns"] for b in spool.batches(day)}
            result = await asyncio.to_thread(spool_tick, lake, spool, cursor, [day])
            landed_ns = time.time_ns()
            new = [seq for seq in before if seq > _last(cursor)] if result.run_requests else []
            cursor = result.cursor
            if result.run_requests:
                t0 = time.perf_counter()
                await asyncio.to_thread(dg.materialize, list(defs.assets), resources=resources, partition_key=day.isoformat(),
                                        selection=derived, instance=instance, run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}})  # fmt: skip
                builds.append(time.perf_counter() - t0)
                readable_ns = time.time_ns()
                landed_lag.extend((landed_ns - before[s]) / 1e9 for s in new)
                readable_lag.extend((readable_ns - before[s]) / 1e9 for s in new)
            if finished and not result.run_requests:
                return recorded_at, time.perf_counter() - started, recorder.result().batches
            await asyncio.sleep(0.2)

    recorded_s, total_s, batches = asyncio.run(main())
    source = generate_day(spec).tables
    landed = {
        name: read(lake.lake(), name, dates=[day])
        for name in ("option_trades", "equity_trades", "option_quotes", "equity_quotes")
    }
    reconciled = all(landed[n] is not None and landed[n].height == source[n].height for n in landed)
    return {
        "underlyings": underlyings, "minutes": minutes, "interval_s": interval_s, "speed": speed, "batches": batches,
        "recorded_batches_per_s": round(batches / recorded_s, 1) if recorded_s else None,
        "sustained_batches_per_s": round(batches / total_s, 2), "total_s": round(total_s, 1), "builds": len(builds),
        "build_s_p50": _pct(builds, 0.5), "build_s_max": round(max(builds), 3) if builds else 0.0,
        "landed_lag_s_p50": _pct(landed_lag, 0.5), "landed_lag_s_p95": _pct(landed_lag, 0.95),
        "readable_lag_s_p50": _pct(readable_lag, 0.5), "readable_lag_s_p95": _pct(readable_lag, 0.95),
        "mean_batches_per_build": round(statistics.mean([batches / max(1, len(builds))]), 1),
        "reconciled": reconciled,
    }  # fmt: skip


def _last(cursor: str | None) -> int:
    import json

    values = json.loads(cursor or "{}").values()
    return max(values) if values else -1
