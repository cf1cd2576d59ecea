"""The playground shows what the operator did, nothing else: for every preset the
point classes follow the operator's record outcomes, the presets are the scenario
transcripts (same steps, same panes), and the tables round-trip."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.analysis.playground import (
    LATE_ACTIONS,
    POINT_CLASSES,
    PRESETS,
    PlayEvent,
    PlaygroundConfig,
    clock_ms,
    clock_text,
    events_from_table,
    events_table,
    perfect_watermarks,
    run_playground,
    run_preset,
    watermarks_from_table,
    watermarks_table,
)
from engine.analysis.playground_words import bucket_totals, bucketing, narrate

SCENARIOS = Path(__file__).parent / "scenarios"
OUTCOME_OF_CLASS = {
    "on_time": {"on_time"},
    "behind_watermark": {"on_time"},
    "late_updated": {"late"},
    "late_side": {"side_output", "dropped"},
    "too_late": {"too_late"},
}


def transcript(preset) -> dict:
    return json.loads((SCENARIOS / preset.scenario_file).read_text())


@pytest.mark.parametrize("key", list(PRESETS))
def test_point_classes_are_the_operator_outcomes(key):
    run = run_preset(key)
    assert set(run.points["klass"]) <= set(POINT_CLASSES)
    for row in run.points.itertuples():
        assert row.outcome in OUTCOME_OF_CLASS[row.klass]
        behind = row.w_before_ms is not None and row.event_time_ms < row.w_before_ms
        if row.outcome == "on_time":
            assert (row.klass == "behind_watermark") == behind
    counts = run.points["outcome"].value_counts().to_dict()
    for name in ("on_time", "late", "too_late", "side_output", "dropped"):
        assert counts.get(name, 0) == run.outcomes[name]
    assert run.outcomes["input"] == len(run.points)


@pytest.mark.parametrize("key", [k for k, p in PRESETS.items() if p.scenario_file])
def test_presets_mirror_their_transcripts(key):
    preset = PRESETS[key]
    doc = transcript(preset)
    date = doc["date"]
    events = [s for s in doc["steps"] if "event" in s]
    assert [(e.event_id, e.event_time_ms, e.arrival_time_ms, e.amount) for e in preset.events] == [
        (
            s["event"]["id"],
            clock_ms(s["event"]["t"], date),
            clock_ms(s["at"], date),
            s["event"]["amount"],
        )
        for s in events
    ]
    marks = [
        (clock_ms(s["at"], date), clock_ms(s["watermark"], date))
        for s in doc["steps"]
        if "watermark" in s
    ]
    assert [(w.at_ms, w.watermark_ms) for w in preset.watermarks] == marks

    run = run_preset(key)
    for name, want in doc["expect"]["outcomes"].items():
        assert run.outcomes[name] == want, name
    for name, want in doc["expect"].get("pairs", {}).items():
        assert run.pairs.get(name, 0) == want, name
    for pane in doc["expect"]["panes"]:
        start, end = (clock_ms(x, date) for x in pane["window"])
        got = run.panes[
            (run.panes.window_start_ms == start)
            & (run.panes.window_end_ms == end)
            & (run.panes.version == pane["version"])
        ]
        assert len(got) == 1, pane
        got = got.iloc[0]
        assert got.timing == pane["timing"]
        assert got.value == pane["revenue"]
        if "at" in pane:
            assert got.processing_time_ms == clock_ms(pane["at"], date)
        if "delta_revenue" in pane:
            assert got.delta == pane["delta_revenue"]
        assert bool(got.superseded) == ("superseded_by" in pane)
    assert len(run.panes) == len(doc["expect"]["panes"])


def test_sliding_event_is_late_for_one_window_and_on_time_for_the_other():
    run = run_preset("sliding_split")
    b = run.points.set_index("event_id").loc["b"]
    assert b.outcome == "on_time" and b.klass == "behind_watermark"
    assert "late pane" in b.detail and "on time pane" in b.detail


def test_perfect_watermark_makes_nothing_late():
    for key in PRESETS:
        run = run_preset(key, watermark="perfect")
        assert set(run.points["outcome"]) == {"on_time"}, key


def test_perfect_watermark_is_the_smallest_pending_event_time():
    events = [PlayEvent("a", 100, 1_000), PlayEvent("b", 50, 2_000), PlayEvent("c", 300, 3_000)]
    assert [(p.at_ms, p.watermark_ms) for p in perfect_watermarks(events)] == [
        (1_000, 50),
        (2_000, 300),
    ]


def test_discarding_panes_add_up_to_the_accumulated_value():
    run = run_preset("classic")
    assert run.panes["delta"].sum() == run.panes["value"].iloc[-1]


def test_snapshot_walks_through_processing_time():
    run = run_preset("classic")
    first = run.at(clock_ms("12:01:00"))
    assert list(first.points["event_id"]) == ["e1"] and first.panes.empty
    mid = run.at(clock_ms("12:03:00"))
    assert list(mid.panes["timing"]) == ["early", "on_time"]
    assert mid.watermark_ms == clock_ms("12:02:00")
    end = run.at(run.end_ms)
    assert len(end.points) == 5 and len(end.panes) == 3 and end.not_arrived == 0


def test_bounded_watermark_is_the_operators_own():
    run = run_preset("classic", watermark="bounded", watermark_delay_ms=10_000)
    # W = max event time seen - 10 s: after e2 (12:01:10) W = 12:01:00, so e3 (12:00:50) is
    # behind the watermark but its window [12:00, 12:02) has not fired: on time.
    e3 = run.points.set_index("event_id").loc["e3"]
    assert e3.klass == "behind_watermark" and e3.w_before_ms == clock_ms("12:01:00")


def test_tables_round_trip_and_report_bad_rows():
    preset = PRESETS["classic"]
    events, problems = events_from_table(events_table(preset.events))
    assert events == list(preset.events) and problems == []
    marks, problems = watermarks_from_table(watermarks_table(preset.watermarks))
    assert marks == list(preset.watermarks) and problems == []
    table = pd.DataFrame(
        [
            {"id": "x", "event_time": "12:00:10", "arrival_time": "12:00:20", "value": 2},
            {"id": "y", "event_time": "noon", "arrival_time": "12:00:20", "value": 2},
            {"id": "x", "event_time": "12:00:30", "arrival_time": "12:00:40", "value": None},
            {"id": None, "event_time": None, "arrival_time": None, "value": None},
        ]
    )
    events, problems = events_from_table(table)
    assert [e.event_id for e in events] == ["x", "x#3"]
    assert events[1].amount == 1.0
    assert len(problems) == 2 and "row 2" in problems[0] and "row 3" in problems[1]
    assert clock_text(clock_ms("12:01:59.999")) == "12:01:59.999"


def test_edited_stream_runs_every_window_kind():
    events = [PlayEvent("a", clock_ms("12:00:10"), clock_ms("12:00:30"), 3)]
    for window in ("tumbling", "sliding", "session"):
        run = run_playground(events, PlaygroundConfig(window=window, watermark="bounded"))
        assert run.outcomes["on_time"] == 1
        assert run.panes["timing"].iloc[-1] == "on_time"


# ---------------------------------------------------------------------- issue 16
events_strategy = st.lists(
    st.tuples(
        st.integers(0, 600),  # event time, seconds after 12:00
        st.integers(0, 900),  # arrival delay, seconds
        st.integers(1, 9),
        st.sampled_from(["", "phone", "laptop"]),
    ),
    min_size=1,
    max_size=12,
)


def _stream(raw) -> list[PlayEvent]:
    base = clock_ms("12:00:00")
    return [
        PlayEvent(f"x{i}", base + t * 1000, base + (t + d) * 1000, v, k or None)
        for i, (t, d, v, k) in enumerate(raw)
    ]


@given(
    raw=events_strategy,
    action=st.sampled_from(LATE_ACTIONS),
    max_updates=st.sampled_from([None, 0, 1]),
    watermark=st.sampled_from(["bounded", "per-key", "processing-time", "perfect"]),
    delay=st.sampled_from([0, 30_000, 120_000]),
    lateness=st.sampled_from([0, 60_000, 300_000]),
)
@settings(max_examples=30)
def test_stepping_never_reveals_what_has_not_arrived(
    raw, action, max_updates, watermark, delay, lateness
):
    events = _stream(raw)
    config = PlaygroundConfig(
        watermark=watermark,
        watermark_delay_ms=delay,
        idle_ms=120_000 if watermark == "per-key" else None,
        allowed_lateness_ms=lateness,
        late_action=action,
        max_updates=max_updates,
    )
    run = run_playground(events, config)
    final = run.points.set_index("event_id")["klass"]
    assert sum(
        run.outcomes[k] for k in ("on_time", "late", "side_output", "dropped", "too_late")
    ) == len(events)
    for t in run.times_ms:
        snap = run.at(t)
        arrived = {e.event_id for e in events if e.arrival_time_ms <= t}
        assert set(snap.points["event_id"]) == arrived
        assert sum(snap.counts().values()) == len(arrived) == len(events) - snap.not_arrived
        for row in snap.points.itertuples():  # a class is decided at arrival, never later
            assert row.klass == final[row.event_id]
        assert (snap.panes["processing_time_ms"] <= t).all()
        assert (snap.late_events["processing_time_ms"] <= t).all()
        told = {x.split("; ")[0] for x in snap.points["detail"]}
        assert told  # every arrived event has a detail (maybe "not in any pane yet")
    end = run.at(run.end_ms)
    assert end.counts() == {k: int((run.points["klass"] == k).sum()) for k in POINT_CLASSES}


def test_four_of_five_arrived_shows_no_too_late_yet():
    run = run_preset("classic")
    snap = run.at(clock_ms("12:04:00"))  # e5, the too-late one, arrives at 12:05:30
    assert len(snap.points) == 4 and snap.not_arrived == 1
    assert snap.counts()["too_late"] == 0
    assert "e5" not in set(snap.late_events["event_id"])
    assert run.at(clock_ms("12:05:30")).counts()["too_late"] == 1


@pytest.mark.parametrize("action", LATE_ACTIONS)
def test_every_late_action_routes_the_same_late_pairs(action):
    base = run_preset("bounded_worked")
    run = run_preset("bounded_worked", late_action=action)
    n_late = base.outcomes["late"]  # f: late under 'update'
    assert n_late == 1
    expected = {"update": "late", "side_output": "side_output", "recompute": "side_output"}
    expected["drop"] = "dropped"
    assert run.outcomes[expected[action]] == n_late
    assert run.outcomes["too_late"] == base.outcomes["too_late"]
    f = run.points.set_index("event_id").loc["f"]
    assert f.outcome == expected[action]
    if action != "update":
        late = run.late_events.set_index("event_id")
        assert late.loc["f", "action"] == action
        assert "late pane" not in f.detail
    assert run.recompute_windows == (1 if action == "recompute" else 0)


def test_max_updates_sends_further_late_events_to_the_side_output():
    # two late events for the classic window: e4 updates; with max_updates=0 it cannot
    events = [
        *PRESETS["classic"].events,
        PlayEvent("e6", clock_ms("12:01:40"), clock_ms("12:04:20"), 2),
    ]
    preset = PRESETS["classic"]
    one = run_playground(
        events, replace(preset.config, max_updates=1), preset.watermarks, preset.ticks_ms
    )
    assert list(one.points.set_index("event_id").loc[["e4", "e6"], "outcome"]) == [
        "late",
        "side_output",
    ]
    assert one.late_events.set_index("event_id").loc["e6", "action"] == "max_updates"
    none = run_playground(
        events, replace(preset.config, max_updates=None), preset.watermarks, preset.ticks_ms
    )
    assert none.outcomes["late"] == 2 and (none.panes["timing"] == "late").sum() == 2


def test_per_key_global_watermark_is_the_min_over_active_keys():
    run = run_preset("per_key_idle")
    keys = run.key_watermarks
    for t, group in keys.groupby("processing_time_ms"):
        active = group[~group["idle"]]["watermark_ms"]
        want = active.min() if len(active) else group["watermark_ms"].max()
        got = run.watermark.set_index("processing_time_ms").loc[t, "watermark_ms"]
        assert got >= want  # W never goes back: it may stay above a key that woke up
        if t < clock_ms("12:06:00"):
            assert got == want
    assert run.watermark["watermark_ms"].is_monotonic_increasing
    first = run.panes.iloc[0]
    assert first.timing == "on_time" and first.processing_time_ms == clock_ms("12:02:46")
    assert run.points.set_index("event_id").loc["p3", "outcome"] == "late"
    never = run_preset("per_key_idle", idle_ms=None)
    assert never.outcomes["late"] == 0
    assert never.panes.set_index("window_start_ms").loc[clock_ms("12:00:00"), "at_end"]


def test_processing_time_watermark_is_now_minus_delay():
    run = run_preset("bounded_worked", watermark="processing-time", watermark_delay_ms=60_000)
    for t, w in run.watermark.itertuples(index=False):
        assert w == t - 60_000


@given(raw=events_strategy, size=st.sampled_from([60_000, 300_000, 3_600_000]))
@settings(max_examples=25)
def test_bucketing_each_way_is_the_floor_of_its_own_clock(raw, size):
    events = _stream(raw)
    frame = bucketing(events, size)
    assert (frame["event_window_ms"] == frame["event_time_ms"] // size * size).all()
    assert (frame["processing_window_ms"] == frame["arrival_time_ms"] // size * size).all()
    totals = bucket_totals(frame)
    assert totals["by_event_time"].sum() == totals["by_processing_time"].sum() == len(events)


def test_narration_follows_the_knobs():
    base = run_preset("bounded_worked")
    drop = run_preset("bounded_worked", late_action="drop")
    text = "\n".join(narrate(base, base.at(base.end_ms)))
    assert "late pane updated" in text
    dropped = "\n".join(narrate(drop, drop.at(drop.end_ms)))
    assert "dropped (counted and logged)" in dropped and "late pane updated" not in dropped
