"""Generate one deterministic synthetic trading day for a set of underlyings.

Each underlying gets its own random stream seeded by ``(seed, symbol, date)``, so a day
is the same on every run and machine and adding an underlying leaves the others as
they were. Inside an underlying every step is a numpy array operation; the Python loop
runs over underlyings and planted patterns, never over prints.

Ground truth: planted patterns (sweeps, blocks, spikes, 0DTE punches, bursts, repeat
hitters, structures, near-misses one gate each, hard negatives, dark blocks, stealth
accumulation and distribution) are listed in ``labels`` with the event_ids that make them
up and the hits the default thresholds must produce on them (``expected``, worked out in
:mod:`adapters.synthetic.expect` from what was planted). Each pattern trades contracts of
its own in a slot of the session of its own, and the background stays under every floor,
so that nothing but the planted values decides what the rules find.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from numpy.typing import ArrayLike

from adapters.calendar import session_bounds, to_ns
from adapters.osi import osi_expr
from adapters.schema import RAW_SCHEMAS
from adapters.synthetic.expect import (
    Floors,
    PlantedPacket,
    dark_hits,
    packet_hits,
    repeat_hits,
)
from adapters.synthetic.pricing import YEAR_SECONDS, black_scholes, smile_vol
from adapters.synthetic.universe import INDEX_ETFS, base_price, symbol_key

SOURCE = "synthetic"
NS = 1_000_000_000
#: Real OPRA participant codes (NYSE American, BOX, Cboe, EDGX, GEMX, ISE, MRX, MIAX,
#: NYSE Arca, Pearl, Nasdaq Options, BX Options, Emerald, C2, PHLX, BZX).
#: Sign of the underlying's drift after a planted pattern of each direction.
DRIFT_SIGN = {"bullish": 1.0, "bearish": -1.0}
OPRA_EXCHANGES = np.array(list("ABCEHIJMNPQTUWXZ"))
#: Lit equity venues (NYSE, Arca, Nasdaq, Cboe BZX/BYX/EDGA/EDGX, IEX, MEMX, ...).
LIT_VENUES = np.array(["N", "P", "Q", "Z", "Y", "J", "K", "V", "U", "A", "X"])
OFF_EXCHANGE = "D"

LABEL_SCHEMA: dict[str, pl.DataType] = {
    "label_id": pl.String(),
    "kind": pl.String(),
    "stream": pl.String(),
    "underlying": pl.String(),
    "contracts": pl.List(pl.String()),
    "direction": pl.String(),
    "start_ts": pl.Int64(),
    "end_ts": pl.Int64(),
    "event_ids": pl.List(pl.String()),
    # The classifier and dark-pool hits the default thresholds must produce on it.
    "expected": pl.List(pl.String()),
    # "signal:threshold" when it is planted just past that one gate, else "".
    "near_miss": pl.String(),
}
#: Planted patterns of one underlying take distinct slots of its session.
N_SLOTS = 40
#: A planted off-exchange print at the mid gets a quote at least this wide ($): in a
#: one-cent market a mid print is half a cent from each side, too near to tell apart.
MID_QUOTE_SPREAD = 0.04
#: The background stays under the floors: no unplanted option print carries more premium
#: than this, and no unplanted off-exchange print at the mid more than this share of the
#: dark block's notional floor (or its share floor).
BACKGROUND_MAX_PREMIUM = 4000.0
BACKGROUND_BLOCK_SHARE = 0.75
#: Planted orders trade contracts worth at least this at the open ($), rolls twice it.
MIN_PLANTED_VALUE = 0.25
#: No background print within this of a planted one is large enough to be a structure leg.
LEG_CLEAR_NS = 2 * NS
#: Suffix of the label of a contract's planted quiet history (its baseline, not a pattern).
HISTORY = "/history"
LABEL_DTYPE = "<U64"


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate.

    Attributes
    ----------
    date
        An XNYS session.
    seed
        Master seed; the same spec gives byte-identical tables.
    underlyings
        Symbols from :func:`adapters.synthetic.universe.universe`.
    minutes
        Session length from the open (None: the whole session, half days included).
    scale
        Multiplies print and quote rates (1.0 is about 40 option prints per minute for an
        index ETF and 4 for a single stock).
    """

    date: dt.date
    seed: int = 7
    underlyings: tuple[str, ...] = ("SPY", "QQQ", "IWM")
    minutes: int | None = None
    scale: float = 1.0
    #: Equity print rate multiplier when it should differ from ``scale`` (benchmarks size
    #: option and equity workloads apart); None: ``scale``.
    equity_scale: float | None = None
    #: Log-price move of the underlying after each planted directional option pattern, in
    #: the pattern's direction (0.005: half a percent), reached over ``drift_ramp_s``.
    drift: float = 0.005
    drift_ramp_s: float = 300.0


@dataclass(frozen=True)
class SyntheticDay:
    """One generated day: the five raw streams and the planted-pattern labels."""

    tables: dict[str, pl.DataFrame]
    labels: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=LABEL_SCHEMA))


def session_window(spec: SyntheticSpec) -> tuple[int, int]:
    """Return the generated session's [open, end) in ns: the open plus ``minutes`` at most."""
    open_, close = session_bounds(spec.date)
    start, end = to_ns(open_), to_ns(close)
    if spec.minutes is not None:
        end = min(end, start + spec.minutes * 60 * NS)
    return start, end


def _expiries(day: dt.date, is_etf: bool) -> list[dt.date]:
    """Return listed expiries: 0DTE and dailies for index ETFs, weeklies, monthlies, a quarterly."""
    fridays = [day + dt.timedelta(days=(4 - day.weekday()) % 7 + 7 * k) for k in range(10)]
    third_fridays = []
    for month_offset in range(6):
        year = day.year + (day.month - 1 + month_offset) // 12
        month = (day.month - 1 + month_offset) % 12 + 1
        first = dt.date(year, month, 1)
        third = first + dt.timedelta(days=(4 - first.weekday()) % 7 + 14)
        if third >= day:
            third_fridays.append(third)
    quarterly = next(d for d in third_fridays if d.month in (3, 6, 9, 12))
    chosen = {*fridays[:2], *third_fridays[:2], quarterly}
    if is_etf:
        weekdays = [day + dt.timedelta(days=k) for k in range(7)]
        chosen |= set([d for d in weekdays if d.weekday() < 5][:3])
    return sorted(d for d in chosen if d >= day)


def _strike_step(price: float, is_etf: bool) -> float:
    if is_etf:
        return 1.0
    if price < 25:
        return 0.5
    if price < 100:
        return 1.0
    if price < 250:
        return 2.5
    return 5.0


def _tick(price: np.ndarray) -> np.ndarray:
    """Return the option tick: a penny below $3, a nickel above (penny-pilot rule)."""
    return np.where(price < 3.0, 0.01, 0.05)


