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

from engine.core.limits import (
    RAW_PREFIX_CHARS,
    Limits,
    bad_unicode_in,
    depth_over,
    has_bad_unicode,
    plain_float,
    row_size_over,
    show,
    storable,
)
from engine.core.results import quick_init
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
    "time_out_of_range": "a time lies outside the sane range (1970 … 2100 unless configured)",
    "future_event_time": "event time is further in the future than the clock-skew tolerance",
    "invalid_amount": "amount is not a plain finite number within range",
    "invalid_items": "items is not a plain non-negative whole number",
    "unknown_event_type": "event type is not one of the known types",
    "invalid_type": "event_id, source, key or event_type is not text or an integer",
    "oversized_field": "a field is longer than its cap",
    "oversized_row": "the row is longer than the row cap (its start is kept as raw)",
    "invalid_unicode": "text holds invalid Unicode (a lone surrogate)",
    "unprintable_name": "source or event_type holds control or invisible characters",
    "encoding": "the row holds bytes that are not valid UTF-8",
    "too_deep": "lists/objects nest deeper than the bound",
    "malformed_row": "the row is not a record (bad JSON, wrong shape, unterminated quote)",
    "unwindowable": "the runtime could not place the event in a window (defence in depth)",
    "conflict": "an event with this id was already accepted with different content",
}


