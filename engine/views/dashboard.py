"""Page-shaped reads: the small frames and dicts the dashboard draws, built on ``Store``.

Why this module exists: pages must hold no SQL and no window maths, yet a page
needs answers such as "yesterday at this time", "today's hours coloured by
tier", "when does today become final" or "how complete is today". Each is a
pure function of a ``Store`` (or of ``Runtime.status()``), explicit times and
a ``FinalizePolicy``, so it is testable without Streamlit and the page is left
with widgets → one call → a chart or a table.

Times are integer epoch milliseconds (UTC); business days and local hours are
computed in the policy's time zone (a New York day has 23 or 25 hours across a
DST change). Money stays in integer cents; formatting is the page's job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd

from engine.analysis.arrivals import BACKTEST_AGES_MS, age_grid, arrivals_from_histogram
from engine.analysis.completeness import MATURE_MS, CompletenessModel, Estimate
from engine.core.timeutil import DAY_MS, datetime_to_ms, get_zone, ms_to_datetime
from engine.runtime.finalize import FinalizePolicy, business_day_bounds, business_day_of
from engine.store.db import Store
from engine.store.queries import DELAY_BUCKETS
from engine.store.raw_metrics import arrival_histogram
from engine.store.schema import ADDITIVE_COLUMNS, TIERS

HOURLY, DAILY = "hourly", "daily"
ALL_SOURCES = "*"
METRICS = ("revenue_cents", "orders", "items")
NO_DATA = "no data"  # the tier of a day without any result (recent_days)


# -- calendar -----------------------------------------------------------------------
@dataclass(frozen=True)
class TierSchedule:
    """When a business day's windows become preliminary (T+1) and final (T+7)."""

    day: date
    start_ms: int
    end_ms: int
    preliminary_ms: int
    final_ms: int

    def tier_due(self, now_ms: int) -> str:
        """The tier the day's numbers should have at ``now_ms`` by the policy."""
        if now_ms >= self.final_ms:
            return "final"
        if now_ms >= self.preliminary_ms:
            return "preliminary"
        return "live"


def tier_schedule(day: date, policy: FinalizePolicy) -> TierSchedule:
    """When the jobs for ``day`` are due by the policy's schedules (``due_finalizations``)."""
    start, end = business_day_bounds(day, policy.tz)
    return TierSchedule(
        day, start, end, policy.due_ms(day, "preliminary"), policy.due_ms(day, "final")
    )


def hours_of_day(day: date, tz: str) -> list[tuple[int, int]]:
    """The hourly windows ``[start, end)`` of a business day: 23, 24 or 25 of them."""
    start, end = business_day_bounds(day, tz)
    return [(s, s + 3_600_000) for s in range(start, end, 3_600_000)]


def window_bounds(series: str, day: date, hour: int | None, tz: str) -> tuple[int, int]:
    """The window a user picks: the whole business day (``daily``) or its ``hour``-th
    hourly window (0-based, counted in real hours so DST days stay unambiguous)."""
    if series == DAILY:
        return business_day_bounds(day, tz)
    hours = hours_of_day(day, tz)
    return hours[max(0, min(int(hour or 0), len(hours) - 1))]


def same_time_yesterday(now_ms: int, tz: str) -> int:
    """The same wall-clock time one business day earlier (23 or 25 h back across DST)."""
    local = ms_to_datetime(now_ms, get_zone(tz))
    earlier = (local.replace(tzinfo=None) - timedelta(days=1)).replace(tzinfo=local.tzinfo)
    return datetime_to_ms(earlier)


def local_datetime(ms: int, tz: str) -> datetime:
    return ms_to_datetime(int(ms), get_zone(tz))


def local_to_ms(day: date, at: time, tz: str) -> int:
    """A wall-clock date and time in the business zone -> epoch ms (a time that DST
    skips is read with the offset before the change, as ``zoneinfo`` does)."""
    return datetime_to_ms(datetime.combine(day, at, tzinfo=get_zone(tz)))


# -- Today ----------------------------------------------------------------------------
def _values(row: dict | None) -> dict:
    keys = (*METRICS, "version", "tier", "reason", "processing_time_ms")
    if row is None:
        return dict.fromkeys(keys)
    return {k: row.get(k) for k in keys}


