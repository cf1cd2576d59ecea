"""A ``PipelineSpec`` in Beam's own terms: WindowFn, trigger, allowed lateness.

Boundary alignment (the one-tick difference, see shared/notes/semantics.md §2.3):

- latewatch: a (event, window) pair is *too late* iff ``W >= end + L``.
- Beam Python (``GeneralTriggerDriver.process_elements``, trigger.py: ``if
  input_watermark > window.end + self.allowed_lateness: continue``) drops iff
  ``W > end + L``: at the exact tick ``W = end + L`` it still accepts the element.
  So the Python rule runs Beam with ``L - 1 µs`` (Beam's resolution; on latewatch's
  millisecond grid the same as ``L - 1 ms``): drops iff ``W > end + L - 1µs`` iff
  ``W >= end + L``. With ``L = 0`` that is ``-1 µs``: nothing late is ever accepted,
  exactly like latewatch's ``L = 0``.
- Beam Java runner-core (Flink, Spark, Dataflow: ``LateDataUtils.garbageCollectionTime``
  = ``maxTimestamp + L`` with ``maxTimestamp = end - 1 ms``, dropped when it
  ``isBefore(W)``) already drops iff ``W >= end + L``: the Java rule passes ``L``
  unchanged.
- On time: both fire the end-of-window pane when ``W >= end`` (Python: timer at
  ``window.end`` fires when ``timestamp <= watermark``; Java: ``W.isAfter(maxTs)``),
  as latewatch does.

Triggers: ``AfterWatermark(early=..., late=...)``; early ``after-first:D`` is
``AfterProcessingTime(D)`` (repeated: a timer D after the first element of each
early pane), ``per-record`` is ``AfterCount(1)``; late ``each`` is ``AfterCount(1)``,
``every:D`` is ``AfterProcessingTime(D)``. Late firings are always on: a late pane
for a source whose late action is not ``update`` becomes side-output records in the
transform (never a version), so late data is reported, not silently skipped by a
finished trigger. With late ``none`` only a never-fired window's first pane (fired
as soon as its first element arrives past the window's end, a LATE pane) is a
version; later late panes become side output, as in the operator. Panes are DISCARDING (each element is in exactly one pane); the
transform adds them up into latewatch's accumulated values and deltas.
"""

from __future__ import annotations

from apache_beam.coders import coders
from apache_beam.transforms import trigger as beam_trigger
from apache_beam.transforms import window as beam_window
from apache_beam.utils.timestamp import Duration, Timestamp

from engine.core.spec import PipelineSpec, WindowSpec
from engine.core.windows import calendar_window

DROP_RULES = ("python", "java")
JAVA_RUNNERS = ("FlinkRunner", "SparkRunner", "DataflowRunner", "SamzaRunner", "JetRunner")


def ms(value: int) -> Duration:
    return Duration(micros=value * 1000)


def at(value: int) -> Timestamp:
    return Timestamp(micros=value * 1000)


def ts_ms(timestamp: Timestamp) -> int:
    """Beam timestamp -> epoch ms (floor)."""
    return timestamp.micros // 1000


class CalendarWindows(beam_window.NonMergingWindowFn):
    """Calendar day / week / month windows in an IANA zone (DST-aware: a New York day
    is 23 or 25 hours long). Beam Python has none (Java's ``CalendarWindows`` does);
    this one assigns with ``engine.core.windows.calendar_window``, so the bounds are
    latewatch's to the millisecond. The windows are ordinary ``IntervalWindow``s, so
    any runner can group them."""

    def __init__(self, kind: str, tz: str) -> None:
        if kind not in ("day", "week", "month"):
            raise ValueError(f"calendar windows are day, week or month, not {kind!r}")
        self.kind = kind
        self.tz = tz

    def assign(self, context):
        start, end = calendar_window(ts_ms(context.timestamp), self.kind, self.tz)
        return [
            beam_window.IntervalWindow(Timestamp(micros=start * 1000), Timestamp(micros=end * 1000))
        ]

    def get_window_coder(self):
        return coders.IntervalWindowCoder()

    def __eq__(self, other):
        return isinstance(other, CalendarWindows) and (self.kind, self.tz) == (
            other.kind,
            other.tz,
        )

    def __hash__(self):
        return hash((self.kind, self.tz))

    def __repr__(self):
        return f"CalendarWindows({self.kind}@{self.tz})"


