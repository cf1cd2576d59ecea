"""The Learn course: every lesson and step runs through app.py (AppTest), each demo's
numbers are the operator's on the same events (replayed here and compared, or
recomputed independently), and every check question's answer is computed by the
engine (re-derived here from the demo's own run, not pasted)."""

from __future__ import annotations

import ast
import statistics
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.analysis import glossary
from engine.analysis import lesson_demos as demos
from engine.analysis.lessons import BY_KEY, LESSONS
from engine.analysis.playground import PRESETS, clock_ms, clock_text, run_preset
from engine.core.timeutil import DAY_MS, HOUR_MS
from engine.runtime.finalize import FinalizePolicy

ROOT = Path(__file__).resolve().parents[1]


def routed_urls() -> set[str]:
    tree = ast.parse((ROOT / "app.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "PAGES" for t in node.targets
        ):
            return {
                url for _, path, _, url, _ in ast.literal_eval(node.value) if (ROOT / path).exists()
            }
    raise AssertionError("no PAGES")


def test_course_is_whole():
    urls = routed_urls() | {""}
    assert "learn" in urls
    keys = [lesson.key for lesson in LESSONS]
    assert len(keys) == len(set(keys))
    for lesson in LESSONS:
        assert lesson.page in urls, lesson.page
        assert lesson.steps and len({s.key for s in lesson.steps}) == len(lesson.steps)
        for term in lesson.terms:
            assert term in glossary.BY_KEY, term
        for step in lesson.steps:
            assert step.text and step.try_this
            if step.demo.kind == "playground":
                assert step.demo.preset in PRESETS
    for term in glossary.TERMS:
        assert not term.lesson or term.lesson in BY_KEY
        assert term.page in urls


def test_glossary_search():
    assert {t.key for t in glossary.search("")} == set(glossary.BY_KEY)
    found = {t.key for t in glossary.search("is_final")}
    assert found == {"is-final"}
    assert "allowed-lateness" in {t.key for t in glossary.search("allowed lateness")}
    assert glossary.search("no such word anywhere") == []


# ---------------------------------------------------------------------- checks
def test_check_answers_follow_the_engine():
    """Re-derive a few answers from the runs by other routes than lessons.py."""
    c = BY_KEY["watermarks"].step("bounded").check()
    # W = max event time seen - 5 min, after a, b, c: max is c's 10:02
    assert c.answer == clock_text(clock_ms("10:02:00") - 5 * 60_000)
    c = BY_KEY["late-windows"].step("tumbling").check()
    run = run_preset("classic")
    assert c.answer == f"{run.panes['value'].max():g}"
    c = BY_KEY["strategies"].step("actions").check()
    side = run_preset("bounded_worked", late_action="side_output")
    kept = [e for e in PRESETS["bounded_worked"].events if e.event_id in ("a", "b", "d")]
    assert c.answer == f"{sum(e.amount for e in kept):g}"  # f (late) is kept out
    assert side.outcomes["side_output"] == 1
    c = BY_KEY["patching"].step("metrics").check()
    assert c.answer == str(len({o.user for o in demos.PATCH_ORDERS}))
    c = BY_KEY["event-time"].step("buckets").check()
    assert c.answer.startswith("11:00")  # o3 arrives at 11:00
    c = BY_KEY["practice-ads"].step("ads").check()
    close = clock_ms("00:00:00", "2026-02-01") + demos.ADS_CLOSE_DAYS * DAY_MS
    missed = [
        v
        for _, click, conv, v in demos.ADS_EVENTS
        if click.startswith("01") and demos._day_ms(conv) > close + DAY_MS  # W lags 1 day
    ]
    assert c.answer == f"${sum(missed):g}"
    for lesson in LESSONS:
        for step in lesson.steps:
            check = step.check()
            assert check.answer in check.options and len(check.options) >= 2


def test_patching_is_wrong_and_recompute_is_right():
    table = demos.patching().set_index("metric")
    amounts = [o.amount for o in demos.PATCH_ORDERS]
    assert table.loc["revenue", "recomputed"] == sum(amounts)
    assert table.loc["avg_order_value", "recomputed"] == pytest.approx(statistics.mean(amounts))
    assert table.loc["median_order_value", "recomputed"] == statistics.median(amounts)
    assert table.loc["distinct_users", "recomputed"] == len({o.user for o in demos.PATCH_ORDERS})
    assert table.loc[["revenue", "orders"], "patch_is_right"].all()
    assert not table.loc[list(demos.NON_ADDITIVE), "patch_is_right"].any()


def test_tiers_are_batch_recomputes_of_what_had_arrived():
    policy = FinalizePolicy()
    assert policy.preliminary_after_days == demos.PRELIMINARY_AFTER_DAYS
    assert policy.final_after_days == demos.FINAL_AFTER_DAYS
    table = demos.tiers().set_index("tier")
    day0 = clock_ms("00:00:00", demos.TIER_DAY)
    for _, tier, cut in demos.TIER_CUTS[:3]:
        want = sum(v for _, _, et, at, v in demos.TIER_EVENTS if at <= cut and et < DAY_MS)
        assert table.loc[tier, "value"] == want
        assert table.loc[tier, "computed_at_ms"] == day0 + cut
    frozen = policy.final_after_days * DAY_MS
    late = sum(v for _, _, _, at, v in demos.TIER_EVENTS if at > frozen)
    assert table.loc["adjustment", "value"] == late
    final = table.loc["final", "value"]
    for t in (day0 + DAY_MS // 2, day0 + 3 * DAY_MS, day0 + 20 * DAY_MS):
        shown = demos.as_of(t)
        arrived = sum(v for _, _, _, at, v in demos.TIER_EVENTS if at <= min(t - day0, frozen))
        assert shown["value"] == arrived and shown["share_of_final"] == arrived / final


def test_lateness_blend_reproduces_the_chapter_table():
    q, cap = demos.lateness_blend(demos.blend_frame("clickstream"))
    for row in q.itertuples():  # within 25 % of the chapter's quantiles
        assert 0.75 * row.chapter_ms <= row.measured_ms <= 1.25 * row.chapter_ms, row
    for row in cap.itertuples():  # the missing share within 30 % of the chapter's
        assert abs((1 - row.measured_share) - (1 - row.chapter_share)) <= 0.3 * (
            1 - row.chapter_share
        ), row


def test_watermark_rule_flags_many_more_than_are_routed_late():
    counts = glossary.watermark_rule_counts(events=5_000)
    assert counts["behind_watermark"] > 3 * counts["routed_late"] > 0
    assert counts["watermark_lateness_ms"]["count"] <= counts["events"]


def test_bucketing_demo_moves_exactly_the_late_order():
    frame, totals = demos.bucket_demo(HOUR_MS)
    assert frame.loc[frame["moved"], "event_id"].tolist() == ["o3", "o4"]
    assert totals["by_event_time"].sum() == len(demos.BUCKET_EVENTS)


# ---------------------------------------------------------------------- AppTest
def open_learn(**query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    at.switch_page("pages/learn.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def _verify_step(at, lesson, step) -> None:
    assert [s.value for s in at.subheader] == [lesson.title]
    assert any(step.title in m.value for m in at.markdown)
    check = step.check()
    radio = next(r for r in at.radio if r.key == f"check_{lesson.key}_{step.key}")
    assert tuple(radio.options) == check.options
    demo = step.demo
    if demo.kind == "playground":
        run = demo.run(demo.knob_default() if demo.knob else None)
        got = _metrics(at)
        want = run.at(run.times_ms[-1]).counts()
        from ui.playfigs import POINT_SHORT

        for klass, n in want.items():
            assert int(got[POINT_SHORT[klass]]) == n, (lesson.key, step.key, klass)
        assert sum(want.values()) == run.outcomes["input"]
    elif demo.kind == "bucketing":
        frame, _ = demos.bucket_demo(HOUR_MS)
        shown = next(d.value for d in at.dataframe if d.value.columns[0] == "order")
        assert shown["bucket by arrival"].tolist() == [
            clock_text(v) for v in frame["processing_window_ms"]
        ]
    elif demo.kind == "patching":
        shown = next(d.value for d in at.dataframe if d.value.columns[0] == "metric")
        assert shown["recomputed"].tolist() == demos.patching()["recomputed"].tolist()
    elif demo.kind == "tiers":
        shown = next(d.value for d in at.dataframe if d.value.columns[0] == "tier")
        assert shown["value ($)"].tolist() == demos.tiers()["value"].tolist()
    elif demo.kind == "ads":
        shown = next(d.value for d in at.dataframe if d.value.columns[0] == "conversion")
        frame, _ = demos.ads_billing()
        assert shown["conversion"].tolist() == frame["conversion"].tolist()
    elif demo.kind == "lateness":
        shown = next(d.value for d in at.dataframe if d.value.columns[0] == "wait")
        blend = dict(demo.changes).get("blend", "clickstream")
        _, cap = demos.lateness_blend(demos.blend_frame(blend))
        assert shown["measured"].tolist() == [f"{v:.2%}" for v in cap["measured_share"]]
    radio.set_value(check.answer).run()
    assert any("Right" in s.value for s in at.success), (lesson.key, step.key)
    wrong = next(o for o in check.options if o != check.answer)
    next(r for r in at.radio if r.key == radio.key).set_value(wrong).run()
    assert at.error and not at.success


def test_every_lesson_and_step_through_the_app(app_env):
    """One session walks the whole course with 'next', checking each step."""
    at = open_learn()
    for lesson in LESSONS:
        for step in lesson.steps:
            assert not at.exception, [e.value for e in at.exception]
            _verify_step(at, lesson, step)
            at.button(key="learn_next").click().run()
    assert not at.exception
    assert [s.value for s in at.subheader] == ["Glossary"]
    counts = glossary.watermark_rule_counts()
    m = _metrics(at)
    assert m["Behind the watermark (chapter: late)"] == f"{counts['behind_watermark']:,}"
    assert m["Routed late (latewatch)"] == f"{counts['routed_late']:,}"
    at.text_input(key="learn_q").set_value("is_final").run()
    shown = [m.value for m in at.markdown if m.value.startswith("**")]
    want = glossary.search("is_final")
    assert len(want) == 1 and any(m.startswith(f"**{want[0].term}**") for m in shown)
    assert not any(m.startswith("**event time**") for m in shown)


def test_deep_link_opens_lesson_and_step(app_env):
    at = open_learn(lesson="strategies", step="max-updates")
    lesson = BY_KEY["strategies"]
    _verify_step(at, lesson, lesson.step("max-updates"))
    at.select_slider(key="knob_strategies_max-updates").set_value(0).run()
    run = run_preset("classic", max_updates=0)
    assert run.outcomes["late"] == 0 and run.outcomes["side_output"] == 1
    from ui.playfigs import POINT_SHORT

    assert int(_metrics(at)[POINT_SHORT["late_updated"]]) == run.outcomes["late"]


def test_presenter_mode_hides_the_extras(app_env):
    at = open_learn(lesson="versions", step="as-of", present="1")
    assert not any("Open this stream" in m.value for m in at.markdown)
    assert not any("In latewatch" in m.value for m in at.markdown)
    assert [s.value for s in at.subheader] == [BY_KEY["versions"].title]
