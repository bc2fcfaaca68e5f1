"""The Dagster instance the CLI and ``dagster dev`` share (``DAGSTER_HOME``, default ``data/dagster_home``)."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

DEFAULT_HOME = "data/dagster_home"
#: Measured on this machine (docs/stack.md): in-process runs, threaded sensors, no telemetry.
DAGSTER_YAML = """\
run_coordinator:
  module: dagster.core.run_coordinator
  class: DefaultRunCoordinator
sensors:
  use_threads: true
  num_workers: 4
telemetry:
  enabled: false
# Runs launched by the daemon whose worker died are marked failed (in-process CLI runs are
# checked by the CLI itself: fail_orphaned_runs).
run_monitoring:
  enabled: true
  poll_interval_seconds: 30
"""


def ensure_dagster_home(home: str | None = None) -> Path:
    """Create the Dagster home with its ``dagster.yaml`` if missing and return its path.

    Sets ``DAGSTER_HOME`` for this process so that Dagster finds it.
    """
    path = Path(home or os.environ.get("DAGSTER_HOME") or DEFAULT_HOME).resolve()
    path.mkdir(parents=True, exist_ok=True)
    config = path / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(path)
    return path


def get_instance(home: str | None = None) -> dg.DagsterInstance:
    """Return the persistent instance whose runs the Dagster UI shows."""
    ensure_dagster_home(home)
    return dg.DagsterInstance.get()


#: Run tags naming the process that executes a run in-process (``flowlake build``, ...):
#: its pid and its start time in clock ticks since boot (a pid alone may be reused).
PID_TAG = "flowlake/pid"
STARTED_TAG = "flowlake/process_start"


def _process_start(pid: int) -> str | None:
    """Return when process ``pid`` started (clock ticks since boot), or None when there
    is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count after its end.
    return stat[stat.rindex(")") + 2 :].split()[19]


def _alive(pid: int, started: str | None) -> bool:
    """Return whether the process that ran a run still runs: the same pid and start time,
    or, where the start time cannot be read (no /proc), a live pid."""
    if started:
        return _process_start(pid) == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_tags() -> dict[str, str]:
    """Return the tags that tie a run to this process (see :func:`fail_orphaned_runs`)."""
    return {PID_TAG: str(os.getpid()), STARTED_TAG: _process_start(os.getpid()) or ""}


def fail_orphaned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the runs whose process died without ending them; return their ids.

    A run executed in-process by a command that was killed (SIGKILL, a lost machine) never
    reports an end: it would show as started in the Dagster UI forever. Its process is
    known by :func:`process_tags`; when no process of that pid and start time lives, the
    run failed. Runs without these tags (launched by the daemon) are left to Dagster's
    run monitoring.
    """
    failed = []
    open_runs = instance.get_runs(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING])
    )
    for run in open_runs:
        pid, started = run.tags.get(PID_TAG), run.tags.get(STARTED_TAG)
        if pid is None or not pid.isdigit():
            continue
        if _alive(int(pid), started):
            continue
        instance.report_run_failed(
            run, message=f"the process running it (pid {pid}) ended without finishing the run"
        )
        failed.append(run.run_id)
    return failed
