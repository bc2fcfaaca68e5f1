"""``flowlake synth``, ``ingest`` and ``build``: land a day, then build it."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import dagster as dg

from adapters.calendar import first_session, last_session
from adapters.databento.loader import dbn_days, is_dbn
from adapters.files import canonical_days, stream_of
from adapters.schema import STREAMS
from assets.landing import OTHER_DAY_ROWS
from assets.resources import LakeResource, ThresholdsResource
from assets.sources import SyntheticSource, historical_source
from assets.thresholds import load_thresholds
from orchestration.cli.common import (
    EXIT_USAGE,
    CliError,
    materialize,
    refusals,
    source_settings,
    summary,
)


def _land(lake: LakeResource, day: dt.date, source: object) -> dg.ExecuteInProcessResult:
    return materialize(
        "landing", day, {"lake": lake, "source": source, "thresholds": ThresholdsResource()}
    )


def synth(args: argparse.Namespace, lake: LakeResource, day: dt.date) -> dg.ExecuteInProcessResult:
    """Land a synthetic day (``--underlyings``: symbols, a count or ALL)."""
    with refusals():
        source = historical_source("synthetic", source_settings(args, args.underlyings))
    return _land(lake, day, source)


def ingest_api(
    args: argparse.Namespace, lake: LakeResource, day: dt.date
) -> dg.ExecuteInProcessResult:
    """Land a day from a vendor's historical API (the key is checked before the run)."""
    with refusals():
        source = historical_source(args.source, source_settings(args, args.symbols))
    return _land(lake, day, source)


def ingest_files(args: argparse.Namespace, lake: LakeResource, day: dt.date) -> int:
    """Land files: canonical Parquet/CSV or DBN, one landing run per trading day in them."""
    if not args.paths:
        raise CliError("give files to ingest, or --source databento|alpaca", EXIT_USAGE)
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
    settings = source_settings(
        args, "", paths=tuple(args.paths), days=tuple(d.isoformat() for d in days)
    )
    with refusals():
        source = historical_source("databento-files" if dbn else "files", settings)
    # One landing run per trading day, each with that day's rows (a multi-day file lands
    # every row on its own date).
    for each in days:
        result = _land(lake, each, source)
        if args.date:
            _refuse_all_other_days(result, each)
        print(f"ingest {each} -> {lake.root}: {summary(result)}")
    return 0


def build(args: argparse.Namespace, lake: LakeResource, day: dt.date) -> dg.ExecuteInProcessResult:
    """Materialize every derived asset of the day."""
    try:
        load_thresholds(args.thresholds)
    except (OSError, ValueError) as exc:
        raise CliError(f"--thresholds: {exc}", EXIT_USAGE) from None
    resources = {
        "lake": lake,
        "thresholds": ThresholdsResource(path=args.thresholds or ""),
        "source": SyntheticSource(),
    }
    return materialize("derived", day, resources)


def _days_of_files(paths: list[str], dbn: bool) -> list[dt.date]:
    """Return the trading days of files (a DBN file's metadata, canonical files' rows):
    what ``ingest`` lands when no ``--date`` is given. Fails in one line when they hold
    no supported session."""
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
