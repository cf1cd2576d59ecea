"""The event model, record parsing and validation, and de-duplication.

Every input record ends as an ``Event`` or as a ``Quarantined`` row with a
stable reason code; nothing is dropped silently. Amounts are held as integer
cents so that sums are exact and independent of arrival order (the streaming
result must equal the batch recompute to the cent).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from engine.core.timeutil import TimestampError, format_ms, parse_timestamp_ms

KNOWN_SOURCES = ("web", "api", "mobile", "payment", "partner", "manual", "iot")
KNOWN_EVENT_TYPES = (
    "order.placed",
    "order.refunded",
    "order.adjusted",
    "payment.confirmed",
    "page.view",
    "cart.add",
)
ORDER_TYPE = "order.placed"
DEFAULT_EVENT_TYPE = ORDER_TYPE
MAX_ABS_AMOUNT = 1_000_000_000.0  # a single event above a billion is a data error

# Stable quarantine reason codes (stored, counted, shown in the UI).
QUARANTINE_REASONS = {
    "missing_field": "a required field is missing",
    "unparseable_timestamp": "a timestamp could not be read",
    "no_offset": "a timestamp has no UTC offset and no --assume-tz was given",
    "future_event_time": "event time is further in the future than the clock-skew tolerance",
    "invalid_amount": "amount is not a finite number within range",
    "invalid_items": "items is not a non-negative whole number",
    "unknown_event_type": "event type is not one of the known types",
    "malformed_row": "the row is not a record (bad JSON, wrong shape)",
    "conflict": "an event with this id was already accepted with different content",
}


@dataclass(frozen=True, slots=True)
class Event:
    """One accepted input event. Times are epoch milliseconds (UTC)."""

    event_id: str
    source: str
    event_time_ms: int
    arrival_time_ms: int | None
    amount_cents: int = 0
    items: int = 0
    event_type: str = DEFAULT_EVENT_TYPE
    key: str | None = None

    @property
    def amount(self) -> float:
        return self.amount_cents / 100

    @property
    def arrival_delay_ms(self) -> int | None:
        if self.arrival_time_ms is None:
            return None
        return self.arrival_time_ms - self.event_time_ms

    def content_key(self) -> tuple:
        """What must match for a repeated ``event_id`` to count as an exact duplicate."""
        return (
            self.source,
            self.event_time_ms,
            self.amount_cents,
            self.items,
            self.event_type,
            self.key,
        )

    def to_record(self) -> dict:
        return {
            "event_id": self.event_id,
            "source": self.source,
            "key": self.key,
            "event_type": self.event_type,
            "amount": self.amount,
            "items": self.items,
            "event_time": format_ms(self.event_time_ms),
            "arrival_time": format_ms(self.arrival_time_ms),
        }


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A record that could not be accepted, with where it came from and why."""

    reason: str
    detail: str
    raw: str
    line: int | None = None
    event_id: str | None = None


class RecordError(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """How records are read. ``max_future_ms`` is the clock-skew tolerance: an event
    time further ahead of its arrival time than this is quarantined."""

    assume_tz: str | None = None
    default_source: str | None = None
    max_future_ms: int | None = 24 * 3_600_000
    known_event_types: tuple[str, ...] | None = KNOWN_EVENT_TYPES


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def _amount_cents(value: object) -> int:
    if _blank(value):
        return 0
    if isinstance(value, bool):
        raise RecordError("invalid_amount", f"amount {value!r} is not a number")
    try:
        amount = float(value)
    except (TypeError, ValueError) as exc:
        raise RecordError("invalid_amount", f"amount {value!r} is not a number") from exc
    if not math.isfinite(amount):
        raise RecordError("invalid_amount", f"amount {value!r} is not finite")
    if abs(amount) > MAX_ABS_AMOUNT:
        raise RecordError("invalid_amount", f"amount {amount} is out of range")
    return int(round(amount * 100))


def _items(value: object) -> int:
    if _blank(value):
        return 0
    try:
        items = float(value)
    except (TypeError, ValueError) as exc:
        raise RecordError("invalid_items", f"items {value!r} is not a number") from exc
    if not math.isfinite(items) or items < 0 or items != int(items) or items > 1_000_000:
        raise RecordError("invalid_items", f"items {value!r} is not a whole count")
    return int(items)


def _time(record: dict, name: str, options: ParseOptions, required: bool) -> int | None:
    value = record.get(name)
    if _blank(value):
        if required:
            raise RecordError("missing_field", f"missing field {name!r}")
        return None
    try:
        return parse_timestamp_ms(value, options.assume_tz)
    except TimestampError as exc:
        raise RecordError(exc.reason, f"{name}: {exc}") from exc


def parse_event(record: dict, options: ParseOptions = ParseOptions()) -> Event:
    """Validate one record (a dict from JSON/CSV/Parquet) into an ``Event``.

    Raises ``RecordError`` with a stable reason code; never returns a partial event.
    """
    if not isinstance(record, dict):
        raise RecordError("malformed_row", "record is not an object")
    event_id = record.get("event_id")
    if _blank(event_id):
        raise RecordError("missing_field", "missing field 'event_id'")
    source = record.get("source")
    if _blank(source):
        source = options.default_source
    if _blank(source):
        raise RecordError("missing_field", "missing field 'source'")
    event_time = _time(record, "event_time", options, required=True)
    arrival_time = _time(record, "arrival_time", options, required=False)
    event_type = record.get("event_type")
    event_type = DEFAULT_EVENT_TYPE if _blank(event_type) else str(event_type)
    if options.known_event_types is not None and event_type not in options.known_event_types:
        raise RecordError("unknown_event_type", f"unknown event type {event_type!r}")
    if (
        options.max_future_ms is not None
        and arrival_time is not None
        and event_time - arrival_time > options.max_future_ms
    ):
        raise RecordError(
            "future_event_time",
            f"event time is {(event_time - arrival_time) / 3_600_000:.1f} h after its arrival "
            f"(tolerance {options.max_future_ms / 3_600_000:.1f} h)",
        )
    key = record.get("key")
    if _blank(key):
        key = record.get("user_id")
    return Event(
        event_id=str(event_id),
        source=str(source),
        event_time_ms=event_time,
        arrival_time_ms=arrival_time,
        amount_cents=_amount_cents(record.get("amount")),
        items=_items(record.get("items")),
        event_type=event_type,
        key=None if _blank(key) else str(key),
    )


def raw_text(record: object) -> str:
    if isinstance(record, str):
        return record
    try:
        return json.dumps(record, default=str, sort_keys=True)
    except (TypeError, ValueError):
        return repr(record)


@dataclass
class Deduplicator:
    """Remembers accepted event ids. A repeat with the same content is a duplicate;
    a repeat with different content is a conflict (quarantined by the caller)."""

    seen: dict[str, tuple] = field(default_factory=dict)

    def check(self, event: Event) -> str:
        """'new', 'duplicate' or 'conflict'; records the event when new."""
        previous = self.seen.get(event.event_id)
        if previous is None:
            self.seen[event.event_id] = event.content_key()
            return "new"
        return "duplicate" if previous == event.content_key() else "conflict"
