"""Credentials from the environment or a ``.env`` file, never from code or the lake."""

from __future__ import annotations

import os
from pathlib import Path


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
