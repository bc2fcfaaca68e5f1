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


#: Sections a calibration may vary: those read by the classifiers and alerts only (other
#: sections shape tables that are not kept per config version).
CALIBRATED_SECTIONS = ("gates", "alerts", "classifiers.")


def with_value(key: str, value: float, path: str | Path | None = None) -> str:
    """Return the text of the thresholds file ``path`` (the defaults when None) with the
    dotted ``key`` (``classifiers.sweep.min_premium``) set to ``value``; every other line,
    comments included, is kept.

    Raises
    ------
    ValueError
        When ``key`` is not a number of the file, or its section is not one a calibration
        may vary (:data:`CALIBRATED_SECTIONS`).

    Examples
    --------
    >>> "min_premium = 30000" in with_value("classifiers.sweep.min_premium", 30000)
    True
    """
    section, _, name = key.rpartition(".")
    if not section.startswith(CALIBRATED_SECTIONS) and section not in CALIBRATED_SECTIONS:
        allowed = ", ".join(f"[{s}*]" if s.endswith(".") else f"[{s}]" for s in CALIBRATED_SECTIONS)
        raise ValueError(f"{key}: only {allowed} keys can be swept")
    source = Path(path) if path is not None else DEFAULT_THRESHOLDS
    try:
        old = load_thresholds(source).section(section)[name]
    except KeyError:
        raise ValueError(f"{key}: no such threshold") from None
    if isinstance(old, bool) or not isinstance(old, int | float):
        raise ValueError(f"{key}: not a number ({old!r})")
    text = value if isinstance(old, float) or value != int(value) else int(value)
    lines = source.read_text("utf-8").splitlines(keepends=True)
    inside = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("["):
            inside = stripped == f"[{section}]"
        elif inside and stripped.split("=")[0].strip() == name:
            comment = line[line.index("#") :] if "#" in line else "\n"
            head = f"{name} = {text}"
            lines[i] = f"{head:<29}{comment}" if "#" in line else head + comment
            return "".join(lines)
    raise ValueError(f"{key}: no such threshold")
