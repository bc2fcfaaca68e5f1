"""Live path: spool atomicity, resumable recorder, the sensor, and live == replay."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import itertools
import json
import random
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from deltalake import DeltaTable
from polars.testing import assert_frame_equal

from adapters.source import Batch, MarketSource
from adapters.synthetic import SyntheticSpec
from adapters.synthetic.source import SyntheticMarket
from assets.resources import LakeResource, ThresholdsResource
from assets.sources import SyntheticSource
from assets.tail import Tail
from lake import Lake
from lake.read import read
from lake.tables import DERIVED_KEYS
from orchestration.definitions import defs
from orchestration.live import TailBuild, build_tail, land_spooled, record
from orchestration.sensors import FOLLOW_ENV, spool_sensor, spool_tick
from orchestration.spool import Spool

DAY = dt.date(2026, 11, 24)
SPEC = SyntheticSpec(date=DAY, underlyings=("SPY", "AAPL"), minutes=20)
#: Tables that must have rows on the test day (the others may be empty).
DERIVED_IDS = {
    "option_prints": "event_id", "flow_packets": "packet_id", "structures": "structure_id", "classifier_hits": "hit_id",
    "alerts": "alert_id", "equity_prints": "event_id", "dark_inferences": "inference_id",
}  # fmt: skip


def resources(root: Path) -> dict:
    return {
        "lake": LakeResource(root=str(root)),
        "thresholds": ThresholdsResource(),
        "source": SyntheticSource(underlyings="SPY,AAPL", minutes=20),
    }


QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def build(
    root: Path,
    instance: dg.DagsterInstance,
    selection: dg.AssetSelection | None = None,
    tags: dict[str, str] | None = None,
) -> bool:
    """Materialize the day on the lake at ``root`` (all assets, or ``selection``, with the
    run ``tags``); return whether it succeeded."""
    return dg.materialize(
        list(defs.assets), resources=resources(root), partition_key=DAY.isoformat(),
        instance=instance, selection=selection, run_config=QUIET, tags=tags,
    ).success  # fmt: skip


def test_spool_append_is_whole_or_nothing(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    frame = pl.DataFrame({"event_id": ["a"], "ts_event": [1]})
    first = spool.append(DAY, Batch(streams={"option_trades": frame}), source="t", cursor=0)
    # A writer that died mid-batch leaves a hidden temp folder: never read, swept on start.
    (spool.root / DAY.isoformat() / ".tmp-0000000001-dead").mkdir()
    (spool.root / DAY.isoformat() / "0000000007").mkdir()  # no manifest: not a batch
    assert [b.seq for b in spool.batches(DAY)] == [0]
    assert spool.sweep(DAY) == 1
    second = spool.append(DAY, Batch(streams={"option_trades": frame}), source="t", cursor=1)
    assert (first.seq, second.seq) == (0, 1)
    assert spool.read(second).streams["option_trades"].equals(frame)
    assert json.loads((second.path / "manifest.json").read_text())["rows"] == {"option_trades": 1}


@dataclass(frozen=True)
class Crashing(MarketSource):
    """The synthetic live feed, dying after ``after`` batches (a killed recorder)."""

    inner: SyntheticMarket
    after: int
    name: str = "synthetic"

    def universe(self) -> str:
        return self.inner.universe()

    def historical(self, day: dt.date) -> Iterator[Batch]:
        return self.inner.historical(day)

    async def live(
        self, day: dt.date, *, speed: float = 1.0, interval_s: float = 1.0
    ) -> AsyncIterator[Batch]:
        count = 0
        async for batch in self.inner.live(day, speed=speed, interval_s=interval_s):
            if count == self.after:
                raise RuntimeError("recorder killed")
            count += 1
            yield batch


def test_recorder_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    market = SyntheticMarket(SPEC)
    with pytest.raises(RuntimeError, match="killed"):
        asyncio.run(record(Crashing(market, after=5), spool, DAY, speed=0, interval_s=60))
    assert len(spool.batches(DAY)) == 5
    resumed = asyncio.run(record(market, spool, DAY, speed=0, interval_s=60))
    assert (resumed.skipped, resumed.batches) == (5, 15)
    spooled = [spool.read(b) for b in spool.batches(DAY)]
    ids = pl.concat([b.streams["option_trades"] for b in spooled])["event_id"]
    whole = pl.concat([b.streams["option_trades"] for _, b in market.time_slices(DAY, 60)])[
        "event_id"
    ]
    assert ids.is_unique().all() and ids.sort().equals(whole.sort())
    # Done means done: a third run records nothing new.
    assert asyncio.run(record(market, spool, DAY, speed=0, interval_s=60)).batches == 0


def test_sensor_lands_and_requests_one_run_per_tick(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``FLOWLAKE_LIVE_BUILD=run``: the tick lands and hands one run request to the daemon."""
    spool = Spool(tmp_path / "spool")
    asyncio.run(record(SyntheticMarket(SPEC), spool, DAY, speed=0, interval_s=300))
    lake = LakeResource(root=str(tmp_path / "lake"))
    monkeypatch.setenv("FLOWLAKE_LIVE_BUILD", "run")
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance, resources={"lake": lake}, definitions=defs
        )
        monkeypatch.setenv("FLOWLAKE_SPOOL", str(spool.root))
        result = spool_sensor(context)
    assert [r.partition_key for r in result.run_requests] == [DAY.isoformat()]
    state = json.loads(result.cursor)[DAY.isoformat()]
    assert state["seq"] == 3 and state["pending"] is None
    request = result.run_requests[0]
    assert request.run_key == state["run_key"]
    assert int(request.tags["flowlake/option_since_ns"]) == state["run_tail"]["option_ns"]
    assert {e.asset_key.to_user_string() for e in result.asset_events} >= {
        "option_trades",
        "equity_quotes",
    }
    assert read(lake.lake(), "option_trades").height > 0
    again = spool_tick(lake, spool, result.cursor)
    assert again.run_requests == [] and json.loads(again.cursor)[DAY.isoformat()]["seq"] == 3


