"""``engine.beam.panes.PaneBook`` (no apache-beam needed): DISCARDING panes add up to
the operator's versions; every entered pair ends in a pane or the side output."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.beam.panes import PaneBook
from engine.core.events import Event
from engine.core.spec import PipelineSpec, TriggerSpec

SPEC = PipelineSpec(allowed_lateness_ms=100)


def event(i: int, ts: int, amount: int = 100, source: str = "web") -> Event:
    return Event(f"e{i}", source, ts, ts, amount_cents=amount, items=1)


def test_panes_in_any_order_give_versions_in_pane_order():
    book = PaneBook(SPEC, "*", merging=False)
    late = book.offer(0, 10, 1, "late", False, [event(2, 5, 300)])
    assert late == ([], [], [])  # waits for pane 0
    versions, side, _ = book.offer(0, 10, 0, "on_time", False, [event(1, 1, 100)])
    assert [v.version for v in versions] == [1, 2]
    assert [v.timing for v in versions] == ["on_time", "late"]
    assert [v.values["revenue"] for v in versions] == [1.0, 4.0]
    assert [v.deltas["revenue"] for v in versions] == [1.0, 3.0]
    assert side == []


def test_entered_pairs_no_pane_carried_are_too_late_at_expiry():
    book = PaneBook(SPEC, "*", merging=False)
    book.entered(event(1, 1), 0, 10)
    book.entered(event(2, 2), 0, 10)
    book.offer(0, 10, 0, "on_time", False, [event(1, 1)])
    assert book.next_expiry() == 110
    assert book.expire(109) == []
    (gone,) = book.expire(110)
    assert (gone.event_id, gone.action, gone.window_end_ms) == ("e2", "too_late", 10)
    assert book.empty()


def test_late_panes_of_side_output_sources_are_not_versions():
    spec = SPEC.with_changes(late_action="side_output")
    book = PaneBook(spec, "*", merging=False)
    book.offer(0, 10, 0, "on_time", False, [event(1, 1)])
    versions, side, _ = book.offer(0, 10, 1, "late", False, [event(2, 2)])
    assert versions == [] and [s.action for s in side] == ["side_output"]
    book.entered(event(2, 2), 0, 10)  # the pane accounted for it: not too late
    assert book.expire(10**6) == []


def test_max_updates_and_late_none():
    book = PaneBook(SPEC.with_changes(max_updates_per_window=1), "*", merging=False)
    book.offer(0, 10, 0, "on_time", False, [event(1, 1)])
    assert len(book.offer(0, 10, 1, "late", False, [event(2, 2)])[0]) == 1
    versions, side, _ = book.offer(0, 10, 2, "late", False, [event(3, 3)])
    assert versions == [] and side[0].action == "max_updates"
    none = SPEC.with_changes(trigger=TriggerSpec(late="none"))
    book = PaneBook(none, "*", merging=False)
    # a window that never fired takes its first (late) pane, then queues late data
    versions, side, _ = book.offer(0, 10, 0, "late", False, [event(1, 1)])
    assert [v.timing for v in versions] == ["late"] and side == []
    versions, side, _ = book.offer(0, 10, 1, "late", False, [event(2, 2)])
    assert versions == [] and side[0].action == "side_output"


def test_sessions_absorb_merged_windows():
    book = PaneBook(SPEC, "*", merging=True)
    book.offer(0, 10, 0, "on_time", False, [event(1, 0)])
    versions, _, sup = book.offer(0, 25, 0, "on_time", False, [event(2, 15)])
    assert versions[0].values["events"] == 2 and versions[0].version == 1
    assert [(s.old, s.new) for s in sup] == [((0, 10), (0, 25))]


@settings(max_examples=60)
@given(
    st.lists(
        st.tuples(st.booleans(), st.integers(-500, 500)),
        min_size=1,
        max_size=30,
    )
)
def test_every_entered_pair_ends_in_exactly_one_place(plan):
    """Conservation: each entered pair is in a version or in the side output, once."""
    book = PaneBook(SPEC, "*", merging=False)
    versions, side = [], []
    index = 0
    for i, (carried, amount) in enumerate(plan):
        e = event(i, 1, amount)
        book.entered(e, 0, 10)
        if carried:
            timing = "on_time" if index == 0 else "late"
            got = book.offer(0, 10, index, timing, False, [e])
            versions += got[0]
            side += got[1]
            index += 1
    side += book.expire(10**9)
    in_versions = [eid for v in versions for eid in v.added_ids]
    placed = in_versions + [s.event_id for s in side]
    assert sorted(placed) == sorted(f"e{i}" for i in range(len(plan)))
    if versions:
        assert round(versions[-1].values["revenue"] * 100) == sum(
            a for (carried, a) in plan if carried
        )
