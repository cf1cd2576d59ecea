"""The watermark playground's engine side: tiny event streams run through the real
``WindowOperator`` and shaped into the picture of the Dataflow model (event time on
x, processing time on y).

Why a module: the playground teaches the semantics the rest of latewatch runs on,
so it must not have its own. Everything here drives ``engine.core.operator`` and only
*reads* what it emits — record outcomes, ``Version`` panes (with ``added_ids``:
which events entered which pane), ``LateEvent`` side-output records and session
supersessions. The page draws these frames; it never decides what is late.

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

Times are epoch milliseconds; presets sit on 2026-01-01 (UTC) around noon, as in
the transcripts under ``tests/scenarios/`` they mirror.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import pandas as pd

from engine.core.events import Event
from engine.core.operator import WindowOperator
from engine.core.spec import PipelineSpec, TriggerSpec, WatermarkSpec, WindowSpec
from engine.core.timeutil import MINUTE_MS, NEG_INF_MS, POS_INF_MS, SECOND_MS, parse_timestamp_ms

PRESET_DATE = "2026-01-01"
WINDOW_KINDS = ("tumbling", "sliding", "session")
WATERMARK_MODES = ("drawn", "perfect", "bounded")
EARLY_MODES = ("none", "after-first", "per-record")
ACCUMULATION_MODES = ("accumulating", "discarding")
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
_CLOCK_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2})(\.\d{1,3})?)?\s*$")


# ---------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class PlayEvent:
    event_id: str
    event_time_ms: int
    arrival_time_ms: int
    amount: float = 1.0


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
    discarding pane holds) — the windowing does not change."""

    window: str = "tumbling"
    size_ms: int = 2 * MINUTE_MS
    slide_ms: int = MINUTE_MS
    gap_ms: int = MINUTE_MS
    watermark: str = "drawn"
    watermark_delay_ms: int = 0
    allowed_lateness_ms: int = 5 * MINUTE_MS
    early: str = "none"
    early_delay_ms: int = MINUTE_MS
    accumulation: str = "accumulating"
    late_action: str = "update"

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("window", self.window, WINDOW_KINDS),
            ("watermark", self.watermark, WATERMARK_MODES),
            ("early", self.early, EARLY_MODES),
            ("accumulation", self.accumulation, ACCUMULATION_MODES),
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
        if self.watermark == "bounded":
            watermark = WatermarkSpec(kind="bounded", delay_ms=self.watermark_delay_ms)
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
            metrics=("revenue", "events"),
        )


