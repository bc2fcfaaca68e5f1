"""What the default thresholds must find in each planted pattern: the labels' expected hits.

The synthetic market plants each pattern with known parameters (sizes, prices, venues,
placements, the quiet history it gave the contract, the quote in force). From those and
the default thresholds (:class:`Floors`) it states which classifier and dark-pool hits
the pattern must produce. The statements below are the market rules (``docs/rules.md``)
read on one planted pattern at a time; they never run the pipeline, so a rule that
misses its own label shows up in ``signal_accuracy`` instead of being copied into it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

#: Intended placement codes of planted prints (0 BB, 1 B, 2 MID, 3 A, 4 AA).
BUY_CODES = (3, 4)
SELL_CODES = (0, 1)


@dataclass(frozen=True)
class Floors:
    """The default thresholds the planted patterns are measured against.

    Defaults equal the packaged thresholds file (a test holds them equal);
    :meth:`from_thresholds` reads another file's values.
    """

    nbbo_max_age_ms: float = 1000
    sweep_min_count: int = 3
    sweep_min_exchanges: int = 2
    sweep_min_premium: float = 40_000
    sweep_min_premium_z: float = 2.0
    spike_min_premium: float = 20_000
    spike_min_size: int = 400
    spike_min_premium_z: float = 2.5
    spike_min_size_z: float = 2.0
    zero_dte_max_strike_distance: float = 0.01
    zero_dte_min_premium: float = 20_000
    zero_dte_min_size: int = 400
    burst_window_ms: int = 100
    burst_min_prints: int = 6
    burst_min_premium: float = 10_000
    repeat_window_sec: float = 300
    repeat_min_orders: int = 3
    repeat_min_order_size: int = 20
    repeat_max_size_ratio: float = 2.0
    repeat_min_premium: float = 25_000
    roll_min_premium: float = 20_000
    min_leg_size: int = 10
    min_coverage: float = 0.5
    min_buy_ratio: float = 0.55
    max_sell_ratio: float = 0.45
    z_min_samples: int = 12
    dark_max_quote_age_ms: float = 1000
    dark_max_spread_to_mid: float = 0.005
    absorbed_min_shares: int = 2000
    block_min_notional: float = 200_000
    stealth_min_prints: int = 4
    stealth_min_print_shares: int = 200
    stealth_min_total_shares: int = 3000
    dark_window_sec: float = 60

    @classmethod
    def from_thresholds(cls, values: Mapping[str, Any]) -> Floors:
        """Return the floors of a thresholds file's tables (``values["classifiers"]...``)."""
        c, d = values["classifiers"], values["darkpool"]
        read = {
            "nbbo_max_age_ms": values["nbbo"]["max_age_ms"],
            "sweep_min_count": values["packets"]["sweep_min_count"],
            "sweep_min_exchanges": values["packets"]["sweep_min_exchanges"],
            "sweep_min_premium": c["sweep"]["min_premium"],
            "sweep_min_premium_z": c["sweep"]["min_premium_z"],
            "spike_min_premium": c["spike"]["min_premium"],
            "spike_min_size": c["spike"]["min_size"],
            "spike_min_premium_z": c["spike"]["min_premium_z"],
            "spike_min_size_z": c["spike"]["min_size_z"],
            "zero_dte_max_strike_distance": c["zero_dte"]["max_strike_distance"],
            "zero_dte_min_premium": c["zero_dte"]["min_premium"],
            "zero_dte_min_size": c["zero_dte"]["min_size"],
            "burst_window_ms": values["packets"]["burst_window_ms"],
            "burst_min_prints": c["burst"]["min_prints"],
            "burst_min_premium": c["burst"]["min_premium"],
            "repeat_window_sec": c["repeat_hitter"]["window_sec"],
            "repeat_min_orders": c["repeat_hitter"]["min_orders"],
            "repeat_min_order_size": c["repeat_hitter"]["min_order_size"],
            "repeat_max_size_ratio": c["repeat_hitter"]["max_size_ratio"],
            "repeat_min_premium": c["repeat_hitter"]["min_premium"],
            "roll_min_premium": c["roll"]["min_premium"],
            "min_leg_size": values["structures"]["min_leg_size"],
            "min_coverage": values["gates"]["min_coverage"],
            "min_buy_ratio": values["gates"]["min_buy_ratio"],
            "max_sell_ratio": values["gates"]["max_sell_ratio"],
            "z_min_samples": values["baselines"]["z_min_samples"],
            "dark_max_quote_age_ms": d["max_quote_age_ms"],
            "dark_max_spread_to_mid": d["max_spread_to_mid"],
            "absorbed_min_shares": d["absorbed_min_shares"],
            "block_min_notional": d["block_min_notional"],
            "stealth_min_prints": d["stealth_min_prints"],
            "stealth_min_print_shares": d["stealth_min_print_shares"],
            "stealth_min_total_shares": d["stealth_min_total_shares"],
            "dark_window_sec": d["window_sec"],
        }
        types = {f.name: f.type for f in fields(cls)}
        return cls(**{k: (int(v) if types[k] == "int" else float(v)) for k, v in read.items()})


