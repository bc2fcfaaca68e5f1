"""Faults and bad input: one clear line, nothing lost, nothing twice, whole versions only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from adapters.synthetic import SyntheticSpec, generate_day
from lake import Lake
from lake.read import read, scan, table_version
from orchestration.spool import Spool

FLOWLAKE = str(Path(sys.executable).parent / "flowlake")
DATA = Path(__file__).parent / "data" / "databento" / "OPRA.PILLAR"


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``flowlake``; its output goes through files, not pipes.

    A pipe is read to its end, and a grandchild that outlives the command (Dagster's
    compute-log ``tail -F``, left behind when its watcher loses the race with a fast exit)
    keeps it open: ``subprocess.run`` then waits forever, even past its timeout. This hung
    a CI run in ``test_killed_recorder_resumes_without_loss_or_duplicates``.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.run(
            [FLOWLAKE, *args], env=env, stdout=out, stderr=err, text=True, timeout=300
        )
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out.read(), err.read())


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "FLOWLAKE_LAKE": str(tmp_path / "lake"),
        "DAGSTER_HOME": str(tmp_path / "home"),
        "FLOWLAKE_SPOOL": str(tmp_path / "spool"),
    }


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc.stderr


def test_truncated_and_corrupt_files_fail_in_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    dbn = tmp_path / "cut.dbn.zst"
    dbn.write_bytes((DATA / "test_data.trades.dbn.zst").read_bytes()[:120])
    assert "DBN" in one_line(cli(["ingest", str(dbn), "--date", "2025-02-20"], env))
    parquet = tmp_path / "option_trades.parquet"
    pl.DataFrame({"a": list(range(1000))}).write_parquet(parquet)
    parquet.write_bytes(parquet.read_bytes()[:200])
    assert f"{parquet}: unreadable" in one_line(
        cli(["ingest", str(parquet), "--date", "2025-02-20"], env)
    )


def test_unwritable_lake_fails_in_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    message = one_line(
        cli(
            ["synth", "--minutes", "5", "--underlyings", "AAPL", "--lake", str(blocker / "lake")],
            env,
        )
    )
    assert f"lake {blocker / 'lake'} is not writable: Not a directory" in message


def test_killed_recorder_resumes_without_loss_or_duplicates(
    tmp_path: Path, env: dict[str, str]
) -> None:
    args = [
        "live",
        "--date",
        "2026-11-24",
        "--underlyings",
        "AAPL",
        "--minutes",
        "30",
        "--interval",
        "30",
        "--poll",
        "0.2",
    ]
    proc = subprocess.Popen(
        [FLOWLAKE, *args, "--speed", "30"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    spool = Spool(tmp_path / "spool")
    day = __import__("datetime").date(2026, 11, 24)
    deadline = time.monotonic() + 120
    while len(spool.batches(day)) < 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # no chance to clean up
    proc.wait()
    recorded = len(spool.batches(day))
    assert 4 <= recorded < 60
    done = cli([*args, "--speed", "0"], env)
    assert done.returncode == 0, done.stderr[-2000:]
    batches = spool.batches(day)
    assert [b.seq for b in batches] == list(range(60))
    ids = pl.concat([spool.read(b).streams["option_trades"] for b in batches])["event_id"]
    expected = generate_day(SyntheticSpec(date=day, underlyings=("AAPL",), minutes=30)).tables[
        "option_trades"
    ]["event_id"]
    assert ids.is_unique().all() and ids.sort().equals(expected.sort())
    assert read(Lake(str(tmp_path / "lake")), "option_trades").height == expected.len()


DERIVED_KEYS = {
    "option_prints": "event_id", "flow_packets": "packet_id", "structures": "structure_id",
    "classifier_hits": "hit_id", "alerts": "alert_id", "equity_prints": "event_id",
    "dark_inferences": "inference_id",
}  # fmt: skip


def test_killed_dagster_run_leaves_whole_versions_and_a_rerun_completes(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """SIGKILL of a Dagster run (``flowlake build``) in the middle of rebuilding a day:
    every table reads at a whole version meanwhile and after, the killed run is not
    marked successful, and running the build again completes it with the same rows."""
    day = "2026-11-24"
    synth = cli(["synth", "--date", day, "--underlyings", "SPY,AAPL", "--minutes", "90"], env)
    assert synth.returncode == 0, synth.stderr[-2000:]
    assert cli(["build", "--date", day], env).returncode == 0
    lake = Lake(env["FLOWLAKE_LAKE"])
    before = {t: read(lake, t).sort(k) for t, k in DERIVED_KEYS.items()}
    start_version = table_version(lake, "flow_packets")
    seen: dict[str, set[int]] = {t: set() for t in DERIVED_KEYS}
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            for table in DERIVED_KEYS:
                seen[table].add(scan(lake, table).select(pl.len()).collect().item())

    thread = threading.Thread(target=reader)
    thread.start()
    proc = subprocess.Popen(
        [FLOWLAKE, "build", "--date", day], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while table_version(lake, "flow_packets") == start_version and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # mid-run: later assets not rewritten yet
    proc.wait()
    stop.set()
    thread.join()
    assert table_version(lake, "flow_packets") > start_version
    # A rebuild writes the same rows, so any whole version has exactly the rows of before.
    assert seen == {t: {before[t].height} for t in DERIVED_KEYS}
    for table, key in DERIVED_KEYS.items():
        assert read(lake, table).sort(key).equals(before[table])
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        killed = instance.get_runs()[0]  # newest first
        assert killed.status == dg.DagsterRunStatus.STARTED  # nothing could end it
    rerun = cli(["build", "--date", day], env)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    for table, key in DERIVED_KEYS.items():
        assert read(lake, table).sort(key).equals(before[table])
    # The next command marked the killed run failed instead of leaving it started for good.
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        run = instance.get_run_by_id(killed.run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.FAILURE
        assert instance.get_runs()[0].status == dg.DagsterRunStatus.SUCCESS


WRITER = textwrap.dedent(
    """
    import sys, datetime as dt, polars as pl
    from lake import Lake
    from lake.write import land
    lake, size, start = Lake(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    for k in range(start, 40):
        frame = pl.DataFrame({"event_id": [f"b{k}-{i}" for i in range(size)], "x": list(range(size))}).with_columns(
            pl.lit(dt.date(2026, 11, 24)).alias("date"))
        land(lake, "t", frame)
        print(k, flush=True)
    """
)


def test_killed_writer_leaves_whole_versions_and_a_rerun_completes(tmp_path: Path) -> None:
    root, size = str(tmp_path / "lake"), 50_000
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    run_env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    writer = subprocess.Popen(
        [sys.executable, str(script), root, str(size), "0"],
        env=run_env,
        stdout=subprocess.PIPE,
        text=True,
    )
    seen: list[int] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            frame = scan(Lake(root), "t")
            if frame is not None:
                seen.append(frame.select(pl.len()).collect().item())

    thread = threading.Thread(target=reader)
    thread.start()
    assert writer.stdout is not None
    for _ in range(5):
        writer.stdout.readline()  # five commits done
    writer.send_signal(signal.SIGKILL)  # most likely in the middle of the next write
    writer.wait()
    stop.set()
    thread.join()
    assert seen and all(count % size == 0 for count in seen)
    after_kill = read(Lake(root), "t").height
    assert after_kill % size == 0 and after_kill >= 5 * size
    rerun = subprocess.run(
        [sys.executable, str(script), root, str(size), "0"],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    final = read(Lake(root), "t")
    assert final.height == 40 * size and final["event_id"].is_unique().all()


@pytest.fixture
def tiny_disk(tmp_path: Path):  # noqa: ANN201 - a generator fixture
    """A 1 MiB tmpfs (the suite runs as root here and in CI); skipped where mounting is refused."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_full_spool_is_one_line_and_leaves_no_half_batch(
    tiny_disk: Path, env: dict[str, str]
) -> None:
    env = {**env, "FLOWLAKE_SPOOL": str(tiny_disk / "spool")}
    proc = cli(
        [
            "live",
            "--date",
            "2026-11-24",
            "--underlyings",
            "SPY,QQQ",
            "--minutes",
            "60",
            "--speed",
            "0",
            "--interval",
            "600",
        ],
        env,
    )
    message = one_line(proc)
    assert "could not write batch" in message and "No space left on device" in message
    day_dir = tiny_disk / "spool" / "2026-11-24"
    assert not list(day_dir.glob(".tmp-*"))  # nothing half-written is left behind
    for batch in Spool(tiny_disk / "spool").batches(__import__("datetime").date(2026, 11, 24)):
        assert (batch.path / "manifest.json").is_file()


def test_full_lake_is_one_line(tiny_disk: Path, env: dict[str, str]) -> None:
    message = one_line(
        cli(
            [
                "synth",
                "--date",
                "2026-11-24",
                "--underlyings",
                "40",
                "--minutes",
                "60",
                "--lake",
                str(tiny_disk / "lake"),
            ],
            env,
        )
    )
    assert "No space left on device" in message or "os error 28" in message
