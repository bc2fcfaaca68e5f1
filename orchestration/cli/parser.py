"""The ``flowlake`` argument parser: every subcommand and its flags."""

from __future__ import annotations

import argparse

from assets.sources import LIVE_SOURCES
from orchestration.cli.common import (
    INTERVAL,
    NON_NEGATIVE,
    NON_NEGATIVE_INT,
    PORT,
    POSITIVE,
    SCALE,
    _Parser,
)


def chain_flags(command: argparse.ArgumentParser, *, ibkr: bool) -> None:
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
    chain_flags(ingest, ibkr=False)

    build = add("build", "materialize every derived asset of a day from its landing tables")
    build.add_argument("--date", help="XNYS session (default: the latest on or before today)")
    build.add_argument("--thresholds", help="thresholds TOML (default: the packaged defaults)")

    live = add(
        "live", "record a source into the spool and land + build each micro-batch as it arrives"
    )
    live.add_argument(
        "--source",
        choices=list(LIVE_SOURCES),
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
    chain_flags(live, ibkr=True)
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
        "--pages",
        action="store_true",
        help="instead: every dashboard page's render time on a synthetic day of --underlyings "
        "(built with synth and build unless --pages-lake names a built lake)",
    )
    bench.add_argument("--pages-lake", help="with --pages: a lake whose latest day is built")
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

    backtest = add(
        "backtest",
        "moves after alerts and classifier accuracy over stored sessions, per classifier "
        "and group, with 95%% intervals",
    )
    backtest.add_argument("--start", required=True, help="first trading day (YYYY-MM-DD)")
    backtest.add_argument("--end", required=True, help="last trading day (YYYY-MM-DD)")
    backtest.add_argument(
        "--by",
        default="severity,premium_bucket",
        help="groups beside the classifier: severity, premium_bucket, direction, underlying",
    )
    backtest.add_argument(
        "--horizon", default="30m", help="the move after the alert: 5m, 30m, close or next"
    )
    backtest.add_argument(
        "--config-version", help="the thresholds' version (default: the packaged thresholds)"
    )

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
    serve.add_argument(
        "--secrets",
        help="the dashboards' secrets.toml ([auth]: OIDC sign-in, required on a non-loopback "
        "--host; default: ~/.streamlit/ and .streamlit/ secrets.toml)",
    )
    serve.add_argument("--dagster-port", type=PORT, default=3000)
    serve.add_argument("--streamlit-port", type=PORT, default=8501)
    return parser
