"""The Learn course in a real browser (issue 16): every lesson and step, plus the
glossary, at 1440 and 1024 px wide and in presenter mode at 1024 — no error block,
the step's heading, the demo's chart drawn, the stop's shareable link in the address
bar, nothing cut off (metric values and labels, button captions) and, at 1024, every
table, select value and label fitting (tests/e2e/test_ux.py's FIT_JS) — with a
screenshot of each when LATEWATCH_SCREENSHOTS=1 (artifacts/screenshots/learn-*.png).
One page session per mode walks the course from a deep link to its first stop with
the "next ▶" button, as a learner does, measuring each stop at both widths by
resizing the window (tests/test_learn.py checks every stop's numbers and check
answers through AppTest, and the deep link to a stop)."""

from __future__ import annotations

import re
import time

import pytest

from engine.analysis.lessons import LESSONS
from tests.e2e.conftest import TAKE_SCREENSHOTS, shoot
from tests.e2e.test_browser import open_page, wait_idle
from tests.e2e.test_ux import FIT_JS, TRUNCATED_JS

pytestmark = pytest.mark.browser

STOPS = [(x.key, s.key, s.title, s.demo.kind) for x in LESSONS for s in x.steps]
STOPS.append(("glossary", None, "Glossary", "glossary"))
CHARTS = {"playground", "bucketing", "glossary"}
# two animation frames: the browser has laid out and painted what it was sent
PAINTED_JS = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"


def problems_once_settled(page, width: int, timeout_s: float = 3.0) -> list[str]:
    """What is cut off (and at 1024 px, what does not fit) — empty as soon as the
    layout has settled after a run or a resize, else what is still wrong at the end."""
    deadline = time.monotonic() + timeout_s
    while True:
        page.evaluate(PAINTED_JS)
        found = page.evaluate(TRUNCATED_JS) + (page.evaluate(FIT_JS) if width <= 1024 else [])
        if not found or time.monotonic() > deadline:
            return found


@pytest.mark.parametrize(
    "widths,present", (((1440, 1024), False), ((1024,), True)), ids=["1440+1024", "present-1024"]
)
def test_every_lesson_renders_legibly(app_url, context, widths, present):
    from playwright.sync_api import expect

    page = context.new_page()
    problems = []
    try:
        # tall (Streamlit scrolls an inner pane, so a full-page shot of a short viewport
        # misses the rest); what is cut off depends on the width only
        page.set_viewport_size({"width": widths[0], "height": 2600})
        lesson, step = STOPS[0][:2]
        flag = "&present=1" if present else ""
        open_page(page, f"{app_url}/learn?lesson={lesson}&step={step}{flag}", "Learn")
        main = page.get_by_test_id("stMain")
        order = list(widths)
        for i, (lesson, step, title, kind) in enumerate(STOPS):
            if i:
                page.get_by_role("button", name="next ▶").click()
            # the stop's own heading (a step's title is also in the step picker)
            main.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=60_000)
            wait_idle(page)
            link = rf"^(?=.*[?&]lesson={lesson}(&|$))" + (
                rf"(?=.*[?&]step={re.escape(step)}(&|$))" if step else ""
            )
            expect(page).to_have_url(re.compile(link))
            if kind in CHARTS and not (present and kind == "glossary"):
                # generous: the first stop may meet a cold server on a loaded machine
                chart = page.locator("[data-testid=stPlotlyChart] .main-svg").first
                chart.wait_for(timeout=120_000)
            if page.get_by_test_id("stException").count():
                problems.append(f"{lesson}/{step}: exception")
            if present and page.get_by_test_id("stSidebar").is_visible():
                problems.append(f"{lesson}/{step}: sidebar visible in presenter mode")
            for width in order:  # the width left from the stop before first: one resize
                if width != page.viewport_size["width"]:
                    page.set_viewport_size({"width": width, "height": 2600})
                cut = problems_once_settled(page, width)
                if cut:
                    problems.append(f"{lesson}/{step} at {width}px: {cut}")
                if TAKE_SCREENSHOTS:
                    name = f"learn-{lesson}-{step or 'all'}-{'present-' if present else ''}"
                    shoot(page, f"{name}{width}.png", settle_ms=800)
            order.reverse()
        assert page.get_by_role("button", name="next ▶").count() == 0  # the course's end
    finally:
        page.close()
    assert problems == []


# Every state the playground's caption shows, recorded as the page renders it (a
# check that polls could miss a step shown for half a second).
RECORD_CAPTIONS_JS = r"""() => {
  window.__captions = [];
  const grab = () => {
    for (const el of document.querySelectorAll('[data-testid=stMain] p')) {
      const t = el.innerText;
      if (/^At \d\d:\d\d:\d\d: watermark/.test(t)) {
        if (t !== window.__captions[window.__captions.length - 1]) window.__captions.push(t);
        return;
      }
    }
  };
  new MutationObserver(grab).observe(document.body,
                                     {subtree: true, childList: true, characterData: true});
  grab();
}"""


def test_playground_autoplay_steps_through_processing_time(app_url, context):
    from playwright.sync_api import expect

    page = context.new_page()
    try:
        open_page(page, f"{app_url}/playground", "Watermark playground")
        caption = page.get_by_text(re.compile(r"^At \d\d:\d\d:\d\d: watermark")).first
        expect(caption).to_contain_text("5 of 5 events arrived", timeout=30_000)  # the end
        fast = page.get_by_role("radio", name="fast (0.5 s)")  # a segmented control
        fast.click()  # a step every 0.5 s
        expect(fast).to_have_attribute("aria-checked", "true")
        wait_idle(page)
        page.evaluate(RECORD_CAPTIONS_JS)
        page.get_by_role("button", name="▶ play").click()
        expect(page.get_by_role("button", name="⏸ pause")).to_be_visible(timeout=30_000)
        # played to the end, then the button is back to "play"
        expect(page.get_by_role("button", name="▶ play")).to_be_visible(timeout=60_000)
        expect(caption).to_contain_text("5 of 5 events arrived")
        assert page.get_by_test_id("stException").count() == 0
        shown = page.evaluate("() => window.__captions")[1:]  # after the end it started at
        clock = [re.match(r"At (\d\d:\d\d:\d\d)", c).group(1) for c in shown]
        arrived = [int(re.search(r"(\d) of 5 events arrived", c).group(1)) for c in shown]
        # forward through processing time (a step's caption may be drawn twice: the
        # page reruns once more when the play ends)
        steps = [c for i, c in enumerate(clock) if not i or c != clock[i - 1]]
        assert steps == sorted(set(clock)), shown
        assert arrived[0] == 1 and arrived == sorted(arrived), shown  # from the start
        assert set(arrived) == {1, 2, 3, 4, 5}, shown  # every arrival shown on the way
    finally:
        page.close()
