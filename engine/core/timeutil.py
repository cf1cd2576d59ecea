"""Time representation: integer milliseconds since the epoch, UTC, everywhere inside.

Aware datetimes appear only at the edges (parsing input, formatting output).
A timestamp without an offset is never silently read as local time: it is an
error unless the caller names a zone explicitly (``assume_tz``).
"""

from __future__ import annotations

import math
import numbers
import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

NEG_INF_MS = -(2**62)  # "before everything": the watermark before any input
POS_INF_MS = 2**62  # "after everything": end of input, end of the global window

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DURATION_UNITS = {
    "ms": 1,
    "s": SECOND_MS,
    "m": MINUTE_MS,
    "min": MINUTE_MS,
    "h": HOUR_MS,
    "d": DAY_MS,
    "w": 7 * DAY_MS,
}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d|w)\s*$")
MAX_EPOCH_SECONDS = 10**13  # ~ year 318 857: anything beyond is noise, not a time
MAX_TIMESTAMP_CHARS = 64
_NUMERIC_RE = re.compile(r"^\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*$")


class TimestampError(ValueError):
    """A timestamp could not be read; ``reason`` is a stable quarantine code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def parse_duration_ms(text: str | int | float) -> int:
    """'90s', '5m', '1.5h', '2d', '250ms' -> milliseconds. Bare numbers are seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return int(round(float(text) * SECOND_MS))
    m = _DURATION_RE.match(str(text))
    if not m:
        if _NUMERIC_RE.match(str(text)):
            return int(round(float(text) * SECOND_MS))
        raise ValueError(f"cannot read duration {text!r}: use e.g. 250ms, 30s, 5m, 2h, 7d")
    return int(round(float(m.group(1)) * _DURATION_UNITS[m.group(2)]))


def format_duration_ms(ms: int | float) -> str:
    """Short human form: 1500 -> '1.5s', 3_600_000 -> '1h'."""
    if ms is None or (isinstance(ms, float) and math.isnan(ms)):
        return "—"
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    for unit, size in (("d", DAY_MS), ("h", HOUR_MS), ("m", MINUTE_MS), ("s", SECOND_MS)):
        if ms >= size:
            value = ms / size
            text = f"{value:.1f}".rstrip("0").rstrip(".")
            return f"{sign}{text}{unit}"
    return f"{sign}{int(ms)}ms"


def get_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {name!r}") from exc


def datetime_to_ms(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise TimestampError("no_offset", f"datetime {dt.isoformat()} has no time zone")
    try:
        delta = dt - _EPOCH
    except OverflowError as exc:  # an offset that pushes year 1 / 9999 past the calendar
        raise TimestampError("time_out_of_range", f"{dt.isoformat()} is out of range") from exc
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def ms_to_datetime(ms: int, tz: ZoneInfo | None = None) -> datetime:
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.astimezone(tz) if tz is not None else dt


def format_ms(ms: int | None) -> str | None:
    """ISO-8601 UTC with millisecond precision and a 'Z'; +/-inf become strings."""
    if ms is None:
        return None
    if ms >= POS_INF_MS:
        return "+inf"
    if ms <= NEG_INF_MS:
        return "-inf"
    try:
        return ms_to_datetime(ms).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    except (OverflowError, ValueError, OSError):  # a value no calendar holds: say so, not crash
        return f"{ms} ms (out of range)"


def parse_timestamp_ms(value: object, assume_tz: str | None = None) -> int:
    """Read ISO-8601 with an offset or 'Z', epoch seconds (int/float/numeric string),
    or an aware datetime.

    A string without an offset raises ``TimestampError('no_offset')`` unless
    ``assume_tz`` names the IANA zone it was written in.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise TimestampError("missing_field", "timestamp is missing")
    if isinstance(value, bool):
        raise TimestampError("unparseable_timestamp", f"cannot read {value!r} as a timestamp")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            if assume_tz is None:
                raise TimestampError(
                    "no_offset", f"timestamp {value.isoformat()} has no UTC offset"
                )
            value = value.replace(tzinfo=get_zone(assume_tz))
        return datetime_to_ms(value)
    if not isinstance(value, int | float | str) and isinstance(value, numbers.Number):
        try:  # numpy scalars, Decimal
            value = int(value) if isinstance(value, numbers.Integral) else float(value)
        except (TypeError, ValueError, OverflowError):
            value = math.nan
    if isinstance(value, int):
        if abs(value) > MAX_EPOCH_SECONDS:
            raise TimestampError("time_out_of_range", _out_of_range(value))
        return value * 1000
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TimestampError("unparseable_timestamp", f"timestamp {value!r} is not finite")
        if abs(value) > MAX_EPOCH_SECONDS:
            raise TimestampError("time_out_of_range", _out_of_range(value))
        return int(round(value * 1000))
    if not isinstance(value, str):
        raise TimestampError(
            "unparseable_timestamp",
            f"a timestamp must be text or a number, not {type(value).__name__}",
        )
    text = value.strip()
    if not text:
        raise TimestampError("missing_field", "timestamp is empty")
    if _NUMERIC_RE.match(text):
        seconds = float(text)  # overflows to inf, never raises
        if not math.isfinite(seconds) or abs(seconds) > MAX_EPOCH_SECONDS:
            raise TimestampError("time_out_of_range", _out_of_range(text))
        return int(round(seconds * 1000))
    if len(text) > MAX_TIMESTAMP_CHARS:
        raise TimestampError(
            "unparseable_timestamp", f"timestamp of {len(text):,} characters is not a time"
        )
    iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError as exc:
        raise TimestampError(
            "unparseable_timestamp", f"cannot read {text!r} as ISO-8601 or epoch seconds"
        ) from exc
    if dt.tzinfo is None:
        if assume_tz is None:
            raise TimestampError(
                "no_offset",
                f"timestamp {text!r} has no UTC offset; add 'Z' or '+hh:mm', "
                "or name the zone it was written in (--assume-tz)",
            )
        dt = dt.replace(tzinfo=get_zone(assume_tz))
    return datetime_to_ms(dt)


def _out_of_range(value: object) -> str:
    text = str(value) if not isinstance(value, str) else value
    shown = text if len(text) <= 40 else f"{text[:20]}… ({len(text)} characters)"
    return f"timestamp {shown} is far outside any sane time range"


# -- business days ----------------------------------------------------------------
def business_day_bounds(day: date, tz: str) -> tuple[int, int]:
    """[start, end) of a calendar day in the business zone (23 or 25 h across DST)."""
    zone = get_zone(tz)
    start = datetime_to_ms(datetime.combine(day, time(), tzinfo=zone))
    end = datetime_to_ms(datetime.combine(day + timedelta(days=1), time(), tzinfo=zone))
    return start, end


def business_day_of(t_ms: int, tz: str) -> date:
    return ms_to_datetime(t_ms, get_zone(tz)).date()
