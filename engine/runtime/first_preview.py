"""Today's live numbers on a first start, seconds before the replay reaches them.

A first start replays the simulated past week through the real pipeline, in
arrival order, writing every version; that takes a while. The numbers Today
opens with — today's live value and yesterday's at this time — need none of that
history: until the watermark passes a day's end, its window holds every accepted
event of the day that arrived, and publishes it in early ``after-first`` panes
whose timing depends only on those events' arrival times (the operator's rules,
``engine.core.operator``):

- the first on-time element sets a timer ``D`` of processing time after its
  arrival; the timer fires before any record that reaches it (or when the catch-up
  moves processing time past it), publishing every element that arrived before it;
- the next element — at or after the firing — sets the next timer.

So the live value at a time ``t`` is the sum over the elements that arrived before
the last timer due at or before ``t``. ``FirstStartPreview`` computes it from the
same simulated arrivals the catch-up will ingest — validated and de-duplicated on
event id as the ingest does — in about a second.
Where it cannot be sure (the watermark could already have passed the day's end, a
configuration it does not cover), it answers ``None`` and the page waits for the
replay. ``tests/test_first_preview.py`` holds it equal to what the store says once
the replay is done.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

from engine.core.events import ORDER_TYPE, ParseOptions
from engine.core.spec import PipelineSpec
from engine.core.timeutil import DAY_MS, business_day_bounds, business_day_of
from engine.ingest.frame import validate_frame_columns
from engine.sim.simulator import LiveFeed

METRICS = ("revenue_cents", "orders", "items")
ALL_GROUPS = "*"


def supported(spec: PipelineSpec, tz: str) -> bool:
    """The daily series this preview can reproduce: business days in ``tz``, early
    panes ``after-first`` (or per record, or none), groups all and/or by source."""
    return (
        spec.window.kind == "day"
        and spec.window.tz == tz
        and spec.trigger.early in ("after-first", "per-record", "none")
        and spec.group_by in ("none", "source", "all+source")
        and spec.watermark.kind in ("bounded", "per-key", "processing-time")
    )


def accepted_arrivals(state: dict, until_ms: int, from_ms: int) -> pd.DataFrame:
    """What a catch-up from ``state`` (a first start's runtime state) accepts into the
    raw log up to ``until_ms`` of the events timed at or after ``from_ms``, in arrival
    order: the simulator's arrivals under the simulator feed's parse options, repeats
    of an accepted event id dropped (ids are unique per simulated day, and a retry
    repeats its day's event, so the days generated are all an id can come from)."""
    feed = LiveFeed(
        state["scenario"],
        seed=state["feed_seed"],
        start_ms=state["feed_start_ms"],
        events_per_day=state.get("events_per_day"),
    )
    # Run day k holds the events whose true time falls in [start + k day, + 1 day); a
    # device clock running ahead moves an event's time later by at most the scenario's
    # skew (one running behind moves it earlier: its true time is later still).
    skew = feed.gen.scenario.clock_skew
    ahead = int(skew.future_ms[1]) if skew is not None else 0
    first_day = (from_ms - ahead - state["feed_start_ms"]) // DAY_MS
    feed.skip_to_day(max(int(first_day), 0))
    frame = feed.arrivals_until(until_ms)
    # The ingest's rules read its clock only for a row without an arrival time, which
    # the simulator never sends: one validation of the whole frame decides as each
    # catch-up step's did (a row without one would get the target as its arrival).
    rows, _ = validate_frame_columns(
        frame, ParseOptions(max_future_ms=DAY_MS), state["catch_up_to_ms"]
    )
    out = pd.DataFrame(
        {
            "event_id": rows.event_id,
            "source": rows.source,
            "event_time_ms": np.asarray(rows.event_time_ms, np.int64),
            "arrival_time_ms": np.asarray(rows.arrival_time_ms, np.int64),
            "amount_cents": np.asarray(rows.amount_cents, np.int64),
            "items": np.asarray(rows.items, np.int64),
            "event_type": rows.event_type,
        }
    )
    out = out[~out["event_id"].duplicated(keep="first")]
    return out[out["event_time_ms"].to_numpy() >= from_ms].reset_index(drop=True)


@dataclass
class FirstStartPreview:
    """The daily series' live values, from the accepted arrivals (``accepted_arrivals``)."""

    events: pd.DataFrame  # accepted, timed at or after ``from_ms``
    from_ms: int
    spec: PipelineSpec
    tz: str

    def _watermark_bound(self, until_ms: int) -> int:
        """An upper bound of the watermark after the records arrived by ``until_ms``
        (every strategy covered keeps W at or below the largest event time less the
        smallest delay, or at processing time less the delay)."""
        wm = self.spec.watermark
        if wm.kind == "processing-time":
            return until_ms - wm.delay_ms
        e = self.events
        seen = e["event_time_ms"].to_numpy()[e["arrival_time_ms"].to_numpy() <= until_ms]
        if not len(seen):
            return -(2**62)
        delay = min([wm.delay_ms, *(d for _, d in wm.source_delays_ms)])
        return int(seen.max()) - delay

    def live_at(self, t_ms: int, grp: str = ALL_GROUPS) -> dict | None:
        """The business day's live values (``METRICS``) as published at processing time
        ``t_ms`` for the day containing it, in group ``grp``; ``None`` when not sure.
        A day whose window had published nothing yet has ``None`` values."""
        day = business_day_of(t_ms, self.tz)
        start, end = business_day_bounds(day, self.tz)
        if start < self.from_ms or self._watermark_bound(t_ms) >= end:
            return None  # the day may have fired on time: its value is the operator's
        e = self.events
        et = e["event_time_ms"].to_numpy()
        arrival = e["arrival_time_ms"].to_numpy()
        mask = (et >= start) & (et < end) & (arrival <= t_ms)
        if grp != ALL_GROUPS:
            if self.spec.group_by == "none":
                return None
            mask &= e["source"].to_numpy() == grp
        elif self.spec.group_by == "source":
            return None
        proc = arrival[mask]
        n = self._published(proc, t_ms)
        if n == 0:
            return dict.fromkeys(METRICS)
        return {
            "revenue_cents": int(e["amount_cents"].to_numpy()[mask][:n].sum()),
            "orders": int((e["event_type"].to_numpy()[mask][:n] == ORDER_TYPE).sum()),
            "items": int(e["items"].to_numpy()[mask][:n].sum()),
        }

    def _published(self, proc: np.ndarray, t_ms: int) -> int:
        """How many of a window's elements (arrival times ``proc``, ascending) its
        last pane published by ``t_ms``."""
        early = self.spec.trigger.early
        if early == "none" or not len(proc):
            return 0
        if early == "per-record":
            return len(proc)
        delay = max(int(self.spec.trigger.early_delay_ms), 1)  # D = 0 waits for time to move
        published, i = 0, 0
        while i < len(proc):
            due = int(proc[i]) + delay
            if due > t_ms:
                break
            published = i = int(np.searchsorted(proc, due, side="left"))
        return published


def first_start_preview(state: dict, spec: PipelineSpec, tz: str) -> FirstStartPreview | None:
    """The preview for a runtime still catching up from a first start (``None`` when
    it is not, or its daily series is not one ``supported``)."""
    target = state.get("catch_up_to_ms")
    if not target or state.get("simulator") is False or not supported(spec, tz):
        return None
    yesterday = business_day_of(target, tz) - timedelta(days=1)
    from_ms = business_day_bounds(yesterday, tz)[0]
    return FirstStartPreview(accepted_arrivals(state, target, from_ms), from_ms, spec, tz)


class PreviewKeeper:
    """One runtime's preview, computed once per first start (per target time, scenario
    and feed) under its own lock: a page and the first catch-up tick may both ask."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: tuple[tuple, FirstStartPreview | None] | None = None

    def get(self, state: dict, spec: PipelineSpec | None, tz: str) -> FirstStartPreview | None:
        target = state.get("catch_up_to_ms")
        if not target or spec is None:
            return None
        key = (target, state.get("scenario"), state.get("feed_seed"), state.get("feed_start_ms"))
        with self._lock:
            if self._kept is None or self._kept[0] != key:
                self._kept = (key, first_start_preview(state, spec, tz))
            return self._kept[1]


__all__ = [
    "FirstStartPreview",
    "PreviewKeeper",
    "accepted_arrivals",
    "first_start_preview",
    "supported",
]
