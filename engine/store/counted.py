"""The events a stored version counted, read back for the non-additive metrics.

A version row holds average/median order value and distinct users only when its
series computes them (``PipelineSpec.metrics``); the default series keep sums only,
because per-window detail made the first-start replay ~5x slower. Every version's
contributions are stored, though (``contributions``: event ids added or removed per
version), so the exact events behind any version — the ones its revenue and orders
add up — can be read back: those with a positive net sign over versions ``<= v``.
``counted_metrics`` turns them into the metrics with ``aggregate``'s definitions (the
ones the operator and the batch jobs use), vectorized.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from engine.core.events import ORDER_TYPE
from engine.store.db import Store
from engine.store.queries import chunks

COLUMNS = ["window_start_ms", "version", "event_type", "amount_cents", "items", "key"]


def counted_events(
    store: Store, series: str, grp: str, windows: Sequence[tuple[int, int]]
) -> pd.DataFrame:
    """For each ``(window_start_ms, version)``: the events that version counted (net
    of removals), as rows of ``COLUMNS`` (``version`` is the one asked about; two
    versions of one window each get their own rows). No contributions, no rows."""
    wanted = sorted({(int(s), int(v)) for s, v in windows})
    parts = []
    for part in chunks(wanted, 400):
        values = ", ".join("(?, ?)" for _ in part)
        params: list = [x for pair in part for x in pair]
        parts.append(
            pd.read_sql_query(
                f"WITH w(ws, v) AS (VALUES {values}), "
                "counted AS (SELECT w.ws AS window_start_ms, w.v AS version, c.event_id AS event_id "
                "FROM contributions c JOIN w ON c.window_start_ms = w.ws AND c.version <= w.v "
                "WHERE c.series = ? AND c.grp = ? "
                "GROUP BY w.ws, w.v, c.event_id HAVING sum(c.sign) > 0) "
                "SELECT counted.window_start_ms, counted.version, r.event_type, r.amount_cents, "
                "r.items, r.key FROM counted JOIN raw_events r ON r.event_id = counted.event_id "
                "ORDER BY counted.window_start_ms, counted.version",
                store.conn,
                params=[*params, series, grp],
            )
        )
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    out = pd.concat(parts, ignore_index=True)[COLUMNS]
    key = out["key"].astype(object)
    out["key"] = key.where(key.notna(), None)  # no user: None, never a NaN "user"
    return out


NON_ADDITIVE = ("avg_order_value_cents", "median_order_value_cents", "distinct_users")


def counted_metrics(
    store: Store, series: str, grp: str, windows: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], dict]:
    """``(window_start_ms, version) -> {non-additive column: value}`` over the events
    each version counted (None where it counted no order, or nothing at all)."""
    ev = counted_events(store, series, grp, windows)
    keys = ["window_start_ms", "version"]
    # aggregate()'s definitions, vectorized (a day holds tens of thousands of events):
    # the mean is the exact integer sum over the count, the median of the order amounts,
    # users the distinct non-missing keys over all events (tests cross-check aggregate)
    orders = ev[ev["event_type"] == ORDER_TYPE].astype({"amount_cents": "int64"})
    by_order = orders.groupby(keys)["amount_cents"]
    sums, counts, medians = by_order.sum(), by_order.count(), by_order.median()
    users = ev.groupby(keys)["key"].nunique()
    out = {}
    for ws, v in windows:
        k = (int(ws), int(v))
        n = int(counts.get(k, 0))
        out[k] = {
            "avg_order_value_cents": int(sums[k]) / n if n else None,
            "median_order_value_cents": float(medians[k]) if n else None,
            "distinct_users": int(users[k]) if k in users.index else None,
        }
    return out


__all__ = ["COLUMNS", "NON_ADDITIVE", "counted_events", "counted_metrics"]
