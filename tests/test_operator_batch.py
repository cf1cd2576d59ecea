"""``WindowOperator.process_all`` (the batch loop) against ``process`` one event at a time.

Two operators get the same events — one through ``process``, one through
``process_all`` in random chunks — with the same clock and watermark records in
between. After every chunk everything they produce must be identical: versions
(processing time, watermark, values, deltas, contributions), late events,
supersessions, outcome counts, metrics and the snapshot bytes of their state.
Events that make the operator raise (missing amounts or items, no event time) sit
in the streams: ``process_all`` must leave them exactly as ``process`` does, and
report them in order to ``on_error``.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace

from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine.core.events import Event
from engine.core.operator import WindowOperator
from engine.core.results import LateEvent, Version
from engine.core.snapshot import snapshot
from engine.core.spec import PipelineSpec, SourcePolicy, TriggerSpec, WatermarkSpec, WindowSpec
from engine.runtime import poison
from engine.runtime.live import feed_operator

SOURCES = ("web", "mobile", "partner")


def _examples(n: int) -> int:
    """``n`` in the default profile; the profile's own count when it asks for more
    (HYPOTHESIS_PROFILE=explore)."""
    return max(n, settings.default.max_examples)


DAY0 = 1_767_225_600_000  # 2026-01-01 UTC; day windows in New York cut at 05:00 UTC

WINDOWS = [
    WindowSpec(kind="tumbling", size_ms=10_000),
    WindowSpec(kind="tumbling", size_ms=60_000, offset_ms=7_000),
    WindowSpec(kind="sliding", size_ms=30_000, slide_ms=10_000),
    WindowSpec(kind="session", gap_ms=8_000, size_ms=0),
    WindowSpec(kind="day", tz="America/New_York"),
]


@st.composite
def specs(draw) -> PipelineSpec:
    window = draw(st.sampled_from(WINDOWS))
    kind = draw(st.sampled_from(["bounded", "per-key", "punctuated", "processing-time"]))
    watermark = WatermarkSpec(
        kind=kind,
        delay_ms=draw(st.sampled_from([0, 1_000, 20_000])),
        key_by=draw(st.sampled_from(["source", "key"])) if kind == "per-key" else "source",
        idle_ms=draw(st.sampled_from([None, 30_000])) if kind == "per-key" else None,
        source_delays_ms=draw(st.sampled_from([(), (("partner", 50_000),)])),
    )
    early = draw(st.sampled_from(["none", "none", "after-first", "per-record"]))
    late = draw(st.sampled_from(["each", "every", "none"]))
    sources = draw(
        st.sampled_from(
            [
                (),
                (SourcePolicy("partner", allowed_lateness_ms=300_000, late_action="update"),),
                (
                    SourcePolicy("mobile", late_action="drop", watermark_delay_ms=40_000),
                    SourcePolicy("partner", allowed_lateness_ms=0, late_action="recompute"),
                ),
            ]
        )
    )
    window_day = window.kind == "day"
    return PipelineSpec(
        window=window,
        watermark=watermark,
        trigger=TriggerSpec(
            early=early,
            early_delay_ms=5_000 if early == "after-first" else 0,
            late=late,
            late_every_ms=10_000 if late == "every" else 0,
        ),
        allowed_lateness_ms=draw(st.sampled_from([0, 5_000, 120_000]))
        * (3_600 if window_day else 1),
        late_action=draw(st.sampled_from(["update", "update", "side_output", "drop", "recompute"])),
        max_updates_per_window=draw(st.sampled_from([None, 0, 1, 3])),
        group_by=draw(st.sampled_from(["none", "none", "source", "key", "all+source"])),
        metrics=draw(
            st.sampled_from(
                [
                    ("revenue", "orders", "items", "events"),
                    ("revenue", "avg_order_value", "median_order_value", "distinct_users"),
                ]
            )
        ),
        sources=sources,
    )


# What stands between two events: nothing, a clock tick, a watermark record, or both.
BETWEEN = st.sampled_from([None, None, None, "clock", "watermark", "both"])


@st.composite
def streams(draw) -> list:
    """Events in arrival order (ties, out of order, late, too late), some that make the
    operator raise, and now and then a clock tick or a watermark record."""
    n = draw(st.integers(1, 60))
    scale = draw(st.sampled_from([1, 3_600]))  # seconds or hours apart (day windows)
    out = []
    arrival = DAY0
    for i in range(n):
        arrival += draw(st.sampled_from([0, 0, 1_000, 5_000, 7_000])) * scale
        delay = draw(st.sampled_from([0, 1_000, 2_000, 15_000, 60_000, 400_000])) * scale
        if out and draw(st.integers(0, 3)) == 0:  # a tie with an earlier event, or next to it
            earlier = draw(st.sampled_from([e for kind, e in out if kind == "event"]))
            event_time = (earlier.event_time_ms or arrival) + draw(st.sampled_from([0, 0, 1]))
        else:  # on the second mostly: the watermark lands on window ends exactly
            event_time = arrival - delay - draw(st.sampled_from([0, 0, 1, 999]))
        event = Event(
            event_id=f"e{i}",
            source=draw(st.sampled_from(SOURCES)),
            event_time_ms=event_time,
            arrival_time_ms=draw(st.sampled_from([arrival, arrival, arrival, None])),
            amount_cents=draw(st.integers(-500, 5_000)),
            items=draw(st.integers(0, 3)),
            event_type=draw(st.sampled_from(["order.placed", "order.placed", "page.view"])),
            key=draw(st.sampled_from(["u1", "u2", "u3", None])),
        )
        broken = draw(st.sampled_from([None] * 12 + ["amount", "items", "time"]))
        if broken == "amount":
            event = replace(event, amount_cents=None)
        elif broken == "items":
            event = replace(event, items=None)
        elif broken == "time":
            event = replace(event, event_time_ms=None)
        out.append(("event", event))
        between = draw(BETWEEN)
        if between in ("clock", "both"):
            out.append(("clock", arrival + draw(st.sampled_from([0, 3_000, 40_000])) * scale))
        if between in ("watermark", "both"):
            out.append(("watermark", arrival - draw(st.sampled_from([0, 10_000])) * scale))
    return out


def _control(op: WindowOperator, kind: str, value: int) -> None:
    if kind == "clock":
        op.advance_processing_time(value)
    else:
        op.advance_watermark(value)


def _outputs(op: WindowOperator) -> tuple:
    versions, late = op.drain()
    supersessions = op.drain_supersessions()
    return versions, late, supersessions, op.outcomes, op.metrics(), op.recompute_windows


def _assert_same(one: WindowOperator, batch: WindowOperator) -> None:
    a, b = _outputs(one), _outputs(batch)
    assert a[0] == b[0]  # versions: values, deltas, times, watermark, contributions
    assert a[1:] == b[1:]
    assert one.arrival_delays_ms == batch.arrival_delays_ms
    assert one.watermark_lateness_ms == batch.watermark_lateness_ms
    assert snapshot(one) == snapshot(batch)


def _chunks(stream: list, cuts: list[int]) -> list[list]:
    """Cut the stream into runs of events (fed to ``process_all``) and single controls."""
    out, run = [], []
    for i, item in enumerate(stream):
        if item[0] != "event":
            if run:
                out.append(run)
                run = []
            out.append([item])
        else:
            run.append(item)
            if i in cuts:
                out.append(run)
                run = []
    if run:
        out.append(run)
    return out


def _compare(spec, stream, cuts, track, collect, live) -> None:
    one = WindowOperator(spec, track_contributions=track, collect_lateness=collect)
    batch = WindowOperator(spec, track_contributions=track, collect_lateness=collect)
    for chunk in _chunks(stream, cuts):
        if chunk[0][0] != "event":
            _control(one, *chunk[0])
            _control(batch, *chunk[0])
            continue
        events = [e for _, e in chunk]
        # live rows: processed at their append time (a little after arrival)
        at = [None if e.arrival_time_ms is None else e.arrival_time_ms + 50 for e in events]
        failed_one = []
        for i, event in enumerate(events):
            try:
                if live:
                    feed_operator(one, at[i], event)
                else:
                    one.process(event)
            except Exception as exc:  # noqa: BLE001 - the reference for what batch reports
                failed_one.append((i, type(exc)))
        failed_batch: list = []
        batch.process_all(
            events,
            processed_at=at if live else None,
            on_error=lambda i, exc, out=failed_batch: out.append((i, type(exc))),
        )
        assert failed_one == failed_batch
        _assert_same(one, batch)
    one.finish()
    batch.finish()
    _assert_same(one, batch)


@settings(max_examples=_examples(150))
@given(
    specs(),
    streams(),
    st.lists(st.integers(0, 200), max_size=4),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_process_all_equals_process_one_at_a_time(spec, stream, cuts, track, collect, live):
    _compare(spec, stream, cuts, track, collect, live)


@st.composite
def fast_specs(draw) -> PipelineSpec:
    """Pipelines the batch loop's fast path takes (tumbling, one group, no early
    panes, additive metrics), under every watermark strategy and late rule."""
    kind = draw(st.sampled_from(["bounded", "bounded", "per-key", "punctuated", "processing-time"]))
    late = draw(st.sampled_from(["each", "each", "every", "none"]))
    return PipelineSpec(
        window=draw(st.sampled_from(WINDOWS[:2])),
        watermark=WatermarkSpec(
            kind=kind,
            delay_ms=draw(st.sampled_from([0, 1_000, 20_000])),
            idle_ms=draw(st.sampled_from([None, 30_000])) if kind == "per-key" else None,
            source_delays_ms=draw(st.sampled_from([(), (), (("partner", 50_000),)])),
        ),
        trigger=TriggerSpec(late=late, late_every_ms=10_000 if late == "every" else 0),
        allowed_lateness_ms=draw(st.sampled_from([0, 5_000, 15_000, 120_000])),
        late_action=draw(st.sampled_from(["update", "update", "side_output", "drop"])),
        max_updates_per_window=draw(st.sampled_from([None, None, 1, 2])),
        # sources of their own: lateness, late action and watermark delay per source
        sources=draw(
            st.sampled_from(
                [
                    (),
                    (),
                    (SourcePolicy("partner", allowed_lateness_ms=300_000, late_action="update"),),
                    (
                        SourcePolicy("mobile", late_action="drop", watermark_delay_ms=40_000),
                        SourcePolicy("web", allowed_lateness_ms=0),
                    ),
                ]
            )
        ),
    )


@settings(max_examples=_examples(120))
@given(
    fast_specs(),
    streams(),
    st.lists(st.integers(0, 200), max_size=3),
    st.booleans(),
    st.booleans(),
)
@example(
    PipelineSpec(
        window=WINDOWS[0],
        watermark=WatermarkSpec(kind="bounded", delay_ms=1_000),
        allowed_lateness_ms=15_000,
    ),
    [("event", Event("a", "web", DAY0, DAY0, 100, 1)), ("event", Event("b", "web", DAY0, DAY0))],
    [],
    False,
    False,
)
def test_the_fast_path(spec, stream, cuts, collect, live):
    """The benchmark's pipeline (tumbling, one group, ``update``) and its neighbours."""
    _compare(spec, stream, cuts, False, collect, live)


