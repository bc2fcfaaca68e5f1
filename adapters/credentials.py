"""Credentials and settings from the environment or a ``.env`` file, never from code or the lake."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


class MissingCredentialError(RuntimeError):
    """A required credential is not set; the message names the variable."""


def _dotenv(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def credential(name: str, *, dotenv: str | Path = ".env", required: bool = True) -> str | None:
    """Return the value of ``name`` from the environment, else from ``dotenv``.

    Raises
    ------
    MissingCredentialError
        When ``required`` and the variable is set in neither place.
    """
    value = os.environ.get(name) or _dotenv(Path(dotenv)).get(name)
    if not value and required:
        raise MissingCredentialError(f"{name} is not set: export it or put it in {dotenv}")
    return value or None


def resolve_settings(
    table: Mapping[str, tuple[str, Callable[[str], Any]]], given: Mapping[str, Any]
) -> dict[str, Any]:
    """Return config values: ``given`` (CLI flags; None means not given), else each
    setting's variable in the environment or ``.env``, each parsed by its ``table`` parser.

    Raises
    ------
    ValueError
        For a value its parser refuses, naming the variable and the flag.
    """
    values: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    for field_name, (variable, parse) in table.items():
        if field_name in values:
            text = str(values[field_name])
        else:
            found = credential(variable, required=False)
            if found is None:
                continue
            text = found
        try:
            values[field_name] = parse(text)
        except ValueError:
            raise ValueError(
                f"{variable} / --{field_name.replace('_', '-')}: {text!r} is not valid"
            ) from None
    return values
