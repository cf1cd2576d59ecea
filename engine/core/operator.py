"""The event-time window operator: state, triggers, allowed lateness, late actions.

Semantics (normative, see shared/design.md; boundaries as in Flink/Beam Java):

- Windows are half-open ``[start, end)``. Window ``[s, e)`` fires *on time* as soon
  as the watermark ``W >= e`` — the ON_TIME pane is emitted even when nothing changed
  since the last early pane.
- Each (event, window) pair is classified against the watermark as it stood when
  the event arrived (before the event itself was observed by the watermark):
    * ``W <  e``            on time (even if event_time < W: merely out of order);
    * ``e <= W < e + L``    late: the source's late action applies;
    * ``W >= e + L``        too late: the window's state is gone; the pair goes to
                            the late-events side output with ``late_by = W - e``.
  ``L`` is the allowed lateness of the event's source. At the exact tick
  ``W = e`` an element is late and ``W = e + L`` too late.
  A window that receives its first element after W passed its end has no on-time
  pane: its first version is a late one, and it fires when that element arrives,
  as the on-time pane would have, whatever the late trigger (``each``, ``every:D``
  or ``none``): Beam's ``AfterWatermark`` fires as soon as the end of the window
  is reached, Flink's ``EventTimeTrigger`` fires a late element at once. Late
  ``every:D`` throttles only the late panes *after* a window's first firing: the
  first late element after a firing sets a timer D of processing time later, and
  everything late until then shares that pane; with ``none`` there are no panes
  after the first firing. The same holds for a session that a late element
  creates or merges (a new window that never fired).
- Late actions: ``update`` (a LATE pane, at most ``max_updates_per_window`` of them;
  further pairs go to the side output as ``max_updates``; with ``late="none"``
  triggers only a never-fired window's first pane, see below), ``side_output`` and
  ``recompute`` (queued in the side output; recompute also flags the window, and
  the runtime's recompute job, engine.runtime.recompute, appends a version
  computed from the raw log), ``drop`` (counted and logged). With ``late="none"``
  triggers, ``update`` degrades to ``side_output`` once the window fired: nothing
  would ever publish it.
- Sessions merge when they overlap or touch; lateness is checked on the *merged*
  window (Flink, Kafka Streams), so a late event can bridge two sessions. The
  absorbed sessions are superseded by the merged one and the operator records it.
- State of a window is kept until ``W >= e + max(L)``, then cleaned (a pending late
  pane is flushed first).
- Processing-time timers (early ``after-first`` panes, late ``every`` panes) fire
  when processing time reaches them, before the record that moved the clock.

What a firing publishes (values, non-additive metrics, deltas, pane metadata) is
``engine.core.panes``; this module decides when windows fire and where events go.

Each record lands in exactly one outcome (``Outcomes``): the most favourable of
its pairs in the order on_time > late > side_output > dropped > too_late; every
pair is also counted in ``Outcomes.pairs`` and every non-counted pair appears in
the late-events output, so a partial drop of a sliding event is visible.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Sequence

from engine.core.events import ORDER_TYPE, Event
from engine.core.operator_batch import RANK as _RANK
from engine.core.operator_batch import process_all as process_batch
from engine.core.panes import make_pane
from engine.core.results import LateEvent, Outcomes, Version
from engine.core.spec import PipelineSpec
from engine.core.timeutil import NEG_INF_MS, POS_INF_MS
from engine.core.watermarks import WatermarkGenerator
from engine.core.window_state import (
    ALL_GROUPS,
    Supersession,
    WindowState,
    group_function,
    percentiles,
)
from engine.core.windows import WindowAssigner, windows_touch

_BY_RANK = {v: k for k, v in _RANK.items()}


class WindowOperator:
    """In-process runner of a ``PipelineSpec``. Feed it events in arrival order.

    ``process(event)`` first advances processing time to the event's arrival time
    (firing due timers), then routes the event, then lets the watermark observe it
    (firing windows whose end it passed). Emissions accumulate until ``drain()``.
    """

    def __init__(
        self,
        spec: PipelineSpec,
        track_contributions: bool = False,
        collect_lateness: bool = True,
    ) -> None:
        self.spec = spec
        self.assigner = WindowAssigner(spec.window)
        self.merging = self.assigner.merging
        self.watermarks = WatermarkGenerator(spec)
        self.track = track_contributions
        self.collect_lateness = collect_lateness
        self.keep_detail = any(
            m in spec.metrics for m in ("avg_order_value", "median_order_value", "distinct_users")
        )
        self.max_lateness = spec.max_lateness_ms()
        self.max_updates = spec.max_updates_per_window
        trig = spec.trigger
        self.early = trig.early
        self.early_delay = trig.early_delay_ms
        self.late_mode = trig.late
        self.late_every = trig.late_every_ms

        self.windows: dict[tuple[str, int, int], WindowState] = {}
        self.sessions: dict[str, list[WindowState]] = {}
        self._fire_heap: list[tuple[int, int, str]] = []
        self._cleanup_heap: list[tuple[int, int, int, str]] = []
        self._timers: list[tuple[int, int, int, str, int]] = []
        self._seq = itertools.count()
        self.processing_time_ms: int | None = None
        self._record_counts = [0, 0, 0, 0, 0]  # by rank: on_time .. too_late
        self._pair_counts = [0, 0, 0, 0, 0]
        self._rejected = {"duplicate": 0, "quarantined": 0}
        self.recompute_windows: set[tuple[str, int, int]] = set()
        self.arrival_delays_ms: list[int] = []
        self.watermark_lateness_ms: list[int] = []
        self._versions: list[Version] = []
        self._late: list[LateEvent] = []
        self._supersessions: list[Supersession] = []
        self._lateness_cache: dict[str, int] = {}
        self._action_cache: dict[str, str] = {}
        self.group_by = spec.group_by
        self._group_fn = group_function(spec.group_by)
        self._assign = self.assigner.assign
        self._tumble = (
            (spec.window.size_ms, spec.window.offset_ms) if spec.window.kind == "tumbling" else None
        )
        self._const_groups = ALL_GROUPS if spec.group_by == "none" else None
        self._bounded = spec.watermark.kind == "bounded"
        self._simple_on_time = self.early == "none" and not self.track
        wm = spec.watermark
        self._time_moves_watermark = wm.kind == "processing-time" or (
            wm.kind == "per-key" and (wm.idle_ms is not None or bool(wm.source_idle_ms))
        )

    # ------------------------------------------------------------------ inputs
    @property
    def watermark_ms(self) -> int:
        return self.watermarks.current

    def advance_processing_time(self, t_ms: int) -> None:
        """Move processing time forward (never back); fire timers due at or before it."""
        if self.processing_time_ms is not None and t_ms <= self.processing_time_ms:
            return
        timers = self._timers
        while timers and timers[0][0] <= t_ms:
            at, end, start, group, _ = heapq.heappop(timers)
            if self.processing_time_ms is None or at > self.processing_time_ms:
                self.processing_time_ms = at
            state = self.windows.get((group, start, end))
            if state is not None and state.timer_at == at:
                self._fire_timer(state)
        self.processing_time_ms = t_ms
        before = self.watermarks.current
        after = self.watermarks.on_processing_time(t_ms)
        if after != before:
            self._on_watermark(after)

    def advance_watermark(self, watermark_ms: int) -> None:
        """A punctuated watermark record (ignored by other strategies)."""
        before = self.watermarks.current
        after = self.watermarks.punctuate(watermark_ms)
        if after != before:
            self._on_watermark(after)

    def finish(self) -> None:
        """End of input: the watermark goes to +inf and everything left fires."""
        self.watermarks.force(POS_INF_MS)
        self._on_watermark(POS_INF_MS)

    def process(self, event: Event) -> str:
        """Route one accepted event; returns its record outcome. (The hot path: the
        common on-time case is inlined; everything else goes through ``_route*``.)"""
        proc = event.arrival_time_ms
        if proc is not None:
            cur = self.processing_time_ms
            if cur is None or proc > cur:
                if self._timers or self._time_moves_watermark:
                    self.advance_processing_time(proc)
                else:  # nothing waits on processing time: just move it
                    self.processing_time_ms = proc
        wmg = self.watermarks
        w = wmg._current
        ts = event.event_time_ms
        if self.collect_lateness:
            if proc is not None:
                self.arrival_delays_ms.append(proc - ts)
            if w > NEG_INF_MS:
                self.watermark_lateness_ms.append(w - ts)
        best = 4
        pairs = self._pair_counts
        if self.merging:
            for group in self._group_fn(event):
                rank = _RANK[self._route_session(event, group, w)]
                if rank < best:
                    best = rank
        else:
            windows = self.windows
            simple = self._simple_on_time
            tumble = self._tumble
            if tumble is not None:
                size, offset = tumble
                start = ts - (ts - offset) % size
                spans = ((start, start + size),)
            else:
                spans = self._assign(ts)
            for group in self._const_groups or self._group_fn(event):
                for start, end in spans:
                    if w < end:
                        key = (group, start, end)
                        state = windows.get(key)
                        if state is None:
                            state = self._open(key, fired=False)
                        if simple and state.order_amounts is None:
                            state.rev += event.amount_cents
                            state.items += event.items
                            state.count += 1
                            if event.event_type == ORDER_TYPE:
                                state.orders += 1
                            state.pending = True
                        else:
                            self._add_on_time(state, event)
                        pairs[0] += 1
                        best = 0
                    else:
                        rank = _RANK[self._route_late(event, group, start, end, w, None)]
                        pairs[rank] += 1
                        if rank < best:
                            best = rank
        self._record_counts[best] += 1
        if self._bounded:
            after = wmg.observe_bounded(ts, event.source)
        else:
            after = wmg.observe(ts, event.source, event.key, self.processing_time_ms)
        if after != w:
            fire, cleanup = self._fire_heap, self._cleanup_heap
            if (fire and fire[0][0] <= after) or (cleanup and cleanup[0][0] <= after):
                self._on_watermark(after)  # only when a firing or a cleanup is due
        return _BY_RANK[best]

    def process_all(
        self,
        events: Iterable[Event],
        processed_at: Sequence[int | None] | None = None,
        on_error: Callable[[int, Exception], None] | None = None,
    ) -> None:
        """``process`` each of ``events`` in order, with the same outputs, faster (the
        batch loop, engine.core.operator_batch, keeps the operator's state in locals).

        ``processed_at[i]``, when given and not None, is the processing time event
        ``i`` is processed at (a live row's append time, as
        ``engine.runtime.live.feed_operator``): time advances to it first and an
        arrival time after it is capped to it. An event that raises is left as
        ``process`` would leave it; ``on_error(i, exc)`` then hears of it and the batch
        goes on, or without ``on_error`` the exception propagates."""
        process_batch(self, events, processed_at, on_error)

    def count_rejected(self, outcome: str) -> None:
        """Records that never reached routing (duplicates, quarantine) still count."""
        self._rejected[outcome] += 1

    @property
    def outcomes(self) -> Outcomes:
        """Per-record outcome counts (and per-pair counts), built on demand."""
        rec, pairs = self._record_counts, self._pair_counts
        out = Outcomes(
            on_time=rec[0],
            late=rec[1],
            side_output=rec[2],
            dropped=rec[3],
            too_late=rec[4],
            duplicates=self._rejected["duplicate"],
            quarantined=self._rejected["quarantined"],
            pairs={_BY_RANK[i]: n for i, n in enumerate(pairs) if n},
        )
        out.input = sum(rec) + out.duplicates + out.quarantined
        return out

    def drain(self) -> tuple[list[Version], list[LateEvent]]:
        versions, late = self._versions, self._late
        self._versions, self._late = [], []
        return versions, late

    def drain_supersessions(self) -> list[Supersession]:
        out, self._supersessions = self._supersessions, []
        return out

    # ------------------------------------------------------------------ routing
    def _groups(self, event: Event) -> tuple[str, ...]:
        return self._group_fn(event)

    def _lateness(self, source: str) -> int:
        lateness = self._lateness_cache.get(source)
        if lateness is None:
            lateness = self._lateness_cache[source] = self.spec.lateness_for(source)
        return lateness

    def _action(self, source: str) -> str:
        action = self._action_cache.get(source)
        if action is None:
            action = self._action_cache[source] = self.spec.action_for(source)
        return action

    def _route_late(
        self, event: Event, group: str, start: int, end: int, w: int, merge: list | None
    ) -> str:
        """W >= end: late or too late for this (event, window) pair."""
        if w >= end + self._lateness(event.source):
            self._side(event, group, start, end, w, "too_late")
            return "too_late"
        action = self._action(event.source)
        if action == "update":
            key = (group, start, end)
            state = self.windows.get(key)
            if self.late_mode == "none" and state is not None and state.version:
                # no late firings: nothing would ever publish it
                self._side(event, group, start, end, w, "side_output")
                return "side_output"
            pending_late = state is not None and state.pending and state.fired_on_time
            used = 0
            if state is not None:
                used = state.late_versions
            elif merge:
                used = sum(s.late_versions for s in merge)
            if self.max_updates is not None and used >= self.max_updates and not pending_late:
                self._side(event, group, start, end, w, "max_updates")
                return "side_output"
            if merge is not None:
                state = self._merge_sessions(group, merge, start, end, fired=True)
            elif state is None:
                state = self._open(key, fired=True)
            self._add(state, event)
            if self.late_mode == "each" or state.version == 0:
                # A window that never fired fires at once, as its on-time pane would
                # have; ``every`` only throttles the late panes after a first firing.
                self._emit(state, "late")
            elif state.timer_at is None:
                self._set_timer(state, self.late_every)
            return "late"
        if action == "drop":
            self._side(event, group, start, end, w, "drop")
            return "dropped"
        if action == "recompute":
            self.recompute_windows.add((group, start, end))
        self._side(event, group, start, end, w, action)
        return "side_output"

    def _route_session(self, event: Event, group: str, w: int) -> str:
        ts = event.event_time_ms
        proto = (ts, ts + self.spec.window.gap_ms)
        live = self.sessions.setdefault(group, [])
        touching = [s for s in live if windows_touch((s.start, s.end), proto)]
        start = min([proto[0]] + [s.start for s in touching])
        end = max([proto[1]] + [s.end for s in touching])
        if w < end:
            if len(touching) == 1 and (touching[0].start, touching[0].end) == (start, end):
                state = touching[0]
            elif touching:
                state = self._merge_sessions(group, touching, start, end, fired=False)
            else:
                state = self._open((group, start, end), fired=False)
                live.append(state)
            self._add_on_time(state, event)
            outcome = "on_time"
        else:
            outcome = self._route_late(event, group, start, end, w, touching)
        self._pair_counts[_RANK[outcome]] += 1
        return outcome

    def _merge_sessions(
        self, group: str, parts: list[WindowState], start: int, end: int, fired: bool
    ) -> WindowState:
        live = self.sessions.setdefault(group, [])
        if len(parts) == 1 and (parts[0].start, parts[0].end) == (start, end):
            return parts[0]
        merged = self._open((group, start, end), fired=fired)
        timers = [p.timer_at for p in parts if p.timer_at is not None]
        for part in parts:
            merged.absorb(part)
            merged.pending = merged.pending or part.pending
            live.remove(part)
            del self.windows[(group, part.start, part.end)]
            if part.version:
                self._supersessions.append(
                    Supersession(
                        group,
                        (part.start, part.end),
                        (start, end),
                        self.processing_time_ms,
                        self.watermarks.current,
                        part.version,
                    )
                )
        live.append(merged)
        if timers and not fired and self.early == "after-first":
            merged.timer_at = min(timers)
            heapq.heappush(self._timers, (merged.timer_at, end, start, group, next(self._seq)))
        return merged

    # ------------------------------------------------------------------ state
    def _open(self, key: tuple[str, int, int], fired: bool) -> WindowState:
        group, start, end = key
        state = WindowState(group, start, end, self.keep_detail)
        if self.track:
            state.added = []
        state.fired_on_time = fired
        self.windows[key] = state
        if not fired:
            heapq.heappush(self._fire_heap, (end, start, group))
        heapq.heappush(self._cleanup_heap, (end + self.max_lateness, end, start, group))
        return state

    def _add(self, state: WindowState, event: Event) -> None:
        state.add(event)
        if state.added is not None:
            state.added.append(event.event_id)

    def _add_on_time(self, state: WindowState, event: Event) -> None:
        self._add(state, event)
        if self.early == "per-record":
            self._emit(state, "early")
        elif self.early == "after-first" and state.timer_at is None:
            self._set_timer(state, self.early_delay)

    def _set_timer(self, state: WindowState, delay: int) -> None:
        base = self.processing_time_ms if self.processing_time_ms is not None else 0
        state.timer_at = base + delay
        heapq.heappush(
            self._timers, (state.timer_at, state.end, state.start, state.group, next(self._seq))
        )

    def _fire_timer(self, state: WindowState) -> None:
        state.timer_at = None
        if not state.pending:
            return
        if state.fired_on_time:
            self._emit(state, "late")
        else:
            self._emit(state, "early")

    def _side(self, event: Event, group: str, start: int, end: int, w: int, action: str) -> None:
        self._late.append(
            LateEvent(  # positional, in the fields' order (keywords cost more per event)
                event.event_id,
                event.source,
                start,
                end,
                group,
                action,
                w - end,
                w,
                self.processing_time_ms,
                event.event_time_ms,
                event.amount_cents,
            )
        )

    # ------------------------------------------------------------------ firing
    def _on_watermark(self, w: int) -> None:
        heap = self._fire_heap
        windows = self.windows
        while heap and heap[0][0] <= w:
            end, start, group = heapq.heappop(heap)
            state = windows.get((group, start, end))
            if state is not None and not state.fired_on_time:
                state.fired_on_time = True
                state.timer_at = None  # an early pane still pending is superseded
                self._emit(state, "on_time", is_last=end + self.max_lateness <= w)
        cleanup = self._cleanup_heap
        while cleanup and cleanup[0][0] <= w:
            _, end, start, group = heapq.heappop(cleanup)
            state = windows.pop((group, start, end), None)
            if state is None:
                continue
            if state.pending and state.fired_on_time:
                self._emit(state, "late", is_last=True)
            if self.merging:
                live = self.sessions.get(group)
                if live is not None and state in live:
                    live.remove(state)

    def _emit(self, state: WindowState, timing: str, is_last: bool = False) -> None:
        """Fire ``state``: count the pane, publish it (engine.core.panes), reset the
        trigger's pending flag."""
        state.version += 1
        if timing == "late":
            state.late_versions += 1
        added = ()
        if state.added is not None:
            added = tuple(state.added)
            state.added = []
        pane = make_pane(
            state,
            self.spec.metrics,
            timing,
            self.processing_time_ms,
            self.watermarks.current,
            is_last,
            added,
        )
        state.last_values = pane.values
        state.pending = False
        self._versions.append(pane)

    # ------------------------------------------------------------------ metrics
    def state_size(self) -> dict:
        return {
            "open_windows": len(self.windows),
            "groups": len({k[0] for k in self.windows}),
            "buffered_events": sum(s.count for s in self.windows.values()),
            "pending_timers": sum(1 for s in self.windows.values() if s.timer_at is not None),
        }

    def metrics(self) -> dict:
        proc = self.processing_time_ms
        return {
            "outcomes": self.outcomes.to_dict(),
            "watermark_ms": self.watermarks.current,
            "processing_time_ms": proc,
            "per_key_watermarks_ms": self.watermarks.per_key(),
            "idle_keys": self.watermarks.idle_keys(proc),
            "state": self.state_size(),
            "recompute_windows": len(self.recompute_windows),
            "arrival_delay_ms": percentiles(self.arrival_delays_ms),
            "watermark_lateness_ms": percentiles(self.watermark_lateness_ms),
        }
