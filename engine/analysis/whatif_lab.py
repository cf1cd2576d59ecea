"""The What-if lab's shaping: widget values <-> ``PipelineSpec``, and the results of
``engine.analysis.whatif`` laid out side by side for the page.

Why a module: the page should read like a description of the UI (widgets -> one
engine call -> tables and charts). Building a proposal from sliders has rules —
which per-source values become overrides, which policies of sources absent from
the chosen data must survive — and comparing two ``WhatIfResult`` needs the same
labels in the page and in its tests. None of it computes windows: the numbers
come from ``engine.analysis.whatif.evaluate`` / ``tradeoff`` untouched.

Canonical proposals: ``spec_from_knobs(base, knobs_from_spec(base, sources)) ==
base``. A per-source value equal to the pipeline default is not written as an
override, so an unchanged lab proposes exactly the live spec, and "Apply" has
nothing to do.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from engine.analysis.whatif import OUTCOME_NAMES, WhatIfResult
from engine.core.spec import PipelineSpec, SourcePolicy, TriggerSpec
from engine.core.timeutil import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS, format_duration_ms

WATERMARK_CHOICES = ("per-key", "bounded", "processing-time")
LATE_ACTION_CHOICES = ("update", "side_output", "recompute", "drop")
EARLY_CHOICES = ("none", "after-first", "per-record")
LATE_FIRING_CHOICES = ("each", "every", "none")
WINDOW_SIZES_MS = (
    MINUTE_MS,
    5 * MINUTE_MS,
    15 * MINUTE_MS,
    30 * MINUTE_MS,
    HOUR_MS,
    2 * HOUR_MS,
    6 * HOUR_MS,
    DAY_MS,
)
DELAY_STEPS_MS = (
    0,
    5 * SECOND_MS,
    10 * SECOND_MS,
    30 * SECOND_MS,
    MINUTE_MS,
    2 * MINUTE_MS,
    5 * MINUTE_MS,
    10 * MINUTE_MS,
    15 * MINUTE_MS,
    30 * MINUTE_MS,
    HOUR_MS,
    2 * HOUR_MS,
    6 * HOUR_MS,
)
LATENESS_STEPS_MS = (
    0,
    30 * SECOND_MS,
    MINUTE_MS,
    5 * MINUTE_MS,
    15 * MINUTE_MS,
    30 * MINUTE_MS,
    HOUR_MS,
    2 * HOUR_MS,
    4 * HOUR_MS,
    6 * HOUR_MS,
    12 * HOUR_MS,
    DAY_MS,
    2 * DAY_MS,
    3 * DAY_MS,
    7 * DAY_MS,
    14 * DAY_MS,
)
TIMER_STEPS_MS = (MINUTE_MS, 5 * MINUTE_MS, 10 * MINUTE_MS, 15 * MINUTE_MS, 30 * MINUTE_MS, HOUR_MS)
# The sweep of the trade-off chart; 30 s, 5 min and 30 min are the headline points.
SWEEP_MS = (
    0,
    30 * SECOND_MS,
    MINUTE_MS,
    5 * MINUTE_MS,
    15 * MINUTE_MS,
    30 * MINUTE_MS,
    HOUR_MS,
    6 * HOUR_MS,
    DAY_MS,
    2 * DAY_MS,
    7 * DAY_MS,
)
HEADLINE_MS = (30 * SECOND_MS, 5 * MINUTE_MS, 30 * MINUTE_MS)
# Short enough for the table to fit at 1024 px; OUTCOME_NOTE says what each means.
OUTCOME_LABELS = {
    "on_time": "On time",
    "late": "Late → update",
    "side_output": "Late → side output",
    "dropped": "Late → dropped",
    "too_late": "Too late",
}
OUTCOME_NOTE = (
    "*Late → update*: the event updated its window's result (a new version); "
    "*side output*: queued and patched in batch; *dropped*: counted and logged only; "
    "*too late*: it came after the allowed lateness."
)


# The course chapter's requirements, as allowed lateness per source ("*" = every source
# not named): what the lab's "Start from a requirement" sets.
REQUIREMENT_PRESETS: dict[str, tuple[str, dict[str, int]]] = {
    "fraud": ("Fraud detection: 30 s", {"*": 30 * SECOND_MS}),
    "daily": ("Daily reporting: 1 h", {"*": HOUR_MS}),
    "billing": ("Monthly billing: 7 d", {"*": 7 * DAY_MS}),
    "per-source": (
        "Per source: web 5 min, mobile 4 h, partner 24 h",
        {"web": 5 * MINUTE_MS, "mobile": 4 * HOUR_MS, "partner": DAY_MS},
    ),
    "capture-4h": ("Capture point: 4 h", {"*": 4 * HOUR_MS}),
}


def requirement_lateness(preset: str, sources) -> dict[str, int]:
    """Allowed lateness per source for a requirement preset (sources it does not name
    keep theirs unless the preset has a "*" value)."""
    _, values = REQUIREMENT_PRESETS[preset]
    out = {}
    for src in sources:
        if src in values:
            out[src] = values[src]
        elif "*" in values:
            out[src] = values["*"]
    return out


def nearest(options, value: int) -> int:
    """The option closest to ``value`` (a live value may sit between slider steps)."""
    return min(options, key=lambda o: (abs(o - value), o))


def with_value(options, value: int) -> tuple[int, ...]:
    """``options`` plus ``value`` (sorted), so a live setting is always selectable."""
    return tuple(sorted({*options, int(value)}))


@dataclass(frozen=True)
class SourceKnobs:
    source: str
    watermark_delay_ms: int
    allowed_lateness_ms: int
    late_action: str


@dataclass(frozen=True)
class LabKnobs:
    """Everything the lab's widgets set. Per-source values are *effective* values
    (what the source gets), whether or not the spec holds them as overrides."""

    window_size_ms: int
    watermark_kind: str
    early: str
    early_delay_ms: int
    late: str
    late_every_ms: int
    sources: tuple[SourceKnobs, ...]

    def source(self, name: str) -> SourceKnobs:
        return next(s for s in self.sources if s.source == name)


def knobs_from_spec(spec: PipelineSpec, sources) -> LabKnobs:
    """The widget defaults that reproduce ``spec`` for these sources."""
    trig = spec.trigger
    return LabKnobs(
        window_size_ms=spec.window.size_ms,
        watermark_kind=spec.watermark.kind,
        early=trig.early,
        early_delay_ms=trig.early_delay_ms or 10 * MINUTE_MS,
        late=trig.late,
        late_every_ms=trig.late_every_ms or 15 * MINUTE_MS,
        sources=tuple(
            SourceKnobs(
                s,
                spec.watermark_delay_for(s),
                spec.lateness_for(s),
                spec.action_for(s),
            )
            for s in sources
        ),
    )


def spec_from_knobs(base: PipelineSpec, knobs: LabKnobs) -> PipelineSpec:
    """The proposal: ``base`` with the knobs applied. Per-source values that equal
    the pipeline default are not written as overrides; policies of sources the
    knobs do not mention are kept as they are."""
    window = base.window
    if window.kind == "tumbling" and knobs.window_size_ms != window.size_ms:
        window = replace(window, size_ms=knobs.window_size_ms, offset_ms=0)
    elif window.kind != "tumbling":
        window = replace(window, kind="tumbling", size_ms=knobs.window_size_ms, offset_ms=0)
    watermark = replace(base.watermark, kind=knobs.watermark_kind)
    trigger = TriggerSpec(
        early=knobs.early,
        early_delay_ms=knobs.early_delay_ms if knobs.early == "after-first" else 0,
        late=knobs.late,
        late_every_ms=knobs.late_every_ms if knobs.late == "every" else 0,
    )
    policies = {p.source: p for p in base.sources}
    for k in knobs.sources:
        delay = k.watermark_delay_ms
        if delay == watermark.delay_for(k.source):
            delay = None
        lateness = (
            None if k.allowed_lateness_ms == base.allowed_lateness_ms else k.allowed_lateness_ms
        )
        action = None if k.late_action == base.late_action else k.late_action
        policy = SourcePolicy(k.source, lateness, action, delay)
        policies[k.source] = policy
    ordered = [p.source for p in base.sources] + sorted(
        set(policies) - {p.source for p in base.sources}
    )
    kept = tuple(
        policies[s]
        for s in ordered
        if (p := policies[s]).allowed_lateness_ms is not None
        or p.late_action is not None
        or p.watermark_delay_ms is not None
    )
    return base.with_changes(window=window, watermark=watermark, trigger=trigger, sources=kept)


def snapshot_as_of(now_ms: int, step_ms: int) -> int:
    """The as-of time of the lab's snapshot of the raw log: ``now`` rounded down to
    ``step_ms``. Everything that arrived before it is in the log already (the clock
    is past it), so a snapshot keyed on it never changes, and the headline, the
    sweep and a pinned proposal replay the same events."""
    return (int(now_ms) // step_ms) * step_ms


def sweep_base(spec: PipelineSpec) -> PipelineSpec:
    """The spec a lateness sweep starts from: allowed lateness is what the sweep
    sets, so it is zeroed everywhere (one cache key for every lateness setting)."""
    policies = tuple(
        p
        for p in (replace(p, allowed_lateness_ms=None) for p in spec.sources)
        if p.late_action is not None or p.watermark_delay_ms is not None
    )
    return spec.with_changes(allowed_lateness_ms=0, sources=policies)


def timer_free(spec: PipelineSpec) -> PipelineSpec:
    """``spec`` without early ``after-first`` timers (early none), which the
    vectorized replay does not cover (late ``every:D`` panes it does). Which record
    is on time, late or too late, when the on-time pane fires and how many windows
    are open do not depend on early panes."""
    trig = spec.trigger
    if trig.early != "after-first":
        return spec
    return spec.with_changes(trigger=replace(trig, early="none", early_delay_ms=0))


def apply_blockers(current: PipelineSpec, proposed: PipelineSpec) -> list[str]:
    """Why the proposal cannot become the live configuration (empty: it can)."""
    out = []
    if proposed == current:
        out.append("the proposal is the live configuration already")
    if proposed.window != current.window:
        out.append(
            f"the window ({current.window.describe()} → {proposed.window.describe()}) defines the "
            "series: changing it would mix window shapes in one series' history"
        )
    return out


def spec_changes(current: PipelineSpec, proposed: PipelineSpec, sources) -> list[str]:
    """The proposal's differences from the live spec, in words, per knob the lab sets."""
    out = []
    if current.window != proposed.window:
        out.append(f"window {current.window.describe()} → {proposed.window.describe()}")
    if current.watermark.kind != proposed.watermark.kind:
        out.append(f"watermark {current.watermark.kind} → {proposed.watermark.kind}")
    a, b = current.trigger, proposed.trigger
    if (a.early, a.early_delay_ms) != (b.early, b.early_delay_ms):
        out.append(f"early firings {_early(a)} → {_early(b)}")
    if (a.late, a.late_every_ms) != (b.late, b.late_every_ms):
        out.append(f"late firings {_late(a)} → {_late(b)}")
    for src in sources:
        for label, get, fmt in (
            ("watermark delay", PipelineSpec.watermark_delay_for, format_duration_ms),
            ("allowed lateness", PipelineSpec.lateness_for, format_duration_ms),
            ("late action", PipelineSpec.action_for, str),
        ):
            va, vb = get(current, src), get(proposed, src)
            if va != vb:
                out.append(f"{src}: {label} {fmt(va)} → {fmt(vb)}")
    return out


