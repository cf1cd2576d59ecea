"""The three "Tuning and learning" pages through the real entry point (AppTest): they
run without exceptions, show their key labels, react to their widgets and URL, and
the numbers they show are the engine's — computed here again through
``engine.analysis.whatif.evaluate`` / ``engine.analysis.playground`` for the same configuration.
Also ``Runtime.apply_config``, the What-if lab's "Apply"."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.analysis import whatif_lab
from engine.analysis.playground import PRESETS, run_preset
from engine.analysis.whatif import evaluate
from engine.core.timeutil import MINUTE_MS
from engine.ingest import samples as import_samples
from engine.ingest.mapping import dataset_events, imports_dir_for
from engine.runtime.runtime import Runtime, RuntimeSettings
from engine.store.db import Store
from tests.conftest import SEED_SETTINGS
from ui.text import escape_markdown

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"


def open_page(page: str, **query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def widget(at: AppTest, kind: str, key: str):
    return next(w for w in getattr(at, kind) if w.key == key)


def table(at: AppTest, first_column: str):
    return next(d.value for d in at.dataframe if d.value.columns[0] == first_column)


def texts(at: AppTest) -> str:
    parts = [x.value for x in (*at.title, *at.subheader, *at.markdown, *at.caption, *at.info)]
    return "\n".join(str(p) for p in parts)


# ---------------------------------------------------------------------- what-if lab
def test_whatif_numbers_are_the_engines(app_env):
    at = open_page("pages/whatif.py", range="all", early="none", late="each")
    assert not at.exception
    shown = texts(at)
    for label in ("What-if lab", "Proposed configuration", "Proposed vs current", "Trade-off"):
        assert label in shown
    store = Store.open(app_env)
    frame = store.events_frame()
    current = store.config("hourly")
    sources = list(frame["source"].value_counts().index)
    knobs = replace(whatif_lab.knobs_from_spec(current, sources), early="none", late="each")
    proposed = whatif_lab.spec_from_knobs(current, knobs)
    want = whatif_lab.comparison_table(evaluate(frame, current), evaluate(frame, proposed))
    got = table(at, "Measure")
    assert got["Current"].tolist() == want["Current"].tolist()
    assert got["Proposed"].tolist() == want["Proposed"].tolist()
    res = evaluate(frame, proposed)
    captured = next(m for m in at.metric if m.label == "Captured (events)")
    assert captured.value == whatif_lab.fmt_share(res.captured_share("count"))
    outcomes = table(at, "Outcome")
    assert outcomes["Proposed events"].tolist() == list(res.outcome_counts.values())
    assert "**Proposed** evaluated by the vectorized replay" in shown
    # the live spec's early after-first timers are vectorized too (issue 14: the
    # operator made every slider move wait seconds)
    assert "**Current** evaluated by the vectorized replay" in shown


def test_whatif_headline_and_sweep_replay_the_same_snapshot(app_env):
    """Issue 15: the headline said 99.25 % captured while the all-sources sweep topped
    out lower. Both must be the same replay of the same events: with every source at
    30 s the headline equals the sweep's 30 s row, and events that arrive after the
    page's as-of time (here: late ones, which would lower the share) change neither
    until the snapshot moves — even when the caches were dropped in between."""
    import streamlit as st

    from engine.core.timeutil import format_ms
    from engine.ingest.ingestor import IngestOptions, Ingestor

    at = open_page("pages/whatif.py", range="all")
    widget(at, "selectbox", "requirement").set_value("fraud").run()  # every source 30 s
    assert not at.exception

    def shown() -> tuple[str, str, str]:
        captured = next(m for m in at.metric if m.label == "Captured (events)").value
        sweep = table(at, "Lateness").set_index("Lateness")["Captured"]
        count = next(str(c.value) for c in at.caption if " events from " in str(c.value))
        return captured, sweep["30s"], count.split(" events from ")[0]

    before = shown()
    assert before[0] == before[1]
    store = Store.open(app_env)
    snapshot = store.events_frame()
    assert before[2] == f"{len(snapshot):,}"
    late = [
        {
            "event_id": f"after-as-of-{i}",
            "event_time": format_ms(SEED_SETTINGS["now_ms"] - 20 * 3_600_000),
            "arrival_time": format_ms(SEED_SETTINGS["now_ms"] + 60_000),
            "source": "web",
            "amount": 5,
        }
        for i in range(500)
    ]
    Ingestor(store, IngestOptions(), clock=lambda: SEED_SETTINGS["now_ms"]).ingest_records(late)
    assert len(store.events_frame()) == len(snapshot) + 500
    st.cache_data.clear()
    widget(at, "selectbox", "sweep").set_value("web").run()
    widget(at, "selectbox", "sweep").set_value("all").run()
    assert not at.exception
    assert shown() == before


def test_whatif_widgets_change_what_is_shown(app_env):
    at = open_page("pages/whatif.py", range="all")
    before = table(at, "Measure")["Proposed"].tolist()
    widget(at, "select_slider", "lateness_mobile").set_value(0).run()
    widget(at, "select_slider", "delay_mobile").set_value(0).run()
    assert not at.exception
    after = table(at, "Measure")["Proposed"].tolist()
    assert after != before
    store = Store.open(app_env)
    frame = store.events_frame()
    current = store.config("hourly")
    sources = list(frame["source"].value_counts().index)
    knobs = whatif_lab.knobs_from_spec(current, sources)
    mobile = replace(knobs.source("mobile"), allowed_lateness_ms=0, watermark_delay_ms=0)
    knobs = replace(
        knobs, sources=tuple(mobile if s.source == "mobile" else s for s in knobs.sources)
    )
    want = whatif_lab.comparison_table(
        evaluate(frame, current), evaluate(frame, whatif_lab.spec_from_knobs(current, knobs))
    )
    assert after == want["Proposed"].tolist()
    assert escape_markdown("mobile: allowed lateness 6h → 0ms") in texts(at)


def test_whatif_url_sets_the_proposal_and_apply_records_a_config_version(app_env):
    at = open_page("pages/whatif.py", lateness_web="5m", early="none")
    assert widget(at, "select_slider", "lateness_web").value == 5 * MINUTE_MS
    assert widget(at, "selectbox", "early").value == "none"
    assert escape_markdown("web: allowed lateness 6h → 5m") in texts(at)
    store = Store.open(app_env)
    before = store.config("hourly")
    at.button(key="apply").click().run()
    assert Store.open(app_env).config("hourly") == before, "a click only asks"
    assert any("becomes the live" in m.value for m in at.markdown)
    at.button(key="apply__confirm").click().run()
    assert not at.exception
    assert any("Applied: configuration version" in s.value for s in at.success)
    after = Store.open(app_env).config("hourly")
    assert after != before
    assert after.lateness_for("web") == 5 * MINUTE_MS and after.trigger.early == "none"


def test_whatif_history_says_who_and_why_rolls_back_and_compares_two_proposals(app_env):
    at = open_page("pages/whatif.py", lateness_web="5m")
    store = Store.open(app_env)
    first = store.config("hourly")
    at.text_input(key="apply_by").set_value("=Ana").run()
    at.text_input(key="apply_why").set_value("web **late** tail is short").run()
    at.button(key="apply").click().run()
    at.button(key="apply__confirm").click().run()
    assert not at.exception
    hist = Store.open(app_env).config_history("hourly")
    assert hist["applied_by"].iloc[-1] == "=Ana"
    assert hist["reason"].iloc[-1] == "web **late** tail is short"
    shown = next(d.value for d in at.dataframe if "Why" in d.value.columns)
    assert shown["By"].iloc[0] == "=Ana" and shown["Why"].iloc[0] == "web **late** tail is short"
    assert "web: allowed lateness 6h → 5m" in shown["Changes from the one before"].iloc[0]

    # roll back to the first version: asks, then records a new version equal to it
    first_id = int(hist["id"].iloc[0])
    assert at.selectbox(key="whatif_rollback").value == first_id
    at.button(key="rollback").click().run()
    assert Store.open(app_env).config("hourly") != first, "a click only asks"
    at.button(key="rollback__confirm").click().run()
    assert not at.exception
    hist = Store.open(app_env).config_history("hourly")
    assert len(hist) == 3 and hist["reason"].iloc[-1].startswith(f"roll back to #{first_id}")
    assert Store.open(app_env).config("hourly") == first

    # two proposals side by side: pin A, change the settings, compare on the same data
    main = next(d.value for d in at.dataframe if "Proposed" in d.value.columns)
    a_values = main["Proposed"].tolist()  # the proposal on screen (web 5m) is A
    at.button(key="whatif_pin").click().run()
    widget(at, "selectbox", "early").set_value("per-record").run()
    assert not at.exception
    main = next(d.value for d in at.dataframe if "Proposed" in d.value.columns)
    ab = next(d.value for d in at.dataframe if "B vs A" in d.value.columns)
    assert list(ab.columns) == ["Measure", "A (pinned)", "B (on screen)", "B vs A"]
    assert ab["A (pinned)"].tolist() == a_values
    assert ab["B (on screen)"].tolist() == main["Proposed"].tolist()
    assert ab["A (pinned)"].tolist() != ab["B (on screen)"].tolist()
    assert "early firings" in texts(at)  # B's changes are listed next to A's


# ---------------------------------------------------------------------- playground
def counts(at: AppTest) -> dict:
    return {m.label: int(m.value) for m in at.metric}


def test_playground_shows_the_operators_outcomes(app_env):
    at = open_page("pages/playground.py")
    assert "Watermark playground" in texts(at)
    run = run_preset("classic")
    got = counts(at)
    assert got["Too late"] == run.outcomes["too_late"] == 1
    assert got["Late, updated"] == run.outcomes["late"] == 1
    assert got["Behind W, on time"] == 1
    panes = table(at, "window")
    assert panes["shown"].tolist() == run.panes["value"].tolist()  # 14, 17, 25
    assert not at.warning  # the preset as published: no "modified" banner

    at.radio(key="pg_accumulation").set_value("discarding").run()
    assert table(at, "window")["shown"].tolist() == run.panes["delta"].tolist()

    at.selectbox(key="pg_watermark").set_value("perfect").run()
    perfect = run_preset("classic", watermark="perfect", accumulation="discarding")
    assert counts(at)["Too late"] == perfect.outcomes["too_late"] == 0
    assert any("Modified from the preset" in w.value for w in at.warning)

    at.select_slider(key="pg_t").set_value(perfect.times_ms[0]).run()
    assert not at.exception
    assert any("1 of 5 events arrived" in c.value for c in at.caption)
    at.button(key="pg_reset").click().run()
    assert widget(at, "selectbox", "pg_watermark").value == "drawn" and not at.warning


def test_playground_stepping_hides_what_has_not_arrived(app_env):
    at = open_page("pages/playground.py")
    run = run_preset("classic")
    t = next(t for t in run.times_ms if len(run.at(t).points) == 4)  # e5 not yet arrived
    at.select_slider(key="pg_t").set_value(t).run()
    snap = run.at(t)
    assert any("4 of 5 events arrived" in c.value for c in at.caption)
    assert counts(at)["Too late"] == snap.counts()["too_late"] == 0
    assert table(at, "event_id")["event_id"].tolist() == snap.points["event_id"].tolist()
    for _ in range(len(run.times_ms)):  # step on until e5 arrives
        at.button(key="pg_next").click().run()
        if any("5 of 5 events arrived" in c.value for c in at.caption):
            break
    assert counts(at)["Too late"] == 1


@pytest.mark.parametrize("action", ["drop", "side_output", "recompute"])
def test_playground_late_actions_and_max_updates(app_env, action):
    at = open_page("pages/playground.py", preset=PRESETS["bounded_worked"].label)
    at.selectbox(key="pg_action").set_value(action).run()
    run = run_preset("bounded_worked", late_action=action)
    got = counts(at)
    assert got["Late, kept out"] == run.outcomes["side_output"] + run.outcomes["dropped"] == 1
    assert got["Late, updated"] == 0
    assert table(at, "window")["shown"].tolist() == run.panes["value"].tolist()


def test_playground_per_key_shows_each_keys_watermark(app_env):
    at = open_page("pages/playground.py", preset=PRESETS["per_key_idle"].label)
    run = run_preset("per_key_idle")
    keys = run.at(run.times_ms[-1]).key_table()
    text = texts(at)
    assert "Each key's watermark" in text and "(idle, not counted)" in text
    for key in keys["key"]:
        assert key in text
    assert counts(at)["Late, updated"] == run.outcomes["late"] == 1
    at.select_slider(key="pg_idle").set_value(0).run()  # "never"
    never = run_preset("per_key_idle", idle_ms=None)
    assert counts(at)["Late, updated"] == never.outcomes["late"] == 0


def test_playground_presets_switch(app_env):
    at = open_page("pages/playground.py", preset=PRESETS["session_bridge"].label)
    run = run_preset("session_bridge")
    assert "Sessions: a late event merges two sessions" in texts(at)
    assert widget(at, "selectbox", "pg_window").value == "session"
    assert counts(at)["Late, updated"] == run.outcomes["late"] == 1
    assert table(at, "window")["superseded"].tolist() == [True, True, False]
    at.button_group[0].set_value("sliding_split").run()
    assert widget(at, "selectbox", "pg_window").value == "sliding"
    detail = table(at, "event_id").set_index("event_id").loc["b", "detail"]
    assert "late pane" in detail and "on time pane" in detail


# ---------------------------------------------------------------------- import
def test_import_broken_file_reports_every_row_then_opens_the_lab(app_env):
    at = open_page("pages/import.py")
    data = (SAMPLES / "events_broken.csv").read_bytes()
    at.get("file_uploader")[0].set_value(("events_broken.csv", data, "text/csv")).run()
    assert not at.exception
    mapped = {s.label: s.value for s in at.selectbox}
    assert mapped["Event time (when it happened) *"] == "event_time"
    assert mapped["Arrival time (when it was received) *"] == "arrival_time"
    at.button(key="imp_go").click().run()
    assert not at.exception
    m = {x.label: int(x.value.replace(",", "")) for x in at.metric}
    expect = import_samples.BROKEN_EXPECT
    assert m["Rows read"] == import_samples.BROKEN_ROWS
    assert m["Accepted"] == expect["accepted"] and m["Duplicates"] == expect["duplicates"]
    assert m["Accepted"] + m["Duplicates"] + m["Quarantined"] == m["Rows read"]
    reasons = table(at, "reason").set_index("reason")["rows"].to_dict()
    assert reasons == expect["quarantined"]
    db = imports_dir_for(app_env) / "events_broken.db"
    assert db.exists()
    assert Store.open(app_env).events_frame()["event_id"].str.startswith("ok-").sum() == 0

    at.button(key="imp_whatif").click().run()
    assert not at.exception
    assert widget(at, "selectbox", "data").value == "events_broken"
    frame = dataset_events(db)
    current = Store.open(app_env).config("hourly")
    res = evaluate(frame, current)
    captured = next(x for x in at.metric if x.label == "Captured (events)")
    assert captured.value == whatif_lab.fmt_share(res.captured_share("count"))
    assert f"{len(frame):,} events" in texts(at)


# ---------------------------------------------------------------------- apply_config
def test_apply_config_swaps_the_operator_and_survives_restart(seeded_db):
    settings = RuntimeSettings(db_path=str(seeded_db), **SEED_SETTINGS)
    rt = Runtime(settings).start(scheduler=False)
    try:
        old = rt.series["hourly"]
        new = old.with_changes(allowed_lateness_ms=30 * MINUTE_MS)
        assert rt.apply_config("hourly", old) == 0
        version = rt.apply_config("hourly", new)
        assert version > 0
        assert rt.series["hourly"] == new and rt.operators["hourly"].spec == new
        assert rt.store().config("hourly") == new
        seen = rt.operators["hourly"].outcomes.input
        assert seen == rt.store().raw_event_count()  # rebuilt over the whole checkpointed log
        with pytest.raises(KeyError):
            rt.apply_config("nope", new)
    finally:
        rt.shutdown()
    again = Runtime(settings).start(scheduler=False)
    try:
        assert again.series["hourly"] == new and again.series["daily"] != new
    finally:
        again.shutdown()


def test_whatif_requirement_presets_set_allowed_lateness(app_env):
    at = open_page("pages/whatif.py", range="all")
    sources = [
        w.key.removeprefix("lateness_") for w in at.select_slider if w.key.startswith("lateness_")
    ]
    at.selectbox(key="requirement").set_value("per-source").run()
    assert not at.exception
    want = whatif_lab.requirement_lateness("per-source", sources)
    assert want and set(want) <= {"web", "mobile", "partner"}
    for src, ms in want.items():
        assert widget(at, "select_slider", f"lateness_{src}").value == ms
    at.selectbox(key="requirement").set_value("fraud").run()
    for src in sources:
        assert widget(at, "select_slider", f"lateness_{src}").value == 30_000


def test_whatif_says_why_a_change_has_no_effect(app_env):
    """Issue 15: changing a setting that changes nothing on this data says so, and why
    (here: the late action of a source none of whose events arrived late within its
    allowed lateness)."""
    at = open_page("pages/whatif.py", range="all")
    store = Store.open(app_env)
    frame = store.events_frame()
    current = store.config("hourly")
    result = evaluate(frame, current)
    late_ok = {
        s: int(((result.record_outcomes >= 1) & (result.record_outcomes <= 3))[m].sum())
        for s in frame["source"].unique()
        if (m := (frame["source"] == s).to_numpy()).any()
    }
    quiet = sorted(s for s, n in late_ok.items() if n == 0)
    assert quiet, late_ok  # the seeded week has a source that is never late-but-accepted
    src = quiet[0]
    other = next(a for a in whatif_lab.LATE_ACTION_CHOICES if a != current.action_for(src))
    widget(at, "selectbox", f"action_{src}").set_value(other).run()
    assert not at.exception
    info = "\n".join(str(i.value) for i in at.info)
    assert "No effect on this data" in info
    assert escape_markdown(f"{src}: no event arrived late within its allowed lateness") in info
    assert "never applied" in info


def test_whatif_shows_the_ready_snapshot_while_the_next_one_is_prepared(app_env, monkeypatch):
    """When the clock passes an as-of step, the page shows the snapshot it already
    replayed (saying so) and prepares the new one on a thread; the next run shows it."""
    import threading

    from ui.runtime import get_runtime

    page = "pages/whatif.py"
    at = open_page(page)
    before = texts(at)
    assert "is being prepared" not in before
    rt = get_runtime()  # the page's runtime: st.cache_resource is per process
    status = rt.status
    step = 10 * MINUTE_MS
    monkeypatch.setattr(rt, "status", lambda: {**status(), "proc_ms": status()["proc_ms"] + step})
    at.run()
    assert not at.exception
    moved = texts(at)
    assert "is being prepared; the page moves to it on its next run" in moved
    as_of = [line for line in before.splitlines() if "as it stood at" in line]
    assert as_of and as_of[0].split("as it stood at")[1][:30] in moved  # the same snapshot
    for t in threading.enumerate():
        if t.name == "latewatch-bg-whatif":
            t.join(60)
    at.run()
    after = texts(at)
    assert not at.exception and "is being prepared" not in after
    assert as_of[0].split("as it stood at")[1][:30] not in after  # the new snapshot
