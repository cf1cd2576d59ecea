"""Ingest: parse, validate, de-duplicate against the raw log, append, then hand events on.

Why it works this way:
- Every input row ends as exactly one of accepted / duplicate / quarantined
  (with a reason code), and the three counts add up to the rows read — checked
  on every report and stored per ingest.
- A repeated ``event_id`` is compared with what the raw log already holds: the
  same content is a harmless duplicate (a resend), different content is a
  ``conflict`` and is quarantined — the first accepted version stays the truth.
- Rows are processed in batches; each batch (raw events, quarantine rows and
  the running counts) is committed in one transaction *before* its events are
  handed to the caller (``on_events``). A crash after that point loses nothing:
  the raw log is the source of truth a restart replays.
- Files are streamed (csv module, one JSON line at a time, parquet row batches),
  so memory stays bounded however large the file is.
- Large inputs go a column at a time (``engine.ingest.columns``: blocks of a CSV
  import, typed frames); a row the column checks do not accept takes the row path
  here, so reasons and details are the same either way.
- Time is injected (``clock``): a row without ``arrival_time`` arrives "now".
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from engine.core.events import Event, RecordError, event_id_of, raw_text, try_parse
from engine.core.limits import storable
from engine.ingest.columns import ColumnIngest, RowBlock
from engine.ingest.readers import (
    FORMATS,
    MalformedRow,
    ProgressBar,
    UnreadableFile,
    detect_format,
    read_file,
)
from engine.ingest.report import MAX_DETAIL_CHARS, MAX_RAW_CHARS, IngestOptions, IngestReport
from engine.store.db import IngestCounts, Store


class Ingestor(ColumnIngest):
    """Turns records into raw-log rows. One per thread (it holds that thread's Store).

    ``clock``: returns the current processing time in epoch ms (injected).
    ``on_events``: called with each batch of accepted events after it is committed.
    """

    def __init__(
        self,
        store: Store,
        options: IngestOptions | None = None,
        clock: Callable[[], int] | None = None,
        on_events: Callable[[list[Event]], None] | None = None,
    ) -> None:
        self.store = store
        self.options = options or IngestOptions()
        if clock is None:
            raise ValueError("an Ingestor needs a clock (time is injected, never read here)")
        self.clock = clock
        self.on_events = on_events

    def ingest_records(
        self,
        records: Iterable[object],
        on_events: Callable[[list[Event]], None] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> IngestReport:
        """Ingest dicts (or ``(line, record)`` pairs from a reader). Returns the report;
        by then every accepted event is committed to the raw log."""
        opts = self.options
        callback = on_events or self.on_events
        ingest_id = self.store.begin_ingest(opts.source_name, opts.file, self.clock())
        report = IngestReport(ingest_id=ingest_id)
        counts = IngestCounts()
        batch: list[tuple[int | None, object]] = []
        try:
            for i, item in enumerate(records, start=1):
                if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], int):
                    batch.append(item)
                else:
                    batch.append((i, item))
                if len(batch) >= opts.batch_size:
                    self._flush(batch, report, counts, callback, finished=False)
                    batch = []
                    if progress is not None:
                        progress(report.rows_read)
            self._flush(batch, report, counts, callback, finished=True)
        except BaseException as exc:
            self._record_failure(ingest_id, exc)
            raise
        if progress is not None:
            progress(report.rows_read)
        assert report.balanced, "ingest accounting does not add up"
        return report

    def ingest_file(
        self, path: str | Path, progress: Callable[[int, int], None] | None = None
    ) -> IngestReport:
        """Stream a .csv / .jsonl / .parquet file; ``progress(done, total)`` in bytes
        (rows for parquet)."""
        return self.ingest_records(read_file(path, progress))

    # -- internals ------------------------------------------------------------
    def _record_failure(self, ingest_id: int, exc: BaseException) -> None:
        """The file (not a row) failed, or the process is being stopped: what was
        committed stays, the rows of the unfinished batch were never counted, and the
        record says so instead of staying 'running'."""
        error = str(exc).splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        status = "failed" if isinstance(exc, Exception) else "interrupted"
        with contextlib.suppress(Exception):  # never hide the original error
            self.store.fail_ingest(ingest_id, storable(error), self.clock(), status)

    def _flush(self, batch, report, counts, callback, finished: bool) -> None:
        now = self.clock()
        opts = self.options
        parsed, quarantined, quarantine = self._parse_rows(batch, counts, now)

        with self.store.transaction():  # the lookup and the append under one write lock
            accepted = self._dedup_and_write(
                parsed, report, counts, quarantine, quarantined, now, finished
            )
        report.rows_read = counts.rows_read
        report.accepted = counts.accepted
        report.duplicates = counts.duplicates
        report.quarantined_by_reason = dict(counts.quarantined_by_reason)
        if opts.keep_events:
            report.events.extend(accepted)
        if callback is not None and accepted:
            callback(accepted)

    def _parse_rows(self, batch, counts: IngestCounts, now: int, record_at=None):
        """The row path: each ``(line, record)`` parsed by ``parse_event`` (or
        quarantined with its reason). Returns (parsed triples, quarantine rows, the
        function that adds a quarantine row). ``record_at(line)``: the record of a
        line whose triple carries none (a row the column path accepted)."""
        parse_opts = self.options.parse
        max_future = parse_opts.max_future_ms
        parsed: list[tuple[int | None, object, Event]] = []
        quarantined: list[dict] = []

        def quarantine(line, record, reason, detail, event_id=None):
            if record is None and record_at is not None:
                record = record_at(line)
            text = record.raw if isinstance(record, MalformedRow) else raw_text(record)
            quarantined.append(
                {
                    "line": line,
                    "event_id": event_id,
                    "reason": reason,
                    "detail": storable(str(detail))[:MAX_DETAIL_CHARS],
                    "raw": storable(text[:MAX_RAW_CHARS]),
                }
            )
            counts.quarantined_by_reason[reason] = counts.quarantined_by_reason.get(reason, 0) + 1

        for line, record in batch:
            counts.rows_read += 1
            if isinstance(record, MalformedRow):
                quarantine(line, record, record.reason, record.detail)
                continue
            event = try_parse(record, parse_opts)
            if isinstance(event, RecordError):
                eid = event_id_of(record, parse_opts.limits)
                quarantine(line, record, event.reason, str(event), eid)
                continue
            if event.arrival_time_ms is None:
                if max_future is not None and event.event_time_ms - now > max_future:
                    quarantine(
                        line,
                        record,
                        "future_event_time",
                        "event time is further ahead of the ingest time than the tolerance",
                        event.event_id,
                    )
                    continue
                event = replace(event, arrival_time_ms=now)
            parsed.append((line, record, event))
        return parsed, quarantined, quarantine

    def _dedup_and_write(self, parsed, report, counts, quarantine, quarantined, now, finished):
        existing = self.store.existing_contents({e.event_id for _, _, e in parsed})
        accepted: list[Event] = []
        fresh: dict[str, Event] = {}  # accepted in this batch: content compared lazily
        for line, record, event in parsed:
            eid = event.event_id
            known = existing.get(eid)
            if known is None:
                first = fresh.get(eid)
                if first is None:
                    fresh[eid] = event
                    accepted.append(event)
                    continue
                known = existing[eid] = first.content_key()
            if known == event.content_key():
                counts.duplicates += 1
            else:
                quarantine(
                    line,
                    record,
                    "conflict",
                    "event_id already accepted with different content",
                    event.event_id,
                )
        counts.accepted += len(accepted)
        self.store.write_ingest_batch(
            report.ingest_id, accepted, quarantined, counts, now, finished=finished
        )
        return accepted


__all__ = [
    "FORMATS",
    "IngestOptions",
    "IngestReport",
    "Ingestor",
    "MalformedRow",
    "RowBlock",
    "ProgressBar",
    "UnreadableFile",
    "detect_format",
    "read_file",
]
