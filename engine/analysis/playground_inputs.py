"""The watermark playground's inputs: the knobs (``PlaygroundConfig`` -> a real
``PipelineSpec``), the tiny event streams (``PlayEvent``, ``WatermarkPoint``), the
clock-text helpers and the editable tables.

Why a module: what a learner types (events, watermark records, knobs) is one job;
running it through the operator (``engine.analysis.playground``) is another, and the
presets (``engine.analysis.playground_presets``) are data over both.

Times are epoch milliseconds; presets sit on 2026-01-01 (UTC).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from engine.core.spec import PipelineSpec, TriggerSpec, WatermarkSpec, WindowSpec
from engine.core.timeutil import MINUTE_MS, parse_timestamp_ms

PRESET_DATE = "2026-01-01"
WINDOW_KINDS = ("tumbling", "sliding", "session")
WATERMARK_MODES = ("drawn", "perfect", "bounded", "per-key", "processing-time")
EARLY_MODES = ("none", "after-first", "per-record")
ACCUMULATION_MODES = ("accumulating", "discarding")
LATE_ACTIONS = ("update", "side_output", "drop", "recompute")
_CLOCK_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2})(\.\d{1,3})?)?\s*$")


@dataclass(frozen=True)
class PlayEvent:
    """One event of a playground stream. ``key`` is what a per-key watermark is kept
    per (a device, a user, a source); blank means one shared key."""

    event_id: str
    event_time_ms: int
    arrival_time_ms: int
    amount: float = 1.0
    key: str | None = None


@dataclass(frozen=True)
class WatermarkPoint:
    """A watermark record: at processing time ``at_ms`` the watermark becomes
    ``watermark_ms`` (used by the ``drawn`` mode, i.e. a punctuated watermark)."""

    at_ms: int
    watermark_ms: int


@dataclass(frozen=True)
class PlaygroundConfig:
    """The playground's knobs, turned into a ``PipelineSpec`` by ``spec()``.

    ``accumulation`` is a display choice: the operator keeps accumulated values
    *and* the delta of every pane; discarding mode shows the deltas (what a
    discarding pane holds) — the windowing does not change.

    Watermarks: ``drawn`` (records in the table, i.e. punctuated), ``perfect``
    (derived from the future), ``bounded`` (max event time seen − delay),
    ``per-key`` (one bounded watermark per event key, global W = min over keys not
    idle for ``idle_ms``), ``processing-time`` (W = now − delay)."""

    window: str = "tumbling"
    size_ms: int = 2 * MINUTE_MS
    slide_ms: int = MINUTE_MS
    gap_ms: int = MINUTE_MS
    watermark: str = "drawn"
    watermark_delay_ms: int = 0
    idle_ms: int | None = None
    allowed_lateness_ms: int = 5 * MINUTE_MS
    early: str = "none"
    early_delay_ms: int = MINUTE_MS
    accumulation: str = "accumulating"
    late_action: str = "update"
    max_updates: int | None = None

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("window", self.window, WINDOW_KINDS),
            ("watermark", self.watermark, WATERMARK_MODES),
            ("early", self.early, EARLY_MODES),
            ("accumulation", self.accumulation, ACCUMULATION_MODES),
            ("late_action", self.late_action, LATE_ACTIONS),
        ):
            if value not in allowed:
                raise ValueError(f"{name} {value!r} is not one of {allowed}")

    def spec(self) -> PipelineSpec:
        if self.window == "tumbling":
            window = WindowSpec(kind="tumbling", size_ms=self.size_ms)
        elif self.window == "sliding":
            window = WindowSpec(kind="sliding", size_ms=self.size_ms, slide_ms=self.slide_ms)
        else:
            window = WindowSpec(kind="session", size_ms=0, gap_ms=self.gap_ms)
        if self.watermark in ("bounded", "processing-time"):
            watermark = WatermarkSpec(kind=self.watermark, delay_ms=self.watermark_delay_ms)
        elif self.watermark == "per-key":
            watermark = WatermarkSpec(
                kind="per-key", delay_ms=self.watermark_delay_ms, key_by="key", idle_ms=self.idle_ms
            )
        else:  # drawn and perfect watermarks arrive as watermark records
            watermark = WatermarkSpec(kind="punctuated")
        trigger = TriggerSpec(
            early=self.early,
            early_delay_ms=self.early_delay_ms if self.early == "after-first" else 0,
            late="each",
        )
        return PipelineSpec(
            window=window,
            watermark=watermark,
            trigger=trigger,
            allowed_lateness_ms=self.allowed_lateness_ms,
            late_action=self.late_action,
            max_updates_per_window=self.max_updates,
            metrics=("revenue", "events"),
        )


def clock_ms(text: str, date: str = PRESET_DATE) -> int:
    """'12:01:10' or '12:01:59.999' on ``date`` (UTC) -> epoch ms."""
    m = _CLOCK_RE.match(str(text))
    if not m:
        raise ValueError(f"cannot read {text!r} as a time of day: use HH:MM:SS")
    hh, mm, ss, frac = m.group(1), m.group(2), m.group(3) or "00", m.group(4) or ""
    if int(hh) > 23 or int(mm) > 59 or int(ss) > 59:
        raise ValueError(f"{text!r} is not a time of day")
    return parse_timestamp_ms(f"{date}T{int(hh):02d}:{mm}:{ss}{frac}Z")


def clock_text(ms: int, date: str = PRESET_DATE) -> str:
    """Inverse of ``clock_ms`` for display (milliseconds only when present; a day
    prefix such as '+1d ' when the time is on a later day)."""
    day_start = parse_timestamp_ms(f"{date}T00:00:00Z")
    offset = ms - day_start
    days, offset = divmod(offset, 86_400_000)
    h, rest = divmod(offset, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, milli = divmod(rest, 1000)
    text = f"{h:02d}:{m:02d}:{s:02d}"
    prefix = f"{days:+d}d " if days else ""
    return prefix + text + (f".{milli:03d}" if milli else "")


# ---------------------------------------------------------------------- tables
EVENT_TABLE_COLUMNS = ("id", "event_time", "arrival_time", "value", "key")
WATERMARK_TABLE_COLUMNS = ("at", "watermark")


def events_table(events) -> pd.DataFrame:
    """Events as the editable table (times as HH:MM:SS text)."""
    return pd.DataFrame(
        [
            {
                "id": e.event_id,
                "event_time": clock_text(e.event_time_ms),
                "arrival_time": clock_text(e.arrival_time_ms),
                "value": float(e.amount),
                "key": e.key or "",
            }
            for e in events
        ],
        columns=list(EVENT_TABLE_COLUMNS),
    )


def watermarks_table(points) -> pd.DataFrame:
    return pd.DataFrame(
        [{"at": clock_text(p.at_ms), "watermark": clock_text(p.watermark_ms)} for p in points],
        columns=list(WATERMARK_TABLE_COLUMNS),
    )


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value) == ""


def events_from_table(table: pd.DataFrame) -> tuple[list[PlayEvent], list[str]]:
    """Read the edited table. Rows that cannot be read are skipped and named in the
    returned problems (never silently); blank rows are ignored; ids are made unique."""
    events, problems, seen = [], [], set()
    for n, row in enumerate(table.to_dict("records"), start=1):
        if all(_blank(row.get(c)) for c in EVENT_TABLE_COLUMNS):
            continue
        try:
            t = clock_ms(row.get("event_time"))
            at = clock_ms(row.get("arrival_time"))
        except ValueError as exc:
            problems.append(f"row {n}: {exc}")
            continue
        value = row.get("value")
        try:
            amount = 1.0 if _blank(value) else float(value)
        except (TypeError, ValueError):
            problems.append(f"row {n}: value {value!r} is not a number")
            continue
        event_id = str(row.get("id")) if not _blank(row.get("id")) else f"row{n}"
        if event_id in seen:
            problems.append(f"row {n}: id {event_id!r} is repeated; renamed to {event_id}#{n}")
            event_id = f"{event_id}#{n}"
        seen.add(event_id)
        key = None if _blank(row.get("key")) else str(row.get("key")).strip() or None
        events.append(PlayEvent(event_id, t, at, amount, key))
    return events, problems


def watermarks_from_table(table: pd.DataFrame) -> tuple[list[WatermarkPoint], list[str]]:
    points, problems = [], []
    for n, row in enumerate(table.to_dict("records"), start=1):
        if all(_blank(row.get(c)) for c in WATERMARK_TABLE_COLUMNS):
            continue
        try:
            points.append(WatermarkPoint(clock_ms(row.get("at")), clock_ms(row.get("watermark"))))
        except ValueError as exc:
            problems.append(f"watermark row {n}: {exc}")
    return points, problems
