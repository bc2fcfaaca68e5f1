"""The thresholds file: loading, validation and its content-hash ``config_version``."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, get_type_hints

from lake.compare import config_version_of

DEFAULT_THRESHOLDS = Path(__file__).with_name("thresholds.toml")


@dataclass(frozen=True)
class NbboRules:
    """Rule 1: a quote older than ``max_age_ms`` (from a sampled source) places nothing."""

    max_age_ms: int


@dataclass(frozen=True)
class PlacementRules:
    """Rule 2: eps = max(``eps_min``, ``eps_spread_fraction`` x spread)."""

    eps_min: float
    eps_spread_fraction: float


@dataclass(frozen=True)
class PacketRules:
    """Rule 5: the packet window, what makes a sweep or a block, the burst span."""

    cluster_window_ms: int
    sweep_min_count: int
    sweep_min_exchanges: int
    block_min_size: int
    burst_window_ms: int


@dataclass(frozen=True)
class StructureRules:
    """Rule 6: the window legs overlap in, the smallest leg, the largest size ratio."""

    window_ms: int
    min_leg_size: int
    max_leg_size_ratio: int


@dataclass(frozen=True)
class BaselineRules:
    """Rule 7: the rolling window per contract and the priors a z-score needs."""

    rolling_window_size: int
    rolling_ttl_sec: int
    z_min_samples: int


@dataclass(frozen=True)
class GateRules:
    """Rule 8's gates: coverage, and the buy ratio on either side."""

    min_coverage: float
    min_buy_ratio: float
    max_sell_ratio: float


@dataclass(frozen=True)
class SweepRules:
    """A sweep hit: premium floor and z (its count is :attr:`PacketRules.sweep_min_count`);
    ISO prints close ``iso_weight`` of the gap to 1."""

    min_premium: float
    min_premium_z: float
    iso_weight: float


@dataclass(frozen=True)
class SpikeRules:
    min_premium: float
    min_size: int
    min_premium_z: float
    min_size_z: float


@dataclass(frozen=True)
class ZeroDteRules:
    max_strike_distance: float
    min_premium: float
    min_size: int


@dataclass(frozen=True)
class RollRules:
    min_premium: float


@dataclass(frozen=True)
class BurstRules:
    min_prints: int
    min_premium: float


@dataclass(frozen=True)
class RepeatHitterRules:
    window_sec: float
    min_orders: int
    min_order_size: int
    max_size_ratio: float
    min_premium: float


@dataclass(frozen=True)
class ClassifierRules:
    """Rule 8: one set of rules per classifier."""

    sweep: SweepRules
    spike: SpikeRules
    zero_dte: ZeroDteRules
    roll: RollRules
    burst: BurstRules
    repeat_hitter: RepeatHitterRules


@dataclass(frozen=True)
class AlertRules:
    """Rule 9: the score's parts and the severity levels."""

    premium_per_point: float
    premium_cap: float
    confidence_weight: float
    points_per_hit: float
    hits_cap: float
    high: float
    medium: float


@dataclass(frozen=True)
class DarkpoolRules:
    """Rule 10."""

    window_sec: int
    cooldown_sec: int
    max_quote_age_ms: int
    max_spread_to_mid: float
    absorbed_min_shares: int
    block_min_notional: float
    stealth_min_prints: int
    stealth_min_print_shares: int
    stealth_min_total_shares: int


@dataclass(frozen=True)
class PositioningRules:
    """Rule 12: the premium of a golden sweep."""

    golden_min_premium: float


@dataclass(frozen=True)
class GammaRules:
    snapshot_minutes: int
    quote_max_age_s: int
    rate: float
    grid_pct: float
    grid_step_pct: float


@dataclass(frozen=True)
class VolumeRules:
    history_days: int
    min_history_days: int
    min_volume: int
    min_relative_volume: float


