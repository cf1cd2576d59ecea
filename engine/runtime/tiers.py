"""When the preliminary (T+1) and final (T+7) tiers of a business day are due.

A schedule is written relative to the business day D, in the business time zone:

- ``"D+1"`` — the start of the next day (midnight, local time);
- ``"D+1 02:00"`` — 02:00 local time on the next day (DST-aware: on a 23 h day
  that is still 02:00 on the wall clock, or the first valid time after it);
- ``"+24h"``, ``"+36h"``, ``"+2d"`` — a duration after the day ends.

Pure: no clock, no store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from engine.core.timeutil import business_day_bounds, datetime_to_ms, get_zone, parse_duration_ms

_DAY_FORM = re.compile(r"^D\s*\+\s*(\d{1,2})(?:\s+(\d{1,2}):(\d{2}))?$", re.IGNORECASE)
MAX_DAYS = 30  # the jobs look back 35 days for due work


@dataclass(frozen=True)
class TierSchedule:
    text: str
    days: int | None = None  # "D+N [HH:MM]" form
    at_minutes: int = 0
    after_ms: int | None = None  # "+duration" form

    @classmethod
    def parse(cls, text: str) -> TierSchedule:
        """``"D+1 02:00"``, ``"D+7"`` or ``"+24h"``; raises ValueError saying what is wrong."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError('a tier schedule is text such as "D+1 02:00", "D+7" or "+24h"')
        raw = text.strip()
        m = _DAY_FORM.match(raw)
        if m:
            days = int(m.group(1))
            hh = int(m.group(2) or 0)
            mm = int(m.group(3) or 0)
            if days < 1:
                raise ValueError(f"{raw!r}: a tier runs after the day ends (D+1 or later)")
            if days > MAX_DAYS:
                raise ValueError(f"{raw!r}: at most D+{MAX_DAYS}")
            if hh > 23 or mm > 59:
                raise ValueError(f"{raw!r}: the time of day must be HH:MM between 00:00 and 23:59")
            return cls(raw, days=days, at_minutes=hh * 60 + mm)
        if raw.startswith("+"):
            try:
                after = parse_duration_ms(raw[1:].strip())
            except ValueError as exc:
                raise ValueError(f"{raw!r}: {exc}") from None
            if after < 0:
                raise ValueError(f"{raw!r}: the duration cannot be negative")
            if after > MAX_DAYS * 86_400_000:
                raise ValueError(f"{raw!r}: at most {MAX_DAYS} days after the day")
            return cls(raw, after_ms=after)
        raise ValueError(f'{raw!r} is not a tier schedule: use "D+1 02:00", "D+7" or "+24h"')

    def due_ms(self, day: date, tz: str) -> int:
        """When the tier of business day ``day`` is due (epoch ms)."""
        if self.after_ms is not None:
            return business_day_bounds(day, tz)[1] + self.after_ms
        zone = get_zone(tz)
        target = day + timedelta(days=self.days)
        hh, mm = divmod(self.at_minutes, 60)
        local = datetime.combine(target, time(hh, mm), tzinfo=zone)
        return datetime_to_ms(local)


def check_order(preliminary: TierSchedule, final: TierSchedule, tz: str) -> None:
    """The preliminary tier must be due before the final one (checked on a sample of
    days around both DST changes, since the forms mix wall-clock and durations)."""
    for day in (date(2026, 1, 15), date(2026, 3, 7), date(2026, 3, 8), date(2026, 10, 31)):
        if preliminary.due_ms(day, tz) > final.due_ms(day, tz):
            raise ValueError(
                f"the preliminary tier ({preliminary.text}) must be due no later than the "
                f"final tier ({final.text})"
            )
