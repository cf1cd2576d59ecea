"""The watermark playground's engine side: tiny event streams run through the real
``WindowOperator`` and shaped into the picture of the Dataflow model (event time on
x, processing time on y).

Why a module: the playground teaches the semantics the rest of latewatch runs on,
so it must not have its own. Everything here drives ``engine.core.operator`` and only
*reads* what it emits — record outcomes, ``Version`` panes (with ``added_ids``:
which events entered which pane), ``LateEvent`` side-output records, session
supersessions and each key's watermark. The page draws these frames; it never
decides what is late. Inputs and knobs live in ``playground_inputs``, the presets in
``playground_presets``.

A point's class comes from the operator's record outcome plus the watermark the
event was routed against (``w_before``):

- ``on_time``          outcome on_time and ``event_time >= W`` (or no W yet);
- ``behind_watermark`` outcome on_time but ``event_time < W``: out of order, yet
  its window had not fired, so it is still on time (the design's routing rule);
- ``late_updated``     outcome late: the window had fired; a late pane updated it;
- ``late_side``        outcome side_output / dropped: late, kept out of the result;
- ``too_late``         outcome too_late: ``W >= end + allowed lateness``.

Order within one processing-time instant: events first, then watermark records,
then the instant's timers (the operator fires due timers before a later record).
An event is never judged against a watermark that arrived with it.

``PlaygroundRun.at(t)`` is what had happened by processing time ``t``: only events
that had arrived, only panes and side-output records emitted by then — stepping
never shows an outcome before its event arrives.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pandas as pd

from engine.analysis.playground_frames import (
    POINT_COLUMNS,
    details,
    late_frame,
    pair_log,
    panes_frame,
    windows_frame,
)
from engine.analysis.playground_inputs import (
    ACCUMULATION_MODES,
    EARLY_MODES,
    LATE_ACTIONS,
    PRESET_DATE,
    WATERMARK_MODES,
    WINDOW_KINDS,
    PlayEvent,
    PlaygroundConfig,
    WatermarkPoint,
    clock_ms,
    clock_text,
    events_from_table,
    events_table,
    watermarks_from_table,
    watermarks_table,
)
from engine.analysis.playground_presets import PRESETS, Preset
from engine.core.events import Event
from engine.core.operator import WindowOperator
from engine.core.spec import PipelineSpec
from engine.core.timeutil import NEG_INF_MS, POS_INF_MS, SECOND_MS
from engine.core.windows import WindowAssigner

POINT_CLASSES = ("on_time", "behind_watermark", "late_updated", "late_side", "too_late")
POINT_LABELS = {
    "on_time": "on time",
    "behind_watermark": "behind the watermark, still on time",
    "late_updated": "late (updated the result)",
    "late_side": "late (kept out: side output / dropped)",
    "too_late": "too late (window state gone)",
}
_OUTCOME_CLASS = {
    "late": "late_updated",
    "side_output": "late_side",
    "dropped": "late_side",
    "too_late": "too_late",
}


# ---------------------------------------------------------------------- the run
@dataclass
class PlaygroundRun:
    """What the operator did, as frames for the picture (all times epoch ms).

    - ``points``: one row per event — event/arrival time, value, key, ``w_before``,
      the operator's record ``outcome``, the point ``klass`` and a ``detail`` text
      listing every (event, window) pair as it ended up;
    - ``pair_log``: the same pairs one per row, with the processing time they
      happened (``at_ms``), so a snapshot only tells what had happened by then;
    - ``watermark``: (processing_time_ms, watermark_ms) after every step (finite W);
    - ``key_watermarks``: per-key mode: each key's watermark and whether it was idle
      after every step;
    - ``panes``: one row per emitted version, with ``value`` (accumulated) and
      ``delta`` (the discarding-mode contents), ``at_end`` for panes fired by the
      end-of-input watermark, and ``superseded`` for merged-away sessions;
    - ``windows``: every window that held an event or was named by a late event,
      with ``state_until_ms`` (end + allowed lateness: from there on, too late);
    - ``outcomes`` / ``pairs``: the operator's own counts; ``recompute_windows``:
      windows the recompute action flagged.
    """

    config: PlaygroundConfig
    points: pd.DataFrame
    pair_log: pd.DataFrame
    watermark: pd.DataFrame
    key_watermarks: pd.DataFrame
    panes: pd.DataFrame
    windows: pd.DataFrame
    late_events: pd.DataFrame
    outcomes: dict
    pairs: dict
    recompute_windows: int
    end_ms: int
    times_ms: list[int] = field(default_factory=list)

    def at(self, t_ms: int) -> PlaygroundSnapshot:
        """What had happened by processing time ``t_ms`` (the slider position)."""
        ended = t_ms >= self.end_ms
        pts = self.points.loc[self.points["arrival_time_ms"] <= t_ms].copy()
        log = self.pair_log
        log = log.loc[(log["at_ms"] <= t_ms) & (ended | ~log["at_end"].astype(bool))]
        pts["detail"] = details(log, pts["event_id"])
        panes = self.panes.loc[self.panes["processing_time_ms"] <= t_ms]
        if not ended:
            panes = panes.loc[~panes["at_end"].astype(bool)]
        wm = self.watermark.loc[self.watermark["processing_time_ms"] <= t_ms]
        keys = self.key_watermarks.loc[self.key_watermarks["processing_time_ms"] <= t_ms]
        current = int(wm["watermark_ms"].iloc[-1]) if len(wm) else None
        if ended and len(self.points):
            current = POS_INF_MS
        late = self.late_events.loc[self.late_events["processing_time_ms"] <= t_ms]
        return PlaygroundSnapshot(
            t_ms=t_ms,
            points=pts,
            panes=panes,
            watermark=wm,
            key_watermarks=keys,
            watermark_ms=current,
            not_arrived=len(self.points) - len(pts),
            late_events=late,
            ended=ended,
        )


@dataclass
class PlaygroundSnapshot:
    t_ms: int
    points: pd.DataFrame
    panes: pd.DataFrame
    watermark: pd.DataFrame
    key_watermarks: pd.DataFrame
    watermark_ms: int | None
    not_arrived: int
    late_events: pd.DataFrame
    ended: bool = False

    def counts(self) -> dict[str, int]:
        """Arrived events per point class (nothing counted before it arrived)."""
        vc = self.points["klass"].value_counts()
        return {k: int(vc.get(k, 0)) for k in POINT_CLASSES}

    def key_table(self) -> pd.DataFrame:
        """Per-key mode: each key's latest watermark and idleness at this instant."""
        k = self.key_watermarks
        if k.empty:
            return pd.DataFrame(columns=["key", "watermark_ms", "idle"])
        last = k[k["processing_time_ms"] == k["processing_time_ms"].max()]
        return last[["key", "watermark_ms", "idle"]].reset_index(drop=True)


