"""Live load: a synthetic day recorded (at full or real speed) while the sensor tick lands and builds.

Reports batches/s recorded and landed, the lag from a batch being spooled to it being
landed and to the derived tables (alerts included) that contain it being readable, and
that the landed rows reconcile with the source. At a real speed it also measures
print-to-alert latency: for each alert, the wall time its row was first readable minus
the time its newest evidence print was due from the feed (``alert_latency_s``: the print
that completed the alert, at that moment), and minus the time its first print was due
(``alert_age_s``, an upper bound).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from adapters.synthetic.market import SyntheticSpec, generate_day, session_window
from adapters.synthetic.source import SyntheticMarket
from adapters.synthetic.universe import select_underlyings
from assets.resources import LakeResource
from lake.read import read, scan
from orchestration.live import TailBuild, Tick, build_tail, follow
from orchestration.spool import Spool, SpooledBatch


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
    landed_lag: list[float] = []
    readable_lag: list[float] = []
    alerts_lag: list[float] = []
    builds: list[float] = []

    def build(lake: LakeResource, day: dt.date, tags: dict[str, str]) -> TailBuild:
        t0 = time.perf_counter()
        built = build_tail(lake, day, tags)
        builds.append(time.perf_counter() - t0)
        return built

    first_seen: list[pl.DataFrame] = []  # alert, its first and newest evidence print, seen at
    alerts_at: dict[int, int] = {}  # spool sequence -> when the alerts holding it were readable

    def on_tick(tick: Tick) -> None:
        landed_lag.extend((tick.landed_ns - b.manifest["created_ns"]) / 1e9 for b in tick.landed)
        if tick.built_ns is None:
            return
        readable_lag.extend((tick.built_ns - b.manifest["created_ns"]) / 1e9 for b in tick.landed)
        alerts_ns = tick.committed_ns.get("alerts", tick.built_ns)
        alerts_lag.extend((alerts_ns - b.manifest["created_ns"]) / 1e9 for b in tick.landed)
        alerts_at.update((b.seq, alerts_ns) for b in tick.landed)
        if speed > 0:
            first_seen.append(_alert_evidence(lake, day).with_columns(seen_ns=alerts_ns))

    started, started_ns = time.perf_counter(), time.time_ns()
    market = SyntheticMarket(spec)
    recorded = asyncio.run(
        follow(
            market, spool, day, lake, speed=speed, interval_s=interval_s, poll_s=0.2,
            build=build, on_tick=on_tick,
        )
    )  # fmt: skip
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
    latency = {
        **print_latency(spool, day, alerts_at, spec, interval_s, speed),
        **_alert_latency(first_seen, spool.batches(day), spec, interval_s, speed),
    }
    return {
        "underlyings": underlyings, "minutes": minutes, "interval_s": interval_s, "speed": speed, "batches": batches,
        "recorded_batches_per_s": round(batches / recorded_s, 1) if recorded_s else None,
        "sustained_batches_per_s": round(batches / total_s, 2), "total_s": round(total_s, 1), "builds": len(builds),
        "build_s_p50": percentile(builds, 0.5), "build_s_max": round(max(builds), 3) if builds else 0.0,
        "landed_lag_s_p50": percentile(landed_lag, 0.5), "landed_lag_s_p95": percentile(landed_lag, 0.95),
        "readable_lag_s_p50": percentile(readable_lag, 0.5), "readable_lag_s_p95": percentile(readable_lag, 0.95),
        "alerts_readable_lag_s_p50": percentile(alerts_lag, 0.5), "alerts_readable_lag_s_p95": percentile(alerts_lag, 0.95),
        "mean_batches_per_build": round(statistics.mean([batches / max(1, len(builds))]), 1),
        "reconciled": reconciled, **latency,
    }  # fmt: skip


def _alert_evidence(lake: LakeResource, day: dt.date) -> pl.DataFrame:
    """Return each alert readable now with its first and newest evidence print times."""
    alerts = scan(lake.lake(), "alerts", dates=[day])
    packets = scan(lake.lake(), "flow_packets", dates=[day])
    if alerts is None or packets is None:
        return pl.DataFrame(
            schema={"alert_id": pl.String, "first_ts": pl.Int64, "last_ts": pl.Int64}
        )
    return (
        alerts.select("alert_id", "packet_ids").explode("packet_ids")
        .join(packets.select(pl.col("packet_id").alias("packet_ids"), "start_ts", "end_ts"), on="packet_ids")
        .group_by("alert_id").agg(first_ts=pl.col("start_ts").min(), last_ts=pl.col("end_ts").max())
        .collect()
    )  # fmt: skip


def _feed_clock(
    batches: list[SpooledBatch], spec: SyntheticSpec, interval_s: float, speed: float
) -> Callable[[str], pl.Expr]:
    """Return ``due(column)``: when a print of that market time was due from the paced feed.

    A print of market time ``ts`` is due at ``origin + (ts - open) / speed``; batch ``k``
    covers up to ``open + (k + 1) * interval``, so the feed's origin is the earliest
    ``created_ns - (k + 1) * interval / speed`` over the spooled batches (the batch spooled
    with the least delay; the others came later than due, which counts as latency).
    """
    open_ns, _ = session_window(spec)
    origin = min(
        b.manifest["created_ns"] - (k + 1) * interval_s * 1e9 / speed for k, b in enumerate(batches)
    )

    def due(column: str) -> pl.Expr:
        return origin + (pl.col(column) - open_ns) / speed

    return due


def print_latency(
    spool: Spool,
    day: dt.date,
    readable_ns: dict[int, int],
    spec: SyntheticSpec,
    interval_s: float,
    speed: float,
) -> dict[str, Any]:
    """Return p50/p95 print-to-alert latency over every spooled option print: from when it
    was due from the feed to when the alerts covering its batch (``readable_ns`` by spool
    sequence) were readable."""
    batches = spool.batches(day)
    if speed <= 0 or not batches or not readable_ns:
        return {}
    due = _feed_clock(batches, spec, interval_s, speed)
    frames = [
        spool.read(b).streams["option_trades"].select("ts_event").with_columns(seen_ns=readable_ns[b.seq])
        for b in batches
        if b.seq in readable_ns and "option_trades" in b.manifest["rows"]
    ]  # fmt: skip
    lags = (
        pl.concat(frames).select((pl.col("seen_ns") - due("ts_event")) / 1e9).to_series().to_list()
    )
    return {
        "prints_timed": len(lags),
        "print_to_alerts_s_p50": percentile(lags, 0.5), "print_to_alerts_s_p95": percentile(lags, 0.95),
    }  # fmt: skip


def _alert_latency(
    seen: list[pl.DataFrame],
    batches: list[SpooledBatch],
    spec: SyntheticSpec,
    interval_s: float,
    speed: float,
) -> dict[str, Any]:
    """Return p50/p95 latency of each alert at its first sighting: from its newest evidence
    print (the one that completed it then) and from its first."""
    if speed <= 0 or not seen or not batches:
        return {}
    due = _feed_clock(batches, spec, interval_s, speed)
    first = pl.concat(seen).sort("seen_ns").unique("alert_id", keep="first")
    lags = first.select(
        latency=(pl.col("seen_ns") - due("last_ts")) / 1e9, age=(pl.col("seen_ns") - due("first_ts")) / 1e9
    )  # fmt: skip
    latency, age = lags.get_column("latency").to_list(), lags.get_column("age").to_list()
    return {
        "alerts_timed": first.height,
        "alert_latency_s_p50": percentile(latency, 0.5), "alert_latency_s_p95": percentile(latency, 0.95),
        "alert_age_s_p50": percentile(age, 0.5), "alert_age_s_p95": percentile(age, 0.95),
    }  # fmt: skip
