"""The non-additive metrics — average order value, median order value, distinct users —
for a business day, recomputed from the raw log; and per stored version, over the
exact events that version counted (``window_metrics``: the chart values of Today,
Versions and Reconciliation).

Why from the raw log: the streaming operator keeps sums (revenue, orders, items) that
late events can patch; an average, a median or a distinct count cannot be patched
from a sum, which is why the spec routes such metrics to ``recompute``. So these are
batch recomputes of what had *arrived* by a moment (``arrived_by_ms``), with the
definitions of the ``aggregate`` the batch jobs use (counted in SQL: a day's events
never travel to Python) — the fair comparison for a day still in progress is
then "yesterday, with what had arrived by this time yesterday". No Streamlit here.
"""

from __future__ import annotations

import statistics
from datetime import date, timedelta

import numpy as np
import pandas as pd

from engine.core.timeutil import business_day_bounds, business_day_of
from engine.runtime.finalize import FinalizePolicy
from engine.store.counted import counted_metrics
from engine.store.db import Store
from engine.store.raw_metrics import arrived_day_values
from engine.views.dashboard import ALL_SOURCES
from engine.views.days import same_time_days_ago

NON_ADDITIVE = ("avg_order_value_cents", "median_order_value_cents", "distinct_users")
LABELS = {
    "avg_order_value_cents": "Average order value",
    "median_order_value_cents": "Median order value",
    "distinct_users": "Distinct users",
}


def day_values(
    store: Store,
    day: date,
    policy: FinalizePolicy,
    grp: str = ALL_SOURCES,
    arrived_by_ms: int | None = None,
) -> dict:
    """The day's non-additive metrics over the events that had arrived by
    ``arrived_by_ms`` (all of them when None), plus how many events that was."""
    start, end = business_day_bounds(day, policy.tz)
    got = arrived_day_values(
        store, start, end, arrived_by_ms, sources=None if grp == ALL_SOURCES else [grp]
    )
    amounts = got["order_amounts"]
    return {
        # the definitions of engine.store.queries.aggregate, counted in SQL
        "avg_order_value_cents": sum(amounts) / len(amounts) if amounts else None,
        "median_order_value_cents": float(statistics.median(amounts)) if amounts else None,
        "distinct_users": got["distinct_users"],
        "events": got["events"],
    }


def comparison_table(
    store: Store, now_ms: int, policy: FinalizePolicy, grp: str = ALL_SOURCES
) -> pd.DataFrame:
    """Today so far, yesterday at this time, yesterday with everything arrived since
    ("all to now"), and the same weekday last week at this time — one row each,
    values in display units (dollars for order values)."""
    tz = policy.tz
    today = business_day_of(now_ms, tz)
    # short labels: the table fits a 1024 px projector without cutting them off
    rows = [
        ("Today so far", today, now_ms),
        ("Yesterday, this time", today - timedelta(days=1), same_time_days_ago(now_ms, 1, tz)),
        ("Yesterday, all to now", today - timedelta(days=1), now_ms),
        ("Last week, this time", today - timedelta(days=7), same_time_days_ago(now_ms, 7, tz)),
    ]
    out = []
    for label, day, by in rows:
        v = day_values(store, day, policy, grp, by)
        out.append(
            {
                "Day": f"{label} ({day:%a %d})",
                LABELS["avg_order_value_cents"]: _usd(v["avg_order_value_cents"]),
                LABELS["median_order_value_cents"]: _usd(v["median_order_value_cents"]),
                LABELS["distinct_users"]: v["distinct_users"],
                "Events": v["events"],
            }
        )
    return pd.DataFrame(out)


def window_metrics(
    store: Store,
    series: str,
    grp: str,
    frame: pd.DataFrame,
    metrics=NON_ADDITIVE,
    version_col: str = "version",
) -> pd.DataFrame:
    """``frame`` (one row per stored version: ``window_start_ms`` and ``version_col``)
    with the non-additive ``metrics`` added as columns: the value the version row holds
    when its series computes it, otherwise the same definition (``aggregate``) over the
    events that version counted — the events its revenue and orders add up — read back
    from its contributions. Never a sum or an average of hours or sources. NaN where the
    version counted no order (average, median) or holds no events."""
    out = frame.copy()
    metrics = [m for m in metrics if m in NON_ADDITIVE]
    if not metrics:
        return out
    keys = list(zip(out["window_start_ms"], out[version_col], strict=True))
    stored = {m: out[m] if m in out else pd.Series(np.nan, index=out.index) for m in metrics}
    missing = pd.Series(False, index=out.index)
    for m in metrics:
        missing |= pd.to_numeric(stored[m], errors="coerce").isna()
    need = [k for k, miss in zip(keys, missing, strict=True) if miss]
    computed = counted_metrics(store, series, grp, need) if need else {}
    for m in metrics:
        values = pd.to_numeric(stored[m], errors="coerce").astype("float64").to_numpy(copy=True)
        for i, (key, miss) in enumerate(zip(keys, missing, strict=True)):
            if miss:
                v = computed[(int(key[0]), int(key[1]))][m]
                values[i] = np.nan if v is None else float(v)
        out[m] = values
    return out


def _usd(cents: float | None) -> float | None:
    return None if cents is None else round(cents / 100, 2)


__all__ = ["LABELS", "NON_ADDITIVE", "comparison_table", "day_values", "window_metrics"]