def day_comparison(store: Store, now_ms: int, policy: FinalizePolicy, grp: str = ALL_SOURCES):
    """Today (live) next to yesterday at this time and yesterday's latest number.

    ``yesterday_then`` is what the dashboard showed for yesterday at the same wall
    time yesterday (``as_of``), so ``growth`` — how much yesterday's number grew
    after that moment — tells how much today's live number will usually grow.
    Every entry carries its version, tier and reason; ``None`` values mean the
    window had not fired yet.
    """
    today = business_day_of(now_ms, policy.tz)
    t_start = business_day_bounds(today, policy.tz)[0]
    y_start = business_day_bounds(today - timedelta(days=1), policy.tz)[0]
    then_ms = same_time_yesterday(now_ms, policy.tz)
    today_row = _values(store.latest(DAILY, t_start, grp))
    y_then = _values(store.as_of(DAILY, y_start, grp, then_ms))
    y_final_row = store.final(DAILY, y_start, grp)
    y_latest = _values(y_final_row)
    y_latest["is_final"] = bool(y_final_row and y_final_row["is_final"])
    growth = {}
    for m in METRICS:
        a, b = y_then[m], y_latest[m]
        growth[m] = (b - a) / a if a and b is not None else None
    return {
        "today": today,
        "yesterday": today - timedelta(days=1),
        "now_ms": now_ms,
        "yesterday_then_ms": then_ms,
        "today_live": today_row,
        "yesterday_then": y_then,
        "yesterday_latest": y_latest,
        "growth": growth,
        "today_schedule": tier_schedule(today, policy),
        "yesterday_schedule": tier_schedule(today - timedelta(days=1), policy),
    }


def preview_comparison(preview, now_ms: int, tz: str, grp: str = ALL_SOURCES) -> dict | None:
    """``day_comparison``'s today (live) and yesterday-at-this-time values from a first
    start's preview (``Runtime.first_start_preview``), before the replay wrote them;
    None when there is no preview or it cannot tell today's value."""
    today = preview.live_at(now_ms, grp) if preview is not None else None
    if today is None:
        return None
    then_ms = same_time_yesterday(now_ms, tz)
    return {
        "today": business_day_of(now_ms, tz),
        "now_ms": now_ms,
        "yesterday_then_ms": then_ms,
        "today_live": today,
        "yesterday_then": preview.live_at(then_ms, grp) or dict.fromkeys(METRICS),
    }


def day_hours(
    store: Store, day: date, policy: FinalizePolicy, grp: str = ALL_SOURCES
) -> pd.DataFrame:
    """The hourly windows of ``day`` that have fired: local start time, latest values,
    tier and version count. Hours that have not fired yet are absent."""
    start, end = business_day_bounds(day, policy.tz)
    w = store.windows_in_range(HOURLY, start, end, grp)
    zone = get_zone(policy.tz)
    out = pd.DataFrame(
        {
            "window_start_ms": w["window_start_ms"].astype("int64"),
            "hour": [ms_to_datetime(int(s), zone) for s in w["window_start_ms"]],
            "tier": w["latest_tier"].astype(str),
            "versions": w["versions"].astype("int64"),
            "is_final": w["is_final"].astype(bool),
        }
    )
    for m in METRICS:
        out[m] = w[f"latest_{m}"].fillna(0).astype("int64")
    return out


def recent_days(
    store: Store, now_ms: int, policy: FinalizePolicy, days: int = 14, grp: str = ALL_SOURCES
) -> pd.DataFrame:
    """The last ``days`` business days (today included) from the daily series: latest
    values and tier per day, oldest first — one row per day, so "14 days" is 14 rows;
    a day without any result has tier ``NO_DATA``, no versions and zero values."""
    today = business_day_of(now_ms, policy.tz)
    first = business_day_bounds(today - timedelta(days=days - 1), policy.tz)[0]
    end = business_day_bounds(today, policy.tz)[1]
    w = store.windows_in_range(DAILY, first, end, grp)
    by_start = {int(s): i for i, s in enumerate(w["window_start_ms"])}
    rows = []
    for k in range(days - 1, -1, -1):
        day = today - timedelta(days=k)
        start = business_day_bounds(day, policy.tz)[0]
        i = by_start.get(start)
        row = {"window_start_ms": start, "day": day}
        if i is None:
            row.update(tier=NO_DATA, versions=0, **dict.fromkeys(METRICS, 0))
        else:
            rec = w.iloc[i]
            row.update(tier=str(rec["latest_tier"]), versions=int(rec["versions"]))
            row.update({m: _int(rec[f"latest_{m}"]) for m in METRICS})
        rows.append(row)
    out = pd.DataFrame(rows, columns=["window_start_ms", "day", "tier", "versions", *METRICS])
    return out.astype(
        {"window_start_ms": "int64", "versions": "int64", **dict.fromkeys(METRICS, "int64")}
    )


