"""``flowlake``: the command line for what Dagster's UI and CLI do not already give.

Each subcommand is a thin call into the same assets (materialized in-process on the
instance under ``DAGSTER_HOME``, so the runs show in the Dagster UI). Errors are one line
on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import dagster as dg

from adapters.calendar import first_session, is_session, last_session, latest_session
from assets.runtime import configure_process
from lake.location import resolve_lake_root

if TYPE_CHECKING:
    from adapters.alpaca.config import AlpacaConfig

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


def _session_date(text: str | None) -> dt.date:
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


def _chain_flags(command: argparse.ArgumentParser, *, ibkr: bool) -> None:
    """Add the chain-selection flags (each also an ALPACA_* / IBKR_* setting)."""
    group = command.add_argument_group(
        "alpaca, ibkr",
        "option contracts chosen from the chain (flags beat ALPACA_* / IBKR_* settings)",
    )
    group.add_argument("--options-feed", choices=["indicative", "opra"], help="alpaca's feed")
    group.add_argument("--max-dte", help="expiries within this many days (30)")
    group.add_argument("--strikes-per-side", help="strikes per side of spot (8)")
    group.add_argument("--moneyness", help="strikes within this fraction of spot (0.06)")
    group.add_argument("--max-quotes", help="at most this many contracts (200)")
    group.add_argument(
        "--contracts", default="", help="OSI option symbols instead of the chosen (comma list)"
    )
    if ibkr:
        group.add_argument("--max-lines", help="ibkr: the account's market-data lines (100)")


def _policy_flags(args: argparse.Namespace) -> dict[str, str | None]:
    """Return the chain-policy flags as given (None: not given, the settings decide)."""
    return {k: getattr(args, k) for k in ("max_dte", "strikes_per_side", "moneyness", "max_quotes")}


def _alpaca_config(args: argparse.Namespace, underlyings: tuple[str, ...]) -> AlpacaConfig:
    """Return the AlpacaConfig of the flags and settings; a bad one is one usage line."""
    from adapters.alpaca.config import AlpacaConfig

    try:
        return AlpacaConfig.from_settings(
            underlyings=underlyings,
            contracts=tuple(c.replace(" ", "") for c in _contracts(args.contracts)),
            options_feed=args.options_feed,
            **_policy_flags(args),
        )
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def _alpaca_source(args: argparse.Namespace, symbols: list[str]) -> object:
    """Return the Alpaca history resource with the flags' and settings' policy."""
    from assets.resources import AlpacaSource

    config = _alpaca_config(args, tuple(symbols))
    return AlpacaSource(
        underlyings=symbols, contracts=list(config.contracts), stock_feed=config.stock_feed,
        options_feed=config.options_feed, rest_url=config.rest_url or "",
        max_dte=config.max_dte, strikes_per_side=config.strikes_per_side,
        moneyness=config.moneyness, max_quotes=config.max_quotes,
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand (the README describes each)."""
    parser = _Parser(
        prog="flowlake", description="Options-flow and off-exchange analytics lakehouse."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        cmd.add_argument("--lake", help="lake root (default: $FLOWLAKE_LAKE or data/lake)")
        return cmd

    synth = add(
        "synth", "write a synthetic trading day's raw tables (landing + quarantine + labels)"
    )
    synth.add_argument("--date", help="XNYS session (default: the latest on or before today)")
    synth.add_argument("--seed", type=int, default=7)
    synth.add_argument(
        "--underlyings",
        default="SPY,QQQ,IWM,AAPL,MSFT,NVDA,AMZN,TSLA",
        help="a count, a comma list, or ALL",
    )
    synth.add_argument(
        "--minutes",
        type=NON_NEGATIVE_INT,
        default=0,
        help="session minutes from the open (0: the whole session)",
    )
    synth.add_argument(
        "--scale", type=SCALE, default=1.0, help="multiplies print and quote rates (at most 100)"
    )

    ingest = add(
        "ingest",
        "land a day from canonical Parquet/CSV files, Databento DBN files, or a vendor API",
    )
    ingest.add_argument(
        "paths",
        nargs="*",
        help="option_trades.parquet, equity_quotes.csv, ... or *.dbn / *.dbn.zst",
    )
    ingest.add_argument(
        "--source",
        choices=["files", "databento", "alpaca"],
        default="files",
        help="files (the paths), or a vendor's historical API for --date (keys from the environment or .env)",
    )
    ingest.add_argument(
        "--symbols", default="SPY", help="underlyings for --source databento|alpaca (comma list)"
    )
    ingest.add_argument(
        "--date", help="the trading day (default for files: the days their rows fall on)"
    )
    _chain_flags(ingest, ibkr=False)

    build = add("build", "materialize every derived asset of a day from its landing tables")
    build.add_argument("--date", help="XNYS session (default: the latest on or before today)")
    build.add_argument("--thresholds", help="thresholds TOML (default: the packaged defaults)")

    live = add(
        "live", "record a source into the spool and land + build each micro-batch as it arrives"
    )
    live.add_argument(
        "--source",
        choices=["synthetic", "alpaca", "ibkr", "databento", "databento-replay", "lake-replay"],
        default="synthetic",
    )
    live.add_argument(
        "--date", help="the trading day (synthetic / replay; default: the latest session)"
    )
    live.add_argument(
        "--speed",
        type=NON_NEGATIVE,
        default=1.0,
        help="1 real time, 60 a minute per second, 0 as fast as possible",
    )
    live.add_argument(
        "--interval",
        type=INTERVAL,
        default=5.0,
        help="seconds of market time per micro-batch (0.01 to 86400)",
    )
    live.add_argument(
        "--underlyings",
        default="SPY,QQQ,IWM,AAPL,MSFT,NVDA,AMZN,TSLA",
        help="synthetic / alpaca / ibkr / databento underlyings",
    )
    live.add_argument(
        "--minutes",
        type=NON_NEGATIVE_INT,
        default=0,
        help="synthetic: session minutes (0: whole session)",
    )
    live.add_argument(
        "--files", nargs="*", default=[], help="databento-replay: DBN files of the day"
    )
    live.add_argument(
        "--from-lake",
        help="lake-replay: the lake whose stored day is re-published through the live path",
    )
    _chain_flags(live, ibkr=True)
    live.add_argument("--spool", help="spool folder (default: $FLOWLAKE_SPOOL or data/spool)")
    live.add_argument("--poll", type=POSITIVE, default=1.0, help="seconds between spool checks")
    live.add_argument(
        "--record-only",
        action="store_true",
        help="only spool the batches; the Dagster sensor (dagster dev / dagster-daemon) lands and builds",
    )

    bench = add(
        "bench",
        "benchmark full synthetic days per asset against the floor; results in bench/results/",
    )
    bench.add_argument(
        "--sizes", default="1M,3M,10M", help="prints per workload, e.g. 1M,3M,10M or 50k"
    )
    bench.add_argument("--kinds", default="option,equity", help="option, equity or both")
    bench.add_argument("--underlyings", default="ALL", help="universe of the workloads")
    bench.add_argument(
        "--smoke", action="store_true", help="tiny in-process run that checks the harness"
    )
    bench.add_argument(
        "--daemon-load",
        action="store_true",
        help="instead: a full-speed live day through dagster-daemon and the spool sensor",
    )
    bench.add_argument(
        "--micro-batch",
        action="store_true",
        help="instead: cost of one live micro-batch at 10:00 and 15:30 of a full day",
    )

    calibrate = add(
        "calibrate",
        "re-run classifiers and alerts under a thresholds file and compare with the default",
    )
    candidates = calibrate.add_mutually_exclusive_group(required=True)
    candidates.add_argument("--thresholds", help="the candidate thresholds TOML")
    candidates.add_argument(
        "--sweep",
        metavar="KEY=VALUES",
        help="instead: vary one threshold over values (classifiers.sweep.min_premium="
        "20000,30000,40000 or =20000:60000:10000) and print precision and recall per value",
    )
    calibrate.add_argument("--start", required=True, help="first trading day (YYYY-MM-DD)")
    calibrate.add_argument("--end", help="last trading day (default: --start)")

    vacuum = add(
        "vacuum",
        "remove data files no table version needs: replaced versions and killed writes' files",
    )
    vacuum.add_argument(
        "--retention-hours",
        type=NON_NEGATIVE_INT,
        help="only files older than this (default: each table's retention, a week)",
    )
    vacuum.add_argument("--dry-run", action="store_true", help="list the files, remove none")

    serve = add("serve", "start the Dagster UI and the dashboards (127.0.0.1 unless --host)")
    serve.add_argument("--host", default="127.0.0.1", help="the dashboards' address")
    serve.add_argument(
        "--dagster-host",
        default="127.0.0.1",
        help="the Dagster UI's address: loopback unless given (it has no sign-in; --host never moves it)",
    )
    serve.add_argument("--dagster-port", type=PORT, default=3000)
    serve.add_argument("--streamlit-port", type=PORT, default=8501)
    return parser


def _materialize(
    selection: str, day: dt.date, resources: dict[str, object], tags: dict[str, str] | None = None
) -> dg.ExecuteInProcessResult:
    from orchestration.definitions import defs
    from orchestration.failures import run_failure
    from orchestration.instance import fail_orphaned_runs, get_instance, process_tags

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
    with get_instance() as instance, _native_stderr_to(instance.root_directory) as native_log:
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
def _native_stderr_to(folder: str) -> Iterator[Path]:
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


def _check_writable(root: str) -> None:
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


def _summary(result: dg.ExecuteInProcessResult) -> str:
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


def _days_of_files(paths: list[str], dbn: bool) -> list[dt.date]:
    """Return the trading days of files (a DBN file's metadata, canonical files' rows):
    what ``ingest`` lands when no ``--date`` is given. Fails in one line when they hold
    no supported session."""
    from adapters.databento.loader import dbn_days
    from adapters.files import canonical_days

    try:
        days = sorted({d for p in paths for d in dbn_days(p)}) if dbn else canonical_days(paths)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if not days:
        raise CliError(
            f"the files hold no XNYS session flowlake supports ({first_session()} to "
            f"{last_session()}); give --date to land them on one"
        )
    return days


def _refuse_all_other_days(result: dg.ExecuteInProcessResult, day: dt.date) -> None:
    """Fail in one line when an ingest landed nothing because every row is of another day
    (they are in quarantine; exiting 0 would hide that the files were not landed)."""
    from adapters.schema import STREAMS
    from assets.landing import OTHER_DAY_ROWS

    landed = other = 0
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        if mat is None:
            continue
        values = {k: int(v.value) for k, v in mat.metadata.items() if isinstance(v.value, int)}
        if mat.asset_key.path[-1] in STREAMS:
            landed += values.get("rows_landed", 0) + values.get("rows_already_present", 0)
        other += values.get(OTHER_DAY_ROWS, 0)
    if landed == 0 and other:
        raise CliError(
            f"none of the rows is of {day}: {other} rows of other trading days were "
            "quarantined; give the files' --date"
        )


def _vacuum(args: argparse.Namespace, lake: object) -> int:
    from assets.resources import LakeResource
    from lake.vacuum import local_tables, vacuum

    assert isinstance(lake, LakeResource)
    if lake.lake().is_local:
        tables = local_tables(lake.lake())
    else:
        from orchestration.definitions import defs

        tables = sorted(k.path[-1] for k in defs.resolve_asset_graph().get_all_asset_keys())
    try:
        done = vacuum(lake.lake(), tables, args.retention_hours, args.dry_run)
    except ValueError as exc:
        raise CliError(f"--retention-hours: {exc}", EXIT_USAGE) from None
    verb = "would remove" if args.dry_run else "removed"
    for result in done:
        if result.files:
            print(f"{result.table}: {verb} {len(result.files)} files")
    print(
        f"vacuum {lake.root}: {verb} {sum(len(r.files) for r in done)} files in {len(done)} tables"
    )
    return 0


def _sweep_values(text: str) -> tuple[str, list[float]]:
    """Return the key and values of ``--sweep KEY=V1,V2`` or ``KEY=START:STOP:STEP``."""
    key, sep, values = text.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise CliError("--sweep: give KEY=V1,V2,... or KEY=START:STOP:STEP", EXIT_USAGE)
    try:
        if ":" in values:
            lo, hi, step = (float(v) for v in values.split(":"))
            if step <= 0 or hi < lo:
                raise ValueError("START:STOP:STEP needs STOP >= START and STEP > 0")
            count = round((hi - lo) / step) + 1
            chosen = [round(lo + k * step, 10) for k in range(count)]
        else:
            chosen = [float(v) for v in values.split(",") if v.strip()]
    except ValueError as exc:
        raise CliError(f"--sweep: {exc}", EXIT_USAGE) from None
    if not chosen or len(chosen) > MAX_SWEEP_VALUES:
        raise CliError(f"--sweep: give 1 to {MAX_SWEEP_VALUES} values", EXIT_USAGE)
    return key.strip(), chosen


#: A sweep re-runs the classifiers once per value and day: a bound keeps a typo cheap.
MAX_SWEEP_VALUES = 25


def _calibrate(args: argparse.Namespace, lake: object) -> int:
    from adapters.calendar import sessions_between
    from assets.resources import LakeResource, SyntheticSource, ThresholdsResource
    from assets.thresholds import load_thresholds
    from lake.compare import compare_versions, versions_by_day
    from lake.read import dates_in
    from orchestration.calibrate import format_comparison

    assert isinstance(lake, LakeResource)
    start = _session_date(args.start)
    end = _session_date(args.end) if args.end else start
    if end < start:
        raise CliError("--end is before --start", EXIT_USAGE)
    if args.sweep is not None:
        return _calibrate_sweep(args, lake, start, end)
    try:
        candidate = load_thresholds(args.thresholds)
    except (OSError, ValueError) as exc:
        raise CliError(f"--thresholds: {exc}", EXIT_USAGE) from None
    default = load_thresholds()
    built = set(dates_in(lake.lake(), "flow_packets"))
    days = [d for d in sessions_between(start, end) if d in built]
    if not days:
        raise CliError(
            f"no built day between {start} and {end} in {lake.lake().root}: run `flowlake build` first"
        )
    selection = dg.AssetSelection.assets("classifier_hits", "alerts")
    have_default = set(versions_by_day(lake.lake(), "classifier_hits", default.config_version))
    for day in days:
        # The default version is left as it is; it is computed only for days that lack it.
        for th_path in ([] if day in have_default else [""]) + [args.thresholds]:
            _materialize(
                selection,
                day,
                {
                    "lake": lake,
                    "thresholds": ThresholdsResource(path=th_path),
                    "source": SyntheticSource(),
                },
            )
    comparison = compare_versions(
        lake.lake(), days, default.config_version, candidate.config_version
    )
    print(
        format_comparison(
            comparison,
            days,
            candidate_differs_in_baselines=candidate.values.get("baselines")
            != default.values.get("baselines"),
        )
    )
    return 0


def _calibrate_sweep(args: argparse.Namespace, lake: object, start: dt.date, end: dt.date) -> int:
    """Re-run the classifiers, alerts and their accuracy once per value of one threshold
    and print precision and recall per value and signal (synthetic days have labels)."""
    from adapters.calendar import sessions_between
    from assets.resources import LakeResource, SyntheticSource, ThresholdsResource
    from assets.thresholds import load_thresholds, with_value
    from lake.compare import sweep_file
    from lake.read import dates_in, scan
    from orchestration.calibrate import format_sweep

    assert isinstance(lake, LakeResource)
    key, values = _sweep_values(args.sweep)
    if "://" in lake.root:
        raise CliError(
            "--sweep keeps one thresholds file per value beside the lake: use a local --lake",
            EXIT_USAGE,
        )
    try:
        texts = [with_value(key, v) for v in values]
    except ValueError as exc:
        raise CliError(f"--sweep: {exc}", EXIT_USAGE) from None
    built = set(dates_in(lake.lake(), "flow_packets"))
    days = [d for d in sessions_between(start, end) if d in built]
    if not days:
        raise CliError(
            f"no built day between {start} and {end} in {lake.lake().root}: run `flowlake build` first"
        )
    versions = []
    for value, text in zip(values, texts, strict=True):
        path = sweep_file(lake.root, key, value)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
        versions.append(load_thresholds(path).config_version)
        for day in days:
            _materialize(
                dg.AssetSelection.assets("classifier_hits", "alerts", "signal_accuracy"),
                day,
                {
                    "lake": lake,
                    "thresholds": ThresholdsResource(path=str(path)),
                    "source": SyntheticSource(),
                },
            )
    accuracy = scan(lake.lake(), "signal_accuracy", dates=days)
    print(format_sweep(key, values, versions, None if accuracy is None else accuracy.collect()))
    return 0


def _check_underlyings(text: str) -> None:
    """Fail in one usage line for an unknown symbol or a bad count in ``--underlyings``."""
    from adapters.synthetic.universe import select_underlyings

    try:
        select_underlyings(text)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def _symbols(text: str) -> tuple[str, ...]:
    """Return the symbols of a comma list, upper case."""
    return tuple(s.strip().upper() for s in text.split(",") if s.strip())


def _contracts(text: str) -> tuple[str, ...]:
    """Return the OSI symbols of a comma list (spaces optional); a bad one is one usage line."""
    from adapters.osi import format_osi, parse_osi

    try:
        return tuple(
            format_osi(*parse_osi(c.strip().upper())) for c in text.split(",") if c.strip()
        )
    except ValueError as exc:
        raise CliError(f"--contracts: {exc}", EXIT_USAGE) from None


def _live_source(args: argparse.Namespace) -> object:
    from adapters.source import Replayed

    match args.source:
        case "synthetic":
            from assets.resources import SyntheticSource

            _check_underlyings(args.underlyings)
            return SyntheticSource(underlyings=args.underlyings, minutes=args.minutes).market()
        case "lake-replay":
            from lake import Lake
            from lake.replay import LakeDay

            if not args.from_lake:
                raise CliError("--from-lake: give the lake holding the stored day", EXIT_USAGE)
            return Replayed(LakeDay(Lake.from_env(args.from_lake)), name="lake-replay")
        case "databento-replay":
            from adapters.databento.loader import DatabentoFiles

            missing = [f for f in args.files if not Path(f).is_file()]
            if not args.files or missing:
                raise CliError(
                    f"--files: give the day's DBN files{' (missing: ' + ', '.join(missing) + ')' if missing else ''}",
                    EXIT_USAGE,
                )
            return Replayed(DatabentoFiles(tuple(args.files)), name="databento-replay")
        case "alpaca":
            from adapters.alpaca.loader import AlpacaLive
            from adapters.credentials import MissingCredentialError

            config = _alpaca_config(args, _symbols(args.underlyings))
            try:
                config.keys()
            except MissingCredentialError as exc:
                raise CliError(str(exc), EXIT_USAGE) from None
            return AlpacaLive(config)
        case "databento":
            from adapters.credentials import MissingCredentialError
            from adapters.databento.config import DatabentoConfig
            from adapters.databento.live import DatabentoLive

            try:
                databento = DatabentoConfig.for_underlyings(_symbols(args.underlyings))
                databento.key()
            except (ValueError, MissingCredentialError) as exc:
                raise CliError(str(exc), EXIT_USAGE) from None
            return DatabentoLive(databento)
        case "ibkr":
            from adapters.ibkr.bridge import IbkrLive
            from adapters.ibkr.config import IbkrConfig

            try:
                config = IbkrConfig.from_settings(
                    underlyings=_symbols(args.underlyings),
                    contracts=_contracts(args.contracts),
                    max_lines=args.max_lines,
                    **_policy_flags(args),
                )
            except ValueError as exc:
                raise CliError(str(exc), EXIT_USAGE) from None
            return IbkrLive(config)
    raise CliError(f"unknown source {args.source!r}", EXIT_USAGE)


def _live(args: argparse.Namespace, lake: object) -> int:
    """Record the source and, each poll, land the new batches and build the day (the
    sensor's own tick function), until the source ends and everything is caught up."""
    import asyncio

    from adapters.source import MarketSource
    from assets.resources import LakeResource
    from orchestration.instance import get_instance
    from orchestration.live import DAMAGED, TailBuild, TailBuildError, build_tail, follow, record
    from orchestration.spool import Spool

    assert isinstance(lake, LakeResource)
    day = _session_date(args.date)
    source = _live_source(args)
    assert isinstance(source, MarketSource)
    spool = Spool.from_env(args.spool)
    instance = get_instance()
    builds: list[dt.date] = []

    def build(lake: LakeResource, day: dt.date, tags: dict[str, str]) -> TailBuild:
        builds.append(day)
        return build_tail(lake, day, tags)

    async def main() -> int:
        if args.record_only:
            recorded = await record(source, spool, day, speed=args.speed, interval_s=args.interval)
            return recorded.batches

        def report(event: dg.AssetMaterialization | dg.AssetCheckEvaluation) -> None:
            instance.report_runless_asset_event(event)
            damaged = (
                event.metadata.get(DAMAGED) if isinstance(event, dg.AssetMaterialization) else None
            )
            for reason in str(damaged.value).splitlines() if damaged is not None else []:
                print(
                    f"flowlake: warning: {reason}: quarantined; the other batches land",
                    file=sys.stderr,
                )

        done = await follow(
            source, spool, day, lake, speed=args.speed, interval_s=args.interval, poll_s=args.poll,
            build=build, report=report,
        )  # fmt: skip
        return done.batches

    try:
        with instance:
            batches = asyncio.run(main())
    except (ValueError, TailBuildError) as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:  # a gateway that is not there, a full or read-only spool
        raise CliError(str(exc).splitlines()[0]) from None
    if args.record_only:
        print(f"live {day} ({args.source}): {batches} batches recorded in {spool.root}")
        return 0
    print(
        f"live {day} ({args.source}) -> {lake.root}: {batches} batches recorded in {spool.root}, {len(builds)} builds; caught up"
    )
    return 0


def _size(text: str) -> int:
    units = {"k": 1_000, "m": 1_000_000}
    text = text.strip().lower()
    try:
        return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)
    except (ValueError, IndexError):
        raise CliError(f"--sizes: {text!r} is not a size such as 1M or 50k", EXIT_USAGE) from None


