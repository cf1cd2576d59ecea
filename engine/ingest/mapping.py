"""Import your own event log: map a file's columns onto latewatch's fields, validate
every row through the normal ingest path, and keep the result as a dataset apart
from the live store.

Where imports go, and why: each dataset is its own SQLite file under
``data/imports/<name>.db`` (same schema, written by the same ``Ingestor``), never
the live database. The live store's raw log is the source of truth the runtime
replays into its operators on restart and that T+1/T+7 finalization recomputes
from; imported rows there would leak into live, preliminary and final numbers
(and their ids into its de-duplication). A separate file keeps those numbers
clean, makes a dataset disposable (delete the file), and still lets the
lateness analysis and the what-if lab read it with the same ``events_frame``.

Mapping is a pure rename: ``ColumnMapping`` names which file column holds each
field; ``map_records`` turns a reader's ``(line, record)`` pairs into the
records ``engine.core.events.parse_event`` reads. Nothing is parsed here — validation,
quarantine reasons and de-duplication stay in one place (``engine.ingest.ingestor``), so
every row of the file is reported: accepted + duplicates + quarantined = rows.

Rules an import adds, because lateness cannot be measured without them:
- event time and arrival (received) time are both required columns; a row whose
  arrival cell is empty is quarantined as ``malformed_row`` with that detail
  (the live path would stamp "now", which would invent a delay);
- timestamps without an offset are read in the zone the user names
  (``assume_tz``), or quarantined as ``no_offset`` — never silently local;
- any event type is accepted (user logs have their own vocabulary); only
  ``order.placed`` counts as an order;
- without an id column the row number becomes the id, so re-importing the same
  file is recognised as duplicates, but duplicates *within* it cannot be.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from engine.core.events import ParseOptions, RecordError, check_row, parse_event, raw_text
from engine.core.limits import Limits
from engine.core.timeutil import DAY_MS, format_ms
from engine.ingest.csv_blocks import read_csv_blocks
from engine.ingest.ingestor import IngestOptions, Ingestor, IngestReport
from engine.ingest.readers import MalformedRow, detect_format, read_file
from engine.store.db import Store

FIELDS = (
    "event_time",
    "arrival_time",
    "source",
    "amount",
    "event_id",
    "key",
    "event_type",
    "items",
)
REQUIRED = ("event_time", "arrival_time")
FIELD_LABELS = {
    "event_time": "Event time (when it happened)",
    "arrival_time": "Arrival time (when it was received)",
    "source": "Source",
    "amount": "Amount",
    "event_id": "Event id",
    "key": "User / key",
    "event_type": "Event type",
    "items": "Items",
}
# Column names people use for each field, most specific first (matched case-insensitively).
SYNONYMS = {
    "event_time": (
        "event_time",
        "event_ts",
        "occurred_at",
        "happened_at",
        "timestamp",
        "ts",
        "time",
    ),
    "arrival_time": (
        "arrival_time",
        "received_at",
        "received",
        "arrived_at",
        "ingested_at",
        "ingest_time",
        "processed_at",
        "loaded_at",
    ),
    "source": ("source", "channel", "origin", "platform", "system"),
    "amount": ("amount", "value", "revenue", "total", "price"),
    "event_id": ("event_id", "id", "uuid", "event_uuid", "message_id"),
    "key": ("key", "user_id", "user", "customer_id", "device_id"),
    "event_type": ("event_type", "type", "event", "kind", "event_name"),
    "items": ("items", "quantity", "qty"),
}
DEFAULT_SOURCE = "import"
MAX_FUTURE_MS = DAY_MS
_SLUG_RE = re.compile(r"[^a-z0-9_-]+")


@dataclass(frozen=True)
class ColumnMapping:
    """Which file column holds each field (None: the file has no such column).

    ``default_source`` labels rows when there is no source column (or its cell is
    empty)."""

    event_time: str | None = None
    arrival_time: str | None = None
    source: str | None = None
    amount: str | None = None
    event_id: str | None = None
    key: str | None = None
    event_type: str | None = None
    items: str | None = None
    default_source: str = DEFAULT_SOURCE

    def columns(self) -> dict[str, str]:
        """field -> file column, for the mapped fields only."""
        return {f: c for f in FIELDS if (c := getattr(self, f))}

    def problems(self, file_columns: Iterable[str]) -> list[str]:
        """Why this mapping cannot be imported yet (empty: it can)."""
        have = set(file_columns)
        out = [
            f"choose the column for {FIELD_LABELS[f].lower()}"
            for f in REQUIRED
            if not getattr(self, f)
        ]
        out += [
            f"column {c!r} (for {f}) is not in the file"
            for f, c in self.columns().items()
            if c not in have
        ]
        if self.event_time and self.event_time == self.arrival_time:
            out.append("event time and arrival time are the same column: every delay would be zero")
        if not self.default_source.strip():
            out.append("name a source for rows without one")
        return out


def guess_mapping(columns: Iterable[str]) -> ColumnMapping:
    """A first mapping from column names (the page shows it for the user to correct)."""
    lower = {c.lower().strip(): c for c in columns}
    chosen: dict[str, str] = {}
    used: set[str] = set()
    for f in FIELDS:
        for name in SYNONYMS[f]:
            col = lower.get(name)
            if col is not None and col not in used:
                chosen[f] = col
                used.add(col)
                break
    return ColumnMapping(**chosen)


def map_record(
    record: object, mapping: ColumnMapping, line: int | None, limits: Limits | None = None
) -> object:
    """One reader record -> the record ``parse_event`` reads (or a ``MalformedRow``).

    The whole-row checks (nesting, size, Unicode) run on the row as read, unmapped
    columns included, so an import quarantines exactly the rows ``ingest`` does."""
    if isinstance(record, MalformedRow) or not isinstance(record, dict):
        return record
    try:
        check_row(record, limits or Limits.from_env())
    except RecordError as exc:
        return MalformedRow(raw=raw_text(record), detail=str(exc), reason=exc.reason)
    out = {f: record.get(c) for f, c in mapping.columns().items()}
    if "source" not in out or _blank(out.get("source")):
        out["source"] = mapping.default_source
    if "event_id" not in out:
        out["event_id"] = f"row-{line}"
    if _blank(out.get("arrival_time")):
        raw = ", ".join(f"{k}={v}" for k, v in record.items())
        column = mapping.arrival_time or "arrival time"
        return MalformedRow(
            raw=raw, detail=f"arrival time ({column!r}) is empty: the delay cannot be measured"
        )
    return out


def map_records(
    rows: Iterable[tuple[int, object]], mapping: ColumnMapping
) -> Iterator[tuple[int, object]]:
    """Rename every ``(line, record)`` pair; broken rows pass through to be quarantined."""
    limits = Limits.from_env()
    for line, record in rows:
        yield line, map_record(record, mapping, line, limits)


def parse_options(mapping: ColumnMapping, assume_tz: str | None) -> ParseOptions:
    return ParseOptions(
        assume_tz=assume_tz or None,
        default_source=mapping.default_source,
        max_future_ms=MAX_FUTURE_MS,
        known_event_types=None,
    )


# ---------------------------------------------------------------------- previews
def read_preview(path: str | Path, rows: int = 20) -> pd.DataFrame:
    """The first rows of a file as the reader sees them (cells as given; broken rows
    show their problem in ``(row problem)``)."""
    out = []
    for n, (line, record) in enumerate(read_file(path)):
        if n >= rows:
            break
        if isinstance(record, MalformedRow):
            out.append({"(line)": line, "(row problem)": record.detail})
        else:
            out.append({"(line)": line, **{k: _cell(v) for k, v in record.items()}})
    return pd.DataFrame(out)


def file_columns(path: str | Path, probe_rows: int = 50) -> list[str]:
    """Column names of a file (the union over its first rows, in order of appearance)."""
    cols: dict[str, None] = {}
    for n, (_, record) in enumerate(read_file(path)):
        if n >= probe_rows:
            break
        if isinstance(record, dict):
            cols.update(dict.fromkeys(record))
    return list(cols)


def mapped_preview(
    path: str | Path,
    mapping: ColumnMapping,
    assume_tz: str | None,
    rows: int = 20,
    scan: int = 0,
) -> pd.DataFrame:
    """How the first ``rows`` rows will be read under ``mapping`` — the parsed UTC
    times, the arrival delay — plus every row among the first ``scan`` that will be
    quarantined, with its reason (from the same ``parse_event`` the import runs).
    Duplicates are not judged here: that needs the dataset's log."""
    options = parse_options(mapping, assume_tz)
    out = []
    for n, (line, record) in enumerate(map_records(read_file(path), mapping)):
        if n >= max(rows, scan):
            break
        row = {"line": line}
        if n >= rows and not (isinstance(record, MalformedRow) or _fails(record, options)):
            continue
        if isinstance(record, MalformedRow):
            out.append({**row, "status": f"quarantined: {record.reason}", "detail": record.detail})
            continue
        try:
            e = parse_event(record, options)
        except RecordError as exc:
            out.append({**row, "status": f"quarantined: {exc.reason}", "detail": str(exc)})
            continue
        out.append(
            {
                **row,
                "status": "ok",
                "event_id": e.event_id,
                "source": e.source,
                "event_time (UTC)": format_ms(e.event_time_ms),
                "arrival_time (UTC)": format_ms(e.arrival_time_ms),
                "delay_s": (e.arrival_time_ms - e.event_time_ms) / 1000,
                "amount": e.amount,
                "event_type": e.event_type,
            }
        )
    return pd.DataFrame(out)