def _int(value) -> int:
    return 0 if value is None or pd.isna(value) else int(value)


@dataclass(frozen=True)
class DayCompleteness:
    """Today's completeness estimate and projected final revenue (dollars), with the
    number of past days the arrival curves were measured on."""

    estimate: Estimate
    history_days: int


def day_completeness(
    store: Store,
    now_ms: int,
    policy: FinalizePolicy,
    grp: str = ALL_SOURCES,
    history_windows: int = 28,
    mature_ms: int = MATURE_MS,
) -> DayCompleteness | None:
    """How complete today's revenue is and what its final will be (``engine.analysis.completeness``),
    from the raw log as known at ``now_ms``. None when no past day is mature yet
    (nothing to learn the arrival curves from) — never a fake "100 % complete"."""
    today = business_day_of(now_ms, policy.tz)
    start, end = business_day_bounds(today, policy.tz)
    lookback = start - (history_windows + mature_ms // DAY_MS + 1) * DAY_MS
    sources = None if grp == ALL_SOURCES else [grp]
    # the arrival curves binned in SQL (weeks of events never travel to Python)
    offset = start % DAY_MS
    ages = age_grid(DAY_MS, (*BACKTEST_AGES_MS, MATURE_MS, mature_ms))
    wins, names, rows = arrival_histogram(
        store, DAY_MS, offset, ages, lookback, end, arrived_by_ms=now_ms, sources=sources
    )
    if not rows:
        return None
    arrivals = arrivals_from_histogram(DAY_MS, offset, ages, wins, names, rows)
    model = CompletenessModel.fit(
        arrivals, now_ms, history_windows, mature_ms, measure_coverage=True
    )
    if model.history_windows == 0:
        return None
    # today's value so far per source: its window's whole histogram (arrived by now)
    today = np.flatnonzero(arrivals.starts_ms == start)
    observed = (
        {name: arrivals.final[today[0], i] for i, name in enumerate(arrivals.sources)}
        if len(today)
        else {}
    )
    return DayCompleteness(model.project(observed, start, now_ms), model.history_windows)


# -- Versions ---------------------------------------------------------------------------
def tier_bands(history: pd.DataFrame, now_ms: int) -> pd.DataFrame:
    """Spans of processing time during which a window's number had each tier: from
    the first version of a tier to the first version of the next tier (the last
    span runs to ``now_ms``). Columns: tier, start_ms, end_ms."""
    cols = ["tier", "start_ms", "end_ms"]
    if history.empty:
        return pd.DataFrame(columns=cols)
    rows: list[dict] = []
    for tier, t in zip(history["tier"], history["processing_time_ms"], strict=True):
        if t is None or (isinstance(t, float) and np.isnan(t)):
            continue
        if not rows or rows[-1]["tier"] != tier:
            if rows:
                rows[-1]["end_ms"] = int(t)
            rows.append({"tier": tier, "start_ms": int(t), "end_ms": None})
    if rows:
        rows[-1]["end_ms"] = max(int(now_ms), rows[-1]["start_ms"])
    return pd.DataFrame(rows, columns=cols)


def default_explain_pair(history: pd.DataFrame) -> tuple[int, int]:
    """(a, b) for the Explain panel: from the last *live* version (what the live
    dashboard showed last) to the latest; else the previous version to the latest."""
    if history.empty:
        return 0, 0
    latest = int(history["version"].max())
    live = history.loc[history["tier"] == "live", "version"]
    a = int(live.max()) if len(live) and int(live.max()) < latest else max(latest - 1, 0)
    return a, latest


# -- Operations -------------------------------------------------------------------------
def watermark_frame(status: dict, series: str = HOURLY) -> pd.DataFrame:
    """Per source: its own watermark, the lag behind processing time, whether it is
    idle, and whether it is the one holding the global watermark back (the slowest
    active source, when its watermark is the global one)."""
    cols = ["source", "watermark_ms", "lag_ms", "idle", "holding_back", "state"]
    op = (status.get("operators") or {}).get(series)
    proc = status.get("proc_ms") or status.get("now_ms")
    if not op or proc is None:
        return pd.DataFrame(columns=cols)
    per_key = op.get("per_key_watermarks_ms") or {}
    idle = set(op.get("idle_keys") or ())
    active = {k: v for k, v in per_key.items() if k not in idle}
    slowest = min(active, key=active.get) if active else None
    # The global watermark never goes back: a key that just delivered old events can
    # sit below it without holding it back. Only a key AT the global watermark does.
    global_wm = op.get("watermark_ms")
    if slowest is not None and global_wm is not None and active[slowest] < global_wm:
        slowest = None
    rows = []
    for k, v in sorted(per_key.items()):
        if k in idle:
            state = "idle (not holding it back)"
        elif k == slowest:
            state = "holding the global watermark back"
        elif global_wm is not None and v < global_wm:
            # said so: otherwise a source a day behind reads "active" under a global
            # watermark minutes behind, which looks like a contradiction
            state = "behind the global watermark (it never goes back)"
        else:
            state = "active, ahead of the global watermark"
        rows.append(
            {
                "source": k,
                "watermark_ms": int(v),
                "lag_ms": int(proc - v),
                "idle": k in idle,
                "holding_back": k == slowest,
                "state": state,
            }
        )
    return pd.DataFrame(rows, columns=cols)


def outcome_frame(status: dict, series: str = HOURLY) -> pd.DataFrame:
    """The operator's outcome counters (what happened to every input event) as rows."""
    op = (status.get("operators") or {}).get(series) or {}
    outcomes = op.get("outcomes") or {}
    return pd.DataFrame(
        [{"outcome": k, "events": int(v)} for k, v in outcomes.items()],
        columns=["outcome", "events"],
    )


def side_output_summary(store: Store, limit: int = 100_000) -> pd.DataFrame:
    """Late events waiting for a batch patch, per series, source and action."""
    cols = ["series", "source", "action", "events", "amount_cents", "oldest_ms"]
    pending = store.late_events_frame(pending_only=True, limit=limit)
    if pending.empty:
        return pd.DataFrame(columns=cols)
    g = pending.groupby(["series", "source", "action"], dropna=False)
    out = g.agg(
        events=("event_id", "size"),
        amount_cents=("amount_cents", "sum"),
        oldest_ms=("processing_time_ms", "min"),
    ).reset_index()
    return out[cols]


def jobs_view(store: Store, limit: int = 200) -> pd.DataFrame:
    """Jobs newest first with their duration and counts as text. Duration is the
    job's wall-clock run time (``run_ms``), since processing time stands still
    inside a job; older rows without it fall back to finished - started."""
    jobs = store.jobs_frame(limit=limit)
    if jobs.empty:
        return jobs.assign(duration_ms=pd.Series(dtype="float"), summary=pd.Series(dtype="str"))
    jobs = jobs.copy()
    counts = [json.loads(c or "{}") for c in jobs["counts"]]
    run_ms = pd.Series([c.pop("run_ms", None) for c in counts], index=jobs.index, dtype="float")
    jobs["duration_ms"] = run_ms.fillna(jobs["finished_ms"] - jobs["started_ms"])
    from engine.views.tables import describe_counts

    jobs["summary"] = [describe_counts(c) for c in counts]
    return jobs


def ingest_totals(store: Store, limit: int = 1_000_000) -> dict:
    """Input accounting over every ingest: rows read = accepted + duplicates +
    quarantined, and whether that holds."""
    ing = store.ingests_frame(limit=limit)
    totals = {c: int(ing[c].sum()) if len(ing) else 0 for c in _INGEST_COUNTS}
    totals["ingests"] = len(ing)
    totals["balanced"] = totals["rows_read"] == (
        totals["accepted"] + totals["duplicates"] + totals["quarantined"]
    )
    return totals


_INGEST_COUNTS = ("rows_read", "accepted", "duplicates", "quarantined")


def catch_up_progress(status: dict, history_days: int, tz: str) -> float | None:
    """Share (0..1) of the first-start replay done, or None when not catching up."""
    target = status.get("catch_up_to_ms")
    if not status.get("catching_up") or not target:
        return None
    start_day = business_day_of(target, tz) - timedelta(days=history_days)
    start = business_day_bounds(start_day, tz)[0]
    position = status.get("proc_ms") or start
    return float(min(max((position - start) / max(target - start, 1), 0.0), 1.0))


__all__ = [
    "ADDITIVE_COLUMNS",
    "ALL_SOURCES",
    "DAILY",
    "DELAY_BUCKETS",
    "HOURLY",
    "METRICS",
    "NO_DATA",
    "TIERS",
    "DayCompleteness",
    "TierSchedule",
    "catch_up_progress",
    "day_comparison",
    "preview_comparison",
    "day_completeness",
    "day_hours",
    "default_explain_pair",
    "hours_of_day",
    "ingest_totals",
    "jobs_view",
    "local_datetime",
    "local_to_ms",
    "outcome_frame",
    "recent_days",
    "same_time_yesterday",
    "side_output_summary",
    "tier_bands",
    "tier_schedule",
    "watermark_frame",
    "window_bounds",
]
