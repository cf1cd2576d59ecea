"""The window operator: exact boundaries, watermark strategies, and properties that
hold for any stream (conservation, streaming == batch, order insensitivity)."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core.events import Event
from engine.core.operator import WindowOperator
from engine.core.spec import PipelineSpec, SourcePolicy, TriggerSpec, WatermarkSpec, WindowSpec
from engine.core.timeutil import parse_timestamp_ms
from engine.core.windows import WindowAssigner

#   window [0s, 10s), allowed lateness 5s
#   W:  ... 9.999 | 10.000 ... 14.999 | 15.000 ...
#        on time  |       late         | too late
SPEC = PipelineSpec(
    window=WindowSpec(kind="tumbling", size_ms=10_000),
    watermark=WatermarkSpec(kind="punctuated"),
    allowed_lateness_ms=5_000,
)


def ev(i, t, amount=1.0, source="web", arrival=None, key=None, etype="order.placed"):
    return Event(
        event_id=str(i),
        source=source,
        event_time_ms=t,
        arrival_time_ms=arrival,
        amount_cents=int(round(amount * 100)),
        items=1,
        event_type=etype,
        key=key,
    )


@pytest.mark.parametrize(
    "watermark, expected",
    [(9_999, "on_time"), (10_000, "late"), (14_999, "late"), (15_000, "too_late")],
)
def test_exact_boundaries(watermark, expected):
    op = WindowOperator(SPEC)
    op.process(ev("seed", 1_000))  # opens the window, so the late path is an update
    op.advance_watermark(watermark)
    assert op.process(ev("x", 5_000)) == expected


def test_event_behind_watermark_in_open_window_is_on_time():
    op = WindowOperator(SPEC)
    op.advance_watermark(8_000)
    assert op.process(ev("x", 3_000)) == "on_time"  # 3s < W = 8s, window ends at 10s
    op.finish()
    versions, _ = op.drain()
    assert [(v.timing, v.values["revenue"]) for v in versions] == [("on_time", 1.0)]


def test_on_time_pane_fires_at_w_equal_end_even_without_changes():
    spec = SPEC.with_changes(trigger=TriggerSpec(early="per-record"))
    op = WindowOperator(spec)
    op.process(ev("a", 1_000))
    op.advance_watermark(9_999)
    assert [v.timing for v in op.drain()[0]] == ["early"]
    op.advance_watermark(10_000)
    versions, _ = op.drain()
    assert [(v.timing, v.deltas["revenue"]) for v in versions] == [("on_time", 0.0)]


def test_first_element_after_end_makes_a_late_first_version():
    op = WindowOperator(SPEC)
    op.advance_watermark(12_000)
    assert op.process(ev("a", 1_000)) == "late"
    versions, _ = op.drain()
    assert [(v.version, v.timing) for v in versions] == [(1, "late")]


def test_late_actions_per_source():
    spec = SPEC.with_changes(
        sources=(
            SourcePolicy("partner", late_action="side_output"),
            SourcePolicy("manual", late_action="drop"),
            SourcePolicy("payment", late_action="recompute"),
        )
    )
    op = WindowOperator(spec)
    op.process(ev("a", 1_000))
    op.advance_watermark(11_000)
    assert op.process(ev("p", 2_000, source="partner")) == "side_output"
    assert op.process(ev("m", 2_000, source="manual")) == "dropped"
    assert op.process(ev("y", 2_000, source="payment")) == "side_output"
    assert op.process(ev("w", 2_000, source="web")) == "late"
    _, late = op.drain()
    assert {(x.event_id, x.action) for x in late} == {
        ("p", "side_output"),
        ("m", "drop"),
        ("y", "recompute"),
    }
    assert op.recompute_windows == {("*", 0, 10_000)}
    assert op.outcomes.balanced()


def test_per_source_allowed_lateness():
    spec = SPEC.with_changes(sources=(SourcePolicy("partner", allowed_lateness_ms=60_000),))
    op = WindowOperator(spec)
    op.process(ev("a", 1_000))
    op.advance_watermark(20_000)
    assert op.process(ev("w", 2_000, source="web")) == "too_late"
    assert op.process(ev("p", 2_000, source="partner")) == "late"


def test_bounded_watermark_uses_the_event_before_observing_it():
    spec = PipelineSpec(
        window=WindowSpec(kind="tumbling", size_ms=10_000),
        watermark=WatermarkSpec(kind="bounded", delay_ms=2_000),
    )
    op = WindowOperator(spec)
    op.process(ev("a", 5_000, arrival=5_000))
    op.process(ev("b", 11_999, arrival=12_000))  # W -> 9_999: window [0,10s) still open
    assert op.drain()[0] == []
    op.process(ev("c", 9_000, arrival=12_100))  # behind W? no: W=9_999 < end 10_000
    assert op.outcomes.on_time == 3
    op.process(ev("d", 12_000, arrival=12_200))  # W -> 10_000: fires
    versions, _ = op.drain()
    assert [(v.window_end_ms, v.timing, v.values["revenue"]) for v in versions] == [
        (10_000, "on_time", 2.0)
    ]


def test_per_key_watermark_waits_for_slow_source_until_idle():
    spec = PipelineSpec(
        window=WindowSpec(kind="tumbling", size_ms=10_000),
        watermark=WatermarkSpec(kind="per-key", delay_ms=0, idle_ms=60_000),
    )
    op = WindowOperator(spec)
    op.process(ev("m", 1_000, source="mobile", arrival=1_000))
    op.process(ev("w", 30_000, source="web", arrival=2_000))
    assert op.watermark_ms == 1_000  # mobile holds it back
    op.advance_processing_time(61_000)  # mobile silent for exactly 60 s: not idle yet
    assert op.watermark_ms == 1_000
    op.advance_processing_time(61_001)  # silent for longer than the idle timeout
    assert "mobile" in op.metrics()["idle_keys"]
    assert op.watermark_ms == 30_000
    versions, _ = op.drain()
    assert [v.window_end_ms for v in versions] == [10_000]


def test_processing_time_watermark():
    spec = PipelineSpec(
        window=WindowSpec(kind="tumbling", size_ms=10_000),
        watermark=WatermarkSpec(kind="processing-time", delay_ms=5_000),
    )
    op = WindowOperator(spec)
    op.process(ev("a", 1_000, arrival=2_000))
    op.advance_processing_time(14_999)
    assert op.drain()[0] == []
    op.advance_processing_time(15_000)
    assert [v.timing for v in op.drain()[0]] == ["on_time"]


def test_new_york_day_windows_across_dst():
    spec = PipelineSpec(
        window=WindowSpec(kind="day", tz="America/New_York"),
        watermark=WatermarkSpec(kind="punctuated"),
    )
    op = WindowOperator(spec)
    for i, iso in enumerate(
        [
            "2026-03-08T04:59:59Z",
            "2026-03-08T05:00:00Z",
            "2026-03-09T03:59:59Z",
            "2026-03-09T04:00:00Z",
            "2026-11-01T04:00:00Z",
            "2026-11-02T04:59:59Z",
        ]
    ):
        op.process(ev(i, parse_timestamp_ms(iso)))
    op.finish()
    versions, _ = op.drain()
    hours = sorted(
        ((v.window_end_ms - v.window_start_ms) / 3_600_000, v.event_count) for v in versions
    )
    assert hours == [(23, 2), (24, 1), (24, 1), (25, 2)]


def test_group_by_all_and_source():
    op = WindowOperator(SPEC.with_changes(group_by="all+source"))
    op.process(ev("a", 1_000, source="web", amount=2))
    op.process(ev("b", 2_000, source="mobile", amount=3))
    op.finish()
    got = {v.group: v.values["revenue"] for v in op.drain()[0]}
    assert got == {"*": 5.0, "web": 2.0, "mobile": 3.0}


def test_non_additive_metrics():
    spec = SPEC.with_changes(
        metrics=(
            "revenue",
            "orders",
            "items",
            "events",
            "avg_order_value",
            "median_order_value",
            "distinct_users",
        )
    )
    op = WindowOperator(spec)
    for i, (amount, user) in enumerate([(10, "u1"), (20, "u2"), (90, "u1")]):
        op.process(ev(i, 1_000 + i, amount=amount, key=user))
    op.finish()
    (v,) = op.drain()[0]
    assert v.values["avg_order_value"] == 40.0
    assert v.values["median_order_value"] == 20.0
    assert v.values["distinct_users"] == 2


# --------------------------------------------------------------------- properties

SOURCES = ("web", "mobile", "partner")


@st.composite
def streams(draw):
    n = draw(st.integers(1, 60))
    events = []
    proc = 0
    for i in range(n):
        proc += draw(st.integers(0, 5_000))
        delay = draw(st.sampled_from([0, 100, 2_000, 15_000, 60_000, 400_000]))
        events.append(
            ev(
                i,
                max(0, proc - delay - draw(st.integers(0, 999))),
                amount=draw(st.integers(-500, 5_000)) / 100,
                source=draw(st.sampled_from(SOURCES)),
                arrival=proc,
                key=draw(st.sampled_from(["u1", "u2", "u3", None])),
            )
        )
    return events


@st.composite
def specs(draw):
    window = draw(
        st.sampled_from(
            [
                WindowSpec(kind="tumbling", size_ms=10_000),
                WindowSpec(kind="tumbling", size_ms=60_000, offset_ms=7_000),
                WindowSpec(kind="sliding", size_ms=30_000, slide_ms=10_000),
                WindowSpec(kind="session", gap_ms=8_000, size_ms=0),
            ]
        )
    )
    kind = draw(st.sampled_from(["bounded", "per-key", "processing-time"]))
    watermark = WatermarkSpec(
        kind=kind,
        delay_ms=draw(st.sampled_from([0, 1_000, 20_000])),
        idle_ms=draw(st.sampled_from([None, 30_000])) if kind == "per-key" else None,
    )
    early = draw(st.sampled_from(["none", "after-first", "per-record"]))
    late = draw(st.sampled_from(["each", "every", "none"]))
    return PipelineSpec(
        window=window,
        watermark=watermark,
        trigger=TriggerSpec(
            early=early,
            early_delay_ms=5_000 if early == "after-first" else 0,
            late=late,
            late_every_ms=10_000 if late == "every" else 0,
        ),
        allowed_lateness_ms=draw(st.sampled_from([0, 5_000, 120_000])),
        late_action=draw(st.sampled_from(["update", "side_output", "drop", "recompute"])),
        max_updates_per_window=draw(st.sampled_from([None, 0, 1, 3])),
        group_by=draw(st.sampled_from(["none", "source", "all+source"])),
    )


def run(spec, events):
    op = WindowOperator(spec, track_contributions=True)
    watermarks = []
    for e in events:
        op.process(e)
        watermarks.append(op.watermark_ms)
    op.finish()
    versions, late = op.drain()
    return op, versions, late, watermarks


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), specs())
def test_conservation_numbering_and_monotonic_watermark(events, spec):
    op, versions, late, watermarks = run(spec, events)
    o = op.outcomes
    assert o.input == len(events) and o.balanced()
    pairs = o.pairs
    not_counted = pairs.get("side_output", 0) + pairs.get("dropped", 0) + pairs.get("too_late", 0)
    assert len(late) == not_counted
    assert watermarks == sorted(watermarks)
    numbers = defaultdict(list)
    for v in versions:
        numbers[(v.group, v.window)].append(v.version)
    for seq in numbers.values():
        assert seq == list(range(1, len(seq) + 1))
    # each pane's delta is exactly what entered it; every counted pair is in exactly one pane
    counted = pairs.get("on_time", 0) + pairs.get("late", 0)
    contributed = [eid for v in versions for eid in v.added_ids]
    assert len(contributed) == counted


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), specs())
def test_last_version_plus_side_output_equals_batch_sum(events, spec):
    """Streaming meets batch: for each non-merging window, the last version plus the
    pairs routed to the side output (any action) equals a batch sum of every event
    in that window."""
    if spec.window.kind == "session":
        return
    _, versions, late, _ = run(spec, events)
    assign = WindowAssigner(spec.window).assign
    op_groups = WindowOperator(spec)._groups
    batch = defaultdict(int)
    for e in events:
        for g in op_groups(e):
            for w in assign(e.event_time_ms):
                batch[(g, w)] += e.amount_cents
    last = {}
    for v in versions:
        last[(v.group, v.window)] = round(v.values["revenue"] * 100)
    side = defaultdict(int)
    for x in late:
        side[(x.group, (x.window_start_ms, x.window_end_ms))] += x.amount_cents
    for key, total in batch.items():
        assert last.get(key, 0) + side.get(key, 0) == total, key


@settings(max_examples=100, deadline=None)
@given(
    streams(),
    st.sampled_from(
        [
            WindowSpec(kind="tumbling", size_ms=10_000),
            WindowSpec(kind="sliding", size_ms=30_000, slide_ms=10_000),
        ]
    ),
)
def test_update_with_unlimited_lateness_equals_batch(events, window):
    spec = PipelineSpec(
        window=window,
        watermark=WatermarkSpec(kind="bounded", delay_ms=1_000),
        allowed_lateness_ms=10**9,
    )
    _, versions, late, _ = run(spec, events)
    assert late == []
    assign = WindowAssigner(window).assign
    batch = defaultdict(int)
    for e in events:
        for w in assign(e.event_time_ms):
            batch[w] += e.amount_cents
    last = {v.window: round(v.values["revenue"] * 100) for v in versions}
    assert last == dict(batch)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 200_000), min_size=1, max_size=50),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
)
def test_shuffling_within_watermark_slack_keeps_on_time_results(times, seed_a, seed_b):
    """Arrivals reordered by at most the watermark delay are never late, and the
    on-time panes are the same whatever the order."""
    delay = 5_000
    spec = PipelineSpec(
        window=WindowSpec(kind="tumbling", size_ms=10_000),
        watermark=WatermarkSpec(kind="bounded", delay_ms=delay),
    )

    def on_time_panes(seed):
        rng = random.Random(seed)
        keyed = sorted((t + rng.randint(0, delay), i, t) for i, t in enumerate(times))
        events = [ev(i, t, amount=(i % 7) + 1, arrival=arr) for arr, i, t in keyed]
        op, versions, _, _ = run(spec, events)
        assert op.outcomes.on_time == len(times)
        return sorted((v.window, v.values["revenue"]) for v in versions if v.timing == "on_time")

    assert on_time_panes(seed_a) == on_time_panes(seed_b)


@settings(max_examples=40, deadline=None)
@given(streams(), specs())
def test_deterministic(events, spec):
    a = run(spec, events)[1]
    b = run(spec, events)[1]
    assert a == b


def test_session_sum_matches_batch_with_unlimited_lateness():
    rng = random.Random(7)
    events = [
        ev(i, rng.randint(0, 300_000), amount=rng.randint(1, 9), arrival=rng.randint(0, 400_000))
        for i in range(300)
    ]
    events.sort(key=lambda e: e.arrival_time_ms)
    spec = PipelineSpec(
        window=WindowSpec(kind="session", gap_ms=5_000, size_ms=0),
        watermark=WatermarkSpec(kind="bounded", delay_ms=2_000),
        allowed_lateness_ms=10**9,
    )
    op, versions, late, _ = run(spec, events)
    # batch sessionization of all event times
    times = sorted((e.event_time_ms, e.amount_cents) for e in events)
    sessions, cur = [], None
    for t, a in times:
        if cur and t <= cur[1]:
            cur[1] = max(cur[1], t + 5_000)
            cur[2] += a
        else:
            cur = [t, t + 5_000, a]
            sessions.append(cur)
    superseded = {s.old for s in op.drain_supersessions()}
    final = {}
    for v in versions:
        final[v.window] = round(v.values["revenue"] * 100)
    live = {w: r for w, r in final.items() if w not in superseded}
    assert live == {(s, e): a for s, e, a in sessions}
