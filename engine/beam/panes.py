"""From Beam panes to latewatch versions: the bookkeeping, without Beam.

``PaneBook`` is the state of one key of the transform's keyed step — one
(group, window) for non-merging windows, one group for sessions. It receives

- panes (DISCARDING contents, the pane index and its timing from ``PaneInfo``) and
  turns each published one into a ``Version`` with accumulated values, deltas and
  the ids of the events it added; late panes of sources whose late action is not
  ``update`` (or past ``max_updates_per_window``) become late-event records instead;
- "entered" notes: every (event, window) pair that went into Beam's windowing;
- expiry: once the watermark reached ``end + L``, Beam has dropped every pair it was
  going to drop, so each entered pair that no pane carried is reported as
  ``too_late``. Nothing that entered vanishes without a record.

Plain Python (pickled as Beam state), so it is unit-testable without a runner.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.events import Event
from engine.core.panes import pane_deltas, pane_values
from engine.core.results import LateEvent, Version
from engine.core.spec import PipelineSpec
from engine.core.timeutil import POS_INF_MS
from engine.core.window_state import WindowState

TIMINGS = {0: "early", 1: "on_time", 2: "late", 3: "late"}  # PaneInfoTiming -> timing
_DETAIL_METRICS = ("avg_order_value", "median_order_value", "distinct_users")
# Values and deltas are engine.core.panes' (the operator's own definitions); the
# accumulator is the operator's WindowState.


@dataclass(frozen=True)
class Supersession:
    """Session ``old`` of ``group`` was merged by Beam into ``new`` (seen in a pane)."""

    group: str
    old: tuple[int, int]
    new: tuple[int, int]
    old_versions: int


@dataclass(frozen=True)
class PaneTiming:
    """Processing time and watermark of a pane, where the runner gives them."""

    processing_time_ms: int | None = None
    watermark_ms: int | None = None


class PaneBook:
    def __init__(self, spec: PipelineSpec, group: str, merging: bool) -> None:
        self.spec = spec
        self.group = group
        self.merging = merging
        self.detail = any(m in spec.metrics for m in _DETAIL_METRICS)
        self.lateness = spec.allowed_lateness_ms
        self.windows: dict[tuple[int, int], WindowState] = {}
        self.ids: dict[tuple[int, int], set[str]] = {}  # events each window's panes carried
        self.pending: dict[str, tuple[Event, int, int]] = {}  # entered, no pane yet
        self.next_index: dict[tuple[int, int], int] = {}
        self.stash: dict[tuple[int, int, int], tuple] = {}  # panes that overtook others

    # -- inputs ----------------------------------------------------------------
    def entered(self, event: Event, start: int, end: int) -> None:
        if any(event.event_id in ids for ids in self.ids.values()):
            return
        self.pending[event.event_id] = (event, start, end)

    def offer(
        self, start: int, end: int, index: int, timing: str, is_last: bool, events, at=None
    ) -> tuple[list[Version], list[LateEvent], list[Supersession]]:
        """A pane in any order: panes of a non-merging window are applied in pane-index
        order (a shuffle may reorder them on a distributed runner); Beam restarts the
        index of a merged session, so merging windows apply panes as they come."""
        at = at or PaneTiming()
        if self.merging:
            return self.pane(start, end, timing, is_last, events, at)
        self.stash[(start, end, index)] = (timing, is_last, events, at)
        out: tuple[list, list, list] = ([], [], [])
        nxt = self.next_index.get((start, end), 0)
        while (start, end, nxt) in self.stash:
            got = self.pane(start, end, *self.stash.pop((start, end, nxt)))
            for bucket, items in zip(out, got, strict=True):
                bucket.extend(items)
            nxt += 1
        self.next_index[(start, end)] = nxt
        return out

    def pane(
        self,
        start: int,
        end: int,
        timing: str,
        is_last: bool,
        events: list[Event],
        at: PaneTiming = PaneTiming(),
    ) -> tuple[list[Version], list[LateEvent], list[Supersession]]:
        supersessions: list[Supersession] = []
        acc = self.windows.get((start, end))
        if acc is None:
            acc = self.windows[(start, end)] = WindowState(self.group, start, end, self.detail)
            self.ids[(start, end)] = set()
        ids = self.ids[(start, end)]
        if self.merging:
            for key in list(self.windows):
                old = self.windows[key]
                if old is not acc and start <= old.start and old.end <= end:
                    acc.absorb(old)
                    ids |= self.ids.pop(key)
                    del self.windows[key]
                    if old.version:
                        supersessions.append(
                            Supersession(self.group, key, (start, end), old.version)
                        )
        publish: list[Event] = []
        side: list[LateEvent] = []
        for event in events:
            self.pending.pop(event.event_id, None)
            if timing == "late":
                action = self._action(event.source, acc)
                if action == "update" and (
                    self.spec.max_updates_per_window is not None
                    and acc.late_versions >= self.spec.max_updates_per_window
                ):
                    action = "max_updates"
                if action != "update":
                    ids.add(event.event_id)  # accounted for: not a too-late pair
                    side.append(self._late(event, start, end, action, at))
                    continue
            publish.append(event)
        versions: list[Version] = []
        if timing == "on_time" or publish:
            for event in publish:
                acc.add(event)
                ids.add(event.event_id)
            versions.append(self._version(acc, timing, is_last, publish, at))
        return versions, side, supersessions

    def expire(self, now_ms: int) -> list[LateEvent]:
        """The watermark reached ``now_ms``: report entered pairs no pane carried whose
        window expired, and forget expired windows."""
        out = []
        cover = self._covers()
        for event_id, (event, start, end) in list(self.pending.items()):
            window = cover.get(event_id, (start, end))
            if window[1] + self.lateness <= now_ms:
                out.append(self._late(event, window[0], window[1], "too_late", PaneTiming()))
                del self.pending[event_id]
        for key in [k for k in self.windows if k[1] + self.lateness <= now_ms]:
            del self.windows[key]
            self.ids.pop(key, None)
            self.next_index.pop(key, None)
        return out

    def next_expiry(self) -> int | None:
        ends = [end for _, end in self.windows]
        ends += [end for _, end in self._covers().values()]
        ends += [end for _, _, end in self.pending.values()]
        ends = [end for end in ends if end < POS_INF_MS]
        return min(ends) + self.lateness if ends else None

    def empty(self) -> bool:
        return not self.windows and not self.pending

    # -- helpers ---------------------------------------------------------------
    def _covers(self) -> dict[str, tuple[int, int]]:
        """Sessions: the window each pending pair could still end up in — its proto-window
        merged (as Beam merges: overlapping, window.py ``end > w.start``) with the other
        pending proto-windows and the sessions panes showed. A pair no pane carried once
        the watermark passed that window's end + L was dropped: had Beam kept it, the
        window's on-time pane (at its end) would have carried it."""
        if not self.merging or not self.pending:
            return {}
        spans = [(s, e, eid) for eid, (_, s, e) in self.pending.items()]
        spans += [(s, e, None) for s, e in self.windows]
        spans.sort(key=lambda x: x[0])
        out: dict[str, tuple[int, int]] = {}
        group: list = []
        start = end = None
        for s, e, eid in spans + [(POS_INF_MS, POS_INF_MS, None)]:
            if group and s >= end:
                out.update({g: (start, end) for g in group if g is not None})
                group = []
            if not group:
                start, end = s, e
            end = max(end, e)
            group.append(eid)
        return out

    def _action(self, source: str, acc: WindowState) -> str:
        """Late ``none``: a window that never fired takes its first (late) pane, as
        Beam's AfterWatermark fires it (engine.core.operator); after that, late
        updates are queued."""
        action = self.spec.action_for(source)
        if action == "update" and self.spec.trigger.late == "none" and acc.version:
            return "side_output"
        return action

    def _late(self, event: Event, start: int, end: int, action: str, at: PaneTiming) -> LateEvent:
        return LateEvent(
            event_id=event.event_id,
            source=event.source,
            window_start_ms=start,
            window_end_ms=end,
            group=self.group,
            action=action,
            late_by_ms=None if at.watermark_ms is None else at.watermark_ms - end,
            watermark_ms=at.watermark_ms,
            processing_time_ms=at.processing_time_ms,
            event_time_ms=event.event_time_ms,
            amount_cents=event.amount_cents,
        )

    def _version(
        self, acc: WindowState, timing: str, is_last: bool, added: list[Event], at: PaneTiming
    ) -> Version:
        values = pane_values(acc, self.spec.metrics)
        deltas = pane_deltas(acc, values)
        acc.version += 1
        if timing == "late":
            acc.late_versions += 1
        acc.last_values = values
        acc.pending = False
        return Version(
            window_start_ms=acc.start,
            window_end_ms=acc.end,
            group=self.group,
            version=acc.version,
            timing=timing,
            processing_time_ms=at.processing_time_ms,
            watermark_ms=at.watermark_ms,
            values=values,
            deltas=deltas,
            event_count=acc.count,
            is_first=acc.version == 1,
            is_last=is_last,
            added_ids=tuple(e.event_id for e in added),
        )
