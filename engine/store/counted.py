"""The events a stored version counted, read back for the non-additive metrics.

A version row holds average/median order value and distinct users only when its
series computes them (``PipelineSpec.metrics``); the default series keep sums only,
because per-window detail made the first-start replay ~5x slower. Every version's
contributions are stored, though (``contributions``: event ids added or removed per
version), so the exact events behind any version — the ones its revenue and orders
add up — can be read back: those with a positive net sign over versions ``<= v``.
``counted_metrics`` turns them into the metrics with ``aggregate``'s definitions (the
ones the operator and the batch jobs use; tests cross-check it).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from engine.core.events import ORDER_TYPE
from engine.store.db import Store

NON_ADDITIVE = ("avg_order_value_cents", "median_order_value_cents", "distinct_users")


def counted_metrics(
    store: Store, series: str, grp: str, windows: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], dict]:
    """``(window_start_ms, version) -> {non-additive column: value}`` over the events
    each version counted (None where it counted no order, or nothing at all).

    Each window is one ordered read of its contributions: walking them in version
    order keeps the counted set as it grows (and shrinks: a recompute removes events),
    so every version asked about is one step of the walk — a whole version history
    costs what its last version does."""
    wanted = [(int(ws), int(v)) for ws, v in windows]
    per_window: dict[int, set[int]] = {}
    for ws, v in wanted:
        per_window.setdefault(ws, set()).add(v)
    out: dict[tuple[int, int], dict] = {}
    for ws, versions in per_window.items():
        out.update(_history(store, series, grp, ws, versions))
    return {k: out[k] for k in wanted}


def _history(store, series, grp, ws: int, versions: set[int]) -> dict[tuple[int, int], dict]:
    """Every asked version of one window from one ordered read of its contributions."""
    rows = store.conn.execute(
        "SELECT c.version, c.event_id, c.sign, r.event_type, r.amount_cents, r.key "
        "FROM contributions c JOIN raw_events r ON r.event_id = c.event_id "
        "WHERE c.series = ? AND c.window_start_ms = ? AND c.grp = ? AND c.version <= ? "
        "ORDER BY c.version",
        (series, ws, grp, max(versions)),
    ).fetchall()
    net: dict[str, int] = {}
    amounts: list[int] = []  # sorted order amounts counted so far
    total = events = 0
    users: dict[str, int] = {}
    out = {}
    i = 0
    for v in sorted(versions):
        while i < len(rows) and rows[i][0] <= v:
            _, eid, sign, etype, amount, key = rows[i]
            i += 1
            before = net.get(eid, 0)
            net[eid] = before + sign
            step = (net[eid] > 0) - (before > 0)  # +1 entered, -1 left, 0 no change
            if not step:
                continue
            events += step
            if etype == ORDER_TYPE:
                if step > 0:
                    bisect.insort(amounts, int(amount))
                else:
                    del amounts[bisect.bisect_left(amounts, int(amount))]
                total += step * int(amount)
            if key is not None:
                users[key] = users.get(key, 0) + step
                if not users[key]:
                    del users[key]
        n = len(amounts)
        out[(ws, v)] = {
            "avg_order_value_cents": total / n if n else None,
            "median_order_value_cents": (
                (float(amounts[n // 2]) if n % 2 else (amounts[n // 2 - 1] + amounts[n // 2]) / 2)
                if n
                else None
            ),
            "distinct_users": len(users) if events else None,
        }
    return out


__all__ = ["NON_ADDITIVE", "counted_metrics"]
