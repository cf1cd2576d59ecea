"""Every Streamlit surface the pages put user text on, in a real browser: with
``ui.text.escape_markdown`` (or ``code``) no link, emphasis, heading, icon, colour or
maths comes out of user text, and the reader sees the characters typed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.e2e.conftest import ROOT, _free_port, _wait_http_ok
from tests.e2e.markdown_surfaces_app import HOSTILE

pytestmark = pytest.mark.browser

PROBE = """(i) => {
  const box = document.querySelector('.st-key-probe-' + i);
  const bad = box.querySelectorAll(
    'a, strong, em, del, h1, h2, .katex, [data-testid=stIconMaterial] ~ *, '
    + 'span[style*="color"], img');
  return {bad: [...bad].map(e => e.outerHTML.slice(0, 120)),
          text: box.innerText.replaceAll('\\u200d', '')};
}"""


@pytest.fixture(scope="module")
def probe_url():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "tests/e2e/markdown_surfaces_app.py",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_http_ok(f"http://127.0.0.1:{port}/_stcore/health", 40, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_escaped_user_text_is_literal_on_every_surface(probe_url, page):
    page.goto(probe_url)
    page.locator(".st-key-probe-end").wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    for i, raw in enumerate(HOSTILE):
        found = page.evaluate(PROBE, i)
        # the subheader's own anchor icon is Streamlit's, not user text: ignore links to #
        bad = [b for b in found["bad"] if not b.startswith('<a href="#')]
        assert bad == [], f"{raw!r} produced markup: {bad}"
        assert raw.split(" ")[0] in found["text"], f"{raw!r} is not shown literally"
    control = page.evaluate(PROBE, "control")
    assert control["bad"], "the probe finds markup when text is not escaped"
