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
from engine.core.spec import PipelineSpec, WatermarkSpec, WindowSpec
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
ACTION_WORDS = {
    "side_output": "queued in the side output for a batch patch",
    "recompute": "queued, and its window flagged for a recompute from the raw log",
    "drop": "dropped (counted and logged)",
    "max_updates": "sent to the side output: the window had used its max updates",
    "too_late": "sent to the side output: the window's state was gone",
}
PANE_COLUMNS = [
    "window_start_ms",
    "window_end_ms",
    "version",
    "timing",
    "processing_time_ms",
    "watermark_ms",
    "value",
    "delta",
    "event_count",
    "added_ids",
    "at_end",
    "superseded",
    "superseded_by_start_ms",
    "superseded_by_end_ms",
]
POINT_COLUMNS = [
    "event_id",
    "event_time_ms",
    "arrival_time_ms",
    "value",
    "key",
    "w_before_ms",
    "outcome",
    "klass",
]


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
        pts["detail"] = _details(log, pts["event_id"])
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

    panes = _panes_frame(versions, supersessions)
    points = pd.DataFrame(point_rows, columns=POINT_COLUMNS)
    pair_log = _pair_log(versions, late)
    points["detail"] = _details(pair_log, points["event_id"])
    times = sorted({*[s[0] for s in steps], *panes["processing_time_ms"].dropna().astype(int)})
    return PlaygroundRun(
        config=config,
        points=points,
        pair_log=pair_log,
        watermark=pd.DataFrame(wm_rows, columns=["processing_time_ms", "watermark_ms"]),
        key_watermarks=pd.DataFrame(
            key_rows, columns=["processing_time_ms", "key", "watermark_ms", "idle"]
        ),
        panes=panes,
        windows=_windows_frame(panes, late, spec),
        late_events=_late_frame(late),
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


def _panes_frame(versions, supersessions) -> pd.DataFrame:
    superseded = {(s.old[0], s.old[1]): s.new for s in supersessions}
    rows = []
    for v in versions:
        new = superseded.get((v.window_start_ms, v.window_end_ms))
        rows.append(
            {
                "window_start_ms": v.window_start_ms,
                "window_end_ms": v.window_end_ms,
                "version": v.version,
                "timing": v.timing,
                "processing_time_ms": v.processing_time_ms,
                "watermark_ms": v.watermark_ms,
                "value": v.values["revenue"],
                "delta": v.deltas["revenue"],
                "event_count": v.event_count,
                "added_ids": ", ".join(v.added_ids),
                "at_end": v.watermark_ms >= POS_INF_MS,
                "superseded": new is not None,
                "superseded_by_start_ms": new[0] if new else None,
                "superseded_by_end_ms": new[1] if new else None,
            }
        )
    return pd.DataFrame(rows, columns=PANE_COLUMNS)


def _windows_frame(panes: pd.DataFrame, late, spec: PipelineSpec) -> pd.DataFrame:
    rows: dict[tuple[int, int], dict] = {}
    for r in panes.itertuples():
        key = (r.window_start_ms, r.window_end_ms)
        rows[key] = {
            "window_start_ms": key[0],
            "window_end_ms": key[1],
            "versions": r.version,
            "last_value": r.value,
            "superseded": bool(r.superseded),
        }
    for x in late:
        key = (x.window_start_ms, x.window_end_ms)
        rows.setdefault(
            key,
            {
                "window_start_ms": key[0],
                "window_end_ms": key[1],
                "versions": 0,
                "last_value": None,
                "superseded": False,
            },
        )
    cols = ["window_start_ms", "window_end_ms", "versions", "last_value", "superseded"]
    frame = pd.DataFrame(
        sorted(rows.values(), key=lambda r: (r["window_start_ms"], r["window_end_ms"])),
        columns=cols,
    )
    # the operator keeps a window's state until W >= end + allowed lateness
    frame["state_until_ms"] = frame["window_end_ms"] + spec.max_lateness_ms()
    return frame


LATE_COLUMNS = [
    "event_id",
    "window_start_ms",
    "window_end_ms",
    "action",
    "late_by_ms",
    "watermark_ms",
    "processing_time_ms",
    "event_time_ms",
    "amount",
]


def _late_frame(late) -> pd.DataFrame:
    """The side-output records (``LateEvent``), times kept as epoch ms."""
    rows = [
        {
            "event_id": x.event_id,
            "window_start_ms": x.window_start_ms,
            "window_end_ms": x.window_end_ms,
            "action": x.action,
            "late_by_ms": x.late_by_ms,
            "watermark_ms": x.watermark_ms,
            "processing_time_ms": x.processing_time_ms,
            "event_time_ms": x.event_time_ms,
            "amount": x.amount_cents / 100,
        }
        for x in late
    ]
    return pd.DataFrame(rows, columns=LATE_COLUMNS)


def _pair_log(versions, late) -> pd.DataFrame:
    """Every (event, window) pair, as the operator reported it, with when."""
    rows = []
    for v in versions:
        for event_id in v.added_ids:
            rows.append(
                {
                    "event_id": event_id,
                    "at_ms": v.processing_time_ms,
                    "at_end": v.watermark_ms >= POS_INF_MS,
                    "text": f"[{clock_text(v.window_start_ms)}, {clock_text(v.window_end_ms)}): "
                    f"{v.timing.replace('_', ' ')} pane v{v.version}",
                }
            )
    for x in late:
        rows.append(
            {
                "event_id": x.event_id,
                "at_ms": x.processing_time_ms,
                "at_end": False,
                "text": f"[{clock_text(x.window_start_ms)}, {clock_text(x.window_end_ms)}): "
                f"{x.action.replace('_', ' ')} (late by {x.late_by_ms / SECOND_MS:g} s)",
            }
        )
    return pd.DataFrame(rows, columns=["event_id", "at_ms", "at_end", "text"])


def _details(log: pd.DataFrame, event_ids) -> list[str]:
    """Per event, its pairs so far joined in one text."""
    told: dict[str, list[str]] = {}
    for eid, text in zip(log["event_id"], log["text"], strict=True):
        told.setdefault(eid, []).append(text)
    return ["; ".join(told[e]) if e in told else "not in any pane yet" for e in event_ids]


# ---------------------------------------------------------------------- words
def narrate(run: PlaygroundRun, snap: PlaygroundSnapshot) -> list[str]:
    """The operator's account of every event that has arrived by the snapshot, in
    arrival order, in plain words — what the page shows under any knob setting."""
    late = run.late_events
    lines = []
    for p in snap.points.sort_values(["arrival_time_ms", "event_id"]).itertuples():
        w = "not set yet" if p.w_before_ms is None or pd.isna(p.w_before_ms) else None
        w = w or clock_text(int(p.w_before_ms))
        head = (
            f"**{p.event_id}** happened at {clock_text(p.event_time_ms)} and arrived at "
            f"{clock_text(p.arrival_time_ms)}, when the watermark was {w}: "
        )
        if p.klass == "on_time":
            body = "on time — its window had not fired."
        elif p.klass == "behind_watermark":
            body = (
                "behind the watermark (the chapter's rule would call it late), but its "
                "window had not fired yet, so it is on time."
            )
        elif p.klass == "late_updated":
            body = "late — its window had fired; a late pane updated the result."
        else:
            actions = late.loc[late["event_id"] == p.event_id, "action"].unique().tolist()
            words = "; ".join(ACTION_WORDS.get(a, a) for a in actions) or "kept out"
            prefix = "too late — " if p.klass == "too_late" else "late — its window had fired; "
            body = prefix + words + "."
        lines.append(head + body)
    return lines


def bucketing(events, size_ms: int) -> pd.DataFrame:
    """The same events bucketed by event time and by processing time, both through
    the operator: tumbling windows of ``size_ms`` over the events as they are, and over
    the events re-stamped with their arrival time (what a processing-time pipeline
    does). One row per event: its window each way and whether it moved."""
    spec = PipelineSpec(
        window=WindowSpec(kind="tumbling", size_ms=size_ms),
        watermark=WatermarkSpec(kind="punctuated"),  # no W until the end: nothing late
        metrics=("revenue", "events"),
    )
    rows = {e.event_id: {"event_id": e.event_id} for e in events}
    for name, stamp in (("event", "event_time_ms"), ("processing", "arrival_time_ms")):
        op = WindowOperator(spec, track_contributions=True, collect_lateness=False)
        for e in sorted(events, key=lambda x: x.arrival_time_ms):
            op.process(replace(_event(e), event_time_ms=getattr(e, stamp)))
        op.finish()
        versions, _ = op.drain()
        for v in versions:
            for eid in v.added_ids:
                rows[eid][f"{name}_window_ms"] = v.window_start_ms
    frame = pd.DataFrame(list(rows.values()))
    by_id = {e.event_id: e for e in events}
    frame["event_time_ms"] = [by_id[i].event_time_ms for i in frame["event_id"]]
    frame["arrival_time_ms"] = [by_id[i].arrival_time_ms for i in frame["event_id"]]
    frame["value"] = [by_id[i].amount for i in frame["event_id"]]
    frame["moved"] = frame["event_window_ms"] != frame["processing_window_ms"]
    return frame


def bucket_totals(frame: pd.DataFrame) -> pd.DataFrame:
    """Per window: events and value by event time and by processing time."""
    by_event = frame.groupby("event_window_ms").agg(
        by_event_time=("event_id", "size"), value_by_event_time=("value", "sum")
    )
    by_proc = frame.groupby("processing_window_ms").agg(
        by_processing_time=("event_id", "size"), value_by_processing_time=("value", "sum")
    )
    out = by_event.join(by_proc, how="outer").fillna(0).rename_axis("window_start_ms")
    return out.reset_index().astype({"by_event_time": int, "by_processing_time": int})


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
    "bucket_totals",
    "bucketing",
    "clock_ms",
    "clock_text",
    "events_from_table",
    "events_table",
    "narrate",
    "perfect_watermarks",
    "point_class",
    "run_playground",
    "run_preset",
    "watermarks_from_table",
    "watermarks_table",
]
