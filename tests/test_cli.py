"""The command line: one clear line on bad input, real runs on good input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from adapters.synthetic import SyntheticDay
from lake import Lake
from lake.read import read
from orchestration.cli import main

FLOWLAKE = str(Path(sys.executable).parent / "flowlake")


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    out, err = capsys.readouterr()
    return int(exc.value.code), out, err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["build", "--date", "2026-11-26"], "--date 2026-11-26 is not an XNYS trading session"),
        (["build", "--date", "tomorrow"], "--date 'tomorrow' is not a date (use YYYY-MM-DD)"),
        (["synth", "--underlyings", "NOPE"], "unknown underlying(s): NOPE"),
        (["synth", "--bogus"], "unrecognized arguments: --bogus"),
        (["ingest", "prices.xlsx"], "file name must start with one of"),
        (["build", "--thresholds", "/no/such.toml"], "--thresholds"),
        (["calibrate"], "the following arguments are required: --start"),
        (
            ["calibrate", "--start", "2026-11-24"],
            "one of the arguments --thresholds --sweep is required",
        ),
        (
            ["calibrate", "--start", "2026-11-24", "--sweep", "gates.min_coverage"],
            "--sweep: give KEY=V1,V2",
        ),
        (
            ["calibrate", "--start", "2026-11-24", "--sweep", "gates.min_coverage=0.5:0.1:0.1"],
            "STOP >= START",
        ),
        (
            ["calibrate", "--start", "2026-11-24", "--sweep", "packets.cluster_window_ms=100,200"],
            "only [gates], [alerts], [classifiers.*] keys can be swept",
        ),
        (
            ["calibrate", "--start", "2026-11-24", "--sweep", "gates.nope=1"],
            "gates.nope: no such threshold",
        ),
        (["ingest", "--date", "2026-11-24"], "give files to ingest, or --source databento|alpaca"),
        (
            ["ingest", "--source", "databento", "--date", "2026-11-24"],
            "DATABENTO_API_KEY is not set",
        ),
        (["ingest", "--source", "alpaca", "--date", "2026-11-24"], "APCA_API_KEY_ID is not set"),
        (["live", "--interval", "0"], "argument --interval: '0' is not a number >= 0.01"),
        (["live", "--interval", "-5"], "argument --interval: '-5' is not a number >= 0.01"),
        (["live", "--interval", "1e-9"], "argument --interval: '1e-9' is not a number >= 0.01"),
        (["synth", "--scale", "1e6"], "argument --scale: '1e6' is not a number > 0 and <= 100"),
        (["serve", "--dagster-port", "70000"], "'70000' is not a number >= 1 and <= 65535"),
        (["live", "--speed", "-1"], "argument --speed: '-1' is not a number >= 0"),
        (["live", "--minutes", "-5"], "argument --minutes: '-5' is not a number >= 0"),
        (["live", "--poll", "nan"], "argument --poll: 'nan' is not a number > 0"),
        (["synth", "--scale", "-1"], "argument --scale: '-1' is not a number > 0 and <= 100"),
        (["synth", "--scale", "nan"], "argument --scale: 'nan' is not a number > 0"),
        (["synth", "--scale", "inf"], "argument --scale: 'inf' is not a number > 0"),
        (["synth", "--minutes", "1.5"], "argument --minutes: '1.5' is not a number >= 0"),
        (["build", "--lake", ""], "--lake: give a folder or URI"),
        (["live", "--source", "alpaca", "--max-dte", "abc"], "ALPACA_MAX_DTE / --max-dte: 'abc'"),
        (["ingest", "--source", "alpaca", "--moneyness", "2"], "ALPACA_MONEYNESS / --moneyness"),
        (["backtest", "--start", "2026-03-01"], "the following arguments are required: --end"),
        (["backtest", "--start", "x", "--end", "2026-03-20"], "--start 'x' is not a date"),
        (["backtest", "--start", "2026-03-20", "--end", "2026-03-01"], "--end is before --start"),
        (
            ["backtest", "--start", "2026-03-01", "--end", "2026-03-20", "--by", "size"],
            "--by: size is not one of severity, premium_bucket, direction, underlying",
        ),
        (
            ["backtest", "--start", "2026-03-01", "--end", "2026-03-20", "--horizon", "1h"],
            "--horizon: choose from 5m, 30m, close, next",
        ),
        (
            ["serve", "--secrets", "/no/such/secrets.toml"],
            "--secrets /no/such/secrets.toml: no such file",
        ),
        (
            ["build", "--date", "2009-12-31"],
            "--date 2009-12-31 is outside the days flowlake supports (2010-01-04 to ",
        ),
    ],
)
def test_bad_arguments_print_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], clean_env: Path
) -> None:
    code, out, err = run(args, capsys)
    assert code == (1 if args[0] == "serve" and "--secrets" in args else 2)
    assert err.count("\n") == 1 and err.startswith("flowlake: error: ")
    assert message in err
    assert "Traceback" not in err + out


def test_serve_beyond_loopback_without_sign_in_refuses(
    capsys: pytest.CaptureFixture[str], clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wildcard --host with no [auth] prints one line and starts nothing (nothing listens:
    the check comes before any child, so no port is bound and no namespace is needed)."""
    monkeypatch.setenv("HOME", str(clean_env.parent))  # no developer's ~/.streamlit
    secrets = clean_env.parent / "secrets.toml"
    secrets.write_text('[auth]\nclient_id = "flowlake"\n')
    for extra in ([], ["--secrets", str(secrets)]):
        code, out, err = run(["serve", "--host", "0.0.0.0", *extra], capsys)
        assert code == 1 and out == ""
        assert err.count("\n") == 1
        assert "--host 0.0.0.0 would show the whole lake to the network without sign-in" in err
        assert "redirect_uri, cookie_secret" in err


