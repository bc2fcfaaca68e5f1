"""One benchmark stage, run in its own process so its wall time and peak memory are its own.

``python -m bench.stage STAGE LAKE WORK`` where STAGE is ``landing``, ``floor-option``,
``floor-equity``, ``floor-landing``, ``peer-duckdb`` or an asset.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import polars as pl
from deltalake import DeltaTable

from adapters.schema import STREAMS
from assets.ordering import instrument_codes
from bench.peer import duckdb_option_prints
from bench.workload import DAY, land_parts
from lake import Lake
from lake.files import commit_files, write_files
from lake.read import scan

#: The stage of the landing floor (:func:`landing_floor`).
LANDING_FLOOR = "floor-landing"
#: The stage of the DuckDB peer of ``option_prints`` (:mod:`bench.peer`).
PEER = "peer-duckdb"
ASSETS = (
    "option_prints", "flow_packets", "structures", "contract_baselines", "classifier_hits", "alerts",
    "equity_prints", "equity_candles", "dark_inferences",
)  # fmt: skip


def floor(lake: Lake, work: Path, kind: str) -> dict[str, float]:
    """The minimum any implementation must do: read the needed landing columns, sort trades
    and quotes by one int64 key (instrument id, ns in the day), write the sorted result.

    Returns
    -------
    dict[str, float]
        Seconds of its parts: ``read_s`` (the landing columns), ``sort_s`` (ids, keys and
        sorts) and ``write_s`` (the Parquet files, one per stream).
    """
    started = time.perf_counter()
    key = "contract" if kind == "option" else "symbol"
    trades = (
        scan(lake, f"{kind}_trades", dates=[DAY])
        .select(key, "ts_event", "price", "size")
        .collect()
        .rename({key: "contract"})
    )
    quotes = (
        scan(lake, f"{kind}_quotes", dates=[DAY])
        .select(key, "ts_event", "bid", "ask")
        .collect()
        .rename({key: "contract"})
    )
    read = time.perf_counter()
    base = int(min(trades["ts_event"].min(), quotes["ts_event"].min()))
    out = work / "floor"
    out.mkdir(exist_ok=True)
    write_s = 0.0
    for name, frame in (("trades", trades), ("quotes", quotes)):
        # Ids from polars' categorical cache: one hash per row, and one id per name in both
        # frames (a table of unique names hash-joined to the rows took 1.3-2x as long: the
        # floor must be the least work, or every ratio to it flatters the path). The ids do
        # not follow the names' order, which the floor does not need: each instrument's
        # rows together, in time order.
        cid = instrument_codes("contract").cast(pl.Int64)
        ordered = (
            frame.with_columns((cid * (1 << 45) + (pl.col("ts_event") - base)).alias("key"))
            .sort("key")
            .drop("contract")
        )
        t0 = time.perf_counter()
        # The lake's codec (lz4, :mod:`lake.write`): polars' default, zstd, cost the floor
        # 1.2 s (2.5 CPU-s) more on the 10M option day than the path pays for its bytes.
        ordered.write_parquet(out / f"{name}.parquet", compression="lz4")
        write_s += time.perf_counter() - t0
    return {
        "read_s": round(read - started, 3),
        # The ids, keys and sorts: everything after the read that is not the write.
        "sort_s": round(time.perf_counter() - read - write_s, 3),
        "write_s": round(write_s, 3),
    }


def landing_floor(work: Path) -> dict[str, float]:
    """The least work of landing a day: read the day's raw parts of every stream and write
    each stream as one Delta table of the day (the lake's writer and codec, one commit),
    with no validation, no de-duplication and no check against stored rows.

    Returns
    -------
    dict[str, float]
        ``read_s`` (the parts) and ``write_s`` (files and commits), summed over streams.
    """
    floor_lake = Lake(str(work / "landing-floor"))
    read_s = write_s = 0.0
    for stream in STREAMS:
        parts = sorted((work / stream).glob("part-*.parquet"))
        if not parts:
            continue
        t0 = time.perf_counter()
        frame = pl.read_parquet(parts)
        if "date" not in frame.columns:
            frame = frame.with_columns(pl.lit(DAY).alias("date"))
        t1 = time.perf_counter()
        target = DeltaTable.create(
            floor_lake.uri(stream), frame.head(0).to_arrow().schema, mode="overwrite",
            partition_by=["date"],
        )  # fmt: skip
        actions = write_files(floor_lake, stream, frame, DAY)
        commit_files(floor_lake, stream, target, actions, mode="append", schema=target.schema(),
                     partition_by=["date"])  # fmt: skip
        read_s += t1 - t0
        write_s += time.perf_counter() - t1
    return {"read_s": round(read_s, 3), "write_s": round(write_s, 3)}


def cpu_since(before: resource.struct_rusage) -> dict[str, float]:
    """Return this process's CPU time and minor page faults since ``before`` (a
    ``resource.getrusage(RUSAGE_SELF)``): ``user_s``, ``sys_s`` and ``minor_faults``.

    Kernel time is reported apart because on a VM it is where the cost of fresh memory
    shows: every page a stage touches for the first time is a fault, zeroed by the guest
    kernel and, when the host had taken the page back, backed by the host again.
    """
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "user_s": round(after.ru_utime - before.ru_utime, 3),
        "sys_s": round(after.ru_stime - before.ru_stime, 3),
        "minor_faults": after.ru_minflt - before.ru_minflt,
    }


def peak_rss_mb() -> float:
    """Return this process's peak resident memory (``VmHWM``) in MiB.

    Not ``ru_maxrss`` as the parent's ``wait4`` reports it: Linux carries the high-water
    mark of the memory a process replaced at ``exec`` into its ``ru_maxrss``, and a child
    started by vfork + exec thus reported the benchmark runner's own peak (3.2 GiB after
    generating a day) as its floor. ``VmHWM`` belongs to the memory map made at ``exec``.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM in /proc/self/status")