@quick_init  # an Event per accepted row: the generated __init__ is ~2x slower
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
    time further ahead of its arrival time than this is quarantined. ``limits``: the
    sanity limits (time range, field caps; ``LATEWATCH_*`` settings by default)."""

    assume_tz: str | None = None
    default_source: str | None = None
    max_future_ms: int | None = 24 * 3_600_000
    known_event_types: tuple[str, ...] | None = KNOWN_EVENT_TYPES
    limits: Limits = field(default_factory=Limits.from_env)


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def _amount_cents(value: object) -> int:
    if _blank(value):
        return 0
    amount = plain_float(value)
    if amount is None:
        raise RecordError("invalid_amount", f"amount {show(value)} is not a plain number")
    if not math.isfinite(amount):
        raise RecordError("invalid_amount", f"amount {show(value)} is not finite")
    if abs(amount) > MAX_ABS_AMOUNT:
        raise RecordError("invalid_amount", f"amount {show(value)} is out of range")
    return int(round(amount * 100))


def _items(value: object) -> int:
    if _blank(value):
        return 0
    items = plain_float(value)
    if items is None:
        raise RecordError("invalid_items", f"items {show(value)} is not a plain number")
    if not math.isfinite(items) or items < 0 or items != int(items) or items > 1_000_000:
        raise RecordError("invalid_items", f"items {show(value)} is not a whole count")
    return int(items)


def _text(value: object, name: str, cap: int, printable: bool = False) -> str:
    """A text-or-integer field as text: bytes, structs, lists, floats and booleans are
    refused (never stringified); longer than ``cap`` characters is refused. Names
    (``printable``: source, event_type — they become group labels) must be printable:
    no control characters, no invisible or bidi-override characters."""
    if isinstance(value, str):
        if len(value) > cap:
            raise RecordError(
                "oversized_field", f"{name} has {len(value):,} characters (cap {cap:,})"
            )
        if printable and not value.isprintable():
            raise RecordError(
                "unprintable_name", f"{name} {show(value)} holds control or invisible characters"
            )
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > 4 * cap:  # str() of it would exceed the cap anyway
            raise RecordError("oversized_field", f"{name} is an integer over {cap:,} digits")
        text = str(value)
        if len(text) > cap:
            raise RecordError("oversized_field", f"{name} has {len(text):,} digits (cap {cap:,})")
        return text
    raise RecordError(
        "invalid_type", f"{name} must be text or an integer, not {type(value).__name__}"
    )


def _time(record: dict, name: str, options: ParseOptions, required: bool) -> int | None:
    value = record.get(name)
    if _blank(value):
        if required:
            raise RecordError("missing_field", f"missing field {name!r}")
        return None
    try:
        ms = parse_timestamp_ms(value, options.assume_tz)
    except TimestampError as exc:
        raise RecordError(exc.reason, f"{name}: {storable(str(exc))}") from exc
    limits = options.limits
    if not limits.min_time_ms <= ms < limits.max_time_ms:
        raise RecordError(
            "time_out_of_range",
            f"{name} {format_ms(ms)} is outside {format_ms(limits.min_time_ms)} … "
            f"{format_ms(limits.max_time_ms)}",
        )
    return ms


def check_row(record: object, limits: Limits) -> None:
    """The whole-row checks, before any field is read: shape, nesting, size, Unicode."""
    if not isinstance(record, dict):
        raise RecordError("malformed_row", "record is not an object")
    # Fast path for the usual flat record of text and numbers; anything nested (or a
    # key that is not text) takes the full walk.
    total, flat = 0, True
    for k, v in record.items():
        if type(k) is not str:
            flat = False
            break
        total += len(k)
        if type(v) is str:
            total += len(v)
            if not v.isascii() and has_bad_unicode(v):
                raise RecordError(
                    "invalid_unicode", "text holds a lone surrogate (invalid Unicode)"
                )
        elif isinstance(v, dict | list | tuple | bytes | bytearray):
            flat = False
            break
        else:
            total += 8
        if not k.isascii() and has_bad_unicode(k):
            raise RecordError("invalid_unicode", "text holds a lone surrogate (invalid Unicode)")
    if flat:
        if total > limits.max_row_chars:
            raise RecordError("oversized_row", f"the row holds over {limits.max_row_chars:,} chars")
        return
    if depth_over(record, limits.max_depth):
        raise RecordError("too_deep", f"lists/objects nest deeper than {limits.max_depth}")
    if row_size_over(record, limits.max_row_chars):
        raise RecordError("oversized_row", f"the row holds over {limits.max_row_chars:,} chars")
    if bad_unicode_in(record):
        raise RecordError("invalid_unicode", "text holds a lone surrogate (invalid Unicode)")


def parse_event(record: dict, options: ParseOptions | None = None) -> Event:
    """Validate one record (a dict from JSON/CSV/Parquet) into an ``Event``.

    Raises ``RecordError`` with a stable reason code; never returns a partial event and
    never raises anything else, whatever the record holds (a property test feeds it
    arbitrary values)."""
    options = options or ParseOptions()
    limits = options.limits
    check_row(record, limits)
    event_id = record.get("event_id")
    if _blank(event_id):
        raise RecordError("missing_field", "missing field 'event_id'")
    event_id = _text(event_id, "event_id", limits.max_id_chars)
    source = record.get("source")
    if _blank(source):
        source = options.default_source
    if _blank(source):
        raise RecordError("missing_field", "missing field 'source'")
    source = _text(source, "source", limits.max_source_chars, printable=True)
    event_time = _time(record, "event_time", options, required=True)
    arrival_time = _time(record, "arrival_time", options, required=False)
    event_type = record.get("event_type")
    if _blank(event_type):
        event_type = DEFAULT_EVENT_TYPE
    event_type = _text(event_type, "event_type", limits.max_source_chars, printable=True)
    if options.known_event_types is not None and event_type not in options.known_event_types:
        raise RecordError("unknown_event_type", f"unknown event type {show(event_type)}")
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
    name = "key"
    if _blank(key):
        key, name = record.get("user_id"), "user_id"
    key = None if _blank(key) else _text(key, name, limits.max_key_chars)
    return Event(
        event_id=event_id,
        source=source,
        event_time_ms=event_time,
        arrival_time_ms=arrival_time,
        amount_cents=_amount_cents(record.get("amount")),
        items=_items(record.get("items")),
        event_type=event_type,
        key=key,
    )


def try_parse(record: object, options: ParseOptions) -> Event | RecordError:
    """``parse_event`` that returns the ``RecordError`` instead of raising it. Anything
    else a record could still raise (a bug, a type nobody foresaw) becomes a
    ``malformed_row`` — the worst one row can do is become one quarantine entry."""
    try:
        return parse_event(record, options)  # type: ignore[arg-type]
    except RecordError as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - defence in depth, reported with the row
        return RecordError("malformed_row", f"unreadable row ({type(exc).__name__})")


def raw_text(record: object, limit: int = RAW_PREFIX_CHARS) -> str:
    """A storable copy of a rejected record, cut to ``limit`` characters: JSON (lone
    surrogates escaped) for records, the text itself for lines."""
    if isinstance(record, str):
        return storable(record[:limit])
    try:
        text = json.dumps(record, default=_raw_default, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        text = repr(record)[: limit * 2] if not isinstance(record, dict) else "<unprintable>"
    return storable(text[:limit])


def _raw_default(value: object) -> object:
    if isinstance(value, bytes | bytearray):
        return storable(bytes(value[:RAW_PREFIX_CHARS]).decode("utf-8", "backslashreplace"))
    return storable(str(value)[:RAW_PREFIX_CHARS])


def event_id_of(record: object, limits: Limits) -> str | None:
    """The record's event_id as stored with a quarantine row, when it is usable text."""
    if not isinstance(record, dict):
        return None
    value = record.get("event_id")
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() < 200:
        return str(value)
    if isinstance(value, str) and value and len(value) <= limits.max_id_chars:
        return storable(value)
    return None


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
