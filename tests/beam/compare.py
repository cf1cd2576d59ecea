"""Run one file through ``engine replay`` and ``engine beam`` and compare."""

from __future__ import annotations

from engine.beam.teststream import build_stream, run_stream
from engine.core.replay import replay
from engine.ingest.readers import replay_records as read_records


def both(path, spec, assume_tz=None):
    expected = replay(read_records(path), spec, assume_tz=assume_tz)
    prepared = build_stream(read_records(path), spec, assume_tz=assume_tz)
    got, _ = run_stream(prepared, spec)
    return expected, got


def _comparable(version: dict, timed: bool) -> dict:
    """A version without what legitimately differs: the watermark (Beam does not show
    it to a DoFn) and, for panes fired by a processing-time timer, the processing time
    (in-process: the timer's due time; Beam: when the runner's clock passed it, i.e. the
    next record's arrival in a TestStream)."""
    drop = {"watermark"}
    if timed and version["timing"] in ("early", "late"):
        drop.add("processing_time")
    return {k: v for k, v in version.items() if k not in drop}


def versions_by_window(result: dict) -> dict:
    trig = result["config"]["trigger"]
    timed = trig["early"] == "after-first" or trig["late"] == "every"
    return {
        (w["window_start"], w["window_end"], w["group"]): [
            _comparable(version, timed) for version in w["versions"]
        ]
        for w in result["windows"]
    }


def late_pairs(result: dict) -> set:
    return {
        (x["event_id"], x["window_start"], x["window_end"], x["group"], x["action"])
        for x in result["late_events"]
    }


def too_late_by(result: dict) -> dict:
    return {
        (x["event_id"], x["window_start"], x["group"]): x["late_by_ms"]
        for x in result["late_events"]
        if x["action"] == "too_late"
    }


def assert_same(expected: dict, got: dict) -> None:
    """Identical windows, versions (values, deltas, timing, processing time, count),
    outcomes and late-event pairs; every event accounted for."""
    assert got["metrics"]["unaccounted_events"] == []
    exp_v, got_v = versions_by_window(expected), versions_by_window(got)
    assert sorted(got_v) == sorted(exp_v), "different windows"
    for key in exp_v:
        assert got_v[key] == exp_v[key], f"window {key} differs"
    assert got["outcomes"] == expected["outcomes"]
    assert late_pairs(got) == late_pairs(expected)
    assert too_late_by(got) == too_late_by(expected)
    assert got["quarantine"] == expected["quarantine"]
