"""Per-window state and small helpers of the window operator.

``WindowState`` is the accumulator of one (group, window) plus its trigger
state: additive sums kept as integers (cents), optional detail for non-additive
metrics (order amounts for average/median, user keys for distinct users), and
what the triggers need (fired on time, versions emitted, pending pane, timer).
``absorb`` merges another window's state, which is what session merging needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.events import ORDER_TYPE, Event


class WindowState:
    """Accumulated contents and trigger state of one (group, window)."""

    __slots__ = (
        "group",
        "start",
        "end",
        "rev",
        "orders",
        "items",
        "count",
        "order_amounts",
        "users",
        "fired_on_time",
        "version",
        "last_values",
        "late_versions",
        "pending",
        "timer_at",
        "added",
    )

    def __init__(self, group: str, start: int, end: int, keep_detail: bool) -> None:
        self.group = group
        self.start = start
        self.end = end
        self.rev = 0
        self.orders = 0
        self.items = 0
        self.count = 0
        self.order_amounts: list[int] | None = [] if keep_detail else None
        self.users: set[str] | None = set() if keep_detail else None
        self.fired_on_time = False
        self.version = 0
        self.last_values: dict | None = None
        self.late_versions = 0
        self.pending = False  # elements since the last firing
        self.timer_at: int | None = None
        self.added: list[str] | None = None

    def add(self, event: Event) -> None:
        self.rev += event.amount_cents
        self.items += event.items
        self.count += 1
        is_order = event.event_type == ORDER_TYPE
        if is_order:
            self.orders += 1
        if self.order_amounts is not None:
            if is_order:
                self.order_amounts.append(event.amount_cents)
            if event.key is not None:
                self.users.add(event.key)
        self.pending = True

    def absorb(self, other: WindowState) -> None:
        self.rev += other.rev
        self.orders += other.orders
        self.items += other.items
        self.count += other.count
        if self.order_amounts is not None:
            self.order_amounts.extend(other.order_amounts)
            self.users |= other.users
        self.late_versions += other.late_versions
        if other.added is not None:
            self.added = (self.added or []) + other.added


@dataclass(frozen=True, slots=True)
class Supersession:
    """Session ``old`` of ``group`` was merged into ``new`` at processing time ``at_ms``."""

    group: str
    old: tuple[int, int]
    new: tuple[int, int]
    at_ms: int | None
    watermark_ms: int
    old_versions: int


ALL_GROUPS = ("*",)


def group_function(group_by: str):
    """event -> the groups it counts in ('*' = all sources together)."""
    if group_by == "none":
        return lambda event: ALL_GROUPS
    if group_by == "source":
        return lambda event: (event.source,)
    if group_by == "key":
        return lambda event: (event.key or "-",)
    return lambda event: ("*", event.source)


def percentiles(values: list[int]) -> dict:
    if not values:
        return {}
    ordered = sorted(values)
    n = len(ordered)

    def q(p: float) -> int:
        return ordered[min(n - 1, int(p * n))]

    return {
        "p50": q(0.5),
        "p90": q(0.9),
        "p99": q(0.99),
        "p99.9": q(0.999),
        "max": ordered[-1],
        "count": n,
    }
