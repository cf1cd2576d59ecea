"""The column-at-a-time ingest: blocks of rows and typed frames, validated and written
a column at a time, with the row path's outcomes.

``Ingestor`` (``engine.ingest.ingestor``) mixes ``ColumnIngest`` in:

- ``ingest_blocks``: blocks of mapped records as columns (``RowBlock``; the Import
  page's CSV path). ``engine.ingest.fast_rows`` accepts what ``parse_event`` would
  accept, with the same values; every other row goes through the row path
  (``Ingestor._parse_rows``), so its reason, detail and raw copy are the row path's;
- ``ingest_frame`` / ``ingest_frames``: typed frames (the simulator, a dataset's raw
  log) through ``engine.ingest.frame.validate_frame_columns``;
- both de-duplicate a block with one lookup of its ids (``Store.existing_contents``)
  and decide in Python only for the rows whose id repeats; the raw rows go to SQLite
  in one ``executemany`` per block, straight from the columns — an ``Event`` per row
  is built only when the caller wants events (``keep_events``, ``on_events``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import itemgetter

import numpy as np
import pandas as pd

from engine.core.events import Event, raw_text
from engine.core.limits import storable
from engine.ingest.report import MAX_RAW_CHARS, IngestReport
from engine.store.db import IngestCounts


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
class ParsedColumns:
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
    def of(cls, acc, fast: np.ndarray, lines: np.ndarray, slow: list) -> ParsedColumns:
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
            cols = _pick(
                (
                    self.ids,
                    self.event_time_ms,
                    self.arrival_time_ms,
                    self.sources,
                    self.keys,
                    self.event_types,
                    self.amount_cents,
                    self.items,
                ),
                rows,
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
        """``Event`` objects of the positions ``rows``, built a column at a time."""
        cols = (
            self.ids,
            self.sources,
            self.event_time_ms,
            self.arrival_time_ms,
            self.amount_cents,
            self.items,
            self.event_types,
            self.keys,
        )
        if len(rows) != len(self.ids):
            cols = _pick(cols, rows)
        return list(map(Event, *cols))


def _pick(columns: tuple[list, ...], rows: np.ndarray) -> tuple[list, ...]:
    """The values at positions ``rows`` of each of ``columns`` (a C-level gather)."""
    at = rows.tolist()
    if len(at) < 2:  # itemgetter of one position gives the value, not a tuple
        return tuple([values[i] for i in at] for values in columns)
    get = itemgetter(*at)
    return tuple(get(values) for values in columns)


class ColumnIngest:
    """The column paths of ``Ingestor`` (it provides ``store``, ``options``, ``clock``,
    ``on_events``, ``_parse_rows``, ``_flush`` and ``_record_failure``)."""

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
            cols = ParsedColumns(
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
        cols = ParsedColumns.of(acc, fast, np.asarray(lines, dtype=np.int64)[fast], slow)
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


__all__ = ["ColumnIngest", "ParsedColumns", "RowBlock"]
