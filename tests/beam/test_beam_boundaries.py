"""The exact ticks: latewatch drops at ``W >= end + L``, Beam Python at ``W > end + L``;
``engine.beam.translate`` runs Beam with ``L - 1 µs`` so both agree to the tick."""

from __future__ import annotations

import json

from apache_beam.utils.timestamp import Duration

from engine.beam.translate import beam_allowed_lateness, drop_rule_for
from engine.core.spec import PipelineSpec, WatermarkSpec, WindowSpec
from engine.core.timeutil import MINUTE_MS
from tests.beam.compare import assert_same, both

SPEC = PipelineSpec(
    window=WindowSpec.parse("tumbling:10m"),
    watermark=WatermarkSpec.parse("punctuated"),
    allowed_lateness_ms=5 * MINUTE_MS,
)


def ev(eid: str, minute: int, arrival: str) -> dict:
    return {
        "event_id": eid,
        "source": "web",
        "amount": 10,
        "event_time": f"2026-11-20T10:{minute:02d}:00Z",
        "arrival_time": f"2026-11-20T{arrival}Z",
    }


def wm(at: str, arrival: str) -> dict:
    return {"watermark": f"2026-11-20T{at}Z", "arrival_time": f"2026-11-20T{arrival}Z"}


# window [10:00, 10:10), L = 5 min: end = 10:10, end + L = 10:15
TICKS = [
    ev("a", 1, "10:01:01"),
    wm("10:09:59.999", "10:10:00"),
    ev("on-time-at-end-minus-1ms", 2, "10:10:01"),
    wm("10:10:00.000", "10:10:02"),
    ev("late-at-end", 3, "10:10:03"),
    wm("10:14:59.999", "10:15:00"),
    ev("late-at-end+L-1ms", 4, "10:15:01"),
    wm("10:15:00.000", "10:15:02"),
    ev("too-late-at-end+L", 5, "10:15:03"),
    ev("next-window", 16, "10:16:00"),
]


def test_translation_of_the_boundary():
    assert beam_allowed_lateness(SPEC, "python") == Duration(micros=5 * MINUTE_MS * 1000 - 1)
    assert beam_allowed_lateness(SPEC, "java") == Duration(micros=5 * MINUTE_MS * 1000)
    zero = SPEC.with_changes(allowed_lateness_ms=0)
    assert beam_allowed_lateness(zero, "python") == Duration(micros=-1)
    assert drop_rule_for("DirectRunner") == "python"
    assert drop_rule_for("FlinkRunner") == "java"
    assert drop_rule_for("apache_beam.runners.dataflow.DataflowRunner") == "java"


def test_exact_ticks_agree(tmp_path):
    path = tmp_path / "ticks.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in TICKS), encoding="utf-8")
    expected, got = both(path, SPEC)
    assert_same(expected, got)
    first = next(w for w in got["windows"] if w["window_start"] == "2026-11-20T10:00:00.000Z")
    assert [v["timing"] for v in first["versions"]] == ["on_time", "late", "late"]
    assert [v["events"] for v in first["versions"]] == [2, 3, 4]
    (too_late,) = got["late_events"]
    assert too_late["event_id"] == "too-late-at-end+L"
    assert too_late["action"] == "too_late"
    assert too_late["late_by_ms"] == 5 * MINUTE_MS


def test_the_commands_agree(tmp_path, capsys):
    """``python -m engine replay`` and ``python -m engine beam`` on the same file and
    flags, Beam options after ``--`` passed through to the pipeline."""
    from engine.commands.cli import main

    path = tmp_path / "ticks.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in TICKS), encoding="utf-8")
    flags = ["--window", "tumbling:10m", "--watermark", "punctuated", "--allowed-lateness", "5m"]
    assert main(["replay", str(path), *flags, "--out", str(tmp_path / "r.json")]) == 0
    out = tmp_path / "b.json"
    assert main(["beam", str(path), *flags, "--out", str(out), "--", "--direct_num_workers=1"]) == 0
    expected = json.loads((tmp_path / "r.json").read_text())
    got = json.loads(out.read_text())
    assert_same(expected, got)
    assert got["metrics"]["runner"] == "DirectRunner"
    assert capsys.readouterr().err.count("6 records: 3 on time, 2 late, 1 too late") == 2