def test_panes_and_late_events_fill_the_fields_they_name():
    """The hot path builds ``Version`` and ``LateEvent`` positionally: each value lands
    in the field of its name (checked against keyword construction)."""
    spec = PipelineSpec(
        window=WindowSpec(kind="tumbling", size_ms=10_000),
        watermark=WatermarkSpec(kind="bounded", delay_ms=0),
        allowed_lateness_ms=5_000,
    )
    for feed in ("process", "process_all"):
        op = WindowOperator(spec, collect_lateness=False)
        events = [
            Event("a", "web", DAY0 + 1_000, DAY0 + 2_000, 250, 2),
            Event("b", "web", DAY0 + 12_000, DAY0 + 13_000, 100, 1),  # W = DAY0 + 12 s
            Event("c", "mobile", DAY0 + 3_000, DAY0 + 14_000, 70, 1),  # late: a pane
            Event("d", "web", DAY0 + 22_000, DAY0 + 22_500, 5, 1),  # W = DAY0 + 22 s
            Event("e", "web", DAY0 + 4_000, DAY0 + 23_000, 9, 1, "page.view"),  # too late
        ]
        if feed == "process":
            for e in events:
                op.process(e)
        else:
            op.process_all(events)
        versions, late = op.drain()
        first, late_pane = versions[0], versions[1]
        assert first == Version(
            window_start_ms=DAY0,
            window_end_ms=DAY0 + 10_000,
            group="*",
            version=1,
            timing="on_time",
            processing_time_ms=DAY0 + 13_000,
            watermark_ms=DAY0 + 12_000,
            values={"revenue": 2.5, "orders": 1, "items": 2, "events": 1},
            deltas={"revenue": 2.5, "orders": 1, "items": 2, "events": 1},
            event_count=1,
            is_first=True,
            is_last=False,
            superseded_by=None,
            added_ids=(),
        )
        assert late_pane == Version(
            window_start_ms=DAY0,
            window_end_ms=DAY0 + 10_000,
            group="*",
            version=2,
            timing="late",
            processing_time_ms=DAY0 + 14_000,
            watermark_ms=DAY0 + 12_000,
            values={"revenue": 3.2, "orders": 2, "items": 3, "events": 2},
            deltas={"revenue": 0.7, "orders": 1, "items": 1, "events": 1},
            event_count=2,
            is_first=False,
            is_last=False,
            superseded_by=None,
            added_ids=(),
        )
        assert late == [
            LateEvent(
                event_id="e",
                source="web",
                window_start_ms=DAY0,
                window_end_ms=DAY0 + 10_000,
                group="*",
                action="too_late",
                late_by_ms=12_000,
                watermark_ms=DAY0 + 22_000,
                processing_time_ms=DAY0 + 23_000,
                event_time_ms=DAY0 + 4_000,
                amount_cents=9,
            )
        ], feed


