"""The same arrival-ordered streams through ``engine replay`` (the in-process operator)
and ``engine beam`` (a Beam TestStream through ``LatewatchWindows`` on the
DirectRunner) give identical windows, versions, late panes, final values and outcomes.

Streams come from a seeded generator (``streams.py``): a few hundred events per case,
because the DirectRunner costs tens of milliseconds per TestStream event.
"""

from __future__ import annotations

import pytest

from engine.core.spec import (
    PipelineSpec,
    SourcePolicy,
    TriggerSpec,
    WatermarkSpec,
    WindowSpec,
)
from engine.core.timeutil import MINUTE_MS
from tests.beam.compare import assert_same, both
from tests.beam.streams import make_records, write_stream


def spec(window="tumbling:5m", watermark="bounded:30s", lateness_ms=0, **kw) -> PipelineSpec:
    return PipelineSpec(
        window=WindowSpec.parse(window),
        watermark=WatermarkSpec.parse(watermark),
        allowed_lateness_ms=lateness_ms,
        **kw,
    )


CASES = {
    # tumbling and sliding, bounded and punctuated watermarks, several lateness values
    "tumbling-bounded-L0": (1, {}, spec(lateness_ms=0)),
    "tumbling-bounded-L6m": (2, {}, spec(lateness_ms=6 * MINUTE_MS)),
    "tumbling-punctuated-L4m": (
        3,
        {"punctuate_every": 7},
        spec(watermark="punctuated", lateness_ms=4 * MINUTE_MS),
    ),
    "sliding-bounded-L3m": (4, {}, spec(window="sliding:10m/5m", lateness_ms=3 * MINUTE_MS)),
    "sliding-punctuated-L2m": (
        5,
        {"punctuate_every": 5},
        spec(window="sliding:6m/2m", watermark="punctuated", lateness_ms=2 * MINUTE_MS),
    ),
    # early panes after the first element, late panes per element
    "early-after-first-late-each": (
        6,
        {"n": 110},
        spec(
            lateness_ms=5 * MINUTE_MS,
            trigger=TriggerSpec(early="after-first", early_delay_ms=MINUTE_MS, late="each"),
        ),
    ),
    # late panes at most every 2 minutes of processing time
    "late-every-2m": (
        12,
        {"n": 110},
        spec(
            lateness_ms=6 * MINUTE_MS,
            trigger=TriggerSpec(late="every", late_every_ms=2 * MINUTE_MS),
        ),
    ),
    # groups, non-additive metrics, late actions, capped late updates
    "groups-metrics-actions": (
        7,
        {},
        spec(
            lateness_ms=8 * MINUTE_MS,
            group_by="all+source",
            metrics=("revenue", "orders", "items", "events", "avg_order_value", "distinct_users"),
            max_updates_per_window=2,
            sources=(
                SourcePolicy("api", late_action="side_output"),
                SourcePolicy("mobile", late_action="drop"),
            ),
        ),
    ),
    # per-key watermarks (one per source, with an idle timeout moved by processing time)
    "tumbling-per-key-idle-L5m": (
        10,
        {},
        spec(watermark="per-key:20s,idle=2m", lateness_ms=5 * MINUTE_MS),
    ),
}


DAY_MS = 24 * 60 * MINUTE_MS
DST_END_2026 = 1_793_404_800_000  # 2026-10-31T00:00Z: New York's 25-hour day is Nov 1

# Where Beam's semantics allow (README "Scaling out"): sessions whose events are never
# exactly one gap apart (Beam merges overlapping sessions only, latewatch touching ones
# too) and without late data (Beam checks a session's proto-windows for lateness, and a
# late event extending a fired session stalled the DirectRunner); calendar days in a DST
# zone through engine.beam's CalendarWindows.
AGREEING = {
    "sessions": (
        8,
        {"span_ms": 3 * 60 * MINUTE_MS, "late_share": 0.0, "n": 90},
        PipelineSpec(
            window=WindowSpec(kind="session", gap_ms=5 * MINUTE_MS + 500, size_ms=0),
            watermark=WatermarkSpec.parse("bounded:30s"),
            allowed_lateness_ms=30 * MINUTE_MS,
        ),
    ),
    "calendar-days-dst": (
        9,
        {
            "span_ms": 3 * DAY_MS,
            "max_late_ms": 20 * 60 * MINUTE_MS,
            "late_share": 0.5,
            "start_ms": DST_END_2026,
        },
        spec(window="day@America/New_York", watermark="bounded:1m", lateness_ms=6 * 60 * MINUTE_MS),
    ),
}


@pytest.mark.parametrize("name", list(AGREEING))
def test_sessions_and_calendar_days_agree_where_beam_allows(tmp_path, name):
    seed, stream_kw, the_spec = AGREEING[name]
    path = write_stream(tmp_path / "events.jsonl", make_records(seed, **{"n": 120, **stream_kw}))
    expected, got = both(path, the_spec)
    if name == "sessions":  # merged sessions, out-of-order events, no late data
        assert max(v["events"] for w in got["windows"] for v in w["versions"]) >= 3
    else:
        assert expected["outcomes"]["late"] > 0
    assert_same(expected, got)
    if name == "calendar-days-dst":
        lengths = {
            (w["window_start"], w["window_end"]) for w in got["windows"] if w["group"] == "*"
        }
        assert any(_hours(start, end) == 25 for start, end in lengths), (
            "the 25-hour New York day is a window"
        )


def _hours(start: str, end: str) -> float:
    from datetime import datetime

    def parse(x):
        return datetime.fromisoformat(x.replace("Z", "+00:00"))

    return (parse(end) - parse(start)).total_seconds() / 3600


def test_early_after_first_with_late_every_is_refused_on_python_runners():
    from engine.beam.transform import LatewatchWindows

    both_timers = spec(
        lateness_ms=MINUTE_MS,
        trigger=TriggerSpec(
            early="after-first", early_delay_ms=MINUTE_MS, late="every", late_every_ms=MINUTE_MS
        ),
    )
    with pytest.raises(ValueError, match="trigger.py"):
        LatewatchWindows(both_timers)
    LatewatchWindows(both_timers, drop_rule="java")  # Java runner-core keeps time domains apart


@pytest.mark.parametrize("name", list(CASES))
def test_replay_and_beam_agree(tmp_path, name):
    seed, stream_kw, the_spec = CASES[name]
    path = write_stream(tmp_path / "events.jsonl", make_records(seed, **{"n": 160, **stream_kw}))
    expected, got = both(path, the_spec)
    assert expected["outcomes"]["late"] + expected["outcomes"]["too_late"] > 0  # not vacuous
    assert_same(expected, got)
