"""A peer for ``option_prints``: the same day's NBBO as-of join, placement, premium and write
as one DuckDB query, timed in the same run on the same landing data.

The peer does the core of rule 1 and rule 2 the way a competent SQL engineer would write
it, and no more: valid quotes only, the latest quote at or before each trade of the same
contract (``ASOF LEFT JOIN``), no quote older than the age limit, placement with the same
tolerance, premium, and the result written as lz4 Parquet. It skips what ``option_prints``
also does (condition flags, cancels, complete versus sampled quote books, sides, checks),
so ``option_prints / peer`` at or under 1.0 means flowlake's extra work costs nothing.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import duckdb

from assets.thresholds import load_thresholds
from lake import Lake
from lake.read import open_table

#: The peer's threads: the benchmark machine's cores, as the polars stages use.
THREADS = 2

QUERY = """
COPY (
    WITH quotes AS (
        SELECT contract, ts_event AS nbbo_ts, bid, ask
        FROM read_parquet($quotes)
        WHERE ask > 0 AND bid >= 0 AND bid <= ask
    ),
    matched AS (
        SELECT t.event_id, t.ts_event, t.contract, t.price, t.size, t.multiplier,
               CASE WHEN t.ts_event - q.nbbo_ts <= $max_age THEN q.nbbo_ts END AS nbbo_ts,
               CASE WHEN t.ts_event - q.nbbo_ts <= $max_age THEN q.bid END AS nbbo_bid,
               CASE WHEN t.ts_event - q.nbbo_ts <= $max_age THEN q.ask END AS nbbo_ask
        FROM read_parquet($trades) AS t
        ASOF LEFT JOIN quotes AS q
          ON t.contract = q.contract AND t.ts_event >= q.nbbo_ts
    ),
    placed AS (
        SELECT *,
               greatest($eps_min, (nbbo_ask - nbbo_bid) * $eps_frac) AS eps,
               abs(price - nbbo_ask) AS to_ask, abs(price - nbbo_bid) AS to_bid
        FROM matched
    )
    SELECT event_id, ts_event, contract, price, size, nbbo_ts, nbbo_bid, nbbo_ask,
           CASE
               WHEN nbbo_bid IS NULL OR nbbo_ask IS NULL THEN 'NONE'
               WHEN price > nbbo_ask + eps + 1e-9 THEN 'AA'
               WHEN price < nbbo_bid - eps - 1e-9 THEN 'BB'
               WHEN to_ask <= eps + 1e-9 AND to_bid <= eps + 1e-9 THEN
                   CASE WHEN to_ask < to_bid - 1e-9 THEN 'A'
                        WHEN to_bid < to_ask - 1e-9 THEN 'B' ELSE 'MID' END
               WHEN to_ask <= eps + 1e-9 THEN 'A'
               WHEN to_bid <= eps + 1e-9 THEN 'B'
               ELSE 'MID'
           END AS placement,
           price * size * multiplier AS premium
    FROM placed
) TO '{out}' (FORMAT parquet, COMPRESSION lz4)
"""


def day_files(lake: Lake, table: str, day: dt.date) -> list[str]:
    """Return the Parquet files of ``table``'s ``day`` (the Delta table's current version)."""
    dtable = open_table(lake, table)
    if dtable is None:
        raise FileNotFoundError(f"{table}: no such table in {lake.root}")
    return dtable.file_uris(file_pruning_predicate=[("date", "=", day.isoformat())])


def duckdb_option_prints(lake: Lake, work: Path, day: dt.date) -> dict[str, float]:
    """Run the peer on ``day`` and write ``work/peer/option_prints.parquet``; return its
    rows and the seconds of its query (reads, join, placement, premium and write)."""
    th = load_thresholds()
    out = work / "peer" / "option_prints.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    trades, quotes = day_files(lake, "option_trades", day), day_files(lake, "option_quotes", day)
    started = time.perf_counter()
    with duckdb.connect(config={"threads": THREADS}) as con:
        con.execute(
            QUERY.format(out=str(out).replace("'", "''")),
            {
                "trades": trades,
                "quotes": quotes,
                "max_age": int(th.nbbo.max_age_ms * 1_000_000),
                "eps_min": th.placement.eps_min,
                "eps_frac": th.placement.eps_spread_fraction,
            },
        )
        seconds = time.perf_counter() - started
        rows = con.execute("SELECT count(*) FROM read_parquet($p)", {"p": str(out)}).fetchone()
    return {"query_s": round(seconds, 3), "rows": int(rows[0]) if rows else 0}
