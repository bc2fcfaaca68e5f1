"""Live load (slow: `make bench`): a day recorded at full speed while the tick lands and builds."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bench.load import live_load


@pytest.mark.slow
def test_full_speed_live_day_reconciles(tmp_path: Path) -> None:
    figures = live_load(tmp_path, dt.date(2026, 11, 24), "SPY,AAPL", 120, 10.0, speed=0.0)
    assert figures["reconciled"] is True
    assert figures["batches"] == 720 and figures["builds"] >= 1
