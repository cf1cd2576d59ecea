"""The Learn course in a real browser (issue 16): every lesson and step, plus the
glossary, at 1440×900 and in presenter mode at 1024×768 — no error block, the
lesson's title, the demo's chart drawn, nothing cut off (metric values and labels,
button captions) — with a screenshot of each when LATEWATCH_SCREENSHOTS=1
(artifacts/screenshots/learn-*.png).
One page on the session's one server, walking the course by deep links."""

from __future__ import annotations

import re

import pytest

from engine.analysis.lessons import LESSONS
from tests.e2e.conftest import TAKE_SCREENSHOTS, shoot
from tests.e2e.test_browser import open_page, wait_idle
from tests.e2e.test_ux import TRUNCATED_JS

pytestmark = pytest.mark.browser

STOPS = [(x.key, s.key, x.title, s.demo.kind) for x in LESSONS for s in x.steps]
STOPS.append(("glossary", None, "Glossary", "glossary"))
CHARTS = {"playground", "bucketing", "glossary"}


@pytest.mark.parametrize(
    "width,height,present", ((1440, 900, False), (1024, 768, True)), ids=["1440", "present-1024"]
)
def test_every_lesson_renders_legibly(app_url, context, width, height, present):
    page = context.new_page()
    problems = []
    try:
        # tall from the start (Streamlit scrolls an inner pane, so a full-page shot of a
        # short viewport misses the rest); truncation depends on the width only
        page.set_viewport_size({"width": width, "height": 2600})
        for lesson, step, title, kind in STOPS:
            url = f"{app_url}/learn?lesson={lesson}" + (f"&step={step}" if step else "")
            url += "&present=1" if present else ""
            open_page(page, url, "Learn")
            page.get_by_text(title).first.wait_for(timeout=60_000)
            if kind in CHARTS and not (present and kind == "glossary"):
                # generous: the first stop may meet a cold server on a loaded machine
                chart = page.locator("[data-testid=stPlotlyChart] .main-svg").first
                chart.wait_for(timeout=120_000)
            page.wait_for_timeout(800 if TAKE_SCREENSHOTS else 300)
            wait_idle(page)
            if page.get_by_test_id("stException").count():
                problems.append(f"{lesson}/{step}: exception")
            cut = page.evaluate(TRUNCATED_JS)
            if cut:
                problems.append(f"{lesson}/{step} at {width}px cuts off: {cut}")
            if present and page.get_by_test_id("stSidebar").is_visible():
                problems.append(f"{lesson}/{step}: sidebar visible in presenter mode")
            shoot(
                page, f"learn-{lesson}-{step or 'all'}-{'present-' if present else ''}{width}.png"
            )
    finally:
        page.close()
    assert problems == []


def test_playground_autoplay_steps_through_processing_time(app_url, context):
    from playwright.sync_api import expect

    page = context.new_page()
    try:
        open_page(page, f"{app_url}/playground", "Watermark playground")
        caption = page.get_by_text(re.compile(r"^At \d\d:\d\d:\d\d: watermark")).first
        caption.wait_for(timeout=30_000)
        page.get_by_role("button", name="▶ play").click()
        expect(caption).to_contain_text("1 of 5 events arrived", timeout=30_000)
        expect(caption).to_contain_text("2 of 5 events arrived", timeout=30_000)
        expect(caption).to_contain_text("5 of 5 events arrived", timeout=60_000)
        expect(page.get_by_role("button", name="▶ play")).to_be_visible(timeout=30_000)
        assert page.get_by_test_id("stException").count() == 0
    finally:
        page.close()
