"""An import's rows in blocks of columns, mapped (for ``Ingestor.ingest_blocks``).

``csv_block_rows`` turns a block of ``read_csv_blocks`` into the mapped records
``engine.ingest.mapping.map_records`` would give, as columns, without a dict per row;
``record_blocks`` groups the mapped records of the other readers (JSON lines, Parquet)
into blocks. Rows ``map_record`` has something to say about are marked for the row
path, which quarantines them with its own reason and detail.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from engine.core.limits import Limits, has_bad_unicode
from engine.ingest.csv_blocks import CsvBlock
from engine.ingest.fast_rows import FIELDS as RECORD_FIELDS
from engine.ingest.ingestor import RowBlock
from engine.ingest.mapping import ColumnMapping, map_record

BLOCK_ROWS = 50_000


def csv_block_rows(block: CsvBlock, mapping: ColumnMapping, limits: Limits) -> RowBlock:
    """A block of CSV rows as the mapped records ``map_records`` would give, in columns
    (for ``Ingestor.ingest_blocks``). Rows ``map_record`` has something to say about
    (malformed, too large as a whole, no arrival time) are left to the row path."""
    n = len(block)
    lines = block.lines
    pos = np.asarray(block.record_pos, dtype=np.int64)
    is_record = pos >= 0
    index = {name: j for j, name in enumerate(block.header)}  # dict(zip()): the last wins

    def cells(name: str) -> list:
        col = block.columns[index[name]]
        if is_record.all():
            return col
        # a malformed row has no cells: "" keeps the column all text (the row is never
        # judged by the column checks, ``fast`` is False for it)
        out = np.full(n, "", dtype=object)
        out[is_record] = np.asarray(col, dtype=object)
        return out.tolist()

    columns: dict[str, list] = {}
    for f, c in mapping.columns().items():
        columns[f] = cells(c) if c in index else [None] * n
    default = mapping.default_source
    if "source" in columns:
        columns["source"] = [default if v is None or v == "" else v for v in columns["source"]]
    else:
        columns["source"] = [default] * n
    if "event_id" not in columns:
        columns["event_id"] = [f"row-{line}" for line in lines]
    fast = is_record.copy()
    arrival = columns["arrival_time"]
    fast &= np.fromiter((v is not None and v != "" for v in arrival), bool, n)
    keys = list(index)
    if any(not k.isascii() and has_bad_unicode(k) for k in keys):
        fast[:] = False  # check_row refuses every row: the row path says so
    elif block.max_chars + sum(map(len, keys)) > limits.max_row_chars:
        size = np.full(n, sum(map(len, keys)), dtype=np.int64)
        for k in keys:
            lens = np.zeros(n, np.int64)
            lens[is_record] = np.fromiter(map(len, block.columns[index[k]]), np.int64)
            size += lens
        fast &= size <= limits.max_row_chars

    def record(i: int) -> object:
        return map_record(block.record(i), mapping, lines[i], limits)

    return RowBlock(lines, columns, fast, record)


def record_blocks(
    rows: Iterable[tuple[int, object]], block_rows: int = BLOCK_ROWS
) -> Iterator[RowBlock]:
    """Mapped ``(line, record)`` pairs (JSON lines, Parquet) in blocks of columns: the
    records ``map_record`` passed are judged a column at a time, the rest by the row
    path."""
    batch: list[tuple[int, object]] = []
    for item in rows:
        batch.append(item)
        if len(batch) >= block_rows:
            yield _record_block(batch)
            batch = []
    if batch:
        yield _record_block(batch)


def _record_block(batch: list[tuple[int, object]]) -> RowBlock:
    lines = [line for line, _ in batch]
    records = [r for _, r in batch]
    fast = np.fromiter(
        (type(r) is dict and set(r) <= _RECORD_KEYS for r in records), bool, len(records)
    )
    columns = {f: [r.get(f) if type(r) is dict else None for r in records] for f in RECORD_FIELDS}
    return RowBlock(lines, columns, fast, records.__getitem__)


_RECORD_KEYS = frozenset(RECORD_FIELDS)


__all__ = ["BLOCK_ROWS", "csv_block_rows", "record_blocks"]
