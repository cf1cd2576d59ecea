"""What an ingest is told (``IngestOptions``) and what it says (``IngestReport``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.core.events import Event, ParseOptions
from engine.core.limits import RAW_PREFIX_CHARS

MAX_RAW_CHARS = RAW_PREFIX_CHARS
MAX_DETAIL_CHARS = 500


@dataclass(frozen=True)
class IngestOptions:
    parse: ParseOptions = field(default_factory=ParseOptions)
    batch_size: int = 5000
    keep_events: bool = True  # return accepted events in the report (off for huge files)
    source_name: str | None = None  # label of the ingest ("simulator", a file's source)
    file: str | None = None


@dataclass
class IngestReport:
    ingest_id: int
    rows_read: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)

    @property
    def quarantined(self) -> int:
        return sum(self.quarantined_by_reason.values())

    @property
    def balanced(self) -> bool:
        return self.accepted + self.duplicates + self.quarantined == self.rows_read

    def summary(self) -> str:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.quarantined_by_reason.items()))
        return (
            f"ingest {self.ingest_id}: rows read {self.rows_read:,} = accepted {self.accepted:,}"
            f" + duplicates {self.duplicates:,} + quarantined {self.quarantined:,}"
            + (f" ({reasons})" if reasons else "")
        )


__all__ = ["MAX_DETAIL_CHARS", "MAX_RAW_CHARS", "IngestOptions", "IngestReport"]
