"""Continuous ways in: JSON lines from a stream (stdin) and files dropped into a folder.

Both go through the one ingest path (``Ingestor``: validation, de-duplication by
``event_id``, quarantine with a reason, accounting per ingest):

- ``ingest_stream``: JSON lines from a text stream. Until EOF it is one ingest
  (committed every ``batch_size`` rows). With ``follow`` every line is committed
  within ``flush_ms`` of arriving (one ingest per micro-batch), so
  ``kafka-console-consumer … | python -m engine ingest - --follow`` shows up
  live; on a regular file it keeps reading what is appended, like ``tail -f``.
- ``FolderWatcher``: new ``.csv`` / ``.jsonl`` / ``.parquet`` files in a folder,
  each read once (recorded in the store's ``watched_files`` by name, size and
  modification time). Dotfiles and ``.tmp`` files are ignored, so a writer that
  writes ``.orders.jsonl`` or ``orders.jsonl.tmp`` and then renames it is never
  read half-written; a file is also only read once its size and modification
  time held still over one poll.

Time is injected (``clock``); waiting uses ``sleep``/``wait`` arguments the caller
owns (the command line passes real ones).
"""

from __future__ import annotations

import io
import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from engine.core.limits import RAW_PREFIX_CHARS, Limits, escaped_bytes, storable
from engine.ingest.ingestor import (
    FORMATS,
    IngestOptions,
    Ingestor,
    IngestReport,
    MalformedRow,
    read_file,
)
from engine.ingest.readers import record_from_json
from engine.ingest.vocabulary import Vocabulary
from engine.store.db import Store

WATCH_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".parquet")
IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp")


def jsonl_record(line_no: int, line: str) -> tuple[int, object] | None:
    """One JSON line as the readers give it: (line, record) or (line, MalformedRow) —
    the same rules as ``engine.ingest.readers.read_jsonl`` (size, encoding, nesting)."""
    stripped = line.strip()
    if not stripped:
        return None
    cap = Limits.from_env().max_row_chars
    if len(stripped) > cap:
        return line_no, MalformedRow(
            raw=storable(stripped[:RAW_PREFIX_CHARS]),
            detail=f"line {line_no} is longer than {cap:,} characters (the row cap)",
            reason="oversized_row",
        )
    if escaped_bytes(stripped):
        return line_no, MalformedRow(
            raw=storable(stripped[:RAW_PREFIX_CHARS]),
            detail=f"line {line_no} holds bytes that are not valid UTF-8",
            reason="encoding",
        )
    return line_no, record_from_json(stripped)


@dataclass
class StreamTotals:
    ingests: int = 0
    rows_read: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    reports: list[IngestReport] = field(default_factory=list)

    def add(self, report: IngestReport) -> None:
        self.ingests += 1
        self.rows_read += report.rows_read
        self.accepted += report.accepted
        self.duplicates += report.duplicates
        self.quarantined += report.quarantined
        self.reports.append(report)

    def summary(self) -> str:
        return (
            f"{self.ingests} ingest(s): rows read {self.rows_read} = accepted {self.accepted} "
            f"+ duplicates {self.duplicates} + quarantined {self.quarantined}"
        )


def _lines_into(stream: TextIO, out: queue.Queue, follow_file: bool, poll_s: float, stop) -> None:
    """Reader thread: complete lines into ``out``; None at the end."""
    partial = ""
    while not stop.is_set():
        line = stream.readline()
        if line == "":
            if not follow_file:
                break
            stop.wait(poll_s)  # a regular file: wait for more to be appended
            continue
        if not line.endswith("\n") and follow_file:
            partial += line  # the writer is mid-line; wait for the rest
            continue
        out.put(partial + line)
        partial = ""
    if partial:
        out.put(partial)
    out.put(None)


