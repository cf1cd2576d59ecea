"""Real-browser checks against ``streamlit run``: a deep link as the very first request
on a fresh server gets the router, every page in app.py's PAGES renders without an
error block and with its title, the live fragments tick; with LATEWATCH_SCREENSHOTS=1
screenshots are saved (artifacts/screenshots/, a tall viewport because Streamlit
scrolls an inner pane)."""

from __future__ import annotations

import ast
import re

import pytest

from tests.e2e.conftest import ROOT, shoot

pytestmark = pytest.mark.browser

# Key labels per page we own; other pages are checked for their title and no error.
KEY_LABELS = {
    "": ["Today (live)", "Yesterday at this time", "How complete is today?", "by tier"],
    "versions": ["Version timeline", "Explain a change", "As of", "Which number is right?"],
    "operations": ["Simulator controls", "Watermarks per source", "Jobs", "Quarantine"],
    "alerts": ["Alerts", "Log", "Rules"],
    "lateness": ["Arrival delay per source", "Capture", "Recommended allowed lateness", "Drift"],
    "whatif": ["Proposed configuration", "Proposed vs current", "Trade-off: allowed lateness"],
    "playground": ["Watermark playground", "Panes"],
    "import": ["Import your own events", "1. Choose a file", "Imported datasets"],
    "reconciliation": ["Reconciliation", "Per window", "Where a difference came from"],
}
# A page's own heading where it differs from its navigation title.
HEADINGS = {"import": "Import your own events"}
# Pages whose content is drawn as Plotly charts: wait for one to render.
CHART_PAGES = {
    "",
    "versions",
    "operations",
    "alerts",
    "lateness",
    "whatif",
    "playground",
    "reconciliation",
}


def routed_pages() -> list[tuple[str, str]]:
    """(url path, title) of every page app.py routes: the PAGES table, files present.
    The first one is also served at "/" (app.py adds a hidden default twin of it, so
    its own path, "/today", still answers; tests/e2e/test_ux.py opens that)."""
    tree = ast.parse((ROOT / "app.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "PAGES" for t in node.targets
        ):
            pages = ast.literal_eval(node.value)
            routed = [(url, title) for _, path, title, url, _ in pages if (ROOT / path).exists()]
            return [("", routed[0][1]), *routed[1:]]
    raise AssertionError("app.py has no PAGES table")


def wait_idle(page, timeout=30_000) -> None:
    page.locator("[data-testid=stApp][data-test-connection-state=CONNECTED]").wait_for(
        state="attached", timeout=timeout
    )
    page.locator("[data-testid=stApp][data-test-script-state=notRunning]").wait_for(
        state="attached", timeout=timeout
    )


def open_page(page, url: str, title: str | None = None):
    """Go to ``url`` and wait for the first script run to finish and a heading to show
    (``title`` for our pages; any heading for pages owned by others)."""
    page.goto(url)
    wait_idle(page)
    heading = page.get_by_test_id("stMain").get_by_role("heading")
    if title:
        heading = heading.filter(has_text=title)
    heading.first.wait_for(timeout=30_000)
    return page


def test_deep_link_first_on_a_fresh_server_gets_the_router(app_url, page):
    """Must run first in this module: nothing has opened "/" on this server yet. Streamlit
    first serves ``pages/`` by file name, so the page's file must be named as its URL
    (pages/import.py for /import: otherwise a "Page not found" dialog covers the page)."""
    open_page(page, app_url + "/import", "Import your own events")
    wait_idle(page)
    assert page.get_by_role("dialog").count() == 0, page.get_by_role("dialog").inner_text()
    assert "Page not found" not in page.content()
    nav = page.get_by_test_id("stSidebarNav")
    nav.wait_for(timeout=15_000)
    nav_text = nav.inner_text()
    for _, title in routed_pages():
        assert title in nav_text  # st.navigation titles, not file names
    assert "overview" not in nav_text.lower()
    assert page.get_by_test_id("stException").count() == 0
    assert "Simulated time" in page.get_by_test_id("stSidebar").inner_text()
    shoot(page, "import-deep-link.png")


# Every other page's render is checked at both widths by tests/e2e/test_ux.py (one
# page load each instead of three); here the default page served at "/".
@pytest.mark.parametrize("url_path,title", routed_pages()[:1])
def test_every_page_renders_without_errors(app_url, page, url_path, title):
    open_page(page, f"{app_url}/{url_path}", HEADINGS.get(url_path, title))
    if url_path in CHART_PAGES:  # charts mount lazily: wait for one to draw
        page.locator("[data-testid=stPlotlyChart] .main-svg").first.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)  # let the remaining charts and tables paint
    wait_idle(page)
    text = page.get_by_test_id("stMain").inner_text()
    for label in KEY_LABELS.get(url_path, []):
        assert label in text, f"{label!r} missing on /{url_path}"
    assert page.get_by_test_id("stException").count() == 0
    assert "stSkeleton" not in page.content(), f"/{url_path} still shows loading placeholders"
    shoot(page, f"{url_path or 'default'}.png")


def test_live_fragment_ticks_on_operations(app_url, page):
    open_page(page, app_url + "/operations", "Operations")
    from playwright.sync_api import expect

    value = page.get_by_test_id("stMetricValue").first
    expect(value).to_have_text(re.compile(r"\d\d:\d\d"), timeout=15_000)
    first = value.inner_text()
    expect(value).not_to_have_text(first, timeout=15_000)
    assert page.get_by_test_id("stException").count() == 0


def test_live_fragment_ticks_on_today(app_url, page):
    open_page(page, app_url + "/", "Today")
    from playwright.sync_api import expect

    heading = page.get_by_text(re.compile(r"— as of \d\d:\d\d")).first
    expect(heading).to_be_visible(timeout=15_000)
    first = heading.inner_text()
    expect(heading).not_to_have_text(first, timeout=15_000)
