"""Alpaca adapter configuration (typed, frozen; keys fall back to the environment)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adapters.chain import ChainPolicy, choice, policy_settings
from adapters.credentials import credential, resolve_settings

KEY_ENV = "APCA_API_KEY_ID"
SECRET_ENV = "APCA_API_SECRET_KEY"


#: Config field -> (environment variable, parser): the settings a user sets once.
SETTINGS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "options_feed": ("ALPACA_OPTIONS_FEED", choice("indicative", "opra")),
    "stock_feed": ("ALPACA_STOCK_FEED", choice("iex", "sip")),
    **policy_settings("ALPACA_"),
    # Endpoint overrides, for a proxy or a local server; Alpaca's own when unset.
    "options_stream_url": ("ALPACA_OPTIONS_STREAM_URL", str),
    "stocks_stream_url": ("ALPACA_STOCKS_STREAM_URL", str),
    "rest_url": ("ALPACA_DATA_URL", str),
}


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
    max_dte, strikes_per_side, moneyness, wide_moneyness, max_quotes
        The selection policy when ``contracts`` is empty: the nearest weekly and monthly
        expiries within ``max_dte`` days, ``strikes_per_side`` strikes per side within
        ``moneyness`` of spot (``wide_moneyness`` where a side has fewer), at most
        ``max_quotes`` contracts (:class:`~adapters.chain.ChainPolicy`).
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
    max_dte: int = 30
    strikes_per_side: int = 8
    moneyness: float = 0.06
    wide_moneyness: float = 0.10
    max_quotes: int = 200

    @classmethod
    def from_settings(cls, **given: Any) -> AlpacaConfig:
        """Return a config whose policy knobs and feeds come from ``given`` (CLI flags; None
        means not given), else the environment or ``.env`` (:data:`SETTINGS`), else the
        defaults.

        Raises
        ------
        ValueError
            For a setting that is not a number in its range or a known feed, naming it.
        """
        return cls(**resolve_settings(SETTINGS, given))

    @property
    def policy(self) -> ChainPolicy:
        """Return the chain-selection knobs."""
        return ChainPolicy(
            self.max_dte, self.strikes_per_side, self.moneyness, self.wide_moneyness,
            self.max_quotes,
        )  # fmt: skip

    def keys(self) -> tuple[str, str]:
        """Return (key id, secret); one clear error naming the variable if either is missing."""
        return self.api_key or str(credential(KEY_ENV)), self.secret_key or str(
            credential(SECRET_ENV)
        )
