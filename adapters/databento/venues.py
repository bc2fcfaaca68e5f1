"""Databento venues (publisher MICs) -> the exchange codes of the canonical schemas.

OPRA trades carry the venue in ``publisher_id``; the OPRA participant letter is what the
condition policy, sweeps (n_exchanges) and users expect. Equity venues map to the
CTA/UTP participant letters, with the FINRA TRFs as ``D`` (off-exchange).
"""

from __future__ import annotations

from databento.common.publishers import Publisher

OPRA_PARTICIPANTS: dict[str, str] = {
    "AMXO": "A", "XBOX": "B", "XCBO": "C", "EDGO": "E", "GMNI": "H", "XISX": "I", "MCRY": "J",
    "XMIO": "M", "ARCO": "N", "MPRL": "P", "XNDQ": "Q", "XBXO": "T", "EMLD": "U", "C2OX": "W",
    "XPHL": "X", "BATO": "Z", "MXOP": "S", "OPRA": "O",
}  # fmt: skip
EQUITY_PARTICIPANTS: dict[str, str] = {
    "XNYS": "N", "ARCX": "P", "XNAS": "Q", "BATS": "Z", "BATY": "Y", "EDGA": "J", "EDGX": "K",
    "IEXG": "V", "MEMX": "U", "XASE": "A", "XCHI": "M", "XBOS": "B", "XPSX": "X", "LTSE": "L",
    "XCIS": "C", "EPRL": "H", "FINN": "D", "FINC": "D", "FINY": "D", "XADF": "D",
}  # fmt: skip


def venue_code(publisher_id: int, options: bool) -> str:
    """Return the exchange code of a publisher; the venue MIC when no code is known.

    Raises
    ------
    ValueError
        For a publisher id Databento does not define.
    """
    venue = Publisher.from_int(int(publisher_id)).venue
    table = OPRA_PARTICIPANTS if options else EQUITY_PARTICIPANTS
    return table.get(str(venue), str(venue))


def venue_table(publisher_ids: list[int], options: bool) -> dict[int, str]:
    """Return publisher_id -> exchange code for the ids present (a small lookup, not per row)."""
    return {int(p): venue_code(int(p), options) for p in set(publisher_ids)}
