"""Databento adapter configuration (typed, frozen; the key falls back to the environment)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.credentials import credential

API_KEY_ENV = "DATABENTO_API_KEY"
#: The live gateway as ``host:port`` (Databento's own gateway when unset).
LIVE_GATEWAY_ENV = "DATABENTO_LIVE_GATEWAY"


@dataclass(frozen=True)
class DatabentoConfig:
    """What to request from Databento.

    Attributes
    ----------
    datasets
        Dataset -> schemas to fetch. Options: ``tcbbo``, each trade with the consolidated
        BBO (the NBBO) just before it, plus definitions (multipliers, underlyings) and
        statistics (open interest); a venue schema (``tbbo``, ``mbp-1`` of one venue) is not
        the NBBO. Equities: ``EQUS.PLUS`` trades, which keep their venue and include the
        FINRA TRFs (off-exchange prints), and ``EQUS.MINI``'s consolidated ``mbp-1`` as the
        quotes (``EQUS.MINI``'s own trades say no venue: no off-exchange print).
    symbols
        Raw symbols per dataset (``ALL_SYMBOLS`` or parent symbols such as ``SPY.OPT``
        with ``stype_in="parent"``).
    api_key
        Explicit key; None reads ``DATABENTO_API_KEY`` from the environment or ``.env``.
    gateway
        Historical API base URL (tests point it at a local server).
    live_gateway, live_port
        Live gateway host and port; None: Databento's gateway of each dataset (tests
        point them at a local gateway).
    """

    datasets: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("OPRA.PILLAR", ("definition", "statistics", "tcbbo")),
        ("EQUS.PLUS", ("trades",)),
        ("EQUS.MINI", ("mbp-1",)),
    )
    symbols: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("OPRA.PILLAR", ("SPY.OPT",)),
        ("EQUS.PLUS", ("SPY",)),
        ("EQUS.MINI", ("SPY",)),
    )
    stype_in: tuple[tuple[str, str], ...] = (
        ("OPRA.PILLAR", "parent"),
        ("EQUS.PLUS", "raw_symbol"),
        ("EQUS.MINI", "raw_symbol"),
    )
    api_key: str | None = None
    gateway: str | None = None
    live_gateway: str | None = None
    live_port: int = 13000

    @classmethod
    def for_underlyings(cls, underlyings: tuple[str, ...], **given: Any) -> DatabentoConfig:
        """Return the default datasets for ``underlyings``: their options by parent symbol
        (``SPY.OPT``), their trades with venues and their consolidated quotes.

        ``live_gateway`` comes from ``DATABENTO_LIVE_GATEWAY`` (``host:port``, environment
        or ``.env``) unless given.

        Raises
        ------
        ValueError
            For a ``DATABENTO_LIVE_GATEWAY`` that is not ``host`` or ``host:port``.
        """
        if "live_gateway" not in given:
            address = credential(LIVE_GATEWAY_ENV, required=False)
            if address:
                host, _, port = address.rpartition(":") if ":" in address else (address, "", "")
                if not host or (port and not port.isdigit()):
                    raise ValueError(f"{LIVE_GATEWAY_ENV}: {address!r} is not host or host:port")
                given = {
                    **given,
                    "live_gateway": host,
                    **({"live_port": int(port)} if port else {}),
                }
        options = tuple(f"{u}.OPT" for u in underlyings)
        return cls(
            symbols=(
                ("OPRA.PILLAR", options),
                ("EQUS.PLUS", underlyings),
                ("EQUS.MINI", underlyings),
            ),
            **given,
        )

    def key(self) -> str:
        """Return the API key (explicit, else ``DATABENTO_API_KEY``); one clear error if missing."""
        return self.api_key or str(credential(API_KEY_ENV))
