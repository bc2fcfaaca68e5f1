"""The Dagster instance the CLI and ``dagster dev`` share (``DAGSTER_HOME``, default ``data/dagster_home``)."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

DEFAULT_HOME = "data/dagster_home"
#: Measured on this machine (DESIGN.md §8): in-process runs, threaded sensors, no telemetry.
DAGSTER_YAML = """\
run_coordinator:
  module: dagster.core.run_coordinator
  class: DefaultRunCoordinator
sensors:
  use_threads: true
  num_workers: 4
telemetry:
  enabled: false
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
