"""The dashboards' pure parts, by hand: the Flow filters, URL state, saved views, exports,
structure legs, the sign-in rule; and the sign-in gate and new pages through AppTest."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from dashboards.flowview import FlowFilter, bar_ends, enrich, select, spot_at, with_spot
from dashboards.params import decode, encode
from dashboards.structures import leg_table, with_legs
from dashboards.tables import csv_bytes, parquet_bytes
from lake.access import auth_from_files, is_loopback, missing_auth_keys
from lake.saved_views import SavedView, ViewError, delete_view, load_views, save_view

APP = str(Path(__file__).resolve().parent.parent / "dashboards" / "app.py")
DAY = dt.date(2026, 3, 20)
S = 1_000_000_000
#: 10:00:00 New York on DAY (EDT, UTC-4) in ns.
TEN = int(dt.datetime(2026, 3, 20, 14, 0, tzinfo=dt.UTC).timestamp()) * S


def packets() -> pl.DataFrame:
    """Three orders on SPY, by hand: a 0DTE call bought at the ask, a 30-day put sold at the
    bid, and a 2-day call traded at the mid before SPY's first trade of the day."""
    return pl.DataFrame(
        {
            "packet_id": ["p1", "p2", "p3"],
            "date": [DAY] * 3,
            "start_ts": [TEN + 5 * S, TEN + 10 * S + S // 2, TEN - 60 * S],
            "underlying": ["SPY"] * 3,
            "contract": ["SPY 0C", "SPY 30P", "SPY 2C"],
            "expiry": [DAY, DAY + dt.timedelta(days=30), DAY + dt.timedelta(days=2)],
            "strike": [505.0, 490.0, 500.0],
            "right": ["C", "P", "C"],
            "kind": ["sweep", "block", "single"],
            "side": ["buy", "sell", "none"],
            "size": [200, 50, 10],
            "premium": [60_000.0, 30_000.0, 2_000.0],
            "n_aa": [1, 0, 0], "n_a": [3, 0, 0], "n_mid": [0, 0, 1], "n_b": [0, 1, 0], "n_bb": [0, 0, 0],
        }
    )  # fmt: skip


def seconds() -> pl.DataFrame:
    """SPY's 1-second bars: 500 at 10:00:00, 502 at 10:00:10 (bars start on the second)."""
    return pl.DataFrame(
        {"symbol": ["SPY", "SPY"], "ts": [TEN, TEN + 10 * S], "close": [500.0, 502.0]}
    )


def positioning() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "packet_id": ["p1", "p2", "p3"], "volume_to_oi": [2.5, 0.1, None],
            "relative_volume": [None, None, None], "likely_opening": [True, False, None],
            "golden_sweep": [True, False, None],
        },
        schema_overrides={"relative_volume": pl.Float64},
    )  # fmt: skip


def test_spot_is_the_last_second_closed_before_the_order() -> None:
    # p1 at 10:00:05: the 10:00:00 bar ended at 10:00:01 -> 500. p2 at 10:00:10.5: the
    # 10:00:10 bar ends at 10:00:11, after the order -> still 500. p3 at 09:59: none yet.
    assert spot_at(packets(), bar_ends(seconds())).to_list() == [500.0, 500.0, None]


def test_enrich_by_hand() -> None:
    rows = enrich(packets(), positioning(), pl.Series(["SPY 30P"]))
    rows = with_spot(rows, bar_ends(seconds())).sort("packet_id")
    assert rows["dte"].to_list() == [0, 30, 2]
    # Call 505 on 500: 1% out of the money; put 490 on 500: 2% out; no spot: unknown.
    assert rows["otm_pct"].to_list() == [pytest.approx(1.0), pytest.approx(2.0), None]
    assert rows["placement"].to_list() == ["A", "B", "MID"]
    tie = with_spot(
        packets().head(1).with_columns(n_a=pl.lit(1), n_b=pl.lit(1), n_aa=pl.lit(0)), None
    )
    assert tie["placement"].to_list() == ["A"]  # a tie goes to the more aggressive buy
    none = with_spot(packets().head(1).with_columns(n_a=pl.lit(0), n_aa=pl.lit(0)), None)
    assert none["placement"].to_list() == [None]
    # p1: volume above OI; p2: its contract is flagged unusual; p3: neither.
    assert rows["unusual"].to_list() == [True, True, False]


def test_positioning_in_another_order_is_joined_by_packet() -> None:
    shuffled = positioning().reverse()
    rows = enrich(packets(), shuffled, None)
    assert rows["packet_id"].to_list() == ["p1", "p2", "p3"]
    assert rows["volume_to_oi"].to_list() == [2.5, 0.1, None]
    assert rows["golden_sweep"].to_list() == [True, False, None]