@dataclass(frozen=True)
class Thresholds:
    """A parsed thresholds file, typed and frozen: ``th.classifiers.sweep.min_premium``.

    Loaded once per run (:func:`load_thresholds` caches a file by its bytes) and passed as
    a value. ``config_version`` is the first 12 hex digits of the SHA-256 of the file's
    bytes; ``values`` keeps the TOML tables as read.
    """

    nbbo: NbboRules
    placement: PlacementRules
    packets: PacketRules
    structures: StructureRules
    baselines: BaselineRules
    gates: GateRules
    classifiers: ClassifierRules
    alerts: AlertRules
    darkpool: DarkpoolRules
    positioning: PositioningRules
    gamma: GammaRules
    volume: VolumeRules
    config_version: str
    path: str
    values: dict[str, Any] = field(compare=False, repr=False)

    def replaced(self, key: str, value: float) -> Thresholds:
        """Return a copy with the dotted ``key`` (``classifiers.sweep.min_premium``) set.

        Examples
        --------
        >>> load_thresholds().replaced("gates.min_coverage", 0.4).gates.min_coverage
        0.4
        """
        *outer, name = key.split(".")
        nodes: list[Any] = [self]
        for part in outer:
            nodes.append(getattr(nodes[-1], part))
        new: Any = replace(nodes[-1], **{name: value})
        for node, part in zip(reversed(nodes[:-1]), reversed(outer), strict=True):
            new = replace(node, **{part: new})
        return new


def _build(kind: type, table: dict[str, Any], where: str) -> Any:
    """Return ``kind`` from one TOML table: every field present and of its type (an int
    where the file has one stays an int, so explanations print it as written)."""
    hints = get_type_hints(kind)
    unknown = sorted(set(table) - set(hints))
    if unknown:
        raise ValueError(f"[{where}]: unknown threshold(s): {', '.join(unknown)}")
    args: dict[str, Any] = {}
    for name, hint in hints.items():
        if name not in table:
            raise ValueError(f"[{where}]: missing threshold {name}")
        value = table[name]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ValueError(f"[{where}.{name}] must be a table")
            args[name] = _build(hint, value, f"{where}.{name}")
            continue
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if not numeric or (hint is int and not isinstance(value, int)) or value != value:
            wanted = "a whole number" if hint is int else "a number"
            raise ValueError(f"[{where}] {name} = {value!r}: not {wanted}")
        args[name] = value
    return kind(**args)


def _typed(values: dict[str, Any], version: str, path: str) -> Thresholds:
    hints = get_type_hints(Thresholds)
    sections = {n: h for n, h in hints.items() if dataclasses.is_dataclass(h)}
    unknown = sorted(set(values) - set(sections))
    if unknown:
        raise ValueError(f"unknown section(s): {', '.join(f'[{u}]' for u in unknown)}")
    built = {}
    for name, kind in sections.items():
        if name not in values:
            raise ValueError(f"missing section [{name}]")
        built[name] = _build(kind, values[name], name)
    return Thresholds(**built, config_version=version, path=path, values=values)


def load_thresholds(path: str | Path | None = None) -> Thresholds:
    """Return the thresholds in ``path`` (the packaged defaults when None).

    The file is parsed once per content: a run that asks again gets the same value.

    Raises
    ------
    ValueError
        When the file is not valid TOML, lacks a threshold, names one flowlake does not
        have, or gives a value of the wrong type; the message names the file.
    """
    source = Path(path) if path is not None else DEFAULT_THRESHOLDS
    return _parsed(str(source), source.read_bytes())


@lru_cache(maxsize=16)
def _parsed(source: str, raw: bytes) -> Thresholds:
    try:
        values = tomllib.loads(raw.decode("utf-8"))
        return _typed(values, config_version_of(raw), source)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{source}: not a valid thresholds file: {exc}") from exc
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None


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
    node: Any = load_thresholds(source)
    try:
        for part in key.split("."):
            node = getattr(node, part)
    except AttributeError:
        raise ValueError(f"{key}: no such threshold") from None
    old = node
    if dataclasses.is_dataclass(old) or isinstance(old, bool) or not isinstance(old, int | float):
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
