"""Display formatting: times in the business zone, money, counts."""

from __future__ import annotations

from datetime import datetime

from engine.core.timeutil import POS_INF_MS, get_zone, ms_to_datetime
from engine.runtime.runtime import Runtime

TZ_LABEL_FORMAT = "%a %d %b %Y, %H:%M"


def tz_name(rt: Runtime) -> str:
    return rt.settings.tz


def fmt_time(ms: int | None, rt: Runtime, fmt: str = TZ_LABEL_FORMAT) -> str:
    """A processing or event time in the business time zone, zone named."""
    if ms is None:
        return "—"
    if ms >= POS_INF_MS:
        return "end of input"
    dt: datetime = ms_to_datetime(int(ms), _zone(rt))
    return f"{dt.strftime(fmt)} {dt.tzname()}"


def _zone(rt: Runtime):
    return get_zone(rt.settings.tz)


def fmt_money(cents: float | int | None) -> str:
    if cents is None:
        return "—"
    return f"${cents / 100:,.2f}"


def fmt_count(n: float | int | None) -> str:
    return "—" if n is None else f"{int(n):,}"