@dataclass(frozen=True)
class PlantedPacket:
    """One planted order as a packet: its prints' values, in time order.

    ``placed`` says whether a print had an NBBO in force (a quote at most
    ``nbbo_max_age_ms`` old); ``placement`` is the intended code (see :data:`BUY_CODES`).
    """

    ts: np.ndarray
    price: np.ndarray
    size: np.ndarray
    exchange: np.ndarray
    placement: np.ndarray
    placed: np.ndarray

    @property
    def premium(self) -> float:
        return float((self.price * self.size * 100).sum())

    @property
    def total_size(self) -> int:
        return int(self.size.sum())

    def gates(self, f: Floors) -> bool:
        """Coverage >= the gate, and a buy ratio on one side of it (rule 8)."""
        placed = self.placement[self.placed]
        coverage = len(placed) / len(self.placement)
        buys = int(np.isin(placed, BUY_CODES).sum())
        sides = buys + int(np.isin(placed, SELL_CODES).sum())
        if coverage < f.min_coverage or sides == 0:
            return False
        ratio = buys / sides
        return ratio >= f.min_buy_ratio or ratio <= f.max_sell_ratio

    def burst(self, f: Floors) -> int:
        """Most prints within ``burst_window_ms`` of one another."""
        ts = np.sort(self.ts)
        first = np.searchsorted(ts, ts - f.burst_window_ms * 1_000_000, side="left")
        return int((np.arange(len(ts)) - first + 1).max())


def z_score(value: float, priors: np.ndarray, f: Floors) -> float | None:
    """Return the z of ``value`` against ``priors`` (population sd), None below
    ``z_min_samples`` priors (the baseline is thin and the floors alone decide)."""
    if len(priors) < f.z_min_samples:
        return None
    sd = float(np.std(priors))
    return float("inf") if sd == 0 else (value - float(np.mean(priors))) / sd


def packet_hits(
    packet: PlantedPacket,
    f: Floors,
    *,
    prior_premiums: np.ndarray | None = None,
    prior_sizes: np.ndarray | None = None,
    strike_distance: float | None = None,
) -> set[str]:
    """Return the single-packet classifiers the planted ``packet`` must fire.

    ``prior_*`` are the contract's planted history (none: a contract with no prior packet);
    ``strike_distance`` is |strike / underlying - 1| for a same-day expiry (None otherwise).
    """
    if not packet.gates(f):
        return set()
    none = np.zeros(0)
    pz = z_score(packet.premium, none if prior_premiums is None else prior_premiums, f)
    sz = z_score(packet.total_size, none if prior_sizes is None else prior_sizes, f)
    hits: set[str] = set()
    n, venues = len(packet.ts), len(set(packet.exchange.tolist()))
    if (
        n >= max(f.sweep_min_count, 2)
        and venues >= f.sweep_min_exchanges
        and packet.premium >= f.sweep_min_premium
        and (pz is None or pz >= f.sweep_min_premium_z)
    ):
        hits.add("sweep")
    if (
        packet.premium >= f.spike_min_premium
        and packet.total_size >= f.spike_min_size
        and (pz is None or pz >= f.spike_min_premium_z)
        and (sz is None or sz >= f.spike_min_size_z)
    ):
        hits.add("spike")
    if (
        strike_distance is not None
        and strike_distance <= f.zero_dte_max_strike_distance
        and packet.premium >= f.zero_dte_min_premium
        and packet.total_size >= f.zero_dte_min_size
    ):
        hits.add("zero_dte")
    if packet.burst(f) >= f.burst_min_prints and packet.premium >= f.burst_min_premium:
        hits.add("burst")
    return hits


def repeat_hits(orders: list[PlantedPacket], f: Floors) -> set[str]:
    """Return {"repeat_hitter"} when some ``min_orders`` consecutive planted orders of one
    side (each gated, of at least ``min_order_size``) start within ``window_sec``, are at
    most ``max_size_ratio`` apart in size and reach ``min_premium`` together."""
    kept = [o for o in orders if o.gates(f) and o.total_size >= f.repeat_min_order_size]
    m = f.repeat_min_orders
    for k in range(m - 1, len(kept)):
        run = kept[k - m + 1 : k + 1]
        sizes = [o.total_size for o in run]
        span_s = (run[-1].ts.min() - run[0].ts.min()) / 1e9
        if (
            span_s <= f.repeat_window_sec
            and max(sizes) <= f.repeat_max_size_ratio * min(sizes)
            and sum(o.premium for o in run) >= f.repeat_min_premium
        ):
            return {"repeat_hitter"}
    return set()


def dark_hits(
    kind: str,
    shares: np.ndarray,
    price: np.ndarray,
    placement: np.ndarray,
    spread_to_mid: np.ndarray,
    quote_age_ms: np.ndarray,
    ts: np.ndarray,
    f: Floors,
) -> set[str]:
    """Return the dark-pool inference a planted off-exchange pattern must produce (rule 10).

    ``placement`` holds the intended codes (2 MID); only prints with a good quote count.
    """
    good = (quote_age_ms <= f.dark_max_quote_age_ms) & (spread_to_mid <= f.dark_max_spread_to_mid)
    if kind == "absorbed_block":
        block = (
            (placement == 2)
            & good
            & ((shares >= f.absorbed_min_shares) | (shares * price >= f.block_min_notional))
        )
        return {"absorbed_block"} if block.any() else set()
    codes, name = (
        (BUY_CODES, "stealth_accumulation")
        if kind == "stealth_accumulation"
        else (SELL_CODES, "distribution")
    )
    counted = good & np.isin(placement, codes) & (shares >= f.stealth_min_print_shares)
    span_s = (ts[counted].max() - ts[counted].min()) / 1e9 if counted.any() else 0.0
    if (
        counted.sum() >= f.stealth_min_prints
        and shares[counted].sum() >= f.stealth_min_total_shares
        and span_s <= f.dark_window_sec
    ):
        return {name}
    return set()
