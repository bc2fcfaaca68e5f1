"""Sign-in when the dashboards are shared: Streamlit's built-in OIDC login (``st.login``).

Sign-in is on when ``[auth]`` is configured in ``.streamlit/secrets.toml``. Without it the
app shows data on loopback only: served on any other address it shows one line saying why
it will not, and nothing else (``flowlake serve`` refuses to start in that case already).
"""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

from lake.access import is_loopback, missing_auth_keys


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
    if not st.user.get("is_logged_in", False):
        st.title("flowlake")
        st.info("Sign in to see the lake.")
        st.button("Sign in", on_click=st.login, key="sign_in", icon=":material/login:")
        st.stop()
    with st.sidebar:
        who = st.user.get("email") or st.user.get("name") or st.user.get("sub")
        st.caption(f"Signed in as {who}")
        st.button("Sign out", on_click=st.logout, key="sign_out", icon=":material/logout:")