def test_without_on_error_the_exception_propagates_after_the_events_before_it():
    spec = PipelineSpec(window=WindowSpec(kind="tumbling", size_ms=10_000))
    events = [
        Event("a", "web", DAY0, DAY0, 100, 1),
        Event("b", "web", DAY0 + 1, DAY0 + 1, None, 1),
        Event("c", "web", DAY0 + 2, DAY0 + 2, 100, 1),
    ]
    one, batch = WindowOperator(spec), WindowOperator(spec)
    one.process(events[0])
    with contextlib.suppress(TypeError):
        one.process(events[1])
    try:
        batch.process_all(events)
    except TypeError:
        pass
    else:  # pragma: no cover - the assertion below says what went wrong
        raise AssertionError("process_all swallowed the error")
    _assert_same(one, batch)
    assert batch.outcomes.input == 1


def _poison_one_at_a_time(operators, items):
    """The runtime's guard as it was before the batch entry point: ``feed_operator``
    per event, each operator in turn, an event set aside skipped by the ones after."""
    set_aside = {}
    good = []
    for i, (appended, event) in enumerate(items):
        why = poison.problem(event)
        if why is None:
            good.append((i, appended, event))
        else:
            set_aside[i] = (event, why)
    for op in operators.values():
        for i, appended, event in good:
            if i in set_aside:
                continue
            try:
                feed_operator(op, appended, event)
            except Exception as exc:  # noqa: BLE001 - what the guard did
                set_aside[i] = (event, f"the window operator failed on it ({type(exc).__name__})")
    return [set_aside[i] for i in sorted(set_aside)]


@settings(max_examples=_examples(40))
@given(specs(), specs(), streams(), st.booleans())
def test_poison_rows_are_set_aside_as_before(spec_a, spec_b, stream, live):
    """An event that raises (or cannot be windowed) is set aside with the same reason,
    for the same operators, and everything else goes through as it did."""
    events = [e for kind, e in stream if kind == "event"]
    events.insert(len(events) // 2, replace(events[0], event_id="far", event_time_ms=10**18))
    items = [(e.arrival_time_ms + 50 if live and e.arrival_time_ms else None, e) for e in events]
    specs_ = {"a": spec_a, "b": spec_b}
    ref = {name: WindowOperator(spec, track_contributions=True) for name, spec in specs_.items()}
    ops = {name: WindowOperator(spec, track_contributions=True) for name, spec in specs_.items()}
    expected = _poison_one_at_a_time(ref, items)
    got = poison.process_all(ops, items)
    assert [(e.event_id, why) for e, why in got] == [(e.event_id, why) for e, why in expected]
    assert any(e.event_id == "far" for e, _ in got)
    for name in specs_:
        _assert_same(ref[name], ops[name])
