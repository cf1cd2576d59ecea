"""Backfill: append an imported (validated) dataset to the live store.

The Import page keeps every upload in its own dataset file so it can be checked
and analysed first; "Append to the live store" then sends the dataset's events
through the ingest path into the live raw log — validated again (the vectorized
frame path, a page of the dataset at a time), de-duplicated by ``event_id`` (a second
append, or events the live store already has, count as duplicates), with an ingest
record of its own (``backfill:<dataset>``). The live
runtime processes the rows as it processes any arrival: in append order, at the
time they were appended; their recorded arrival times stay what the file said.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from engine.core.events import ParseOptions
from engine.ingest.ingestor import IngestOptions, Ingestor, IngestReport
from engine.store.db import Store

PAGE_ROWS = 100_000


def append_dataset(
    dataset_db: str | Path,
    live_db: str | Path,
    now_ms: int,
    dataset: str,
    progress: Callable[[int, int], None] | None = None,
) -> IngestReport:
    """Ingest every event of ``dataset_db`` into ``live_db``; the report accounts for each.

    The dataset's raw log is read a page at a time as typed frames and goes through
    the vectorized frame path (``Ingestor.ingest_frames``: the same rules and reasons as
    the row path, one ingest, one transaction per chunk). ``progress(done, total)`` in
    events."""
    if Path(dataset_db).resolve() == Path(live_db).resolve():
        raise ValueError("a dataset cannot be appended to itself")
    options = IngestOptions(
        parse=ParseOptions(),
        keep_events=False,
        source_name=f"backfill:{dataset}",
        file=f"dataset {dataset}",
    )
    with Store(dataset_db) as ds, Store(live_db) as store:
        total = ds.raw_event_count()
        return Ingestor(store, options, clock=lambda: now_ms).ingest_frames(
            ds.iter_raw_frames(PAGE_ROWS),
            progress=None if progress is None else (lambda done: progress(done, total)),
        )
