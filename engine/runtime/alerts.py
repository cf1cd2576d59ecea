"""Alerts that fire on numbers people can trust, and warnings that say they are provisional.

Why the policy looks like this (design.md, "Alerts"): a live number is
incomplete by construction — late data keeps arriving for days — so alerting on
it pages people about dips that the final number later erases. Therefore:

- An **alert** fires only on a version of the rule's alert tier or above
  (``final`` by default, ``preliminary`` if the rule says so), and only once per
  (rule, window, tier): the log's UNIQUE key makes a re-run a no-op.
- Any number below the alert tier (live, early, or a preliminary number under a
  final-tier rule) may raise only a **warning**, labelled provisional, once per
  (rule, window), and only when it is *clearly* beyond the threshold: by the
  rule's ``live_margin`` (10 % by default) — ``below``: value < threshold × (1 −
  margin); ``above``: value > threshold × (1 + margin).
- A window that is still in progress is below any threshold by construction,
  so a ``below`` warning waits until the window has ended (now >= window end);
  an ``above`` warning may come from an open window.
- When the alert tier's number arrives it settles each warning: **confirmed**
  (it is beyond the threshold too; the alert itself is logged separately) or
  **contradicted** (it is not). A preliminary-tier alert is likewise marked
  contradicted when the final number is not beyond the threshold.

``evaluate_alerts(store, now_ms, sinks)`` is a function of the store and the
time: it looks at each window's numbers as they stood at ``now_ms`` (versions
with processing time <= now), so replaying the same store at the same times
gives the same log. It judges each window's *current* number per tier; a dip
that existed only between two runs of the job (seconds apart) is not seen.

Entries decided on a version that was computed before the rule existed are
logged as ``backfill`` (the rule "would have fired") and not sent to sinks.
"""

from __future__ import annotations

import logging
import math
import statistics
from dataclasses import asdict, dataclass, field, replace

import pandas as pd

from engine.core.timeutil import DAY_MS, format_ms
from engine.runtime.sinks import DEFAULT_SINKS, Sink, check_webhook_url
from engine.store import alerts as sql
from engine.store.db import Store
from engine.store.queries import DEFAULT_GROUP
from engine.store.schema import TIER_RANK

log = logging.getLogger("latewatch.alerts")

METRICS = {"revenue": "revenue_cents", "orders": "orders", "items": "items", "events": "events"}
METRIC_LABELS = {"revenue": "revenue", "orders": "orders", "items": "items", "events": "events"}
COMPARATORS = ("below", "above")
ALERT_TIERS = ("preliminary", "final")
GRAINS = {"hourly": "Hourly", "daily": "Daily"}
DEFAULT_LIVE_MARGIN = 0.10
DEFAULT_LOOKBACK_MS = 35 * DAY_MS  # windows older than this are final and already judged
MAX_DELIVERY_ATTEMPTS = 3
MAX_DELIVERIES_PER_RUN = 25  # a dead receiver costs at most a bounded time per job run
DEFAULTS_KV_KEY = "alerts.defaults_created"
PROVISIONAL = "provisional"  # once_per value of warnings: one per (rule, window)


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
        if not self.name:
            object.__setattr__(self, "name", self.describe())

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
        row.pop("id")
        row.pop("created_ms")
        return row

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
        )


def format_value(metric: str, value: float | None) -> str:
    """A metric value for messages: revenue in dollars, counts with separators."""
    if value is None:
        return "—"
    if metric == "revenue":
        return f"${value / 100:,.2f}"
    return f"{value:,.0f}"


