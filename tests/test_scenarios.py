"""Scenario transcripts (tests/scenarios/*.json): input steps and the panes expected.

Each transcript was worked out by hand from the stated semantics. The harness
must also *reject* transcripts marked ``expect_failure`` — proof that it can fail.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.commands.replay import spec_from_args
from engine.core.replay import RawRecord, replay
from engine.core.timeutil import parse_timestamp_ms

SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.json"))


class Args:
    """The replay command's defaults, overridden by a transcript's config."""

    def __init__(self, **config):
        self.window = config.get("window", "tumbling:5m")
        self.watermark = config.get("watermark", "bounded:0s")
        self.allowed_lateness = config.get("allowed_lateness", "0s")
        self.late_action = config.get("late_action", "update")
        self.source_policy = config.get("source_policy", [])
        self.max_updates = config.get("max_updates")
        self.early = config.get("early", "none")
        self.late = config.get("late", "each")
        self.group_by = config.get("group_by", "none")
        self.metrics = config.get("metrics", "revenue,orders,items,events")


def _iso(date: str, hms: str) -> str:
    return f"{date}T{hms}Z"


def transcript_records(doc: dict) -> list[RawRecord]:
    date = doc["date"]
    out = []
    for n, step in enumerate(doc["steps"], start=1):
        rec: dict = {"arrival_time": _iso(date, step["at"])}
        if "event" in step:
            ev = step["event"]
            rec.update(
                event_id=ev["id"],
                source=ev.get("source", "web"),
                event_time=_iso(date, ev["t"]),
                amount=ev.get("amount", 0),
            )
        if "watermark" in step:
            rec["watermark"] = _iso(date, step["watermark"])
        out.append(RawRecord(n, rec, json.dumps(rec)))
    return out


def check_transcript(doc: dict) -> list[str]:
    """Run a transcript; return the list of mismatches (empty = it holds)."""
    date = doc["date"]
    result = replay(transcript_records(doc), spec_from_args(Args(**doc["config"])))
    problems = []
    expect = doc["expect"]
    windows = {(w["window_start"][11:19], w["window_end"][11:19]): w for w in result["windows"]}
    expected_by_window: dict = {}
    for pane in expect.get("panes", []):
        key = tuple(pane["window"])
        expected_by_window.setdefault(key, []).append(pane)
        got_window = windows.get(key)
        if got_window is None:
            problems.append(f"window {key} never fired")
            continue
        versions = {v["version"]: v for v in got_window["versions"]}
        got = versions.get(pane["version"])
        if got is None:
            problems.append(f"window {key} has no version {pane['version']}")
            continue
        for field, want in pane.items():
            if field in ("window", "version"):
                continue
            if field == "at":
                have = got["processing_time"]
                want = _iso(date, want).replace("Z", ".000Z")
            elif field == "superseded_by":
                sup = got.get("superseded_by")
                have = sup and [sup["window_start"][11:19], sup["window_end"][11:19]]
            else:
                have = got.get(field)
            if have != want:
                problems.append(f"window {key} v{pane['version']} {field}: got {have}, want {want}")
    for key, panes in expected_by_window.items():
        if key in windows and len(windows[key]["versions"]) != len(panes):
            problems.append(
                f"window {key}: {len(windows[key]['versions'])} versions, want {len(panes)}"
            )
    extra = set(windows) - set(expected_by_window)
    if expect.get("panes") is not None and extra:
        problems.append(f"unexpected windows fired: {sorted(extra)}")
    for name, want in expect.get("outcomes", {}).items():
        if result["outcomes"][name] != want:
            problems.append(f"outcome {name}: got {result['outcomes'][name]}, want {want}")
    for name, want in expect.get("pairs", {}).items():
        have = result["outcomes"]["pairs"].get(name, 0)
        if have != want:
            problems.append(f"pairs {name}: got {have}, want {want}")
    for want in expect.get("late_events", []):
        matches = [
            le
            for le in result["late_events"]
            if all((le[k][11:19] if k == "window_start" else le[k]) == v for k, v in want.items())
        ]
        if not matches:
            problems.append(f"no late event matching {want}")
    return problems


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_transcript(path):
    doc = json.loads(path.read_text())
    problems = check_transcript(doc)
    if doc.get("expect_failure"):
        assert problems, "the harness accepted a transcript that is wrong on purpose"
    else:
        assert not problems, "\n".join(problems)


def test_there_is_a_broken_transcript():
    assert any(json.loads(p.read_text()).get("expect_failure") for p in SCENARIOS)


def test_iso_helper_round_trip():
    assert parse_timestamp_ms(_iso("2026-01-01", "12:00:00")) % 60_000 == 0
