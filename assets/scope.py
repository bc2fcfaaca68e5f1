"""Which underlyings a run works on: buckets of underlyings and the rows they own.

Every derived rule is per underlying, so a day splits into buckets that build
independently (``orchestration/buckets.py`` runs them). An underlying's bucket is a stable
hash of its name (``crc32 % N_BUCKETS``); a bucket's run reads and replaces only the rows its
underlyings own (:func:`row_scope`).
"""

from __future__ import annotations

import datetime as dt
import os
import zlib

import polars as pl

from lake import Lake
from lake.read import scan
from lake.write import RowScope

#: Buckets per day (``FLOWLAKE_BUCKETS``, read when the code location loads; size them so
#: one bucket's run fits a worker's memory, see SCALING.md).
N_BUCKETS = int(os.environ.get("FLOWLAKE_BUCKETS", "8"))

#: How each table names a row's underlying: (column, width of the padded root that starts
#: it, or None when the column is the underlying itself).
_ROOT_WIDTH = 6  # an OCC OSI symbol starts with its root padded to 6 characters
OWNERS: dict[str, tuple[str, int | None]] = {
    **{
        t: ("underlying", None)
        for t in ("option_trades", "option_prints", "flow_packets", "structures",
                  "classifier_hits", "alerts", "alert_outcomes", "packet_positioning", "gamma_exposure",
                  "contract_volume")
    },
    **{
        t: ("symbol", None)
        for t in ("equity_trades", "equity_quotes", "equity_prints", "equity_candles",
                  "dark_inferences")
    },
    **{
        t: ("contract", _ROOT_WIDTH)
        for t in ("option_quotes", "option_open_interest", "contract_baselines")
    },
}  # fmt: skip


def bucket_of(name: str) -> int:
    """Return the bucket of an underlying (stable across runs, machines and versions)."""
    return zlib.crc32(name.encode()) % N_BUCKETS


def bucket_members(lake: Lake, day: dt.date, bucket: int) -> list[str]:
    """Return the underlyings of ``bucket`` among those landed for ``day``."""
    names: set[str] = set()
    for table, column in (("option_trades", "underlying"), ("equity_trades", "symbol")):
        frame = scan(lake, table, dates=[day])
        if frame is not None:
            names |= set(frame.select(pl.col(column).unique()).collect().get_column(column))
    return sorted(n for n in names if bucket_of(n) == bucket)


def row_scope(table: str, members: list[str]) -> RowScope:
    """Return the rows of ``table`` that belong to the ``members`` underlyings."""
    column, width = OWNERS[table]
    return RowScope(column=column, values=tuple(members), width=width)
