"""Live load through the Dagster daemon: the recorder spools a day while ``dagster-daemon``
runs the spool sensor, which lands the batches and builds their tails (in its tick, or
through tail runs with ``FLOWLAKE_LIVE_BUILD=run``).

Reports batches/s sustained, the lag from a batch being spooled to it being landed (the
landing events' ``landed_ns``) and to the alerts that contain it being readable (the first
``alerts`` materialization covering its spool sequence: its ``committed_ns`` when built in
the tick, the run's event time for a tail run), that the landed rows reconcile with the
source, and that the derived tables equal a whole-day replay of the same day.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dagster as dg

from adapters.synthetic.market import SyntheticSpec, generate_day
from adapters.synthetic.universe import select_underlyings
from assets.resources import LakeResource, ThresholdsResource
from assets.sources import SyntheticSource
from bench.load import percentile, print_latency
from lake import Lake
from lake.compare import day_rows
from lake.read import read
from orchestration.definitions import defs
from orchestration.instance import DAGSTER_YAML
from orchestration.live import LIVE_BUILD_ENV
from orchestration.serve import stop_groups
from orchestration.spool import Spool, SpooledBatch

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _alerts_built(instance: dg.DagsterInstance, day: dt.date) -> list[tuple[int, float]]:
    """Return (last spool sequence covered, when readable) per live ``alerts`` materialization."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("alerts"), asset_partitions=[day.isoformat()]),
        limit=10_000,
    ).records
    built = []
    for record in records:
        meta = record.asset_materialization.metadata  # type: ignore[union-attr]
        if "spool_seq_through" in meta:  # built in the sensor's tick
            built.append((int(meta["spool_seq_through"].value), meta["committed_ns"].value / 1e9))
            continue
        run = instance.get_run_by_id(record.run_id) if record.run_id else None
        key = run.tags.get("dagster/run_key", "") if run is not None else ""
        if key.startswith("live-"):  # a tail run: live-<day>-<seq>-<attempt>
            built.append((int(key.split("-")[-2]), record.timestamp))
    return sorted(built)


def _settled(instance: dg.DagsterInstance, day: dt.date, last_seq: int) -> bool:
    built = _alerts_built(instance, day)
    return bool(built) and built[-1][0] >= last_seq


def daemon_load(
    work: Path,
    day: dt.date,
    underlyings: str,
    minutes: int | None,
    interval_s: float,
    timeout_s: float = 1800.0,
    speed: float = 0.0,
) -> dict[str, Any]:
    """Run ``dagster-daemon`` and a full-speed recorder until everything is built; return figures."""
    names = select_underlyings(underlyings)
    home, lake_root, spool_root = work / "home", work / "lake", work / "spool"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    env = {
        **os.environ, "DAGSTER_HOME": str(home), "FLOWLAKE_LAKE": str(lake_root),
        "FLOWLAKE_SPOOL": str(spool_root), "PYTHONPATH": str(ROOT),
    }  # fmt: skip
    log = (work / "daemon.log").open("w")
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    source = generate_day(
        SyntheticSpec(date=day, underlyings=tuple(names), minutes=minutes or None)
    ).tables
    try:
        started = time.time()
        recorder = subprocess.run(
            [str(BIN / "flowlake"), "live", "--record-only", "--date", day.isoformat(),
             "--underlyings", ",".join(names), "--minutes", str(minutes or 0),
             "--interval", str(interval_s), "--speed", str(speed)],
            env=env, capture_output=True, text=True, timeout=timeout_s, check=True,
        )  # fmt: skip
        recorded = time.time()
        lake = Lake(str(lake_root))
        last_seq = Spool(spool_root).batches(day)[-1].seq
        with dg.DagsterInstance.from_config(str(home)) as instance:
            deadline = time.time() + timeout_s
            while not _settled(instance, day, last_seq):
                if time.time() > deadline:
                    raise TimeoutError(f"the daemon did not catch up in {timeout_s} s")
                time.sleep(1)
            built = _alerts_built(instance, day)
            finished = max(t for _, t in built)
            spool = Spool(spool_root)
            readable = _readable_at(built, spool.batches(day))
            figures = _latencies(instance, spool, day, readable)
            spec = SyntheticSpec(date=day, underlyings=tuple(names), minutes=minutes or None)
            ns = {seq: int(t * 1e9) for seq, t in readable.items()}
            figures |= print_latency(spool, day, ns, spec, interval_s, speed)
    finally:
        stop_groups([daemon], timeout_s=30)
        log.close()
    batches = len(Spool(spool_root).batches(day))
    reconciled = all(
        (frame := read(lake, name, dates=[day])) is not None and frame.height == source[name].height
        for name in ("option_trades", "option_quotes", "equity_trades", "equity_quotes")
    )
    return {
        "underlyings": underlyings, "minutes": minutes, "interval_s": interval_s, "speed": speed, "batches": batches,
        "recorder_output": recorder.stdout.strip(),
        "recorded_batches_per_s": round(batches / max(recorded - started, 1e-9), 1),
        "sustained_batches_per_s": round(batches / (finished - started), 2),
        "tail_builds": len(built), "build_mode": os.environ.get(LIVE_BUILD_ENV, "sensor"),
        **figures,
        "reconciled": reconciled,
        "equals_replay": _equals_replay(work, day, names, minutes, lake),
    }  # fmt: skip


