"""The playground shows what the operator did, nothing else: for every preset the
point classes follow the operator's record outcomes, the presets are the scenario
transcripts (same steps, same panes), and the tables round-trip."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from engine.analysis.playground import (
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


@pytest.mark.parametrize("key", list(PRESETS))
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
