"""The lake on an object store: a local S3-compatible server (moto, 127.0.0.1 only).

Landing, a derived build, concurrent writers and a dashboard read run against
``s3://flowlake/lake`` with the storage options taken from the environment, as a user
would configure a real bucket.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path

import boto3
import dagster as dg
import polars as pl
import pytest
from moto.server import ThreadedMotoServer
from polars.testing import assert_frame_equal
from streamlit.testing.v1 import AppTest

from assets.resources import LakeResource, ThresholdsResource
from assets.sources import SyntheticSource
from lake import Lake
from lake.read import read
from lake.write import land
from orchestration.definitions import defs
from tests.conftest import at_once

DAY = dt.date(2026, 11, 24)
APP = Path(__file__).resolve().parent.parent / "dashboards" / "app.py"
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
TABLES = {"option_prints": "event_id", "flow_packets": "packet_id", "alerts": "alert_id"}


@pytest.fixture
def s3_lake(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Return the URI of a lake in a fresh bucket of a local S3 server."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="flowlake")
    try:
        yield "s3://flowlake/lake"
    finally:
        server.stop()


def resources(root: str) -> dict:
    return {
        "lake": LakeResource(root=root),
        "thresholds": ThresholdsResource(),
        "source": SyntheticSource(underlyings="SPY", minutes=15),
    }


def test_landing_build_and_dashboard_on_s3(
    s3_lake: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance
) -> None:
    for root in (s3_lake, str(tmp_path / "local")):
        result = dg.materialize(
            list(defs.assets), resources=resources(root), partition_key=DAY.isoformat(),
            instance=instance, run_config=QUIET,
        )  # fmt: skip
        assert result.success
    objects = boto3.client("s3").list_objects_v2(Bucket="flowlake", Prefix="lake/flow_packets/")
    assert any(o["Key"].endswith(".parquet") for o in objects["Contents"])
    # The same rows as a build on the local filesystem.
    for table, key in TABLES.items():
        remote = read(Lake(s3_lake), table, dates=[DAY])
        local = read(Lake(str(tmp_path / "local")), table, dates=[DAY])
        assert remote is not None and remote.height > 0
        assert_frame_equal(remote.sort(key), local.sort(key))
    # The dashboards read the lake by URI like a path.
    monkeypatch.setenv("FLOWLAKE_LAKE", s3_lake)
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.query_params["date"] = DAY.isoformat()
    app.run()
    assert not app.exception
    assert any(frame.value.shape[0] > 0 for frame in app.dataframe)


def test_concurrent_writers_on_s3_lose_nothing(s3_lake: str) -> None:
    """Four writers merge into one table at once: S3 conditional puts make each commit
    atomic; losers of a race retry, and every row lands exactly once."""
    lake = Lake(s3_lake)

    def writer(w: int) -> None:
        for k in range(4):
            rows = pl.DataFrame(
                {"date": [DAY] * 50, "event_id": [f"w{w}-{k}-{i}" for i in range(50)]}
            )
            land(lake, "t", rows)
            land(lake, "t", rows)  # delivered twice, lands once

    at_once(4, writer)
    table = read(lake, "t")
    assert table.height == 4 * 4 * 50 and table["event_id"].is_unique().all()
