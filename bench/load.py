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
from orchestration.live import Tick, follow
from orchestration.resources import LakeResource, SyntheticSource, ThresholdsResource
from orchestration.spool import Spool


def percentile(values: list[float], q: float) -> float:
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

    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}

    def build(day: dt.date, tags: dict[str, str]) -> None:
        t0 = time.perf_counter()
        dg.materialize(
            list(defs.assets),
            resources=resources,
            partition_key=day.isoformat(),
            selection=derived,
            instance=instance,
            run_config=quiet,
            tags=tags,
        )
        builds.append(time.perf_counter() - t0)

    def on_tick(tick: Tick) -> None:
        landed_lag.extend((tick.landed_ns - b.manifest["created_ns"]) / 1e9 for b in tick.landed)
        if tick.built_ns is not None:
            readable_lag.extend(
                (tick.built_ns - b.manifest["created_ns"]) / 1e9 for b in tick.landed
            )

    started, started_ns = time.perf_counter(), time.time_ns()
    market = SyntheticMarket(spec)
    with instance:  # closed afterwards, not left to the garbage collector
        recorded = asyncio.run(
            follow(
                market,
                spool,
                day,
                lake,
                speed=speed,
                interval_s=interval_s,
                poll_s=0.2,
                build=build,
                on_tick=on_tick,
            )
        )
    total_s = time.perf_counter() - started
    batches = recorded.batches
    # Recording ends with the last spooled batch (the tick loop may still be landing then).
    last_ns = max((b.manifest["created_ns"] for b in spool.batches(day)), default=started_ns)
    recorded_s = (last_ns - started_ns) / 1e9
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
        "build_s_p50": percentile(builds, 0.5), "build_s_max": round(max(builds), 3) if builds else 0.0,
        "landed_lag_s_p50": percentile(landed_lag, 0.5), "landed_lag_s_p95": percentile(landed_lag, 0.95),
        "readable_lag_s_p50": percentile(readable_lag, 0.5), "readable_lag_s_p95": percentile(readable_lag, 0.95),
        "mean_batches_per_build": round(statistics.mean([batches / max(1, len(builds))]), 1),
        "reconciled": reconciled,
    }  # fmt: skip