def _early(t: TriggerSpec) -> str:
    if t.early == "after-first":
        return f"{format_duration_ms(t.early_delay_ms)} after the first event"
    return {"none": "none", "per-record": "on every event"}[t.early]


def _late(t: TriggerSpec) -> str:
    if t.late == "every":
        return f"at most every {format_duration_ms(t.late_every_ms)}"
    return {"each": "on every late event", "none": "none"}[t.late]


# ---------------------------------------------------------------------- tables
def fmt_share(x: float | None) -> str:
    return "—" if x is None else f"{x:.2%}"


def fmt_duration(ms: float | None) -> str:
    return "—" if ms is None or ms != ms else format_duration_ms(round(ms))


def fmt_money_cents(cents: float | None) -> str:
    return "—" if cents is None else f"${cents / 100:,.2f}"


def fmt_pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f} %"


def fmt_number(x: float | None, digits: int = 0) -> str:
    return "—" if x is None else f"{x:,.{digits}f}"


# (label, summary key, formatter, lower is better)
SUMMARY_ROWS = (
    ("Captured share (events)", "captured_count_share", fmt_share, False),
    ("Captured share (value)", "captured_value_share", fmt_share, False),
    ("On-time vs final error per window, mean", "error_mean_pct", fmt_pct, True),
    ("On-time vs final error per window, worst", "error_worst_pct", fmt_pct, True),
    ("Windows with no on-time number (all late)", "windows_without_on_time", fmt_number, True),
    ("Result delay after window end, mean", "wait_mean_ms", fmt_duration, True),
    ("Result delay after window end, p90", "wait_p90_ms", fmt_duration, True),
    ("Versions per window, mean", "versions_mean", lambda x: fmt_number(x, 2), True),
    ("Versions per window, most", "versions_max", fmt_number, True),
    ("Peak state (open windows)", "peak_open_windows", fmt_number, True),
    ("Windows", "windows", fmt_number, None),
)


