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

Entries decided on a version that was computed before the rule existed (or before
its last edit or switch-on) are logged as ``backfill`` (the rule "would have fired")
and not sent to sinks.

This module is the evaluation. Rules (what a rule is, add/edit/switch/delete) live in
``engine.runtime.alert_rules`` and sending in ``engine.runtime.alert_delivery``; their
public names are re-exported here, so ``from engine.runtime import alerts`` is the one
import pages and the runtime need.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.core.timeutil import format_ms
from engine.runtime.alert_delivery import (
    MAX_DELIVERIES_PER_RUN,
    MAX_DELIVERY_ATTEMPTS,
    PROVISIONAL,
    TEST_EVENT,
    WebhookTestResult,
    deliver_pending,
    delivery_status,
    notice_payload_for_test,
    payload,
    queue,
    send_test_notice,
)
from engine.runtime.alert_rules import (
    ALERT_TIERS,
    COMPARATORS,
    DEFAULT_LIVE_MARGIN,
    DEFAULT_LOOKBACK_MS,
    DEFAULTS_KV_KEY,
    GAP_METRICS,
    GRAINS,
    MAX_NAME_CHARS,
    METRIC_LABELS,
    METRICS,
    MONEY_METRICS,
    NON_ADDITIVE_METRICS,
    AlertRule,
    add_rule,
    delete_rule,
    display_value,
    ensure_default_rules,
    fill_counted,
    format_value,
    get_rule,
    groups,
    list_rules,
    rule_history,
    set_enabled,
    stored_value,
    suggest_rule,
    unit_of,
    update_rule,
)
from engine.runtime.finalize import STREAMING_REASONS
from engine.runtime.sinks import DEFAULT_SINKS, Sink
from engine.store import alerts as sql
from engine.store.db import Store
from engine.store.schema import TIER_RANK

__all__ = [
    "ALERT_TIERS",
    "COMPARATORS",
    "DEFAULTS_KV_KEY",
    "DEFAULT_LIVE_MARGIN",
    "DEFAULT_LOOKBACK_MS",
    "GAP_METRICS",
    "GRAINS",
    "MAX_DELIVERIES_PER_RUN",
    "MAX_DELIVERY_ATTEMPTS",
    "MAX_NAME_CHARS",
    "METRICS",
    "MONEY_METRICS",
    "NON_ADDITIVE_METRICS",
    "METRIC_LABELS",
    "PROVISIONAL",
    "TEST_EVENT",
    "AlertRule",
    "EvaluationReport",
    "WebhookTestResult",
    "add_rule",
    "by_window",
    "delete_rule",
    "deliver_pending",
    "delivery_status",
    "display_value",
    "ensure_default_rules",
    "fill_counted",
    "fill_judged",
    "evaluate_alerts",
    "format_value",
    "get_rule",
    "groups",
    "list_rules",
    "notice_payload_for_test",
    "payload",
    "queue",
    "rule_history",
    "run_alert_job",
    "send_test_notice",
    "set_enabled",
    "stored_value",
    "suggest_rule",
    "unit_of",
    "update_rule",
    "gap_rows",
]


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
    # decided by this run but already in the log: another run (the scheduled alert job)
    # logged the same (rule, window, kind) a moment earlier
    already_logged: int = 0
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


def fill_judged(store: Store, rule: AlertRule, windows: dict[int, dict]) -> None:
    """For a non-additive metric: the values of the versions a rule judges (each
    window's latest and latest per tier), over the events each counted, when the
    version rows hold none (series that keep sums only)."""
    rows = {id(r): r for w in windows.values() for r in (w["latest"], *w["tiers"].values())}
    fill_counted(store, rule.series, rule.grp, rule.column, list(rows.values()))


def gap_rows(rows: list[dict]) -> list[dict]:
    """Versions with ``value`` replaced by the streaming-vs-batch gap: from the first
    batch or patch version of a window on, |value - streaming| / |streaming|, where
    streaming is the last streaming pane before it; None before any batch (and when
    the streaming number was 0, where a share means nothing)."""
    out: list[dict] = []
    window, streaming, batch_seen = None, None, False
    for r in rows:  # ordered by window, version
        if r["window_start_ms"] != window:
            window, streaming, batch_seen = r["window_start_ms"], None, False
        if r["reason"] not in STREAMING_REASONS:
            batch_seen = True
        elif not batch_seen:
            streaming = r["value"]
        gap = None
        if batch_seen and streaming and r["value"] is not None:
            gap = abs(r["value"] - streaming) / abs(streaming)
        out.append({**r, "value": gap})
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
            rule.effective_ms is not None and (row["processing_time_ms"] or 0) < rule.effective_ms
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
        if rule.metric in GAP_METRICS:
            rows = gap_rows(rows)
        windows = by_window(rows)
        fill_judged(store, rule, windows)
        report.windows += len(windows)
        new, resolutions = _decide(rule, windows, sql.unresolved_log(store, rule.id), now_ms)
        if new or resolutions:
            plans.append((rule, new, resolutions))
    if plans:
        with store.transaction():
            for rule, new, resolutions in plans:
                for entry in new:
                    log_id = sql.insert_log(store, entry)
                    if log_id is None:  # already logged (a concurrent run or a replay)
                        report.already_logged += 1
                        continue
                    if entry["kind"] == "alert":
                        report.alerts += 1
                    else:
                        report.warnings += 1
                    report.new_entries.append({**entry, "id": log_id})
                    event = "alert_fired" if entry["kind"] == "alert" else "warning_raised"
                    queue(store, sinks, rule, log_id, event, entry, now_ms)
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
                        queue(
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


def run_alert_job(store: Store, now_ms: int, sinks=DEFAULT_SINKS) -> dict | None:
    """The scheduled step (called from ``Runtime.run_due_jobs``): default rules on
    first start, then evaluation. A summary dict when something changed, else None."""
    created = ensure_default_rules(store, now_ms)
    report = evaluate_alerts(store, now_ms, sinks)
    if not created and not report.changed:
        return None
    return {"rules_created": len(created), **report.counts()}
