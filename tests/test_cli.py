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
        (["live"], "not implemented yet: issue 8"),
        (["calibrate"], "not implemented yet: issue 6"),
        (["bench"], "not implemented yet: issue 11"),
    ],
)
def test_bad_arguments_print_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], clean_env: Path
) -> None:
    code, out, err = run(args, capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("flowlake: error: ")
    assert message in err
    assert "Traceback" not in err + out


def test_help_lists_every_subcommand() -> None:
    proc = subprocess.run([FLOWLAKE, "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for name in ("synth", "ingest", "build", "live", "calibrate", "bench", "serve"):
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
