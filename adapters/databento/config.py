"""Databento adapter configuration (typed, frozen; the key falls back to the environment)."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.credentials import credential

API_KEY_ENV = "DATABENTO_API_KEY"


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

    def key(self) -> str:
        """Return the API key (explicit, else ``DATABENTO_API_KEY``); one clear error if missing."""
        return self.api_key or str(credential(API_KEY_ENV))
