"""The dashboards as a person uses them: real headless Chromium (Debian's package) driven by
Playwright against a served app on loopback, with a screenshot of every page."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from dashboards.pages import PAGES

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "test-output"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Chromium flags for a closed network: no background connections, no sandbox as root.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip
TIMEOUT_MS = 60_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"streamlit did not start listening within {seconds:.0f} s")


def start_app(
    lake: Path, *extra: str, home: Path | None = None, port: int | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``streamlit run`` on loopback (the project's config: no usage stats, no IP lookup)."""
    port = port or free_port()
    env = {**os.environ, "FLOWLAKE_LAKE": str(lake)}
    if home is not None:
        env["HOME"] = str(home)  # no developer's ~/.streamlit/secrets.toml
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "streamlit"), "run", str(ROOT / "dashboards" / "app.py"),
         "--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true",
         "--browser.gatherUsageStats", "false", *extra],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    wait_listening(port, proc)
    return proc, f"http://127.0.0.1:{port}"


def stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser_lake(tmp_path_factory: pytest.TempPathFactory, built_lake: Path) -> Path:
    """A copy of the built lake (saved views are written beside it)."""
    root = tmp_path_factory.mktemp("browser") / "lake"
    shutil.copytree(built_lake, root)
    return root


@pytest.fixture(scope="module")
def served_app(browser_lake: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = start_app(browser_lake, home=tmp_path_factory.mktemp("home"))
    try:
        yield url
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: `make browser` installs it"
    OUTPUT.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1500, "height": 1000}, accept_downloads=True)  # type: ignore[attr-defined]
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    outside: list[str] = []
    tab.on(
        "request",
        lambda request: outside.append(request.url) if not loopback(request.url) else None,
    )
    yield tab
    context.close()
    assert not outside, f"the page asked for something beyond loopback: {outside[:3]}"


def loopback(url: str) -> bool:
    """Return True for a URL the browser may fetch here: loopback, or data held in the page."""
    from urllib.parse import urlparse

    parsed = urlparse(url)
    return parsed.scheme in ("data", "blob", "about") or parsed.hostname in (
        "127.0.0.1",
        "localhost",
        "::1",
    )


def settled(page: object) -> None:
    """Wait until the app has finished running its script (no 'Running...' status)."""
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=TIMEOUT_MS
    )


def metric(page: object, label: str) -> str:
    box = page.locator("[data-testid='stMetric']", has_text=label).first  # type: ignore[attr-defined]
    return box.locator("[data-testid='stMetricValue']").inner_text()


def click_first_row(page: object, key: str) -> None:
    """Select the first row of the dataframe ``key`` (its row-marker column, left of row 1)."""
    grid = page.locator(f".st-key-{key} [data-testid='stDataFrameResizable']").first  # type: ignore[attr-defined]
    grid.wait_for()
    box = grid.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 16, box["y"] + 35 + 17)  # type: ignore[attr-defined]


