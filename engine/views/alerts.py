"""The alert log and rules as the Alerts page shows them: plain-words labels,
values in display units, and each rule's recent windows against its threshold.
Read-only views over ``engine.store.alerts``; the policy lives in ``engine.runtime.alerts``.
"""

from __future__ import annotations

import math

import pandas as pd

from engine.core.timeutil import DAY_MS
from engine.runtime.alerts import (
    GAP_METRICS,
    MONEY_METRICS,
    AlertRule,
    by_window,
    delivery_status,
    display_value,
    fill_judged,
    format_value,
    list_rules,
)
from engine.store import alerts as sql
from engine.store.db import Store
from engine.store.schema import TIER_RANK
from engine.views.dashboard import local_datetime

STATUS_LABELS = {
    ("alert", "fired"): "Alert fired",
    ("alert", "contradicted"): "Alert (preliminary) contradicted by the final number",
    ("warning", "provisional"): "Warning — provisional",
    ("warning", "confirmed"): "Warning — confirmed by the alert-tier number",
    ("warning", "contradicted"): "Warning — contradicted by a later number",
}


def log_frame(store: Store, limit: int = 500) -> pd.DataFrame:
    """The log for people: one row per entry with a plain-words label, values in
    display units (dollars for revenue), newest first."""
    rows = sql.log_entries(store, limit)
    columns = [
        "id",
        "what",
        "kind",
        "status",
        "rule_id",
        "rule_name",
        "series",
        "grp",
        "window_start_ms",
        "window_end_ms",
        "tier",
        "version",
        "metric",
        "value",
        "threshold",
        "resolved_tier",
        "resolved_version",
        "resolved_value",
        "backfill",
        "raised_ms",
        "resolved_ms",
        "message",
    ]
    out = []
    for r in rows:
        out.append(
            {
                **{c: r.get(c) for c in columns},
                "what": STATUS_LABELS.get((r["kind"], r["status"]), f"{r['kind']} {r['status']}"),
                "value": display_value(r["metric"], r["value"]),
                "threshold": display_value(r["metric"], r["threshold"]),
                "resolved_value": display_value(r["metric"], r["resolved_value"]),
                "backfill": bool(r["backfill"]),
            }
        )
    return pd.DataFrame(out, columns=columns)


def shown_text(metric: str, shown: float | None) -> str:
    """A value already in display units (``log_frame``) as text with its unit:
    "$294,476.20" (revenue), "12.5 %" (gaps), "1,234" (counts); "—" when missing."""
    if shown is None or (isinstance(shown, float) and math.isnan(shown)):
        return "—"
    if metric in GAP_METRICS:
        return f"{shown:,.1f} %"
    if metric in MONEY_METRICS:
        return f"${shown:,.2f}"
    return f"{shown:,.0f}" if float(shown).is_integer() else f"{shown:,.2f}"


def log_table(log: pd.DataFrame, tz: str) -> pd.DataFrame:
    """``log_frame`` as a table to download: plain names, local ISO times, a unit column."""

    def iso(ms) -> str | None:
        if ms is None or pd.isna(ms):
            return None
        return local_datetime(int(ms), tz).isoformat(timespec="seconds")

    unit = [
        "percent" if m in GAP_METRICS else "usd" if m in MONEY_METRICS else "count"
        for m in log["metric"]
    ]
    return pd.DataFrame(
        {
            "what": log["what"],
            "rule_id": log["rule_id"],
            "rule": log["rule_name"],
            "grain": log["series"],
            "sources": log["grp"].map(lambda g: "all" if g == "*" else g),
            "window_start": [iso(v) for v in log["window_start_ms"]],
            "tier": log["tier"],
            "version": log["version"],
            "metric": log["metric"],
            "unit": unit,
            "value": log["value"],
            "threshold": log["threshold"],
            "settled_by_tier": log["resolved_tier"],
            "settled_by_version": log["resolved_version"],
            "settling_value": log["resolved_value"],
            "raised_at": [iso(v) for v in log["raised_ms"]],
            "backfill": log["backfill"],
            "message": log["message"],
        }
    )


