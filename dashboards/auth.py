"""Sign-in when the dashboards are shared: Streamlit's built-in OIDC login (``st.login``).

Sign-in is on when ``[auth]`` is configured in ``.streamlit/secrets.toml``. Without it the
app shows data on loopback only: served on any other address it shows one line saying why
it will not, and nothing else (``flowlake serve`` refuses to start in that case already).
"""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

#: The ``[auth]`` keys Streamlit needs for one OIDC provider.
REQUIRED = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def missing_auth_keys(auth: Mapping[str, object] | None) -> list[str]:
    """Return the required ``[auth]`` keys that ``auth`` lacks or leaves empty.

    Examples
    --------
    >>> missing_auth_keys({"client_id": "flowlake", "redirect_uri": ""})[:2]
    ['redirect_uri', 'cookie_secret']
    """
    auth = auth or {}
    return [key for key in REQUIRED if not str(auth.get(key) or "").strip()]


def is_loopback(address: str | None) -> bool:
    """Return True when ``address`` is reachable from this machine only (unset: loopback,
    because the project's ``.streamlit/config.toml`` sets it)."""
    return address is None or address in LOOPBACK or address.startswith("127.")


def _auth_section() -> Mapping[str, object] | None:
    try:
        section = st.secrets.get("auth")
    except FileNotFoundError:
        return None
    return section if isinstance(section, Mapping) else None


def require_sign_in() -> None:
    """Stop the page unless the user may see the lake: signed in when sign-in is configured,
    or on loopback when it is not."""
    auth = _auth_section()
    if auth is None or missing_auth_keys(auth):
        address = st.get_option("server.address")
        if not is_loopback(address):
            st.error(
                f"flowlake is served on {address} without sign-in, so it shows no data: "
                "configure [auth] in .streamlit/secrets.toml or serve on 127.0.0.1."
            )
            st.stop()
        return
    if not st.user.is_logged_in:
        st.title("flowlake")
        st.info("Sign in to see the lake.")
        st.button("Sign in", on_click=st.login, key="sign_in", icon=":material/login:")
        st.stop()
    with st.sidebar:
        who = st.user.get("email") or st.user.get("name") or st.user.get("sub")
        st.caption(f"Signed in as {who}")
        st.button("Sign out", on_click=st.logout, key="sign_out", icon=":material/logout:")
