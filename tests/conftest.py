"""Shared fixtures: a temp lake, tiny hand-built frames, and one small synthetic day."""

from __future__ import annotations

import datetime as dt
import gc
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from adapters.calendar import ny_ns
from adapters.schema import landed_schema
from adapters.synthetic import SyntheticDay
from assets.runtime import configure_process
from lake import Lake

DAY = dt.date(2026, 11, 24)  # a Tuesday session
T0 = ny_ns(DAY, dt.time(10, 0))  # 10:00 New York
MS = 1_000_000
CONTRACT = "SPY   261127C00600000"


# The test session is a process like any entry point's: flowlake's settings apply.
configure_process()


@pytest.fixture(autouse=True)
def _collect_garbage_here() -> Iterator[None]:
    """Finalise each test's garbage on the main thread when the test ends.

    Dagster leaves SQLite connections in reference cycles. Collected later on a Streamlit script
    thread, their finalisers log a traceback, and CPython 3.11's traceback formatting calls
    ``ast.parse`` from inside the parse that triggered the collection: that parse then fails
    with "AST constructor recursion depth mismatch" (seen once in CI on a dashboard test).
    """
    yield
    gc.collect()


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    """An ephemeral Dagster instance, closed after the test (see ``_collect_garbage_here``)."""
    with dg.DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    """An empty lake in a temp dir."""
    return Lake(str(tmp_path / "lake"))


def at_once(writers: int, write: Callable[[int], None]) -> None:
    """Run ``write(w)`` for each writer ``w`` in its own thread, all starting together, and
    raise the first error any of them met (an error in a thread is otherwise lost)."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(writers)

    def run(w: int) -> None:
        try:
            barrier.wait()
            write(w)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def probe(code: str, variable: str, setting: str | None) -> str:
    """Return what ``code`` prints in a fresh interpreter whose environment has
    ``variable`` set to ``setting`` (unset for None): import-time settings need a new process."""
    env = {k: v for k, v in os.environ.items() if k != variable}
    if setting is not None:
        env[variable] = setting
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def option_trades(rows: list[dict]) -> pl.DataFrame:
    """Return landed option trades; each row gives at least ts (ns offset from T0) and price."""
    out = []
    for i, row in enumerate(rows):
        contract = row.get("contract", CONTRACT)
        out.append(
            {
                "event_id": row.get("event_id", f"t{i}"),
                "source": "test",
                "ts_event": T0 + row["ts"],
                "ts_recv": T0 + row["ts"] + 1000,
                "contract": contract,
                "underlying": contract[:6].strip(),
                "expiry": dt.datetime.strptime(contract[6:12], "%y%m%d").date(),
                "strike": int(contract[13:]) / 1000,
                "right": contract[12],
                "multiplier": row.get("multiplier", 100),
                "price": row["price"],
                "size": row.get("size", 10),
                "exchange": row.get("exchange", "C"),
                "conditions": row.get("conditions", []),
                "seq": row.get("seq", i),
                "ref_event_id": row.get("ref_event_id"),
                "date": DAY,
            }
        )
    return pl.DataFrame(out, schema=landed_schema("option_trades"))


def option_quotes(rows: list[dict]) -> pl.DataFrame:
    """Return landed option quotes; each row gives ts (ns offset from T0), bid, ask."""
    out = [
        {
            "event_id": row.get("event_id", f"q{i}"),
            "source": "test",
            "ts_event": T0 + row["ts"],
            "ts_recv": T0 + row["ts"] + 1000,
            "contract": row.get("contract", CONTRACT),
            "bid": row["bid"],
            "ask": row["ask"],
            "bid_size": 10,
            "ask_size": 10,
            "exchange": "NBBO",
            "seq": row.get("seq", i),
            "date": DAY,
        }
        for i, row in enumerate(rows)
    ]
    return pl.DataFrame(out, schema=landed_schema("option_quotes"))


@pytest.fixture(scope="session")
def synthetic_day() -> SyntheticDay:
    """A 45-minute synthetic day for SPY, QQQ and AAPL (generated once per test session)."""
    from adapters.synthetic import SyntheticSpec, generate_day

    return generate_day(SyntheticSpec(date=DAY, underlyings=("SPY", "QQQ", "AAPL"), minutes=45))


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Point FLOWLAKE_LAKE and DAGSTER_HOME at temp dirs, hide vendor keys; return the lake path."""
    for name in ("DATABENTO_API_KEY", "APCA_API_KEY_ID", "APCA_API_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env of the developer's checkout is read
    monkeypatch.setenv("FLOWLAKE_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    yield tmp_path / "lake"


@pytest.fixture(scope="session")
def built_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake holding one small synthetic day, landed and built (once per test session)."""
    from assets.resources import LakeResource, ThresholdsResource
    from assets.sources import SyntheticSource
    from orchestration.definitions import defs

    root = tmp_path_factory.mktemp("built") / "lake"
    result = dg.materialize(
        list(defs.assets),
        resources={
            "lake": LakeResource(root=str(root)),
            "thresholds": ThresholdsResource(),
            "source": SyntheticSource(underlyings="SPY,AAPL", minutes=60),
        },
        partition_key=DAY.isoformat(),
    )
    assert result.success
    return root
