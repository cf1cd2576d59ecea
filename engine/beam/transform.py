"""``LatewatchWindows(spec)``: latewatch's pipeline spec as a Beam ``PTransform``.

Drop it into your own pipeline after your source (e.g. ``ReadFromKafka`` with
event-time timestamps and a watermark)::

    results = events | LatewatchWindows(spec)          # events: dicts, Event objects
    results["versions"]      # latewatch Version objects, one per published pane
    results["late_events"]   # LateEvent objects: late panes of non-update sources,
                             # max_updates overflow, and every too-late pair
    results["quarantine"]    # dict rows for input records that are not valid events
    results | WriteVersions("data/latewatch.db")      # or WriteVersionFiles(dir)

Steps: parse (bad records -> quarantine, never a crash) -> element timestamp =
event time -> one element per group (``group_by``) -> ``WindowInto`` with the spec's
WindowFn, trigger and translated allowed lateness (``engine.beam.translate``) ->
``GroupByKey`` -> each pane with its ``PaneInfo`` -> a keyed, stateful step
(``PaneBook``) that adds DISCARDING panes up into versions with values and deltas
(version = pane index + 1 when every pane is published), turns late panes of
non-``update`` sources into late-event records, and — with an event-time timer at
``end + L`` — reports every (event, window) pair that entered the windowing but no
pane carried as ``too_late``. Beam itself drops those silently.

The watermark is the runner's (your source's); the spec's watermark strategy is
what ``engine.beam.teststream`` feeds a TestStream with. Beam does not show a DoFn
the watermark or the processing time of a pane: versions carry them only where
the runner gives them (the DirectRunner, through ``runner_timing=True``), else null.
Deduplicate upstream (e.g. ``beam.transforms.deduplicate.DeduplicatePerKey`` on
``event_id``): the transform counts what it is given.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam import coders
from apache_beam.transforms import window as beam_window
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Timestamp

from engine.beam.panes import TIMINGS, PaneBook, PaneTiming
from engine.beam.translate import check_direct_runner_triggers, ts_ms, windowing_args
from engine.core.events import Event, ParseOptions, RecordError, parse_event, raw_text
from engine.core.spec import PipelineSpec
from engine.core.timeutil import NEG_INF_MS, POS_INF_MS
from engine.core.window_state import group_function

QUARANTINE = "quarantine"
LATE = "late_events"
SUPERSEDED = "superseded"


def window_bounds(window) -> tuple[int, int]:
    if isinstance(window, beam_window.GlobalWindow):
        return (NEG_INF_MS, POS_INF_MS)
    return (ts_ms(window.start), ts_ms(window.end))


class _Parse(beam.DoFn):
    """dict / Event / tuple -> Event stamped with its event time; else a quarantine row."""

    def __init__(self, assume_tz: str | None) -> None:
        self.options = ParseOptions(assume_tz=assume_tz, max_future_ms=None, known_event_types=None)

    def process(self, element):
        if isinstance(element, Event):
            event = element
        elif isinstance(element, tuple):
            event = Event(*element)
        else:
            try:
                if not isinstance(element, dict):
                    raise RecordError("malformed_row", "a record must be a JSON object")
                event = parse_event(element, self.options)
            except RecordError as exc:
                row = {"line": None, "reason": exc.reason, "detail": str(exc)}
                row["raw"] = raw_text(element)
                yield beam.pvalue.TaggedOutput(QUARANTINE, row)
                return
        yield beam_window.TimestampedValue(event, Timestamp(micros=event.event_time_ms * 1000))


class _PaneRecord(beam.DoFn):
    """(group, [events]) of one pane -> (book key, ("pane", ...))."""

    def __init__(self, merging: bool) -> None:
        self.merging = merging

    def process(self, kv, window=beam.DoFn.WindowParam, pane=beam.DoFn.PaneInfoParam):
        group, events = kv
        start, end = window_bounds(window)
        key = (group,) if self.merging else (group, start, end)
        item = ("pane", start, end, pane.index, TIMINGS[pane.timing], pane.is_last, list(events))
        yield (key, item)


class _Entered(beam.DoFn):
    """Every (event, window) pair that entered the windowing, for the too-late count."""

    def __init__(self, merging: bool) -> None:
        self.merging = merging

    def process(self, kv, window=beam.DoFn.WindowParam):
        group, event = kv
        start, end = window_bounds(window)
        key = (group,) if self.merging else (group, start, end)
        yield (key, ("entered", start, end, event))


def _with_timing(item_and_timing, offset_ms: int = 0):
    """(item, TimingInfo) from the DirectRunner's PairWithTiming -> item with timing.

    Only the processing time is kept: the watermark PairWithTiming reports is its own
    output watermark, which the pane's timestamp hold keeps at the window's end - 1 µs
    — not the watermark that fired the pane, so it would mislead."""
    (key, item), timing = item_and_timing
    micros = timing.processing_time.micros  # float seconds inside: round to the ms
    at = PaneTiming((micros + 500) // 1000 + offset_ms, None)
    return (key, (*item, at))


_BOOK = ReadModifyWriteStateSpec("book", coders.PickleCoder())
_EXPIRY = TimerSpec("expiry", TimeDomain.WATERMARK)
_BOOK_PARAM = beam.DoFn.StateParam(_BOOK)
_EXPIRY_PARAM = beam.DoFn.TimerParam(_EXPIRY)


class _Versioner(beam.DoFn):
    """The keyed, stateful step: one ``PaneBook`` per key, an event-time timer at the
    earliest ``end + L`` it still waits for."""

    def __init__(self, spec_json: str, merging: bool) -> None:
        self.spec_json = spec_json
        self.merging = merging
        self.spec: PipelineSpec | None = None

    def setup(self):
        self.spec = PipelineSpec.from_json(self.spec_json)

    def _emit(self, versions, late, supersessions):
        yield from versions
        for record in late:
            yield beam.pvalue.TaggedOutput(LATE, record)
        for record in supersessions:
            yield beam.pvalue.TaggedOutput(SUPERSEDED, record)

    def _arm(self, book: PaneBook, expiry) -> None:
        at = book.next_expiry()
        if at is None:
            expiry.clear()
        else:
            expiry.set(Timestamp(micros=at * 1000))

    def process(
        self,
        kv,
        book_state=_BOOK_PARAM,
        expiry=_EXPIRY_PARAM,
    ):
        key, item = kv
        book = book_state.read() or PaneBook(self.spec, key[0], self.merging)
        if item[0] == "pane":
            _, start, end, index, timing, is_last, events, *rest = item
            at = rest[0] if rest else None
            yield from self._emit(*book.offer(start, end, index, timing, is_last, events, at))
        else:
            _, start, end, event = item
            book.entered(event, start, end)
        self._arm(book, expiry)
        book_state.write(book)

    @on_timer(_EXPIRY)
    def on_expiry(
        self,
        fired=beam.DoFn.TimestampParam,
        book_state=_BOOK_PARAM,
        expiry=_EXPIRY_PARAM,
    ):
        book = book_state.read()
        if book is None:
            return
        for record in book.expire(ts_ms(fired)):
            yield beam.pvalue.TaggedOutput(LATE, record)
        if book.empty():
            book_state.clear()
        else:
            self._arm(book, expiry)
            book_state.write(book)


class LatewatchWindows(beam.PTransform):
    """Run a ``PipelineSpec``'s windowing on Beam; returns a dict of PCollections:
    ``versions``, ``late_events``, ``quarantine``, ``superseded``.

    ``drop_rule``: ``"python"`` for runners that execute Beam Python's trigger driver
    (DirectRunner, Python portable runners), ``"java"`` for Java runner-core (Flink,
    Spark, Dataflow) — see ``engine.beam.translate``; ``translate.drop_rule_for(runner)``
    picks it from the runner name. ``runner_timing=True`` adds the runner's processing
    time and watermark to each pane (DirectRunner only: it uses the DirectRunner's
    ``PairWithTiming`` primitive); ``clock_offset_ms`` is added to that processing time
    (a TestStream's clock starts at 0)."""

    def __init__(
        self,
        spec: PipelineSpec,
        drop_rule: str = "python",
        runner_timing: bool = False,
        assume_tz: str | None = None,
        clock_offset_ms: int = 0,
    ) -> None:
        super().__init__()
        self.clock_offset_ms = clock_offset_ms
        self.spec = spec
        self.drop_rule = drop_rule
        self.runner_timing = runner_timing
        self.assume_tz = assume_tz
        self.windowing = windowing_args(spec, drop_rule)  # refuses what Beam cannot express
        if drop_rule == "python":
            check_direct_runner_triggers(spec)
        self.merging = spec.window.kind == "session"

    def expand(self, pcoll):
        spec, merging = self.spec, self.merging
        groups = group_function(spec.group_by)
        parsed = pcoll | "Parse" >> beam.ParDo(_Parse(self.assume_tz)).with_outputs(
            QUARANTINE, main="events"
        )
        keyed = (
            parsed.events
            | "PerGroup" >> beam.FlatMap(lambda e: [(g, e) for g in groups(e)])
            | "Window" >> beam.WindowInto(**self.windowing)
        )
        panes = (
            keyed | "GroupByKey" >> beam.GroupByKey() | "Panes" >> beam.ParDo(_PaneRecord(merging))
        )
        if self.runner_timing:
            from apache_beam.testing.test_stream import PairWithTiming

            panes = (
                panes
                | "PaneTiming" >> PairWithTiming()
                | "WithTiming" >> beam.Map(_with_timing, self.clock_offset_ms)
            )
        entered = keyed | "Entered" >> beam.ParDo(_Entered(merging))
        glob = beam_window.GlobalWindows()
        books = (
            (
                panes | "PanesGlobal" >> beam.WindowInto(glob),
                entered | "EnteredGlobal" >> beam.WindowInto(glob),
            )
            | "Flatten" >> beam.Flatten()
            | "Versions"
            >> beam.ParDo(_Versioner(spec.to_json(), merging)).with_outputs(
                LATE, SUPERSEDED, main="versions"
            )
        )
        return {
            "versions": books.versions,
            "late_events": books[LATE],
            "superseded": books[SUPERSEDED],
            "quarantine": parsed[QUARANTINE],
        }