def test_sensor_builds_the_tail_in_the_tick(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default: the tick lands the batches and builds the tail itself; every derived
    asset's materialization of the day and its check evaluations come back in the result
    (the daemon stores them in the instance), the outcomes are in ``asset_checks`` (one
    commit), and the next tick has nothing left to build."""
    spool = Spool(tmp_path / "spool")
    asyncio.run(record(SyntheticMarket(SPEC), spool, DAY, speed=0, interval_s=300))
    lake = LakeResource(root=str(tmp_path / "lake"))
    monkeypatch.setenv("FLOWLAKE_SPOOL", str(spool.root))
    monkeypatch.delenv("FLOWLAKE_LIVE_BUILD", raising=False)
    monkeypatch.setenv(FOLLOW_ENV, "0")
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance, resources={"lake": lake}, definitions=defs
        )
        result = spool_sensor(context)
        assert result.run_requests == []
        state = json.loads(result.cursor)[DAY.isoformat()]
        assert state["pending"] is None and "run_key" not in state
        assert read(lake.lake(), "alerts").height > 0
        built = {
            e.asset_key.to_user_string()
            for e in result.asset_events
            if isinstance(e, dg.AssetMaterialization) and e.partition == DAY.isoformat()
        }
        assert built >= set(DERIVED_KEYS)
        evaluations = [e for e in result.asset_events if isinstance(e, dg.AssetCheckEvaluation)]
        assert evaluations and all(e.passed for e in evaluations)
        stored = read(lake.lake(), "asset_checks")
        assert stored.height == len(evaluations) and stored["passed"].all()
        # One commit for all of them after the table's creation (version 0), not one per asset.
        assert DeltaTable(str(tmp_path / "lake" / "asset_checks")).version() == 1
        context = dg.build_sensor_context(
            instance=instance, resources={"lake": lake}, definitions=defs, cursor=result.cursor
        )
        again = spool_sensor(context)
        assert again.run_requests == [] and again.asset_events == []


def test_a_tick_follows_the_spool_and_builds_batches_as_they_arrive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches spooled while a tick is following the spool are landed and built by that
    tick (the daemon would start the next tick up to 5 s later); the tick returns one
    cursor covering them and the events of every build."""
    source = Spool(tmp_path / "source")
    asyncio.run(record(SyntheticMarket(SPEC), source, DAY, speed=0, interval_s=300))
    spool = Spool(tmp_path / "spool")
    first, *later = source.batches(DAY)
    spool.append(DAY, source.read(first), source="test", cursor=0)
    lake = LakeResource(root=str(tmp_path / "lake"))
    monkeypatch.setenv("FLOWLAKE_SPOOL", str(spool.root))
    monkeypatch.delenv("FLOWLAKE_LIVE_BUILD", raising=False)
    monkeypatch.setenv(FOLLOW_ENV, "12")

    def arrive() -> None:  # the recorder, a little after the tick has started
        for n, batch in enumerate(later, start=1):
            time.sleep(1.0)
            spool.append(DAY, source.read(batch), source="test", cursor=n)

    feeder = threading.Thread(target=arrive)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance, resources={"lake": lake}, definitions=defs
        )
        feeder.start()
        result = spool_sensor(context)
        feeder.join()
    state = json.loads(result.cursor)[DAY.isoformat()]
    assert state["seq"] == len(later) and state["pending"] is None
    covered = sorted(
        {
            e.metadata["spool_seq_through"].value
            for e in result.asset_events
            if isinstance(e, dg.AssetMaterialization) and e.asset_key == dg.AssetKey("alerts")
        }
    )
    assert len(covered) >= 2 and covered[-1] == len(later)  # built more than once in the tick
    assert read(lake.lake(), "option_trades").height == sum(
        source.read(b).streams["option_trades"].height for b in source.batches(DAY)
    )


