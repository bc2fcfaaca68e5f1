"""Backtests across sessions, by hand: two stored days pooled, per premium bucket."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from lake import Lake
from lake.backtest import accuracy_backtest, outcome_backtest
from lake.write import overwrite_partition

D1, D2, D3 = dt.date(2026, 3, 18), dt.date(2026, 3, 19), dt.date(2026, 3, 20)
V = "cafe00000000"


def day(lake: Lake, date: dt.date, alerts: list[tuple[str, str, float, float | None]]) -> None:
    """Store one day's alerts: (id, severity, premium, signed 30-minute move)."""
    n = len(alerts)
    outcomes = pl.DataFrame(
        {
            "alert_id": [a[0] for a in alerts], "date": [date] * n, "ts": list(range(n)),
            "underlying": ["SPY"] * n, "classifiers": [["sweep"]] * n,
            "severity": [a[1] for a in alerts], "direction": ["bullish"] * n,
            "signed_5m": [None] * n, "signed_30m": [a[3] for a in alerts],
            "signed_close": [None] * n, "signed_next": [None] * n, "config_version": [V] * n,
        },
        schema_overrides={c: pl.Float64 for c in ("signed_5m", "signed_30m", "signed_close", "signed_next")},
    )  # fmt: skip
    stored = pl.DataFrame(
        {"alert_id": [a[0] for a in alerts], "date": [date] * n, "premium": [a[2] for a in alerts],
         "config_version": [V] * n}
    )  # fmt: skip
    overwrite_partition(lake, "alert_outcomes", outcomes, date)
    overwrite_partition(lake, "alerts", stored, date)


def test_outcomes_pool_sessions_per_premium_bucket(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    day(lake, D1, [("a", "high", 30_000.0, 0.01), ("b", "high", 200_000.0, -0.02)])
    day(lake, D2, [("c", "high", 25_000.0, 0.03), ("d", "low", 24_999.0, None)])
    day(lake, D3, [("e", "high", 40_000.0, -0.5)])  # outside the range
    stats = outcome_backtest(lake, D1, D2, V, by=("premium_bucket",)).filter(
        pl.col("horizon") == "30m"
    )
    rows = {r["premium_bucket"]: r for r in stats.iter_rows(named=True)}
    # 25K-100K: a (+1%, D1) and c (+3%, D2; $25,000 is the bucket's floor). d has no move.
    assert set(rows) == {"25K-100K", "100K-500K"}
    mid = rows["25K-100K"]
    assert (mid["n"], mid["hit_rate"], mid["sessions"]) == (2, 1.0, 2)
    assert mid["mean_move"] == pytest.approx(0.02) and mid["median_move"] == pytest.approx(0.02)
    big = rows["100K-500K"]
    assert (big["n"], big["hit_rate"], big["sessions"]) == (1, 0.0, 1)
    assert big["hit_ci_low"] == 0.0 and 0 < big["hit_ci_high"] < 1
    assert outcome_backtest(lake, D3, D3, "another", by=("severity",)).is_empty()
    with pytest.raises(ValueError, match="cannot group by size"):
        outcome_backtest(lake, D1, D2, V, by=("size",))


def test_accuracy_pools_hits_not_daily_rates(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    for date, hits, true_hits in ((D1, 10, 10), (D2, 30, 15)):
        overwrite_partition(
            lake,
            "signal_accuracy",
            pl.DataFrame({"date": [date], "config_version": [V], "signal": ["sweep"], "hits": [hits],
                          "true_hits": [true_hits], "labels": [20], "labels_found": [19]}),
            date,
        )  # fmt: skip
    (row,) = accuracy_backtest(lake, D1, D2, V).iter_rows(named=True)
    # Pooled: 25 of 40 hits true (not the mean of 1.0 and 0.5); 38 of 40 labels found.
    assert (row["sessions"], row["hits"], row["true_hits"]) == (2, 40, 25)
    assert row["precision"] == pytest.approx(25 / 40) and row["recall"] == pytest.approx(38 / 40)
    assert row["precision_ci_low"] < 25 / 40 < row["precision_ci_high"]
