"""Generate one deterministic synthetic trading day for a set of underlyings.

Each underlying gets its own random stream seeded by ``(seed, symbol, date)``, so a day
is the same on every run and machine and adding an underlying leaves the others as
they were. Inside an underlying every step is a numpy array operation; the Python loop
runs over underlyings and planted patterns, never over prints.

Ground truth: planted patterns (sweeps, blocks, 0DTE punches, straddles, verticals,
cancelled prints, mid-priced multi-leg packages, absorbed dark blocks, stealth
accumulation) are listed in ``labels`` with the event_ids that make them up.
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
}


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
        self.label.append(np.broadcast_to(np.asarray(label), n).astype("<U40"))
        self.ref.append(np.broadcast_to(np.asarray(ref), n).astype(np.int64))

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
    eq_labels = np.full(n_eq, "", dtype="<U40")
    labels: list[dict] = []

    # Planted off-exchange patterns: an absorbed block at the mid, stealth accumulation.
    def plant_equity(
        kind: str, t0: int, sizes: np.ndarray, place: int, gap_ns: int, direction: str
    ) -> None:
        nonlocal eq_ts, venue, eq_size, eq_place, eq_cond, eq_labels
        lid = f"{symbol}-{kind}-{len(labels)}"
        k = len(sizes)
        eq_ts = np.concatenate([eq_ts, t0 + np.arange(k) * gap_ns])
        venue = np.concatenate([venue, np.full(k, OFF_EXCHANGE)])
        eq_size = np.concatenate([eq_size, sizes.astype(np.int64)])
        eq_place = np.concatenate([eq_place, np.full(k, place)])
        eq_cond = np.concatenate([eq_cond, np.full(k, "@", dtype=object)])
        eq_labels = np.concatenate([eq_labels, np.full(k, lid, dtype="<U40")])
        labels.append(
            {
                "label_id": lid,
                "kind": kind,
                "stream": "equity_trades",
                "underlying": symbol,
                "contracts": [],
                "direction": direction,
            }
        )

    span = end - start
    if span > 10 * 60 * NS:
        plant_equity(
            "absorbed_block",
            start + int(span * rng.uniform(0.2, 0.8)),
            np.array([int(rng.integers(25, 60)) * 100]),
            2,
            0,
            "neutral",
        )
        plant_equity(
            "stealth_accumulation",
            start + int(span * rng.uniform(0.2, 0.8)),
            rng.integers(8, 15, 5) * 100,
            3,
            6 * NS,
            "bullish",
        )
        plant_equity(
            "distribution",
            start + int(span * rng.uniform(0.2, 0.8)),
            rng.integers(8, 15, 5) * 100,
            1,
            7 * NS,
            "bearish",
        )

    order = np.argsort(eq_ts, kind="stable")
    eq_ts, venue, eq_size, eq_place, eq_cond, eq_labels = (
        a[order] for a in (eq_ts, venue, eq_size, eq_place, eq_cond, eq_labels)
    )

    def equity_frames(path: np.ndarray) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Return the equity quotes and trades priced off the (drifted) path."""
        spread = np.maximum(0.01, np.round(path * 0.0003, 2))
        eq_bid = np.floor((path - spread / 2) * 100) / 100
        eq_ask = np.round(eq_bid + spread, 2)
        quotes = pl.DataFrame(
            {
                "ts_event": eq_q_ts,
                "symbol": symbol,
                "bid": eq_bid,
                "ask": eq_ask,
                "bid_size": eq_bid_size,
                "ask_size": eq_ask_size,
            }
        )
        qi = np.searchsorted(eq_q_ts, eq_ts, side="right") - 1
        has_q = qi >= 0
        qi_safe = np.maximum(qi, 0)
        bid_at, ask_at = eq_bid[qi_safe], eq_ask[qi_safe]
        mid_at = np.round((bid_at + ask_at) / 2, 4)
        eq_price = np.select(
            [eq_place == 1, eq_place == 2, eq_place == 3], [bid_at, mid_at, ask_at], ask_at
        )
        eq_price = np.where(has_q, eq_price, path[np.minimum((eq_ts - start) // NS, n_sec - 1)])
        trades = pl.DataFrame(
            {
                "ts_event": eq_ts,
                "symbol": symbol,
                "price": eq_price,
                "size": eq_size,
                "exchange": venue,
                "conditions": [[c] for c in eq_cond],
                "_label": eq_labels,
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
    drifts: list[tuple[int, float]] = []  # (start, sign) of each directional option pattern

    def plant(
        kind: str,
        legs: list[tuple[int, int, int, int, tuple[str, ...]]],
        direction: str,
        exchanges: np.ndarray | None = None,
        gap_ns: int = 0,
    ) -> None:
        """Add one labelled pattern: legs of (contract, size, placement, n_prints, conditions)."""
        lid = f"{symbol}-{kind}-{len(labels)}"
        t0 = start + int((end - start) * rng.uniform(0.05, 0.95))
        if direction in DRIFT_SIGN:
            drifts.append((t0, DRIFT_SIGN[direction]))
        for contract, size, placement, n_prints, cond in legs:
            ex = (
                exchanges[:n_prints]
                if exchanges is not None
                else OPRA_EXCHANGES[rng.integers(0, len(OPRA_EXCHANGES), n_prints)]
            )
            prints.add(
                contract,
                t0 + np.arange(n_prints) * gap_ns + rng.integers(0, max(gap_ns // 4, 1), n_prints),
                size,
                ex,
                placement,
                cond,
                lid,
            )
        labels.append(
            {
                "label_id": lid,
                "kind": kind,
                "stream": "option_trades",
                "underlying": symbol,
                "contracts": sorted({int(c) for c, *_ in legs}),
                "direction": direction,
            }
        )

    def near_atm(right_call: bool, k: int = 0, exp: int | None = None) -> int:
        cands = [
            c for c in atm if call_grid[c] == right_call and (exp is None or exp_grid[c] == exp)
        ]
        return int(cands[min(k, len(cands) - 1)])

    if span > 10 * 60 * NS:
        # Sweeps: ISO prints over several exchanges within a few hundred ms.
        for right_call, placement, direction in (
            (True, 3, "bullish"),
            (False, 3, "bearish"),
            (True, 1, "bearish"),
        ):
            n = int(rng.integers(3, 7))
            exs = rng.permutation(OPRA_EXCHANGES)[:n]
            plant(
                "sweep",
                [
                    (
                        near_atm(right_call, int(rng.integers(0, 4))),
                        int(rng.integers(80, 300)),
                        placement,
                        n,
                        ("S",),
                    )
                ],
                direction,
                exs,
                gap_ns=60_000_000,
            )
        plant(
            "block", [(near_atm(False, 2), int(rng.integers(800, 2000)), 1, 1, ("I",))], "bullish"
        )
        if 0 in set(dte.tolist()):
            c0 = near_atm(
                True, 0, exp=int(np.argmin([abs((e - spec.date).days) for e in expiries]))
            )
            plant("zero_dte", [(c0, int(rng.integers(600, 1500)), 3, 1, ("I",))], "bullish")
        exp1 = int(exp_grid[atm[0]])
        call, put = near_atm(True, 0, exp1), near_atm(False, 0, exp1)
        if strike_grid[call] == strike_grid[put]:
            plant("straddle", [(call, 200, 3, 1, ("I",)), (put, 200, 3, 1, ("I",))], "structure")
        c_lo = near_atm(True, 0, exp1)
        c_hi_cands = [
            c
            for c in atm
            if call_grid[c] and exp_grid[c] == exp1 and strike_grid[c] > strike_grid[c_lo]
        ]
        if c_hi_cands:
            plant(
                "vertical",
                [(c_lo, 150, 3, 1, ("I",)), (int(c_hi_cands[0]), 150, 1, 1, ("I",))],
                "structure",
            )
            plant(
                "multileg_package",
                [(c_lo, 300, 2, 1, ("f",)), (int(c_hi_cands[0]), 300, 2, 1, ("f",))],
                "neutral",
            )
        # Strangle: an OTM put and an OTM call of one expiry, bought together.
        otm_put = [
            c
            for c in atm
            if not call_grid[c] and exp_grid[c] == exp1 and strike_grid[c] < spot0 * 0.98
        ]
        otm_call = [
            c for c in atm if call_grid[c] and exp_grid[c] == exp1 and strike_grid[c] > spot0 * 1.02
        ]
        if otm_put and otm_call:
            plant(
                "strangle",
                [(int(otm_put[0]), 250, 3, 1, ("I",)), (int(otm_call[0]), 250, 3, 1, ("I",))],
                "structure",
            )
        # Ladder: three calls of one expiry at consecutive strikes (1 x 1 x 1).
        calls = sorted(
            (c for c in atm[:40] if call_grid[c] and exp_grid[c] == exp1),
            key=lambda c: strike_grid[c],
        )
        if len(calls) >= 3:
            plant("ladder", [(int(c), 100, 3, 1, ("I",)) for c in calls[:3]], "structure")
        # Roll: sell the near expiry, buy the next, same strike and right.
        exps_by_date = np.argsort([e.toordinal() for e in expiries])
        if len(exps_by_date) >= 2:
            near, far = int(exps_by_date[0]), int(exps_by_date[1])
            k_near = near_atm(True, 0, near)
            far_same = [
                c
                for c in atm
                if call_grid[c] and exp_grid[c] == far and strike_grid[c] == strike_grid[k_near]
            ]
            if far_same:
                plant(
                    "roll",
                    [(k_near, 400, 1, 1, ("I",)), (int(far_same[0]), 400, 3, 1, ("I",))],
                    "structure",
                )
        # Spike: a contract with a quiet history (14 small prints a minute apart) then one
        # print far above its baseline premium and size.
        spike_c = near_atm(False, 5)
        quiet_t0 = start + int((end - start) * 0.1)
        prints.add(
            spike_c,
            quiet_t0 + np.arange(14) * 60 * NS,
            rng.integers(2, 6, 14),
            OPRA_EXCHANGES[rng.integers(0, 16, 14)],
            3,
            ("I",),
        )
        lid = f"{symbol}-spike-{len(labels)}"
        drifts.append((quiet_t0 + 15 * 60 * NS, DRIFT_SIGN["bearish"]))
        prints.add(
            spike_c, [quiet_t0 + 15 * 60 * NS], int(rng.integers(500, 900)), "C", 3, ("I",), lid
        )
        labels.append(
            {
                "label_id": lid,
                "kind": "spike",
                "stream": "option_trades",
                "underlying": symbol,
                "contracts": [spike_c],
                "direction": "bearish",
            }
        )
        # Hard negative: a print with no recent quote (far from the money, no re-quote).
        plant("stale_quote", [(int(atm[-1]), 20, 3, 1, ("I",))], "neutral")
        # Repeat hitter: one buyer lifting the same call's offer on one exchange, eight
        # times about 10 ms apart (a split packet, never a sweep).
        plant(
            "repeat_hitter",
            [(near_atm(True, 3), int(rng.integers(150, 300)), 3, 8, ("I",))],
            "bullish",
            np.array(["X"] * 8),
            gap_ns=10_000_000,
        )

    # The planted directional patterns move the underlying: a known drift, so that alert
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
        }
    )
    # Option quotes: each contract re-quotes at a rate that follows its activity.
    q_rate = np.maximum(5.0 * opt_rate * weight, 1.0 / 600.0)
    q_counts = rng.poisson(q_rate * n_sec)
    q_contract = np.repeat(np.arange(n_contracts), q_counts)
    q_ts = start + (rng.random(len(q_contract)) * (end - start)).astype(np.int64)
    # The market maker re-quotes shortly before most prints (a quote 1-900 ms earlier), as
    # on a real feed; planted stale-quote prints get none, so their NBBO is old or absent.
    pre = ~np.char.startswith(arr["label"], f"{symbol}-stale_quote")
    q_contract = np.concatenate([q_contract, arr["contract"][pre]])
    q_ts = np.concatenate(
        [q_ts, arr["ts"][pre] - rng.integers(1_000_000, 900_000_000, int(pre.sum()))]
    )
    q_ts = np.maximum(q_ts, start)
    order = np.lexsort((q_ts, q_contract))
    q_contract, q_ts = q_contract[order], q_ts[order]

    def theo(contract: np.ndarray, ts: np.ndarray) -> np.ndarray:
        spot = path[np.clip((ts - start) // NS, 0, n_sec - 1)]
        t_years = np.maximum(exp_close[exp_grid[contract]] - ts, 60 * NS) / NS / YEAR_SECONDS
        vol = smile_vol(np.full(len(ts), base_vol), spot, strike_grid[contract], t_years)
        return black_scholes(spot, strike_grid[contract], t_years, vol, call_grid[contract])

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
        _price_option_prints(arr, q_contract, q_ts, q_bid, q_ask, theo, rng)
        if arr is not None
        else None
    )

    if option_trades is not None and span > 10 * 60 * NS and option_trades.height > 10:
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
        labels.append(
            {
                "label_id": lid,
                "kind": "cancelled_print",
                "stream": "option_trades",
                "underlying": symbol,
                "contracts": [int(row["_contract"])],
                "direction": "neutral",
            }
        )

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
    rng: np.random.Generator,
) -> pl.DataFrame:
    """Price each intended print against the quote in force at its time (backward as-of)."""
    contract, ts = arr["contract"], arr["ts"]
    # One sorted int64 key per (contract, time). The time part must span the whole day: a
    # fixed 2**42 ns (73 minutes) once let a full session's late quotes run into the next
    # contract's keys, and prints were priced off stale quotes.
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
    return pl.DataFrame(
        {
            "ts_event": ts,
            "_contract": contract,
            "price": price,
            "size": arr["size"],
            "exchange": arr["exchange"].astype(str),
            "conditions": [list(c) for c in arr["conditions"]],
            "_label": arr["label"].astype(str),
            "_ref": arr["ref"],
        }
    )


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