def test_a_failed_tail_build_is_built_again_by_the_next_tick(tmp_path: Path) -> None:
    """A tick whose build fails keeps the tail (with what lands meanwhile) for the next."""
    spool = Spool(tmp_path / "spool")
    asyncio.run(record(SyntheticMarket(SPEC), spool, DAY, speed=0, interval_s=300))
    lake = LakeResource(root=str(tmp_path / "lake"))
    asked: list[dict[str, str]] = []

    def failing(day: dt.date, tags: dict[str, str]) -> TailBuild:
        asked.append(tags)
        return TailBuild(False, [], "boom")

    first = spool_tick(lake, spool, None, [DAY], build=failing)
    state = json.loads(first.cursor)[DAY.isoformat()]
    assert state["pending"] is not None and first.run_requests == []
    retried = spool_tick(
        lake, spool, first.cursor, [DAY], build=functools.partial(build_tail, lake)
    )
    assert asked[0] == {"flowlake/live": "true", **Tail.restored(state["pending"]).tags()}
    assert json.loads(retried.cursor)[DAY.isoformat()]["pending"] is None
    assert read(lake.lake(), "alerts").height > 0


def test_one_run_in_flight_per_day_and_failed_tails_come_back(tmp_path: Path) -> None:
    """While the day's run is going, new batches land but wait; a failed run's tail is
    requested again together with what landed since."""
    spool = Spool(tmp_path / "spool")
    asyncio.run(record(SyntheticMarket(SPEC), spool, DAY, speed=0, interval_s=300))
    batches = spool.batches(DAY)
    lake = LakeResource(root=str(tmp_path / "lake"))
    with dg.instance_for_test() as instance:
        first = spool_tick(lake, spool, None, [DAY], instance)
        state = json.loads(first.cursor)[DAY.isoformat()]
        assert state["seq"] == batches[-1].seq and len(first.run_requests) == 1
        tags = dict(first.run_requests[0].tags)
        run = dg.DagsterRun(
            job_name="derived_job",
            run_id="0" * 36,
            tags={**tags, "dagster/run_key": state["run_key"]},
            status=dg.DagsterRunStatus.STARTED,
        )
        instance.add_run(run)
        more = spool.append(DAY, spool.read(batches[0]), source="test", cursor=None)
        waiting = spool_tick(lake, spool, first.cursor, [DAY], instance)
        state = json.loads(waiting.cursor)[DAY.isoformat()]
        assert waiting.run_requests == [] and state["seq"] == more.seq
        assert state["pending"] is not None  # landed, waiting for the run in flight
        instance.report_run_failed(run)
        retry = spool_tick(lake, spool, waiting.cursor, [DAY], instance)
        (request,) = retry.run_requests
        assert request.run_key != state["run_key"]
        # The failed run's tail (from the first batch) is built again.
        assert request.tags["flowlake/option_since_ns"] == tags["flowlake/option_since_ns"]


