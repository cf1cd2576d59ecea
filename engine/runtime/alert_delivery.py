"""Alert notices on their way out: the payload, the queue, delivery with retries,
and the "test webhook" send.

Why a module: evaluation (``engine.runtime.alerts``) decides *what* happened and
writes the log in one transaction; this module decides *how it is sent* — after
the log is committed (no HTTP inside a write transaction), with bounded retries,
every attempt appended to ``alert_delivery_attempts``. A delivery's status for
people: ``pending`` (queued), ``sent``, ``retrying`` (failed, attempts left) or
``failed`` (gave up after ``MAX_DELIVERY_ATTEMPTS``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from engine.core.timeutil import format_ms
from engine.runtime.alert_rules import MONEY_METRICS, AlertRule, format_value
from engine.runtime.sinks import Sink, WebhookSink
from engine.store import alerts as sql
from engine.store.db import Store

log = logging.getLogger("latewatch.alerts")

MAX_DELIVERY_ATTEMPTS = 3
MAX_DELIVERIES_PER_RUN = 25  # a dead receiver costs at most a bounded time per job run
PROVISIONAL = "provisional"  # once_per value of warnings: one per (rule, window)
TEST_EVENT = "test"


def delivery_status(status: str, attempts: int) -> str:
    """pending / sent / retrying / failed, as people read a delivery."""
    if status == "failed":
        return "retrying" if attempts < MAX_DELIVERY_ATTEMPTS else "failed"
    return status


def payload(event: str, rule: AlertRule, entry: dict) -> dict:
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
        "unit": "cents" if rule.metric in MONEY_METRICS else "count",
    }


def queue(store, sinks, rule: AlertRule, log_id: int, event: str, entry: dict, now_ms: int):
    if entry.get("backfill"):
        return
    for sink in sinks:
        target = sink.target(rule)
        if target:
            sql.insert_delivery(
                store, log_id, sink.name, event, target, payload(event, rule, entry), now_ms
            )


@dataclass
class DeliveryCounts:
    delivered: int = 0
    delivery_failures: int = 0


def deliver_pending(store: Store, sinks, now_ms: int, report=None):
    """Send queued notices (after the log is committed: no HTTP inside a write
    transaction). Failures are recorded and retried on later runs, at most
    ``MAX_DELIVERY_ATTEMPTS`` times; a target that failed is skipped for the rest
    of this run so one dead receiver cannot stall the job. ``report`` (anything with
    ``delivered`` and ``delivery_failures``) is counted into and returned."""
    report = report if report is not None else DeliveryCounts()
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
            error = describe_error(exc)
            log.warning("alert delivery %s to %s failed: %s", d["id"], d["target"], error)
            sql.record_delivery(store, d["id"], False, error, now_ms)
        else:
            report.delivered += 1
            sql.record_delivery(store, d["id"], True, None, now_ms)
    return report


def describe_error(exc: BaseException) -> str:
    """One line for people: the exception's kind and message, bounded."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:500]


def notice_payload_for_test(rule: AlertRule, now_ms: int) -> dict:
    """A notice that says loudly it is a test, shaped like a real one (so a receiver's
    parsing is exercised) but with ``"test": true`` and no window or value."""
    return {
        "event": TEST_EVENT,
        "test": True,
        "provisional": False,
        "status": "test",
        "message": (
            f"latewatch test notice for rule #{rule.id} ({rule.name}): this is not an "
            "alert. If you can read this, the webhook works."
        ),
        "rule": {
            "id": rule.id,
            "name": rule.name,
            "metric": rule.metric,
            "series": rule.series,
            "group": rule.grp,
            "comparator": rule.comparator,
            "threshold": rule.threshold,
            "threshold_text": format_value(rule.metric, rule.threshold),
            "live_margin": rule.live_margin,
            "alert_tier": rule.alert_tier,
        },
        "window": None,
        "tier": None,
        "version": None,
        "value": None,
        "sent_at": format_ms(now_ms),
        "unit": "cents" if rule.metric in MONEY_METRICS else "count",
    }


@dataclass(frozen=True)
class WebhookTestResult:
    ok: bool
    target: str
    error: str | None
    attempt_id: int


def send_test_notice(
    store: Store, rule: AlertRule, now_ms: int, sink: Sink | None = None
) -> WebhookTestResult:
    """POST a clearly marked test notice to the rule's webhook now and record the
    attempt (``alert_delivery_attempts``, event ``test``). Never raises for a failed
    send: the result says what happened. ValueError when the rule has no webhook."""
    sink = sink if sink is not None else WebhookSink()
    target = sink.target(rule)
    if not target:
        raise ValueError(f"rule #{rule.id} has no webhook URL to test")
    try:
        sink.send(target, notice_payload_for_test(rule, now_ms))
    except Exception as exc:  # noqa: BLE001 - the result reports it
        error = describe_error(exc)
        attempt = sql.record_test_send(store, rule.id, sink.name, target, False, error, now_ms)
        return WebhookTestResult(False, target, error, attempt)
    attempt = sql.record_test_send(store, rule.id, sink.name, target, True, None, now_ms)
    return WebhookTestResult(True, target, None, attempt)
