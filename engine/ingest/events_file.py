"""A file of events read for analysis (``lateness --input``) through the ingest rules.

The analysis needs the same frame the store gives (``events_frame``: int64 ms times,
integer cents), but straight from a file and without a database. It reads the file
with the shared readers and validates every row with ``parse_event`` — the same
limits, reasons and de-duplication as ``ingest`` — so a year-9999 row, a Latin-1
byte, a column whose type changes half-way or a 100 MB line cost one quarantined row,
not the whole file. Rows without an arrival time are quarantined (a delay cannot be
measured from them; the live path would invent one by stamping "now").
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from engine.core.events import Deduplicator, ParseOptions, RecordError, try_parse
from engine.core.timeutil import DAY_MS
from engine.ingest.readers import MalformedRow, read_file

COLUMNS = ("event_id", "source", "event_time_ms", "arrival_time_ms", "amount_cents", "items")


@dataclass
class FileEvents:
    frame: pd.DataFrame
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined_by_reason: Counter = field(default_factory=Counter)

    @property
    def quarantined(self) -> int:
        return sum(self.quarantined_by_reason.values())

    def summary(self) -> str:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.quarantined_by_reason.items()))
        return (
            f"rows read {self.rows:,} = accepted {self.accepted:,} + duplicates "
            f"{self.duplicates:,} + quarantined {self.quarantined:,}"
            + (f" ({reasons})" if reasons else "")
        )


def analysis_options() -> ParseOptions:
    return ParseOptions(max_future_ms=DAY_MS, known_event_types=None)


def read_events_checked(path: str | Path, options: ParseOptions | None = None) -> FileEvents:
    """Every row of ``path`` accepted, a duplicate, or quarantined (counted by reason);
    the accepted ones as the analysis frame."""
    options = options or analysis_options()
    cols: dict[str, list] = {c: [] for c in (*COLUMNS, "event_type", "key")}
    out = FileEvents(frame=pd.DataFrame())
    dedup = Deduplicator()
    for _, record in read_file(path, limits=options.limits):
        out.rows += 1
        if isinstance(record, MalformedRow):
            out.quarantined_by_reason[record.reason] += 1
            continue
        event = try_parse(record, options)
        if isinstance(event, RecordError):
            out.quarantined_by_reason[event.reason] += 1
            continue
        if event.arrival_time_ms is None:
            out.quarantined_by_reason["missing_field"] += 1
            continue
        verdict = dedup.check(event)
        if verdict != "new":
            if verdict == "duplicate":
                out.duplicates += 1
            else:
                out.quarantined_by_reason["conflict"] += 1
            continue
        out.accepted += 1
        for name in cols:
            cols[name].append(getattr(event, name))
    frame = pd.DataFrame(
        {
            "event_id": pd.Series(cols["event_id"], dtype=object),
            "source": pd.Series(cols["source"], dtype="category"),
            "event_time_ms": np.asarray(cols["event_time_ms"], dtype=np.int64),
            "arrival_time_ms": np.asarray(cols["arrival_time_ms"], dtype=np.int64),
            "amount_cents": np.asarray(cols["amount_cents"], dtype=np.int64),
        }
    )
    frame["amount"] = frame["amount_cents"] / 100
    frame["items"] = np.asarray(cols["items"], dtype=np.int64)
    frame["event_type"] = pd.Series(cols["event_type"], dtype="category")
    frame["key"] = pd.Series(cols["key"], dtype=object)
    out.frame = frame
    return out


__all__ = ["FileEvents", "analysis_options", "read_events_checked"]
