"""Look at a file before importing it: is it the kind of file its name says, does it
have rows, and would its timestamps be read at all?

Why a module: the Import page must answer "why can't I import this?" with a sentence
(an empty file, a header without rows, random bytes named ``.csv``, timestamps
written without an offset) instead of a table of garbage rows or a dataset that is
100 % quarantined. These checks only read the file; validation itself stays in
``engine.ingest.ingestor`` (one path for CLI, API, import and replay).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from engine.core.events import RecordError, parse_event
from engine.ingest.readers import MalformedRow, detect_format, read_file

PROBE_BYTES = 64 * 1024
# A text file is mostly printable: tabs, newlines and characters from U+0020 upwards.
MIN_PRINTABLE_SHARE = 0.95
FORMAT_NAMES = {"csv": "CSV", "jsonl": "JSON-lines", "parquet": "Parquet"}


@dataclass(frozen=True)
class FileCheck:
    """``ok`` False means: show ``message`` and offer nothing else for this file."""

    ok: bool
    kind: str  # ok | empty | header_only | not_text | not_parquet | unknown_type | no_rows
    message: str
    columns: tuple[str, ...] = ()


def _printable_share(text: str) -> float:
    if not text:
        return 1.0
    good = sum(1 for ch in text if ch in "\t\r\n" or (ch >= " " and ch != "\ufffd"))
    return good / len(text)


def check_file(path: str | Path, label: str | None = None) -> FileCheck:
    """What kind of file ``path`` is, in a sentence a user can act on."""
    path = Path(path)
    name = label or path.name
    try:
        fmt = detect_format(path)
    except ValueError:
        return FileCheck(False, "unknown_type", f"`{name}` is not a .csv, .jsonl or .parquet file.")
    kind_name = FORMAT_NAMES[fmt]
    if path.stat().st_size == 0:
        return FileCheck(
            False, "empty", f"`{name}` is empty (0 bytes): there is nothing to import."
        )
    if fmt == "parquet":
        try:
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(str(path)).metadata
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for junk
            return FileCheck(
                False,
                "not_parquet",
                f"`{name}` is not a Parquet file (it could not be opened: {exc}). "
                "Was it saved under the wrong extension?",
            )
        columns = tuple(meta.schema.names)
        if meta.num_rows == 0:
            return FileCheck(
                False,
                "header_only",
                f"`{name}` has columns ({', '.join(columns)}) but no rows.",
                columns,
            )
        return FileCheck(True, "ok", "", columns)
    with path.open("rb") as fh:
        head = fh.read(PROBE_BYTES)
    if b"\x00" in head:
        return FileCheck(
            False,
            "not_text",
            f"`{name}` is not a {kind_name} file: it contains binary data (NUL bytes). "
            "Export the log as text (UTF-8) and upload that.",
        )
    text = head.decode("utf-8", errors="replace")
    if not text.strip():
        return FileCheck(False, "empty", f"`{name}` holds only blank lines: nothing to import.")
    share = _printable_share(text)
    if share < MIN_PRINTABLE_SHARE:
        return FileCheck(
            False,
            "not_text",
            f"`{name}` does not look like a {kind_name} file: {1 - share:.0%} of its first "
            "bytes are not readable text (UTF-8). Was a binary file renamed?",
        )
    records = 0
    columns: dict[str, None] = {}
    malformed = 0
    for n, (_, record) in enumerate(read_file(path)):
        if n >= 50:
            break
        if isinstance(record, MalformedRow):
            malformed += 1
            continue
        records += 1
        if isinstance(record, dict):
            columns.update(dict.fromkeys(record))
    if fmt == "csv":
        columns = dict.fromkeys(_csv_header(path)) or columns
    cols = tuple(c for c in columns if c)
    if records == 0 and malformed == 0:
        if fmt == "csv" and cols:
            return FileCheck(
                False,
                "header_only",
                f"`{name}` has a header ({', '.join(cols)}) but no data rows: there is "
                "nothing to import.",
                cols,
            )
        return FileCheck(False, "no_rows", f"`{name}` has no rows to import.", cols)
    if records == 0:
        return FileCheck(
            False,
            "not_text",
            f"`{name}` does not look like a {kind_name} file: none of its first rows could "
            "be read (every one is malformed).",
            cols,
        )
    return FileCheck(True, "ok", "", cols)


def _csv_header(path: Path) -> list[str]:
    import csv

    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        try:
            return [h.strip() for h in next(csv.reader(fh))]
        except (StopIteration, csv.Error):
            return []


@dataclass(frozen=True)
class ScanOutcome:
    """How the first ``scanned`` rows would end under a mapping (duplicates not judged)."""

    scanned: int
    ok: int
    by_reason: dict[str, int]

    @property
    def all_quarantined(self) -> bool:
        return self.scanned > 0 and self.ok == 0

    @property
    def no_offset(self) -> int:
        return self.by_reason.get("no_offset", 0)


def scan_outcome(records, options, scan: int = 2_000) -> ScanOutcome:
    """Count accepted/quarantined among the first ``scan`` mapped records (``records``
    as ``map_records`` yields them), with the parser the import runs."""
    reasons: Counter[str] = Counter()
    ok = n = 0
    for n, (_, record) in enumerate(records, start=1):
        if n > scan:
            n -= 1
            break
        if isinstance(record, MalformedRow):
            reasons[record.reason] += 1
            continue
        try:
            parse_event(record, options)
        except RecordError as exc:
            reasons[exc.reason] += 1
            continue
        ok += 1
    return ScanOutcome(n, ok, dict(reasons))


def zone_suggestions(business_tz: str) -> list[str]:
    """Zones to offer when timestamps carry no offset: servers usually log in UTC, and
    people's exports are usually in the business zone."""
    return list(dict.fromkeys(["UTC", business_tz]))


def scan_file(path: str | Path, mapping, assume_tz: str | None, scan: int = 2_000) -> ScanOutcome:
    """``scan_outcome`` over a file's first ``scan`` rows under a column mapping."""
    from engine.ingest.mapping import map_records, parse_options

    return scan_outcome(
        map_records(read_file(path), mapping), parse_options(mapping, assume_tz), scan
    )


__all__ = [
    "FileCheck",
    "ScanOutcome",
    "check_file",
    "scan_file",
    "scan_outcome",
    "zone_suggestions",
]