# ---------------------------------------------------------------------- datasets
@dataclass
class ImportResult:
    dataset: str
    db_path: Path
    report: IngestReport
    quarantine: pd.DataFrame = field(default_factory=pd.DataFrame)
    kept: bool = True  # False: nothing was accepted into a new dataset, so no file was kept

    @property
    def rows(self) -> int:
        return self.report.rows_read

    def accounting(self) -> dict:
        r = self.report
        return {
            "rows": r.rows_read,
            "accepted": r.accepted,
            "duplicates": r.duplicates,
            "quarantined": r.quarantined,
            "balanced": r.balanced,
        }


def imports_dir_for(db_path: str | Path) -> Path:
    """Datasets live next to the live database, in ``imports/`` (``data/imports`` by
    default; a test's temporary database gets its own)."""
    return Path(db_path).parent / "imports"


def dataset_name(text: str) -> str:
    """A safe file stem for a dataset label ('My events (May).csv' -> 'my-events-may')."""
    stem = Path(str(text)).stem.lower().strip()
    slug = _SLUG_RE.sub("-", stem).strip("-_")
    if not slug:
        raise ValueError("a dataset needs a name with letters or digits")
    return slug[:60]


def dataset_path(imports_dir: str | Path, name: str) -> Path:
    return Path(imports_dir) / f"{dataset_name(name)}.db"


