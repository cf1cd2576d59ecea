"""Streaming file readers: a .csv / .jsonl / .parquet file -> ``(line, record)`` pairs.

Every entry point that reads files (``ingest``, the Import page, ``replay``,
``lateness --input``) reads them here, so a hostile file behaves the same
everywhere. What a reader promises:
- it never raises on a row: a row it cannot turn into a record comes through as a
  ``MalformedRow`` carrying a reason code (``oversized_row``, ``encoding``,
  ``too_deep``, ``malformed_row``, ``time_out_of_range``) and a truncated raw copy;
- memory is bounded: lines are read with a cap (``Limits.max_row_chars``), so a
  single 100 MB line costs one cap of memory and becomes one ``oversized_row``;
- text is opened as ``utf-8-sig`` (an Excel BOM is not part of the first header or
  record); undecodable bytes are kept escaped and the row is quarantined as
  ``encoding`` — never replaced silently with U+FFFD;
- CSV: a quote that is not closed on its row is detected (the row would otherwise
  swallow the rest of the file into one field): that line is quarantined with its
  line number and reading goes on at the next line. A quoted field may still span
  lines when the row it completes has the header's width;
- a file that cannot be read at all (a corrupt or truncated Parquet file) raises
  ``UnreadableFile`` with a one-line message; rows read before that stay read.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from engine.core.limits import RAW_PREFIX_CHARS, Limits, escaped_bytes, json_int, storable
from engine.core.replay import RawRecord

FORMATS = ("csv", "jsonl", "parquet")
READ_CHUNK_CHARS = 1 << 16


@dataclass(frozen=True)
class MalformedRow:
    """A row a reader could not turn into a record, with the reason it is quarantined."""

    raw: str
    detail: str
    reason: str = "malformed_row"


class UnreadableFile(ValueError):
    """The file as a whole cannot be read (corrupt, truncated, not the format it claims)."""


class _CountingReader(io.RawIOBase):
    """Counts bytes read from a binary file so a progress bar can show how far we are."""

    def __init__(self, raw) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.raw.readinto(buffer)
        self.count += n or 0
        return n


def detect_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    fmt = {"ndjson": "jsonl", "json": "jsonl", "pq": "parquet"}.get(suffix, suffix)
    if fmt not in FORMATS:
        raise ValueError(f"cannot ingest {Path(path).name!r}: use a .csv, .jsonl or .parquet file")
    return fmt


def read_file(
    path: str | Path,
    progress: Callable[[int, int], None] | None = None,
    limits: Limits | None = None,
) -> Iterator[tuple[int, object]]:
    """(line, record) pairs; broken rows come through as ``MalformedRow``."""
    limits = limits or Limits.from_env()
    fmt = detect_format(path)
    if fmt == "parquet":
        yield from read_parquet(path, progress)
        return
    total = Path(path).stat().st_size
    with open(path, "rb", buffering=0) as raw:
        counter = _CountingReader(raw)
        text = open_text(io.BufferedReader(counter, 1 << 20))
        reader = read_csv(text, limits) if fmt == "csv" else read_jsonl(text, limits)
        for n, item in enumerate(reader):
            yield item
            if progress is not None and n % 20_000 == 0:
                progress(counter.count, total)
        if progress is not None:
            progress(total, total)


def open_text(binary) -> TextIO:
    """UTF-8 text over a binary stream: a BOM is dropped, bad bytes kept as escapes."""
    return io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="")


class _Lines:
    """Physical lines of a text stream, each cut at ``cap`` characters (the rest of an
    overlong line is skipped without being held), with push-back."""

    def __init__(self, text: TextIO, cap: int) -> None:
        self.text = text
        self.cap = cap
        self.line_no = 0
        self.back: deque[tuple[int, str, bool]] = deque()

    def next(self) -> tuple[int, str, bool] | None:
        """(line number, text, oversized) or None at the end."""
        if self.back:
            return self.back.popleft()
        line = self.text.readline(self.cap + 1)
        if not line:
            return None
        self.line_no += 1
        if len(line) <= self.cap or line.endswith(("\n", "\r")):
            return self.line_no, line, False
        while True:  # skip the rest of the line, a chunk at a time
            rest = self.text.readline(READ_CHUNK_CHARS)
            if not rest or rest.endswith(("\n", "\r")):
                break
        return self.line_no, line[: self.cap], True

    def push(self, items: list[tuple[int, str, bool]]) -> None:
        self.back.extendleft(reversed(items))


def _oversized(line_no: int, text: str, cap: int) -> tuple[int, MalformedRow]:
    return line_no, MalformedRow(
        raw=storable(text[:RAW_PREFIX_CHARS]),
        detail=f"line {line_no} is longer than {cap:,} characters (the row cap)",
        reason="oversized_row",
    )


def _encoding(line_no: int, text: str) -> tuple[int, MalformedRow]:
    return line_no, MalformedRow(
        raw=storable(text.strip()[:RAW_PREFIX_CHARS]),
        detail=f"line {line_no} holds bytes that are not valid UTF-8 (shown as \\udcXX)",
        reason="encoding",
    )


def _cells(text: str) -> list[str] | None:
    try:
        return next(csv.reader((text,)), [])
    except csv.Error:
        return None


def read_csv(text: TextIO, limits: Limits | None = None) -> Iterator[tuple[int, object]]:
    """CSV rows as dicts keyed by the (stripped) header cells."""
    limits = limits or Limits.from_env()
    cap = limits.max_row_chars
    if csv.field_size_limit() < cap + 16:  # deliberately: one field may fill a whole row
        csv.field_size_limit(cap + 16)
    lines = _Lines(text, cap)
    first = lines.next()
    while first is not None and not first[2] and not first[1].strip():
        first = lines.next()
    if first is None:
        return
    if first[2]:
        raise UnreadableFile(f"the CSV header is longer than {cap:,} characters")
    header = [h.strip() for h in (_cells(first[1]) or [])]
    width = len(header)
    while True:
        item = lines.next()
        if item is None:
            return
        line_no, line, over = item
        if over:
            yield _oversized(line_no, line, cap)
            continue
        if not line.strip():
            continue  # a blank line is not a row
        span, cells = _csv_row(lines, item, cap)
        row_text = "".join(s[1] for s in span)
        if cells is None or (len(span) > 1 and len(cells) != width):
            # A quote opened on this line is not closed on its row: only this line is
            # quarantined; the lines after it are read again as rows of their own.
            lines.push(span[1:])
            yield (
                line_no,
                MalformedRow(
                    raw=storable(line.rstrip("\r\n")[:RAW_PREFIX_CHARS]),
                    detail=f"line {line_no}: a quoted field is not closed on its row",
                ),
            )
            continue
        if escaped_bytes(row_text):
            yield _encoding(line_no, row_text)
            continue
        if len(cells) != width:
            yield (
                line_no,
                MalformedRow(
                    raw=storable(row_text.rstrip("\r\n")[:RAW_PREFIX_CHARS]),
                    detail=f"{len(cells)} fields where the header has {width}",
                ),
            )
            continue
        yield line_no, dict(zip(header, cells, strict=True))


_END = "\x1e\x1f"  # fed after the last line a row may take: in a cell, the quote never closed


def _csv_row(lines: _Lines, item, cap: int):
    """Parse the row starting at ``item``: (the lines it took, its cells or None when a
    quoted field is still open at the end of the file or of one row cap)."""
    span = [item]
    size = len(item[1])

    def feed():
        nonlocal size
        yield item[1]
        while True:
            nxt = lines.next()
            if nxt is None:
                break
            if nxt[2] or size + len(nxt[1]) > cap:
                lines.push([nxt])
                break
            span.append(nxt)
            size += len(nxt[1])
            yield nxt[1]
        yield _END + "\n"

    try:
        cells = next(csv.reader(feed()), [])
    except csv.Error:
        return span, None
    if cells and _END in cells[-1]:
        return span, None
    return span, cells


def _no_constants(name: str) -> object:
    raise ValueError(f"{name} is not a JSON value")


_DECODER = json.JSONDecoder(parse_int=json_int, parse_constant=_no_constants)


def loads_record(text: str) -> object:
    """``json.loads`` for one input record: integers of absurd length stay text,
    NaN/Infinity are refused. Raises ``ValueError`` or ``RecursionError``."""
    return _DECODER.decode(text)


def read_jsonl(text: TextIO, limits: Limits | None = None) -> Iterator[tuple[int, object]]:
    """One JSON object per line."""
    limits = limits or Limits.from_env()
    lines = _Lines(text, limits.max_row_chars)
    while True:
        item = lines.next()
        if item is None:
            return
        line_no, line, over = item
        if over:
            yield _oversized(line_no, line, limits.max_row_chars)
            continue
        stripped = line.strip()
        if not stripped:
            continue
        if escaped_bytes(stripped):
            yield _encoding(line_no, stripped)
            continue
        yield line_no, record_from_json(stripped)


def record_from_json(text: str) -> object:
    """A JSON text -> a dict, or the ``MalformedRow`` saying why not."""
    raw = storable(text[:RAW_PREFIX_CHARS])
    try:
        record = loads_record(text)
    except RecursionError:
        return MalformedRow(raw=raw, detail="JSON nested too deeply to read", reason="too_deep")
    except json.JSONDecodeError as exc:
        return MalformedRow(raw=raw, detail=f"bad JSON: {exc.msg} (column {exc.colno})")
    except ValueError as exc:
        return MalformedRow(raw=raw, detail=f"bad JSON: {storable(str(exc))[:200]}")
    if not isinstance(record, dict):
        return MalformedRow(raw=raw, detail="a JSON line must be an object")
    return record


def read_parquet(
    path: str | Path, progress: Callable[[int, int], None] | None = None
) -> Iterator[tuple[int, object]]:
    """Parquet rows as dicts, a row batch at a time. A value pyarrow cannot turn into a
    Python object (a timestamp beyond year 9999) quarantines its row, not the batch."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = Path(path).name
    try:
        pf = pq.ParquetFile(str(path))
        total = pf.metadata.num_rows
        batches = pf.iter_batches(batch_size=20_000)
        row = 0
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                break
            try:
                records = batch.to_pylist()
            except (pa.ArrowException, ValueError, OverflowError):
                records = [_parquet_row(batch, i) for i in range(batch.num_rows)]
            for record in records:
                row += 1
                yield row, record
            if progress is not None:
                progress(row, total)
    except (pa.ArrowException, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnreadableFile(f"{name}: not a readable Parquet file ({first[:200]})") from exc


def _parquet_row(batch, i: int) -> object:
    import pyarrow as pa

    out: dict = {}
    bad: list[str] = []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        try:
            out[name] = column.slice(i, 1).to_pylist()[0]
        except (pa.ArrowException, ValueError, OverflowError):
            bad.append(name)
            out[name] = storable(str(column.slice(i, 1).cast(pa.string(), safe=False)[0]))
    if not bad:
        return out
    timestamps = all(pa.types.is_temporal(batch.schema.field(n).type) for n in bad)
    return MalformedRow(
        raw=storable(json.dumps(out, default=str, sort_keys=True)[:RAW_PREFIX_CHARS]),
        detail=f"column(s) {', '.join(bad)}: value out of range",
        reason="time_out_of_range" if timestamps else "malformed_row",
    )


def replay_records(path: str | Path, limits: Limits | None = None) -> Iterator[RawRecord]:
    """The rows of a file as ``engine.core.replay`` reads them (CSV: empty cells left
    out, so a row holding only ``arrival_time`` is a control record)."""
    csv_file = detect_format(path) == "csv"
    for line, record in read_file(path, limits=limits):
        if isinstance(record, MalformedRow):
            yield RawRecord(line, None, record.raw, record.detail, record.reason)
        elif csv_file:
            yield RawRecord(line, {k: v for k, v in record.items() if v not in (None, "")})
        else:
            yield RawRecord(line, record)


class ProgressBar:
    """A plain-text progress bar on stderr (no dependency); redraws at most per 1%."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self._last = -1

    def __call__(self, done: int, total: int) -> None:
        pct = 100 if total <= 0 else min(100, int(100 * done / total))
        if pct == self._last:
            return
        self._last = pct
        filled = self.width * pct // 100
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {pct:3d}%")
        if pct == 100:
            self.stream.write("\n")
        self.stream.flush()


__all__ = [
    "FORMATS",
    "MalformedRow",
    "ProgressBar",
    "UnreadableFile",
    "detect_format",
    "loads_record",
    "open_text",
    "read_csv",
    "read_file",
    "read_jsonl",
    "read_parquet",
    "record_from_json",
    "replay_records",
]
