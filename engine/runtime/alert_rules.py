"""Alert rules: what a rule is, and adding, editing, switching and deleting rules.

Why a module: a rule is configuration people manage (the Alerts page, the API)
while ``engine.runtime.alerts`` judges numbers against the enabled rules and
``engine.runtime.alert_delivery`` sends the notices. Every change to a rule is
kept in the store's append-only ``alert_rule_changes``; a deleted rule keeps its
row, because the log entries and deliveries it produced refer to it.

Webhook URLs are checked twice: for shape whenever a rule is built (no DNS, it
runs on every load), and for where they lead when a rule is saved
(``engine.runtime.sinks.check_webhook_target``: loopback/private/link-local hosts
are refused unless the installation allows them).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, replace

import pandas as pd

from engine.core.timeutil import DAY_MS
from engine.runtime.sinks import check_webhook_target, check_webhook_url
from engine.store import alerts as sql
from engine.store.counted import counted_metrics
from engine.store.db import Store
from engine.store.queries import DEFAULT_GROUP

METRICS = {"revenue": "revenue_cents", "orders": "orders", "items": "items", "events": "events"}
# Speed vs batch: the relative gap between a window's streaming number (its last
# streaming pane before any batch job) and its batch number on the rule's tier,
# |batch - streaming| / |streaming|, as a share (0.02 = 2 %). It exists only once a
# batch number does, so these rules raise alerts and never provisional warnings.
GAP_METRICS = {"revenue_gap": "revenue_cents", "orders_gap": "orders"}
# Not sums: judged per window on the value over the events each version counted
# (``engine.runtime.alerts.fill_counted`` when the series keeps sums only).
NON_ADDITIVE_METRICS = {
    "avg_order_value": "avg_order_value_cents",
    "median_order_value": "median_order_value_cents",
    "distinct_users": "distinct_users",
}
METRICS = {**METRICS, **NON_ADDITIVE_METRICS, **GAP_METRICS}
MONEY_METRICS = ("revenue", "avg_order_value", "median_order_value")  # stored in cents
METRIC_LABELS = {
    "revenue": "revenue",
    "orders": "orders",
    "items": "items",
    "events": "events",
    "avg_order_value": "average order value",
    "median_order_value": "median order value",
    "distinct_users": "distinct users",
    "revenue_gap": "revenue gap, streaming vs batch",
    "orders_gap": "orders gap, streaming vs batch",
}
COMPARATORS = ("below", "above")
ALERT_TIERS = ("preliminary", "final")
GRAINS = {"hourly": "Hourly", "daily": "Daily"}
DEFAULT_LIVE_MARGIN = 0.10
DEFAULT_LOOKBACK_MS = 35 * DAY_MS  # windows older than this are final and already judged
DEFAULTS_KV_KEY = "alerts.defaults_created"
MAX_NAME_CHARS = 200


@dataclass(frozen=True)
class AlertRule:
    """One rule. ``threshold`` is in the metric's stored unit: cents for revenue."""

    metric: str
    series: str
    comparator: str
    threshold: float
    grp: str = DEFAULT_GROUP
    live_margin: float = DEFAULT_LIVE_MARGIN
    alert_tier: str = "final"
    webhook_url: str | None = None
    enabled: bool = True
    name: str = ""
    origin: str = "user"
    id: int | None = None
    created_ms: int | None = None
    updated_ms: int | None = None
    deleted_ms: int | None = None

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {sorted(METRICS)}, not {self.metric!r}")
        if self.comparator not in COMPARATORS:
            raise ValueError(f"comparator must be 'below' or 'above', not {self.comparator!r}")
        if self.alert_tier not in ALERT_TIERS:
            raise ValueError(
                "alerts fire on 'final' or 'preliminary' numbers; a live number can only "
                f"raise a warning (got {self.alert_tier!r})"
            )
        if not self.series:
            raise ValueError("a rule needs a series (grain): e.g. 'hourly' or 'daily'")
        if not self.grp or not str(self.grp).strip():
            raise ValueError("a rule needs a group: '*' for all sources or a source name")
        threshold = float(self.threshold)
        if self.metric in GAP_METRICS and self.comparator != "above":
            raise ValueError(
                "a streaming-vs-batch gap rule fires when the gap is above a share: "
                "use comparator 'above'"
            )
        if not math.isfinite(threshold) or threshold <= 0:
            raise ValueError(
                "the threshold must be a positive number: the live margin is a share of it, "
                "so zero or negative thresholds would make the warning line meaningless"
            )
        if not 0 <= float(self.live_margin) < 1:
            raise ValueError(
                "the live margin is a share of the threshold between 0 and 1 (0.10 = 10 %)"
            )
        if self.webhook_url:
            object.__setattr__(self, "webhook_url", check_webhook_url(self.webhook_url))
        else:
            object.__setattr__(self, "webhook_url", None)
        object.__setattr__(self, "threshold", threshold)
        object.__setattr__(self, "live_margin", float(self.live_margin))
        name = " ".join(str(self.name or "").split())  # one line, no control characters
        if len(name) > MAX_NAME_CHARS:
            raise ValueError(f"a rule name has at most {MAX_NAME_CHARS} characters")
        object.__setattr__(self, "name", name or self.describe())

    @property
    def column(self) -> str:
        return METRICS[self.metric]

    def beyond(self, value: float | None, margin: float = 0.0) -> bool:
        """Is ``value`` beyond the threshold, by at least ``margin`` of it?"""
        if value is None:
            return False
        if self.comparator == "below":
            return value < self.threshold * (1 - margin)
        return value > self.threshold * (1 + margin)

    @property
    def warning_line(self) -> float:
        """Where a provisional number starts to raise a warning."""
        sign = -1 if self.comparator == "below" else 1
        return self.threshold * (1 + sign * self.live_margin)

    def describe(self) -> str:
        grain = GRAINS.get(self.series, self.series)
        group = "all sources" if self.grp == DEFAULT_GROUP else f"source {self.grp}"
        return (
            f"{grain} {METRIC_LABELS[self.metric]} ({group}) {self.comparator} "
            f"{format_value(self.metric, self.threshold)}"
        )

    def to_row(self) -> dict:
        row = asdict(self)
        for key in ("id", "created_ms", "updated_ms", "deleted_ms"):
            row.pop(key)
        return row

    @property
    def effective_ms(self) -> int | None:
        """Since when the rule has judged numbers as it does now (created, or last
        edited or switched on): a decision on an older version is a backfill."""
        times = [t for t in (self.created_ms, self.updated_ms) if t is not None]
        return max(times) if times else None

    @classmethod
    def from_row(cls, row: dict) -> AlertRule:
        return cls(
            id=row["id"],
            name=row["name"],
            metric=row["metric"],
            series=row["series"],
            grp=row["grp"],
            comparator=row["comparator"],
            threshold=row["threshold"],
            live_margin=row["live_margin"],
            alert_tier=row["alert_tier"],
            webhook_url=row["webhook_url"],
            enabled=bool(row["enabled"]),
            origin=row["origin"],
            created_ms=row["created_ms"],
            updated_ms=row.get("updated_ms"),
            deleted_ms=row.get("deleted_ms"),
        )


