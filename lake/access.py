"""Who may read the lake through the dashboards: loopback freely, any other address only
behind OIDC sign-in.

``flowlake serve`` (before it starts anything) and the dashboards (on every run) apply the
same rule, from the same ``[auth]`` section of Streamlit's ``secrets.toml``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

#: The ``[auth]`` keys Streamlit's ``st.login`` needs for one OIDC provider.
REQUIRED = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")


def is_loopback(address: str | None) -> bool:
    """Return True when ``address`` is reachable from this machine only (None: the project's
    ``.streamlit/config.toml`` sets 127.0.0.1).

    Examples
    --------
    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    return address is None or address in ("localhost", "::1") or address.startswith("127.")


def missing_auth_keys(auth: Mapping[str, object] | None) -> list[str]:
    """Return the required ``[auth]`` keys that ``auth`` lacks or leaves empty.

    Examples
    --------
    >>> missing_auth_keys({"client_id": "flowlake", "redirect_uri": ""})[:2]
    ['redirect_uri', 'cookie_secret']
    """
    auth = auth or {}
    return [key for key in REQUIRED if not str(auth.get(key) or "").strip()]


def auth_from_files(paths: Sequence[Path]) -> dict[str, object]:
    """Return the ``[auth]`` section Streamlit would read from ``paths`` (later files win, as
    in Streamlit); empty when none has one.

    Raises
    ------
    ValueError
        When a file exists but is not valid TOML (its path and the parser's message).
    """
    merged: dict[str, object] = {}
    for path in paths:
        if not path.is_file():
            continue
        try:
            section = tomllib.loads(path.read_text()).get("auth", {})
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: {exc}") from None
        if isinstance(section, dict):
            merged.update(section)
    return merged