def test_each_filter_by_hand() -> None:
    rows = enrich(packets(), positioning(), None)
    every = FlowFilter(kinds=["sweep", "block", "single"], min_premium=0)

    def ids(**changes: object) -> list[str]:
        chosen = FlowFilter(**{**every.__dict__, **changes})
        return sorted(select(rows, chosen, bar_ends(seconds()))["packet_id"].to_list())

    assert ids() == ["p1", "p2", "p3"]
    assert ids(min_premium=25_000) == ["p1", "p2"]
    assert ids(rights="calls") == ["p1", "p3"] and ids(rights="puts") == ["p2"]
    assert ids(dte_min=1, dte_max=7) == ["p3"] and ids(dte_max=0) == ["p1"]
    assert ids(otm_min=1.5) == ["p2"]  # p3 has no spot: an OTM bound leaves it out
    assert ids(otm_max=1.5) == ["p1"]
    assert ids(placements=["A", "AA"]) == ["p1"] and ids(placements=["B", "BB"]) == ["p2"]
    assert ids(min_size=50) == ["p1", "p2"] and ids(side="sell") == ["p2"]
    assert ids(opening_only=True) == ["p1"] and ids(golden_only=True) == ["p1"]
    assert ids(unusual_only=True) == ["p1"]
    assert ids(expiry=str(DAY + dt.timedelta(days=30))) == ["p2"]


def test_url_values_round_trip_and_bad_text_falls_back() -> None:
    for value, default in (
        (["sweep", "block"], ["sweep"]),
        (True, False),
        (7, 0),
        (2.5, 0.0),
        ("SPY", ""),
    ):
        assert decode(encode(value), default) == value  # type: ignore[arg-type]
    assert decode("sweep,bogus", ["sweep"], options=["sweep", "block"]) == ["sweep"]
    assert decode("lots", 25_000) == 25_000
    assert decode("", None, kind=int) is None
    assert decode("nan", None, kind=float) is None and decode("inf", 1.5) == 1.5
    assert decode("short", "all", options=["all", "buy"]) == "all"


def test_saved_views_store(tmp_path: Path) -> None:
    path = tmp_path / "lake" / "_views.json"
    assert load_views(path) == {}
    save_view(path, SavedView(" golden 0DTE ", "", {"golden_only": "1", "dte_max": "0"}))
    save_view(path, SavedView("puts", "ticker", {"symbol": "SPY"}))
    views = load_views(path)
    assert sorted(views) == ["golden 0DTE", "puts"]
    assert (
        views["golden 0DTE"].link("http://host:8501") == "http://host:8501/?dte_max=0&golden_only=1"
    )
    save_view(path, SavedView("puts", "ticker", {"symbol": "QQQ"}))  # same name: replaced
    assert load_views(path)["puts"].query == {"symbol": "QQQ"}
    delete_view(path, "puts")
    assert list(load_views(path)) == ["golden 0DTE"]
    for bad in ("", "   ", "x" * 81, "two\nlines"):
        with pytest.raises(ViewError):
            save_view(path, SavedView(bad, "", {}))
    path.write_text("{not json")
    assert load_views(path) == {}  # a damaged file is no views, not a crash


def test_exports_hold_the_frame() -> None:
    frame = pl.DataFrame({"id": ["a", "b"], "premium": [471_800.0, 2.0], "legs": [["x", "y"], []]})
    back = pl.read_csv(io.BytesIO(csv_bytes(frame)))
    assert back["id"].to_list() == ["a", "b"] and back["premium"].to_list() == [471_800.0, 2.0]
    assert back["legs"].to_list() == ["x; y", ""]
    assert pl.read_parquet(io.BytesIO(parquet_bytes(frame))).equals(frame)


def test_structure_legs_by_hand() -> None:
    structure = {"structure_id": "S1", "packet_ids": ["p1", "p2"], "sides": ["buy", "sell"],
                 "contracts": ["SPY   0C", "SPY   30P"]}  # fmt: skip
    legs = with_legs(pl.DataFrame([structure]))["legs"].to_list()
    assert legs == ["buy SPY 0C + sell SPY 30P"]
    table = leg_table(structure, packets().with_columns(pl.lit(1.0).alias("vwap")))
    assert table["side"].to_list() == ["buy", "sell"]
    assert table["strike"].to_list() == [505.0, 490.0]


