"""CSV in blocks of rows, as columns: the fast twin of ``readers.read_csv``.

``read_csv`` reads a line at a time and turns every row into a dict — exact about
hostile input, but ~20 µs a row. An import of a 50 MB file wants whole columns.
``read_csv_blocks`` reads the file a few MB at a time (cut at a line break) and
gives, per block, the rows that are records as *columns* of cells plus the rows that
are not (``MalformedRow``, with their line numbers) — the same rows, cells, reasons
and line numbers as ``read_csv`` (a property test holds the two together):

- lines with no quote character, valid UTF-8 and well under the row cap (in a block
  without lone CRs) are split with ``str.split(",")``: there is nothing a CSV parser
  could read differently in them;
- from any other line (a quote, bad bytes, near the cap) ``read_csv``'s own machinery
  (``_Lines``, ``_csv_row``) reads on until it is back at a line start — unclosed
  quotes, quoted fields spanning lines, oversized lines. A quoted field still open at
  the end of a block is carried into the next block and read again from its first
  line, exactly as the streaming reader would;
- a file whose header cannot be found in its first block, or a line longer than a
  block, is read by the streaming reader for the rest of the file (still in blocks).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.core.limits import RAW_PREFIX_CHARS, Limits, escaped_bytes, storable
from engine.ingest.readers import (
    _END,
    MalformedRow,
    UnreadableFile,
    _cells,
    _encoding,
    _Lines,
    _oversized,
    open_text,
)

BLOCK_BYTES = 4 << 20
_QUOTE_RE = re.compile('"')
_ESCAPED_RE = re.compile("[\udc80-\udcff]")
_BOM = b"\xef\xbb\xbf"


@dataclass
class CsvBlock:
    """Rows of a CSV file in file order: ``lines[i]`` is the line of row ``i``; a row is
    either a record (its cells are ``columns[j][k]`` at ``k = record_pos[i]``) or a
    ``MalformedRow`` (``bad[i]``)."""

    header: list[str]
    lines: list[int] = field(default_factory=list)
    columns: list[list[str]] = field(default_factory=list)
    record_pos: list[int] = field(default_factory=list)  # -1 for a malformed row
    bad: dict[int, MalformedRow] = field(default_factory=dict)  # row index -> why
    max_chars: int = 0  # the longest record line (for the whole-row size check)

    def __len__(self) -> int:
        return len(self.lines)

    def record(self, i: int) -> dict | MalformedRow:
        """Row ``i`` exactly as ``read_csv`` yields it."""
        if i in self.bad:
            return self.bad[i]
        k = self.record_pos[i]
        return dict(zip(self.header, (c[k] for c in self.columns), strict=True))

    def pairs(self) -> Iterator[tuple[int, object]]:
        """``(line, record)`` pairs, as ``read_csv`` gives them."""
        for i, line in enumerate(self.lines):
            yield line, self.record(i)


class _Builder:
    """Collects one block's rows (records as row lists until ``finish``)."""

    def __init__(self, header: list[str]) -> None:
        self.header = header
        self.width = len(header)
        self.lines: list[int] = []
        self.rows: list[list[str]] = []
        self.flat: list[str] = []  # records of fast stretches, cells concatenated
        self.pos: list[int] = []
        self.bad: dict[int, MalformedRow] = {}
        self.max_chars = 0
        self._order: list[tuple[int, int]] = []  # (kind, index): 0 flat row, 1 slow row

    def add(self, line_no: int, item: list[str] | MalformedRow, chars: int = 0) -> None:
        if isinstance(item, MalformedRow):
            self.bad[len(self.lines)] = item
            self.lines.append(line_no)
            self.pos.append(-1)
            return
        self.lines.append(line_no)
        self.pos.append(-2)  # placeholder: a slow record, numbered in finish()
        self.rows.append(item)
        self.max_chars = max(self.max_chars, chars)

    def add_flat(self, line_nos: list[int], cells: list[str], chars: int) -> None:
        """Records of a fast stretch: ``cells`` holds ``width`` cells per line."""
        start = len(self.flat) // self.width if self.width else 0
        self.flat.extend(cells)
        self.lines.extend(line_nos)
        self.pos.extend(range(-3 - start, -3 - start - len(line_nos), -1))
        self.max_chars = max(self.max_chars, chars)

    def finish(self) -> CsvBlock:
        """Columns in row order: flat stretches and slow records interleaved."""
        width = self.width
        n_flat = len(self.flat) // width if width else 0
        n_slow = len(self.rows)
        if n_slow == 0:
            columns = [self.flat[j::width] for j in range(width)]
            raw = np.asarray(self.pos, dtype=np.int64)
            pos = np.where(raw == -1, -1, -3 - raw).tolist()
        else:
            rows = [self.flat[k * width : (k + 1) * width] for k in range(n_flat)]
            out_rows: list[list[str]] = []
            pos = []
            slow = iter(self.rows)
            for p in self.pos:
                if p == -1:
                    pos.append(-1)
                    continue
                pos.append(len(out_rows))
                out_rows.append(next(slow) if p == -2 else rows[-3 - p])
            columns = [list(c) for c in zip(*out_rows, strict=True)] if out_rows else []
            if not columns:
                columns = [[] for _ in range(width)]
        return CsvBlock(self.header, self.lines, columns, pos, self.bad, self.max_chars)

    def __len__(self) -> int:
        return len(self.lines)


