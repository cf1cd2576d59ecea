"""Any business day, not only today: a day's numbers with its tier and versions, and
the week-ago comparisons next to "yesterday at this time".

Why a module: Today answers "how are we doing now?"; people also ask "what did last
Tuesday end at, is it final, how many times did it change?" and "are we up on last
week?". Those are reads of the same versioned store with the same rules (the final
version else the latest, labelled; ``as_of`` for "what was shown then"), kept out of
the page. No Streamlit here.
"""

from __future__ import annotations

from datetime import date, timedelta

from engine.core.timeutil import business_day_bounds, business_day_of, datetime_to_ms
from engine.runtime.finalize import FinalizePolicy
from engine.store.db import Store
from engine.views.dashboard import (
    ALL_SOURCES,
    DAILY,
    METRICS,
    local_datetime,
    tier_schedule,
)


def same_time_days_ago(now_ms: int, days: int, tz: str) -> int:
    """The same wall-clock time ``days`` business days earlier (DST-aware)."""
    local = local_datetime(now_ms, tz)
    earlier = (local.replace(tzinfo=None) - timedelta(days=days)).replace(tzinfo=local.tzinfo)
    return datetime_to_ms(earlier)


def _pick(row: dict | None) -> dict:
    keys = (*METRICS, "version", "tier", "reason", "processing_time_ms")
    return dict.fromkeys(keys) if row is None else {k: row.get(k) for k in keys}


def day_summary(store: Store, day: date, policy: FinalizePolicy, grp: str = ALL_SOURCES) -> dict:
    """One business day: its best number (final, else latest — ``is_final`` says which),
    how many versions it has had, and its tier schedule."""
    start = business_day_bounds(day, policy.tz)[0]
    row = store.final(DAILY, start, grp)
    out = _pick(row)
    out["is_final"] = bool(row and row.get("is_final"))
    history = store.history_frame(DAILY, start, grp)
    out["versions"] = len(history)
    out["first_ms"] = int(history["processing_time_ms"].iloc[0]) if len(history) else None
    out["day"] = day
    out["schedule"] = tier_schedule(day, policy)
    return out


def _change(a, b) -> float | None:
    return (a - b) / b if a is not None and b else None


def week_comparison(
    store: Store, now_ms: int, policy: FinalizePolicy, grp: str = ALL_SOURCES
) -> dict:
    """Today next to the same weekday last week, both at this time of day, and the
    last 7 days next to the 7 before them.

    - ``last_week_then``: what the dashboard showed for the same day a week ago at
      this wall-clock time (``as_of``), the fair comparison for a day in progress;
    - ``week`` / ``week_before``: sums over today and the 6 days before it (latest
      numbers), and over the 7 days before those — with the week-ago day taken as
      shown at this time a week ago, so both weeks end at the same time of day.
    ``change`` and ``wow`` are relative changes (None without a base).
    """
    tz = policy.tz
    today = business_day_of(now_ms, tz)
    week_ago = today - timedelta(days=7)
    then_ms = same_time_days_ago(now_ms, 7, tz)
    today_row = _pick(store.latest(DAILY, business_day_bounds(today, tz)[0], grp))
    then_row = _pick(store.as_of(DAILY, business_day_bounds(week_ago, tz)[0], grp, then_ms))

    def total(first: date, last: date, partial_day: date | None, at_ms: int | None) -> dict:
        # plain rows, not the DataFrame: ~30 pandas columns for 7 rows cost Today's
        # every refresh (keyed on the moving clock) more than the SQL
        rows = store.windows_in_range_rows(
            DAILY,
            business_day_bounds(first, tz)[0],
            business_day_bounds(last, tz)[1],
            grp,
        )
        sums = {m: 0 for m in METRICS}
        days = 0
        for rec in rows:
            start = int(rec["window_start_ms"])
            if partial_day is not None and start == business_day_bounds(partial_day, tz)[0]:
                row = store.as_of(DAILY, start, grp, at_ms)
                if row is None:
                    continue
                values = {m: row[m] for m in METRICS}
            else:
                values = {m: rec[f"latest_{m}"] for m in METRICS}
            days += 1
            for m in METRICS:
                sums[m] += int(values[m] or 0)
        return {**sums, "days": days}

    week = total(today - timedelta(days=6), today, None, None)
    before = total(today - timedelta(days=13), week_ago, week_ago, then_ms)
    return {
        "today": today,
        "week_ago": week_ago,
        "then_ms": then_ms,
        "today_live": today_row,
        "last_week_then": then_row,
        "change": {m: _change(today_row[m], then_row[m]) for m in METRICS},
        "week": week,
        "week_before": before,
        "wow": {
            m: _change(week[m], before[m]) if week["days"] == before["days"] == 7 else None
            for m in METRICS
        },
    }


__all__ = ["day_summary", "same_time_days_ago", "week_comparison"]
