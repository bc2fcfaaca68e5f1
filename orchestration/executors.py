"""Executors for scaling a rebuild out: one place that names them and their run config.

- ``multiprocess`` (the default of every job): each step in its own process on this
  machine; backfills over days or (date, bucket) partitions run several runs at once.
- ``celery``: steps go to Celery workers through a broker (``dagster-celery``); workers
  on other machines run ``dagster-celery worker`` with this code installed.
- ``k8s``: each step is a Kubernetes Job (``dagster-k8s``), with ``K8sRunLauncher``
  launching each run as a Job too (``deploy/dagster.k8s.yaml``).

``FLOWLAKE_EXECUTOR`` picks the executor of the (date, bucket) location's job; the daily
location keeps Dagster's default (multiprocess, in-process for live runs). Tests load the
definitions with each executor and validate the run configs below; no cluster is needed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from dagster_celery import celery_executor
from dagster_k8s import k8s_job_executor

EXECUTOR_ENV = "FLOWLAKE_EXECUTOR"
#: The Celery broker and results backend URLs (a Redis URL serves as both).
BROKER_ENV, BACKEND_ENV = "FLOWLAKE_CELERY_BROKER", "FLOWLAKE_CELERY_BACKEND"
#: The Celery settings the runs and the workers share (``-y`` of ``dagster-celery worker``).
CELERY_FILE = Path(__file__).with_name("celery.yaml")
#: Fixed in the executor, so that runs without run config (a backfill from the UI or the
#: CLI, a schedule) reach the deployment's broker.
CELERY_CONFIG: dict[str, Any] = yaml.safe_load(CELERY_FILE.read_text())["execution"]["config"]

EXECUTORS: dict[str, dg.ExecutorDefinition] = {
    "multiprocess": dg.multiprocess_executor,
    "celery": celery_executor.configured(CELERY_CONFIG, name="celery"),
    "k8s": k8s_job_executor,
}

#: A working run config per executor (brokers and namespaces are the deployment's).
RUN_CONFIGS: dict[str, dict[str, Any]] = {
    "multiprocess": {"execution": {"config": {"max_concurrent": 2}}},
    "celery": {},  # its settings are the executor's (CELERY_CONFIG), from the environment
    "k8s": {
        "execution": {
            "config": {
                "job_namespace": "flowlake",
                "max_concurrent": 16,
                "env_vars": ["FLOWLAKE_LAKE", "AWS_ENDPOINT_URL", "AWS_REGION"],
                "env_secrets": ["flowlake-aws"],
                "resources": {"requests": {"cpu": "2", "memory": "8Gi"}},
            }
        }
    },
}


def executor_named(name: str | None = None) -> dg.ExecutorDefinition:
    """Return the executor called ``name`` (default: ``FLOWLAKE_EXECUTOR`` or multiprocess).

    Raises
    ------
    ValueError
        For a name that is not one of :data:`EXECUTORS`.
    """
    chosen = name or os.environ.get(EXECUTOR_ENV) or "multiprocess"
    if chosen not in EXECUTORS:
        raise ValueError(f"{EXECUTOR_ENV}={chosen!r}: choose one of {', '.join(EXECUTORS)}")
    return EXECUTORS[chosen]
