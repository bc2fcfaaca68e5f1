"""IBKR bridge configuration (typed, frozen; host and port fall back to the environment)."""

from __future__ import annotations

import os
from dataclasses import dataclass

HOST_ENV, PORT_ENV, CLIENT_ENV = "IBKR_HOST", "IBKR_PORT", "IBKR_CLIENT_ID"


@dataclass(frozen=True)
class IbkrConfig:
    """One option contract and its underlying, streamed tick by tick.

    Attributes
    ----------
    symbol, expiry, strike, right, exchange, currency
        The option (``expiry`` as YYYYMMDD, ``right`` C/P); the underlying is ``symbol``.
    host, port, client_id
        TWS / IB Gateway; None reads ``IBKR_HOST`` / ``IBKR_PORT`` / ``IBKR_CLIENT_ID``
        (default 127.0.0.1:7497, client 17). IB authenticates in the gateway, not here.
    backoff_s, backoff_max_s
        Reconnect delays: ``backoff_s`` doubling up to ``backoff_max_s``.
    """

    symbol: str = "SPY"
    expiry: str = ""
    strike: float = 0.0
    right: str = "C"
    exchange: str = "SMART"
    currency: str = "USD"
    host: str | None = None
    port: int | None = None
    client_id: int | None = None
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0

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
