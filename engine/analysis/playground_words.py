"""Words and a second view for the playground's runs: ``narrate`` (the operator's
account of every event that has arrived, in plain words — what the playground and the
Learn page show under any knob setting) and ``bucketing`` (the same events bucketed by
event time and by processing time, both through the operator).

Why a module: ``engine.analysis.playground`` runs the operator and shapes frames;
telling what happened and comparing clocks are separate jobs over those frames.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from engine.analysis.playground import (
    PlaygroundRun,
    PlaygroundSnapshot,
    _event,
    clock_text,
)
from engine.core.operator import WindowOperator
from engine.core.spec import PipelineSpec, WatermarkSpec, WindowSpec

ACTION_WORDS = {
    "side_output": "queued in the side output for a batch patch",
    "recompute": "queued, and its window flagged for a recompute from the raw log",
    "drop": "dropped (counted and logged)",
    "max_updates": "sent to the side output: the window had used its max updates",
    "too_late": "sent to the side output: the window's state was gone",
}


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