def download(page: object, key: str, name: str) -> pl.DataFrame:
    """Click the CSV download of the table ``key`` and return the file read back."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    saved = OUTPUT / name
    page.wait_for_selector(f".st-key-{key}_csv button")  # type: ignore[attr-defined]
    # The page refreshes every 2 s: a click that lands while the button is being redrawn is
    # lost, as it would be for a person, who clicks again.
    for attempt in range(4):
        try:
            with page.expect_download(timeout=15_000) as event:  # type: ignore[attr-defined]
                page.locator(f".st-key-{key}_csv button").click()  # type: ignore[attr-defined]
            event.value.save_as(saved)
            break
        except PlaywrightTimeout:
            assert attempt < 3, f"no download of {key} after four clicks"
    return pl.read_csv(saved)


def test_every_page_in_headless_chromium(served_app: str, page: object) -> None:
    """Each page opens, shows its title and no exception; a screenshot of each is kept."""
    for path, title, _ in PAGES:
        # The default page (Flow) is the app's root: its own path is not a page URL.
        url = served_app if path == PAGES[0][0] else f"{served_app}/{path}"
        page.goto(url, wait_until="domcontentloaded")  # type: ignore[attr-defined]
        page.wait_for_selector("h1", timeout=TIMEOUT_MS)  # type: ignore[attr-defined]
        settled(page)
        assert page.locator("[data-testid='stException']").count() == 0, path  # type: ignore[attr-defined]
        assert page.get_by_text("Page not found").count() == 0, path  # type: ignore[attr-defined]
        assert page.locator("h1", has_text=title.split()[0]).count() >= 1, path  # type: ignore[attr-defined]
        page.screenshot(path=str(OUTPUT / f"dashboard-{path}.png"), full_page=True)  # type: ignore[attr-defined]
    assert (OUTPUT / "dashboard-flow.png").stat().st_size > 10_000


def test_filters_change_the_tape_and_a_shared_link_opens_the_same_view(
    served_app: str, page: object
) -> None:
    page.goto(f"{served_app}/", wait_until="domcontentloaded")  # type: ignore[attr-defined]
    page.wait_for_selector("[data-testid='stMetric']")  # type: ignore[attr-defined]
    settled(page)
    before = int(metric(page, "Packets").replace(",", ""))
    premium = page.get_by_label("Min premium ($)")  # type: ignore[attr-defined]
    premium.fill("0")
    premium.press("Enter")
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => new URL(location.href).searchParams.get('min_premium') === '0'"
    )
    settled(page)
    everything = int(metric(page, "Packets").replace(",", ""))
    assert everything > before
    page.get_by_text("Golden sweeps only").click()  # type: ignore[attr-defined]
    page.wait_for_function("() => new URL(location.href).searchParams.get('golden_only') === '1'")  # type: ignore[attr-defined]
    settled(page)
    golden = int(metric(page, "Packets").replace(",", ""))
    assert golden < everything
    shared = page.url  # type: ignore[attr-defined]
    other = page.context.new_page()  # type: ignore[attr-defined]
    other.goto(shared, wait_until="domcontentloaded")
    other.wait_for_selector("[data-testid='stMetric']", timeout=TIMEOUT_MS)
    settled(other)
    assert int(metric(other, "Packets").replace(",", "")) == golden
    assert "min_premium=0" in other.url and "golden_only=1" in other.url
    other.screenshot(path=str(OUTPUT / "dashboard-flow-shared-link.png"), full_page=True)


def test_download_a_csv_of_the_filtered_tape(
    served_app: str, page: object, browser_lake: Path
) -> None:
    """The CSV holds exactly the rows the filters leave: read back, the same orders in the
    same order as the lake's packets filtered by hand."""
    from lake import Lake
    from lake.read import read

    page.goto(f"{served_app}/?ticker=SPY&kinds=sweep,block,split,single&min_premium=5000&side=buy",  # type: ignore[attr-defined]
              wait_until="domcontentloaded")  # fmt: skip
    page.wait_for_selector(".st-key-flow_packets_table_csv")  # type: ignore[attr-defined]
    settled(page)
    page.wait_for_selector("[data-testid='stMetric']")  # type: ignore[attr-defined]
    shown = download(page, "flow_packets_table", "flow-download.csv")
    packets = read(Lake(str(browser_lake)), "flow_packets")
    assert packets is not None
    expected = packets.filter(
        (pl.col("underlying") == "SPY")
        & pl.col("kind").is_in(["sweep", "block", "split", "single"])
        & (pl.col("premium") >= 5000)
        & (pl.col("side") == "buy")
    ).sort("start_ts", descending=True)
    assert shown.height == expected.height > 0
    assert shown["packet_id"].to_list() == expected["packet_id"].to_list()
    assert shown["premium"].to_list() == expected["premium"].round(0).to_list()


