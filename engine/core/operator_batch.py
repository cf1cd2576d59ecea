"""The window operator's batch entry point: ``WindowOperator.process_all``.

It runs the same per-event steps as ``WindowOperator.process`` — processing time
first (due timers fire), then routing against the watermark as it stood before the
event, then the watermark observes the event and windows whose end it passed fire —
so every output (versions with their processing time, watermark, values and deltas;
late events; outcome counts; contributions; snapshots) is what feeding the events
one at a time to ``process`` gives. What changes is the cost per event: the
operator's and the watermark's fields live in local variables for the whole batch
and are written back before anything that reads them runs (``_emit`` stamps a pane
with the processing time and the watermark); the bounded watermark is inlined; the
common on-time case (no early trigger, additive metrics only) is added in place;
and ``_on_watermark`` runs only when the watermark reaches the next firing or
cleanup time, not on every move. A tumbling window without grouping reuses the last
event's window state while the watermark is before its end: such a window cannot
have been cleaned (cleanup waits for ``W >= end + max lateness``), so it is the
state the dictionary holds.

An event that raises is handled as ``process`` would leave it (the steps before
the failure have happened, the later ones have not): with ``on_error`` the batch
reports it and goes on with the next event (the runtime's poison-row guard), else
the exception propagates with every earlier event fully processed.

Tied to ``WindowOperator``'s private fields on purpose: this is its hot loop,
held equal to ``process`` by tests/test_operator_batch.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from operator import length_hint
from typing import TYPE_CHECKING

from engine.core.events import ORDER_TYPE, Event
from engine.core.results import LateEvent
from engine.core.timeutil import NEG_INF_MS, POS_INF_MS

if TYPE_CHECKING:  # pragma: no cover
    from engine.core.operator import WindowOperator

RANK = {"on_time": 0, "late": 1, "side_output": 2, "dropped": 3, "too_late": 4}

ErrorHandler = Callable[[int, Exception], None]


def process_all(
    op: WindowOperator,
    events: Iterable[Event],
    processed_at: Sequence[int | None] | None = None,
    on_error: ErrorHandler | None = None,
) -> None:
    """Feed ``events`` (in arrival order) to ``op``; see ``WindowOperator.process_all``."""
    if not isinstance(events, list | tuple):
        events = list(events)
    it = iter(events)
    at_it = None if processed_at is None else iter(processed_at)
    while True:
        failure = _run(op, it, at_it)
        if failure is None:
            return
        # a list's iterator knows how many events are left: the failed one is just before
        index, exc = len(events) - length_hint(it) - 1, failure
        if on_error is None:
            raise exc
        on_error(index, exc)


def _due(fire_heap: list, cleanup_heap: list) -> int:
    """The first watermark at which ``_on_watermark`` has something to do."""
    due = fire_heap[0][0] if fire_heap else POS_INF_MS
    if cleanup_heap and cleanup_heap[0][0] < due:
        due = cleanup_heap[0][0]
    return due


def _flush(state, rev: int, items: int, orders: int, count: int, records, pairs) -> None:
    """Add the on-time events buffered for ``state`` (the fast path's window) to it."""
    state.rev += rev
    state.items += items
    state.orders += orders
    if count:
        state.count += count
        state.pending = True
        records[0] += count
        pairs[0] += count


def _run(op: WindowOperator, it, at_it) -> Exception | None:
    """Process the events of ``it`` (and their processing times from ``at_it``) until
    they end (None) or one raises (its exception).

    Locals that mirror the operator's fields: ``proc`` (processing time), ``w``,
    ``max_seen`` (the watermark), ``due`` (the next firing or cleanup time), and the
    fast path's window ``cached`` with the sums of its events not yet added to it
    (``b_*``). Before anything that reads the operator runs, the sums are flushed and
    the fields written back ("sync")."""
    windows = op.windows
    fire_heap, cleanup_heap, timers = op._fire_heap, op._cleanup_heap, op._timers
    pairs, records = op._pair_counts, op._record_counts
    wmg = op.watermarks
    delays_seen = wmg._delay_cache
    bounded = op._bounded
    one_delay = wmg.one_delay  # the bounded delay never changes: sources not looked up
    per_key = wmg.kind == "per-key"
    idle_keys = per_key and wmg.idle_ms is not None  # processing time moves W
    by_source, idle_ms, idle_for = wmg.key_by_source, wmg.idle_ms, wmg._idle_for
    key_max, seen_at = wmg._per_key_max, wmg._per_key_seen_at
    moves = op._time_moves_watermark
    collect = op.collect_lateness
    arrival_add = op.arrival_delays_ms.append
    lateness_add = op.watermark_lateness_ms.append
    merging = op.merging
    keep_detail = op.keep_detail
    simple = op._simple_on_time and not keep_detail
    tumble = op._tumble
    const_groups = op._const_groups
    group_fn, assign = op._group_fn, op._assign
    route_late, route_session = op._route_late, op._route_session
    open_window, emit, set_timer = op._open, op._emit, op._set_timer
    lateness_of, lateness_for = op._lateness_cache, op._lateness
    actions, max_updates = op._action_cache, op.max_updates  # filled by ``_route_late``
    late_each = op.late_mode == "each"
    late_add = op._late.append
    early, early_delay = op.early, op.early_delay
    on_watermark, advance, observe = op._on_watermark, op.advance_processing_time, wmg.observe
    size = offset = 0
    if tumble is not None:
        size, offset = tumble
    # the fast path: tumbling windows, one group, on-time adds in place
    fast = tumble is not None and const_groups is not None and not merging and simple
    group = const_groups[0] if const_groups else "*"

    proc = op.processing_time_ms
    w = wmg._current
    max_seen = wmg._max_seen
    bounded_delay = wmg._bounded_delay
    due = _due(fire_heap, cleanup_heap)
    cached = None  # the fast path's current window (while W < cached_end, it is live)
    cached_start, cached_end = POS_INF_MS, NEG_INF_MS  # no event time is in it
    b_rev = b_items = b_orders = b_count = 0
    try:
        for event in it:
            if at_it is not None:
                at = next(at_it)
                if at is not None:  # a live row: processed when it was appended
                    if b_count:
                        _flush(cached, b_rev, b_items, b_orders, b_count, records, pairs)
                        b_rev = b_items = b_orders = b_count = 0
                    op.processing_time_ms, wmg._current, wmg._max_seen = proc, w, max_seen
                    advance(at)
                    proc, w = op.processing_time_ms, wmg._current
                    due = _due(fire_heap, cleanup_heap)
                    if event.arrival_time_ms is not None and event.arrival_time_ms > at:
                        event = replace(event, arrival_time_ms=at)
            arrival = event.arrival_time_ms
            if arrival is not None and (proc is None or arrival > proc):
                if timers or moves:
                    combined = wmg._combined_cache
                    if (
                        idle_keys
                        and proc is not None
                        and combined is not None
                        and combined[1] <= arrival <= combined[2]
                        and not (timers and timers[0][0] <= arrival)
                    ):  # advance_processing_time, inlined: no timer is due and the
                        # per-key W is the cached one (``WatermarkGenerator._combined``)
                        proc = arrival
                        if combined[0] > w:
                            w = wmg._current = combined[0]
                            if w >= due:
                                if b_count:
                                    _flush(
                                        cached, b_rev, b_items, b_orders, b_count, records, pairs
                                    )
                                    b_rev = b_items = b_orders = b_count = 0
                                op.processing_time_ms, wmg._max_seen = proc, max_seen
                                on_watermark(w)
                                due = _due(fire_heap, cleanup_heap)
                    else:
                        if b_count:
                            _flush(cached, b_rev, b_items, b_orders, b_count, records, pairs)
                            b_rev = b_items = b_orders = b_count = 0
                        op.processing_time_ms, wmg._current, wmg._max_seen = proc, w, max_seen
                        advance(arrival)  # pops due timers and firings, opens no window:
                        proc, w = op.processing_time_ms, wmg._current  # ``due`` can stay
                else:  # nothing waits on processing time: just move it
                    proc = arrival
            ts = event.event_time_ms
            if collect:
                if arrival is not None:
                    arrival_add(arrival - ts)
                if w > NEG_INF_MS:
                    lateness_add(w - ts)

            if fast:  # one (event, window) pair
                if cached_start <= ts < cached_end and w < cached_end:  # no division
                    b_rev += event.amount_cents
                    b_items += event.items
                    b_count += 1
                    if event.event_type == ORDER_TYPE:
                        b_orders += 1
                else:
                    if b_count:
                        _flush(cached, b_rev, b_items, b_orders, b_count, records, pairs)
                        b_rev = b_items = b_orders = b_count = 0
                    start = ts - (ts - offset) % size
                    end = start + size
                    if w < end:
                        key = (group, start, end)
                        state = windows.get(key)
                        if state is None:
                            state = open_window(key, False)
                            if end < due:
                                due = end
                        cached, cached_start, cached_end = state, start, end
                        b_rev += event.amount_cents
                        b_items += event.items
                        b_count += 1
                        if event.event_type == ORDER_TYPE:
                            b_orders += 1
                    else:
                        source = event.source
                        lateness = lateness_of.get(source)
                        if lateness is None:
                            lateness = lateness_for(source)
                        if w >= end + lateness:  # too late: WindowOperator._side, inlined
                            late_add(
                                LateEvent(
                                    event.event_id,
                                    source,
                                    start,
                                    end,
                                    group,
                                    "too_late",
                                    w - end,
                                    w,
                                    proc,
                                    ts,
                                    event.amount_cents,
                                )
                            )
                            pairs[4] += 1
                            records[4] += 1
                        else:
                            op.processing_time_ms, wmg._current, wmg._max_seen = proc, w, max_seen
                            state = windows.get((group, start, end)) if late_each else None
                            if (
                                state is not None
                                and actions.get(source) == "update"
                                and (
                                    max_updates is None
                                    or state.late_versions < max_updates
                                    or (state.pending and state.fired_on_time)
                                )
                            ):  # a late pane of a window that has state: _route_late's
                                # ``update`` with ``late="each"``, inlined
                                state.rev += event.amount_cents
                                state.items += event.items
                                state.count += 1
                                if event.event_type == ORDER_TYPE:
                                    state.orders += 1
                                state.pending = True
                                emit(state, "late")
                                pairs[1] += 1
                                records[1] += 1
                            else:
                                rank = RANK[route_late(event, group, start, end, w, None)]
                                pairs[rank] += 1
                                records[rank] += 1
                                # a late route may open a window (its cleanup), never pops
                                if cleanup_heap and cleanup_heap[0][0] < due:
                                    due = cleanup_heap[0][0]
            else:
                best = 4
                op.processing_time_ms, wmg._current, wmg._max_seen = proc, w, max_seen
                if merging:
                    for g in group_fn(event):
                        rank = RANK[route_session(event, g, w)]
                        if rank < best:
                            best = rank
                    due = _due(fire_heap, cleanup_heap)
                else:
                    if tumble is not None:
                        start = ts - (ts - offset) % size
                        spans = ((start, start + size),)
                    else:
                        spans = assign(ts)
                    for g in const_groups or group_fn(event):
                        for start, end in spans:
                            if w < end:
                                key = (g, start, end)
                                state = windows.get(key)
                                if state is None:
                                    state = open_window(key, False)
                                    if end < due:
                                        due = end
                                if simple:
                                    state.rev += event.amount_cents
                                    state.items += event.items
                                    state.count += 1
                                    if event.event_type == ORDER_TYPE:
                                        state.orders += 1
                                    state.pending = True
                                else:  # WindowOperator._add_on_time, inlined
                                    if keep_detail:
                                        state.add(event)
                                    else:  # WindowState.add without the detail
                                        state.rev += event.amount_cents
                                        state.items += event.items
                                        state.count += 1
                                        if event.event_type == ORDER_TYPE:
                                            state.orders += 1
                                        state.pending = True
                                    added = state.added
                                    if added is not None:
                                        added.append(event.event_id)
                                    if early == "per-record":
                                        emit(state, "early")
                                    elif early == "after-first" and state.timer_at is None:
                                        set_timer(state, early_delay)
                                pairs[0] += 1
                                best = 0
                            else:
                                rank = RANK[route_late(event, g, start, end, w, None)]
                                pairs[rank] += 1
                                if rank < best:
                                    best = rank
                                due = _due(fire_heap, cleanup_heap)
                records[best] += 1

            if bounded:  # WatermarkGenerator.observe_bounded, inlined
                if not one_delay:
                    source = event.source
                    if source not in delays_seen:
                        wmg._delay(source)
                        bounded_delay = wmg._bounded_delay
                if ts > max_seen:
                    max_seen = ts
                    candidate = ts - bounded_delay
                    if candidate > w:
                        w = candidate
                        if w >= due:
                            if b_count:
                                _flush(cached, b_rev, b_items, b_orders, b_count, records, pairs)
                                b_rev = b_items = b_orders = b_count = 0
                            op.processing_time_ms, wmg._current, wmg._max_seen = proc, w, max_seen
                            on_watermark(w)
                            due = _due(fire_heap, cleanup_heap)
            else:
                if per_key:  # WatermarkGenerator.observe for per-key watermarks, inlined
                    source = event.source
                    k = source if by_source or event.key is None else event.key
                    delay = delays_seen.get(source)
                    if delay is None:
                        delay = wmg._delay(source)
                    mark = ts - delay
                    combined = wmg._combined_cache
                    if combined is not None:
                        seen = seen_at.get(k)
                        idle = None
                        if seen is not None and proc is not None and k in key_max:
                            idle = idle_ms if idle_for is None else idle_for(k)
                        if not (
                            proc is not None
                            and combined[1] <= proc <= combined[2]
                            and seen is not None
                            and k in key_max
                            and (idle is None or proc - seen <= idle)  # active
                            and seen <= proc  # its timeout only moves later
                            and (k != combined[3] or mark <= key_max[k])
                        ):  # an idle key wakes or the key holding W moves on
                            wmg._combined_cache = combined = None
                    if mark > key_max.get(k, NEG_INF_MS):
                        key_max[k] = mark
                    seen_at[k] = proc
                    if combined is not None:  # still valid at ``proc``
                        after = combined[0]
                    else:
                        after = wmg._combined(proc)
                    if after > w:
                        wmg._current = after
                    else:
                        after = w
                else:
                    after = observe(ts, event.source, event.key, proc)
                if after != w:
                    w = after
                    if w >= due:
                        if b_count:
                            _flush(cached, b_rev, b_items, b_orders, b_count, records, pairs)
                            b_rev = b_items = b_orders = b_count = 0
                        op.processing_time_ms = proc
                        on_watermark(w)
                        due = _due(fire_heap, cleanup_heap)
    except Exception as exc:  # noqa: BLE001 - reported to the caller with its index
        return exc
    finally:  # a failure can leave partial sums with no count: flush them all
        if cached is not None:
            _flush(cached, b_rev, b_items, b_orders, b_count, records, pairs)
        op.processing_time_ms, wmg._current, wmg._max_seen = proc, w, max_seen
    return None
