"""Dashboards through Streamlit's AppTest on a small built lake, and on an empty one."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from dashboards.data import load_day
from dashboards.pages import PAGES as DASHBOARD_PAGES
from lake import Lake
from lake.write import overwrite_partition
from tests.conftest import DAY

APP = str(Path(__file__).resolve().parent.parent / "dashboards" / "app.py")
PAGES = [f"views/{path}.py" for path, _, _ in DASHBOARD_PAGES]


def app(monkeypatch: pytest.MonkeyPatch, lake: Path) -> AppTest:
    monkeypatch.setenv("FLOWLAKE_LAKE", str(lake))
    at = AppTest.from_file(APP, default_timeout=60)
    return at


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_a_built_day(
    monkeypatch: pytest.MonkeyPatch, built_lake: Path, page: str
) -> None:
    at = app(monkeypatch, built_lake)
    at.run()
    if page != PAGES[0]:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    assert at.title[0].value


@pytest.mark.parametrize("page", PAGES)
def test_empty_lake_shows_a_helpful_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, page: str
) -> None:
    at = app(monkeypatch, tmp_path / "empty")
    at.run()
    if page != PAGES[0]:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    assert any("make run" in info.value for info in at.info)


def test_flow_filters_change_the_tape(monkeypatch: pytest.MonkeyPatch, built_lake: Path) -> None:
    at = app(monkeypatch, built_lake)
    at.run()
    count = int(at.metric[0].value.replace(",", ""))
    at.multiselect(key="kinds").set_value(["sweep", "block", "split", "single", "complex"]).run()
    at.number_input(key="min_premium").set_value(0).run()
    everything = int(at.metric[0].value.replace(",", ""))
    assert everything > count > 0
    at.text_input(key="w_ticker").set_value("aapl").run()
    only_aapl = at.dataframe[0].value
    assert 0 < only_aapl.shape[0] < everything
    assert set(only_aapl["underlying"]) == {"AAPL"}
    assert at.query_params["ticker"] in ("AAPL", ["AAPL"])


def test_ticker_from_a_shared_link(monkeypatch: pytest.MonkeyPatch, built_lake: Path) -> None:
    at = app(monkeypatch, built_lake)
    at.query_params["ticker"] = "SPY"
    at.run()
    assert at.text_input(key="w_ticker").value == "SPY"
    assert set(at.dataframe[0].value["underlying"]) == {"SPY"}


def test_refresh_rerun_keeps_state(monkeypatch: pytest.MonkeyPatch, built_lake: Path) -> None:
    # AppTest does not fire run_every timers (docs/stack.md): a second run stands in for a tick.
    at = app(monkeypatch, built_lake)
    at.run()
    at.text_input(key="w_ticker").set_value("SPY").run()
    at.run()
    assert at.session_state["view_ticker"] == "SPY"
    assert not at.exception


def test_evidence_drawer_shows_the_alerts_prints(
    monkeypatch: pytest.MonkeyPatch, built_lake: Path
) -> None:
    import polars as pl

    from lake import Lake
    from lake.read import read

    lake = Lake(str(built_lake))
    alerts = read(lake, "alerts").sort("score", "alert_id", descending=[True, False])
    packets = read(lake, "flow_packets")
    at = app(monkeypatch, built_lake)
    at.run()
    at.switch_page("views/alerts.py").run()
    assert not at.exception
    top = alerts.row(1, named=True)
    at.selectbox(key="evidence_alert").set_value(top["alert_id"]).run()
    expected = set(
        packets.filter(pl.col("packet_id").is_in(top["packet_ids"]))["event_ids"].explode()
    )
    shown = at.dataframe[2].value  # alerts table, evidence packets, evidence prints
    assert set(shown["event_id"]) == expected
    assert {"nbbo_bid", "nbbo_ask", "placement"} <= set(shown.columns)
    assert any(h.split(":")[1] in md.value for md in at.markdown for h in top["hit_ids"])


def test_replay_sets_the_moment_for_every_page(
    monkeypatch: pytest.MonkeyPatch, built_lake: Path
) -> None:
    import datetime as dt

    at = app(monkeypatch, built_lake)
    at.run()
    # Every packet of the day (all kinds, any premium): the day runs 09:30-10:30.
    at.multiselect(key="kinds").set_value(["sweep", "block", "split", "single", "complex"]).run()
    at.number_input(key="min_premium").set_value(0).run()
    everything = int(at.metric[0].value.replace(",", ""))
    at.switch_page("views/replay.py").run()
    at.select_slider(key="replay_slider").set_value(dt.time(9, 45)).run()
    assert not at.exception
    assert at.session_state["replay_as_of"] == dt.time(9, 45)
    at.toggle(key="replay_play").set_value(True).run()
    at.run()  # one more fragment tick (AppTest does not fire run_every timers)
    assert not at.exception
    assert at.session_state["replay_as_of"] >= dt.time(9, 46), at.session_state["replay_as_of"]
    at.toggle(key="replay_play").set_value(False).run()
    at.switch_page("views/flow.py").run()
    at.multiselect(key="kinds").set_value(["sweep", "block", "split", "single", "complex"]).run()
    at.number_input(key="min_premium").set_value(0).run()
    before_replay_time = int(at.metric[0].value.replace(",", ""))
    assert 0 < before_replay_time < everything


def test_market_tide_and_accuracy_on_their_pages(
    monkeypatch: pytest.MonkeyPatch, built_lake: Path
) -> None:
    import polars as pl

    from dashboards.filters import signed_money
    from lake import Lake
    from lake.read import read
    from lake.tables import MARKET

    tide = read(Lake(str(built_lake)), "market_tide").filter(pl.col("underlying") == MARKET)
    at = app(monkeypatch, built_lake)
    at.run()
    shown = {m.label: m.value for m in at.metric}
    assert shown["Net premium (market)"] == signed_money(float(tide["net_premium"].sum()))
    assert len(at.get("plotly_chart")) >= 2  # the packet scatter and the tide
    at.switch_page("views/calibration.py").run()
    assert not at.exception
    accuracy = next(d.value for d in at.dataframe if "recall" in d.value.columns)
    assert set(accuracy["signal"]) >= {"sweep", "spike", "zero_dte", "roll"}


def test_flow_page_lists_unusual_volume(
    monkeypatch: pytest.MonkeyPatch, built_lake: Path, tmp_path: Path
) -> None:
    """A contract at six times its average shows with its history figures and OI change."""
    import shutil

    import polars as pl

    from assets.contract_volume import VOLUME_SCHEMA
    from lake import Lake
    from lake.read import read
    from lake.write import overwrite_partition

    root = tmp_path / "lake"
    shutil.copytree(built_lake, root)
    lake = Lake(str(root))
    rows = read(lake, "contract_volume")
    day = rows["date"][0]
    spy = rows.filter(pl.col("underlying") == "SPY").sort("contract").head(1)
    planted = spy.with_columns(
        pl.lit(600, pl.Int64).alias("volume"),
        pl.lit([100] * 5, pl.List(pl.Int64)).alias("history"),
        pl.lit(5, pl.Int64).alias("n_history"),
        pl.lit(100.0).alias("avg_volume"),
        pl.lit(6.0).alias("relative_volume"),
        pl.lit(True).alias("unusual"),
        pl.lit(250, pl.Int64).alias("oi_change"),
    ).select(list(VOLUME_SCHEMA))
    overwrite_partition(lake, "contract_volume", planted, day)
    at = app(monkeypatch, root)
    at.run()
    assert not at.exception, at.exception
    assert "Unusual volume" in [h.value for h in at.subheader]
    table = next(
        d.value
        for d in at.dataframe
        if "rel vol" in d.value.columns and "oi_change" in d.value.columns
    )
    assert table["contract"].tolist() == spy["contract"].to_list()
    assert (table["rel vol"].tolist(), table["oi_change"].tolist()) == ([6.0], [250])


def test_day_loads_are_one_shared_frame_until_the_next_commit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A cached day is handed out as the same frame (not a pickled copy per hit); a new
    commit to its table makes the next load read the table again."""
    lake = Lake(str(tmp_path / "lake"))
    monkeypatch.setenv("FLOWLAKE_LAKE", lake.root)
    rows = pl.DataFrame({"date": [DAY] * 3, "ts_event": [1, 2, 3], "event_id": ["a", "b", "c"]})
    overwrite_partition(lake, "cache_probe", rows, DAY)
    first = load_day("cache_probe", DAY)
    assert first is not None and first.height == 3
    assert load_day("cache_probe", DAY) is first
    overwrite_partition(lake, "cache_probe", rows.head(2), DAY)
    fresh = load_day("cache_probe", DAY)
    assert fresh is not None and fresh.height == 2


def test_the_dashboards_default_version_is_the_packaged_thresholds() -> None:
    """The dashboards read the thresholds file as bytes (they import no asset): the same file,
    so the same config version."""
    from assets.thresholds import DEFAULT_THRESHOLDS, load_thresholds
    from dashboards.data import DEFAULT_THRESHOLDS as READ
    from dashboards.data import default_config_version

    assert DEFAULT_THRESHOLDS.resolve() == READ
    assert default_config_version() == load_thresholds().config_version
