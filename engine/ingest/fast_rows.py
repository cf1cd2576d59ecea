"""Column-at-a-time acceptance of input records: the fast path in front of ``parse_event``.

``accept_columns`` takes a block of *mapped* records as columns (``event_id``,
``source``, ``event_time``, ``arrival_time``, ``amount``, ``items``, ``event_type``,
``key``: the cells as read, text or numbers) and returns which rows
``engine.core.events.parse_event`` would accept and the values it would produce —
computed with numpy on whole columns (ISO-8601 timestamps by fixed layouts, plain
numbers by one regex) and, for cells outside those layouts, with the very scalar
functions ``parse_event`` uses. It only ever *accepts*: a row it does not accept goes
through ``parse_event`` itself (``Ingestor``), so every quarantine reason, detail and
raw copy is the row path's own. A property test holds that every accepted row gets
the same ``Event`` from ``parse_event``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from engine.core.events import (
    DEFAULT_EVENT_TYPE,
    MAX_ABS_AMOUNT,
    Event,
    ParseOptions,
    RecordError,
    _amount_cents,
    _items,
    _text,
)
from engine.core.limits import has_bad_unicode
from engine.core.timeutil import TimestampError, parse_timestamp_ms

FIELDS = (
    "event_id",
    "source",
    "event_time",
    "arrival_time",
    "amount",
    "items",
    "event_type",
    "key",
)
_PLAIN = re.compile(r"-?\d{1,12}(?:\.\d{1,9})?")
_PLAIN_COLUMN = re.compile(r"(?:-?\d{1,12}(?:\.\d{1,9})?)?(?:\n(?:-?\d{1,12}(?:\.\d{1,9})?)?)*")
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int64)


@dataclass
class Accepted:
    """The rows ``parse_event`` accepts (``ok``) and their values (valid where ok)."""

    ok: np.ndarray
    event_id: list
    source: list
    event_time_ms: np.ndarray
    arrival_time_ms: np.ndarray
    amount_cents: np.ndarray
    items: np.ndarray
    event_type: list
    key: list

    def events(self, rows: list[int]) -> list[Event]:
        et, at = self.event_time_ms, self.arrival_time_ms
        cents, items = self.amount_cents, self.items
        return [
            Event(
                self.event_id[i],
                self.source[i],
                int(et[i]),
                int(at[i]),
                int(cents[i]),
                int(items[i]),
                self.event_type[i],
                self.key[i],
            )
            for i in rows
        ]


def _blank_mask(values: list) -> np.ndarray:
    return np.fromiter(
        (v is None or v == "" or (type(v) is float and v != v) for v in values), bool, len(values)
    )


def _text_column(
    values: list, cap: int, printable: bool, blank_as: str | None
) -> tuple[np.ndarray, list]:
    """(ok, text) of an id/name column by ``_text``'s rules; blanks become ``blank_as``
    (None: a blank is not accepted here; nor when ``_text`` refuses ``blank_as``)."""
    n = len(values)
    if blank_as:
        try:
            _text(blank_as, "field", cap, printable)
        except RecordError:
            blank_as = None
    if _all_text(values):
        lens = np.fromiter(map(len, values), np.int64, n)
        ok = lens <= cap
        if printable:
            ok &= np.fromiter(map(str.isprintable, values), bool, n)
        if not all(map(str.isascii, values)):
            ok &= ~np.fromiter(map(has_bad_unicode, values), bool, n)
        blank = lens == 0
        if blank.any():
            out = list(values)
            for i in np.flatnonzero(blank).tolist():
                if blank_as is None:
                    ok[i] = False
                else:
                    out[i] = blank_as
            return ok, out
        return ok, values
    ok = np.ones(n, bool)
    out = list(values)
    for i, v in enumerate(values):
        if type(v) is str and v:
            if (
                len(v) > cap
                or (printable and not v.isprintable())
                or (not v.isascii() and has_bad_unicode(v))
            ):
                ok[i] = False
            continue
        if v is None or v == "" or (type(v) is float and v != v):
            if blank_as is None:
                ok[i] = False
            else:
                out[i] = blank_as
            continue
        try:
            out[i] = _text(v, "field", cap, printable)
        except RecordError:
            ok[i] = False
    return ok, out


def _all_text(values: list) -> bool:
    """Every cell is a ``str`` (a CSV column): the C-level paths apply."""
    return set(map(type, values)) <= {str}


def _key_column(values: list, cap: int) -> tuple[np.ndarray, list]:
    ok, out = _text_column(values, cap, False, "")
    return ok, [None if v == "" else v for v in out]


def _plain_numbers(values: list) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(plain, parsed, others) of an amount / items column: cells of plain decimal text
    parsed with ``float`` (the value ``plain_float`` gives them), blanks as 0; the
    positions of every other cell, for the scalar rule itself."""
    n = len(values)
    plain = np.ones(n, bool)
    parsed = np.zeros(n, np.float64)
    others: list[int] = []
    match = _PLAIN.fullmatch
    if n and _all_text(values):
        # a thousand cells per regex run; only a stretch holding another cell goes one
        # cell at a time
        step = 1000
        for lo in range(0, n, step):
            part = values[lo : lo + step]
            joined = "\n".join(part)
            if joined.count("\n") == len(part) - 1 and _PLAIN_COLUMN.fullmatch(joined):
                parsed[lo : lo + len(part)] = np.fromiter(
                    (float(v) if v else 0.0 for v in part), np.float64, len(part)
                )
                continue
            for i, v in enumerate(part, start=lo):
                if match(v):
                    parsed[i] = float(v)
                elif v:
                    plain[i] = False
                    others.append(i)
        return plain, parsed, others
    for i, v in enumerate(values):
        if type(v) is str and match(v):
            parsed[i] = float(v)
        elif v is None or v == "":
            continue
        else:
            plain[i] = False
            others.append(i)
    return plain, parsed, others