def perfect_watermarks(events) -> list[WatermarkPoint]:
    """A perfect watermark: at each arrival instant W becomes the smallest event
    time still to arrive — it knows the future, so nothing is ever late and every
    window waits exactly as long as its slowest event (the cost it shows)."""
    arrivals = sorted({e.arrival_time_ms for e in events})
    points = []
    for at in arrivals:
        pending = [e.event_time_ms for e in events if e.arrival_time_ms > at]
        if pending:
            points.append(WatermarkPoint(at, min(pending)))
    return points


def _time_ticks(events, config: PlaygroundConfig, spec: PipelineSpec) -> list[int]:
    """Processing-time-only instants where the watermark moves without an event: a
    processing-time watermark passing each window's end, a key turning idle."""
    if not events:
        return []
    last = max(e.arrival_time_ms for e in events)
    ticks: set[int] = set()
    if config.watermark == "processing-time" and config.window != "session":
        assigner = WindowAssigner(spec.window)
        for e in events:
            for _, end in assigner.assign(e.event_time_ms):
                t = end + config.watermark_delay_ms
                if e.arrival_time_ms < t <= last + config.size_ms + config.watermark_delay_ms:
                    ticks.add(t)
    if config.watermark == "per-key" and config.idle_ms is not None:
        by_key: dict[str | None, list[int]] = {}
        for e in events:
            by_key.setdefault(e.key, []).append(e.arrival_time_ms)
        for arrivals in by_key.values():
            arrivals.sort()
            for a, b in zip(arrivals, [*arrivals[1:], None], strict=True):
                if b is None or b - a > config.idle_ms:
                    ticks.add(a + config.idle_ms + SECOND_MS)
    return sorted(ticks)


def _event(e: PlayEvent) -> Event:
    return Event(
        event_id=e.event_id,
        source="web",
        event_time_ms=e.event_time_ms,
        arrival_time_ms=e.arrival_time_ms,
        amount_cents=int(round(e.amount * 100)),
        key=e.key,
    )