def comparison_table(current: WhatIfResult, proposed: WhatIfResult) -> pd.DataFrame:
    """Current vs proposed, one row per measure, formatted for display."""
    a, b = current.summary(), proposed.summary()
    rows = []
    for label, key, fmt, lower_better in SUMMARY_ROWS:
        va, vb = a.get(key), b.get(key)
        rows.append(
            {
                "Measure": label,
                "Current": fmt(va),
                "Proposed": fmt(vb),
                "Verdict": _verdict(va, vb, lower_better),
            }
        )
    return pd.DataFrame(rows)


def _verdict(a, b, lower_better) -> str:
    if lower_better is None or a is None or b is None or a == b:
        return ""
    better = (b < a) if lower_better else (b > a)
    return "better" if better else "worse"


def outcome_table(current: WhatIfResult, proposed: WhatIfResult) -> pd.DataFrame:
    """Record outcomes by count and by value for both configurations."""
    rows = []
    for name in OUTCOME_NAMES:
        rows.append(
            {
                "Outcome": OUTCOME_LABELS[name],
                "Current events": current.outcome_counts[name],
                "Proposed events": proposed.outcome_counts[name],
                "Current value": fmt_money_cents(current.outcome_cents[name]),
                "Proposed value": fmt_money_cents(proposed.outcome_cents[name]),
            }
        )
    return pd.DataFrame(rows)