def test_click_an_alert_and_see_its_prints(
    served_app: str, page: object, browser_lake: Path
) -> None:
    """Clicking the top alert opens its evidence: its prints, each with its NBBO."""
    from lake import Lake
    from lake.read import read

    lake = Lake(str(browser_lake))
    alerts, packets = read(lake, "alerts"), read(lake, "flow_packets")
    assert alerts is not None and packets is not None
    top = alerts.sort("score", "alert_id", descending=[True, False]).row(0, named=True)
    expected = packets.filter(pl.col("packet_id").is_in(top["packet_ids"]))["event_ids"].explode()
    page.goto(f"{served_app}/alerts", wait_until="domcontentloaded")  # type: ignore[attr-defined]
    page.wait_for_selector(".st-key-alerts_table")  # type: ignore[attr-defined]
    settled(page)
    click_first_row(page, "alerts_table")
    page.wait_for_selector(f"text={top['severity'].upper()} · score {top['score']:.0f}")  # type: ignore[attr-defined]
    prints = download(page, "evidence_prints", "alert-evidence-prints.csv")
    assert sorted(prints["event_id"].to_list()) == sorted(expected.to_list())
    assert {"nbbo_bid", "nbbo_ask", "placement"} <= set(prints.columns)
    page.screenshot(path=str(OUTPUT / "dashboard-alert-evidence.png"), full_page=True)  # type: ignore[attr-defined]


def test_open_a_structure_and_see_its_legs(
    served_app: str, page: object, browser_lake: Path
) -> None:
    """Clicking the newest structure lists its legs: each contract with the side it traded."""
    from lake import Lake
    from lake.read import read

    structures = read(Lake(str(browser_lake)), "structures")
    assert structures is not None and structures.height
    newest = structures.sort("start_ts", "structure_id", descending=[True, False]).row(
        0, named=True
    )
    page.goto(f"{served_app}/structures", wait_until="domcontentloaded")  # type: ignore[attr-defined]
    page.wait_for_selector(".st-key-structures_table")  # type: ignore[attr-defined]
    settled(page)
    assert page.locator(".st-key-structure_legs_csv").count() == 0  # type: ignore[attr-defined]
    click_first_row(page, "structures_table")
    page.wait_for_selector(f"text={newest['n_legs']} legs · net")  # type: ignore[attr-defined]
    legs = download(page, "structure_legs", "structure-legs.csv")
    assert legs["contract"].to_list() == newest["contracts"]
    assert legs["side"].to_list() == newest["sides"]
    page.screenshot(path=str(OUTPUT / "dashboard-structure-legs.png"), full_page=True)  # type: ignore[attr-defined]


@pytest.fixture
def oidc_provider() -> Iterator[str]:
    """A local OpenID provider on loopback (``oidc-provider-mock``): any client, a form to
    choose who signs in."""
    import oidc_provider_mock

    with oidc_provider_mock.run_server_in_thread() as server:
        yield f"http://localhost:{server.server_port}"


def test_sign_in_before_any_data(
    browser: object, browser_lake: Path, oidc_provider: str, tmp_path: Path
) -> None:
    """With [auth] configured the app shows a sign-in button and no data; after signing in
    at the provider, the Flow page shows the lake and who is signed in."""
    port = free_port()
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        'cookie_secret = "a-test-cookie-secret-of-some-length"\n'
        'client_id = "flowlake"\n'
        'client_secret = "flowlake-test-secret"\n'
        f'server_metadata_url = "{oidc_provider}/.well-known/openid-configuration"\n'
    )
    proc, url = start_app(browser_lake, "--secrets.files", str(secrets), home=tmp_path, port=port)
    context = browser.new_context(viewport={"width": 1500, "height": 1000})  # type: ignore[attr-defined]
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(url, wait_until="domcontentloaded")
        page.get_by_role("button", name="Sign in").wait_for()
        settled(page)
        assert page.locator("[data-testid='stMetric']").count() == 0
        assert page.locator("[data-testid='stDataFrame']").count() == 0
        page.screenshot(path=str(OUTPUT / "dashboard-sign-in.png"), full_page=True)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{oidc_provider}/**")
        page.locator("input[name='sub']").fill("alice@example.com")
        page.get_by_role("button", name="Authorize").click()
        page.wait_for_selector("[data-testid='stMetric']")
        page.get_by_text("Signed in as alice@example.com").wait_for()
        assert page.url.startswith(url)
        page.screenshot(path=str(OUTPUT / "dashboard-signed-in.png"), full_page=True)
    finally:
        context.close()
        stop(proc)