def run_playground(events, config: PlaygroundConfig, watermarks=(), ticks_ms=()) -> PlaygroundRun:
    """Drive ``WindowOperator`` over the events (in arrival order) and shape its output.

    ``watermarks`` are used in ``drawn`` mode; ``perfect`` derives them from the
    events; the other modes let the operator's own generator move W (processing-time
    and per-key idleness also move it on clock ticks). After the last step,
    processing time advances by the early-firing delay (pending early panes fire, as
    they would on a ticking clock), then end of input fires the rest."""
    spec = config.spec()
    events = list(events)
    if config.watermark == "perfect":
        watermarks = perfect_watermarks(events)
    elif config.watermark != "drawn":
        watermarks = ()
    steps: list[tuple[int, int, int, object]] = []
    for i, e in enumerate(events):
        steps.append((e.arrival_time_ms, 0, i, e))
    for i, w in enumerate(watermarks):
        steps.append((w.at_ms, 1, i, w))
    for i, t in enumerate(sorted({*ticks_ms, *_time_ticks(events, config, spec)})):
        steps.append((t, 2, i, None))
    steps.sort(key=lambda s: (s[0], s[1], s[2]))
    last = steps[-1][0] if steps else 0
    if config.early == "after-first":
        steps.append((last + config.early_delay_ms, 2, len(steps), None))

    op = WindowOperator(spec, track_contributions=True, collect_lateness=False)
    point_rows: list[dict] = []
    wm_rows: list[dict] = []
    key_rows: list[dict] = []
    versions, late, supersessions = [], [], []

    def drain() -> None:
        v, lt = op.drain()
        versions.extend(v)
        late.extend(lt)
        supersessions.extend(op.drain_supersessions())

    for at, kind, _, payload in steps:
        op.advance_processing_time(at)
        if kind == 0:
            e: PlayEvent = payload
            w_before = op.watermark_ms
            outcome = op.process(_event(e))
            point_rows.append(
                {
                    "event_id": e.event_id,
                    "event_time_ms": e.event_time_ms,
                    "arrival_time_ms": e.arrival_time_ms,
                    "value": e.amount,
                    "key": e.key or "",
                    "w_before_ms": None if w_before <= NEG_INF_MS else w_before,
                    "outcome": outcome,
                    "klass": point_class(outcome, e.event_time_ms, w_before),
                }
            )
        elif kind == 1:
            op.advance_watermark(payload.watermark_ms)
        drain()
        if NEG_INF_MS < op.watermark_ms < POS_INF_MS:
            wm_rows.append({"processing_time_ms": at, "watermark_ms": op.watermark_ms})
        if config.watermark == "per-key":
            idle = set(op.watermarks.idle_keys(at))
            for key, mark in op.watermarks.per_key().items():
                key_rows.append(
                    {
                        "processing_time_ms": at,
                        "key": key or "-",
                        "watermark_ms": mark,
                        "idle": key in idle,
                    }
                )
    end_ms = steps[-1][0] if steps else 0
    op.finish()
    drain()

    panes = panes_frame(versions, supersessions)
    points = pd.DataFrame(point_rows, columns=POINT_COLUMNS)
    log = pair_log(versions, late)
    points["detail"] = details(log, points["event_id"])
    times = sorted({*[s[0] for s in steps], *panes["processing_time_ms"].dropna().astype(int)})
    return PlaygroundRun(
        config=config,
        points=points,
        pair_log=log,
        watermark=pd.DataFrame(wm_rows, columns=["processing_time_ms", "watermark_ms"]),
        key_watermarks=pd.DataFrame(
            key_rows, columns=["processing_time_ms", "key", "watermark_ms", "idle"]
        ),
        panes=panes,
        windows=windows_frame(panes, late, spec),
        late_events=late_frame(late),
        outcomes={k: v for k, v in op.outcomes.to_dict().items() if k != "pairs"},
        pairs=dict(op.outcomes.pairs),
        recompute_windows=len(op.recompute_windows),
        end_ms=end_ms,
        times_ms=[int(t) for t in times],
    )


def run_preset(preset: Preset | str, **changes) -> PlaygroundRun:
    """A preset as published, or with some of its config knobs changed."""
    p = PRESETS[preset] if isinstance(preset, str) else preset
    config = replace(p.config, **changes) if changes else p.config
    return run_playground(p.events, config, p.watermarks, p.ticks_ms)


def point_class(outcome: str, event_time_ms: int, w_before_ms: int) -> str:
    """The picture's colour for one record, from the operator's outcome."""
    if outcome == "on_time":
        return "behind_watermark" if event_time_ms < w_before_ms else "on_time"
    return _OUTCOME_CLASS[outcome]


__all__ = [
    "ACCUMULATION_MODES",
    "EARLY_MODES",
    "LATE_ACTIONS",
    "POINT_CLASSES",
    "POINT_LABELS",
    "PRESETS",
    "PRESET_DATE",
    "WATERMARK_MODES",
    "WINDOW_KINDS",
    "PlayEvent",
    "PlaygroundConfig",
    "PlaygroundRun",
    "PlaygroundSnapshot",
    "Preset",
    "WatermarkPoint",
    "clock_ms",
    "clock_text",
    "events_from_table",
    "events_table",
    "perfect_watermarks",
    "point_class",
    "run_playground",
    "run_preset",
    "watermarks_from_table",
    "watermarks_table",
]