def test_the_sign_in_rule(tmp_path: Path) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback(None)
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")
    user, project = tmp_path / "user.toml", tmp_path / "project.toml"
    user.write_text('[auth]\nclient_id = "a"\n')
    project.write_text(
        '[auth]\nredirect_uri = "r"\ncookie_secret = "c"\nclient_secret = "s"\n'
        'server_metadata_url = "m"\n'
    )
    assert missing_auth_keys(auth_from_files([user])) == [
        "redirect_uri", "cookie_secret", "client_secret", "server_metadata_url",
    ]  # fmt: skip
    assert missing_auth_keys(auth_from_files([user, project, tmp_path / "absent.toml"])) == []
    project.write_text("[auth\n")
    with pytest.raises(ValueError, match=r"project\.toml"):
        auth_from_files([project])


def test_configured_sign_in_hides_the_lake(
    monkeypatch: pytest.MonkeyPatch, built_lake: Path
) -> None:
    monkeypatch.setenv("FLOWLAKE_LAKE", str(built_lake))
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["auth"] = {"redirect_uri": "http://127.0.0.1:1/oauth2callback", "cookie_secret": "c",
                          "client_id": "i", "client_secret": "s",
                          "server_metadata_url": "http://127.0.0.1:1/.well-known/openid-configuration"}  # fmt: skip
    at.run()
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.metric and not at.dataframe


def test_new_pages_follow_the_url(monkeypatch: pytest.MonkeyPatch, built_lake: Path) -> None:
    """The Ticker page opens on the symbol of its link; Structures filters by kind; the
    Equities tape keeps only the venues asked for."""
    monkeypatch.setenv("FLOWLAKE_LAKE", str(built_lake))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.query_params["symbol"] = "AAPL"
    at.switch_page("views/ticker.py").run()
    assert not at.exception
    assert at.selectbox(key="symbol").value == "AAPL"
    labels = {m.label for m in at.metric}
    assert {"Price", "Call / put premium", "Net tide", "Gamma flip", "Unusual contracts"} <= labels
    at.switch_page("views/equities.py").run()
    assert not at.exception
    prints = at.dataframe[0].value
    venue = prints["exchange"].iloc[0]
    at.multiselect(key="exchanges").set_value([venue]).run()
    assert set(at.dataframe[0].value["exchange"]) == {venue}
    assert at.query_params["exchanges"] in (venue, [venue])


def test_a_saved_view_opens_with_its_filters(
    monkeypatch: pytest.MonkeyPatch, built_lake: Path, tmp_path: Path
) -> None:
    """Save the Flow filters under a name, change them, open the view: the filters come back
    (and the saved file holds them, not the date)."""
    import shutil

    root = tmp_path / "lake"
    shutil.copytree(built_lake, root)
    monkeypatch.setenv("FLOWLAKE_LAKE", str(root))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.toggle(key="golden_only").set_value(True).run()
    at.number_input(key="min_premium").set_value(0).run()
    golden = at.metric[0].value
    at.text_input(key="w_view_name").input("golden, any size")  # submitted with the form
    next(b for b in at.button if b.label == "Save this view").click().run()
    assert not at.exception
    stored = load_views(root / "_views.json")["golden, any size"]
    assert stored.query["golden_only"] == "1" and stored.query["min_premium"] == "0"
    assert "date" not in stored.query and stored.page == ""
    at.toggle(key="golden_only").set_value(False).run()
    assert at.metric[0].value != golden
    at.selectbox(key="w_saved_view").set_value("golden, any size").run()
    at.button(key="w_open_view").click().run()
    assert not at.exception
    assert at.toggle(key="golden_only").value is True
    assert at.number_input(key="min_premium").value == 0
    assert at.metric[0].value == golden


@pytest.mark.parametrize(
    ("page", "query", "expected"),
    [
        ("views/flow.py", {"min_premium": "-5", "otm_min": "nan", "kinds": "<script>", "side": "x"},
         {"min_premium": 0, "otm_min": None, "kinds": [], "side": "all"}),
        ("views/equities.py", {"minutes": "0", "min_shares": "-100", "where": "x"},
         {"minutes": 1, "min_shares": 0, "where": "both"}),
        ("views/outcomes.py", {"from": "zzz", "horizon": "1y", "by": "x"},
         {"horizon": "30m", "by": []}),
        ("views/ticker.py", {"symbol": "NOPE"}, {"symbol": "AAPL"}),
    ],
)  # fmt: skip
def test_a_careless_link_falls_back_and_never_breaks_a_page(
    monkeypatch: pytest.MonkeyPatch, built_lake: Path, page: str, query: dict, expected: dict
) -> None:
    """Out-of-range numbers are clamped, unknown choices and non-numbers fall back to the
    defaults: the page renders."""
    monkeypatch.setenv("FLOWLAKE_LAKE", str(built_lake))
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    if page != "views/flow.py":
        for key, value in query.items():
            at.query_params[key] = value
        at.switch_page(page).run()
    assert not at.exception, at.exception
    assert {key: at.session_state[key] for key in expected} == expected