@dataclass(frozen=True)
class Preset:
    key: str
    title: str
    explanation: str
    config: PlaygroundConfig
    events: tuple[PlayEvent, ...]
    watermarks: tuple[WatermarkPoint, ...] = ()
    ticks_ms: tuple[int, ...] = ()  # processing-time-only steps (timers fire)
    scenario_file: str | None = None  # the transcript in tests/scenarios it mirrors


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
    """Inverse of ``clock_ms`` for display (milliseconds only when present)."""
    day_start = parse_timestamp_ms(f"{date}T00:00:00Z")
    offset = ms - day_start
    h, rest = divmod(offset, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, milli = divmod(rest, 1000)
    text = f"{h:02d}:{m:02d}:{s:02d}"
    return text + (f".{milli:03d}" if milli else "")


def _ev(event_id: str, t: str, at: str, amount: float) -> PlayEvent:
    return PlayEvent(event_id, clock_ms(t), clock_ms(at), amount)


def _wm(at: str, w: str) -> WatermarkPoint:
    return WatermarkPoint(clock_ms(at), clock_ms(w))


PRESETS: dict[str, Preset] = {
    p.key: p
    for p in (
        Preset(
            key="classic",
            title="Classic: a 2-minute window with early, on-time and late panes",
            explanation=(
                "The Dataflow paper's picture. An early pane fires one minute of processing "
                "time after the first element (14); the on-time pane fires when the watermark "
                "passes 12:02 and includes e3, which was behind the watermark but still on "
                "time because its window had not fired (17); e4 arrives after that and makes "
                "a late pane (25). e5 arrives when the watermark is exactly end + allowed "
                "lateness: too late, it goes to the side output."
            ),
            config=PlaygroundConfig(
                window="tumbling",
                size_ms=2 * MINUTE_MS,
                watermark="drawn",
                allowed_lateness_ms=5 * MINUTE_MS,
                early="after-first",
                early_delay_ms=MINUTE_MS,
            ),
            events=(
                _ev("e1", "12:00:20", "12:01:00", 5),
                _ev("e2", "12:01:10", "12:01:30", 9),
                _ev("e3", "12:00:50", "12:02:40", 3),
                _ev("e4", "12:01:50", "12:04:00", 8),
                _ev("e5", "12:01:59.999", "12:05:30", 1),
            ),
            watermarks=(
                _wm("12:02:30", "12:01:30"),
                _wm("12:03:00", "12:02:00"),
                _wm("12:05:00", "12:07:00"),
            ),
            ticks_ms=(clock_ms("12:03:40"),),
            scenario_file="classic_early_ontime_late.json",
        ),
        Preset(
            key="session_bridge",
            title="Sessions: a late event merges two sessions",
            explanation=(
                "Two sessions with a 1-minute gap fire on time when the watermark reaches "
                "12:03. Then c arrives, late, at 12:00:45: it touches both sessions, so they "
                "merge into one session [12:00:00, 12:02:30). Lateness is judged on the "
                "merged window, which is within the allowed lateness, so the merged session's "
                "first version is a late pane (7) and both published sessions are superseded."
            ),
            config=PlaygroundConfig(
                window="session",
                gap_ms=MINUTE_MS,
                watermark="drawn",
                allowed_lateness_ms=10 * MINUTE_MS,
            ),
            events=(
                _ev("a", "12:00:00", "12:00:05", 1),
                _ev("b", "12:01:30", "12:01:35", 2),
                _ev("c", "12:00:45", "12:03:10", 4),
            ),
            watermarks=(_wm("12:03:00", "12:03:00"),),
            scenario_file="session_late_bridge.json",
        ),
        Preset(
            key="sliding_split",
            title="Sliding windows: late for one window, on time for another",
            explanation=(
                "10-minute windows slide every 5 minutes, so b at 12:07 belongs to "
                "[12:00, 12:10) and [12:05, 12:15). When b arrives the watermark is 12:10: "
                "the first window has fired, so b is late there and updates it (11); the "
                "second has not, so b is on time there. The record counts once, as on time "
                "(its best outcome); hover over it to see both pairs."
            ),
            config=PlaygroundConfig(
                window="sliding",
                size_ms=10 * MINUTE_MS,
                slide_ms=5 * MINUTE_MS,
                watermark="drawn",
                allowed_lateness_ms=2 * MINUTE_MS,
            ),
            events=(
                _ev("a", "12:06:00", "12:06:00", 10),
                _ev("b", "12:07:00", "12:10:30", 1),
            ),
            watermarks=(_wm("12:10:00", "12:10:00"),),
            scenario_file="sliding_late_and_on_time.json",
        ),
    )
}


# ---------------------------------------------------------------------- tables
EVENT_TABLE_COLUMNS = ("id", "event_time", "arrival_time", "value")
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
        events.append(PlayEvent(event_id, t, at, amount))
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


# ---------------------------------------------------------------------- the run
@dataclass
class PlaygroundRun:
    """What the operator did, as frames for the picture (all times epoch ms).

    - ``points``: one row per event — event/arrival time, value, ``w_before``,
      the operator's record ``outcome``, the point ``klass`` and a ``detail`` text
      listing every (event, window) pair: which pane took it, or the side-output
      action;
    - ``watermark``: (processing_time_ms, watermark_ms) after every step (finite W);
    - ``panes``: one row per emitted version, with ``value`` (accumulated) and
      ``delta`` (the discarding-mode contents), ``at_end`` for panes fired by the
      end-of-input watermark, and ``superseded`` for merged-away sessions;
    - ``windows``: every window that held an event or was named by a late event,
      with ``state_until_ms`` (end + allowed lateness: from there on, too late);
    - ``outcomes`` / ``pairs``: the operator's own counts.
    """

    config: PlaygroundConfig
    points: pd.DataFrame
    watermark: pd.DataFrame
    panes: pd.DataFrame
    windows: pd.DataFrame
    late_events: pd.DataFrame
    outcomes: dict
    pairs: dict
    end_ms: int
    times_ms: list[int] = field(default_factory=list)

    def at(self, t_ms: int) -> PlaygroundSnapshot:
        """What had happened by processing time ``t_ms`` (the slider position)."""
        pts = self.points
        shown = pts[pts["arrival_time_ms"] <= t_ms]
        panes = self.panes[self.panes["processing_time_ms"] <= t_ms]
        if t_ms < self.end_ms:
            panes = panes[~panes["at_end"]]
        wm = self.watermark[self.watermark["processing_time_ms"] <= t_ms]
        current = int(wm["watermark_ms"].iloc[-1]) if len(wm) else None
        return PlaygroundSnapshot(t_ms, shown, panes, wm, current, len(pts) - len(shown))


@dataclass
class PlaygroundSnapshot:
    t_ms: int
    points: pd.DataFrame
    panes: pd.DataFrame
    watermark: pd.DataFrame
    watermark_ms: int | None
    not_arrived: int


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


def run_playground(
    events,
    config: PlaygroundConfig,
    watermarks=(),
    ticks_ms=(),
) -> PlaygroundRun:
    """Drive ``WindowOperator`` over the events (in arrival order) and shape its output.

    ``watermarks`` are used in ``drawn`` mode; ``perfect`` derives them from the
    events; ``bounded`` lets the operator's own generator move W. After the last
    step, processing time advances by the early-firing delay (pending early panes
    fire, as they would on a ticking clock), then end of input fires the rest."""
    spec = config.spec()
    events = list(events)
    if config.watermark == "perfect":
        watermarks = perfect_watermarks(events)
    elif config.watermark == "bounded":
        watermarks = ()
    steps: list[tuple[int, int, int, object]] = []
    for i, e in enumerate(events):
        steps.append((e.arrival_time_ms, 0, i, e))
    for i, w in enumerate(watermarks):
        steps.append((w.at_ms, 1, i, w))
    for i, t in enumerate(ticks_ms):
        steps.append((t, 2, i, None))
    steps.sort(key=lambda s: (s[0], s[1], s[2]))
    last = steps[-1][0] if steps else 0
    if config.early == "after-first":
        steps.append((last + config.early_delay_ms, 2, len(steps), None))

    op = WindowOperator(spec, track_contributions=True, collect_lateness=False)
    point_rows: list[dict] = []
    wm_rows: list[dict] = []
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
            outcome = op.process(
                Event(
                    event_id=e.event_id,
                    source="web",
                    event_time_ms=e.event_time_ms,
                    arrival_time_ms=e.arrival_time_ms,
                    amount_cents=int(round(e.amount * 100)),
                )
            )
            point_rows.append(
                {
                    "event_id": e.event_id,
                    "event_time_ms": e.event_time_ms,
                    "arrival_time_ms": e.arrival_time_ms,
                    "value": e.amount,
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
    end_ms = steps[-1][0] if steps else 0
    op.finish()
    drain()

    panes = _panes_frame(versions, supersessions)
    points = pd.DataFrame(
        point_rows,
        columns=[
            "event_id",
            "event_time_ms",
            "arrival_time_ms",
            "value",
            "w_before_ms",
            "outcome",
            "klass",
        ],
    )
    points["detail"] = [_pair_detail(eid, versions, late) for eid in points["event_id"]]
    late_frame = pd.DataFrame([x.to_record() for x in late])
    times = sorted({*[s[0] for s in steps], *panes["processing_time_ms"].dropna().astype(int)})
    return PlaygroundRun(
        config=config,
        points=points,
        watermark=pd.DataFrame(wm_rows, columns=["processing_time_ms", "watermark_ms"]),
        panes=panes,
        windows=_windows_frame(panes, late, spec),
        late_events=late_frame,
        outcomes={k: v for k, v in op.outcomes.to_dict().items() if k != "pairs"},
        pairs=dict(op.outcomes.pairs),
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
    cols = [
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
    return pd.DataFrame(rows, columns=cols)


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


def _pair_detail(event_id: str, versions, late) -> str:
    """Every (event, window) pair of one event, as the operator reported it."""
    parts = []
    for v in versions:
        if event_id in v.added_ids:
            parts.append(
                f"[{clock_text(v.window_start_ms)}, {clock_text(v.window_end_ms)}): "
                f"{v.timing.replace('_', ' ')} pane v{v.version}"
            )
    for x in late:
        if x.event_id == event_id:
            parts.append(
                f"[{clock_text(x.window_start_ms)}, {clock_text(x.window_end_ms)}): "
                f"{x.action.replace('_', ' ')} (late by {x.late_by_ms / SECOND_MS:g} s)"
            )
    return "; ".join(parts) if parts else "not in any pane yet"


__all__ = [
    "POINT_CLASSES",
    "POINT_LABELS",
    "PRESETS",
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