def run(stage: str, lake: Lake, work: Path, instance: object | None = None) -> dict[str, float]:
    """Run one stage against the workload lake (assets on ``instance``, a
    ``dagster.DagsterInstance``, or an ephemeral one).

    Returns
    -------
    dict[str, float]
        The stage's parts that are storage: the floor's ``read_s``, ``sort_s`` and
        ``write_s``; an asset's ``write_s`` (its partition write, from its
        materialization); nothing for landing.
    """
    if stage == "landing":
        land_parts(work, lake)
        return {}
    if stage == LANDING_FLOOR:
        return landing_floor(work)
    if stage.startswith("floor-"):
        return floor(lake, work, stage.removeprefix("floor-"))
    if stage == PEER:
        return {"write_s": 0.0, **duckdb_option_prints(lake, work, DAY)}
    if stage in ASSETS:
        import dagster as dg

        from assets.resources import LakeResource, ThresholdsResource
        from assets.sources import SyntheticSource
        from orchestration.definitions import defs

        result = dg.materialize(
            list(defs.assets),
            resources={
                "lake": LakeResource(root=lake.root),
                "thresholds": ThresholdsResource(),
                "source": SyntheticSource(),
            },
            partition_key=DAY.isoformat(),
            selection=dg.AssetSelection.assets(stage),
            instance=instance,  # type: ignore[arg-type]
            run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
            raise_on_error=True,
        )
        assert result.success
        (materialized,) = result.asset_materializations_for_node(stage)
        return {"write_s": float(materialized.metadata["write_s"].value)}  # type: ignore[attr-defined]
    raise SystemExit(f"unknown stage {stage!r}")


if __name__ == "__main__":
    import json

    from assets.runtime import configure_process

    configure_process()

    instance = None
    if sys.argv[1] in ASSETS:
        # Import what the stage imports, and open the Dagster instance (its storage modules
        # load then), before the clock starts: process start-up, imports (~2-4 s, mostly
        # Dagster) and the instance are not the asset's work.
        import dagster as dg

        import orchestration.definitions  # noqa: F401

        instance = dg.DagsterInstance.ephemeral()
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    parts = run(sys.argv[1], Lake(sys.argv[2]), Path(sys.argv[3]), instance)
    seconds = time.perf_counter() - started
    cpu = cpu_since(before)
    if instance is not None:
        instance.dispose()
    figures = {"seconds": round(seconds, 3), "peak_rss_mb": peak_rss_mb(), **cpu, **parts}
    print(json.dumps(figures))