def ingest_stream(
    store: Store,
    stream: TextIO,
    options: IngestOptions,
    clock: Callable[[], int],
    follow: bool = False,
    flush_ms: int = 500,
    on_report: Callable[[IngestReport], None] | None = None,
    stop: threading.Event | None = None,
    vocabulary: Vocabulary | None = None,
) -> StreamTotals:
    """Ingest JSON lines from ``stream``; see the module docstring."""
    totals = StreamTotals()
    ingestor = Ingestor(store, options, clock=clock)
    vocab = vocabulary or Vocabulary()
    if not follow:

        def records() -> Iterator[tuple[int, object]]:
            for n, line in enumerate(stream, start=1):
                item = jsonl_record(n, line)
                if item is not None:
                    yield item

        report = ingestor.ingest_records(vocab.map_records(records()))
        totals.add(report)
        if on_report is not None:
            on_report(report)
        return totals

    stop = stop or threading.Event()
    follow_file = _is_regular_file(stream)
    lines: queue.Queue = queue.Queue(maxsize=100_000)
    reader = threading.Thread(
        target=_lines_into,
        args=(stream, lines, follow_file, flush_ms / 1000, stop),
        daemon=True,
        name="latewatch-stdin",
    )
    reader.start()
    line_no = 0
    ended = False
    while not ended and not stop.is_set():
        try:
            first = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        batch: list[tuple[int, object]] = []
        item = first
        deadline = clock() + flush_ms
        while True:
            if item is None:
                ended = True
                break
            line_no += 1
            rec = jsonl_record(line_no, item)
            if rec is not None:
                batch.append(rec)
            if len(batch) >= options.batch_size:
                break
            wait_s = (deadline - clock()) / 1000
            if wait_s <= 0:
                break
            try:
                item = lines.get(timeout=wait_s)
            except queue.Empty:
                break
        if batch:
            report = ingestor.ingest_records(vocab.map_records(batch))
            totals.add(report)
            if on_report is not None:
                on_report(report)
    return totals


def _is_regular_file(stream) -> bool:
    try:
        import stat

        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (AttributeError, OSError, io.UnsupportedOperation, ValueError):
        return False


def watchable(name: str) -> bool:
    """A file the folder watcher reads: a known data suffix, not hidden, not temporary."""
    lower = name.lower()
    if name.startswith(".") or lower.endswith(IGNORED_SUFFIXES):
        return False
    return lower.endswith(WATCH_SUFFIXES)


@dataclass
class WatchedFile:
    name: str
    status: str  # "completed" or "failed"
    report: IngestReport | None
    detail: str | None = None


class FolderWatcher:
    """Reads each new data file in ``directory`` once. Call ``poll()`` repeatedly."""

    def __init__(
        self,
        store: Store,
        directory: str | Path,
        options: IngestOptions,
        clock: Callable[[], int],
        settle_polls: int = 1,
        vocabulary: Vocabulary | None = None,
    ) -> None:
        self.store = store
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise FileNotFoundError(f"--watch: {directory} is not a folder")
        self.key = str(self.directory.resolve())
        self.options = options
        self.clock = clock
        self.settle_polls = settle_polls
        self.vocabulary = vocabulary or Vocabulary()
        self._seen_sizes: dict[str, tuple[int, int, int]] = {}  # name -> (size, mtime, polls)

    def pending(self) -> bool:
        """Files seen but not read yet (waiting to settle)."""
        return bool(self._seen_sizes)

    def candidates(self) -> list[tuple[str, int, int]]:
        out = []
        for entry in sorted(os.scandir(self.directory), key=lambda e: e.name):
            if not entry.is_file() or not watchable(entry.name):
                continue
            st = entry.stat()
            out.append((entry.name, st.st_size, st.st_mtime_ns))
        return out

    def poll(self) -> list[WatchedFile]:
        """Ingest the files that are new and settled; returns what was read."""
        done: list[WatchedFile] = []
        present = set()
        for name, size, mtime in self.candidates():
            present.add(name)
            if self.store.watched_file_seen(self.key, name, size, mtime):
                continue
            prev = self._seen_sizes.get(name)
            polls = prev[2] + 1 if prev and prev[:2] == (size, mtime) else 0
            self._seen_sizes[name] = (size, mtime, polls)
            if polls < self.settle_polls:
                continue  # still being written (or just appeared): look again next poll
            done.append(self._ingest(name, size, mtime))
            self._seen_sizes.pop(name, None)
        for name in list(self._seen_sizes):
            if name not in present:
                del self._seen_sizes[name]
        return done

    def _ingest(self, name: str, size: int, mtime: int) -> WatchedFile:
        path = self.directory / name
        fmt = Path(name).suffix.lower().lstrip(".")
        options = IngestOptions(
            parse=self.options.parse,
            batch_size=self.options.batch_size,
            keep_events=False,
            source_name=self.options.source_name or f"watch:{self.directory.name}",
            file=name,
        )
        try:
            if fmt == "ndjson":
                fmt = "jsonl"
            if fmt not in FORMATS:
                raise ValueError(f"cannot ingest {name!r}")
            report = Ingestor(self.store, options, clock=self.clock).ingest_records(
                self.vocabulary.map_records(read_file(path))
            )
        except (OSError, ValueError) as exc:
            detail = f"{type(exc).__name__}: {exc}"
            self.store.record_watched_file(
                self.key, name, size, mtime, None, "failed", detail, self.clock()
            )
            return WatchedFile(name, "failed", None, detail)
        self.store.record_watched_file(
            self.key, name, size, mtime, report.ingest_id, "completed", None, self.clock()
        )
        return WatchedFile(name, "completed", report)
