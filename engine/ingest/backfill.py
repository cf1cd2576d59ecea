"""Backfill: append an imported (validated) dataset to the live store.

The Import page keeps every upload in its own dataset file so it can be checked
and analysed first; "Append to the live store" then sends the dataset's events
through the one ingest path into the live raw log — validated again, de-duplicated
by ``event_id`` (a second append, or events the live store already has, count as
duplicates), with an ingest record of its own (``backfill:<dataset>``). The live
runtime processes the rows as it processes any arrival: in append order, at the
time they were appended; their recorded arrival times stay what the file said.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from engine.core.events import Event, ParseOptions
from engine.core.timeutil import format_ms
from engine.ingest.ingestor import IngestOptions, Ingestor, IngestReport
from engine.store.db import Store


def event_record(event: Event) -> dict:
    """An accepted event back as an input record (exact amounts: decimal text)."""
    return {
        "event_id": event.event_id,
        "source": event.source,
        "key": event.key,
        "event_type": event.event_type,
        "amount": str(Decimal(event.amount_cents).scaleb(-2)),
        "items": event.items,
        "event_time": format_ms(event.event_time_ms),
        "arrival_time": None if event.arrival_time_ms is None else format_ms(event.arrival_time_ms),
    }


def append_dataset(
    dataset_db: str | Path, live_db: str | Path, now_ms: int, dataset: str
) -> IngestReport:
    """Ingest every event of ``dataset_db`` into ``live_db``; the report accounts for each."""
    if Path(dataset_db).resolve() == Path(live_db).resolve():
        raise ValueError("a dataset cannot be appended to itself")
    with Store(dataset_db) as ds:
        records: list[tuple[int, dict]] = [
            (n, event_record(event)) for n, (_, event) in enumerate(ds.iter_raw_events(0), start=1)
        ]

    def rows() -> Iterator[tuple[int, dict]]:
        yield from records

    options = IngestOptions(
        parse=ParseOptions(),
        keep_events=False,
        source_name=f"backfill:{dataset}",
        file=f"dataset {dataset}",
    )
    with Store(live_db) as store:
        return Ingestor(store, options, clock=lambda: now_ms).ingest_records(rows())
