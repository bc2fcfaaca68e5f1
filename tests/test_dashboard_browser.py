"""One real headless Chromium run against the served dashboards, with a screenshot."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "test-output"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Chromium flags for a closed network: no background connections, no sandbox as root.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served_app(built_lake: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "FLOWLAKE_LAKE": str(built_lake)}
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "streamlit"), "run", str(ROOT / "dashboards" / "app.py"),
         "--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("streamlit did not start listening within 60 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=20)


def test_dashboard_in_headless_chromium(served_app: str) -> None:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: `make browser` installs it"
    OUTPUT.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.goto(served_app, wait_until="domcontentloaded")
        page.wait_for_selector("[data-testid='stDataFrame']", timeout=60_000)
        page.wait_for_selector("text=Options flow", timeout=30_000)
        page.screenshot(path=str(OUTPUT / "dashboard-flow.png"), full_page=True)
        page.goto(f"{served_app}/alerts", wait_until="domcontentloaded")
        page.wait_for_selector("h1:has-text('Alerts')", timeout=60_000)
        page.wait_for_selector(
            "[data-testid='stDataFrame'], [data-testid='stAlert']", timeout=60_000
        )
        page.screenshot(path=str(OUTPUT / "dashboard-alerts.png"), full_page=True)
        browser.close()
    assert (OUTPUT / "dashboard-flow.png").stat().st_size > 10_000