def import_file(
    path: str | Path,
    mapping: ColumnMapping,
    imports_dir: str | Path,
    dataset: str,
    now_ms: int,
    assume_tz: str | None = None,
    file_label: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Ingest ``path`` into the dataset's own SQLite file under ``imports_dir``.

    ``now_ms`` is the processing time of the import (injected; the page passes the
    runtime clock). Importing into an existing dataset appends; repeated rows count
    as duplicates, exactly as in the live ingest. A *new* dataset that would hold no
    accepted event is not kept (the report still says why every row was refused).
    ``progress(done, total)`` is called as the file is read (bytes; rows for Parquet)."""
    problems = mapping.problems(file_columns(path))
    if problems:
        raise ValueError("; ".join(problems))
    db_path = dataset_path(imports_dir, dataset)
    existed = db_path.exists()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    options = IngestOptions(
        parse=parse_options(mapping, assume_tz),
        keep_events=False,
        source_name=f"import:{dataset_name(dataset)}",
        file=file_label or Path(path).name,
    )
    from engine.ingest.mapped_blocks import csv_block_rows, record_blocks

    limits = options.parse.limits
    with Store(db_path) as store:
        ingestor = Ingestor(store, options, clock=lambda: now_ms)
        if detect_format(path) == "csv":
            blocks = (
                csv_block_rows(b, mapping, limits) for b in read_csv_blocks(path, progress, limits)
            )
        else:
            blocks = record_blocks(map_records(read_file(path, progress), mapping))
        report = ingestor.ingest_blocks(blocks)
        quarantine = store.quarantine_frame(limit=100_000, ingest_id=report.ingest_id)
    kept = existed or report.accepted > 0
    if not kept:
        delete_dataset(db_path)
    return ImportResult(dataset_name(dataset), db_path, report, quarantine, kept)


def rename_dataset(imports_dir: str | Path, old: str, new: str) -> str:
    """Rename a dataset's file; returns the new (safe) name. Refuses to overwrite."""
    src, dst = dataset_path(imports_dir, old), dataset_path(imports_dir, new)
    if not src.exists():
        raise ValueError(f"there is no dataset {old!r}")
    if dst == src:
        return dst.stem
    if dst.exists():
        raise ValueError(f"a dataset named {dst.stem!r} already exists")
    for suffix in ("-wal", "-shm", ""):  # the companions travel with the file
        q = src.with_name(src.name + suffix)
        if q.exists():
            q.rename(dst.with_name(dst.name + suffix))
    return dst.stem


def list_datasets(imports_dir: str | Path) -> pd.DataFrame:
    """Imported datasets: name, path, events and sources (newest file first)."""
    rows = []
    base = Path(imports_dir)
    for p in sorted(base.glob("*.db"), key=lambda x: x.stat().st_mtime, reverse=True):
        with Store(p) as store:
            rows.append(
                {
                    "dataset": p.stem,
                    "path": str(p),
                    "events": store.raw_event_count(),
                    "ingests": len(store.ingests_frame()),
                }
            )
    return pd.DataFrame(rows, columns=["dataset", "path", "events", "ingests"])


def dataset_events(db_path: str | Path) -> pd.DataFrame:
    """Every accepted event of a dataset, in arrival (log) order, as ``events_frame``."""
    with Store(db_path) as store:
        return store.events_frame()


def dataset_ingests(db_path: str | Path) -> pd.DataFrame:
    with Store(db_path) as store:
        return store.ingests_frame()


def delete_dataset(db_path: str | Path) -> None:
    """Remove a dataset's SQLite file (and its WAL/SHM companions)."""
    p = Path(db_path)
    for suffix in ("", "-wal", "-shm"):
        q = p.with_name(p.name + suffix)
        if q.exists():
            q.unlink()


UPLOAD_LIMIT_MB = 50  # MiB, as Streamlit counts; .streamlit/config.toml says the same
UPLOAD_LIMIT_BYTES = UPLOAD_LIMIT_MB * 1024 * 1024


def save_upload(
    chunks: Iterable[bytes], target: str | Path, max_bytes: int = UPLOAD_LIMIT_BYTES
) -> int:
    """Write an uploaded file to disk in chunks, refusing more than ``max_bytes``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with target.open("wb") as fh:
        for chunk in chunks:
            written += len(chunk)
            if written > max_bytes:
                fh.close()
                target.unlink(missing_ok=True)
                raise ValueError(f"the file is larger than {max_bytes / 2**20:g} MB")
            fh.write(chunk)
    return written


def copy_sample(sample: str | Path, target_dir: str | Path) -> Path:
    target = Path(target_dir) / Path(sample).name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sample, target)
    return target


def _fails(record: dict, options: ParseOptions) -> bool:
    try:
        parse_event(record, options)
    except RecordError:
        return True
    return False


def _blank(value: object) -> bool:
    return value is None or value == "" or (isinstance(value, float) and value != value)


def _cell(value: object) -> object:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


__all__ = [
    "FIELDS",
    "FIELD_LABELS",
    "REQUIRED",
    "ColumnMapping",
    "ImportResult",
    "dataset_events",
    "dataset_ingests",
    "dataset_name",
    "dataset_path",
    "delete_dataset",
    "file_columns",
    "guess_mapping",
    "import_file",
    "imports_dir_for",
    "list_datasets",
    "map_record",
    "map_records",
    "mapped_preview",
    "parse_options",
    "read_preview",
    "rename_dataset",
    "save_upload",
]