def read_csv_blocks(
    path: str | Path,
    progress: Callable[[int, int], None] | None = None,
    limits: Limits | None = None,
    block_bytes: int = BLOCK_BYTES,
) -> Iterator[CsvBlock]:
    """The rows of a CSV file in blocks (see the module docstring)."""
    limits = limits or Limits.from_env()
    cap = limits.max_row_chars
    total = Path(path).stat().st_size
    with open(path, "rb") as fh:
        reader = _BlockReader(fh, cap, block_bytes)
        yield from reader.blocks(lambda done: progress(done, total) if progress else None)
    if progress is not None:
        progress(total, total)


class _BlockReader:
    def __init__(self, fh, cap: int, block_bytes: int) -> None:
        self.fh = fh
        self.cap = cap
        self.block_bytes = max(block_bytes, 1)
        self.pending = b""
        self.eof = False
        self.read_bytes = 0

    def _next_bytes(self) -> bytes | None:
        """The next stretch of whole lines; None at the end of the file; b'' when no line
        break came within the limit (``pending`` keeps the bytes: stream from there)."""
        limit = max(4 * self.block_bytes, 4 * self.cap + 16)
        while not self.eof:
            cut = self.pending.rfind(b"\n")
            if cut >= 0 and len(self.pending) >= self.block_bytes:
                out, self.pending = self.pending[: cut + 1], self.pending[cut + 1 :]
                return out
            if len(self.pending) > limit:
                cut = self.pending.rfind(b"\n")
                if cut < 0:
                    return b""
                out, self.pending = self.pending[: cut + 1], self.pending[cut + 1 :]
                return out
            chunk = self.fh.read(self.block_bytes)
            self.read_bytes += len(chunk)
            if not chunk:
                self.eof = True
                break
            self.pending += chunk
        out, self.pending = self.pending, b""
        return out or None

    def blocks(self, progress) -> Iterator[CsvBlock]:
        cap = self.cap
        data = self._next_bytes()
        if data is None:
            return
        if data == b"":  # no line break in the first stretch: one huge line
            yield from self._stream(self.pending, 0, None, progress, first=True)
            return
        if data.startswith(_BOM):
            data = data[len(_BOM) :]
        text = data.decode("utf-8", "surrogateescape")
        lines = _Lines(io.StringIO(text, newline=""), cap)
        first = lines.next()
        while first is not None and not first[2] and not first[1].strip():
            first = lines.next()
        if first is None:
            if self.eof and not self.pending:
                return  # blank: no header, no rows
            yield from self._stream(data + self.pending, 0, None, progress)
            return
        if first[2]:
            raise UnreadableFile(f"the CSV header is longer than {cap:,} characters")
        header = [h.strip() for h in (_cells(first[1]) or [])]
        carry = text[lines.text.tell() :]
        line_no = lines.line_no
        while True:
            data = self._next_bytes()
            if data == b"":
                prefix = carry.encode("utf-8", "surrogateescape") + self.pending
                yield from self._stream(prefix, line_no, header, progress)
                return
            final = data is None
            text = carry + ("" if final else data.decode("utf-8", "surrogateescape"))
            if final and not text:
                return
            block = _Builder(header)
            carry, line_no = self._block(text, line_no, block, final)
            if len(block):
                yield block.finish()
            progress(self.read_bytes - len(self.pending))
            if final:
                return

    def _block(self, text: str, line_no: int, out: _Builder, final: bool) -> tuple[str, int]:
        """Rows of ``text`` (whole lines following line ``line_no``) into ``out``; returns
        (text to read again with the next block, the line number before it).

        Plain lines go through ``_fast``; from a line a CSV parser could read differently
        (a quote, bad bytes, near the row cap) ``read_csv``'s machinery reads on until
        it is back at a line start with nothing pushed back, then plain lines again."""
        cap = self.cap
        if out.width < 2 or ("\r" in text and text.count("\r") != text.count("\r\n")):
            return self._slow(text, line_no, out, final)
        parts = text.split("\n")
        if parts[-1] == "":
            parts.pop()
        lens = np.fromiter(map(len, parts), np.int64, len(parts))
        starts = np.concatenate(([0], np.cumsum(lens + 1)))
        hits = [m.start() for m in _QUOTE_RE.finditer(text)]
        if not text.isascii():
            hits += [m.start() for m in _ESCAPED_RE.finditer(text)]
        odd_mask = lens > cap - 2
        if hits:
            odd_mask[np.searchsorted(starts, np.asarray(hits), side="right") - 1] = True
        odd = np.flatnonzero(odd_mask).tolist()
        if len(odd) * 50 > len(parts):
            return self._slow(text, line_no, out, final)
        crlf = "\r" in text
        starts = starts.tolist() if odd else []
        stream = io.StringIO(text, newline="") if odd else None
        k = 0
        for t in odd:
            if t < k:
                continue
            self._fast(parts[k:t], line_no + k, out, crlf)
            stream.seek(starts[t])
            lines = _Lines(stream, cap)
            lines.line_no = line_no + t
            step = _row(lines, out, cap, final)
            if isinstance(step, tuple):
                return step[1], step[0] - 1  # a quoted field open at the block's end
            if step is None:
                return "", lines.line_no
            # back at a line start: the next line not yet read (pushed-back lines of an
            # unclosed quote are rows of their own, read like any other line)
            k = (lines.back[0][0] if lines.back else lines.line_no + 1) - line_no - 1
            assert lines.back or starts[k] == stream.tell(), "the reader stopped inside a line"
        self._fast(parts[k:], line_no + k, out, crlf)
        return "", line_no + len(parts)

    def _fast(self, parts: list[str], line_no: int, out: _Builder, crlf: bool) -> None:
        """Lines without quotes, bad bytes or lone CRs: cells are ``split(",")``."""
        if not parts:
            return
        if crlf:
            parts = [p.rstrip("\r") for p in parts]
        width = out.width
        commas = np.fromiter(map(str.count, parts, [","] * len(parts)), np.int64, len(parts))
        odd = np.flatnonzero(commas != width - 1)
        start = 0
        for k in [*odd.tolist(), len(parts)]:
            if k > start:
                good = parts[start:k]
                out.add_flat(
                    list(range(line_no + 1 + start, line_no + 1 + k)),
                    ",".join(good).split(","),
                    max(map(len, good)),
                )
            if k == len(parts):
                break
            line = parts[k]
            start = k + 1
            if not line.strip():
                continue  # a blank line is not a row
            cells = line.split(",")
            out.add(
                line_no + 1 + k,
                MalformedRow(
                    raw=storable(line.rstrip("\r\n")[:RAW_PREFIX_CHARS]),
                    detail=f"{len(cells)} fields where the header has {width}",
                ),
            )

    def _slow(self, text: str, line_no: int, out: _Builder, final: bool) -> tuple[str, int]:
        lines = _Lines(io.StringIO(text, newline=""), self.cap)
        lines.line_no = line_no
        carry_from = _rows(lines, out, self.cap, final)
        if carry_from is None:
            return "", lines.line_no
        start_line, carry = carry_from
        return carry, start_line - 1

    def _stream(self, data: bytes, line_no: int, header, progress, first: bool = False):
        """The rest of the file (``data`` then what is left of it) through the streaming
        line reader, in blocks of rows. ``first``: from the file's first byte (a BOM is
        dropped, the header is read here)."""
        raw = _Chain(data, self.fh)
        binary = io.BufferedReader(raw, 1 << 20)
        if first:
            text = open_text(binary)
        else:
            text = io.TextIOWrapper(binary, encoding="utf-8", errors="surrogateescape", newline="")
        lines = _Lines(text, self.cap)
        lines.line_no = line_no
        if header is None:
            head = lines.next()
            while head is not None and not head[2] and not head[1].strip():
                head = lines.next()
            if head is None:
                return
            if head[2]:
                raise UnreadableFile(f"the CSV header is longer than {self.cap:,} characters")
            header = [h.strip() for h in (_cells(head[1]) or [])]
        while True:
            block = _Builder(header)
            more = _rows(lines, block, self.cap, True, max_rows=50_000)
            if len(block):
                yield block.finish()
            progress(self.read_bytes + raw.count)
            if not more:
                return