@dataclass
class _Prints:
    """Trade intents before pricing: who trades what, when, where, and which side."""

    contract: list[np.ndarray] = field(default_factory=list)
    ts: list[np.ndarray] = field(default_factory=list)
    size: list[np.ndarray] = field(default_factory=list)
    exchange: list[np.ndarray] = field(default_factory=list)
    placement: list[np.ndarray] = field(default_factory=list)  # 0 BB,1 B,2 MID,3 A,4 AA
    conditions: list[np.ndarray] = field(default_factory=list)
    label: list[np.ndarray] = field(default_factory=list)
    ref: list[np.ndarray] = field(default_factory=list)  # index of the cancelled print, -1
    target: list[np.ndarray] = field(default_factory=list)  # premium to size to (NaN: none)
    least: list[np.ndarray] = field(default_factory=list)  # ... but at least this many
    prequote: list[np.ndarray] = field(default_factory=list)  # a quote 1-900 ms before it

    def add(
        self,
        contract: ArrayLike,
        ts: ArrayLike,
        size: ArrayLike,
        exchange: ArrayLike,
        placement: ArrayLike,
        conditions: tuple[str, ...] | np.ndarray,
        label: str = "",
        ref: int = -1,
        *,
        target: float = np.nan,
        least: int = 1,
        prequote: bool = True,
    ) -> None:
        """Append prints; scalars broadcast over ``ts``."""
        ts = np.atleast_1d(np.asarray(ts))
        n = len(ts)
        self.contract.append(np.broadcast_to(np.asarray(contract), n).astype(np.int64))
        self.ts.append(np.asarray(ts, dtype=np.int64))
        self.size.append(np.broadcast_to(np.asarray(size), n).astype(np.int64))
        self.exchange.append(np.broadcast_to(np.asarray(exchange), n).astype("<U2"))
        self.placement.append(np.broadcast_to(np.asarray(placement), n).astype(np.int8))
        self.conditions.append(np.broadcast_to(np.asarray(conditions, dtype=object), n))
        self.label.append(np.broadcast_to(np.asarray(label), n).astype(LABEL_DTYPE))
        self.ref.append(np.broadcast_to(np.asarray(ref), n).astype(np.int64))
        self.target.append(np.full(n, target, dtype=np.float64))
        self.least.append(np.full(n, least, dtype=np.int64))
        self.prequote.append(np.full(n, prequote, dtype=bool))

    def count(self) -> int:
        return int(sum(len(t) for t in self.ts))

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            name: np.concatenate(getattr(self, name))
            for name in (
                "contract",
                "ts",
                "size",
                "exchange",
                "placement",
                "conditions",
                "label",
                "ref",
                "target",
                "least",
                "prequote",
            )
        }


def _drifted(
    path: np.ndarray, start: int, drifts: list[tuple[int, float]], drift: float, ramp_s: float
) -> np.ndarray:
    """Return the per-second path moved by each pattern's drift, rounded to 1/10000.

    After a pattern starting at ``t0`` with sign ``s`` the log price moves by ``s * drift``,
    linearly over ``ramp_s`` seconds, and stays moved for the rest of the day.
    """
    elapsed = np.arange(len(path), dtype=np.float64)
    shift = np.zeros(len(path))
    for t0, sign in drifts:  # a handful of patterns per underlying, not rows
        shift += sign * drift * np.clip((elapsed - (t0 - start) / NS) / ramp_s, 0.0, 1.0)
    return np.round(path * np.exp(shift), 4)


def _intraday_shape(frac: np.ndarray) -> np.ndarray:
    """Return the U-shaped intraday activity profile (busy open and close), mean about 1."""
    return (0.55 + 1.8 * (frac - 0.5) ** 2) / 0.7


def _as_of(
    keys_sorted: np.ndarray, probe: np.ndarray, owner_sorted: np.ndarray, probe_owner: np.ndarray
) -> np.ndarray:
    """Return the index of the latest sorted key <= probe with the same owner, or -1."""
    idx = np.searchsorted(keys_sorted, probe, side="right") - 1
    ok = idx >= 0
    ok[ok] = owner_sorted[idx[ok]] == probe_owner[ok]
    return np.where(ok, idx, -1)