def log_summary(store: Store) -> dict[str, int]:
    counts = sql.log_counts(store)
    return {
        "alerts_fired": sum(n for (k, _), n in counts.items() if k == "alert"),
        "warnings_provisional": counts.get(("warning", "provisional"), 0),
        "warnings_confirmed": counts.get(("warning", "confirmed"), 0),
        "warnings_contradicted": counts.get(("warning", "contradicted"), 0),
        "alerts_contradicted": counts.get(("alert", "contradicted"), 0),
    }


def evaluation_message(report, fired_before: int | None, fired_after: int) -> str:
    """What an "Evaluate rules now" run did, squared with the "Alerts fired" counter.

    The counter counts every alert in the log; the scheduled alert job (after every
    finalization run) evaluates the same rules, so between drawing the page and the click
    it may have logged alerts itself — and when both run at once the job wins the race and
    this run finds them already logged. ``fired_before`` is the counter as the page showed
    it (None when unknown)."""

    def n(k: int, word: str) -> str:
        return f"{k:,} {word}{'' if k == 1 else 's'}"

    text = (
        f"This run evaluated {n(report.rules, 'rule')} on {n(report.windows, 'window')}: "
        f"{n(report.alerts, 'new alert')}, {n(report.warnings, 'new warning')}, "
        f"{report.contradicted:,} contradicted."
    )
    if report.already_logged:
        text += (
            f" {n(report.already_logged, 'decision')} of this run had already been logged by "
            "the scheduled alert job running at the same moment (each is logged once)."
        )
    if fired_before is not None and fired_after != fired_before:
        by_job = fired_after - fired_before - report.alerts
        text += f" The Alerts fired counter went from {fired_before:,} to {fired_after:,}"
        text += (
            f": {report.alerts:,} by this run, {by_job:,} by the scheduled alert job, which "
            "evaluates the rules after every finalization run."
            if by_job > 0
            else "."
        )
    return text


def rules_frame(store: Store) -> pd.DataFrame:
    """Rules with thresholds and warning lines in display units."""
    rows = []
    for r in list_rules(store):
        rows.append(
            {
                "id": r.id,
                "enabled": r.enabled,
                "name": r.name,
                "metric": r.metric,
                "grain": r.series,
                "group": r.grp,
                "comparator": r.comparator,
                "threshold": display_value(r.metric, r.threshold),
                "live_margin": r.live_margin,
                "warning_line": display_value(r.metric, r.warning_line),
                "alert_tier": r.alert_tier,
                "webhook": r.webhook_url or "",
                "origin": r.origin,
                "created_ms": r.created_ms,
            }
        )
    cols = [
        "id",
        "enabled",
        "name",
        "metric",
        "grain",
        "group",
        "comparator",
        "threshold",
        "live_margin",
        "warning_line",
        "alert_tier",
        "webhook",
        "origin",
        "created_ms",
    ]
    return pd.DataFrame(rows, columns=cols)


def rule_timeline(
    store: Store, rule: AlertRule, now_ms: int, lookback_ms: int = 14 * DAY_MS, tz: str = "UTC"
) -> pd.DataFrame:
    """Per window of the rule's series and group: the current number (display
    units), its tier, and what the rule makes of it now ('alert', 'warning',
    'within', 'in progress') — the data behind the page's rule chart.
    ``window_start`` is the wall-clock start in ``tz`` (naive, for chart axes)."""
    rows = sql.window_versions(
        store, rule.series, rule.grp, rule.column, now_ms - lookback_ms, now_ms
    )
    alert_rank = TIER_RANK[rule.alert_tier]
    out = []
    windows = by_window(rows)
    fill_judged(store, rule, windows)
    for ws, w in windows.items():
        latest = w["latest"]
        decisive = TIER_RANK[latest["tier"]] >= alert_rank
        ended = now_ms >= w["end"]
        if decisive:
            state = "alert" if rule.beyond(latest["value"]) else "within"
        elif not ended and rule.comparator == "below":
            state = "in progress"
        else:
            state = "warning" if rule.beyond(latest["value"], rule.live_margin) else "within"
        out.append(
            {
                "window_start_ms": ws,
                "window_end_ms": w["end"],
                "tier": latest["tier"],
                "version": latest["version"],
                "value": display_value(rule.metric, latest["value"]),
                "state": state,
            }
        )
    frame = pd.DataFrame(
        out, columns=["window_start_ms", "window_end_ms", "tier", "version", "value", "state"]
    )
    frame.insert(
        1,
        "window_start",
        pd.to_datetime(frame["window_start_ms"], unit="ms", utc=True)
        .dt.tz_convert(tz)
        .dt.tz_localize(None),
    )
    return frame


