"""Tail updates: a live micro-batch recomputes only the part of the day it can change.

A batch of new rows can only change derived rows at or after the earliest event time it
touches: its own earliest ``ts_event``, or the print that one of its cancels removes.
That time, per side of the market (options, equities), travels with the derived run as
run tags; each asset turns it into the start of its own tail through the rule's reach
(NBBO age, packet window, structure window, dark-pool window and cooldown, bar width),
reads only its inputs from there (plus the carried state: the open packet, the cooldown
in force, the prior packets of a baseline) and replaces only its rows from there. The
cost of a micro-batch therefore follows the batch, not the time of day, and the result
equals a whole-day build row for row (``tests/test_live.py``).

A run without these tags (EOD schedule, ``flowlake build``, backfills) builds whole days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import dagster as dg
import polars as pl

from adapters.source import Batch
from assets.cancels import cancel_targets
from assets.conditions import apply_policy, equity_policy, opra_policy
from lake import Lake
from lake.read import scan

#: Op tags of the assets on the print-to-alert path (option_prints, flow_packets, structures,
#: contract_baselines, classifier_hits, alerts). Dagster starts the ready step of highest
#: priority first, so a live tail commits its alerts before the tables no alert waits for
#: (candles, GEX, tide, positioning, accuracy, outcomes): 6 steps instead of 13 of 15.
ALERT_PATH = {"dagster/priority": "1"}

#: Run tags carrying the earliest event time (ns) a run's new batches can change.
OPTION_TAG = "flowlake/option_since_ns"
EQUITY_TAG = "flowlake/equity_since_ns"


@dataclass(frozen=True)
class Tail:
    """The earliest event time (ns since the epoch) new rows can change, per side.

    ``None`` on a side: nothing new there (its assets rebuild from the other side's tail,
    a few seconds, see :func:`plan_for`).
    """

    option_ns: int | None = None
    equity_ns: int | None = None

    def __or__(self, other: Tail) -> Tail:
        """Return the tail covering both (the earlier time per side)."""
        return Tail(
            _earliest(self.option_ns, other.option_ns), _earliest(self.equity_ns, other.equity_ns)
        )

    def tags(self) -> dict[str, str]:
        """Return the run tags carrying this tail (only the sides with new rows)."""
        pairs = ((OPTION_TAG, self.option_ns), (EQUITY_TAG, self.equity_ns))
        return {tag: str(ns) for tag, ns in pairs if ns is not None}

    def saved(self) -> dict[str, int | None] | None:
        """Return this tail as JSON-able state (None when empty), e.g. in a sensor cursor."""
        return (
            None if self == Tail() else {"option_ns": self.option_ns, "equity_ns": self.equity_ns}
        )

    @staticmethod
    def restored(saved: dict[str, int | None] | None) -> Tail:
        """Return the tail :meth:`saved` returned (empty for None)."""
        return Tail(**saved) if saved else Tail()

    @staticmethod
    def from_tags(tags: dict[str, str]) -> Tail | None:
        """Return the tail of a run's tags; None when the run builds whole days."""
        if OPTION_TAG not in tags and EQUITY_TAG not in tags:
            return None
        option, equity = tags.get(OPTION_TAG), tags.get(EQUITY_TAG)
        return Tail(int(option) if option else None, int(equity) if equity else None)


def _earliest(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def tail_of(context: dg.AssetExecutionContext) -> Tail | None:
    """Return the tail a run was requested for, or None for a whole-day build."""
    return Tail.from_tags(dict(context.run.tags))


@dataclass(frozen=True)
class Plan:
    """What one asset does in a run: the whole day, or the tail from ``since_ns``."""

    since_ns: int | None = None

    @property
    def whole_day(self) -> bool:
        """Return whether the whole day is (re)built."""
        return self.since_ns is None


def plan_for(context: dg.AssetExecutionContext, has_table: bool, sides: tuple[str, ...]) -> Plan:
    """Return the plan of an asset reading ``sides`` ("option", "equity") of the market.

    A live run whose output table does not exist yet builds the whole day so far. A run
    with nothing new on the asset's sides rebuilds from the other side's tail (a few
    seconds of the day), so its checks still run on what it wrote.
    """
    tail = tail_of(context)
    if tail is None or not has_table:
        return Plan()
    times = {"option": tail.option_ns, "equity": tail.equity_ns}
    own = [times[side] for side in sides if times[side] is not None]
    known = own or [t for t in times.values() if t is not None]
    return Plan(since_ns=min(known) if known else None)


#: Per side: the landing streams, the trades table, the instrument column, the policy.
SIDES = {
    "option": (("option_trades", "option_quotes"), "option_trades", "contract", opra_policy),
    "equity": (("equity_trades", "equity_quotes"), "equity_trades", "symbol", equity_policy),
}


def batch_tail(lake: Lake, day: dt.date, batch: Batch) -> Tail:
    """Return the tail of a batch just landed for ``day``.

    Call it after landing: a cancel's print may have landed in an earlier batch, and the
    landed table is where it is looked up (only the cancelled instruments are read).
    """
    since: dict[str, int | None] = {}
    for side, (streams, trades_table, instrument, policy) in SIDES.items():
        frames = [
            batch.streams[s] for s in streams if s in batch.streams and batch.streams[s].height
        ]
        earliest = min((int(f.get_column("ts_event").min()) for f in frames), default=None)
        trades = batch.streams.get(trades_table)
        if trades is not None and trades.height:
            cancels = apply_policy(trades, policy()).filter(pl.col("cancel"))
            landed = scan(lake, trades_table, dates=[day])
            if cancels.height and landed is not None:
                suspects = landed.join(
                    cancels.lazy().select(instrument).unique(), on=instrument, how="semi"
                )
                prints = apply_policy(suspects.collect(), policy()).lazy()
                targets = cancel_targets(cancels.lazy(), prints, instrument).collect()
                if targets.height:
                    earliest = _earliest(earliest, int(targets.get_column("ts_event").min()))
        since[side] = earliest
    return Tail(since["option"], since["equity"])


def held_until(
    stored: pl.LazyFrame, keys: list[str], ts: str, reach_ns: int, since_ns: int
) -> pl.LazyFrame:
    """Return, per ``keys``, the time before which a chain started before ``since_ns`` still
    holds: the last stored start in ``[since - reach, since)`` plus ``reach``.

    This is the carried state of a chain rule (an open packet, a cooldown in force): rows
    of the tail before that time belong to (or are suppressed by) the stored chain link.
    """
    return (
        stored.filter(pl.col(ts).is_between(since_ns - reach_ns, since_ns, closed="left"))
        .group_by(keys)
        .agg((pl.col(ts).max() + reach_ns).alias("_held_until"))
    )


def drop_held(rows: pl.LazyFrame, held: pl.LazyFrame, keys: list[str], ts: str) -> pl.LazyFrame:
    """Return ``rows`` without those still held by a stored chain link (see :func:`held_until`)."""
    return (
        rows.join(held, on=keys, how="left")
        .filter(pl.col("_held_until").is_null() | (pl.col(ts) >= pl.col("_held_until")))
        .drop("_held_until")
    )


def tail_inputs(
    trades: pl.LazyFrame, quotes: pl.LazyFrame, plan: Plan, quote_reach_ns: int
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Return the trades and quotes an enrichment tail reads: trades from the tail's
    start, quotes from one NBBO age before it (the oldest quote that can place them)."""
    if plan.since_ns is None:
        return trades, quotes
    return (
        trades.filter(pl.col("ts_event") >= plan.since_ns),
        quotes.filter(pl.col("ts_event") >= plan.since_ns - quote_reach_ns),
    )
