"""The thresholds file: loading, validation and its content-hash ``config_version``."""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_THRESHOLDS = Path(__file__).with_name("thresholds.toml")


@dataclass(frozen=True)
class Thresholds:
    """A parsed thresholds file.

    Attributes
    ----------
    values
        The TOML tables as nested dicts (``values["packets"]["cluster_window_ms"]``).
    config_version
        First 12 hex digits of the SHA-256 of the file's bytes.
    path
        Where it was read from.
    """

    values: dict[str, Any]
    config_version: str
    path: str

    def section(self, name: str) -> dict[str, Any]:
        """Return one section (dotted names reach nested tables: ``classifiers.sweep``).

        Raises
        ------
        KeyError
            When the file has no such section.
        """
        node: Any = self.values
        for part in name.split("."):
            if not isinstance(node, dict) or part not in node:
                raise KeyError(f"thresholds file {self.path} has no section [{name}]")
            node = node[part]
        return dict(node)


def load_thresholds(path: str | Path | None = None) -> Thresholds:
    """Return the thresholds in ``path`` (the packaged defaults when None).

    Raises
    ------
    ValueError
        When the file is not valid TOML or lacks a section the defaults have.
    """
    source = Path(path) if path is not None else DEFAULT_THRESHOLDS
    raw = source.read_bytes()
    try:
        values = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{source}: not a valid thresholds file: {exc}") from exc
    if source != DEFAULT_THRESHOLDS:
        defaults = tomllib.loads(DEFAULT_THRESHOLDS.read_text("utf-8"))
        missing = _missing_keys(defaults, values)
        if missing:
            raise ValueError(f"{source}: missing thresholds: {', '.join(missing)}")
    return Thresholds(values, hashlib.sha256(raw).hexdigest()[:12], str(source))


def _missing_keys(
    reference: dict[str, Any], candidate: dict[str, Any], prefix: str = ""
) -> list[str]:
    missing: list[str] = []
    for key, value in reference.items():
        name = f"{prefix}{key}"
        if key not in candidate:
            missing.append(name)
        elif isinstance(value, dict):
            missing += _missing_keys(value, candidate[key], f"{name}.")
    return missing