def window_fn(window: WindowSpec):
    kind = window.kind
    if kind == "tumbling":
        return beam_window.FixedWindows(ms(window.size_ms), at(window.offset_ms))
    if kind == "sliding":
        return beam_window.SlidingWindows(
            ms(window.size_ms), ms(window.slide_ms), at(window.offset_ms)
        )
    if kind == "session":
        return beam_window.Sessions(ms(window.gap_ms))
    if kind == "global":
        return beam_window.GlobalWindows()
    return CalendarWindows(kind, window.tz)


def _seconds(value_ms: int) -> int | float:
    return value_ms // 1000 if value_ms % 1000 == 0 else value_ms / 1000


def trigger_fn(spec: PipelineSpec):
    trig = spec.trigger
    early = None
    if trig.early == "after-first":
        early = beam_trigger.AfterProcessingTime(_seconds(trig.early_delay_ms))
    elif trig.early == "per-record":
        early = beam_trigger.AfterCount(1)
    if trig.late == "every":
        late = beam_trigger.AfterProcessingTime(_seconds(trig.late_every_ms))
    else:  # each, and none (late panes after the first firing become side output)
        late = beam_trigger.AfterCount(1)
    return beam_trigger.AfterWatermark(early=early, late=late)


def beam_allowed_lateness(spec: PipelineSpec, drop_rule: str = "python") -> Duration:
    """Allowed lateness for ``WindowInto`` so that Beam drops exactly latewatch's
    too-late pairs (``W >= end + L``); see the module docstring."""
    if drop_rule not in DROP_RULES:
        raise ValueError(f"drop rule {drop_rule!r} is not one of {DROP_RULES}")
    lateness = spec.allowed_lateness_ms * 1000
    return Duration(micros=lateness - 1 if drop_rule == "python" else lateness)


def drop_rule_for(runner: str | None) -> str:
    """Which boundary translation a runner needs: Java runner-core or the Python SDK."""
    name = (runner or "DirectRunner").rsplit(".", 1)[-1]
    return "java" if name in JAVA_RUNNERS else "python"


def check_supported(spec: PipelineSpec) -> None:
    """Refuse, with the reason, what one Beam windowing cannot express."""
    for policy in spec.sources:
        if (
            policy.allowed_lateness_ms is not None
            and policy.allowed_lateness_ms != spec.allowed_lateness_ms
        ):
            raise ValueError(
                f"source {policy.source!r} has its own allowed lateness: one Beam WindowInto "
                "holds one allowed lateness, so run one LatewatchWindows per source (filter the "
                "input by source) with that source's lateness"
            )


def check_direct_runner_triggers(spec: PipelineSpec) -> None:
    """Refuse what Beam Python's trigger driver cannot run (see ``engine.beam.teststream.
    build_stream`` and README "Scaling out")."""
    if spec.trigger.early == "after-first" and spec.trigger.late == "every":
        raise ValueError(
            "early after-first together with late every:D cannot run on Beam Python's trigger "
            "driver (DirectRunner): it compares a processing-time timer with the window end "
            "(apache_beam/transforms/trigger.py L1514, L611, L1529), so one of the two kinds "
            "of pane is mislabelled and a watermark hold leaks. Use --late each here, or a "
            "Java runner (Flink, Spark, Dataflow)"
        )


def windowing_args(spec: PipelineSpec, drop_rule: str = "python") -> dict:
    """Keyword arguments for ``beam.WindowInto`` that implement the spec."""
    check_supported(spec)
    return {
        "windowfn": window_fn(spec.window),
        "trigger": trigger_fn(spec),
        "accumulation_mode": beam_trigger.AccumulationMode.DISCARDING,
        "allowed_lateness": beam_allowed_lateness(spec, drop_rule),
    }
