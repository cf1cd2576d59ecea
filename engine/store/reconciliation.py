"""Reads behind reconciliation: every version of a range of windows, and the
adjustments booked to periods or to one final window (``engine.views.reconciliation``
shapes them)."""

from __future__ import annotations

import pandas as pd

from engine.store.db import Store
from engine.store.queries import _SELECT_VERSION


def versions_in_range(
    store: Store, series: str, from_ms: int, to_ms: int, grp: str | None = None
) -> pd.DataFrame:
    """Every version of every window starting in [from_ms, to_ms), in (window,
    group, version) order — the raw material of reconciliation."""
    params: list = [series, from_ms, to_ms]
    grp_sql = ""
    if grp is not None:
        grp_sql = "AND grp = ? "
        params.append(grp)
    return pd.read_sql_query(
        _SELECT_VERSION
        + "WHERE series = ? AND window_start_ms >= ? AND window_start_ms < ? "
        + grp_sql
        + "ORDER BY window_start_ms, grp, version",
        store.conn,
        params=params,
    )


def adjustments_between(
    store: Store,
    series: str,
    *,
    period_from_ms: int | None = None,
    period_to_ms: int | None = None,
    window_start_ms: int | None = None,
    grp: str | None = None,
) -> pd.DataFrame:
    """Adjustments booked to periods starting in [period_from, period_to), or
    belonging to one final window (and group), oldest first."""
    where, params = ["series = ?"], [series]
    for sql, value in (
        ("period_start_ms >= ?", period_from_ms),
        ("period_start_ms < ?", period_to_ms),
        ("window_start_ms = ?", window_start_ms),
        ("grp = ?", grp),
    ):
        if value is not None:
            where.append(sql)
            params.append(value)
    return pd.read_sql_query(
        "SELECT * FROM adjustments WHERE " + " AND ".join(where) + " ORDER BY id",
        store.conn,
        params=params,
    )
