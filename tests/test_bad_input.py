"""Bad input that the other suites do not reach: non-UTF-8 bytes, absurd strikes, a huge
batch. Each row lands or goes to quarantine with a reason; rows in = landed + quarantined."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from adapters.files import read_canonical
from adapters.schema import validate
from lake import Lake
from lake.read import read
from lake.write import land
from tests.conftest import CONTRACT, DAY, T0

HEADER = "event_id,source,ts_event,ts_recv,contract,price,size,exchange,conditions,seq\n"


def csv_row(event_id: str, contract: str, price: str = "1.25") -> str:
    return f"{event_id},test,{T0},{T0 + 5},{contract},{price},10,C,I,1\n"


def test_non_utf8_bytes_cost_their_row_not_the_file(tmp_path: Path) -> None:
    path = tmp_path / "option_trades.csv"
    path.write_bytes(
        (HEADER + csv_row("ok1", CONTRACT)).encode()
        + csv_row("bad", "SPY\xff  261127C00600000").encode("latin-1")
        + csv_row("ok2", CONTRACT, "1.30").encode()
    )
    result = validate("option_trades", read_canonical(path), day=DAY)
    assert sorted(result.valid["event_id"]) == ["ok1", "ok2"]
    (bad,) = result.quarantined.iter_rows(named=True)
    assert "unparseable OCC OSI contract symbol" in bad["reason"]
    assert "\ufffd" in bad["payload"]  # the undecodable byte is visible in the payload


def test_absurd_strikes_are_quarantined() -> None:
    rows = pl.DataFrame(
        {
            "event_id": ["zero", "mismatch", "fine"],
            "source": ["test"] * 3,
            "ts_event": [T0] * 3,
            "ts_recv": [T0 + 5] * 3,
            "contract": ["SPY   261127C00000000", CONTRACT, CONTRACT],
            # The row's own strike contradicts its symbol's 600.
            "strike": [None, 6000.0, 600.0],
            "price": [1.25] * 3,
            "size": [10] * 3,
            "exchange": ["C"] * 3,
            "conditions": [["I"]] * 3,
        }
    )
    result = validate("option_trades", rows, day=DAY)
    assert result.valid["event_id"].to_list() == ["fine"]
    # Quarantine rows carry the raw payload; it names the row.
    why = {
        ("zero" if '"zero"' in payload else "mismatch"): reason
        for payload, reason in result.quarantined.select("payload", "reason").iter_rows()
    }
    assert "strike not a positive finite number" in why["zero"]
    assert "contract symbol disagrees" in why["mismatch"]


def test_a_huge_batch_lands_and_reconciles(lake: Lake) -> None:
    """600k rows in one batch, one in 100 broken in one of four ways, some ids repeated."""
    n = 600_000
    rng = np.random.default_rng(11)
    ids = np.arange(n)
    frame = pl.DataFrame(
        {
            "event_id": [f"e{i}" for i in ids],
            "source": "test",
            "ts_event": T0 + rng.integers(0, 3_600 * 10**9, n),
            "ts_recv": T0 + 3_600 * 10**9,
            "contract": CONTRACT,
            "price": np.round(rng.uniform(0.5, 5.0, n), 2),
            "size": rng.integers(1, 500, n),
            "exchange": "C",
            "conditions": [["I"]] * n,
            "seq": ids,
        }
    )
    broken = ids % 100 == 7
    kind = ids % 400

    def broken_where(k: int) -> pl.Series:
        return pl.Series(broken & (kind == k))

    frame = frame.with_columns(
        pl.when(broken_where(7)).then(None)
        .when(broken_where(307)).then(float("nan"))
        .otherwise(pl.col("price")).alias("price"),
        pl.when(broken_where(107)).then(0).otherwise(pl.col("size")).alias("size"),
        pl.when(broken_where(207)).then(pl.lit("SPY 12C")).otherwise(pl.col("contract")).alias("contract"),
    )  # fmt: skip
    exact_copies = frame.head(1000)
    batch = pl.concat([frame, exact_copies]).sample(fraction=1.0, shuffle=True, seed=2)
    result = validate("option_trades", batch, day=DAY)
    bad_copies = int(broken[:1000].sum())  # a broken row sent twice is quarantined twice
    assert result.quarantined.height == int(broken.sum()) + bad_copies
    # Rows in = landed + quarantined + exact copies of valid rows (they collapse into one).
    assert batch.height == result.valid.height + result.quarantined.height + (1000 - bad_copies)
    assert result.valid.height == n - int(broken.sum())
    land(lake, "option_trades", result.valid)
    land(lake, "option_trades", result.valid)  # delivered twice: lands once
    assert read(lake, "option_trades").height == n - int(broken.sum())
