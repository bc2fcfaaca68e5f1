"""Why a run failed, in one line: what the CLI prints and the live sensor logs."""

from __future__ import annotations

import dagster as dg


def root_cause(error: object) -> str:
    """Return the first line of the outermost non-Dagster error of a failed step (ours, with
    its context, rather than Dagster's wrapper or the library error underneath)."""
    while (
        str(getattr(error, "cls_name", "")).startswith("Dagster")
        and getattr(error, "cause", None) is not None
    ):
        error = error.cause  # type: ignore[attr-defined]
    message = str(getattr(error, "message", error)).strip()
    return message.splitlines()[0] if message else "run failed"


def run_failure(result: dg.ExecuteInProcessResult) -> str:
    """Return the root cause of the first failed step of ``result`` ("run failed" when no
    step failed, e.g. the run could not start)."""
    failures = [e for e in result.all_events if e.is_step_failure]
    return root_cause(failures[0].step_failure_data.error) if failures else "run failed"
