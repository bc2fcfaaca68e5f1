"""Live load (slow: `make bench`): a day recorded at full speed while the tick lands and builds."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bench.daemon_load import daemon_load
from bench.load import live_load


@pytest.mark.slow
def test_full_speed_live_day_reconciles(tmp_path: Path) -> None:
    figures = live_load(tmp_path, dt.date(2026, 11, 24), "SPY,AAPL", 120, 10.0, speed=0.0)
    assert figures["reconciled"] is True
    assert figures["batches"] == 720 and figures["builds"] >= 1


@pytest.mark.slow
def test_live_day_through_the_dagster_daemon(tmp_path: Path) -> None:
    """dagster-daemon runs the spool sensor against a recorder: everything lands once, the
    tick's tail builds reach the last batch, and the derived tables equal a whole-day replay."""
    figures = daemon_load(tmp_path, dt.date(2026, 11, 24), "SPY,AAPL", 20, 60.0, timeout_s=600)
    assert figures["batches"] == 20 and figures["reconciled"] is True
    assert figures["tail_builds"] >= 1 and figures["build_mode"] == "sensor"
    assert figures["equals_replay"] is True
