"""``flowlake``: the command line for what Dagster's UI and CLI do not already give.

The top layer: each subcommand (a module here) is a thin call into the same assets,
materialized in-process on the instance under ``DAGSTER_HOME`` so the runs show in the
Dagster UI. Errors are one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from assets.resources import LakeResource
from assets.runtime import configure_process
from lake.location import resolve_lake_root
from orchestration.cli import backtest, bench, calibrate, data, live, vacuum
from orchestration.cli.common import EXIT_USAGE, CliError, check_writable, session_date, summary
from orchestration.cli.parser import build_parser
from orchestration.serve import NotShareable, PortTaken, serve

__all__ = ["CliError", "build_parser", "configure_process", "main", "run"]


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return EXIT_USAGE
    if args.lake is not None and not args.lake.strip():
        raise CliError("--lake: give a folder or URI (an empty one is no lake)", EXIT_USAGE)
    lake = LakeResource(root=resolve_lake_root(args.lake))
    if args.command in ("synth", "ingest", "build", "live", "calibrate"):
        check_writable(lake.root)
    match args.command:
        case "serve":
            try:
                return serve(
                    args.host,
                    args.dagster_port,
                    args.streamlit_port,
                    lake.root,
                    args.dagster_host,
                    args.secrets,
                )
            except (PortTaken, NotShareable) as exc:
                raise CliError(str(exc)) from None
        case "calibrate":
            return calibrate.run(args, lake)
        case "backtest":
            return backtest.run(args, lake)
        case "vacuum":
            return vacuum.run(args, lake)
        case "live":
            return live.run(args, lake)
        case "bench":
            return bench.run(args)
    day = session_date(args.date)
    match args.command:
        case "synth":
            result = data.synth(args, lake, day)
        case "ingest" if args.source != "files":
            result = data.ingest_api(args, lake, day)
        case "ingest":
            return data.ingest_files(args, lake, day)
        case "build":
            result = data.build(args, lake, day)
        case _:
            raise CliError(f"unknown command {args.command!r}", EXIT_USAGE)
    print(f"{args.command} {day} -> {lake.root}: {summary(result)}")
    return 0


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Console-script entry point."""
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
