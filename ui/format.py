"""Display formatting: times in the display zone, money, counts.

Times are shown in the *display* zone: the business zone unless the viewer picked
another in the sidebar (``?tz=`` in the URL, so a link keeps it). Business days,
tiers and hour-of-day charts stay in the business zone — their titles name it."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from zoneinfo import available_timezones

import streamlit as st

from engine.core.timeutil import POS_INF_MS, get_zone, ms_to_datetime
from engine.runtime.runtime import Runtime

TZ_LABEL_FORMAT = "%a %d %b %Y, %H:%M"


DISPLAY_TZ_PARAM = "tz"
DISPLAY_ZONES = (
    "UTC",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
)


@cache
def iana_zones() -> frozenset[str]:
    """Every IANA zone name, read once: ``zoneinfo.available_timezones()`` walks the
    tz database on disk on every call (~40 ms), and ``fmt_time`` checks the picked
    zone for every timestamp it formats."""
    return frozenset(available_timezones())


def tz_name(rt: Runtime) -> str:
    return rt.settings.tz


def display_zones(rt: Runtime) -> list[str]:
    """The business zone first, then common zones, then every other IANA zone."""
    first = [rt.settings.tz, *DISPLAY_ZONES]
    return list(dict.fromkeys(first)) + sorted(iana_zones() - set(first))


def display_tz(rt: Runtime) -> str:
    """The zone times are shown in: the sidebar's pick (URL ``?tz=``) if it is a real
    zone, else the business zone."""
    try:
        picked = st.session_state.get(DISPLAY_TZ_PARAM) or st.query_params.get(DISPLAY_TZ_PARAM)
    except Exception:  # noqa: BLE001 - outside a script run (no session): business zone
        picked = None
    if picked and picked in iana_zones():
        return picked
    return rt.settings.tz


def fmt_time(ms: int | None, rt: Runtime, fmt: str = TZ_LABEL_FORMAT) -> str:
    """A processing or event time in the display zone (``display_tz``), zone named."""
    if ms is None:
        return "—"
    if ms >= POS_INF_MS:
        return "end of input"
    dt: datetime = ms_to_datetime(int(ms), _zone(rt))
    return f"{dt.strftime(fmt)} {dt.tzname()}"


def _zone(rt: Runtime):
    return get_zone(display_tz(rt))


def fmt_money(cents: float | int | None) -> str:
    if cents is None:
        return "—"
    return f"${cents / 100:,.2f}"


def fmt_count(n: float | int | None) -> str:
    return "—" if n is None else f"{int(n):,}"
