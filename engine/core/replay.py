"""Replay a file of records through the window operator, in arrival order.

Records are taken in order of ``arrival_time`` (file order breaks ties; a record
without one arrives right after the record before it). Besides events, a JSONL
file may carry control records:

- ``{"watermark": T, "arrival_time": P}`` advances a punctuated watermark at P;
- ``{"arrival_time": P}`` only advances processing time (fires timers).

End of input advances the watermark to +inf. Bad records are quarantined with
their line number and a reason; the run continues.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from engine.core.events import Deduplicator, ParseOptions, RecordError, raw_text, try_parse
from engine.core.operator import WindowOperator
from engine.core.spec import PipelineSpec
from engine.core.timeutil import TimestampError, format_ms, parse_timestamp_ms

_CONTROL_KEYS = {"watermark", "arrival_time"}


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One input row for ``replay``: its line, the record (None when the row could not
    be read: ``error`` and ``reason`` say why) and, for those, its raw text. Files are
    read by ``engine.ingest.readers.replay_records`` (the ingest readers and limits)."""

    line: int
    record: dict | None
    text: str = ""
    error: str | None = None
    reason: str = "malformed_row"


def _arrival(rec: dict, assume_tz: str | None) -> int | None:
    value = rec.get("arrival_time")
    if value in (None, ""):
        return None
    try:
        return parse_timestamp_ms(value, assume_tz)
    except TimestampError:
        return None  # the event parser will quarantine it with the reason


def arrival_items(records: Iterable[RawRecord], assume_tz: str | None = None) -> Iterator[tuple]:
    """The records in arrival order, read, validated and de-duplicated — what every
    runner of a file sees (the operator here, a Beam TestStream in engine.beam):

    - ``("control", arrival_ms | None, watermark_ms | None)``: processing time and/or a
      punctuated watermark moved;
    - ``("quarantine", row_dict, counted)``: a bad record (``counted`` is False for a
      control record whose watermark could not be read: it is not an input record);
    - ``("duplicate", None, None)``: an exact repeat of an accepted event;
    - ``("event", event, None)``: an accepted event.
    """
    rows = list(records)
    effective: list[tuple[int, int, RawRecord]] = []
    last = None
    for order, row in enumerate(rows):
        arrival = _arrival(row.record, assume_tz) if row.record is not None else None
        if arrival is not None:
            last = arrival
        effective.append((last if last is not None else -(2**62), order, row))
    effective.sort(key=lambda item: (item[0], item[1]))

    options = ParseOptions(assume_tz=assume_tz, max_future_ms=None, known_event_types=None)
    dedup = Deduplicator()
    for _, _, row in effective:
        rec = row.record
        if rec is None:
            yield ("quarantine", _q(row, row.reason, row.error or "unreadable"), True)
            continue
        if "event_id" not in rec and set(rec) <= _CONTROL_KEYS:
            arrival = _arrival(rec, assume_tz)
            watermark = None
            if "watermark" in rec:
                try:
                    watermark = parse_timestamp_ms(rec["watermark"], assume_tz)
                except TimestampError as exc:
                    yield ("quarantine", _q(row, exc.reason, str(exc)), False)
                else:
                    if not options.limits.min_time_ms <= watermark < options.limits.max_time_ms:
                        detail = f"watermark {format_ms(watermark)} is outside the sane range"
                        yield ("quarantine", _q(row, "time_out_of_range", detail), False)
                        watermark = None
            yield ("control", arrival, watermark)
            continue
        event = try_parse(rec, options)
        if isinstance(event, RecordError):
            yield ("quarantine", _q(row, event.reason, str(event)), True)
            continue
        verdict = dedup.check(event)
        if verdict == "duplicate":
            yield ("duplicate", None, None)
            continue
        if verdict == "conflict":
            detail = f"event_id {event.event_id!r} seen with other content"
            yield ("quarantine", _q(row, "conflict", detail), True)
            continue
        yield ("event", event, None)


def replay(
    records: Iterable[RawRecord],
    spec: PipelineSpec,
    assume_tz: str | None = None,
) -> dict:
    """Run the operator over the records; return the replay output document."""
    op = WindowOperator(spec)
    quarantine: list[dict] = []
    late_events: list[dict] = []
    versions = []

    def flush() -> None:
        v, late = op.drain()
        versions.extend(v)
        late_events.extend(x.to_record() for x in late)

    for kind, item, extra in arrival_items(records, assume_tz):
        if kind == "event":
            op.process(item)
            flush()
        elif kind == "control":
            if item is not None:
                op.advance_processing_time(item)
            if extra is not None:
                op.advance_watermark(extra)
            flush()
        elif kind == "quarantine":
            quarantine.append(item)
            if extra:
                op.count_rejected("quarantined")
        else:
            op.count_rejected("duplicate")
    op.finish()
    flush()
    return build_output(spec, versions, op, late_events, quarantine)


def _q(row: RawRecord, reason: str, detail: str) -> dict:
    raw = raw_text(row.text) if row.text or row.record is None else raw_text(row.record)
    return {"line": row.line, "reason": reason, "detail": detail, "raw": raw}


def build_output(spec, versions, op: WindowOperator, late_events, quarantine) -> dict:
    by_window: dict[tuple, list] = {}
    for v in versions:
        by_window.setdefault((v.window_start_ms, v.window_end_ms, v.group), []).append(v)
    superseded = {(s.group, s.old[0], s.old[1]): s.new for s in op.drain_supersessions()}
    windows = []
    for (start, end, group), vs in sorted(by_window.items()):
        records = [v.to_record() for v in vs]
        new = superseded.get((group, start, end))
        if new is not None:
            records[-1]["superseded_by"] = {
                "window_start": format_ms(new[0]),
                "window_end": format_ms(new[1]),
            }
        windows.append(
            {
                "window_start": format_ms(start),
                "window_end": format_ms(end),
                "group": group,
                "versions": records,
            }
        )
    outcomes = op.outcomes.to_dict()
    return {
        "config": spec.to_dict(),
        "windows": windows,
        "outcomes": outcomes,
        "late_events": late_events,
        "quarantine": quarantine,
        "metrics": {k: v for k, v in op.metrics().items() if k != "outcomes"},
    }