@pytest.mark.parametrize(
    ("interval_s", "order"),
    [
        (300.0, "in order"),
        # Smaller batches and a shuffled feed: the same check with 3-4x the batches, in the
        # heavy suite (`make test-heavy`, run by CI) so `make test` stays near 10 minutes.
        pytest.param(97.0, "in order", marks=pytest.mark.heavy),
        pytest.param(120.0, "shuffled", marks=pytest.mark.heavy),
    ],
)
def test_live_micro_batches_equal_whole_day_replay(
    tmp_path: Path, instance: dg.DagsterInstance, interval_s: float, order: str
) -> None:
    """Each batch is landed alone and followed by a tail build (with the tags the sensor
    would put on its run); boundaries fall anywhere, inside packet windows and between a
    print and its cancel. Shuffled: batches arrive out of order, so tails reach back."""
    replay_root, live_root = tmp_path / "replay", tmp_path / "live"
    assert build(replay_root, instance)

    spool = Spool(tmp_path / "spool")
    asyncio.run(record(SyntheticMarket(SPEC), spool, DAY, speed=0, interval_s=interval_s))
    batches = spool.batches(DAY)
    if order == "shuffled":
        random.Random(3).shuffle(batches)
    lake = LakeResource(root=str(live_root))
    derived = dg.AssetSelection.all() - dg.AssetSelection.groups("landing")
    tails = []
    for batch in batches:
        tail = land_spooled(lake.lake(), spool, [batch]).tail
        tails.append(tail)
        assert build(live_root, instance, derived, tail.tags())
    assert len(batches) == len(spool.batches(DAY)) > 2
    # After the first build every run was a tail; out of order, some reach back in time.
    assert all(t.option_ns is not None for t in tails)
    if order == "shuffled":
        assert any(b.option_ns < a.option_ns for a, b in itertools.pairwise(tails))
    for table, keys in DERIVED_KEYS.items():
        a, b = read(Lake(str(replay_root)), table), read(Lake(str(live_root)), table)
        assert a.height > 0 or table not in DERIVED_IDS, table
        assert_frame_equal(a.sort(keys), b.sort(keys), check_column_order=False, check_exact=True)


