"""contract_volume: a contract's volume against its own history, OI change; by hand, then Dagster."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from adapters.calendar import next_session
from assets.contract_volume import VOLUME_SCHEMA, roll_volume
from assets.thresholds import VolumeRules
from lake import Lake
from lake.read import read, scan

D1 = dt.date(2026, 11, 20)  # Friday
D2 = dt.date(2026, 11, 23)  # Monday: the next session
C = "SPY   261127C00600000"
X = "SPY   261123P00590000"  # expires on D2
N = "AAPL  261218C00250000"
PARAMS = VolumeRules(history_days=3, min_history_days=2, min_volume=100, min_relative_volume=3.0)


def day_prints(rows: list[tuple[str, int, bool]]) -> pl.LazyFrame:
    """(contract, size, in_flow) rows at $1.00 a share."""
    expiry = {C: dt.date(2026, 11, 27), X: D2, N: dt.date(2026, 12, 18)}
    return pl.LazyFrame(
        {
            "contract": [r[0] for r in rows],
            "underlying": [r[0][:6].strip() for r in rows],
            "expiry": [expiry[r[0]] for r in rows],
            "size": [r[1] for r in rows],
            "premium": [r[1] * 100.0 for r in rows],
            "in_flow": [r[2] for r in rows],
        },
        schema={"contract": pl.String, "underlying": pl.String, "expiry": pl.Date,
                "size": pl.Int64, "premium": pl.Float64, "in_flow": pl.Boolean},
    )  # fmt: skip


def empty() -> pl.LazyFrame:
    return pl.LazyFrame(schema=VOLUME_SCHEMA)


def test_history_rolls_forward_and_flags_unusual_volume() -> None:
    volumes = [40, 60, 50, 300]  # four sessions of C; the last is 6x its average
    days = [D1 + dt.timedelta(days=i) for i in range(4)]  # dates only label the rows
    prior = empty()
    rows = []
    for day, v in zip(days, volumes, strict=True):
        out = roll_volume(
            day_prints([(C, v, True), (C, 999, False)]), prior, None, None, day, PARAMS
        )
        frame = out.collect()
        rows.append(frame.row(0, named=True))
        prior = frame.lazy()
    # Cancelled prints (in_flow False) never count; the history is the previous sessions only.
    assert [r["volume"] for r in rows] == volumes
    assert [r["history"] for r in rows] == [[], [40], [40, 60], [40, 60, 50]]
    # Below min_history_days (2) there is no average, no z, no flag.
    assert rows[1]["avg_volume"] is None and rows[1]["volume_z"] is None
    assert rows[2]["avg_volume"] == 50.0
    assert rows[2]["volume_z"] == pytest.approx(0.0)  # 50 against [40, 60]: mean 50, sd 10
    last = rows[3]
    sd = float(np.std([40, 60, 50]))
    assert last["avg_volume"] == pytest.approx(50.0)
    assert last["volume_z"] == pytest.approx((300 - 50) / sd)
    assert last["relative_volume"] == pytest.approx(6.0)
    assert last["unusual"] is True and not any(r["unusual"] for r in rows[:3])
    # The window keeps the last history_days (3) sessions.
    nxt = roll_volume(day_prints([]), prior, None, None, days[3], PARAMS).collect()
    assert nxt["history"].to_list() == [[60, 50, 300]]


def test_quiet_sessions_count_as_zero_and_expired_contracts_leave() -> None:
    day1 = roll_volume(day_prints([(C, 10, True), (X, 20, True)]), empty(), None, None, D1, PARAMS)
    day2 = roll_volume(day_prints([(N, 5, True)]), day1, None, None, D2, PARAMS).collect()
    rows = {r["contract"]: r for r in day2.iter_rows(named=True)}
    # C did not trade on D2: its row stays with volume 0; X expires on D2 and is still listed.
    assert (rows[C]["volume"], rows[C]["history"], rows[C]["n_prints"]) == (0, [10], 0)
    assert (rows[X]["volume"], rows[X]["history"]) == (0, [20])
    assert (rows[N]["history"], rows[N]["underlying"]) == ([], "AAPL")
    day3 = roll_volume(day_prints([]), day2.lazy(), None, None, D2 + dt.timedelta(days=1), PARAMS)
    assert set(day3.collect()["contract"]) == {C, N}  # X expired the day before
    # A large day against an average of zero is not called unusual (no usual to compare with).
    zero = roll_volume(
        day_prints([(C, 500, True)]), day3, None, None, D2 + dt.timedelta(days=2), PARAMS
    )
    row = zero.filter(pl.col("contract") == N).collect().row(0, named=True)
    assert (row["history"], row["avg_volume"], row["relative_volume"]) == ([5, 0], 2.5, 0.0)
    c_row = zero.filter(pl.col("contract") == C).collect().row(0, named=True)
    assert (c_row["history"], c_row["relative_volume"], c_row["unusual"]) == (
        [10, 0, 0],
        500 / (10 / 3),
        True,
    )


def test_open_interest_and_next_day_change() -> None:
    oi = pl.LazyFrame({"contract": [C, X], "open_interest": [1000, 50]})
    nxt = pl.LazyFrame({"contract": [C], "open_interest": [1400]})
    out = roll_volume(
        day_prints([(C, 500, True), (X, 10, True), (N, 7, True)]), empty(), oi, nxt, D1, PARAMS
    ).collect()
    rows = {r["contract"]: r for r in out.iter_rows(named=True)}
    assert (rows[C]["volume_to_oi"], rows[C]["next_open_interest"], rows[C]["oi_change"]) == (
        0.5,
        1400,
        400,
    )
    # No OI for the next day (X expired; not in the file): no change is reported.
    assert (rows[X]["volume_to_oi"], rows[X]["oi_change"]) == (0.2, None)
    assert (rows[N]["open_interest"], rows[N]["volume_to_oi"]) == (None, None)
    # The next session not landed at all: the same rows, without the change.
    unknown = roll_volume(
        day_prints([(C, 500, True), (X, 10, True), (N, 7, True)]), empty(), oi, None, D1, PARAMS
    ).collect()
    assert unknown["oi_change"].null_count() == 3


def test_lazy_schema_equals_the_collected_one() -> None:
    out = roll_volume(day_prints([(C, 1, True)]), empty(), None, None, D1, PARAMS)
    assert out.collect_schema() == out.collect().schema == pl.Schema(VOLUME_SCHEMA)


def test_two_days_through_dagster_carry_the_history_and_replay_alone(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """Day 2 seeded from day 1's partition; rebuilding day 2 alone gives the same rows; day 1
    rebuilt after day 2 landed gets its next-day open interest."""
    from assets.resources import LakeResource, ThresholdsResource
    from assets.sources import SyntheticSource
    from orchestration.definitions import defs

    root = tmp_path / "lake"
    resources = {
        "lake": LakeResource(root=str(root)),
        "thresholds": ThresholdsResource(),
        "source": SyntheticSource(underlyings="IWM", minutes=20),
    }
    assets = list(defs.assets)  # type: ignore[arg-type]

    def build(day: dt.date, selection: dg.AssetSelection) -> None:
        result = dg.materialize(
            assets, resources=resources, partition_key=day.isoformat(), instance=instance,
            selection=selection,
        )  # fmt: skip
        assert result.success

    cv = dg.AssetSelection.assets("contract_volume")
    for day in (D1, D2):
        build(day, cv.upstream().required_multi_asset_neighbors())
    lake = Lake(str(root))
    first = read(lake, "contract_volume", dates=[D1])
    second = read(lake, "contract_volume", dates=[D2])
    traded = first.filter(pl.col("volume") > 0)
    assert traded.height > 10 and first["n_history"].max() == 0
    # Each of day 1's unexpired contracts carries day 1's volume into day 2's history.
    carried = traded.filter(pl.col("expiry") >= D2).select("contract", "volume")
    seeded = second.filter(pl.col("n_history") == 1).select(
        "contract", pl.col("history").list.first().alias("volume")
    )
    assert_frame_equal(carried.sort("contract"), seeded.sort("contract"))
    # The volume is the in-flow size of the day's prints.
    flow = (
        scan(lake, "option_prints", dates=[D2])
        .filter(pl.col("in_flow"))
        .group_by("contract")
        .agg(pl.col("size").sum().alias("volume"))
        .collect()
    )
    assert_frame_equal(
        second.filter(pl.col("volume") > 0).select("contract", "volume").sort("contract"),
        flow.sort("contract"),
    )
    # Day 1 rebuilt now that day 2's open interest has landed: the change is known.
    assert next_session(D1) == D2 and first["oi_change"].null_count() == first.height
    build(D1, cv)
    again = read(lake, "contract_volume", dates=[D1])
    assert again["oi_change"].drop_nulls().len() > 0
    # Rebuilding day 2 alone (its seed unchanged) gives identical rows.
    build(D2, cv)
    # Rows compare in key order (a table's file order is not part of its contents).
    assert_frame_equal(
        read(lake, "contract_volume", dates=[D2]).sort("contract"), second.sort("contract"),
        check_exact=True,
    )  # fmt: skip
