"""Alpaca adapter configuration (typed, frozen; keys fall back to the environment)."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.credentials import credential

KEY_ENV = "APCA_API_KEY_ID"
SECRET_ENV = "APCA_API_SECRET_KEY"


@dataclass(frozen=True)
class AlpacaConfig:
    """What to stream or fetch from Alpaca.

    Attributes
    ----------
    underlyings
        Stocks/ETFs whose trades and quotes are streamed and whose options are selected.
    contracts
        Option contracts (Alpaca or OSI symbols); empty: chosen by :func:`select_contracts`.
    options_feed, stock_feed
        ``indicative`` | ``opra``; ``iex`` | ``sip``.
    options_stream_url, stocks_stream_url, rest_url
        Overrides of Alpaca's endpoints (tests point them at local servers).
    api_key, secret_key
        Explicit keys; None reads ``APCA_API_KEY_ID`` / ``APCA_API_SECRET_KEY`` from the
        environment or ``.env``.
    """

    underlyings: tuple[str, ...] = ("SPY",)
    contracts: tuple[str, ...] = ()
    options_feed: str = "indicative"
    stock_feed: str = "iex"
    options_stream_url: str | None = None
    stocks_stream_url: str | None = None
    rest_url: str | None = None
    api_key: str | None = None
    secret_key: str | None = None

    def keys(self) -> tuple[str, str]:
        """Return (key id, secret); one clear error naming the variable if either is missing."""
        return self.api_key or str(credential(KEY_ENV)), self.secret_key or str(
            credential(SECRET_ENV)
        )
