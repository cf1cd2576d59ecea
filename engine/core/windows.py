"""Window assigners: pure functions from an event time to the windows that hold it.

Windows are half-open ``[start, end)`` in epoch milliseconds: an event at exactly
``end`` belongs to the next window. Calendar windows (day/week/month) are cut in
an IANA time zone, so a New York day is 23 or 25 hours long across DST changes.

    tumbling 10, offset 0:   [0,10) [10,20) [20,30)
                     ts=10 -------^ belongs to [10,20)
    sliding 10/5:       [0,10)
                           [5,15)
                              [10,20)      ts=12 -> [5,15) and [10,20)
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache

from engine.core.spec import WindowSpec
from engine.core.timeutil import NEG_INF_MS, POS_INF_MS, datetime_to_ms, get_zone, ms_to_datetime

Window = tuple[int, int]  # (start_ms, end_ms), half-open
GLOBAL_WINDOW: Window = (NEG_INF_MS, POS_INF_MS)


def tumbling_window(ts_ms: int, size_ms: int, offset_ms: int = 0) -> Window:
    start = ts_ms - (ts_ms - offset_ms) % size_ms
    return (start, start + size_ms)


def sliding_windows(ts_ms: int, size_ms: int, slide_ms: int, offset_ms: int = 0) -> list[Window]:
    """All size/slide windows containing ts, latest start first."""
    last_start = ts_ms - (ts_ms - offset_ms) % slide_ms
    out = []
    start = last_start
    while start + size_ms > ts_ms:
        out.append((start, start + size_ms))
        start -= slide_ms
    return out


@lru_cache(maxsize=4096)
def _calendar_bounds(kind: str, tz_name: str, year: int, month: int, day: int) -> Window:
    """Bounds of the calendar period holding local date (year, month, day)."""
    tz = get_zone(tz_name)
    local = date(year, month, day)
    if kind == "day":
        first, nxt = local, local + timedelta(days=1)
    elif kind == "week":  # ISO weeks start on Monday
        first = local - timedelta(days=local.weekday())
        nxt = first + timedelta(days=7)
    elif kind == "month":
        first = local.replace(day=1)
        nxt = (
            first.replace(year=first.year + 1, month=1)
            if first.month == 12
            else first.replace(month=first.month + 1)
        )
    else:  # pragma: no cover - guarded by WindowSpec
        raise ValueError(kind)
    # Midnight exists in every zone we know of except a few historic ones; fold=0
    # picks the first occurrence when a wall time repeats.
    return (
        datetime_to_ms(datetime.combine(first, time(), tzinfo=tz)),
        datetime_to_ms(datetime.combine(nxt, time(), tzinfo=tz)),
    )


def calendar_window(ts_ms: int, kind: str, tz_name: str) -> Window:
    local = ms_to_datetime(ts_ms, get_zone(tz_name))
    start, end = _calendar_bounds(kind, tz_name, local.year, local.month, local.day)
    if not (start <= ts_ms < end):  # DST edge where local midnight is ambiguous
        start, end = (
            _calendar_bounds(kind, tz_name, *((local + timedelta(hours=3)).timetuple()[:3]))
            if ts_ms >= end
            else _calendar_bounds(kind, tz_name, *((local - timedelta(hours=3)).timetuple()[:3]))
        )
    return (start, end)


class WindowAssigner:
    """Turns a ``WindowSpec`` into an ``assign(ts_ms) -> list[Window]`` function.

    Sessions are assigned a proto-window ``[ts, ts + gap)``; merging is the
    operator's job because it depends on the state of the group.
    """

    def __init__(self, spec: WindowSpec) -> None:
        self.spec = spec
        self.merging = spec.kind == "session"
        kind = spec.kind
        if kind == "tumbling":
            size, offset = spec.size_ms, spec.offset_ms

            def assign(ts: int) -> list[Window]:
                start = ts - (ts - offset) % size
                return [(start, start + size)]

        elif kind == "sliding":
            size, slide, offset = spec.size_ms, spec.slide_ms, spec.offset_ms

            def assign(ts: int) -> list[Window]:
                return sliding_windows(ts, size, slide, offset)

        elif kind == "session":
            gap = spec.gap_ms

            def assign(ts: int) -> list[Window]:
                return [(ts, ts + gap)]

        elif kind == "global":

            def assign(ts: int) -> list[Window]:
                return [GLOBAL_WINDOW]

        else:
            tz = spec.tz
            last = [(0, 0)]  # events come mostly in time order: reuse the last window

            def assign(ts: int) -> list[Window]:
                w = last[0]
                if not (w[0] <= ts < w[1]):
                    w = last[0] = calendar_window(ts, kind, tz)
                return [w]

        self.assign = assign


def merge_windows(windows: list[Window]) -> Window:
    return (min(w[0] for w in windows), max(w[1] for w in windows))


def windows_touch(a: Window, b: Window) -> bool:
    """Sessions merge when they overlap or touch (Flink's ``TimeWindow.intersects``)."""
    return a[0] <= b[1] and b[0] <= a[1]


__all__ = [
    "GLOBAL_WINDOW",
    "NEG_INF_MS",
    "POS_INF_MS",
    "Window",
    "WindowAssigner",
    "calendar_window",
    "merge_windows",
    "sliding_windows",
    "tumbling_window",
    "windows_touch",
]