def _underlying_day(
    symbol: str, spec: SyntheticSpec, start: int, end: int
) -> tuple[dict[str, pl.DataFrame], list[dict]]:
    rng = np.random.default_rng([spec.seed, symbol_key(symbol), spec.date.toordinal()])
    is_etf = symbol in INDEX_ETFS
    n_sec = max(1, (end - start) // NS)
    frac_full = 23_400.0
    secs = np.arange(n_sec)
    shape = _intraday_shape(secs / frac_full)

    # --- underlying price path: per-second GBM whose volatility follows the intraday U.
    daily_vol = 0.012 if is_etf else 0.02 + 0.015 * (symbol_key(symbol) % 7) / 7
    sig = daily_vol / np.sqrt(frac_full) * np.sqrt(shape)
    path = base_price(symbol) * np.exp(np.cumsum(rng.normal(0.0, sig) - 0.5 * sig * sig))

    # --- equity quotes: one NBBO update per second at a random point inside it (priced
    # from the path once the planted patterns' drift is known, below).
    eq_q_ts = start + secs * NS + rng.integers(0, NS // 2, n_sec)
    eq_bid_size = rng.integers(1, 30, n_sec) * 100
    eq_ask_size = rng.integers(1, 30, n_sec) * 100

    # --- equity trades: Poisson per second, U-shaped; a third off-exchange (venue D).
    eq_rate = (
        (60.0 if is_etf else 10.0)
        * (spec.scale if spec.equity_scale is None else spec.equity_scale)
        / 60.0
    )
    counts = rng.poisson(eq_rate * shape)
    t_sec = np.repeat(secs, counts)
    n_eq = len(t_sec)
    eq_ts = start + t_sec * NS + rng.integers(0, NS, n_eq)
    off = rng.random(n_eq) < 0.35
    venue = np.where(off, OFF_EXCHANGE, LIT_VENUES[rng.integers(0, len(LIT_VENUES), n_eq)])
    odd = rng.random(n_eq) < 0.25
    eq_size = np.where(
        odd,
        rng.integers(1, 100, n_eq),
        np.maximum(100, (np.exp(rng.normal(4.7, 0.6, n_eq)) // 100) * 100),
    ).astype(np.int64)
    eq_place = np.where(
        off, rng.choice([1, 2, 3], n_eq, p=[0.3, 0.4, 0.3]), rng.choice([1, 3], n_eq)
    )
    # Off-exchange (TRF) prints now and then carry average-price (W) or derivatively priced
    # (4) conditions: real prints that must not set OHLC or feed dark-pool inference.
    trf_special = rng.choice(np.array(["@", "W", "4"]), n_eq, p=[0.97, 0.02, 0.01])
    eq_cond = np.where(odd, "I", np.where(off, trf_special, "@")).astype(object)
    eq_labels = np.full(n_eq, "", dtype=LABEL_DTYPE)
    labels: list[dict] = []
    floors = Floors()
    span = end - start
    planting = span > 10 * 60 * NS
    # Each planted pattern takes a slot of its own in the session, so no two patterns of an
    # underlying share a window (structure grouping, dark-pool windows and cooldowns are
    # per underlying).
    slot_order = rng.permutation(N_SLOTS)
    slot_next = iter(range(N_SLOTS))

    def slot() -> int:
        k = int(slot_order[next(slot_next)])
        return start + int(span * (0.05 + 0.9 * (k + rng.uniform(0.1, 0.6)) / N_SLOTS))

    def add_label(
        lid: str, kind: str, stream: str, contracts: list[int], direction: str, near_miss: str
    ) -> None:
        labels.append(
            {
                "label_id": lid,
                "kind": kind,
                "stream": stream,
                "underlying": symbol,
                "contracts": contracts,
                "direction": direction,
                "near_miss": near_miss,
            }
        )

    # Planted off-exchange patterns. Each print lands 50-300 ms after a regular quote (one
    # a second, in the first half of it), so its quote is young; a pattern that needs a
    # quote of its own (a block at the mid wants a spread of a few cents, the quote-gate
    # near-miss a wide one) gets it 20 ms before its first print.
    eq_extra: list[tuple[int, float, float]] = []  # (ts, least spread $, least spread/mid)
    dark_kind: dict[str, str] = {}  # label -> the inference its prints are measured for
    notional_capped: list[str] = []

    def plant_equity(
        kind: str,
        sizes: np.ndarray,
        place: int,
        gap_ns: int,
        direction: str,
        *,
        measured_as: str,
        near_miss: str = "",
        quote: tuple[float, float] | None = None,
    ) -> str:
        nonlocal eq_ts, venue, eq_size, eq_place, eq_cond, eq_labels
        lid = f"{symbol}-{kind}-{len(labels)}"
        k = len(sizes)
        want = slot() + np.arange(k) * gap_ns
        qi = np.clip(np.searchsorted(eq_q_ts, want, side="right") - 1, 0, n_sec - 1)
        times = eq_q_ts[qi] + rng.integers(50_000_000, 300_000_000, k)
        if quote is not None:
            eq_extra.append((int(times[0]) - 20_000_000, *quote))
        eq_ts = np.concatenate([eq_ts, times])
        venue = np.concatenate([venue, np.full(k, OFF_EXCHANGE)])
        eq_size = np.concatenate([eq_size, sizes.astype(np.int64)])
        eq_place = np.concatenate([eq_place, np.full(k, place)])
        eq_cond = np.concatenate([eq_cond, np.full(k, "@", dtype=object)])
        eq_labels = np.concatenate([eq_labels, np.full(k, lid, dtype=LABEL_DTYPE)])
        add_label(lid, kind, "equity_trades", [], direction, near_miss)
        dark_kind[lid] = measured_as
        return lid

    if planting:
        mid_quote = (MID_QUOTE_SPREAD, 0.0)
        plant_equity(
            "absorbed_block",
            np.array([int(rng.integers(25, 60)) * 100]),
            2,
            0,
            "neutral",
            measured_as="absorbed_block",
            quote=mid_quote,
        )
        plant_equity(
            "stealth_accumulation",
            rng.integers(8, 15, 5) * 100,
            3,
            6 * NS,
            "bullish",
            measured_as="stealth_accumulation",
        )
        plant_equity(
            "distribution",
            rng.integers(8, 15, 5) * 100,
            1,
            7 * NS,
            "bearish",
            measured_as="distribution",
        )
        # Near-misses: a block one share under the floor (and under the notional floor),
        # and a block-sized print whose quote is just wider than the quality gate.
        notional_capped.append(
            plant_equity(
                "near_miss_dark_size",
                np.array([floors.absorbed_min_shares - 1]),
                2,
                0,
                "neutral",
                measured_as="absorbed_block",
                near_miss="absorbed_block:absorbed_min_shares",
                quote=mid_quote,
            )
        )
        plant_equity(
            "near_miss_dark_quote", np.array([int(rng.integers(25, 60)) * 100]), 2, 0,
            "neutral", measured_as="absorbed_block",
            near_miss="absorbed_block:max_spread_to_mid",
            quote=(0.0, floors.dark_max_spread_to_mid * 1.15),
        )  # fmt: skip

    order = np.argsort(eq_ts, kind="stable")
    eq_ts, venue, eq_size, eq_place, eq_cond, eq_labels = (
        a[order] for a in (eq_ts, venue, eq_size, eq_place, eq_cond, eq_labels)
    )

    def equity_frames(path: np.ndarray) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Return the equity quotes and trades priced off the (drifted) path.

        The trades carry ``_qspread`` (spread / mid) and ``_qage_ms`` of their quote for
        the labels' expectations (the canonical schema drops them).
        """
        spread = np.maximum(0.01, np.round(path * 0.0003, 2))
        q_ts, q_spread = eq_q_ts, spread
        q_bid_size, q_ask_size = eq_bid_size, eq_ask_size
        if eq_extra:
            x_ts = np.array([t for t, _, _ in eq_extra], dtype=np.int64)
            sec = np.clip((x_ts - start) // NS, 0, n_sec - 1)
            least = np.array([s for _, s, _ in eq_extra])
            frac = np.array([f for _, _, f in eq_extra])
            wide = np.where(frac > 0, np.ceil(frac * path[sec] * 100) / 100 + 0.01, 0.0)
            x_spread = np.maximum(np.maximum(spread[sec], least), wide)
            order_q = np.argsort(np.concatenate([eq_q_ts, x_ts]), kind="stable")
            q_ts = np.concatenate([eq_q_ts, x_ts])[order_q]
            q_spread = np.concatenate([spread, x_spread])[order_q]
            q_sec = np.concatenate([np.arange(n_sec), sec])[order_q]
            hundred = np.full(len(x_ts), 100)
            q_bid_size = np.concatenate([eq_bid_size, hundred])[order_q]
            q_ask_size = np.concatenate([eq_ask_size, hundred])[order_q]
        else:
            q_sec = np.arange(n_sec)
        eq_bid = np.floor((path[q_sec] - q_spread / 2) * 100) / 100
        eq_ask = np.round(eq_bid + q_spread, 2)
        quotes = pl.DataFrame(
            {
                "ts_event": q_ts,
                "symbol": symbol,
                "bid": eq_bid,
                "ask": eq_ask,
                "bid_size": q_bid_size,
                "ask_size": q_ask_size,
            }
        )
        qi = np.searchsorted(q_ts, eq_ts, side="right") - 1
        has_q = qi >= 0
        qi_safe = np.maximum(qi, 0)
        bid_at, ask_at = eq_bid[qi_safe], eq_ask[qi_safe]
        mid_at = np.round((bid_at + ask_at) / 2, 4)
        eq_price = np.select(
            [eq_place == 1, eq_place == 2, eq_place == 3], [bid_at, mid_at, ask_at], ask_at
        )
        eq_price = np.where(has_q, eq_price, path[np.minimum((eq_ts - start) // NS, n_sec - 1)])
        # The background stays under the dark-block floors: no unplanted print at the mid
        # is a block by shares or by notional.
        cap = np.floor(BACKGROUND_BLOCK_SHARE * floors.block_min_notional / eq_price)
        cap = np.minimum(cap, floors.absorbed_min_shares - 1)
        capped = (eq_labels == "") & (venue == OFF_EXCHANGE) & (eq_place == 2)
        capped |= np.isin(eq_labels, notional_capped)
        size = np.where(capped, np.maximum(1, np.minimum(eq_size, cap)).astype(np.int64), eq_size)
        trades = pl.DataFrame(
            {
                "ts_event": eq_ts,
                "symbol": symbol,
                "price": eq_price,
                "size": size,
                "exchange": venue,
                # One condition a print, as a one-element list built by polars (a Python
                # list per row cost more than the rest of the equity frames).
                "conditions": pl.Series(eq_cond.astype(str))
                .reshape((len(eq_cond), 1))
                .arr.to_list(),
                "_label": eq_labels,
                "_place": eq_place,
                "_qspread": np.where(has_q, (ask_at - bid_at) / ((ask_at + bid_at) / 2), np.inf),
                "_qage_ms": np.where(has_q, (eq_ts - q_ts[qi_safe]) / 1e6, np.inf),
            }
        )
        return quotes, trades

    # --- option chain around spot.
    spot0 = float(path[0])
    step = _strike_step(spot0, is_etf)
    lo, hi = spot0 * 0.92, spot0 * 1.08
    strikes = np.arange(np.ceil(lo / step) * step, hi + step / 2, step)
    expiries = _expiries(spec.date, is_etf)
    exp_grid, strike_grid, call_grid = (
        a.ravel()
        for a in np.meshgrid(np.arange(len(expiries)), strikes, [True, False], indexing="ij")
    )
    n_contracts = len(exp_grid)
    exp_close = np.array(
        [
            to_ns(dt.datetime.combine(e, dt.time(16, 0), tzinfo=dt.UTC)) + 4 * 3600 * NS
            for e in expiries
        ]
    )
    moneyness = np.abs(np.log(strike_grid / spot0))
    dte = np.array([(e - spec.date).days for e in expiries])[exp_grid]
    weight = np.exp(-moneyness / 0.02) * np.exp(-dte / 10.0) + 1e-4
    weight /= weight.sum()
    base_vol = 0.16 if is_etf else 0.28

    opt_rate = (40.0 if is_etf else 4.0) * spec.scale / 60.0

    # --- option trades: background flow, then planted patterns.
    prints = _Prints()
    counts = rng.poisson(opt_rate * shape)
    o_sec = np.repeat(secs, counts)
    n_o = len(o_sec)
    if n_o:
        regular_cond = rng.choice(
            # regular, electronic, auction, multi-leg, late report (OPRA letter codes)
            np.array([(), ("I",), ("a",), ("f",), ("D",)], dtype=object),
            n_o,
            p=[0.445, 0.47, 0.03, 0.05, 0.005],
        )
        prints.add(
            contract=rng.choice(n_contracts, n_o, p=weight),
            ts=start + o_sec * NS + rng.integers(0, NS, n_o),
            size=np.maximum(1, np.exp(rng.normal(1.6, 1.1, n_o))).astype(np.int64),
            exchange=OPRA_EXCHANGES[rng.integers(0, len(OPRA_EXCHANGES), n_o)],
            placement=rng.choice([0, 1, 2, 3, 4], n_o, p=[0.02, 0.36, 0.24, 0.36, 0.02]),
            conditions=regular_cond,
        )

    atm = np.argsort(moneyness + dte * 0.01, kind="stable")
    # Patterns take the chain's quiet contracts (within 5% of the money, least traded
    # first; then the rest nearest the money): reserving them costs the background little
    # of its flow.
    near_money = np.flatnonzero(moneyness <= 0.05)
    quiet = np.concatenate(
        [
            near_money[np.lexsort((moneyness[near_money], weight[near_money]))],
            atm[moneyness[atm] > 0.05],
        ]
    )
    drifts: list[tuple[int, float]] = []  # (start, sign) of each directional option pattern
    # A planted pattern's contracts are its own: no background print and no other pattern
    # touches them, so the contract's baseline is what the pattern planted (nothing, or a
    # quiet history) and its expected hits follow from the planted values alone.
    used: set[int] = set()
    expectations: dict[str, Callable[[dict[str, pl.DataFrame]], set[str]]] = {}
    quiet_quotes: list[tuple[int, int, int]] = []  # (contract, from, to): no quote inside
    planted_quotes: list[tuple[int, int]] = []  # (contract, ts): a quote at the theo price

    def theo_on(p: np.ndarray, contract: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Return the contracts' fair values at ``ts`` with the underlying on path ``p``."""
        spot = p[np.clip((ts - start) // NS, 0, n_sec - 1)]
        t_years = np.maximum(exp_close[exp_grid[contract]] - ts, 60 * NS) / NS / YEAR_SECONDS
        vol = smile_vol(np.full(len(ts), base_vol), spot, strike_grid[contract], t_years)
        return black_scholes(spot, strike_grid[contract], t_years, vol, call_grid[contract])

    # Fair values at the open: planted orders keep off options of a few cents, whose
    # one-tick markets make a bid and an ask print look alike.
    open_value = theo_on(path, np.arange(n_contracts), np.full(n_contracts, start))

    def pick(
        right_call: bool,
        k: int = 0,
        exp: int | None = None,
        min_dte: int = 1,
        where: Callable[[int], bool] | None = None,
        least_value: float = MIN_PLANTED_VALUE,
    ) -> int | None:
        """Return the k-th unused quiet contract that fits, and reserve it."""
        for c in quiet:  # the chain (hundreds of contracts), once per planted leg
            c = int(c)
            if (
                call_grid[c] == right_call
                and open_value[c] >= least_value
                and c not in used
                and (exp is None or exp_grid[c] == exp)
                and dte[c] >= min_dte
                and (where is None or where(c))
            ):
                if k == 0:
                    used.add(c)
                    return c
                k -= 1
        return None

    def order(
        lid: str,
        contract: int | None,
        times: np.ndarray,
        placements: ArrayLike,
        exchanges: ArrayLike,
        *,
        size: ArrayLike = 1,
        target: float = np.nan,
        least: int = 1,
        conditions: tuple[str, ...] = ("I",),
        prequote: bool = True,
    ) -> None:
        """Add one planted order's prints. With ``target``, each print is sized after
        pricing to its share of that premium, at least ``least`` contracts. A small chain
        may have no contract left for it (``contract`` None): then nothing is planted, and
        its label is dropped."""
        if contract is None:
            return
        n = len(times)
        prints.add(
            contract, times, size, exchanges, placements, conditions, lid,
            target=target / n, least=least, prequote=prequote,
        )  # fmt: skip

    def expect_packet(lid: str, contract: int | None, history: str | None = None) -> None:
        """Expect what one packet of ``lid``'s prints must fire (the contract's planted
        history, if any, is its baseline)."""

        def expected(rows: dict[str, pl.DataFrame]) -> set[str]:
            priors = None if history is None else rows[history]
            packet = _planted_packet(rows[lid])
            return packet_hits(
                packet,
                floors,
                prior_premiums=None if priors is None else _premiums(priors),
                prior_sizes=None if priors is None else priors["size"].to_numpy(),
                strike_distance=_strike_distance(rows[lid], contract, expiries, exp_grid,
                                                 strike_grid, spec.date, rows["_spot"]),
            )  # fmt: skip

        expectations[lid] = expected

    def sweep_like(
        kind: str,
        right_call: bool,
        placements: list[int],
        premium: float,
        direction: str,
        near_miss: str = "",
        prequote: bool = True,
    ) -> tuple[str, int | None, int]:
        """Plant an ISO order over len(placements) exchanges, 60 ms apart."""
        lid = f"{symbol}-{kind}-{len(labels)}"
        c = pick(right_call, int(rng.integers(0, 2)))
        n = len(placements)
        t0 = slot()
        times = t0 + np.arange(n) * 60_000_000 + rng.integers(0, 15_000_000, n)
        order(lid, c, times, placements, rng.permutation(OPRA_EXCHANGES)[:n], target=premium,
              conditions=("S",), prequote=prequote)  # fmt: skip
        if direction in DRIFT_SIGN:
            drifts.append((t0, DRIFT_SIGN[direction]))
        add_label(lid, kind, "option_trades", [c], direction, near_miss)
        expect_packet(lid, c)
        return lid, c, t0

    def structure(
        kind: str,
        legs: list[tuple[int | None, int, int]],
        direction: str,
        roll: bool = False,
        conditions: tuple[str, ...] = ("I",),
    ) -> None:
        """Plant one multi-leg order: legs of (contract, size, placement) within 100 ms."""
        if any(c is None for c, _, _ in legs):
            return
        lid = f"{symbol}-{kind}-{len(labels)}"
        t0 = slot()
        for c, size, place in legs:
            order(lid, c, np.array([t0 + int(rng.integers(0, 100_000_000))]), place,
                  OPRA_EXCHANGES[rng.integers(0, 16, 1)], size=size, conditions=conditions)  # fmt: skip
        add_label(lid, kind, "option_trades", [c for c, _, _ in legs], direction, "")

        def expected(rows: dict[str, pl.DataFrame]) -> set[str]:
            if not roll:
                return set()
            packet = _planted_packet(rows[lid])
            covered = packet.placed.mean() >= floors.min_coverage
            return {"roll"} if covered and packet.premium >= floors.roll_min_premium else set()

        expectations[lid] = expected

    def quiet_history(lid: str, contract: int | None, t_end: int, sizes: np.ndarray) -> str:
        """Plant a contract's quiet history before ``t_end``: one order a minute (closer
        when the session has not run that long), bought at the ask."""
        k = len(sizes)
        gap = min(60 * NS, (t_end - start) // (k + 1))
        times = t_end - (k - np.arange(k)) * gap
        name = f"{lid}{HISTORY}"
        if contract is None:
            return name
        prints.add(contract, times, sizes, OPRA_EXCHANGES[rng.integers(0, 16, k)], 3, ("I",), name)
        return name

    exp_zero = [i for i, e in enumerate(expiries) if e == spec.date]
    if planting:
        # Sweeps: ISO prints over several exchanges within a few hundred ms.
        for right_call, placement, direction in (
            (True, 3, "bullish"), (False, 3, "bearish"), (True, 1, "bearish"),
        ):  # fmt: skip
            n = int(rng.integers(3, 7))
            sweep_like("sweep", right_call, [placement] * n, rng.uniform(60e3, 250e3), direction)
        # A block: one large put sold at the bid.
        lid = f"{symbol}-block-{len(labels)}"
        c = pick(False, 0)
        t0 = slot()
        order(lid, c, np.array([t0]), 1, ["C"], target=rng.uniform(30e3, 150e3))
        drifts.append((t0, DRIFT_SIGN["bullish"]))
        add_label(lid, "block", "option_trades", [c], "bullish", "")
        expect_packet(lid, c)
        # A spike: a contract with a quiet history (14 small orders a minute apart), then
        # one print far above its baseline premium and size.
        lid = f"{symbol}-spike-{len(labels)}"
        c = pick(False, 0)
        t0 = slot()
        history = quiet_history(lid, c, t0, rng.integers(2, 6, 14))
        order(lid, c, np.array([t0]), 3, ["C"], target=rng.uniform(40e3, 150e3), least=500)
        drifts.append((t0, DRIFT_SIGN["bearish"]))
        add_label(lid, "spike", "option_trades", [c], "bearish", "")
        expect_packet(lid, c, history)
        # Its near-miss: a history of 100 and 390 lots (mean 245, sd 145), then an order
        # 1.9 sd above it: every floor cleared, the size z just under its gate.
        lid = f"{symbol}-near_miss_spike-{len(labels)}"
        c = pick(True, 0)
        t0 = slot()
        sizes = np.tile([100, 390], 7)
        history = quiet_history(lid, c, t0, sizes)
        size = int(sizes.mean() + 0.95 * floors.spike_min_size_z * sizes.std())
        order(lid, c, np.array([t0]), 3, ["C"], size=size)
        drifts.append((t0, DRIFT_SIGN["bullish"]))
        add_label(lid, "near_miss_spike", "option_trades", [c], "bullish", "spike:min_size_z")
        expect_packet(lid, c, history)
        # A burst: one buyer lifting the same call's offer on one exchange, eight times
        # about 10 ms apart (a split packet, never a sweep); its near-miss has five.
        for kind, n, premium, near_miss, right_call, direction in (
            ("burst", 8, rng.uniform(15e3, 60e3), "", True, "bullish"),
            ("near_miss_burst", 5, rng.uniform(12e3, 30e3), "burst:min_prints", False, "bearish"),
        ):
            lid = f"{symbol}-{kind}-{len(labels)}"
            c = pick(right_call, 0)
            t0 = slot()
            times = t0 + np.arange(n) * 10_000_000 + rng.integers(0, 2_500_000, n)
            order(lid, c, times, 3, np.array(["X"] * n), target=premium)
            drifts.append((t0, DRIFT_SIGN[direction]))
            add_label(lid, kind, "option_trades", [c], direction, near_miss)
            expect_packet(lid, c)
        # A repeat hitter: the same call bought four times a minute or so apart, orders of
        # similar size; its near-miss spaces three such orders over more than the window.
        for kind, n, gap_s, near_miss, right_call, direction in (
            ("repeat_hitter", 4, (50, 80), "", True, "bullish"),
            (
                "near_miss_repeat_hitter",
                3,
                (170, 185),
                "repeat_hitter:window_sec",
                False,
                "bearish",
            ),
        ):
            lid = f"{symbol}-{kind}-{len(labels)}"
            c = pick(right_call, 0)
            t0 = slot()
            times = t0 + np.r_[0, np.cumsum(rng.integers(*gap_s, n - 1))] * NS
            each = rng.uniform(9e3, 14e3)
            for t in times:  # the orders of one pattern
                order(lid, c, np.array([t]), 3, OPRA_EXCHANGES[rng.integers(0, 16, 1)],
                      target=each * rng.uniform(0.85, 1.15),
                      least=floors.repeat_min_order_size + 5)  # fmt: skip
            drifts.append((t0, DRIFT_SIGN[direction]))
            add_label(lid, kind, "option_trades", [c], direction, near_miss)

            def expected(rows: dict[str, pl.DataFrame], lid: str = lid) -> set[str]:
                orders = [_planted_packet(r) for r in rows[lid].sort("ts_event").iter_slices(1)]
                hits = repeat_hits(orders, floors)
                for packet in orders:  # each order is a packet of its own
                    hits |= packet_hits(packet, floors)
                return hits

            expectations[lid] = expected
        # Structures, named from their legs' sides (rule 6).
        # Structures spread over the expiries after today's, two to an expiry, so a
        # small chain has strikes enough for each.
        after_today = sorted(
            (i for i, e in enumerate(expiries) if e > spec.date), key=lambda i: expiries[i]
        )
        exp1 = after_today[0]
        exp2 = after_today[1 % len(after_today)]
        exp3 = after_today[2 % len(after_today)]
        # The chain is laid out (expiry, strike, call then put): a call's put is the next.
        call = pick(
            True,
            0,
            exp1,
            where=lambda c: c + 1 not in used and open_value[c + 1] >= MIN_PLANTED_VALUE,
        )
        put = pick(False, 0, exp1, where=lambda p: call is not None and p == call + 1)
        structure("long_straddle", [(call, 200, 3), (put, 200, 3)], "neutral")
        lo_call = pick(True, 0, exp1)
        hi_call = pick(
            True,
            0,
            exp1,
            where=lambda c: lo_call is not None and strike_grid[c] > strike_grid[lo_call],
        )
        structure("debit_vertical", [(lo_call, 150, 3), (hi_call, 150, 1)], "bullish")
        lo_m = pick(True, 0, exp2)
        hi_m = pick(
            True, 0, exp2, where=lambda c: lo_m is not None and strike_grid[c] > strike_grid[lo_m]
        )
        # Hard negative: a mid-priced exchange-reported multi-leg package (complex).
        structure("multileg_package", [(lo_m, 300, 2), (hi_m, 300, 2)], "neutral",
                  conditions=("f",))  # fmt: skip
        otm_put = pick(False, 0, exp2, where=lambda c: strike_grid[c] < spot0 * 0.98)
        otm_call = pick(True, 0, exp2, where=lambda c: strike_grid[c] > spot0 * 1.02)
        structure("long_strangle", [(otm_put, 250, 3), (otm_call, 250, 3)], "neutral")
        rr_put = pick(False, 0, exp3, where=lambda c: strike_grid[c] < spot0 * 0.99)
        rr_call = pick(True, 0, exp3, where=lambda c: strike_grid[c] > spot0 * 1.01)
        structure("risk_reversal", [(rr_call, 120, 3), (rr_put, 120, 1)], "bullish")
        # Ladder: three calls of one expiry at consecutive free strikes (1 x 1 x 1).
        free = sorted(
            (int(c) for c in quiet if call_grid[c] and exp_grid[c] == exp3 and int(c) not in used),
            key=lambda c: strike_grid[c],
        )[-3:]  # fmt: skip
        if len(free) == 3:
            used.update(free)
            structure("ladder", [(c, 100, 3) for c in free], "neutral")
        # Roll: sell the near expiry, buy the next, same strike and right.
        by_date = np.argsort([e.toordinal() for e in expiries])
        later = [int(e) for e in by_date if (expiries[e] - spec.date).days >= 1]
        if len(later) >= 2:
            near = pick(True, 0, later[0], least_value=2 * MIN_PLANTED_VALUE)
            far = pick(
                True,
                0,
                later[1],
                where=lambda c: near is not None and strike_grid[c] == strike_grid[near],
            )
            structure("roll", [(near, 400, 1), (far, 400, 3)], "neutral", roll=True)
        # Sweep near-misses, one gate each: premium just under the floor; coverage under
        # the gate (the first three of five prints have no quote within the age limit);
        # a buy ratio of 0.5 (two bought, two sold).
        sweep_like(
            "near_miss_sweep_premium",
            False,
            [3] * 4,
            rng.uniform(0.85, 0.97) * floors.sweep_min_premium,
            "bearish",
            "sweep:min_premium",
        )
        lid, c, t0 = sweep_like(
            "near_miss_sweep_coverage",
            True,
            [3] * 5,
            rng.uniform(60e3, 150e3),
            "bullish",
            "sweep:min_coverage",
            prequote=False,
        )
        if c is not None:
            quiet_quotes.append((c, t0 - int(1.5 * floors.nbbo_max_age_ms * 1e6), t0 + 150_000_000))
            planted_quotes.append((c, t0 + 150_000_000))
        sweep_like(
            "near_miss_sweep_side", False, [3, 1, 3, 1], rng.uniform(60e3, 150e3), "neutral",
            "sweep:min_buy_ratio",
        )  # fmt: skip
        # Hard negative: a print with no recent quote (far from the money, no re-quote).
        far_c = next((int(c) for c in atm[::-1] if int(c) not in used), None)
        if far_c is not None:
            used.add(far_c)
            lid = f"{symbol}-stale_quote-{len(labels)}"
            order(lid, far_c, np.array([slot()]), 3, ["C"], size=20, prequote=False)
            add_label(lid, "stale_quote", "option_trades", [far_c], "neutral", "")
            expectations[lid] = lambda rows: set()

        # A 0DTE gamma punch at the money, and its near-miss just outside the strike band.
        # Planted last, against the underlying as the other patterns have moved it.
        for kind, near_miss, lo_d, hi_d in (
            ("zero_dte", "", 0.0, 0.9),
            ("near_miss_zero_dte", "zero_dte:max_strike_distance", 1.15, 2.5),
        ):
            if not exp_zero:
                break
            t0 = slot()
            moved = _drifted(path, start, drifts, spec.drift, spec.drift_ramp_s)
            spot_t = float(moved[min((t0 - start) // NS, n_sec - 1)])
            band = floors.zero_dte_max_strike_distance
            fits = [
                int(c) for c in atm
                if exp_grid[c] == exp_zero[0] and call_grid[c] and int(c) not in used
                and lo_d * band < abs(strike_grid[c] / spot_t - 1) <= hi_d * band
            ]  # fmt: skip
            if not fits:
                continue
            c = min(fits, key=lambda k: abs(strike_grid[k] / spot_t - 1))
            used.add(c)
            lid = f"{symbol}-{kind}-{len(labels)}"
            order(lid, c, np.array([t0]), 3, ["C"], target=rng.uniform(40e3, 120e3), least=600)
            drifts.append((t0, DRIFT_SIGN["bullish"]))
            add_label(lid, kind, "option_trades", [c], "bullish", near_miss)
            expect_packet(lid, c)

    # The planted directional orders (near-misses too: informed flow moves the price whether
    # or not a rule catches it) move the underlying: a known drift, so that alert
    # outcomes on a synthetic day have an edge to find (and the report a truth to show).
    path = _drifted(path, start, drifts, spec.drift, spec.drift_ramp_s)
    equity_quotes, equity_trades = equity_frames(path)

    arr = (
        prints.arrays()
        if prints.count()
        else {
            "contract": np.zeros(0, np.int64),
            "ts": np.zeros(0, np.int64),
            "label": np.zeros(0, "<U40"),
            "prequote": np.zeros(0, bool),
        }
    )
    if prints.count() and used:
        # No background print on a planted pattern's contract: those that fell there trade
        # another contract instead (drawn by the same activity weights), so the reserving
        # leaves the day's flow as large as it was.
        reserved = np.fromiter(used, np.int64)
        moved = (arr["label"] == "") & np.isin(arr["contract"], reserved)
        free_w = np.where(np.isin(np.arange(n_contracts), reserved), 0.0, weight)
        arr["contract"] = arr["contract"].copy()
        arr["contract"][moved] = rng.choice(n_contracts, int(moved.sum()), p=free_w / free_w.sum())
        # Nor is any background print near a planted one a structure leg: a busy book's
        # unrelated packet meeting a planted order would make a structure of the two.
        far = np.array([np.iinfo(np.int64).min // 2, np.iinfo(np.int64).max // 2])
        planted_ts = np.sort(np.r_[far, arr["ts"][arr["label"] != ""]])
        at = np.searchsorted(planted_ts, arr["ts"])
        gap = np.minimum(np.abs(arr["ts"] - planted_ts[at - 1]), np.abs(planted_ts[at] - arr["ts"]))
        near = (arr["label"] == "") & (gap <= LEG_CLEAR_NS)
        arr["size"] = np.where(near, np.minimum(arr["size"], floors.min_leg_size - 1), arr["size"])
    # Option quotes: each contract re-quotes at a rate that follows its activity.
    q_rate = np.maximum(5.0 * opt_rate * weight, 1.0 / 600.0)
    q_counts = rng.poisson(q_rate * n_sec)
    q_contract = np.repeat(np.arange(n_contracts), q_counts)
    q_ts = start + (rng.random(len(q_contract)) * (end - start)).astype(np.int64)
    # The market maker re-quotes shortly before most prints (a quote 1-900 ms earlier), as
    # on a real feed; planted prints without a pre-quote get none, so their NBBO is old or
    # absent.
    pre = arr["prequote"]
    q_contract = np.concatenate(
        [q_contract, arr["contract"][pre], np.array([c for c, _ in planted_quotes], np.int64)]
    )
    q_ts = np.concatenate(
        [
            q_ts,
            arr["ts"][pre] - rng.integers(1_000_000, 900_000_000, int(pre.sum())),
            np.array([t for _, t in planted_quotes], np.int64),
        ]
    )
    for c, lo_ts, hi_ts in quiet_quotes:  # one per planted coverage near-miss
        keep = ~((q_contract == c) & (q_ts >= lo_ts) & (q_ts < hi_ts))
        q_contract, q_ts = q_contract[keep], q_ts[keep]
    q_ts = np.maximum(q_ts, start)
    order_q = np.lexsort((q_ts, q_contract))
    q_contract, q_ts = q_contract[order_q], q_ts[order_q]

    def theo(contract: np.ndarray, ts: np.ndarray) -> np.ndarray:
        return theo_on(path, contract, ts)

    q_theo = theo(q_contract, q_ts)
    half = np.maximum(0.01, 0.02 * q_theo + 0.01)
    tick = _tick(q_theo)
    q_bid = np.maximum(0.0, np.floor((q_theo - half) / tick) * tick).round(2)
    q_ask = np.maximum(q_bid + tick, np.ceil((q_theo + half) / tick) * tick).round(2)
    option_quote_frame = pl.DataFrame(
        {
            "ts_event": q_ts,
            "_contract": q_contract,
            "bid": q_bid,
            "ask": q_ask,
            "bid_size": rng.integers(1, 200, len(q_ts)),
            "ask_size": rng.integers(1, 200, len(q_ts)),
        }
    )

    arr = arr if prints.count() else None
    option_trades = (
        _price_option_prints(
            arr, q_contract, q_ts, q_bid, q_ask, theo, int(floors.nbbo_max_age_ms * 1e6)
        )
        if arr is not None
        else None
    )

    if option_trades is not None and planting and option_trades.height > 10:
        # A cancelled print: a mistaken print and, 2 s later, its cancel (OPRA 'A').
        unlabelled = np.flatnonzero(option_trades.get_column("_label").to_numpy() == "")
        victim = int(unlabelled[rng.integers(0, len(unlabelled))])
        row = option_trades.row(victim, named=True)
        lid = f"{symbol}-cancelled_print-{len(labels)}"
        cancel = dict(
            row, ts_event=row["ts_event"] + 2 * NS, conditions=["A"], _ref=victim, _label=lid
        )
        option_trades = pl.concat(
            [
                option_trades.with_columns(
                    pl.when(pl.int_range(pl.len()) == victim)
                    .then(pl.lit(lid))
                    .otherwise("_label")
                    .alias("_label")
                ),
                pl.DataFrame([cancel], schema=option_trades.schema),
            ]
        )
        add_label(lid, "cancelled_print", "option_trades", [int(row["_contract"])], "neutral", "")
        expectations[lid] = lambda rows: set()

    # Each label's expected hits, from its planted prints as priced (and its history).
    planted_rows = (
        option_trades.filter(pl.col("_label") != "").partition_by("_label", as_dict=True)
        if option_trades is not None
        else {}
    )
    rows_of: dict[str, pl.DataFrame] = {key[0]: frame for key, frame in planted_rows.items()}
    rows_of["_spot"] = equity_quotes.select(
        "ts_event", ((pl.col("bid") + pl.col("ask")) / 2).alias("mid")
    )
    dark_rows = {
        key[0]: frame
        for key, frame in equity_trades.filter(pl.col("_label") != "")
        .partition_by("_label", as_dict=True)
        .items()
    }
    labels = [lab for lab in labels if lab["label_id"] in rows_of or lab["label_id"] in dark_rows]
    for lab in labels:
        lid = lab["label_id"]
        if lid in dark_kind:
            r = dark_rows[lid]
            lab["expected"] = sorted(
                dark_hits(
                    dark_kind[lid], r["size"].to_numpy(), r["price"].to_numpy(),
                    r["_place"].to_numpy(), r["_qspread"].to_numpy(), r["_qage_ms"].to_numpy(),
                    r["ts_event"].to_numpy(), floors,
                )
            )  # fmt: skip
        else:
            lab["expected"] = sorted(expectations[lid](rows_of))
        if lab["near_miss"].split(":")[0] in lab["expected"]:
            # Sized or priced past its gate after all: no near-miss, and labelled so.
            lab["near_miss"] = ""

    contracts = pl.DataFrame(
        {
            "_contract": np.arange(n_contracts),
            "underlying": symbol,
            "expiry": [expiries[i] for i in exp_grid],
            "strike": strike_grid,
            "right": np.where(call_grid, "C", "P"),
        }
    ).with_columns(
        osi_expr(pl.col("underlying"), pl.col("expiry"), pl.col("right"), pl.col("strike")).alias(
            "contract"
        )
    )
    for lab in labels:
        lab["contracts"] = [contracts["contract"][i] for i in lab["contracts"]]

    out = {
        "equity_quotes": equity_quotes,
        "equity_trades": equity_trades,
        "option_quotes": option_quote_frame.join(
            contracts.select("_contract", "contract"), on="_contract"
        ).drop("_contract"),
        "option_trades": (option_trades if option_trades is not None else pl.DataFrame()),
        "_contracts": contracts,
    }
    if option_trades is not None:
        out["option_trades"] = option_trades.join(contracts, on="_contract", how="left").drop(
            "_contract"
        )
    # Start-of-day open interest: more where activity concentrates.
    oi = (rng.gamma(1.5, 4000.0 * weight / weight.max()) + rng.integers(0, 50, n_contracts)).astype(
        np.int64
    )
    out["option_open_interest"] = contracts.select("contract").with_columns(
        pl.Series("open_interest", oi)
    )
    return out, labels


def _price_option_prints(
    arr: dict[str, np.ndarray],
    q_contract: np.ndarray,
    q_ts: np.ndarray,
    q_bid: np.ndarray,
    q_ask: np.ndarray,
    theo: Callable[[np.ndarray, np.ndarray], np.ndarray],
    max_age_ns: int,
) -> pl.DataFrame:
    """Price each intended print against the quote in force at its time (backward as-of),
    size the planted ones to their premium, and keep the background under the floors.

    Besides the trade columns it returns ``_placement`` (the intended code) and
    ``_placed`` (a quote at most ``max_age_ns`` old was in force) for the expectations.
    """
    contract, ts = arr["contract"], arr["ts"]
    # One sorted int64 key per (contract, time). The time part spans the whole day: a
    # narrower one lets a full session's late quotes run into the next contract's keys, and
    # prints would be priced off stale quotes.
    both = np.concatenate([q_ts, ts])
    base = int(both.min()) if len(both) else 0
    width = int(both.max()) - base + 1 if len(both) else 1
    key_q = q_contract.astype(np.int64) * width + (q_ts - base)
    key_t = contract.astype(np.int64) * width + (ts - base)
    qi = _as_of(key_q, key_t, q_contract, contract)
    has = qi >= 0
    qs = np.maximum(qi, 0)
    bid = np.where(has, q_bid[qs], np.nan)
    ask = np.where(has, q_ask[qs], np.nan)
    fair = theo(contract, ts)
    mid = (bid + ask) / 2
    tick = np.where(ask < 3.0, 0.01, 0.05)
    place = arr["placement"]
    price = np.select(
        [place == 0, place == 1, place == 2, place == 3, place == 4],
        [bid - tick, bid, np.round(mid / 0.01) * 0.01, ask, ask + tick],
        ask,
    )
    price = np.where(has, price, np.maximum(0.01, np.round(fair, 2)))
    price = np.maximum(0.01, np.round(price, 2))
    size = arr["size"]
    planted = np.isfinite(arr["target"])
    # Floored: a near-miss sized to a premium under a floor stays under it.
    sized = np.maximum(arr["least"], np.floor(arr["target"] / (100 * price)))
    size = np.where(planted, np.nan_to_num(sized), size)
    background = arr["label"] == ""
    cap = np.maximum(1, np.floor(BACKGROUND_MAX_PREMIUM / (100 * price)))
    size = np.where(background, np.minimum(size, cap), size).astype(np.int64)
    return pl.DataFrame(
        {
            "ts_event": ts,
            "_contract": contract,
            "price": price,
            "size": size,
            "exchange": arr["exchange"].astype(str),
            "conditions": [list(c) for c in arr["conditions"]],
            "_label": arr["label"].astype(str),
            "_ref": arr["ref"],
            # The side the price landed on (a bid of 0 prices a sale at the ask's tick).
            "_placement": np.where(price >= ask, 3, np.where(price <= bid, 1, 2)),
            "_placed": has & (ts - q_ts[qs] <= max_age_ns),
        }
    )


def _planted_packet(rows: pl.DataFrame) -> PlantedPacket:
    """Return a planted order's priced prints as one packet, in time order."""
    rows = rows.sort("ts_event")
    return PlantedPacket(
        ts=rows["ts_event"].to_numpy(),
        price=rows["price"].to_numpy(),
        size=rows["size"].to_numpy(),
        exchange=rows["exchange"].to_numpy(),
        placement=rows["_placement"].to_numpy(),
        placed=rows["_placed"].to_numpy(),
    )


def _premiums(rows: pl.DataFrame) -> np.ndarray:
    """Return each planted history order's premium (one print each)."""
    return (rows["price"] * rows["size"] * 100).to_numpy()


def _strike_distance(
    rows: pl.DataFrame,
    contract: int,
    expiries: list[dt.date],
    exp_grid: np.ndarray,
    strike_grid: np.ndarray,
    day: dt.date,
    spot: pl.DataFrame,
) -> float | None:
    """Return |strike / underlying - 1| at the order's first print for a same-day expiry
    (the underlying: its NBBO mid in force then), else None."""
    if expiries[exp_grid[contract]] != day:
        return None
    t = int(rows["ts_event"].min())  # type: ignore[arg-type]
    mids = spot.filter(pl.col("ts_event") <= t)
    if mids.is_empty():
        return None
    return abs(float(strike_grid[contract]) / float(mids["mid"][-1]) - 1)


STREAM_TAGS = {
    "option_trades": "ot",
    "option_quotes": "oq",
    "equity_trades": "et",
    "equity_quotes": "eq",
    "option_open_interest": "oi",
}
#: Underlyings generated together before a chunk is handed on (bounds memory on ALL).
DEFAULT_CHUNK = 16


def _finish(
    symbol: str, spec: SyntheticSpec, parts: dict[str, pl.DataFrame], labels: list[dict]
) -> SyntheticDay:
    """Return one underlying's day in the canonical schemas with ids and labels resolved.

    ``seq`` numbers each stream of the underlying in (ts_event, generation) order and
    ``event_id`` is ``syn-<stream tag>-<date>-<symbol>-<seq>``: ids depend only on the
    underlying's own stream, so any chunking of the universe gives the same rows.
    """
    day = spec.date.strftime("%Y%m%d")
    out: dict[str, pl.DataFrame] = {}
    located: list[pl.DataFrame] = []
    for name, schema in RAW_SCHEMAS.items():
        frame = parts.get(name)
        if frame is None or frame.is_empty():
            out[name] = pl.DataFrame(schema=schema)
            continue
        if name == "option_open_interest":
            frame = (
                frame.with_columns(pl.lit(spec.date).alias("date"))
                .sort("contract")
                .with_row_index("seq")
            )
        else:
            frame = (
                frame.with_row_index("_gen")
                .sort("ts_event", "_gen")
                .drop("_gen")
                .with_row_index("seq")
            )
            # Receive time: a deterministic 0.2-3 ms feed latency.
            frame = frame.with_columns(
                (pl.col("ts_event") + 200_000 + (pl.col("seq") * 7919) % 2_800_000).alias("ts_recv")
            )
        frame = frame.with_columns(
            pl.col("seq").cast(pl.Int64),
            pl.concat_str(
                pl.lit(f"syn-{STREAM_TAGS[name]}-{day}-{symbol}-"),
                pl.col("seq").cast(pl.String).str.zfill(8),
            ).alias("event_id"),
            pl.lit(SOURCE).alias("source"),
        )
        if "_ref" in frame.columns:
            # A cancel shares its label with the print it cancels: that print is its reference.
            targets = frame.filter(
                (pl.col("_ref") < 0)
                & pl.col("_label").is_in(frame.filter(pl.col("_ref") >= 0)["_label"].implode())
            )
            frame = frame.join(
                targets.select("_label", pl.col("event_id").alias("ref_event_id")),
                on="_label",
                how="left",
            ).with_columns(
                pl.when(pl.col("_ref") >= 0).then(pl.col("ref_event_id")).alias("ref_event_id")
            )
        defaults = {
            "ref_event_id": pl.lit(None, pl.String),
            "multiplier": pl.lit(100, pl.Int64),
            "exchange": pl.lit("NBBO"),
        }
        frame = frame.with_columns(
            expr.alias(c) for c, expr in defaults.items() if c in schema and c not in frame.columns
        )
        if "_label" in frame.columns:
            located.append(
                frame.filter(pl.col("_label") != "")
                .group_by("_label")
                .agg(
                    pl.col("event_id").sort().alias("event_ids"),
                    pl.col("ts_event").min().alias("start_ts"),
                    pl.col("ts_event").max().alias("end_ts"),
                )
            )
        out[name] = frame.sort("seq").select([pl.col(c).cast(t) for c, t in schema.items()])
    label_frame = (
        pl.DataFrame(
            labels,
            schema={
                k: v
                for k, v in LABEL_SCHEMA.items()
                if k not in ("start_ts", "end_ts", "event_ids")
            },
        )
        if labels
        else None
    )
    if label_frame is None:
        return SyntheticDay(tables=out)
    where = (
        pl.concat(located).rename({"_label": "label_id"})
        if located
        else pl.DataFrame(
            schema={
                "label_id": pl.String,
                "event_ids": pl.List(pl.String),
                "start_ts": pl.Int64,
                "end_ts": pl.Int64,
            }
        )
    )
    return SyntheticDay(
        tables=out,
        labels=label_frame.join(where, on="label_id", how="left").select(list(LABEL_SCHEMA)),
    )


def _concat_days(days: list[SyntheticDay]) -> SyntheticDay:
    return SyntheticDay(
        tables={name: pl.concat([d.tables[name] for d in days]) for name in RAW_SCHEMAS},
        labels=pl.concat([d.labels for d in days]).sort("label_id"),
    )


def iter_day(spec: SyntheticSpec, chunk: int = DEFAULT_CHUNK) -> Iterator[SyntheticDay]:
    """Yield the day ``chunk`` underlyings at a time (bounded memory for the whole universe).

    The union of the chunks equals :func:`generate_day` row for row, whatever ``chunk``.
    """
    start, end = session_window(spec)
    symbols = list(spec.underlyings)
    for k in range(0, len(symbols), chunk):
        days = []
        for symbol in symbols[k : k + chunk]:
            tables, labels = _underlying_day(symbol, spec, start, end)
            days.append(_finish(symbol, spec, tables, labels))
        yield _concat_days(days)


def generate_day(spec: SyntheticSpec) -> SyntheticDay:
    """Return the synthetic day described by ``spec`` in one piece.

    Returns
    -------
    SyntheticDay
        ``tables`` keyed by stream in the canonical schemas (per underlying, rows in
        ``ts_event`` then generation order, ``seq`` numbering that order), and ``labels``
        naming the event_ids of every planted pattern.
    """
    return _concat_days(list(iter_day(spec)))