def _readable_at(built: list[tuple[int, float]], batches: list[SpooledBatch]) -> dict[int, float]:
    """Return, per spool sequence, when the first alerts build covering it was readable."""
    readable = {}
    for batch in batches:
        ends = [end for seq, end in built if seq >= batch.seq]
        if ends:
            readable[batch.seq] = min(ends)
    return readable


def _latencies(
    instance: dg.DagsterInstance, spool: Spool, day: dt.date, readable: dict[int, float]
) -> dict[str, float]:
    """Return lag percentiles from the landing events and the alerts' readable times."""
    events = instance.fetch_materializations(dg.AssetKey("option_trades"), limit=10_000).records
    landed_at: dict[int, float] = {}
    for record in events:
        meta = record.asset_materialization.metadata  # type: ignore[union-attr]
        first, last = (int(x) for x in meta["spool_seq"].value.split(".."))
        for seq in range(first, last + 1):
            landed_at.setdefault(seq, meta["landed_ns"].value / 1e9)
    landed_lag, readable_lag = [], []
    for batch in spool.batches(day):
        spooled = batch.manifest["created_ns"] / 1e9
        if batch.seq in landed_at:
            landed_lag.append(landed_at[batch.seq] - spooled)
        if batch.seq in readable:
            readable_lag.append(readable[batch.seq] - spooled)
    return {
        "landed_lag_s_p50": percentile(landed_lag, 0.5), "landed_lag_s_p95": percentile(landed_lag, 0.95),
        "alerts_readable_lag_s_p50": percentile(readable_lag, 0.5), "alerts_readable_lag_s_p95": percentile(readable_lag, 0.95),
    }  # fmt: skip


def _equals_replay(
    work: Path, day: dt.date, names: list[str], minutes: int | None, live: Lake
) -> bool:
    """Build the same day whole on another lake; return whether every derived table matches."""
    resources = {
        "lake": LakeResource(root=str(work / "replay")), "thresholds": ThresholdsResource(),
        "source": SyntheticSource(underlyings=",".join(names), minutes=minutes or 0),
    }  # fmt: skip
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    dg.materialize(
        list(defs.assets), resources=resources, partition_key=day.isoformat(), run_config=quiet,
    )  # fmt: skip
    replay, rows = day_rows(Lake(str(work / "replay")), day), day_rows(live, day)
    return replay.keys() == rows.keys() and all(replay[t].equals(rows[t]) for t in replay)
