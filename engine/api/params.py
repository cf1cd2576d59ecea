"""Request parameters of the HTTP API, parsed into the store's own terms.

Why a module of its own: every endpoint addresses a window, a version or a time
range, and each must be refused the same way — 422 with a reason for a value
that cannot be read, 404 for one that reads fine but names nothing in the store.
Parsing turns text into integers and names (``window_start_ms``, a version
number); only those reach the ``Store`` methods, which bind them as SQL
parameters, so nothing a client sends is ever part of a query's text.

Window identifiers (``window=``), all meaning the half-open ``[start, end)``:
- an ISO-8601 start with an offset or 'Z': ``2026-11-19T05:00:00Z``;
- ``start/end``, both ISO-8601: ``2026-11-19T05:00:00Z/2026-11-19T06:00:00Z``
  (the end must be the stored window's end);
- the store's key, ``window_start_ms`` as an integer: ``1795150800000``.

Version references (``version=``, ``a=``, ``b=``): ``latest``, ``final``,
``first``, a version number ``1..n`` (``0`` = "nothing", explain only), or an
ISO-8601 time with an offset = the version a dashboard showed then (as-of).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from fastapi import HTTPException

from engine.core.timeutil import DAY_MS, HOUR_MS, TimestampError, format_ms, parse_timestamp_ms
from engine.store.schema import ADDITIVE_COLUMNS, METRIC_COLUMNS

# Years 1970..9999 in ms: keeps every integer the API hands to SQLite in int64 and
# every time formattable as ISO-8601.
MIN_MS = 0
MAX_MS = 253_402_300_799_999
MAX_VERSION = 1_000_000_000
NAME_PATTERN = r"^[A-Za-z0-9_.:*\-]{1,64}$"
_NAME_RE = re.compile(NAME_PATTERN)
_INT_RE = re.compile(r"^\d{1,19}$")


class Metric(StrEnum):
    """Metric columns of a version row; money is integer cents."""

    revenue_cents = "revenue_cents"
    orders = "orders"
    items = "items"
    events = "events"
    avg_order_value_cents = "avg_order_value_cents"
    median_order_value_cents = "median_order_value_cents"
    distinct_users = "distinct_users"
    event_count = "event_count"

    @classmethod
    def _missing_(cls, value):
        """The names people type: ``revenue`` is ``revenue_cents`` (money is cents)."""
        if isinstance(value, str) and f"{value}_cents" in cls._value2member_map_:
            return cls(f"{value}_cents")
        return None

    @property
    def unit(self) -> str:
        return "cents" if self.value.endswith("_cents") else "count"

    @property
    def additive(self) -> bool:
        return self.value in ADDITIVE_COLUMNS


assert {m.value for m in Metric} == {*METRIC_COLUMNS, "event_count"}


class Grain(StrEnum):
    hour = "hour"
    day = "day"


GRAIN_SERIES = {Grain.hour: "hourly", Grain.day: "daily"}
GRAIN_MS = {Grain.hour: HOUR_MS, Grain.day: DAY_MS}


def unprocessable(detail: str) -> HTTPException:
    return HTTPException(status_code=422, detail=detail)


def not_found(detail: str) -> HTTPException:
    return HTTPException(status_code=404, detail=detail)


def parse_time_ms(text: str, name: str) -> int:
    """An ISO-8601 instant with an offset (or 'Z') -> epoch ms; 422 otherwise.

    Bare numbers are refused here, although ``parse_timestamp_ms`` reads them as
    epoch seconds: in a URL they are too easily confused with the window key (ms).
    """
    text = text.strip()
    if _INT_RE.match(text) or re.match(r"^[-+]?\d+(\.\d+)?$", text):
        raise unprocessable(f"{name}: give an ISO-8601 time with an offset, e.g. 2026-11-19T05:00Z")
    try:
        ms = parse_timestamp_ms(text)
    except (TimestampError, ValueError, OverflowError) as exc:
        raise unprocessable(f"{name}: {exc}") from exc
    if not MIN_MS <= ms <= MAX_MS:
        raise unprocessable(f"{name}: {text!r} is outside 1970..9999")
    return ms


def parse_range(from_text: str, to_text: str, max_span_ms: int) -> tuple[int, int]:
    """``[from, to)`` as epoch ms; empty, reversed or too long ranges are 422."""
    lo, hi = parse_time_ms(from_text, "from"), parse_time_ms(to_text, "to")
    if hi <= lo:
        raise unprocessable("to must be after from (the range is half-open: [from, to))")
    if hi - lo > max_span_ms:
        raise unprocessable(
            f"the range is longer than {max_span_ms // DAY_MS} days; ask for it in parts"
        )
    return lo, hi


def check_name(value: str, what: str) -> str:
    if not _NAME_RE.match(value):
        raise unprocessable(f"{what} {value!r} is not a valid name ({NAME_PATTERN})")
    return value


@dataclass(frozen=True)
class WindowRef:
    """A parsed ``window=`` value: the start (the store's key) and, if given, the end."""

    start_ms: int
    end_ms: int | None = None

    @property
    def key(self) -> str:
        return str(self.start_ms)


def parse_window(text: str) -> WindowRef:
    """See the module docstring for the accepted forms."""
    text = text.strip()
    if _INT_RE.match(text):
        ms = int(text)
        if ms > MAX_MS:
            raise unprocessable(f"window key {text} is outside 1970..9999 (epoch milliseconds)")
        return WindowRef(ms)
    if "/" in text:
        start_text, _, end_text = text.partition("/")
        start, end = (
            parse_time_ms(start_text, "window start"),
            parse_time_ms(end_text, "window end"),
        )
        if end <= start:
            raise unprocessable("window end must be after its start ([start, end) is half-open)")
        return WindowRef(start, end)
    return WindowRef(parse_time_ms(text, "window"))


@dataclass(frozen=True)
class VersionRef:
    """A parsed version reference: ``kind`` is latest / final / first / number / as_of."""

    kind: str
    number: int | None = None
    at_ms: int | None = None

    def describe(self) -> str:
        if self.kind == "number":
            return f"version {self.number}"
        if self.kind == "as_of":
            return f"as of {format_ms(self.at_ms)}"
        return self.kind


def parse_version(text: str, name: str = "version", allow_zero: bool = False) -> VersionRef:
    text = text.strip()
    if text in ("latest", "final", "first"):
        return VersionRef(text)
    if _INT_RE.match(text):
        n = int(text)
        if n > MAX_VERSION or (n == 0 and not allow_zero):
            raise unprocessable(f"{name}: version numbers start at 1")
        return VersionRef("number", number=n)
    try:
        at = parse_time_ms(text, name)
    except HTTPException as exc:
        raise unprocessable(
            f"{name}: use latest, final, first, a version number or an ISO-8601 time "
            f"with an offset ({exc.detail})"
        ) from exc
    return VersionRef("as_of", at_ms=at)


def check_metric_additive(metric: Metric) -> None:
    if not metric.additive:
        raise unprocessable(
            f"explain breaks a change down event by event, which only adds up for additive "
            f"metrics ({', '.join(ADDITIVE_COLUMNS)}); {metric.value} is not one"
        )