def _bench(args: argparse.Namespace) -> int:
    from bench.runner import RESULTS, WORK, run_workload, write_results
    from bench.workload import DAY, Workload

    if args.daemon_load:
        from bench.daemon_load import daemon_load

        work = WORK / "daemon-load"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        underlyings = (
            "SPY,QQQ,IWM,AAPL,MSFT,NVDA,AMZN,TSLA"
            if args.underlyings == "ALL"
            else args.underlyings
        )
        figures = daemon_load(work, DAY, underlyings, None, 30.0)
        out = RESULTS / "daemon-load.json"
        out.write_text(json.dumps(figures, indent=2) + "\n")
        print(json.dumps(figures, indent=2))
        return 0 if figures["reconciled"] and figures["equals_replay"] else 1
    if args.micro_batch:
        from bench.micro_batch import micro_batch_cost

        work = WORK / "micro-batch"
        shutil.rmtree(work, ignore_errors=True)
        figures = micro_batch_cost(work, DAY, args.underlyings)
        out = RESULTS / "micro-batch.json"
        out.write_text(json.dumps(figures, indent=2) + "\n")
        for point in figures["points"]:
            print(
                f"{point['time']}: tail update {point['tail_update_s']} s, whole rebuild {point['whole_rebuild_s']} s"
            )
        print(f"-> {out}")
        return 0

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if not kinds or set(kinds) - {"option", "equity"}:
        raise CliError("--kinds: option, equity or both", EXIT_USAGE)
    sizes = [_size(s) for s in args.sizes.split(",") if s.strip()]
    results = []
    for kind in kinds:
        for i, size in enumerate(sizes):
            workload = Workload(kind, size, args.underlyings)
            print(f"bench {workload.name} ...", flush=True)
            figures = run_workload(
                workload,
                isolate=not args.smoke,
                compare=kind == "option" and i == 0,
                render=kind == "option" and i == len(sizes) - 1,
            )
            print(
                f"  derived path {figures['derived_path_s']} s, floor {figures['floor_s']} s, ratio {figures['derived_path_floor_ratio']}",
                flush=True,
            )
            results.append(figures)
    summary = write_results(
        results, RESULTS if not args.smoke else RESULTS.parent / "work" / "smoke"
    )
    print(summary.read_text())
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    from assets.resources import (
        FilesSource,
        LakeResource,
        SyntheticSource,
        ThresholdsResource,
    )

    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return EXIT_USAGE
    if args.lake is not None and not args.lake.strip():
        raise CliError("--lake: give a folder or URI (an empty one is no lake)", EXIT_USAGE)
    lake = LakeResource(root=resolve_lake_root(args.lake))
    if args.command in ("synth", "ingest", "build", "live", "calibrate"):
        _check_writable(lake.root)
    if args.command == "serve":
        from orchestration.serve import PortTaken, serve

        try:
            return serve(
                args.host, args.dagster_port, args.streamlit_port, lake.root, args.dagster_host
            )
        except PortTaken as exc:
            raise CliError(str(exc)) from None
    if args.command == "calibrate":
        return _calibrate(args, lake)
    if args.command == "vacuum":
        return _vacuum(args, lake)
    if args.command == "live":
        return _live(args, lake)
    if args.command == "bench":
        return _bench(args)
    day = _session_date(args.date)
    match args.command:
        case "synth":
            _check_underlyings(args.underlyings)
            source = SyntheticSource(
                seed=args.seed, underlyings=args.underlyings, minutes=args.minutes, scale=args.scale
            )
            result = _materialize(
                "landing", day, {"lake": lake, "source": source, "thresholds": ThresholdsResource()}
            )
        case "ingest" if args.source != "files":
            from adapters.alpaca.config import AlpacaConfig
            from adapters.credentials import MissingCredentialError
            from adapters.databento.config import DatabentoConfig
            from assets.resources import DatabentoSource

            symbols = list(_symbols(args.symbols))
            source = (
                DatabentoSource(
                    options_symbols=[f"{s}.OPT" for s in symbols], equity_symbols=symbols
                )
                if args.source == "databento"
                else _alpaca_source(args, symbols)
            )
            try:
                # Check the keys before starting a run: a missing one is one line, not a failed run.
                if args.source == "databento":
                    DatabentoConfig().key()
                else:
                    AlpacaConfig().keys()
            except MissingCredentialError as exc:
                raise CliError(str(exc), EXIT_USAGE) from None
            result = _materialize(
                "landing", day, {"lake": lake, "source": source, "thresholds": ThresholdsResource()}
            )
        case "ingest":
            if not args.paths:
                raise CliError("give files to ingest, or --source databento|alpaca", EXIT_USAGE)
            from adapters.databento.loader import is_dbn
            from adapters.files import stream_of
            from assets.resources import DatabentoFilesSource

            dbn = [p for p in args.paths if is_dbn(p)]
            try:
                for path in args.paths:
                    if not is_dbn(path):
                        stream_of(path)
                    if not Path(path).is_file():
                        raise ValueError(f"{path}: no such file")
            except ValueError as exc:
                raise CliError(str(exc), EXIT_USAGE) from None
            if dbn and len(dbn) != len(args.paths):
                raise CliError(
                    "ingest DBN files and canonical Parquet/CSV files in separate runs", EXIT_USAGE
                )
            days = [day] if args.date else _days_of_files(args.paths, bool(dbn))
            names = [d.isoformat() for d in days]
            source = (
                DatabentoFilesSource(paths=list(args.paths), days=names)
                if dbn
                else FilesSource(paths=list(args.paths), days=names)
            )
            # One landing run per trading day, each with that day's rows (a multi-day file
            # lands every row on its own date).
            for each in days:
                result = _materialize(
                    "landing",
                    each,
                    {"lake": lake, "source": source, "thresholds": ThresholdsResource()},
                )
                if args.date:
                    _refuse_all_other_days(result, each)
                print(f"ingest {each} -> {lake.root}: {_summary(result)}")
            return 0
        case "build":
            from assets.thresholds import load_thresholds

            try:
                load_thresholds(args.thresholds)
            except (OSError, ValueError) as exc:
                raise CliError(f"--thresholds: {exc}", EXIT_USAGE) from None
            resources = {
                "lake": lake,
                "thresholds": ThresholdsResource(path=args.thresholds or ""),
                "source": SyntheticSource(),
            }
            result = _materialize("derived", day, resources)
        case _:
            raise CliError(f"unknown command {args.command!r}", EXIT_USAGE)
    print(f"{args.command} {day} -> {lake.root}: {_summary(result)}")
    return 0


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Console-script entry point."""
    import logging

    # Sources warn through the "flowlake" logger (a gap, delayed data): one line each.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("flowlake: warning: %(message)s"))
    handler.setLevel(logging.WARNING)
    logging.getLogger("flowlake").addHandler(handler)
    configure_process()
    try:
        code = run(argv)
    except CliError as exc:
        print(f"flowlake: error: {exc}", file=sys.stderr)
        code = exc.code
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
