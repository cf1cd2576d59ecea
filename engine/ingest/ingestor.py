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
- Time is injected (``clock``): a row without ``arrival_time`` arrives "now".
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from engine.core.events import Event, ParseOptions, RecordError, event_id_of, raw_text, try_parse
from engine.core.limits import RAW_PREFIX_CHARS, storable
from engine.ingest.readers import (
    FORMATS,
    MalformedRow,
    ProgressBar,
    UnreadableFile,
    detect_format,
    read_file,
)
from engine.store.db import IngestCounts, Store

MAX_RAW_CHARS = RAW_PREFIX_CHARS
MAX_DETAIL_CHARS = 500


@dataclass(frozen=True)
class IngestOptions:
    parse: ParseOptions = field(default_factory=ParseOptions)
    batch_size: int = 5000
    keep_events: bool = True  # return accepted events in the report (off for huge files)
    source_name: str | None = None  # label of the ingest ("simulator", a file's source)
    file: str | None = None


@dataclass
class RowBlock:
    """Rows of one block for ``Ingestor.ingest_blocks``, in input order.

    ``columns``: field name (``engine.ingest.fast_rows.FIELDS``) -> the cell of each row
    in the record the row path would parse (missing fields: absent). ``fast``: rows the
    column checks may judge (the reader and any mapping found nothing to say about the
    row as a whole). ``record(i)``: row ``i`` exactly as ``ingest_records`` would get it
    (a record dict or a ``MalformedRow``) — the row path's input for every other row."""

    lines: list[int]
    columns: dict[str, list]
    fast: np.ndarray
    record: Callable[[int], object]


@dataclass
class _Columns:
    """Parsed rows of a block in line order, as columns (accepted by the column checks,
    plus the row path's parsed rows merged in by line)."""

    lines: np.ndarray
    ids: list
    sources: list
    event_time_ms: list
    arrival_time_ms: list
    amount_cents: list
    items: list
    event_types: list
    keys: list
    records: list  # the row path's record (None: a column-path row; read again lazily)

    @classmethod
    def of(cls, acc, fast: np.ndarray, lines: np.ndarray, slow: list) -> _Columns:
        idx = fast.tolist()

        def pick(values):
            return [values[i] for i in idx]

        cols = cls(
            lines,
            pick(acc.event_id),
            pick(acc.source),
            acc.event_time_ms[fast].tolist(),
            acc.arrival_time_ms[fast].tolist(),
            acc.amount_cents[fast].tolist(),
            acc.items[fast].tolist(),
            pick(acc.event_type),
            pick(acc.key),
            [None] * len(idx),
        )
        if slow:
            cols._merge(slow)
        return cols

    def _merge(self, slow: list) -> None:
        """Add the row path's (line, record, Event) triples, keeping line order."""
        self.lines = np.concatenate([self.lines, np.asarray([t[0] for t in slow], np.int64)])
        for _line, record, e in slow:
            self.ids.append(e.event_id)
            self.sources.append(e.source)
            self.event_time_ms.append(e.event_time_ms)
            self.arrival_time_ms.append(e.arrival_time_ms)
            self.amount_cents.append(e.amount_cents)
            self.items.append(e.items)
            self.event_types.append(e.event_type)
            self.keys.append(e.key)
            self.records.append(record)
        order = np.argsort(self.lines, kind="stable")
        self.lines = self.lines[order]
        at = order.tolist()
        for name in (
            "ids",
            "sources",
            "event_time_ms",
            "arrival_time_ms",
            "amount_cents",
            "items",
            "event_types",
            "keys",
            "records",
        ):
            values = getattr(self, name)
            setattr(self, name, [values[i] for i in at])

    def content(self, k: int) -> tuple:
        """``Event.content_key()`` of row ``k``."""
        return (
            self.sources[k],
            self.event_time_ms[k],
            self.amount_cents[k],
            self.items[k],
            self.event_types[k],
            self.keys[k],
        )

    def raw_rows(self, rows: np.ndarray, ingest_id: int | None, now_ms: int):
        """``raw_events`` rows of the positions ``rows`` (see ``write_ingest_rows``)."""
        if len(rows) == len(self.ids):
            cols = (
                self.ids,
                self.event_time_ms,
                self.arrival_time_ms,
                self.sources,
                self.keys,
                self.event_types,
                self.amount_cents,
                self.items,
            )
        else:
            at = rows.tolist()
            cols = tuple(
                [values[i] for i in at]
                for values in (
                    self.ids,
                    self.event_time_ms,
                    self.arrival_time_ms,
                    self.sources,
                    self.keys,
                    self.event_types,
                    self.amount_cents,
                    self.items,
                )
            )
        n = len(cols[0])
        return zip(*cols, [ingest_id] * n, [now_ms] * n, strict=True)

    def event(self, k: int) -> Event:
        return Event(
            self.ids[k],
            self.sources[k],
            self.event_time_ms[k],
            self.arrival_time_ms[k],
            self.amount_cents[k],
            self.items[k],
            self.event_types[k],
            self.keys[k],
        )

    def events(self, rows: np.ndarray) -> list[Event]:
        if len(rows) == len(self.ids):
            return list(
                map(
                    Event,
                    self.ids,
                    self.sources,
                    self.event_time_ms,
                    self.arrival_time_ms,
                    self.amount_cents,
                    self.items,
                    self.event_types,
                    self.keys,
                )
            )
        return [self.event(k) for k in rows.tolist()]