def format_value(metric: str, value: float | None) -> str:
    """A metric value for messages: revenue in dollars, counts with separators."""
    if value is None:
        return "—"
    if metric in GAP_METRICS:
        return f"{value:.2%}"
    if metric in MONEY_METRICS:
        return f"${value / 100:,.2f}"
    return f"{value:,.0f}"


def unit_of(metric: str) -> str:
    """The unit people type a threshold in."""
    if metric in MONEY_METRICS:
        return "$"
    return "%" if metric in GAP_METRICS else METRIC_LABELS.get(metric, metric)


def display_value(metric: str, value: float | None) -> float | None:
    """Stored unit -> the unit people read (dollars for revenue)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if metric in GAP_METRICS:
        return float(value) * 100
    return value / 100 if metric in MONEY_METRICS else float(value)


def stored_value(metric: str, value: float) -> float:
    """The unit people type (dollars for revenue, percent for gaps) -> stored unit."""
    if metric in GAP_METRICS:
        return float(value) / 100
    return round(value * 100) if metric in MONEY_METRICS else float(value)


# -- rules -------------------------------------------------------------------------------
def add_rule(
    store: Store,
    rule: AlertRule,
    now_ms: int,
    known_series=None,
    allow_private: bool | None = None,
) -> AlertRule:
    """Validate against the store (series exists) and the network (the webhook does
    not lead to an internal host, unless allowed), insert; the stored rule back."""
    series = set(known_series if known_series is not None else store.series_names())
    if series and rule.series not in series:
        raise ValueError(f"unknown series {rule.series!r}; this store has {sorted(series)}")
    if rule.webhook_url:
        check_webhook_target(rule.webhook_url, allow_private)
    rule_id = sql.insert_rule(store, rule.to_row(), now_ms)
    return replace(rule, id=rule_id, created_ms=now_ms)


def list_rules(store: Store, enabled_only: bool = False) -> list[AlertRule]:
    """The rules that exist (deleted ones are gone from every list)."""
    return [AlertRule.from_row(r) for r in sql.rules(store, enabled_only)]


def get_rule(store: Store, rule_id: int) -> AlertRule | None:
    """One rule by id, deleted ones included (``deleted_ms`` says so), or None."""
    row = sql.rule(store, rule_id)
    return None if row is None else AlertRule.from_row(row)


def update_rule(
    store: Store, rule_id: int, now_ms: int, allow_private: bool | None = None, **changes
) -> AlertRule:
    """Edit a rule's name, comparator, threshold (stored unit), live margin, alert tier
    or webhook URL. The edited rule is validated as a whole before anything is
    written; metric, grain and group are what a rule watches, so they are not
    editable (add a rule for another number). The rule back, as stored."""
    current = get_rule(store, rule_id)
    if current is None or current.deleted_ms is not None:
        raise ValueError(f"rule #{rule_id} does not exist (deleted?)")
    fixed = {"metric", "series", "grp"} & set(changes)
    if fixed:
        raise ValueError(
            f"{', '.join(sorted(fixed))} cannot be changed: a rule watches one number; "
            "add a new rule to watch another"
        )
    unknown = set(changes) - set(sql.EDITABLE_RULE_COLUMNS)
    if unknown:
        raise ValueError(f"unknown rule fields: {sorted(unknown)}")
    automatic = current.name == current.describe()  # an automatic name follows edits
    name = changes.pop("name", None)
    if name is None:
        name = "" if automatic else current.name
    edited = replace(current, name=str(name).strip(), **changes)  # "" -> described
    if edited.webhook_url and edited.webhook_url != current.webhook_url:
        check_webhook_target(edited.webhook_url, allow_private)
    row = edited.to_row()
    sql.update_rule(store, rule_id, {k: row[k] for k in sql.EDITABLE_RULE_COLUMNS}, now_ms)
    return get_rule(store, rule_id)


def set_enabled(store: Store, rule_id: int, enabled: bool, now_ms: int) -> bool:
    """Switch a rule on or off (kept in its history). False if it already was."""
    return sql.set_rule_enabled(store, rule_id, enabled, now_ms)


def delete_rule(store: Store, rule_id: int, now_ms: int) -> bool:
    """Delete a rule: no more evaluation, gone from the lists; its log entries and
    deliveries stay (with its name). False if it was already deleted."""
    return sql.delete_rule(store, rule_id, now_ms)


def rule_history(store: Store, rule_id: int | None = None) -> list[dict]:
    """Every change to a rule (or to all rules), newest first."""
    return sql.rule_changes(store, rule_id)


def groups(store: Store, series: str, since_ms: int) -> list[str]:
    """Groups a rule on ``series`` can watch: '*' (all sources) and each source seen."""
    return sql.groups(store, series, since_ms)


# Versions never change, so a version's non-additive value is read from its counted
# events once per process: the alert job re-judges the same windows every few seconds.
_COUNTED: dict[tuple, float | None] = {}
_COUNTED_MAX = 50_000


def fill_counted(store: Store, series: str, grp: str, column: str, rows) -> None:
    """Give each row (dicts with window_start_ms, version, value) of a non-additive
    ``column`` whose version row holds no value the value over the events that version
    counted, in place. Rows of additive columns are left alone."""
    if column not in NON_ADDITIVE_METRICS.values():
        return
    need = []
    for r in rows:
        key = (store.path, series, grp, int(r["window_start_ms"]), int(r["version"]), column)
        if r["value"] is None or (isinstance(r["value"], float) and math.isnan(r["value"])):
            if key in _COUNTED:
                r["value"] = _COUNTED[key]
            else:
                need.append((key, r))
    if not need:
        return
    got = counted_metrics(store, series, grp, [(k[3], k[4]) for k, _ in need])
    if len(_COUNTED) > _COUNTED_MAX:
        _COUNTED.clear()
    for key, r in need:
        value = got[(key[3], key[4])][column]
        _COUNTED[key] = value
        r["value"] = value


def suggest_rule(
    store: Store,
    now_ms: int,
    metric: str = "revenue",
    series: str = "daily",
    grp: str = DEFAULT_GROUP,
    fraction: float = 0.75,
    min_finals: int = 2,
    lookback_ms: int = DEFAULT_LOOKBACK_MS,
) -> AlertRule | None:
    """A 'below' rule at ``fraction`` of the median *final* value of recent windows
    (rounded down to two significant digits), or None while fewer than
    ``min_finals`` final windows exist. Derived from the data, never hard-coded:
    the same rule on a shop ten times bigger gets a threshold ten times higher.
    Daily by default: hourly numbers swing with the time of day, so one hourly
    threshold either misses the day or fires every night."""
    if metric in GAP_METRICS:
        return None  # a gap threshold is a tolerance people choose, not a level in the data
    col = METRICS[metric]
    frame = store.windows_in_range(series, now_ms - lookback_ms, now_ms, grp)
    final = frame[frame["is_final"]]
    rows = [
        {"window_start_ms": ws, "version": v, "value": None if pd.isna(x) else float(x)}
        for ws, v, x in zip(
            final["window_start_ms"], final["final_version"], final[f"final_{col}"], strict=True
        )
    ]
    fill_counted(store, series, grp, col, rows)
    finals = [r["value"] for r in rows if r["value"] is not None and r["value"] > 0]
    if len(finals) < min_finals:
        return None
    raw = statistics.median(finals) * fraction
    digits = max(int(math.floor(math.log10(raw))) - 1, 0)
    threshold = math.floor(raw / 10**digits) * 10**digits
    grain = GRAINS.get(series, series)
    return AlertRule(
        metric=metric,
        series=series,
        grp=grp,
        comparator="below",
        threshold=threshold,
        name=(
            f"{grain} {metric} ({'all sources' if grp == DEFAULT_GROUP else grp}) below "
            f"{fraction:.0%} of the median final ({len(finals)} final windows)"
        ),
    )


def ensure_default_rules(store: Store, now_ms: int) -> list[AlertRule]:
    """On first start with no rules, add the suggested daily-revenue rule as soon as
    enough final days exist to derive it. Done once (a kv flag), so a user who
    switches it off or replaces it never gets it back."""
    if store.get_kv(DEFAULTS_KV_KEY):
        return []
    if sql.rule_count(store) > 0:
        store.set_kv(DEFAULTS_KV_KEY, {"skipped": "rules existed"}, now_ms)
        return []
    since = now_ms - DEFAULT_LOOKBACK_MS - DAY_MS  # a margin: a necessary test, not a new rule
    if sql.final_window_count(store, "daily", DEFAULT_GROUP, since) < 2:
        return []  # not enough final numbers yet (suggest_rule's own test, without its frame)
    suggestion = suggest_rule(store, now_ms)
    if suggestion is None:
        return []  # not enough final numbers yet: try again on the next run
    with store.transaction():
        rule = add_rule(store, replace(suggestion, origin="default"), now_ms, known_series=())
        store.set_kv(DEFAULTS_KV_KEY, {"rule_id": rule.id}, now_ms)
    return [rule]
