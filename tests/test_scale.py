"""Scale-out, run for real: a bucketed day on two Celery workers, a Redis broker, Postgres
storage from the deployment file and the lake on a local S3 server, launched as a backfill
through ``dagster-daemon``.

Every server runs on loopback and is started here (Debian's ``postgresql`` and
``redis-server``, moto's S3 server); ``make test-scale`` installs the packages when missing.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import dagster as dg
import pytest
import yaml
from moto.server import ThreadedMotoServer
from polars.testing import assert_frame_equal

from adapters.calendar import NY, is_session, previous_session
from assets.catalog import CROSS_BUCKET
from assets.resources import LakeResource, ThresholdsResource
from assets.sources import SyntheticSource
from lake import Lake
from lake.read import read
from lake.tables import DERIVED_KEYS
from orchestration.definitions import defs
from orchestration.executors import CELERY_FILE
from orchestration.serve import stop_groups
from tests.services import Redis, postgres, redis_server

pytestmark = pytest.mark.scale

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DAY = "2026-11-24"
UNDERLYINGS = "SPY,QQQ,IWM,AAPL,MSFT,NVDA"
BUCKETS = 4
LAKE = "s3://flowlake/lake"
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
KEYS = {t: k for t, k in DERIVED_KEYS.items() if dg.AssetKey(t) not in CROSS_BUCKET}
RUN_TIMEOUT_S = 900


@dataclass
class Cluster:
    """The running pieces and the environment every process of the deployment gets."""

    home: Path
    env: dict[str, str]
    redis: Redis
    workers: list[subprocess.Popen[bytes]]
    daily: Path

    def instance(self) -> dg.DagsterInstance:
        """Return the deployment's instance (Postgres storage)."""
        return dg.DagsterInstance.from_config(str(self.home))


def instance_file(home: Path, port: int) -> None:
    """Write ``deploy/dagster.celery.yaml`` into ``home``, its Postgres pointed at the local
    server (host and port only: user, password variable and database are the file's)."""
    config = yaml.safe_load((ROOT / "deploy" / "dagster.celery.yaml").read_text())
    db = config["storage"]["postgres"]["postgres_db"]
    db.update(hostname="127.0.0.1", port=port)
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))


