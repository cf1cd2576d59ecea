"""Browser-test fixtures: ``streamlit run app.py`` headless on a free 127.0.0.1 port
against a copy of the seeded database (scheduler ON, so live fragments tick), and
Debian's Chromium driven by Playwright (no ``playwright install``: it cannot
download here). The server is fresh for the session and NOT warmed up: the first
test opens a deep link, which is exactly the case the router guard exists for."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import seed_config

ROOT = Path(__file__).parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
# Screenshots are for people to look at (LATEWATCH_SCREENSHOTS=1); the checks do not
# need them, and a tall page's screenshot costs about a second on a 2-core machine.
TAKE_SCREENSHOTS = os.environ.get("LATEWATCH_SCREENSHOTS", "") not in ("", "0")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(config, items):
    reason = None
    if not CHROMIUM.exists():
        reason = f"Debian chromium not found at {CHROMIUM} (apt-get install -y chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "Playwright for Python is not installed (pip install playwright)"
    if reason:
        for item in items:
            if "browser" in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


def pytest_terminal_summary(terminalreporter):
    if SCREENSHOTS.exists() and any(SCREENSHOTS.glob("*.png")):
        terminalreporter.write_line(f"browser screenshots: {SCREENSHOTS}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http_ok(url: str, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} not up after {timeout} s")


@pytest.fixture(scope="session")
def app_url(seeded_db_template, tmp_path_factory):
    db = tmp_path_factory.mktemp("e2e") / "latewatch.db"
    shutil.copy(seeded_db_template, db)
    con = sqlite3.connect(db)  # keep the copy consistent with no WAL left behind
    con.close()
    port = _free_port()
    env = {
        **os.environ,
        "LATEWATCH_DB": str(db),
        "LATEWATCH_SCHEDULER": "on",
        "LATEWATCH_EVENTS_PER_DAY": "1500",
        "LATEWATCH_CONFIG": str(seed_config(db.parent)),
        "STREAMLIT_SERVER_HEADLESS": "true",
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none",
        "STREAMLIT_SERVER_RUN_ON_SAVE": "false",
    }
    log = (tmp_path_factory.getbasetemp() / "streamlit.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http_ok(url + "/_stcore/health", 40, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def browser(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def context(browser):
    """One browser context (shared HTTP cache: Streamlit's bundle loads once); a tall
    viewport because ``full_page`` screenshots miss Streamlit's inner scroll pane."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 2400})
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    pg = context.new_page()
    yield pg
    pg.close()


def shoot(page, name: str, settle_ms: int = 0, **kwargs) -> None:
    """Save ``artifacts/screenshots/<name>`` when LATEWATCH_SCREENSHOTS=1 (after
    ``settle_ms`` for the last paint); otherwise nothing."""
    if not TAKE_SCREENSHOTS:
        return
    if settle_ms:
        page.wait_for_timeout(settle_ms)
    page.screenshot(path=str(SCREENSHOTS / name), **kwargs)
