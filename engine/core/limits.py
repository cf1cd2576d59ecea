"""What a single input row may hold: the sanity limits and the checks every entry point shares.

Real event logs are hostile: a year-9999 timestamp, a 400-digit number, a 100 MB key,
a lone UTF-16 surrogate, a row nested 100 000 levels deep. Each of these must become
one quarantine row with a clear reason — never an exception, never a silent coercion
and never an accepted event that later breaks the windows. The checks live here (pure
functions, no I/O) and ``engine.core.events.parse_event`` applies them, so the CLI, the
API, the import page, ``replay`` and ``lateness --input`` cannot drift apart.

The limits are settings (``Limits``); ``Limits.from_env`` reads the ``LATEWATCH_*``
variables the README lists, so every entry point honours the same configuration.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

_MIN_TIME_DEFAULT = "1970-01-01T00:00:00Z"
_MAX_TIME_DEFAULT = "2100-01-01T00:00:00Z"
RAW_PREFIX_CHARS = 4000  # how much of a rejected row is kept as its raw copy
DETAIL_VALUE_CHARS = 80  # how much of an offending value a reason's detail quotes
MAX_NUMBER_CHARS = 40  # a plain number (amount, items, epoch seconds) longer than this is noise
# A plain decimal number: optional sign, digits with an optional fraction, optional exponent.
# No '_' separators, no 'inf'/'nan', no hex — what float() accepts beyond that is a coercion.
_ESCAPED_BYTE_RE = re.compile("[\udc80-\udcff]")
PLAIN_NUMBER_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


def _iso_ms(text: str) -> int:
    dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


@dataclass(frozen=True, slots=True)
class Limits:
    """Sanity limits of one input row.

    Times (event and arrival) must lie in ``[min_time_ms, max_time_ms)``; text fields
    are capped in characters; ``max_row_chars`` caps a whole row (a CSV/JSONL line, or
    the text of a record's values); ``max_depth`` caps nesting of lists/objects."""

    min_time_ms: int = 0
    max_time_ms: int = 4_102_444_800_000  # 2100-01-01T00:00:00Z
    max_id_chars: int = 256  # event_id
    max_key_chars: int = 256  # key / user_id
    max_source_chars: int = 128  # source and event_type
    max_row_chars: int = 1_000_000
    max_depth: int = 8

    ENV = {
        "min_time_ms": "LATEWATCH_MIN_EVENT_TIME",
        "max_time_ms": "LATEWATCH_MAX_EVENT_TIME",
        "max_id_chars": "LATEWATCH_MAX_ID_CHARS",
        "max_key_chars": "LATEWATCH_MAX_KEY_CHARS",
        "max_source_chars": "LATEWATCH_MAX_SOURCE_CHARS",
        "max_row_chars": "LATEWATCH_MAX_ROW_CHARS",
        "max_depth": "LATEWATCH_MAX_DEPTH",
    }

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        """Defaults overridden by ``LATEWATCH_*`` variables (times as ISO-8601, caps as
        integers). A malformed setting raises ``ValueError`` naming the variable."""
        env = os.environ if env is None else env
        values: dict[str, int] = {}
        for name, var in cls.ENV.items():
            text = env.get(var)
            if text is None or not text.strip():
                continue
            try:
                values[name] = _iso_ms(text) if name.endswith("_time_ms") else int(text)
            except (ValueError, OverflowError) as exc:
                raise ValueError(f"cannot read {var}={text!r}") from exc
            if not name.endswith("_time_ms") and values[name] < 1:
                raise ValueError(f"{var} must be a positive integer")
        limits = cls(**values)
        if limits.min_time_ms >= limits.max_time_ms:
            raise ValueError("LATEWATCH_MIN_EVENT_TIME must be before LATEWATCH_MAX_EVENT_TIME")
        return limits


def show(value: object, limit: int = DETAIL_VALUE_CHARS) -> str:
    """A short, storable quotation of a value for a reason's detail (never the whole
    1 MB value, never a lone surrogate)."""
    if isinstance(value, str):
        text = repr(value[: limit + 1])
    elif isinstance(value, bytes | bytearray):
        text = repr(bytes(value[: limit + 1]))
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        text = f"<an integer of about {int(value.bit_length() * 0.30103) + 1} digits>"
    elif isinstance(value, dict | list | tuple):
        text = f"<{type(value).__name__} of {len(value)} items>"
    else:
        text = repr(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return storable(text)


def storable(text: str) -> str:
    """``text`` with anything UTF-8 cannot encode (lone surrogates, including bytes a
    decoder escaped) written as a backslash escape, so SQLite and JSON accept it."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def has_bad_unicode(text: str) -> bool:
    """True when ``text`` holds a lone surrogate (not encodable as UTF-8)."""
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def escaped_bytes(text: str) -> bool:
    """True when ``text`` carries bytes a ``surrogateescape`` decoder could not decode."""
    return False if text.isascii() else _ESCAPED_BYTE_RE.search(text) is not None


def depth_over(value: object, bound: int) -> bool:
    """True when lists/objects nest deeper than ``bound`` (a record itself is depth 1).
    Iterative, and stops as soon as the bound is passed."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > bound:
                return True
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list | tuple):
            if depth > bound:
                return True
            stack.extend((v, depth + 1) for v in item)
    return False


def row_size_over(record: dict, bound: int) -> bool:
    """True when the text in a record (keys and values, nested) exceeds ``bound`` chars.
    Stops counting as soon as it is over; non-text scalars count a few chars each."""
    total = 0
    stack: list[object] = [record]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for k, v in item.items():
                total += len(k) if isinstance(k, str) else 8
                stack.append(v)
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, str | bytes | bytearray):
            total += len(item)
        else:
            total += 8
        if total > bound:
            return True
    return False


def bad_unicode_in(record: object) -> bool:
    """True when any text (key or value, nested) in the record holds a lone surrogate."""
    stack = [record]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if has_bad_unicode(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def plain_float(value: object) -> float | None:
    """A plain number as a float, or None when the value is not one: booleans,
    strings with '_' separators, 'inf'/'nan' spelled out, hex, more than
    ``MAX_NUMBER_CHARS`` characters. Overflowing values come back as ±inf (the caller
    rejects non-finite numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if value.bit_length() > 1000:
            return math.inf if value > 0 else -math.inf
        return float(value)
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_NUMBER_CHARS:
            return math.inf if PLAIN_NUMBER_RE.match(text[:MAX_NUMBER_CHARS]) else None
        if not PLAIN_NUMBER_RE.match(text):
            return None
        return float(text)
    try:  # Decimal and numpy scalars; anything else is not a plain number
        import numbers

        if isinstance(value, numbers.Real):
            return float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return None


def json_int(text: str) -> int | str:
    """``parse_int`` hook for ``json.loads``: an integer of more digits than any real
    value has stays text (Python refuses to convert over 4300 digits, and a
    1000-digit id is noise) — the validation then rejects it by the field's rules."""
    return int(text) if len(text) <= 100 else text


__all__ = [
    "DETAIL_VALUE_CHARS",
    "Limits",
    "MAX_NUMBER_CHARS",
    "PLAIN_NUMBER_RE",
    "RAW_PREFIX_CHARS",
    "bad_unicode_in",
    "depth_over",
    "escaped_bytes",
    "has_bad_unicode",
    "json_int",
    "plain_float",
    "row_size_over",
    "show",
    "storable",
]
