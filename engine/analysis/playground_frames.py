"""The playground's frames: the operator's emissions (``Version`` panes,
``LateEvent`` side-output records, session supersessions) turned into the tables the
picture and the snapshots read. Only reshaping — every value comes from the operator.
"""

from __future__ import annotations

import pandas as pd

from engine.analysis.playground_inputs import clock_text
from engine.core.spec import PipelineSpec
from engine.core.timeutil import POS_INF_MS, SECOND_MS

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


def panes_frame(versions, supersessions) -> pd.DataFrame:
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


def windows_frame(panes: pd.DataFrame, late, spec: PipelineSpec) -> pd.DataFrame:
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


def late_frame(late) -> pd.DataFrame:
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


def pair_log(versions, late) -> pd.DataFrame:
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


def details(log: pd.DataFrame, event_ids) -> list[str]:
    """Per event, its pairs so far joined in one text."""
    told: dict[str, list[str]] = {}
    for eid, text in zip(log["event_id"], log["text"], strict=True):
        told.setdefault(eid, []).append(text)
    return ["; ".join(told[e]) if e in told else "not in any pane yet" for e in event_ids]