class _Chain(io.RawIOBase):
    """``data`` then the rest of ``fh``, as one raw stream (counts what it reads)."""

    def __init__(self, data: bytes, fh) -> None:
        self.data = memoryview(data)
        self.fh = fh
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.data.nbytes:
            n = min(len(buffer), self.data.nbytes)
            buffer[:n] = self.data[:n]
            self.data = self.data[n:]
            return n
        n = self.fh.readinto(buffer)
        self.count += n or 0
        return n


def _rows(
    lines: _Lines, out: _Builder, cap: int, final: bool, max_rows: int | None = None
) -> tuple[int, str] | bool | None:
    """``read_csv``'s row loop over ``lines`` into ``out``.

    Not ``final`` (a block of a larger file): returns None when the block was read, or
    (line, its text to the block's end) of a row whose quoted field was still open at
    the end of the block — that row is read again with the next block. With
    ``max_rows``: True when it stopped for the row limit (more to read), False at the
    end."""
    while True:
        if max_rows is not None and len(out) >= max_rows:
            return True
        step = _row(lines, out, cap, final)
        if step is None:
            return False if max_rows is not None else None
        if isinstance(step, tuple):
            return step


def _row(lines: _Lines, out: _Builder, cap: int, final: bool) -> tuple[int, str] | bool | None:
    """One turn of ``read_csv``'s loop: True after a line was read, None at the end of
    the lines, or (line, text) when a quoted field is open at the end of a block."""
    width = out.width
    item = lines.next()
    if item is None:
        return None
    line_no, line, over = item
    if over:
        out.add(*_oversized(line_no, line, cap))
        return True
    if not line.strip():
        return True  # a blank line is not a row
    span, cells, hit_end = _csv_row(lines, item, cap)
    if hit_end and not final:
        # every line from here to the block's end is in ``span``: read them again
        return line_no, "".join(s[1] for s in span)
    row_text = "".join(s[1] for s in span)
    if cells is None or (len(span) > 1 and len(cells) != width):
        lines.push(span[1:])
        out.add(
            line_no,
            MalformedRow(
                raw=storable(line.rstrip("\r\n")[:RAW_PREFIX_CHARS]),
                detail=f"line {line_no}: a quoted field is not closed on its row",
            ),
        )
        return True
    if escaped_bytes(row_text):
        out.add(*_encoding(line_no, row_text))
        return True
    if len(cells) != width:
        out.add(
            line_no,
            MalformedRow(
                raw=storable(row_text.rstrip("\r\n")[:RAW_PREFIX_CHARS]),
                detail=f"{len(cells)} fields where the header has {width}",
            ),
        )
        return True
    out.add(line_no, cells, len(row_text.rstrip("\r\n")))
    return True


def _csv_row(lines: _Lines, item, cap: int):
    """``readers._csv_row``, also saying whether it ran out of lines (``hit_end``)."""
    import csv

    span = [item]
    size = len(item[1])
    hit_end = False

    def feed():
        nonlocal size, hit_end
        yield item[1]
        while True:
            nxt = lines.next()
            if nxt is None:
                hit_end = True
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
        return span, None, hit_end
    if cells and _END in cells[-1]:
        return span, None, hit_end
    return span, cells, hit_end


__all__ = ["BLOCK_BYTES", "CsvBlock", "read_csv_blocks"]
