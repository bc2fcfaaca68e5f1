"""Page filters kept in the URL, so that a view can be shared, bookmarked and saved.

A filter widget takes its key from :func:`seeded`, which fills ``st.session_state`` from the
query string the first time the page runs in a session; :func:`publish` writes the current
values back (a value equal to its default is left out, which keeps links short).

Each value's type is its default's: ``bool`` ("1"/"0"), ``int``, ``float``, ``str``,
and ``list[str]`` (comma-separated). A range is two filters (``dte_min``, ``dte_max``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import streamlit as st

Value = bool | int | float | str | list[str] | None

#: Every key :func:`seeded` filled: what :func:`forget` clears so the URL sets them again.
_SEEDED: set[str] = set()


def decode(
    raw: str, default: Value, options: Sequence[str] | None = None, kind: type | None = None
) -> Value:
    """Return the URL text ``raw`` as a value of ``default``'s type (``default`` if it is not one).

    A default of None (an optional bound) takes its type from ``kind``.

    Examples
    --------
    >>> decode("sweep,block", ["sweep"], options=["sweep", "block", "split"])
    ['sweep', 'block']
    >>> decode("lots", 25_000)
    25000
    >>> decode("7", None, kind=int)
    7
    >>> decode("nan", None, kind=float) is None
    True
    """
    probe = default if default is not None or kind is None else kind()
    try:
        match probe:
            case bool():
                return raw.lower() in ("1", "true", "yes", "on")
            case int():
                return int(raw)
            case float():
                number = float(raw)
                return number if math.isfinite(number) else default
            case list():
                items = [item for item in raw.split(",") if item]
                return [item for item in items if options is None or item in options]
            case _:
                text = raw.strip()
                return text if options is None or text in options else default
    except ValueError:
        return default


def encode(value: Value) -> str:
    """Return ``value`` as URL text (the inverse of :func:`decode`)."""
    match value:
        case bool():
            return "1" if value else "0"
        case list():
            return ",".join(value)
        case _:
            return str(value)


def seeded(
    name: str, default: Value, options: Sequence[str] | None = None, kind: type | None = None
) -> str:
    """Return the widget key ``name``, its session value filled from the URL if not set yet.

    Pass it as the widget's ``key`` and give the widget no value of its own: the session
    value is the widget's value.
    """
    _SEEDED.add(name)
    if name not in st.session_state:
        raw = st.query_params.get(name)
        st.session_state[name] = default if raw is None else decode(raw, default, options, kind)
    return name


def forget() -> None:
    """Drop every URL-seeded filter from the session: the next run reads them from the URL."""
    for name in _SEEDED:
        st.session_state.pop(name, None)


def publish(defaults: Mapping[str, Value]) -> None:
    """Write the filters named in ``defaults`` to the URL, dropping those at their default."""
    for name, default in defaults.items():
        value = st.session_state.get(name, default)
        if value == default or value is None:
            st.query_params.pop(name, None)
        else:
            st.query_params[name] = encode(value)
