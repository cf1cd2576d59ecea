"""What the operator emits: versions (kept panes), late-event records and outcome counts.

A ``Version`` is Beam's pane that we keep: every firing of a window appends one,
numbered 1..n per (window, group), with its timing (early / on_time / late), the
processing time and watermark when it fired, the accumulated values and the
delta against the previous version (the delta is what discarding mode emits).
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields

from engine.core.timeutil import format_ms

TIMINGS = ("early", "on_time", "late")
# Reason recorded with a version (design: versions). The operator emits the first
# three; finalization, patch, recompute, correction and adjustment jobs add the rest.
REASONS = (
    "early",
    "on_time",
    "late_data",
    "patch",
    "recompute",
    "reprocessing",
    "finalization",
    "correction",
    "adjustment",
)
TIMING_REASON = {"early": "early", "on_time": "on_time", "late": "late_data"}

# Outcome of an input record. Every record ends in exactly one of these.
OUTCOMES = ("on_time", "late", "side_output", "dropped", "too_late", "duplicate", "quarantined")


def quick_init(cls):
    """Give a frozen slots dataclass an ``__init__`` that fills the slots through their
    descriptors. The generated one calls ``object.__setattr__`` per field, about four
    times slower, and the operator builds a ``Version`` or ``LateEvent`` for every
    late event. Same signature, defaults and instances; still frozen afterwards."""
    params, lines = [], []
    namespace = {}
    for f in fields(cls):
        if f.default_factory is not MISSING:  # pragma: no cover - none of ours has one
            raise TypeError(f"{cls.__name__}.{f.name}: default factories are not supported")
        namespace[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        if f.default is MISSING:
            params.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        lines.append(f"    _set_{f.name}(self, {f.name})")
    source = f"def __init__(self, {', '.join(params)}):\n" + "\n".join(lines) + "\n"
    exec(source, namespace)  # noqa: S102 - built from the class's own field names
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init
    return cls


@quick_init
@dataclass(frozen=True, slots=True)
class Version:
    window_start_ms: int
    window_end_ms: int
    group: str
    version: int
    timing: str
    processing_time_ms: int | None
    watermark_ms: int
    values: dict
    deltas: dict
    event_count: int
    is_first: bool = False
    is_last: bool = False
    superseded_by: tuple[int, int] | None = None
    added_ids: tuple[str, ...] = ()  # event ids that entered the window in this pane

    @property
    def window(self) -> tuple[int, int]:
        return (self.window_start_ms, self.window_end_ms)

    @property
    def reason(self) -> str:
        return TIMING_REASON[self.timing]

    def to_record(self) -> dict:
        rec = {
            "version": self.version,
            "timing": self.timing,
            "reason": self.reason,
            "processing_time": format_ms(self.processing_time_ms),
            "watermark": format_ms(self.watermark_ms),
            **self.values,
            **{f"delta_{k}": v for k, v in self.deltas.items()},
            "event_count": self.event_count,
        }
        if self.superseded_by is not None:
            rec["superseded_by"] = {
                "window_start": format_ms(self.superseded_by[0]),
                "window_end": format_ms(self.superseded_by[1]),
            }
        return rec


@quick_init
@dataclass(frozen=True, slots=True)
class LateEvent:
    """A (event, window) pair that did not go into a window result in the normal way.

    ``action`` is what happened: ``side_output`` (queued for batch patching),
    ``recompute`` (queued; the window is flagged, and the recompute job gives it a
    new version computed from the raw log: engine.runtime.recompute),
    ``drop`` (counted and logged), ``too_late`` (window state already gone), or
    ``max_updates`` (the window had used its late firings).
    ``late_by_ms`` = watermark - window end at arrival.
    """

    event_id: str
    source: str
    window_start_ms: int
    window_end_ms: int
    group: str
    action: str
    late_by_ms: int
    watermark_ms: int
    processing_time_ms: int | None
    event_time_ms: int
    amount_cents: int

    def to_record(self) -> dict:
        return {
            "event_id": self.event_id,
            "source": self.source,
            "window_start": format_ms(self.window_start_ms),
            "window_end": format_ms(self.window_end_ms),
            "group": self.group,
            "action": self.action,
            "late_by_ms": self.late_by_ms,
            "watermark": format_ms(self.watermark_ms),
            "processing_time": format_ms(self.processing_time_ms),
            "event_time": format_ms(self.event_time_ms),
            "amount": self.amount_cents / 100,
        }


@dataclass
class Outcomes:
    """Per-record outcome counts; ``input`` equals the sum of the others, always."""

    input: int = 0
    on_time: int = 0
    late: int = 0
    side_output: int = 0
    dropped: int = 0
    too_late: int = 0
    duplicates: int = 0
    quarantined: int = 0
    # per (event, window) pair counts, for sliding windows where they differ
    pairs: dict = field(default_factory=dict)

    def add(self, outcome: str) -> None:
        self.input += 1
        name = {"duplicate": "duplicates"}.get(outcome, outcome)
        setattr(self, name, getattr(self, name) + 1)

    def balanced(self) -> bool:
        return self.input == (
            self.on_time
            + self.late
            + self.side_output
            + self.dropped
            + self.too_late
            + self.duplicates
            + self.quarantined
        )

    def to_dict(self) -> dict:
        return {
            "input": self.input,
            "on_time": self.on_time,
            "late": self.late,
            "too_late": self.too_late,
            "side_output": self.side_output,
            "dropped": self.dropped,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "pairs": dict(sorted(self.pairs.items())),
        }
