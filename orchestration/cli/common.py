"""What every ``flowlake`` command shares: one-line errors, argument types, the trading day,
in-process Dagster runs, and the source settings the flags give."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import math
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import dagster as dg

from adapters.calendar import first_session, is_session, last_session, latest_session
from adapters.osi import format_osi, parse_osi
from assets.sources import SourceError, SourceSettings
from orchestration.definitions import defs
from orchestration.failures import run_failure
from orchestration.instance import fail_orphaned_runs, get_instance, process_tags

EXIT_USAGE = 2
EXIT_FAILED = 1


class CliError(Exception):
    """A user-facing error: printed as one line, exit code attached."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One clear line instead of argparse's usage block.
        raise CliError(f"{message} (see `{self.prog} --help`)", EXIT_USAGE)


def session_date(text: str | None) -> dt.date:
    if text is None:
        return latest_session(dt.date.today())
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise CliError(f"--date {text!r} is not a date (use YYYY-MM-DD)", EXIT_USAGE) from None
    if not first_session() <= day <= last_session():
        raise CliError(
            f"--date {day} is outside the days flowlake supports "
            f"({first_session()} to {last_session()})",
            EXIT_USAGE,
        )
    if not is_session(day):
        raise CliError(f"--date {day} is not an XNYS trading session", EXIT_USAGE)
    return day


def _number(
    minimum: float, *, inclusive: bool, kind: type = float, maximum: float | None = None
) -> Callable[[str], float]:
    """Return an argparse type: a finite ``kind`` above ``minimum`` (or at it, ``inclusive``)
    and at most ``maximum``.

    A zero interval would slice a day into billions of windows, a negative speed or scale
    means nothing, a scale of a million would not fit in memory: each is a usage line, not
    a late failure.
    """
    bound = f">= {minimum:g}" if inclusive else f"> {minimum:g}"
    if maximum is not None:
        bound += f" and <= {maximum:g}"

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number {bound}") from None
        if (
            not math.isfinite(value)
            or value < minimum
            or (value == minimum and not inclusive)
            or (maximum is not None and value > maximum)
        ):
            raise argparse.ArgumentTypeError(f"{text!r} is not a number {bound}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


POSITIVE = _number(0, inclusive=False)
NON_NEGATIVE = _number(0, inclusive=True)
NON_NEGATIVE_INT = _number(0, inclusive=True, kind=int)
PORT = _number(1, inclusive=True, kind=int, maximum=65535)
#: A micro-batch of market time: 10 ms up to a whole day.
INTERVAL = _number(0.01, inclusive=True, maximum=86_400)
#: The synthetic market's rate multiplier: a full universe at 100x is ~10^9 rows.
SCALE = _number(0, inclusive=False, maximum=100)


def materialize(
    selection: str, day: dt.date, resources: dict[str, object], tags: dict[str, str] | None = None
) -> dg.ExecuteInProcessResult:
    assets = list(defs.assets or [])
    graph = defs.resolve_asset_graph()
    landing_keys = {k for k in graph.get_all_asset_keys() if graph.get(k).group_name == "landing"}
    if isinstance(selection, dg.AssetSelection):
        chosen = selection
    elif selection == "landing":
        chosen = dg.AssetSelection.groups("landing")
    else:
        chosen = dg.AssetSelection.all() - dg.AssetSelection.assets(*landing_keys)
    # Native libraries (delta-rs's runtime) may print panics straight to file descriptor 2;
    # those go to a log file so the terminal still gets one line.
    # The instance is closed on the way out: its SQLite connections would otherwise be finalised
    # by the garbage collector on whichever thread happens to run it, much later.
    with get_instance() as instance, native_stderr_to(instance.root_directory) as native_log:
        fail_orphaned_runs(instance)
        result = dg.materialize(
            assets,
            resources=resources,
            partition_key=day.isoformat(),
            instance=instance,
            selection=chosen,
            raise_on_error=False,
            tags={**(tags or {}), **process_tags()},
            # The run's step-by-step log (tracebacks included) is in the Dagster UI; the terminal
            # gets one line.
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        )
    if not result.success:
        reason = run_failure(result)
        if native_log.stat().st_size:
            reason += f" (details: {native_log})"
        raise CliError(f"{selection} run for {day} failed: {reason}")
    return result


@contextlib.contextmanager
def native_stderr_to(folder: str) -> Iterator[Path]:
    """Send file descriptor 2 to ``folder/flowlake-native-stderr.log`` for the duration."""
    log = Path(folder) / "flowlake-native-stderr.log"
    sys.stderr.flush()
    saved = os.dup(2)
    with open(log, "wb") as handle:
        os.dup2(handle.fileno(), 2)
        try:
            yield log
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def check_writable(root: str) -> None:
    """Fail in one line, before any run, when a local lake cannot be written."""
    if "://" in root:
        return
    try:
        Path(root).mkdir(parents=True, exist_ok=True)
        probe = Path(root) / f".flowlake-write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise CliError(f"lake {root} is not writable: {exc.strerror or exc}") from None


def summary(result: dg.ExecuteInProcessResult) -> str:
    parts = []
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        meta = mat.metadata if mat else {}
        rows = next(
            (meta[k].value for k in ("rows", "rows_landed", "rows_quarantined") if k in meta), None
        )
        if mat is not None and rows is not None:
            parts.append(f"{mat.asset_key.to_user_string()}={rows}")
    return ", ".join(parts)


def symbols_of(text: str) -> tuple[str, ...]:
    """Return the symbols of a comma list, upper case."""
    return tuple(s.strip().upper() for s in text.split(",") if s.strip())


def contracts_of(text: str) -> tuple[str, ...]:
    """Return the OSI symbols of a comma list (spaces optional); a bad one is one usage line."""
    try:
        return tuple(
            format_osi(*parse_osi(c.strip().upper())) for c in text.split(",") if c.strip()
        )
    except ValueError as exc:
        raise CliError(f"--contracts: {exc}", EXIT_USAGE) from None


def policy_flags(args: argparse.Namespace) -> dict[str, str | None]:
    """Return the chain-policy flags as given (None: not given, the settings decide)."""
    return {k: getattr(args, k) for k in ("max_dte", "strikes_per_side", "moneyness", "max_quotes")}


def source_settings(args: argparse.Namespace, symbols: str, **given: object) -> SourceSettings:
    """Return the :class:`~assets.sources.SourceSettings` of the command's flags (``given``
    overrides them); a bad flag is one usage line."""
    values: dict[str, object] = {"symbols": symbols_of(symbols)}
    if getattr(args, "contracts", ""):
        values["contracts"] = contracts_of(args.contracts)
    if hasattr(args, "max_dte"):
        values["policy"] = policy_flags(args)
        values["options_feed"] = args.options_feed
    for name in ("minutes", "seed", "scale", "max_lines", "from_lake"):
        if getattr(args, name, None) is not None:
            values[name] = getattr(args, name)
    values.update(given)
    return SourceSettings(**values)  # type: ignore[arg-type]


@contextlib.contextmanager
def refusals() -> Iterator[None]:
    """Turn a source's refusal (a missing key, a bad symbol) into one usage line."""
    try:
        yield
    except SourceError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