def _amounts(values: list) -> tuple[np.ndarray, np.ndarray]:
    """(ok, cents) by ``_amount_cents``'s rules."""
    plain, parsed, others = _plain_numbers(values)
    ok = plain & (np.abs(parsed) <= MAX_ABS_AMOUNT)
    cents = np.where(ok, np.round(parsed * 100), 0).astype(np.int64)
    for i in others:
        try:
            cents[i] = _amount_cents(values[i])
            ok[i] = True
        except (RecordError, OverflowError, ValueError, TypeError):
            ok[i] = False
    return ok, cents


def _item_counts(values: list) -> tuple[np.ndarray, np.ndarray]:
    """(ok, items) by ``_items``'s rules."""
    plain, parsed, others = _plain_numbers(values)
    ok = plain & (parsed >= 0) & (parsed <= 1_000_000) & (parsed == np.floor(parsed))
    items = np.where(ok, parsed, 0).astype(np.int64)
    for i in others:
        try:
            items[i] = _items(values[i])
            ok[i] = True
        except (RecordError, OverflowError, ValueError, TypeError):
            ok[i] = False
    return ok, items


def _iso_column(values: list) -> tuple[np.ndarray, np.ndarray]:
    """(ok, ms) for cells written ``YYYY-MM-DD[T ]HH:MM:SS[.f{1,6}](Z|±HH:MM)``:
    exactly what ``datetime.fromisoformat`` reads them as. Other cells: not ok."""
    n = len(values)
    ok = np.zeros(n, bool)
    ms = np.zeros(n, np.int64)
    if _all_text(values):
        lens = np.fromiter(map(len, values), np.int64, n)
    else:
        lens = np.fromiter((len(v) if type(v) is str else 0 for v in values), np.int64, n)
    cand = np.flatnonzero((lens >= 20) & (lens <= 32))
    if not len(cand):
        return ok, ms
    arr = np.array([values[i] for i in cand], dtype="<U32")
    m = arr.view(np.uint32).reshape(len(cand), 32).astype(np.int64)
    length = lens[cand]
    rows = np.arange(len(cand))

    def digits(*cols: int) -> tuple[np.ndarray, np.ndarray]:
        good = np.ones(len(cand), bool)
        value = np.zeros(len(cand), np.int64)
        for c in cols:
            d = m[:, c] - 48
            good &= (d >= 0) & (d <= 9)
            value = value * 10 + d
        return good, value

    good = (m[:, 4] == 45) & (m[:, 7] == 45) & ((m[:, 10] == 84) | (m[:, 10] == 32))
    good &= (m[:, 13] == 58) & (m[:, 16] == 58)
    for cols_ in ((0, 1, 2, 3), (5, 6), (8, 9), (11, 12), (14, 15), (17, 18)):
        g, _ = digits(*cols_)
        good &= g
    _, year = digits(0, 1, 2, 3)
    _, month = digits(5, 6)
    _, day = digits(8, 9)
    _, hour = digits(11, 12)
    _, minute = digits(14, 15)
    _, second = digits(17, 18)
    last = m[rows, length - 1]
    zulu = last == 90
    sign_at = np.clip(length - 6, 0, 31)
    sign_char = m[rows, sign_at]
    offset = ((sign_char == 43) | (sign_char == 45)) & (m[rows, np.clip(length - 3, 0, 31)] == 58)
    off_ok = np.ones(len(cand), bool)
    off_digit = {}
    for k in (5, 4, 2, 1):
        d = m[rows, np.clip(length - k, 0, 31)] - 48
        off_ok &= (d >= 0) & (d <= 9)
        off_digit[k] = np.where((d >= 0) & (d <= 9), d, 0)
    oh = off_digit[5] * 10 + off_digit[4]
    om = off_digit[2] * 10 + off_digit[1]
    off_val = oh * 3600 + om * 60
    offset &= off_ok & (oh <= 23) & (om <= 59)
    tz_len = np.where(zulu, 1, np.where(offset, 6, 0))
    good &= zulu | offset  # a naive time needs a zone: parse_timestamp_ms decides those
    has_frac = (length > 19) & ((m[:, 19] == 46) | (m[:, 19] == 44))
    frac_len = np.where(has_frac, length - 20 - tz_len, 0)
    good &= np.where(has_frac, (frac_len >= 1) & (frac_len <= 6), length == 19 + tz_len)
    micro = np.zeros(len(cand), np.int64)
    for k in range(6):
        d = m[:, 20 + k] - 48
        inside = k < frac_len
        good &= ~inside | ((d >= 0) & (d <= 9))
        micro += np.where(inside, d, 0) * 10 ** (5 - k)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_ok = (month >= 1) & (month <= 12)
    dim = _DAYS_IN_MONTH[np.where(month_ok, month, 1)] + ((month == 2) & leap)
    good &= month_ok & (day >= 1) & (day <= dim) & (hour <= 23) & (minute <= 59)
    good &= (second <= 59) & (year >= 2) & (year <= 9998)
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146_097 + doe - 719_468
    sign = np.where(sign_char == 45, -1, 1)
    secs = days * 86_400 + hour * 3_600 + minute * 60 + second
    secs -= np.where(offset, sign * off_val, 0)
    ok[cand] = good
    ms[cand] = np.where(good, secs * 1000 + micro // 1000, 0)
    return ok, ms


def _time_column(values: list, options: ParseOptions) -> tuple[np.ndarray, np.ndarray]:
    """(ok, ms) by ``_time``'s rules; a blank cell is not accepted here (an event time
    is required; a missing arrival time means 'now', which the row path stamps)."""
    ok, ms = _iso_column(values)
    for i in np.flatnonzero(~ok).tolist():
        v = values[i]
        if v is None or v == "" or (type(v) is float and v != v):
            continue
        try:
            ms[i] = parse_timestamp_ms(v, options.assume_tz)
            ok[i] = True
        except (TimestampError, ValueError, OverflowError, TypeError):
            pass
    limits = options.limits
    ok &= (ms >= limits.min_time_ms) & (ms < limits.max_time_ms)
    return ok, ms


def accept_columns(columns: dict[str, list], n: int, options: ParseOptions) -> Accepted:
    """Which of ``n`` mapped records ``parse_event(record, options)`` accepts, and the
    values it gives them. ``columns`` maps a field to its cells (a missing field: every
    record lacks it). Rows whose whole-row checks (size, nesting) the caller has not
    cleared must be left out by the caller."""
    limits = options.limits
    blank = [None] * n

    def col(name: str) -> list:
        return columns.get(name, blank)

    ok_id, event_id = _text_column(col("event_id"), limits.max_id_chars, False, None)
    default = options.default_source
    try:  # parse_event reads a blank source as the default, by the same rules
        default = _text(default, "source", limits.max_source_chars, True) if default else None
    except RecordError:
        default = None
    ok_src, source = _text_column(col("source"), limits.max_source_chars, True, default)
    ok_type, etype = _text_column(
        col("event_type"), limits.max_source_chars, True, DEFAULT_EVENT_TYPE
    )
    if options.known_event_types is not None:
        known = set(options.known_event_types)
        ok_type &= np.fromiter((t in known for t in etype), bool, n)
    ok_key, key = _key_column(col("key"), limits.max_key_chars)
    ok_et, et = _time_column(col("event_time"), options)
    ok_at, at = _time_column(col("arrival_time"), options)
    ok_amount, cents = _amounts(col("amount"))
    ok_items, items = _item_counts(col("items"))
    ok = ok_id & ok_src & ok_type & ok_key & ok_et & ok_at & ok_amount & ok_items
    if options.max_future_ms is not None:
        ok &= (et - at) <= options.max_future_ms
    # parse_event's whole-row check on the mapped record: its text, in characters
    size = np.zeros(n, np.int64)
    for name in FIELDS:
        if name in columns:
            values = columns[name]
            if _all_text(values):
                size += len(name) + np.fromiter(map(len, values), np.int64, n)
            else:
                size += len(name) + np.fromiter(
                    (len(v) if type(v) is str else 8 for v in values), np.int64, n
                )
    if "source" not in columns:
        size += len("source") + (len(default) if default else 8)
    ok &= size <= limits.max_row_chars
    return Accepted(ok, event_id, source, et, at, cents, items, etype, key)


__all__ = ["Accepted", "FIELDS", "accept_columns"]
