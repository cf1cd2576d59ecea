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

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.core.events import Deduplicator, ParseOptions, RecordError, parse_event, raw_text
from engine.core.operator import WindowOperator
from engine.core.spec import PipelineSpec
from engine.core.timeutil import TimestampError, format_ms, parse_timestamp_ms

_CONTROL_KEYS = {"watermark", "arrival_time"}


@dataclass(frozen=True, slots=True)
class RawRecord:
    line: int
    record: dict | None  # None when the line could not be read at all
    text: str
    error: str | None = None


def read_records(path: str | Path) -> Iterator[RawRecord]:
    """Yield the records of a .jsonl/.json-lines or .csv file with line numbers."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, start=1):
                text = line.strip()
                if not text:
                    continue
                try:
                    rec = json.loads(text)
                except json.JSONDecodeError as exc:
                    yield RawRecord(n, None, text, f"invalid JSON: {exc.msg}")
                    continue
                if not isinstance(rec, dict):
                    yield RawRecord(n, None, text, "a line must hold a JSON object")
                    continue
                yield RawRecord(n, rec, text)
    elif suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            for n, row in enumerate(reader, start=2):
                if None in row:  # more cells than header columns
                    yield RawRecord(n, None, json.dumps(row, default=str), "too many cells")
                    continue
                rec = {k: v for k, v in row.items() if v not in (None, "")}
                yield RawRecord(n, rec, json.dumps(row))
    else:
        raise ValueError(f"cannot replay {path.name}: use .jsonl or .csv")


def _arrival(rec: dict, assume_tz: str | None) -> int | None:
    value = rec.get("arrival_time")
    if value in (None, ""):
        return None
    try:
        return parse_timestamp_ms(value, assume_tz)
    except TimestampError:
        return None  # the event parser will quarantine it with the reason


def replay(
    records: Iterable[RawRecord],
    spec: PipelineSpec,
    assume_tz: str | None = None,
) -> dict:
    """Run the operator over the records; return the replay output document."""
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
    op = WindowOperator(spec)
    dedup = Deduplicator()
    quarantine: list[dict] = []
    late_events: list[dict] = []
    versions = []

    def flush() -> None:
        v, late = op.drain()
        versions.extend(v)
        late_events.extend(x.to_record() for x in late)

    for _, _, row in effective:
        rec = row.record
        if rec is None:
            quarantine.append(_q(row, "malformed_row", row.error or "unreadable"))
            op.count_rejected("quarantined")
            continue
        if "event_id" not in rec and set(rec) <= _CONTROL_KEYS:
            arrival = _arrival(rec, assume_tz)
            if arrival is not None:
                op.advance_processing_time(arrival)
            if "watermark" in rec:
                try:
                    op.advance_watermark(parse_timestamp_ms(rec["watermark"], assume_tz))
                except TimestampError as exc:
                    quarantine.append(_q(row, exc.reason, str(exc)))
            flush()
            continue
        try:
            event = parse_event(rec, options)
        except RecordError as exc:
            quarantine.append(_q(row, exc.reason, str(exc)))
            op.count_rejected("quarantined")
            continue
        verdict = dedup.check(event)
        if verdict == "duplicate":
            op.count_rejected("duplicate")
            continue
        if verdict == "conflict":
            quarantine.append(
                _q(row, "conflict", f"event_id {event.event_id!r} seen with other content")
            )
            op.count_rejected("quarantined")
            continue
        op.process(event)
        flush()
    op.finish()
    flush()
    return build_output(spec, versions, op, late_events, quarantine)


def _q(row: RawRecord, reason: str, detail: str) -> dict:
    return {"line": row.line, "reason": reason, "detail": detail, "raw": raw_text(row.text)}


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
