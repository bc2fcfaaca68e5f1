"""The bounded option-chain slice a live source subscribes (Alpaca and IBKR share it).

A live feed carries a few hundred contracts at most (Alpaca's quote limit, IB's market-data
lines), so a source lists the underlying's chain and its last price, and the policy picks
the contracts where the flow is: the nearest weekly and monthly expiries, the strikes
nearest the money.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from adapters.osi import from_compact, parse_osi_columns
from adapters.source import Batch


def choice(*allowed: str) -> Callable[[str], str]:
    """Return a parser accepting exactly ``allowed``."""

    def parse(text: str) -> str:
        if text not in allowed:
            raise ValueError(text)
        return text

    return parse


def in_range(kind: Callable[[str], Any], low: float, high: float) -> Callable[[str], Any]:
    """Return a parser of ``kind`` accepting values in ``[low, high]``."""

    def parse(text: str) -> Any:
        value = kind(text)
        if not low <= value <= high:
            raise ValueError(text)
        return value

    return parse


@dataclass(frozen=True)
class ChainPolicy:
    """Which contracts of a chain to subscribe.

    Attributes
    ----------
    max_dte
        Expiries within this many days.
    strikes_per_side
        Strikes per side of spot, per expiry and right.
    moneyness, wide_moneyness
        Strikes within this fraction of spot; the wide band where a side has fewer.
    max_quotes
        At most this many contracts, nearest the money first.
    """

    max_dte: int = 30
    strikes_per_side: int = 8
    moneyness: float = 0.06
    wide_moneyness: float = 0.10
    max_quotes: int = 200

    def why(self, chosen: int, listed: int, spot: float) -> str:
        """Return the sentence a selection is stored and logged with."""
        return (
            f"{chosen} of {listed} listed contracts: nearest weekly and monthly expiries "
            f"within {self.max_dte} days, {self.strikes_per_side} strikes a side within "
            f"{self.moneyness:.0%} ({self.wide_moneyness:.0%} where fewer) of {spot}, at most "
            f"{self.max_quotes}"
        )


def policy_settings(prefix: str) -> dict[str, tuple[str, Callable[[str], Any]]]:
    """Return the policy's settings as field -> (``{prefix}MAX_DTE``..., parser)."""
    return {
        "max_dte": (f"{prefix}MAX_DTE", in_range(int, 0, 366)),
        "strikes_per_side": (f"{prefix}STRIKES_PER_SIDE", in_range(int, 1, 100)),
        "moneyness": (f"{prefix}MONEYNESS", in_range(float, 0.001, 1.0)),
        "wide_moneyness": (f"{prefix}WIDE_MONEYNESS", in_range(float, 0.001, 1.0)),
        "max_quotes": (f"{prefix}MAX_QUOTES", in_range(int, 1, 10_000)),
    }


@dataclass(frozen=True)
class Selection:
    """The contracts chosen for one underlying, and why."""

    underlying: str
    spot: float | None
    listed: int
    contracts: tuple[str, ...]
    why: str


#: The stream a live recording's first batch carries its contract selection in (spooled
#: with the batch; landing keeps the canonical streams only).
SELECTION_STREAM = "contract_selection"


def selection_frame(selections: list[Selection], chosen_ns: int) -> pl.DataFrame:
    """Return the selections as rows: one per chosen contract, with the reason."""
    return pl.DataFrame(
        [
            {"chosen_ns": chosen_ns, "underlying": s.underlying, "spot": s.spot,
             "listed": s.listed, "contract": c, "why": s.why}
            for s in selections
            for c in s.contracts or (None,)
        ],
        schema={"chosen_ns": pl.Int64, "underlying": pl.String, "spot": pl.Float64,
                "listed": pl.Int64, "contract": pl.String, "why": pl.String},
    )  # fmt: skip


def with_selection(batch: Batch, selection: pl.DataFrame | None) -> Batch:
    """Return ``batch`` carrying ``selection`` (a recording spools it with its first batch)."""
    if selection is None:
        return batch
    return Batch(streams={**batch.streams, SELECTION_STREAM: selection}, resume=batch.resume)


def _third_friday(day: dt.date) -> bool:
    return day.weekday() == 4 and 15 <= day.day <= 21


def select_contracts(
    symbols: list[str], spot: float, today: dt.date, policy: ChainPolicy | None = None
) -> list[str]:
    """Return the bounded subscription set for one underlying's option chain.

    The nearest weekly and the nearest monthly expiry within ``max_dte`` (30) days; per
    expiry and right, the ``strikes_per_side`` (8) strikes nearest the spot on each side
    within ``moneyness`` (6%), ``wide_moneyness`` (10%) when a side has fewer there; at
    most ``max_quotes`` (200) contracts, nearest the money first.

    Parameters
    ----------
    symbols
        OSI symbols of the chain (spaces optional, as Alpaca writes them).
    spot
        The underlying's last price.
    today
        The trading date.
    policy
        The knobs; None: the defaults.

    Examples
    --------
    >>> select_contracts(["SPY261218C00600000", "SPY261218C00700000"], 600.0,
    ...                  dt.date(2026, 12, 1), ChainPolicy(strikes_per_side=1))
    ['SPY261218C00600000']
    """
    p = policy or ChainPolicy()
    if not symbols:
        return []
    chain = (
        pl.DataFrame({"symbol": symbols})
        .with_columns(from_compact(pl.col("symbol")).alias("osi"))
        .with_columns(**parse_osi_columns(pl.col("osi")))
        .drop_nulls("expiry")
    )
    chain = chain.filter(
        (pl.col("expiry") >= today) & (pl.col("expiry") <= today + dt.timedelta(days=p.max_dte))
    )
    expiries = sorted(set(chain["expiry"].to_list()))
    monthly = next((e for e in expiries if _third_friday(e)), None)
    weekly = next((e for e in expiries if not _third_friday(e)), None)
    chosen_exp = [e for e in (weekly, monthly) if e is not None]
    picked = []
    for _, part in chain.filter(pl.col("expiry").is_in(chosen_exp)).group_by(
        "expiry", "right", maintain_order=True
    ):
        for side in (pl.col("strike") <= spot, pl.col("strike") > spot):
            near = part.filter(side & ((pl.col("strike") / spot - 1).abs() <= p.moneyness))
            band = (
                near
                if near.height >= p.strikes_per_side
                else part.filter(side & ((pl.col("strike") / spot - 1).abs() <= p.wide_moneyness))
            )
            picked.append(band.sort((pl.col("strike") - spot).abs()).head(p.strikes_per_side))
    if not picked:
        return []
    out = (
        pl.concat(picked)
        .sort((pl.col("strike") - spot).abs(), "expiry", "symbol")
        .head(p.max_quotes)
    )
    return sorted(out["symbol"].to_list())
