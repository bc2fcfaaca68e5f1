"""Scale-out executors: the (date, bucket) definitions load with each one, the documented
run configs and instance files validate against the installed libraries' schemas."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._config import process_config
from dagster._core.definitions.run_config import Shape
from dagster_k8s import K8sRunLauncher

from orchestration.bucketed_definitions import bucketed_definitions
from orchestration.executors import EXECUTORS, RUN_CONFIGS, executor_named

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


@pytest.mark.parametrize("name", sorted(EXECUTORS))
def test_definitions_load_and_run_config_validates(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWLAKE_CELERY_BROKER", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("FLOWLAKE_CELERY_BACKEND", "redis://127.0.0.1:6379/0")
    job = bucketed_definitions(name).resolve_job_def("bucketed_job")
    assert job.executor_def is EXECUTORS[name]
    assert dg.validate_run_config(job, RUN_CONFIGS[name])
    if name != "celery":  # Celery's settings are fixed in the executor (orchestration/celery.yaml)
        with pytest.raises(dg.DagsterInvalidConfigError):
            dg.validate_run_config(job, {"execution": {"config": {"no_such_field": 1}}})


def test_k8s_instance_file_matches_the_launcher_schema() -> None:
    config = yaml.safe_load((DEPLOY / "dagster.k8s.yaml").read_text())
    assert config["run_launcher"]["class"] == "K8sRunLauncher"
    result = process_config(Shape(K8sRunLauncher.config_type()), config["run_launcher"]["config"])
    assert result.success, result.errors


@pytest.mark.parametrize("file", ["dagster.k8s.yaml", "dagster.celery.yaml"])
def test_instance_files_validate(file: str) -> None:
    from dagster._core.instance.config import dagster_instance_config

    home = DEPLOY
    config, _ = dagster_instance_config(str(home), config_filename=file)
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"


def test_workers_read_the_settings_the_runs_use(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster_celery.cli import get_validated_config

    from orchestration.executors import CELERY_CONFIG, CELERY_FILE

    monkeypatch.setenv("FLOWLAKE_CELERY_BROKER", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("FLOWLAKE_CELERY_BACKEND", "redis://127.0.0.1:6379/1")
    worker = get_validated_config(str(CELERY_FILE))  # what `dagster-celery worker -y` reads
    assert worker["config_source"] == CELERY_CONFIG["config_source"]
    assert worker["config_source"]["task_reject_on_worker_lost"] is True
    assert (worker["broker"], worker["backend"]) == (
        "redis://127.0.0.1:6379/0",
        "redis://127.0.0.1:6379/1",
    )


def test_unknown_executor_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWLAKE_EXECUTOR", "spark")
    with pytest.raises(ValueError, match="choose one of multiprocess, celery, k8s"):
        executor_named()
