"""IBKR source configuration (typed, frozen; host, port and the policy fall back to settings)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from adapters.chain import ChainPolicy, in_range, policy_settings
from adapters.credentials import resolve_settings

HOST_ENV, PORT_ENV, CLIENT_ENV = "IBKR_HOST", "IBKR_PORT", "IBKR_CLIENT_ID"

#: Config field -> (environment variable, parser): the settings a user sets once.
SETTINGS: dict[str, tuple[str, Callable[[str], Any]]] = {
    **policy_settings("IBKR_"),
    "max_lines": ("IBKR_MAX_LINES", in_range(int, 1, 10_000)),
}
_POLICY = {f.name for f in fields(ChainPolicy)}


@dataclass(frozen=True)
class IbkrConfig:
    """What to stream from TWS / IB Gateway.

    Attributes
    ----------
    underlyings
        Stocks/ETFs streamed tick by tick (trades and bid/ask) whose options are selected.
    contracts
        Option contracts as OSI symbols; empty: chosen from the chain IB lists
        (``reqSecDefOptParams``) by ``policy``.
    exchange, currency
        Where the contracts are routed (``SMART``: IB's consolidated quote, the NBBO).
    host, port, client_id
        TWS / IB Gateway; None reads ``IBKR_HOST`` / ``IBKR_PORT`` / ``IBKR_CLIENT_ID``
        (default 127.0.0.1:7497, client 17). IB authenticates in the gateway, not here.
    backoff_s, backoff_max_s
        Reconnect delays: ``backoff_s`` doubling up to ``backoff_max_s``.
    policy
        The chain slice (:class:`~adapters.chain.ChainPolicy`).
    max_lines
        The account's market-data lines (IB's default is 100): one per option streamed,
        so at most this many options whatever ``policy.max_quotes`` says.
    """

    underlyings: tuple[str, ...] = ("SPY",)
    contracts: tuple[str, ...] = ()
    exchange: str = "SMART"
    currency: str = "USD"
    host: str | None = None
    port: int | None = None
    client_id: int | None = None
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0
    policy: ChainPolicy = field(default_factory=ChainPolicy)
    max_lines: int = 100

    @classmethod
    def from_settings(cls, **given: Any) -> IbkrConfig:
        """Return a config whose policy knobs and line limit come from ``given`` (CLI flags;
        None means not given), else the environment or ``.env`` (:data:`SETTINGS`), else
        the defaults; other fields are taken from ``given`` as they are.

        Raises
        ------
        ValueError
            For a setting that is not a number in its range, naming it.
        """
        values = resolve_settings(SETTINGS, given)
        knobs = {k: values.pop(k) for k in list(values) if k in _POLICY}
        return cls(policy=ChainPolicy(**knobs), **values)

    def address(self) -> tuple[str, int, int]:
        """Return (host, port, client id)."""
        return (
            self.host or os.environ.get(HOST_ENV, "127.0.0.1"),
            int(self.port or os.environ.get(PORT_ENV, 7497)),
            int(self.client_id or os.environ.get(CLIENT_ENV, 17)),
        )

    def delays(self) -> list[float]:
        """Return the reconnect back-off schedule up to its cap (then the cap repeats)."""
        out, delay = [], self.backoff_s
        while delay < self.backoff_max_s:
            out.append(delay)
            delay *= 2
        return [*out, self.backoff_max_s]
