"""Start the Dagster UI and the Streamlit dashboards together, on loopback by default."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from orchestration.instance import ensure_dagster_home

ROOT = Path(__file__).resolve().parent.parent


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve(
    host: str = "127.0.0.1",
    dagster_port: int = 3000,
    streamlit_port: int = 8501,
    lake: str | None = None,
) -> int:
    """Run ``dagster dev -w workspace.yaml`` and ``streamlit run``; stop both on Ctrl-C.

    Each child runs in its own process group because ``dagster dev`` started in the
    background ignores SIGINT/SIGTERM (DESIGN.md §8): the group is what gets stopped.

    Returns
    -------
    int
        The exit code: 0 after Ctrl-C, otherwise the code of the child that stopped first.
    """
    env = dict(os.environ)
    env["DAGSTER_HOME"] = str(ensure_dagster_home())
    if lake:
        env["FLOWLAKE_LAKE"] = lake
    bin_dir = Path(sys.executable).parent
    commands = [
        [str(bin_dir / "dagster"), "dev", "-w", str(ROOT / "workspace.yaml"), "-h", host, "-p", str(dagster_port)],
        [
            str(bin_dir / "streamlit"), "run", str(ROOT / "dashboards" / "app.py"),
            "--server.address", host, "--server.port", str(streamlit_port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
        ],
    ]  # fmt: skip
    # SIGTERM (a service manager, `timeout`, CI) must stop the children too, not orphan them.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    children = [
        subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True) for cmd in commands
    ]
    print(f"Dagster UI:  http://{host}:{dagster_port}", flush=True)
    print(f"Dashboards:  http://{host}:{streamlit_port}", flush=True)
    print("Ctrl-C stops both.", flush=True)
    code = 0
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        code = next(child.returncode for child in children if child.returncode is not None)
    except KeyboardInterrupt:
        code = 0
    finally:
        for child in children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
    return code