@dataclass
class IngestReport:
    ingest_id: int
    rows_read: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)

    @property
    def quarantined(self) -> int:
        return sum(self.quarantined_by_reason.values())

    @property
    def balanced(self) -> bool:
        return self.accepted + self.duplicates + self.quarantined == self.rows_read

    def summary(self) -> str:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.quarantined_by_reason.items()))
        return (
            f"ingest {self.ingest_id}: rows read {self.rows_read:,} = accepted {self.accepted:,}"
            f" + duplicates {self.duplicates:,} + quarantined {self.quarantined:,}"
            + (f" ({reasons})" if reasons else "")
        )


class Ingestor:
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

    def ingest_blocks(
        self,
        blocks: Iterable[RowBlock],
        progress: Callable[[int], None] | None = None,
    ) -> IngestReport:
        """Ingest blocks of rows (``RowBlock``: a reader's rows as columns, e.g. an import
        of a large CSV file). The rows the column checks of ``engine.ingest.fast_rows``
        accept are parsed a column at a time; every other row takes ``ingest_records``'
        row path — so each outcome, reason, detail and line is the row path's. One
        transaction per block."""
        opts = self.options
        ingest_id = self.store.begin_ingest(opts.source_name, opts.file, self.clock())
        report = IngestReport(ingest_id=ingest_id)
        counts = IngestCounts()
        try:
            for block in blocks:
                self._flush_block(block, report, counts)
                if progress is not None:
                    progress(report.rows_read)
            self._flush([], report, counts, self.on_events, finished=True)
        except BaseException as exc:
            self._record_failure(ingest_id, exc)
            raise
        assert report.balanced, "ingest accounting does not add up"
        return report

    def ingest_frame(self, frame, chunk_rows: int = 50_000) -> IngestReport:
        """Ingest a typed frame (simulator output, a typed Parquet table) with the
        vectorized validation of ``engine.ingest.frame`` — same rules, same reasons,
        same accounting as ``ingest_records``, an order of magnitude faster."""
        return self.ingest_frames([frame], chunk_rows)

    def ingest_frames(
        self,
        frames: Iterable,
        chunk_rows: int = 50_000,
        progress: Callable[[int], None] | None = None,
    ) -> IngestReport:
        """``ingest_frame`` over a sequence of typed frames read one at a time (a
        dataset's raw log page by page): ONE ingest, lines numbered on across the
        frames, one transaction per chunk. ``progress(rows read)`` after each frame."""
        opts = self.options
        ingest_id = self.store.begin_ingest(opts.source_name, opts.file, self.clock())
        report = IngestReport(ingest_id=ingest_id)
        counts = IngestCounts()
        try:
            it = iter(frames)
            frame = next(it, None)
            if frame is None:  # nothing to read: the ingest is complete and empty
                self._flush([], report, counts, None, finished=True)
            first_line = 1
            while frame is not None:
                after = next(it, None)
                self._frame_chunks(frame, chunk_rows, report, counts, first_line, after is None)
                first_line += len(frame)
                if progress is not None:
                    progress(counts.rows_read)
                frame = after
        except BaseException as exc:
            self._record_failure(ingest_id, exc)
            raise
        report.rows_read = counts.rows_read
        report.accepted = counts.accepted
        report.duplicates = counts.duplicates
        report.quarantined_by_reason = dict(counts.quarantined_by_reason)
        assert report.balanced, "ingest accounting does not add up"
        return report

    def _frame_chunks(
        self,
        frame,
        chunk_rows: int,
        report: IngestReport,
        counts,
        first_line: int = 1,
        last: bool = True,
    ) -> None:
        from engine.ingest.frame import validate_frame_columns

        opts = self.options
        total = len(frame)
        for start in range(0, max(total, 1), chunk_rows):
            part = frame.iloc[start : start + chunk_rows]
            now = self.clock()
            rows, quarantined = validate_frame_columns(
                part, opts.parse, now, first_line=first_line + start
            )
            counts.rows_read += len(part)
            for q in quarantined:
                counts.quarantined_by_reason[q["reason"]] = (
                    counts.quarantined_by_reason.get(q["reason"], 0) + 1
                )
            cols = _Columns(
                rows.lines,
                rows.event_id,
                rows.source,
                rows.event_time_ms,
                rows.arrival_time_ms,
                rows.amount_cents,
                rows.items,
                rows.event_type,
                rows.key,
                [None] * len(rows.event_id),
            )
            at_line: dict[int, int] = {}

            def quarantine(
                line,
                record,
                reason,
                detail,
                event_id=None,
                _cols=cols,
                _out=quarantined,
                _at=at_line,
            ):
                if not _at:
                    _at.update((ln, k) for k, ln in enumerate(_cols.lines.tolist()))
                event = _cols.event(_at[line]) if line in _at else None
                raw = raw_text(event.to_record() if event is not None else record)
                _out.append(
                    {
                        "line": line,
                        "event_id": event_id,
                        "reason": reason,
                        "detail": detail,
                        "raw": storable(raw[:MAX_RAW_CHARS]),
                    }
                )
                counts.quarantined_by_reason[reason] = (
                    counts.quarantined_by_reason.get(reason, 0) + 1
                )

            finished = last and start + chunk_rows >= total
            with self.store.transaction():
                accepted = self._dedup_and_write_columns(
                    cols, report, counts, quarantine, quarantined, now, finished
                )
            if opts.keep_events or (self.on_events is not None and len(accepted)):
                events = cols.events(accepted)
                if opts.keep_events:
                    report.events.extend(events)
                if self.on_events is not None and events:
                    self.on_events(events)

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

    def _flush_block(self, block: RowBlock, report: IngestReport, counts: IngestCounts) -> None:
        from engine.ingest.fast_rows import accept_columns

        now = self.clock()
        lines = block.lines
        acc = accept_columns(block.columns, len(lines), self.options.parse)
        ok = acc.ok & block.fast
        fast = np.flatnonzero(ok)
        at_line: dict[int, int] = {}

        def record_at(line):
            if not at_line:
                at_line.update((ln, i) for i, ln in enumerate(lines))
            return block.record(at_line[line])

        batch = [(lines[i], block.record(i)) for i in np.flatnonzero(~ok).tolist()]
        slow, quarantined, quarantine = self._parse_rows(batch, counts, now, record_at)
        counts.rows_read += len(fast)
        cols = _Columns.of(acc, fast, np.asarray(lines, dtype=np.int64)[fast], slow)
        with self.store.transaction():
            accepted = self._dedup_and_write_columns(
                cols, report, counts, quarantine, quarantined, now
            )
        report.rows_read = counts.rows_read
        report.accepted = counts.accepted
        report.duplicates = counts.duplicates
        report.quarantined_by_reason = dict(counts.quarantined_by_reason)
        if accepted is not None and (self.options.keep_events or self.on_events is not None):
            events = cols.events(accepted)
            if self.options.keep_events:
                report.events.extend(events)
            if self.on_events is not None and events:
                self.on_events(events)

    def _dedup_and_write_columns(
        self, cols, report, counts, quarantine, quarantined, now, finished=False
    ):
        """``_dedup_and_write`` a column at a time: the same outcomes (the first row of
        an id is accepted unless the log has it; a repeat is a duplicate when its content
        matches what came first, else a conflict), decided in Python only for the rows
        whose id repeats. Returns the positions accepted."""
        n = len(cols.ids)
        ids = cols.ids
        existing = self.store.existing_contents(list(dict.fromkeys(ids))) if n else {}
        repeat = pd.Index(ids).duplicated(keep="first") if n else np.zeros(0, bool)
        if existing:
            repeat |= np.fromiter((i in existing for i in ids), bool, n)
        accepted = np.flatnonzero(~repeat)
        flagged = np.flatnonzero(repeat).tolist()
        if flagged:
            first: dict[str, int] = {}
            for k in accepted.tolist():
                first.setdefault(ids[k], k)
            for k in flagged:
                eid = ids[k]
                known = existing.get(eid)
                if known is None:
                    known = existing[eid] = cols.content(first[eid])
                if known == cols.content(k):
                    counts.duplicates += 1
                else:
                    quarantine(
                        int(cols.lines[k]),
                        cols.records[k],
                        "conflict",
                        "event_id already accepted with different content",
                        eid,
                    )
        counts.accepted += len(accepted)
        self.store.write_ingest_rows(
            report.ingest_id,
            cols.raw_rows(accepted, report.ingest_id, now),
            quarantined,
            counts,
            now,
            finished=finished,
        )
        return accepted

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
