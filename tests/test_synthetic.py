"""The synthetic market: deterministic, valid, labelled, statistically sane."""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl

from adapters.schema import validate
from adapters.synthetic import SyntheticDay, SyntheticSpec, generate_day
from adapters.synthetic.market import NS, _drifted
from adapters.synthetic.universe import select_underlyings, universe
from tests.conftest import DAY


def digest(tables: dict[str, pl.DataFrame]) -> str:
    h = hashlib.sha256()
    for name in sorted(tables):
        h.update(name.encode())
        h.update(tables[name].hash_rows().to_numpy().tobytes())
    return h.hexdigest()


def test_same_spec_gives_identical_tables(synthetic_day: SyntheticDay) -> None:
    again = generate_day(SyntheticSpec(date=DAY, underlyings=("SPY", "QQQ", "AAPL"), minutes=45))
    for name, frame in synthetic_day.tables.items():
        assert frame.equals(again.tables[name]), name
    assert digest(synthetic_day.tables) == digest(again.tables)
    assert synthetic_day.labels.equals(again.labels)


def test_other_seed_differs() -> None:
    a = generate_day(SyntheticSpec(date=DAY, underlyings=("AAPL",), minutes=5, seed=1))
    b = generate_day(SyntheticSpec(date=DAY, underlyings=("AAPL",), minutes=5, seed=2))
    assert not a.tables["option_trades"].equals(b.tables["option_trades"])


def test_every_row_passes_the_validator(synthetic_day: SyntheticDay) -> None:
    for name, frame in synthetic_day.tables.items():
        result = validate(name, frame)
        assert result.quarantined.height == 0, (
            name,
            result.quarantined["reason"].unique().to_list(),
        )


def test_labels_point_at_existing_events(synthetic_day: SyntheticDay) -> None:
    labels = synthetic_day.labels
    assert set(labels["kind"]) >= {
        "sweep",
        "block",
        "long_straddle",
        "debit_vertical",
        "risk_reversal",
        "ladder",
        "roll",
        "long_strangle",
        "spike",
        "burst",
        "repeat_hitter",
        "near_miss_sweep_premium",
        "near_miss_spike",
        "near_miss_dark_size",
        "absorbed_block",
        "stealth_accumulation",
        "distribution",
        "cancelled_print",
        "multileg_package",
        "zero_dte",
    }
    ids = set(synthetic_day.tables["option_trades"]["event_id"]) | set(
        synthetic_day.tables["equity_trades"]["event_id"]
    )
    for row in labels.iter_rows(named=True):
        assert row["event_ids"], row["label_id"]
        assert set(row["event_ids"]) <= ids, row["label_id"]


def test_quotes_never_crossed_and_trades_mostly_inside(synthetic_day: SyntheticDay) -> None:
    for name in ("option_quotes", "equity_quotes"):
        q = synthetic_day.tables[name]
        assert (q["bid"] <= q["ask"]).all()
    from assets.option_prints import enrich_option_prints
    from assets.thresholds import load_thresholds

    th = load_thresholds()
    trades = validate("option_trades", synthetic_day.tables["option_trades"]).valid
    quotes = validate("option_quotes", synthetic_day.tables["option_quotes"]).valid
    prints = enrich_option_prints(trades.lazy(), quotes.lazy(), th).collect()
    share = prints["placement"].value_counts(normalize=True)
    inside = share.filter(pl.col("placement").is_in(["A", "B", "MID"]))["proportion"].sum()
    assert inside > 0.85
    assert share.filter(pl.col("placement") == "NONE")["proportion"].sum() < 0.02


def test_full_session_prints_are_priced_off_the_quote_in_force() -> None:
    # A whole session (6.5 h): the generator once keyed quotes by contract and 73 minutes of
    # time, so late prints were priced off stale quotes and planted buys at the ask came out
    # as MID. Every print of the planted bursts is bought at the ask in force.
    from assets.option_prints import enrich_option_prints
    from assets.thresholds import load_thresholds

    th = load_thresholds()
    day = generate_day(SyntheticSpec(date=DAY, underlyings=("SPY", "AAPL")))
    prints = enrich_option_prints(
        day.tables["option_trades"].lazy(),
        day.tables["option_quotes"].lazy(),
        th,
    ).collect()
    planted = day.labels.filter(pl.col("kind") == "burst")["event_ids"].explode()
    assert planted.len() == 16
    placed = prints.filter(pl.col("event_id").is_in(planted.implode()))
    assert placed["placement"].to_list() == ["A"] * 16
    assert (placed["price"] == placed["nbbo_ask"]).all()