def display_value(metric: str, value: float | None) -> float | None:
    """Stored unit -> the unit people read (dollars for revenue)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value / 100 if metric == "revenue" else float(value)


def stored_value(metric: str, value: float) -> float:
    """The unit people type (dollars for revenue) -> stored unit."""
    return round(value * 100) if metric == "revenue" else float(value)


# -- rules -------------------------------------------------------------------------------
def add_rule(store: Store, rule: AlertRule, now_ms: int, known_series=None) -> AlertRule:
    """Validate against the store (series exists) and insert; the stored rule back."""
    series = set(known_series if known_series is not None else store.series_names())
    if series and rule.series not in series:
        raise ValueError(f"unknown series {rule.series!r}; this store has {sorted(series)}")
    rule_id = sql.insert_rule(store, rule.to_row(), now_ms)
    return replace(rule, id=rule_id, created_ms=now_ms)


def list_rules(store: Store, enabled_only: bool = False) -> list[AlertRule]:
    return [AlertRule.from_row(r) for r in sql.rules(store, enabled_only)]


def set_enabled(store: Store, rule_id: int, enabled: bool, now_ms: int) -> bool:
    return sql.set_rule_enabled(store, rule_id, enabled, now_ms)


def groups(store: Store, series: str, since_ms: int) -> list[str]:
    """Groups a rule on ``series`` can watch: '*' (all sources) and each source seen."""
    return sql.groups(store, series, since_ms)


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
    col = METRICS[metric]
    frame = store.windows_in_range(series, now_ms - lookback_ms, now_ms, grp)
    finals = [
        float(v)
        for v, ok in zip(frame[f"final_{col}"], frame["is_final"], strict=True)
        if ok and not pd.isna(v) and v > 0
    ]
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
    suggestion = suggest_rule(store, now_ms)
    if suggestion is None:
        return []  # not enough final numbers yet: try again on the next run
    with store.transaction():
        rule = add_rule(store, replace(suggestion, origin="default"), now_ms, known_series=())
        store.set_kv(DEFAULTS_KV_KEY, {"rule_id": rule.id}, now_ms)
    return [rule]


# -- evaluation ----------------------------------------------------------------------------
@dataclass
class EvaluationReport:
    now_ms: int
    rules: int = 0
    windows: int = 0
    alerts: int = 0
    warnings: int = 0
    confirmed: int = 0
    contradicted: int = 0
    delivered: int = 0
    delivery_failures: int = 0
    new_entries: list[dict] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(
            self.alerts
            or self.warnings
            or self.confirmed
            or self.contradicted
            or self.delivered
            or self.delivery_failures
        )

    def counts(self) -> dict:
        return {
            k: getattr(self, k)
            for k in (
                "rules",
                "windows",
                "alerts",
                "warnings",
                "confirmed",
                "contradicted",
                "delivered",
                "delivery_failures",
            )
        }


def by_window(rows: list[dict]) -> dict[int, dict]:
    """Per window: its end, the latest version overall and the latest per tier."""
    out: dict[int, dict] = {}
    for r in rows:  # ordered by window, version
        w = out.setdefault(r["window_start_ms"], {"end": r["window_end_ms"], "tiers": {}})
        w["latest"] = r
        w["tiers"][r["tier"]] = r
    return out


def _entry(rule: AlertRule, kind: str, once_per: str, ws: int, w: dict, row: dict, now_ms: int):
    provisional = kind == "warning"
    value = row["value"]
    line = rule.warning_line if provisional else rule.threshold
    what = (
        f"Provisional warning: {row['tier']} number" if provisional else f"Alert on {row['tier']}"
    )
    message = (
        f"{what} {format_value(rule.metric, value)} is {rule.comparator} "
        f"{format_value(rule.metric, line)}"
        + (
            f" (threshold {format_value(rule.metric, rule.threshold)} "
            f"{'−' if rule.comparator == 'below' else '+'} {rule.live_margin:.0%} margin)"
            if provisional
            else ""
        )
        + f" for {rule.series} window {format_ms(ws)} ({rule.grp})"
    )
    return {
        "rule_id": rule.id,
        "kind": kind,
        "once_per": once_per,
        "series": rule.series,
        "window_start_ms": ws,
        "window_end_ms": w["end"],
        "grp": rule.grp,
        "tier": row["tier"],
        "version": row["version"],
        "version_processing_ms": row["processing_time_ms"],
        "metric": rule.metric,
        "value": value,
        "threshold": rule.threshold,
        "comparator": rule.comparator,
        "margin": rule.live_margin if provisional else 0.0,
        "status": PROVISIONAL if provisional else "fired",
        "backfill": int(
            rule.created_ms is not None and (row["processing_time_ms"] or 0) < rule.created_ms
        ),
        "raised_ms": now_ms,
        "message": message,
    }


def _decide(rule: AlertRule, windows: dict[int, dict], open_entries: list[dict], now_ms: int):
    """(new log entries, resolutions) for one rule. Pure: no I/O."""
    new: list[dict] = []
    resolutions: list[tuple[dict, str, dict]] = []
    alert_rank = TIER_RANK[rule.alert_tier]
    for ws, w in windows.items():
        decisive = [t for t in ALERT_TIERS if TIER_RANK[t] >= alert_rank and t in w["tiers"]]
        for tier in decisive:
            row = w["tiers"][tier]
            if rule.beyond(row["value"]):
                new.append(_entry(rule, "alert", tier, ws, w, row, now_ms))
        if not decisive:
            row = w["latest"]
            ended = now_ms >= w["end"]
            if (ended or rule.comparator == "above") and rule.beyond(
                row["value"], rule.live_margin
            ):
                new.append(_entry(rule, "warning", PROVISIONAL, ws, w, row, now_ms))
    for entry in open_entries:
        w = windows.get(entry["window_start_ms"])
        if w is None:
            continue
        decisive = [t for t in ALERT_TIERS if TIER_RANK[t] >= alert_rank and t in w["tiers"]]
        if not decisive:
            continue
        row = w["tiers"][decisive[-1]]  # the highest tier that has spoken
        if entry["kind"] == "alert" and row["tier"] == entry["tier"]:
            continue  # a preliminary alert waits for the final
        holds = rule.beyond(row["value"])
        if entry["kind"] == "warning":
            status = "confirmed" if holds else "contradicted"
        else:
            status = "fired" if holds else "contradicted"
        if (
            status != entry["status"]
            or row["tier"] != entry["resolved_tier"]
            or row["version"] != entry["resolved_version"]
        ):
            resolutions.append((entry, status, row))
    return new, resolutions


def _payload(event: str, rule: AlertRule, entry: dict) -> dict:
    return {
        "event": event,
        "provisional": entry["kind"] == "warning" and entry["status"] == PROVISIONAL,
        "status": entry["status"],
        "message": entry["message"],
        "rule": {
            "id": rule.id,
            "name": rule.name,
            "metric": rule.metric,
            "series": rule.series,
            "group": rule.grp,
            "comparator": rule.comparator,
            "threshold": rule.threshold,
            "live_margin": rule.live_margin,
            "alert_tier": rule.alert_tier,
        },
        "window": {
            "series": entry["series"],
            "group": entry["grp"],
            "start": format_ms(entry["window_start_ms"]),
            "end": format_ms(entry["window_end_ms"]),
            "start_ms": entry["window_start_ms"],
        },
        "tier": entry["tier"],
        "version": entry["version"],
        "value": entry["value"],
        "resolved": {
            "tier": entry.get("resolved_tier"),
            "version": entry.get("resolved_version"),
            "value": entry.get("resolved_value"),
        },
        "unit": "cents" if rule.metric == "revenue" else "count",
    }


def _queue(store, sinks, rule: AlertRule, log_id: int, event: str, entry: dict, now_ms: int):
    if entry.get("backfill"):
        return
    for sink in sinks:
        target = sink.target(rule)
        if target:
            sql.insert_delivery(
                store, log_id, sink.name, event, target, _payload(event, rule, entry), now_ms
            )


def evaluate_alerts(
    store: Store,
    now_ms: int,
    sinks: tuple[Sink, ...] | list[Sink] = DEFAULT_SINKS,
    lookback_ms: int = DEFAULT_LOOKBACK_MS,
) -> EvaluationReport:
    """Judge every enabled rule on the windows of the last ``lookback_ms`` as they
    stood at ``now_ms``; log new alerts and warnings, settle warnings, then hand
    new notices to the sinks. Safe to run again at any time: nothing repeats."""
    report = EvaluationReport(now_ms=now_ms)
    rules = list_rules(store, enabled_only=True)
    report.rules = len(rules)
    plans = []
    for rule in rules:
        rows = sql.window_versions(
            store, rule.series, rule.grp, rule.column, now_ms - lookback_ms, now_ms
        )
        windows = by_window(rows)
        report.windows += len(windows)
        new, resolutions = _decide(rule, windows, sql.unresolved_log(store, rule.id), now_ms)
        if new or resolutions:
            plans.append((rule, new, resolutions))
    if plans:
        with store.transaction():
            for rule, new, resolutions in plans:
                for entry in new:
                    log_id = sql.insert_log(store, entry)
                    if log_id is None:
                        continue  # already logged (a concurrent run or a replay)
                    if entry["kind"] == "alert":
                        report.alerts += 1
                    else:
                        report.warnings += 1
                    report.new_entries.append({**entry, "id": log_id})
                    event = "alert_fired" if entry["kind"] == "alert" else "warning_raised"
                    _queue(store, sinks, rule, log_id, event, entry, now_ms)
                for entry, status, row in resolutions:
                    sql.resolve_log(
                        store,
                        entry["id"],
                        status,
                        now_ms,
                        row["tier"],
                        row["version"],
                        row["value"],
                    )
                    if status == entry["status"]:
                        continue
                    if status == "confirmed":
                        report.confirmed += 1
                    elif status == "contradicted":
                        report.contradicted += 1
                        settled = {
                            **entry,
                            "status": status,
                            "resolved_tier": row["tier"],
                            "resolved_version": row["version"],
                            "resolved_value": row["value"],
                        }
                        _queue(
                            store,
                            sinks,
                            rule,
                            entry["id"],
                            f"{entry['kind']}_contradicted",
                            settled,
                            now_ms,
                        )
    deliver_pending(store, sinks, now_ms, report)
    return report


def deliver_pending(
    store: Store, sinks, now_ms: int, report: EvaluationReport | None = None
) -> EvaluationReport:
    """Send queued notices (after the log is committed: no HTTP inside a write
    transaction). Failures are recorded and retried on later runs, at most
    ``MAX_DELIVERY_ATTEMPTS`` times; a target that failed is skipped for the rest
    of this run so one dead receiver cannot stall the job."""
    report = report or EvaluationReport(now_ms=now_ms)
    by_name = {s.name: s for s in sinks}
    dead: set[tuple[str, str]] = set()
    for d in sql.due_deliveries(
        store, list(by_name), MAX_DELIVERY_ATTEMPTS, MAX_DELIVERIES_PER_RUN
    ):
        key = (d["sink"], d["target"])
        if key in dead:
            continue
        try:
            by_name[d["sink"]].send(d["target"], d["payload"])
        except Exception as exc:  # noqa: BLE001 - a sink must never crash the job
            dead.add(key)
            report.delivery_failures += 1
            error = f"{type(exc).__name__}: {exc}"[:500]
            log.warning("alert delivery %s to %s failed: %s", d["id"], d["target"], error)
            sql.record_delivery(store, d["id"], False, error, now_ms)
        else:
            report.delivered += 1
            sql.record_delivery(store, d["id"], True, None, now_ms)
    return report


def run_alert_job(store: Store, now_ms: int, sinks=DEFAULT_SINKS) -> dict | None:
    """The scheduled step (called from ``Runtime.run_due_jobs``): default rules on
    first start, then evaluation. A summary dict when something changed, else None."""
    created = ensure_default_rules(store, now_ms)
    report = evaluate_alerts(store, now_ms, sinks)
    if not created and not report.changed:
        return None
    return {"rules_created": len(created), **report.counts()}