def window_errors(result: WhatIfResult, group: str = "*") -> pd.DataFrame:
    """Per window of ``group``: start, on-time and final value (cents), abs % error,
    versions — the data of the per-window error chart."""
    w = result.windows
    if group in set(w["group"]):
        w = w[w["group"] == group]
    cols = ["window_start_ms", "on_time_cents", "final_cents", "abs_pct_error", "versions"]
    return w[cols].reset_index(drop=True)


def headline(tradeoff: pd.DataFrame, by: str = "count") -> pd.DataFrame:
    """The "30 s → 90 %, 5 min → 99 %, 30 min → 99.9 %" rows of a lateness sweep."""
    col = f"captured_{by}_share"
    knob = tradeoff.columns[0]
    rows = []
    for ms in HEADLINE_MS:
        hit = tradeoff[tradeoff[knob] == ms]
        if len(hit):
            rows.append(
                {
                    "Lateness": format_duration_ms(ms),
                    "Captured": fmt_share(hit[col].iloc[0]),
                }
            )
    return pd.DataFrame(rows)


def method_note(result: WhatIfResult) -> str:
    """Which path evaluated a configuration, and why it was not the fast one."""
    if result.method == "vectorized":
        return "vectorized replay (numpy)"
    return f"event-at-a-time operator — {result.fallback_reason}"


__all__ = [
    "DELAY_STEPS_MS",
    "LATENESS_STEPS_MS",
    "LabKnobs",
    "SourceKnobs",
    "SWEEP_MS",
    "apply_blockers",
    "comparison_table",
    "headline",
    "knobs_from_spec",
    "method_note",
    "outcome_table",
    "spec_changes",
    "snapshot_as_of",
    "spec_from_knobs",
    "sweep_base",
    "timer_free",
    "window_errors",
]