def test_volume_is_u_shaped_over_the_day() -> None:
    day = generate_day(SyntheticSpec(date=DAY, underlyings=("SPY",)))
    t = day.tables["equity_trades"].with_columns(
        ((pl.col("ts_event") - pl.col("ts_event").min()) // (30 * 60 * 10**9)).alias("half_hour")
    )
    counts = t.group_by("half_hour").len().sort("half_hour")["len"].to_list()
    assert counts[0] > counts[len(counts) // 2] and counts[-1] > counts[len(counts) // 2]


def test_universe_and_selection() -> None:
    assert len(universe()) == 506
    assert select_underlyings("3") == ["SPY", "QQQ", "IWM"]
    assert select_underlyings("aapl, msft") == ["AAPL", "MSFT"]


def test_chunking_never_changes_rows() -> None:
    from adapters.synthetic.market import iter_day

    spec = SyntheticSpec(date=DAY, underlyings=("SPY", "AAPL", "MSFT"), minutes=20)
    whole = generate_day(spec)
    pieces = list(iter_day(spec, chunk=1))
    assert len(pieces) == 3
    for name, frame in whole.tables.items():
        assert pl.concat([p.tables[name] for p in pieces]).equals(frame), name


def test_half_day_session_is_respected() -> None:
    import datetime as dt

    from adapters.calendar import ny_ns

    half = dt.date(2026, 11, 27)
    day = generate_day(SyntheticSpec(date=half, underlyings=("SPY",)))
    assert day.tables["option_trades"]["ts_event"].max() <= ny_ns(half, dt.time(13, 0)) + 3 * 10**9
    assert validate("option_trades", day.tables["option_trades"]).quarantined.height == 0


def test_live_time_slices_cover_the_day_once_in_time_order() -> None:
    import asyncio

    from adapters.synthetic.source import SyntheticMarket

    spec = SyntheticSpec(date=DAY, underlyings=("SPY", "AAPL"), minutes=10)
    market = SyntheticMarket(spec)
    whole = generate_day(spec)

    async def collect() -> list:
        return [batch async for batch in market.live(DAY, speed=0, interval_s=30)]

    batches = asyncio.run(collect())
    assert len(batches) == 20
    for name in ("option_trades", "option_quotes", "equity_trades", "equity_quotes"):
        joined = pl.concat([b.streams[name] for b in batches])
        assert joined.height == whole.tables[name].height
        assert joined["event_id"].is_unique().all()
        assert joined["ts_event"].is_sorted()
    assert batches[0].labels is not None and batches[1].labels is None


def test_live_speed_paces_batches() -> None:
    import asyncio
    import time

    from adapters.synthetic.source import SyntheticMarket

    market = SyntheticMarket(SyntheticSpec(date=DAY, underlyings=("AAPL",), minutes=1))

    async def first_two() -> float:
        started = time.monotonic()
        count = 0
        async for _ in market.live(DAY, speed=60, interval_s=30):  # 30 s of market time = 0.5 s
            count += 1
            if count == 2:
                break
        return time.monotonic() - started

    elapsed = asyncio.run(first_two())
    assert 0.9 <= elapsed < 3.0


def test_planted_patterns_drift_the_underlying_by_hand() -> None:
    # A flat path at 100; a bullish pattern 10 s in and a bearish one 100 s in, 0.5% each
    # over 300 s: at 160 s the first is half way (+0.25%), the second a fifth (-0.1%).
    path = np.full(1000, 100.0)
    start = 5 * NS
    moved = _drifted(path, start, [(start + 10 * NS, 1.0), (start + 100 * NS, -1.0)], 0.005, 300)
    assert moved[10] == 100.0
    assert moved[160] == round(100 * np.exp(0.0025 - 0.001), 4)
    assert moved[999] == 100.0  # both complete: they cancel
    assert _drifted(path, start, [(start, 1.0)], 0.0, 300).tolist() == path.tolist()


def test_the_planted_floors_are_the_default_thresholds() -> None:
    """The labels state what the default thresholds must find: the floors the generator
    plants against are the packaged file's values, key for key."""
    from adapters.synthetic.expect import Floors
    from assets.thresholds import load_thresholds

    assert Floors() == Floors.from_thresholds(load_thresholds().values)