def start_worker(cluster_env: dict[str, str], name: str, log: Path) -> subprocess.Popen[bytes]:
    """Start one ``dagster-celery`` worker (one process at a time) in its own process group."""
    return subprocess.Popen(
        [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
         "-y", str(CELERY_FILE), "-n", name, "-l", "WARNING", "--", "--concurrency=1"],
        env=cluster_env, cwd=ROOT, stdout=log.open("ab"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def children_of(pid: int) -> list[int]:
    """Return a process's children (Linux's /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = task / "children"
        if children.exists():
            found += [int(c) for c in children.read_text().split()]
    return found


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("scale")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    s3.start()
    host, port = s3.get_host_and_port()
    aws = {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ALLOW_HTTP": "true",
    }  # fmt: skip
    boto3.client("s3", endpoint_url=aws["AWS_ENDPOINT_URL"], region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing",
                 ).create_bucket(Bucket="flowlake")  # fmt: skip
    saved = dict(os.environ)
    with postgres() as pg, redis_server() as broker:
        home = root / "home"
        instance_file(home, pg.port)
        env = {
            **os.environ, **aws,
            "DAGSTER_HOME": str(home), "DAGSTER_PG_PASSWORD": "unused-with-trust",
            "FLOWLAKE_EXECUTOR": "celery", "FLOWLAKE_CELERY_BROKER": broker.url,
            "FLOWLAKE_CELERY_BACKEND": broker.url, "FLOWLAKE_BUCKETS": str(BUCKETS),
            "FLOWLAKE_LAKE": LAKE, "FLOWLAKE_SPOOL": str(root / "spool"),
            # dagster-celery starts `celery` by name: this environment's first.
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }  # fmt: skip
        # This process reads the instance and reads and writes the S3 lake too.
        os.environ.update({**aws, "DAGSTER_PG_PASSWORD": env["DAGSTER_PG_PASSWORD"]})
        workers = [start_worker(env, f"w{i}@%h", root / f"worker{i}.log") for i in (1, 2)]
        daemon = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
            env=env, cwd=ROOT, stdout=(root / "daemon.log").open("ab"),
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        cluster = Cluster(home, env, broker, workers, root / "daily")
        try:
            land_and_build_daily(cluster)
            yield cluster
        finally:
            stop_groups([daemon, *cluster.workers], timeout_s=30)
            os.environ.clear()
            os.environ.update(saved)
            s3.stop()


def resources(root: str) -> dict:
    return {
        "lake": LakeResource(root=root),
        "thresholds": ThresholdsResource(),
        "source": SyntheticSource(underlyings=UNDERLYINGS, minutes=20),
    }


def land_and_build_daily(cluster: Cluster) -> None:
    """Land the day into the S3 lake through the deployment's instance, and build the same
    day whole into a local lake: the reference."""
    landing = dg.AssetSelection.groups("landing")
    with cluster.instance() as instance:
        assert dg.materialize(
            list(defs.assets), resources=resources(LAKE), partition_key=DAY,
            instance=instance, run_config=QUIET, selection=landing,
        ).success  # fmt: skip
    with dg.DagsterInstance.ephemeral() as scratch:
        assert dg.materialize(
            list(defs.assets), resources=resources(str(cluster.daily)), partition_key=DAY,
            instance=scratch, run_config=QUIET,
        ).success  # fmt: skip


def backfill(cluster: Cluster, buckets: range = range(BUCKETS)) -> set[str]:
    """Launch a backfill of ``bucketed_job`` over the day's buckets with Dagster's CLI (the
    daemon launches its runs); return the ids of the runs it queued."""
    with cluster.instance() as instance:
        before = {r.run_id for r in instance.get_runs(dg.RunsFilter(job_name="bucketed_job"))}
    keys = ",".join(f"{b}|{DAY}" for b in buckets)
    subprocess.run(
        [str(BIN / "dagster"), "job", "backfill", "-w", str(ROOT / "workspace.yaml"),
         "-l", "flowlake-bucketed", "-j", "bucketed_job", "--partitions", keys, "--noprompt"],
        env=cluster.env, cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with cluster.instance() as instance:
            runs = instance.get_runs(dg.RunsFilter(job_name="bucketed_job"))
        queued = {r.run_id for r in runs} - before
        if len(queued) == len(buckets):
            return queued
        time.sleep(1)
    raise AssertionError(f"the backfill queued {len(queued)} of {len(buckets)} runs")


def wait(cluster: Cluster, run_ids: set[str]) -> dict[str, dg.DagsterRun]:
    """Wait until the runs end; return them by id."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        with cluster.instance() as instance:
            runs = {r.run_id: r for r in instance.get_runs(dg.RunsFilter(run_ids=list(run_ids)))}
        if len(runs) == len(run_ids) and all(r.is_finished for r in runs.values()):
            return runs
        time.sleep(2)
    raise AssertionError(f"runs still going after {RUN_TIMEOUT_S} s")


def assert_equals_daily(cluster: Cluster) -> None:
    for table, key in KEYS.items():
        daily = read(Lake(str(cluster.daily)), table)
        split = read(Lake(LAKE), table)
        assert daily is not None and split is not None, table
        assert_frame_equal(daily.sort(key), split.sort(key), check_column_order=False)


def failure_of(cluster: Cluster, run_id: str) -> str:
    """Return the run's failure messages with their errors (engine and step)."""
    with cluster.instance() as instance:
        records = instance.all_logs(run_id)
    out = []
    for r in records:
        event = r.dagster_event
        if event is None or not event.is_failure:
            continue
        error = getattr(event.event_specific_data, "error", None)
        out.append(f"{event.message}\n{error.to_string() if error is not None else ''}")
    return "\n".join(out)


def test_a_bucketed_backfill_on_celery_equals_the_daily_build(cluster: Cluster) -> None:
    started = time.monotonic()
    runs = wait(cluster, backfill(cluster))
    took = time.monotonic() - started
    assert {r.status for r in runs.values()} == {dg.DagsterRunStatus.SUCCESS}
    with cluster.instance() as instance:
        steps = [
            r for run_id in runs for r in instance.all_logs(run_id)
            if r.dagster_event is not None and r.dagster_event.event_type_value == "ENGINE_EVENT"
            and "in celery worker" in (r.dagster_event.message or "")
        ]  # fmt: skip
        hosts = {
            json.dumps(r.dagster_event.event_specific_data.metadata["Celery worker"].value)
            for r in steps
        }  # type: ignore[union-attr]
    assert len(hosts) == 2  # both workers took steps
    assert_equals_daily(cluster)
    print(
        f"backfill of {BUCKETS} buckets x {len(steps) // BUCKETS} steps on 2 workers: {took:.0f} s"
    )


def step_running_on(cluster: Cluster, run_ids: set[str], worker: str) -> tuple[str, str] | None:
    """Return a (run, step) that ``worker`` has started and not finished, if any."""
    with cluster.instance() as instance:
        for run_id in run_ids:
            started, ended = set(), set()
            for r in instance.all_logs(run_id):
                event = r.dagster_event
                if event is None:
                    continue
                if "in celery worker" in (event.message or ""):
                    host = event.event_specific_data.metadata["Celery worker"].value  # type: ignore[union-attr]
                    if str(host).startswith(worker):
                        started.add(r.step_key)
                elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
                    ended.add(r.step_key)
            if started - ended:
                return run_id, sorted(started - ended)[0]
    return None


def test_a_worker_killed_mid_step_is_run_again_elsewhere(cluster: Cluster) -> None:
    """The process running a step dies (OOM killer, a crash): Celery requeues its task and
    a worker runs it again; the tables are those of the daily build. The kill is aimed at
    a step the worker is running (seen in the event log); a kill that lands as the step
    ends is no test of it, and the next backfill tries again."""
    victim = cluster.workers[0]
    for _attempt in range(3):
        run_ids = backfill(cluster)
        target, killed_at = None, 0.0
        deadline = time.monotonic() + 300
        while target is None and time.monotonic() < deadline:
            target = step_running_on(cluster, run_ids, "w1@")
            if target is not None:
                # The worker's pool process (the one running the task): killed outright.
                (celery,) = children_of(victim.pid)
                pool = children_of(celery)
                os.kill((pool or [celery])[0], signal.SIGKILL)
                killed_at = time.time()
            time.sleep(0.05)
        assert target is not None
        runs = wait(cluster, run_ids)
        failed = [p for p, r in runs.items() if r.status != dg.DagsterRunStatus.SUCCESS]
        with cluster.instance() as instance:
            logs = instance.all_logs(target[0])
        handed = [r for r in logs if r.step_key == target[1] and r.dagster_event is not None
                  and "in celery worker" in (r.dagster_event.message or "")]  # fmt: skip
        ended_first = [r for r in logs if r.step_key == target[1] and r.timestamp < killed_at
                       and r.dagster_event is not None and r.dagster_event.event_type_value == "STEP_SUCCESS"]  # fmt: skip
        if failed:  # the policy gave up on it: a re-run completes
            runs = wait(cluster, backfill(cluster, range(BUCKETS)))
            assert {r.status for r in runs.values()} == {dg.DagsterRunStatus.SUCCESS}
        assert_equals_daily(cluster)
        if not ended_first:  # the kill met the step running
            # It was handed to a worker a second time, or its run failed.
            assert len(handed) > 1 or target[0] in failed
            return
    raise AssertionError("three kills each landed as the step ended")


def test_a_broker_outage_fails_clearly_and_leaves_no_half_partition(cluster: Cluster) -> None:
    run_ids = backfill(cluster)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        with cluster.instance() as instance:
            if any(
                r.status == dg.DagsterRunStatus.STARTED
                for r in instance.get_runs(dg.RunsFilter(run_ids=list(run_ids)))
            ):
                break
        time.sleep(0.5)
    time.sleep(3)
    cluster.redis.stop()
    time.sleep(3)
    cluster.redis.start()
    runs = wait(cluster, run_ids)
    failed = [i for i, r in runs.items() if r.status == dg.DagsterRunStatus.FAILURE]
    assert failed, "a run should fail while the broker is away"
    # The run says why: the broker's connection was refused.
    messages = "\n".join(failure_of(cluster, i) for i in failed)
    assert "redis.exceptions.ConnectionError" in messages
    # Readers see whole versions only: what the failed runs left equals the daily build.
    assert_equals_daily(cluster)
    runs = wait(cluster, backfill(cluster))
    assert {r.status for r in runs.values()} == {dg.DagsterRunStatus.SUCCESS}
    assert_equals_daily(cluster)


def latest_tick(now: dt.datetime) -> tuple[dt.date, dt.datetime]:
    """Return the latest session whose end-of-day tick (16:30 New York) has passed, and
    that tick's time."""
    day = now.astimezone(NY).date()
    while True:
        tick = dt.datetime.combine(day, dt.time(16, 30), tzinfo=NY)
        if is_session(day) and tick <= now:
            return day, tick
        day -= dt.timedelta(days=1)


def test_the_end_of_day_schedule_ticks_through_the_daemon(cluster: Cluster) -> None:
    """The schedule, started from Dagster's CLI as a deployment starts it, is due at its last
    16:30 New York: the daemon ticks it on the Postgres instance and the runs it launches
    rebuild that day in the S3 lake."""
    from dagster._core.scheduler.instigation import InstigatorType, ScheduleInstigatorData

    day, tick = latest_tick(dt.datetime.now(dt.UTC))
    before = previous_session(day)
    with cluster.instance() as instance:
        for landed in (before, day):
            assert dg.materialize(
                list(defs.assets), resources=resources(LAKE), partition_key=landed.isoformat(),
                instance=instance, run_config=QUIET, selection=dg.AssetSelection.groups("landing"),
            ).success  # fmt: skip
    subprocess.run(
        [str(BIN / "dagster"), "schedule", "start", "eod_schedule", "-w", str(ROOT / "workspace.yaml"),
         "-l", "flowlake"],
        env=cluster.env, cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    with cluster.instance() as instance:
        (state,) = [
            s for s in instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
            if s.name == "eod_schedule"
        ]  # fmt: skip
        # Started a minute before its last tick, as if the deployment had been up since then.
        data = state.instigator_data
        assert isinstance(data, ScheduleInstigatorData)
        instance.update_instigator_state(
            state.with_data(ScheduleInstigatorData(data.cron_schedule, tick.timestamp() - 60))
        )
    deadline = time.monotonic() + 180
    runs: list[dg.DagsterRun] = []
    while time.monotonic() < deadline and len(runs) < 2:
        with cluster.instance() as instance:
            runs = instance.get_runs(dg.RunsFilter(job_name="derived_job"))
        time.sleep(2)
    assert {r.tags.get("dagster/run_key") for r in runs} == {
        f"eod-{day.isoformat()}",
        f"eod-next-day-{before.isoformat()}",
    }
    done = wait(cluster, {r.run_id for r in runs})
    assert {r.status for r in done.values()} == {dg.DagsterRunStatus.SUCCESS}
    packets = read(Lake(LAKE), "flow_packets", dates=[day])
    assert packets is not None and packets.height > 0