DELIVERY_STATUS_LABELS = {
    "pending": "Pending — queued for the next jobs run",
    "sent": "Sent",
    "retrying": "Failed — will retry",
    "failed": "Failed — gave up",
}
EVENT_LABELS = {
    "alert_fired": "alert fired",
    "warning_raised": "warning raised",
    "warning_contradicted": "warning contradicted",
    "alert_contradicted": "alert contradicted",
    "test": "test notice",
}


def deliveries_frame(store: Store, limit: int = 200, rule_id: int | None = None) -> pd.DataFrame:
    """Each notice handed to a sink, newest first: what it carried, where it went,
    its status for people (pending / sent / retrying / failed), attempts, the last
    attempt's time and error."""
    cols = [
        "id",
        "status",
        "status_label",
        "event",
        "rule_id",
        "rule_name",
        "target",
        "attempts",
        "last_attempt_ms",
        "error",
        "created_ms",
        "series",
        "grp",
        "window_start_ms",
        "tier",
    ]
    rows = []
    for r in sql.delivery_rows(store, limit, rule_id):
        status = delivery_status(r["status"], r["attempts"])
        rows.append(
            {
                **{c: r.get(c) for c in cols},
                "status": status,
                "status_label": DELIVERY_STATUS_LABELS[status],
                "event": EVENT_LABELS.get(r["event"], r["event"]),
            }
        )
    return pd.DataFrame(rows, columns=cols)


def attempts_frame(
    store: Store, limit: int = 200, rule_id: int | None = None, tests_only: bool = False
) -> pd.DataFrame:
    """Every delivery attempt and test send, newest first (append-only history)."""
    cols = ["id", "attempted_ms", "rule_id", "event", "target", "ok", "error", "delivery_id"]
    rows = sql.attempt_rows(store, limit, rule_id, "test" if tests_only else None)
    frame = pd.DataFrame(rows, columns=sql.ATTEMPT_COLUMNS)[cols]
    frame["ok"] = frame["ok"].astype(bool)
    frame["event"] = frame["event"].map(lambda e: EVENT_LABELS.get(e, e))
    return frame


def delivery_summary(store: Store) -> dict[str, int]:
    """Deliveries by people's status (all of them)."""
    frame = deliveries_frame(store, limit=1_000_000)
    counts = frame["status"].value_counts()
    return {k: int(counts.get(k, 0)) for k in DELIVERY_STATUS_LABELS}


CHANGE_LABELS = {
    "created": "created",
    "edited": "edited",
    "enabled": "switched on",
    "disabled": "switched off",
    "deleted": "deleted",
}


CHANGE_FIELDS = {
    "name": "name",
    "comparator": "fires when",
    "threshold": "threshold",
    "live_margin": "live margin",
    "alert_tier": "alert tier",
    "webhook_url": "webhook",
    "enabled": "on",
}


def rule_history_frame(store: Store, rule_id: int | None = None) -> pd.DataFrame:
    """What changed in the rules and when, newest first, one line per change with
    the fields that changed, in the units people read (dollars, percent)."""
    metrics = {r["id"]: r["metric"] for r in sql.rules(store, include_deleted=True)}

    def shown(rid: int, key: str, value) -> str:
        if value is None or value == "":
            return "—"
        if key == "threshold":
            return format_value(metrics.get(rid, ""), value)
        if key == "live_margin":
            return f"{float(value):.0%}"
        return str(value)

    out = []
    for c in sql.rule_changes(store, rule_id):
        before, after = c["before"] or {}, c["after"] or {}
        rid = c["rule_id"]
        if c["action"] == "edited":
            keys = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            what = "; ".join(
                f"{CHANGE_FIELDS.get(k, k)}: {shown(rid, k, before.get(k))} → "
                f"{shown(rid, k, after.get(k))}"
                for k in keys
            )
        else:
            what = ""
        out.append(
            {
                "changed_ms": c["changed_ms"],
                "rule_id": c["rule_id"],
                "action": CHANGE_LABELS.get(c["action"], c["action"]),
                "changes": what,
            }
        )
    return pd.DataFrame(out, columns=["changed_ms", "rule_id", "action", "changes"])
