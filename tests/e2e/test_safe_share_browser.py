"""Real-browser check of issue 12's item 8: an imported source named
``=HYPERLINK("http://evil.example","click")``, ``**x**`` or ``[click](http://…)`` is
shown as the text it is — on the Import page and in the What-if lab — with no link,
no bold, and no download of verbatim cells from Streamlit's table toolbar."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import shoot
from tests.e2e.test_browser import open_page, wait_idle
from tests.test_safe_share import HOSTILE, hostile_csv

pytestmark = pytest.mark.browser

# No link to the evil host, and no bold/italic element holding just "x" (what "**x**"
# would become if it were read as Markdown; the page may bold a label that holds it).
PROBE = """() => {
  const main = document.querySelector('[data-testid=stMain]');
  const links = [...main.querySelectorAll('a')].filter(a => (a.href || '').includes('evil.example'));
  const bold = [...main.querySelectorAll('strong, b, em')]
    .filter(e => e.textContent.trim() === 'x');
  return {links: links.length, bold: bold.length,
          bwhere: bold.map(e => e.parentElement.parentElement.outerHTML.slice(0, 400)),
          where: links.map(a => a.parentElement.parentElement.outerHTML.slice(0, 300)),
          text: main.innerText.replaceAll('\\u200d', '')};
}"""


def check_literal(page, where: str) -> str:
    found = page.evaluate(PROBE)
    assert found["links"] == 0, f"a link to evil.example on {where}: {found['where']}"
    assert found["bold"] == 0, f"user text as Markdown emphasis on {where}: {found['bwhere']}"
    return found["text"]


def test_imported_formula_and_markdown_sources_render_literally(app_url, page, tmp_path):
    from playwright.sync_api import expect

    data = tmp_path / "hostile-sources.csv"
    data.write_bytes(hostile_csv())
    page.goto(app_url)  # a first visit to "/" routes the app (a bare deep link may not)
    wait_idle(page, timeout=60_000)
    open_page(page, app_url + "/import", "Import your own events")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(data))
    expect(page.get_by_text("First rows of hostile-sources.csv")).to_be_visible(timeout=30_000)
    wait_idle(page)
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_text("Validation report")).to_be_visible(timeout=60_000)
    wait_idle(page)
    page.locator("[data-testid=stPlotlyChart] .main-svg").first.wait_for(timeout=30_000)
    check_literal(page, "the Import page")
    # the capture chart's legend shows the names as text, not as Plotly links
    legend = page.locator("[data-testid=stPlotlyChart] .legendtext").all_text_contents()
    assert "**x**" in legend and HOSTILE[0] in legend
    assert page.locator("[data-testid=stPlotlyChart] a").count() == 0
    # Streamlit's own CSV download is off (it would write the cells verbatim)
    page.locator("[data-testid=stDataFrame]").first.hover()
    assert page.get_by_role("button", name="Download as CSV").count() == 0
    shoot(page, "safe-import-hostile-sources.png")

    page.get_by_role("button", name="Open in the What-if lab").click()
    page.get_by_test_id("stMain").get_by_role("heading", name="What-if lab").wait_for(
        timeout=60_000
    )
    wait_idle(page, timeout=120_000)
    page.get_by_text("Per source").first.wait_for(timeout=60_000)
    text = check_literal(page, "the What-if lab")
    for src in HOSTILE:
        assert src in text, f"{src!r} is not shown literally in the What-if lab"
    shoot(page, "safe-whatif-hostile-sources.png")
