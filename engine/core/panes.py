"""What a firing publishes: a window's state turned into a pane (a ``Version``).

The operator decides *when* a window fires and *where* each event goes; this
module decides *what* the pane says — the metric values (additive sums from the
integer accumulators; average and median order value and distinct users from the
kept detail, with the same definitions as the store's batch ``aggregate``), the
deltas against the previous pane (what discarding mode would emit), and Beam's
pane metadata (timing, first/last, the events the pane adds).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from engine.core.results import Version
from engine.core.window_state import WindowState

ADDITIVE = ("revenue", "orders", "items", "events")


def pane_values(state: WindowState, metrics: Sequence[str]) -> dict:
    """The window's values now: revenue in currency units, counts, and the
    non-additive metrics ``metrics`` asks for (when the state keeps detail)."""
    values = {
        "revenue": state.rev / 100,
        "orders": state.orders,
        "items": state.items,
        "events": state.count,
    }
    if state.order_amounts is not None:
        amounts = state.order_amounts
        if "avg_order_value" in metrics:
            values["avg_order_value"] = (
                round(sum(amounts) / len(amounts) / 100, 4) if amounts else None
            )
        if "median_order_value" in metrics:
            values["median_order_value"] = statistics.median(amounts) / 100 if amounts else None
        if "distinct_users" in metrics:
            values["distinct_users"] = len(state.users)
    return values


def pane_deltas(state: WindowState, values: dict) -> dict:
    """Additive change against the previous pane (the first pane's deltas are its values)."""
    prev = state.last_values
    if prev is None:
        return {k: v for k, v in values.items() if k in ADDITIVE}
    return {
        "revenue": (state.rev - round(prev["revenue"] * 100)) / 100,
        "orders": values["orders"] - prev["orders"],
        "items": values["items"] - prev["items"],
        "events": values["events"] - prev["events"],
    }


def make_pane(
    state: WindowState,
    metrics: Sequence[str],
    timing: str,
    processing_time_ms: int | None,
    watermark_ms: int,
    is_last: bool,
    added_ids: tuple[str, ...],
) -> Version:
    """The pane numbered ``state.version`` (the caller has counted the firing)."""
    version = state.version
    if state.order_amounts is None:  # additive only: ``pane_values`` and ``pane_deltas``
        rev, orders, items, count = state.rev, state.orders, state.items, state.count
        values = {"revenue": rev / 100, "orders": orders, "items": items, "events": count}
        prev = state.last_values
        if prev is None:
            deltas = values.copy()
        else:
            deltas = {
                "revenue": (rev - round(prev["revenue"] * 100)) / 100,
                "orders": orders - prev["orders"],
                "items": items - prev["items"],
                "events": count - prev["events"],
            }
    else:
        values = pane_values(state, metrics)
        deltas = pane_deltas(state, values)
    # positional: the fields in ``Version``'s order (keywords cost more per pane)
    return Version(
        state.start,
        state.end,
        state.group,
        version,
        timing,
        processing_time_ms,
        watermark_ms,
        values,
        deltas,
        state.count,
        version == 1,
        is_last,
        None,
        added_ids,
    )
