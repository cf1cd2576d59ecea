"""``python -m engine beam``'s engine: a file in arrival order as a Beam TestStream,
run through ``LatewatchWindows``, shaped like ``engine replay``'s output.

The TestStream gets, record by record in arrival order (``engine.core.replay.
arrival_items``: the same reading, validation, de-duplication and quarantine as
replay), exactly what the in-process operator sees:

1. processing time advances to the record's ``arrival_time`` (Beam's TestClock;
   early ``after-first`` and late ``every`` panes are processing-time timers);
2. if that moved the watermark (processing-time or idle per-key strategies), a
   watermark advance; a punctuated watermark record is a watermark advance;
3. the event, stamped with its event time;
4. the watermark as the spec's strategy computes it after observing the event
   (``engine.core.watermarks.WatermarkGenerator``, the operator's own generator),
   if it moved. End of input advances it to +inf.

Versions' processing time and watermark come from the runner (the DirectRunner's
``PairWithTiming``) and are null on other runners. A too-late pair's
``watermark``/``late_by_ms`` are the TestStream's watermark when the element was
emitted (the runner does not report them). Results come back through version files
in a temporary folder, so the runner must write where this process can read.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Duration, Timestamp

from engine.beam.sinks import WriteVersionFiles, WriteVersions
from engine.beam.transform import LatewatchWindows
from engine.beam.translate import check_direct_runner_triggers, drop_rule_for
from engine.core.events import Event
from engine.core.replay import RawRecord, arrival_items
from engine.core.results import Outcomes
from engine.core.spec import PipelineSpec
from engine.core.timeutil import NEG_INF_MS, POS_INF_MS, format_ms
from engine.core.watermarks import WatermarkGenerator
from engine.core.window_state import percentiles
from engine.core.windows import WindowAssigner
from engine.store.version_files import read_records, split_records

_RANK = {"on_time": 0, "late": 1, "side_output": 2, "dropped": 3, "too_late": 4}
_BY_RANK = {v: k for k, v in _RANK.items()}
_ACTION_OUTCOME = {
    "side_output": "side_output",
    "recompute": "side_output",
    "max_updates": "side_output",
    "drop": "dropped",
    "too_late": "too_late",
}


@dataclass
class Prepared:
    """A file turned into TestStream events, plus what never reached Beam."""

    stream: TestStream
    events: list[Event] = field(default_factory=list)
    watermark_at: dict[str, int] = field(default_factory=dict)  # event_id -> W when emitted
    quarantine: list[dict] = field(default_factory=list)
    quarantined: int = 0
    duplicates: int = 0
    final_watermark_ms: int = NEG_INF_MS
    processing_time_ms: int | None = None
    clock_base_ms: int = 0  # TestClock 0 = this epoch ms


class _Boundaries:
    """Where a watermark advance can be observed by Beam: a window end (on-time
    firing, EARLY vs ON_TIME/LATE pane timing) or a window end + L (the drop test and
    the too-late timer). An advance that crosses none of them changes nothing Beam
    computes, so the TestStream skips it (each TestStream event costs the DirectRunner
    tens of milliseconds); the advance that crosses one carries the exact watermark."""

    def __init__(self, spec: PipelineSpec) -> None:
        w = spec.window
        self.lateness = spec.allowed_lateness_ms
        self.kind = w.kind
        if w.kind == "tumbling":
            self.grid = (w.size_ms, w.offset_ms)
        elif w.kind == "sliding":
            self.grid = (w.slide_ms, w.offset_ms + w.size_ms)
        self.tz = w.tz

    def _index(self, t: int):
        if t <= NEG_INF_MS or t >= POS_INF_MS:
            return t
        if self.kind in ("tumbling", "sliding"):
            step, off = self.grid
            return (t - off) // step
        if self.kind in ("day", "week", "month"):
            from engine.core.windows import calendar_window

            return calendar_window(t, self.kind, self.tz)[0]
        return t  # sessions: every advance may matter

    def crossed(self, before: int, after: int) -> bool:
        if self.kind == "global":
            return after >= POS_INF_MS
        return self._index(before) != self._index(after) or self._index(
            before - self.lateness
        ) != self._index(after - self.lateness)


def build_stream(records: Iterable[RawRecord], spec: PipelineSpec, assume_tz=None) -> Prepared:
    """Events and watermark advances in arrival order. Consecutive events that are on
    time for all their windows go in one element batch when nothing Beam could observe
    happens between them (no processing-time trigger, no boundary crossed); a late
    element always has its own batch, so ``--late each`` gives one pane per element as
    in-process."""
    stream = TestStream()
    prep = Prepared(stream)
    gen = WatermarkGenerator(spec)
    assign = WindowAssigner(spec.window).assign
    bounds = _Boundaries(spec)
    timed = spec.trigger.early != "none" or spec.trigger.late == "every"
    per_record = spec.trigger.early == "per-record"
    # Beam Python's trigger driver hands a processing-time timer's timestamp to the
    # trigger as if it were the watermark (trigger.py L1514 -> AfterWatermark.
    # should_fire L611 `watermark >= window.end`; _output L1529 `output_watermark <=
    # window.max_timestamp()` picks EARLY). An early timer is only right while the clock
    # is before the window end, a late `every` timer only once it is past it. So with
    # early after-first panes the clock starts at 0 (1970: before every window end;
    # ``clock_base_ms`` is added back to the versions' processing time); otherwise it
    # is the arrival time itself (late data arrives after its window's end).
    check_direct_runner_triggers(spec)
    early_clock = spec.trigger.early == "after-first"
    state = {"clock": None if early_clock else 0, "sent_wm": NEG_INF_MS}
    batch: list = []

    def flush() -> None:
        if batch:
            stream.add_elements(list(batch))
            batch.clear()

    def sync_clock() -> None:
        want = prep.processing_time_ms
        if want is None:
            return
        if state["clock"] is None:
            prep.clock_base_ms = want - 1
            state["clock"] = want - 1
        if want > state["clock"]:
            flush()
            stream.advance_processing_time(Duration(micros=(want - state["clock"]) * 1000))
            state["clock"] = want

    def advance_clock(to_ms: int | None) -> None:
        if to_ms is None or (
            prep.processing_time_ms is not None and to_ms <= prep.processing_time_ms
        ):
            return
        prep.processing_time_ms = to_ms
        if timed:  # a processing-time timer may be due before the next record
            sync_clock()
        emit_watermark(gen.on_processing_time(to_ms))

    def emit_watermark(w: int) -> None:
        if w >= POS_INF_MS or not bounds.crossed(state["sent_wm"], w):
            return
        sync_clock()
        flush()
        state["sent_wm"] = w
        stream.advance_watermark_to(Timestamp(micros=w * 1000))

    for kind, item, extra in arrival_items(records, assume_tz):
        if kind == "event":
            event: Event = item
            advance_clock(event.arrival_time_ms)
            prep.events.append(event)
            w = gen.current
            prep.watermark_at[event.event_id] = w
            on_time = all(end > w for _, end in assign(event.event_time_ms))
            if not on_time or per_record or not batch:
                sync_clock()
                flush()
            batch.append(TimestampedValue(event, Timestamp(micros=event.event_time_ms * 1000)))
            if not on_time or per_record:
                flush()
            if spec.watermark.kind == "bounded":
                w = gen.observe_bounded(event.event_time_ms, event.source)
            else:
                w = gen.observe(
                    event.event_time_ms, event.source, event.key, prep.processing_time_ms
                )
            emit_watermark(w)
        elif kind == "control":
            advance_clock(item)
            if extra is not None:
                emit_watermark(gen.punctuate(extra))
        elif kind == "quarantine":
            prep.quarantine.append(item)
            prep.quarantined += 1 if extra else 0
        else:
            prep.duplicates += 1
    sync_clock()
    flush()
    prep.final_watermark_ms = POS_INF_MS
    stream.advance_watermark_to_infinity()
    if timed:
        # Processing-time timers still set (an early timer the on-time pane made stale,
        # a late 'every' pane) must fire, or the DirectRunner reports a stall; the
        # operator flushes a pending late pane at end of input the same way.
        longest = max(spec.trigger.early_delay_ms, spec.trigger.late_every_ms)
        stream.advance_processing_time(Duration(micros=(longest + 1) * 1000))
    return prep


def run_stream(
    prep: Prepared,
    spec: PipelineSpec,
    beam_args: list[str] | None = None,
    db_path: str | None = None,
    series: str = "beam",
) -> tuple[dict, float]:
    """Run the prepared stream; returns (replay-shaped output, seconds)."""
    options = PipelineOptions(list(beam_args or []))
    options.view_as(StandardOptions).streaming = True
    runner = options.view_as(StandardOptions).runner or "DirectRunner"
    is_direct = runner.rsplit(".", 1)[-1] in ("DirectRunner", "BundleBasedDirectRunner")
    transform = LatewatchWindows(
        spec,
        drop_rule=drop_rule_for(runner),
        runner_timing=is_direct,
        clock_offset_ms=prep.clock_base_ms,
    )
    with tempfile.TemporaryDirectory(prefix="latewatch-beam-") as tmp:
        started = time.perf_counter()
        pipeline = beam.Pipeline(options=options)
        results = pipeline | "Events" >> prep.stream | "Latewatch" >> transform
        results | "Files" >> WriteVersionFiles(tmp)
        if db_path is not None:
            results | "Store" >> WriteVersions(db_path, series)
        pipeline.run().wait_until_finish()
        seconds = time.perf_counter() - started
        try:
            records = list(read_records(tmp))
        except ValueError:
            records = []
    versions, late, superseded = split_records(records)
    return build_output(spec, prep, versions, late, superseded, runner, seconds), seconds


def build_output(spec, prep: Prepared, versions, late, superseded, runner, seconds) -> dict:
    """The same JSON shape as ``engine replay``; outcomes counted from what the panes
    and the side output carried (each record: the most favourable of its pairs)."""
    versions = sorted(
        versions, key=lambda v: (v.window_start_ms, v.window_end_ms, v.group, v.version)
    )
    pair_counts = [0] * 5
    best: dict[str, int] = {}

    def pair(event_id: str, outcome: str) -> None:
        rank = _RANK[outcome]
        pair_counts[rank] += 1
        if rank < best.get(event_id, 5):
            best[event_id] = rank

    for v in versions:
        for event_id in v.added_ids:
            pair(event_id, "late" if v.timing == "late" else "on_time")
    late_records = []
    arrivals = {e.event_id: e.arrival_time_ms for e in prep.events}
    for le in sorted(late, key=lambda x: (x.window_start_ms, x.group, x.event_id)):
        pair(le.event_id, _ACTION_OUTCOME[le.action])
        rec = le.to_record()
        if le.action == "too_late" and le.watermark_ms is None:
            w = prep.watermark_at.get(le.event_id)
            rec["watermark"] = format_ms(w)
            rec["late_by_ms"] = None if w is None else w - le.window_end_ms
            rec["processing_time"] = format_ms(arrivals.get(le.event_id))
        late_records.append(rec)
    record_counts = [0] * 5
    unaccounted = []
    for event in prep.events:
        rank = best.get(event.event_id)
        if rank is None:
            unaccounted.append(event.event_id)
        else:
            record_counts[rank] += 1
    outcomes = Outcomes(
        on_time=record_counts[0],
        late=record_counts[1],
        side_output=record_counts[2],
        dropped=record_counts[3],
        too_late=record_counts[4],
        duplicates=prep.duplicates,
        quarantined=prep.quarantined,
        pairs={_BY_RANK[i]: n for i, n in enumerate(pair_counts) if n},
    )
    outcomes.input = sum(record_counts) + len(unaccounted) + prep.duplicates + prep.quarantined

    sup = {(s["group"], s["old_start_ms"], s["old_end_ms"]): s for s in superseded}
    by_window: dict[tuple, list] = {}
    for v in versions:
        by_window.setdefault((v.window_start_ms, v.window_end_ms, v.group), []).append(v)
    windows = []
    for (start, end, group), vs in sorted(by_window.items()):
        records = [v.to_record() for v in vs]
        new = sup.get((group, start, end))
        if new is not None:
            records[-1]["superseded_by"] = {
                "window_start": format_ms(new["new_start_ms"]),
                "window_end": format_ms(new["new_end_ms"]),
            }
        windows.append(
            {
                "window_start": format_ms(start),
                "window_end": format_ms(end),
                "group": group,
                "versions": records,
            }
        )
    delays = [
        e.arrival_time_ms - e.event_time_ms for e in prep.events if e.arrival_time_ms is not None
    ]
    return {
        "config": spec.to_dict(),
        "windows": windows,
        "outcomes": outcomes.to_dict(),
        "late_events": late_records,
        "quarantine": prep.quarantine,
        "metrics": {
            "watermark_ms": prep.final_watermark_ms,
            "processing_time_ms": prep.processing_time_ms,
            "arrival_delay_ms": percentiles(delays),
            "runner": runner,
            "beam_version": beam.__version__,
            "unaccounted_events": unaccounted,
            "seconds": round(seconds, 3),
            "events_per_second": round(len(prep.events) / seconds, 1) if seconds else None,
        },
    }