def test_backtest_prints_outcomes_over_the_range(
    capsys: pytest.CaptureFixture[str], clean_env: Path, built_lake: Path
) -> None:
    from tests.conftest import DAY

    code, out, err = run(
        ["backtest", "--lake", str(built_lake), "--start", str(DAY), "--end", str(DAY), "--by", "severity"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert f"Alert outcomes, 1 session(s) {DAY} to {DAY}" in out
    assert "hit_rate" in out and "Accuracy against the planted labels" in out
    code, out, err = run(
        ["backtest", "--lake", str(built_lake), "--start", "2020-01-01", "--end", "2020-02-01"],
        capsys,
    )
    assert code == 1 and "no stored session with alert outcomes" in err


def test_help_lists_every_subcommand() -> None:
    proc = subprocess.run([FLOWLAKE, "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for name in ("synth", "ingest", "build", "live", "calibrate", "backtest", "bench", "serve"):
        assert name in proc.stdout


def test_synth_ingest_build_on_a_temp_lake(
    capsys: pytest.CaptureFixture[str], clean_env: Path, tmp_path: Path, synthetic_day: SyntheticDay
) -> None:
    code, out, _ = run(
        ["synth", "--date", "2026-11-24", "--underlyings", "AAPL", "--minutes", "15"], capsys
    )
    assert code == 0 and "option_trades=" in out
    lake = Lake(str(clean_env))
    landed = read(lake, "option_trades").height
    # The same day again lands nothing new.
    code, _, _ = run(
        ["synth", "--date", "2026-11-24", "--underlyings", "AAPL", "--minutes", "15"], capsys
    )
    assert code == 0 and read(lake, "option_trades").height == landed

    csv = tmp_path / "equity_trades.csv"
    frame = (
        synthetic_day.tables["equity_trades"]
        .head(20)
        .with_columns(
            pl.col("conditions").list.join(" "), (pl.col("event_id") + "-csv").alias("event_id")
        )
    )
    frame.write_csv(csv)
    code, out, _ = run(["ingest", str(csv), "--date", "2026-11-24"], capsys)
    assert code == 0 and "equity_trades=20" in out

    code, out, _ = run(["build", "--date", "2026-11-24"], capsys)
    assert code == 0 and "flow_packets=" in out
    assert read(lake, "flow_packets").height > 0


def test_calibrate_writes_a_separate_version_and_reports(
    capsys: pytest.CaptureFixture[str], clean_env: Path, tmp_path: Path, built_lake: Path
) -> None:
    import shutil

    from assets.thresholds import DEFAULT_THRESHOLDS, load_thresholds

    shutil.copytree(built_lake, clean_env)
    lake = Lake(str(clean_env))
    default = load_thresholds().config_version
    before = read(lake, "alerts").filter(pl.col("config_version") == default).sort("alert_id")
    strict = tmp_path / "strict.toml"
    strict.write_text(
        DEFAULT_THRESHOLDS.read_text().replace("min_premium = 40000", "min_premium = 10000000")
    )
    code, out, _ = run(["calibrate", "--thresholds", str(strict), "--start", "2026-11-24"], capsys)
    assert code == 0
    candidate = load_thresholds(strict).config_version
    assert f"default {default} vs candidate {candidate}" in out
    hits = read(lake, "classifier_hits")
    sweeps = dict(
        hits.filter(pl.col("classifier") == "sweep").group_by("config_version").len().iter_rows()
    )
    assert sweeps.get(default, 0) > 0 and sweeps.get(candidate, 0) == 0
    n = sweeps[default]
    assert f"  {'sweep':<12}{n:>10}{0:>11}{-n:>+8}" in out
    after = read(lake, "alerts").filter(pl.col("config_version") == default).sort("alert_id")
    assert after.equals(before)


def test_calibrate_sweeps_one_threshold_and_reports_precision_and_recall(
    capsys: pytest.CaptureFixture[str], clean_env: Path, built_lake: Path
) -> None:
    """At the default sweep floor (40000) every planted sweep is found and nothing else;
    at 10,000,000 no sweep fires: recall 0. The Calibration page maps the versions back."""
    import shutil

    from assets.thresholds import load_thresholds
    from lake.compare import sweep_points

    shutil.copytree(built_lake, clean_env)
    code, out, _ = run(
        [
            "calibrate",
            "--start",
            "2026-11-24",
            "--sweep",
            "classifiers.sweep.min_premium=40000,1e7",
        ],
        capsys,
    )
    assert code == 0, out
    default = load_thresholds().config_version
    lines = [line.split() for line in out.splitlines() if " sweep " in f" {line} "]
    by_value = {parts[0]: parts for parts in lines if parts[0] in ("40000", "1e+07")}
    assert by_value["40000"][1] == default  # the default file's bytes: the default version
    assert by_value["40000"][4:] == ["1.000", "1.000"]
    assert by_value["1e+07"][3:] == ["0", "-", "0.000"]
    points = sweep_points(str(clean_env))
    assert sorted(points["value"].to_list()) == [40000.0, 1e7]
    assert set(points["key"]) == {"classifiers.sweep.min_premium"}


def test_calibrate_without_built_days_is_one_line(
    capsys: pytest.CaptureFixture[str], clean_env: Path
) -> None:
    from assets.thresholds import DEFAULT_THRESHOLDS

    code, _, err = run(
        ["calibrate", "--thresholds", str(DEFAULT_THRESHOLDS), "--start", "2026-11-24"], capsys
    )
    assert code == 1 and err.startswith("flowlake: error: no built day") and err.count("\n") == 1


# The slowest test of `make test`: in the heavy suite (run by CI), so that `make test`
# stays near 10 minutes.
@pytest.mark.heavy
def test_serve_stops_both_children_on_sigterm(clean_env: Path, built_lake: Path) -> None:
    import os
    import signal
    import socket
    import time

    def free_port() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    ports = [free_port(), free_port()]
    proc = subprocess.Popen(
        [FLOWLAKE, "serve", "--lake", str(built_lake), "--dagster-port", str(ports[0]), "--streamlit-port", str(ports[1])],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.strip() == f"Dagster UI:  http://127.0.0.1:{ports[0]}"
        deadline = time.monotonic() + 90
        up = set()
        while time.monotonic() < deadline and len(up) < 2:
            for port in ports:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        up.add(port)
                except OSError:
                    time.sleep(0.5)
        assert up == set(ports), "both UIs should listen on loopback"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        time.sleep(1)
        for port in ports:
            with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                pass
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


# Two full sessions through Dagster: in the heavy suite (`make test-heavy`, run by CI).
@pytest.mark.heavy
@pytest.mark.parametrize(("seed", "day"), [(101, "2026-03-20"), (202, "2026-03-17")])
def test_accuracy_on_a_full_session_of_fresh_seeds(
    capsys: pytest.CaptureFixture[str], clean_env: Path, seed: int, day: str
) -> None:
    """A whole session of 24 underlyings (a Friday: every name has a same-day expiry; and a
    Tuesday) built through Dagster: every signal finds the hits its labels expect and no
    other (precision and recall 1.0 on these seeds; the issue's bar is 0.95), and no
    near-miss fires."""
    code, _, err = run(["synth", "--date", day, "--seed", str(seed), "--underlyings", "24"], capsys)
    assert code == 0, err
    code, _, err = run(["build", "--date", day], capsys)
    assert code == 0, err
    scores = read(Lake(str(clean_env)), "signal_accuracy")
    assert scores.height == 9
    for row in scores.iter_rows(named=True):
        assert row["labels"] > 0 or row["signal"] == "zero_dte", row
        assert row["precision"] is None or row["precision"] >= 0.95, row
        assert row["recall"] is None or row["recall"] >= 0.95, row
        assert row["near_misses_fired"] == 0, row