def test_live_tails_of_the_next_session_equal_its_replay(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """The second session of a run through days: its tails score packets against the
    previous session's baseline state (read for the tail's contracts only) and roll the
    state, and every table of the day equals the day's replay."""
    nxt = dt.date(2026, 11, 25)
    replay_root, live_root = tmp_path / "replay", tmp_path / "live"
    derived = dg.AssetSelection.all() - dg.AssetSelection.groups("landing")

    def run(root: Path, day: dt.date, **kwargs: object) -> bool:
        return dg.materialize(
            list(defs.assets), resources=resources(root), partition_key=day.isoformat(),
            instance=instance, run_config=QUIET, **kwargs,  # type: ignore[arg-type]
        ).success  # fmt: skip

    for root in (replay_root, live_root):
        assert run(root, DAY)
    assert run(replay_root, nxt)
    spool = Spool(tmp_path / "spool")
    spec = SyntheticSpec(date=nxt, underlyings=("SPY", "AAPL"), minutes=20)
    asyncio.run(record(SyntheticMarket(spec), spool, nxt, speed=0, interval_s=240.0))
    lake = LakeResource(root=str(live_root))
    for batch in spool.batches(nxt):
        tail = land_spooled(lake.lake(), spool, [batch]).tail
        assert run(live_root, nxt, selection=derived, tags=tail.tags())
    prior = read(Lake(str(live_root)), "contract_baselines", dates=[DAY])
    hits = read(Lake(str(live_root)), "classifier_hits", dates=[nxt])
    # Yesterday's state is a prior of today's packets: at least one z-score needed it.
    assert prior.height > 0 and hits.height > 0
    for table, keys in DERIVED_KEYS.items():
        a = read(Lake(str(replay_root)), table, dates=[nxt])
        b = read(Lake(str(live_root)), table, dates=[nxt])
        assert (a is None) == (b is None), table
        if a is not None:
            assert_frame_equal(
                a.sort(keys), b.sort(keys), check_column_order=False, check_exact=True
            )


def test_flowlake_live_runs_to_the_end_and_exits_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchestration.cli import main

    monkeypatch.setenv("FLOWLAKE_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    args = ["live", "--date", DAY.isoformat(), "--underlyings", "AAPL", "--minutes", "10", "--speed", "0", "--interval", "120",
            "--spool", str(tmp_path / "spool"), "--poll", "0.1"]  # fmt: skip
    with pytest.raises(SystemExit) as exc:
        main(args)
    out = capsys.readouterr().out
    assert exc.value.code == 0 and "5 batches recorded" in out and "caught up" in out
    assert read(Lake(str(tmp_path / "lake")), "flow_packets").height > 0
    with pytest.raises(SystemExit) as exc:
        main(args)  # a second run resumes: nothing new to record
    assert exc.value.code == 0 and "0 batches recorded" in capsys.readouterr().out


def test_stored_day_replays_through_the_live_path(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    from adapters.source import Replayed
    from lake.replay import LakeDay

    stored = tmp_path / "stored"
    assert build(stored, instance)
    spool = Spool(tmp_path / "spool")
    asyncio.run(record(Replayed(LakeDay(Lake(str(stored)))), spool, DAY, speed=0, interval_s=120))
    target = LakeResource(root=str(tmp_path / "again"))
    land_spooled(target.lake(), spool, spool.batches(DAY))
    for stream in (
        "option_trades",
        "option_quotes",
        "equity_trades",
        "equity_quotes",
        "option_open_interest",
    ):
        a = read(Lake(str(stored)), stream).sort("event_id")
        b = read(target.lake(), stream).sort("event_id")
        assert_frame_equal(a, b, check_column_order=False)


def test_lake_replay_from_the_command_line(
    tmp_path: Path,
    instance: dg.DagsterInstance,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``flowlake live --source lake-replay --from-lake STORED`` re-publishes a stored day
    through the live path into another lake: the same landed rows, the same packets."""
    from orchestration.cli import main

    stored = tmp_path / "stored"
    assert build(stored, instance)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    args = ["live", "--source", "lake-replay", "--from-lake", str(stored), "--date", DAY.isoformat(),
            "--speed", "0", "--interval", "300", "--lake", str(tmp_path / "again"),
            "--spool", str(tmp_path / "spool"), "--poll", "0.2"]  # fmt: skip
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 0, capsys.readouterr().err
    for table, key in (("option_trades", "event_id"), ("flow_packets", "packet_id")):
        a = read(Lake(str(stored)), table).sort(key)
        b = read(Lake(str(tmp_path / "again")), table).sort(key)
        assert_frame_equal(a, b, check_column_order=False)
    with pytest.raises(SystemExit) as exc:
        main(["live", "--source", "lake-replay", "--lake", str(tmp_path / "x")])
    assert exc.value.code == 2
    assert "--from-lake: give the lake holding the stored day" in capsys.readouterr().err
