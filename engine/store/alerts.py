"""The SQL of alerting: rules, the alert log and webhook deliveries (schema: m006_alerts).

Why a module of its own: the store modules own the versions and the raw log;
alerting only reads versions and owns three tables of its own. Keeping its SQL
here (functions taking a ``Store``, values always as parameters) lets the alert
engine (``engine.runtime.alerts``) stay free of SQL and the store's owner free of
alerting concerns.

Idempotency lives in the schema: ``alert_log`` is UNIQUE on (rule, window,
kind, once_per) and ``alert_deliveries`` on (log row, sink, event), so every
insert here is ``INSERT OR IGNORE`` and re-running an evaluation changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pandas as pd

from engine.store.db import Store
from engine.store.schema import METRIC_COLUMNS

RULE_COLUMNS = (
    "id",
    "name",
    "metric",
    "series",
    "grp",
    "comparator",
    "threshold",
    "live_margin",
    "alert_tier",
    "webhook_url",
    "enabled",
    "origin",
    "created_ms",
    "updated_ms",
    "deleted_ms",
)
EDITABLE_RULE_COLUMNS = (
    "name",
    "comparator",
    "threshold",
    "live_margin",
    "alert_tier",
    "webhook_url",
)
CHANGE_COLUMNS = ("id", "rule_id", "changed_ms", "action", "before", "after")
ATTEMPT_COLUMNS = (
    "id",
    "delivery_id",
    "rule_id",
    "sink",
    "event",
    "target",
    "attempted_ms",
    "ok",
    "error",
)
LOG_COLUMNS = (
    "id",
    "rule_id",
    "kind",
    "once_per",
    "series",
    "window_start_ms",
    "window_end_ms",
    "grp",
    "tier",
    "version",
    "version_processing_ms",
    "metric",
    "value",
    "threshold",
    "comparator",
    "margin",
    "status",
    "backfill",
    "raised_ms",
    "resolved_ms",
    "resolved_tier",
    "resolved_version",
    "resolved_value",
    "message",
)
DELIVERY_COLUMNS = (
    "id",
    "log_id",
    "sink",
    "event",
    "target",
    "status",
    "attempts",
    "error",
    "payload",
    "created_ms",
    "last_attempt_ms",
)


def _rows(store: Store, sql: str, params: Sequence, columns: Sequence[str]) -> list[dict]:
    return [dict(zip(columns, r, strict=True)) for r in store.conn.execute(sql, list(params))]


# -- rules ---------------------------------------------------------------------------
def insert_rule(store: Store, rule: dict, now_ms: int) -> int:
    """Insert a validated rule (a dict with the rule columns except id/created/updated)."""
    with store.transaction():
        cur = store.conn.execute(
            "INSERT INTO alert_rules (name, metric, series, grp, comparator, threshold, "
            "live_margin, alert_tier, webhook_url, enabled, origin, created_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                rule["name"],
                rule["metric"],
                rule["series"],
                rule["grp"],
                rule["comparator"],
                float(rule["threshold"]),
                float(rule["live_margin"]),
                rule["alert_tier"],
                rule.get("webhook_url"),
                1 if rule.get("enabled", True) else 0,
                rule.get("origin", "user"),
                now_ms,
            ),
        )
        rule_id = int(cur.lastrowid)
        _change(store, rule_id, now_ms, "created", None, _snapshot(store, rule_id))
        return rule_id


def rules(store: Store, enabled_only: bool = False, include_deleted: bool = False) -> list[dict]:
    where = [] if include_deleted else ["deleted_ms IS NULL"]
    if enabled_only:
        where.append("enabled = 1")
    clause = f"WHERE {' AND '.join(where)} " if where else ""
    return _rows(
        store,
        "SELECT " + ", ".join(RULE_COLUMNS) + " FROM alert_rules " + clause + "ORDER BY id",
        (),
        RULE_COLUMNS,
    )


def rule(store: Store, rule_id: int) -> dict | None:
    """One rule by id (deleted ones too), or None."""
    found = _rows(
        store,
        "SELECT " + ", ".join(RULE_COLUMNS) + " FROM alert_rules WHERE id = ?",
        (rule_id,),
        RULE_COLUMNS,
    )
    return found[0] if found else None


def rule_count(store: Store) -> int:
    return int(store.conn.execute("SELECT count(*) FROM alert_rules").fetchone()[0])


def final_window_count(store: Store, series: str, grp: str, since_ms: int) -> int:
    """Windows of ``series``/``grp`` starting at or after ``since_ms`` with a final version
    (one index range: cheap enough to ask on every alert run)."""
    return int(
        store.conn.execute(
            "SELECT count(DISTINCT window_start_ms) FROM versions WHERE series = ? "
            "AND window_start_ms >= ? AND grp = ? AND tier = 'final'",
            (series, since_ms, grp),
        ).fetchone()[0]
    )


def _snapshot(store: Store, rule_id: int) -> dict:
    row = rule(store, rule_id) or {}
    return {c: row.get(c) for c in (*EDITABLE_RULE_COLUMNS, "enabled")}


def _change(store: Store, rule_id: int, now_ms: int, action: str, before, after) -> None:
    store.conn.execute(
        "INSERT INTO alert_rule_changes (rule_id, changed_ms, action, before, after) "
        "VALUES (?, ?, ?, ?, ?)",
        (
            rule_id,
            now_ms,
            action,
            None if before is None else json.dumps(before, sort_keys=True),
            None if after is None else json.dumps(after, sort_keys=True),
        ),
    )


def _live_rule(store: Store, rule_id: int) -> dict:
    row = rule(store, rule_id)
    if row is None:
        raise KeyError(f"there is no rule #{rule_id}")
    if row["deleted_ms"] is not None:
        raise KeyError(f"rule #{rule_id} was deleted")
    return row


def update_rule(store: Store, rule_id: int, fields: dict, now_ms: int) -> bool:
    """Change a rule's editable fields (validated by the caller); the change is kept
    in ``alert_rule_changes``. False when nothing changed."""
    unknown = set(fields) - set(EDITABLE_RULE_COLUMNS)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    with store.transaction():
        before = _snapshot(store, _live_rule(store, rule_id)["id"])
        changed = {k: v for k, v in fields.items() if before.get(k) != v}
        if not changed:
            return False
        store.conn.execute(
            "UPDATE alert_rules SET "
            + ", ".join(f"{c} = ?" for c in changed)
            + ", updated_ms = ? WHERE id = ?",
            [*changed.values(), now_ms, rule_id],
        )
        _change(store, rule_id, now_ms, "edited", before, _snapshot(store, rule_id))
        return True


def set_rule_enabled(store: Store, rule_id: int, enabled: bool, now_ms: int) -> bool:
    """Switch a rule on or off (kept in the history). False if it was already so."""
    with store.transaction():
        row = _live_rule(store, rule_id)
        if bool(row["enabled"]) == bool(enabled):
            return False
        store.conn.execute(
            "UPDATE alert_rules SET enabled = ?, updated_ms = ? WHERE id = ?",
            (1 if enabled else 0, now_ms, rule_id),
        )
        _change(
            store,
            rule_id,
            now_ms,
            "enabled" if enabled else "disabled",
            {"enabled": row["enabled"]},
            {"enabled": 1 if enabled else 0},
        )
        return True


def delete_rule(store: Store, rule_id: int, now_ms: int) -> bool:
    """Delete a rule: it stops being evaluated and leaves the lists, while its row
    stays for the log entries and deliveries that refer to it. False if already gone."""
    with store.transaction():
        row = rule(store, rule_id)
        if row is None or row["deleted_ms"] is not None:
            return False
        before = _snapshot(store, rule_id)
        store.conn.execute(
            "UPDATE alert_rules SET enabled = 0, deleted_ms = ?, updated_ms = ? WHERE id = ?",
            (now_ms, now_ms, rule_id),
        )
        _change(store, rule_id, now_ms, "deleted", before, None)
        return True


def rule_changes(store: Store, rule_id: int | None = None, limit: int = 500) -> list[dict]:
    """The history of rule changes, newest first (one rule's, or all)."""
    where, params = ("WHERE rule_id = ? ", [rule_id]) if rule_id is not None else ("", [])
    rows = _rows(
        store,
        "SELECT "
        + ", ".join(CHANGE_COLUMNS)
        + " FROM alert_rule_changes "
        + where
        + "ORDER BY id DESC LIMIT ?",
        [*params, limit],
        CHANGE_COLUMNS,
    )
    for r in rows:
        r["before"] = None if r["before"] is None else json.loads(r["before"])
        r["after"] = None if r["after"] is None else json.loads(r["after"])
    return rows


# -- the numbers rules look at -------------------------------------------------------
def window_versions(
    store: Store, series: str, grp: str, column: str, from_ms: int, now_ms: int
) -> list[dict]:
    """Every version of the (series, group) windows starting at or after ``from_ms``
    that existed at ``now_ms`` (processing time <= now), oldest first per window.
    ``column`` is the metric column the rule reads (checked: it becomes SQL text)."""
    if column not in METRIC_COLUMNS:
        raise ValueError(f"{column!r} is not a metric column")
    cols = (
        "window_start_ms",
        "window_end_ms",
        "version",
        "tier",
        "timing",
        "reason",
        "processing_time_ms",
        "value",
    )
    return _rows(
        store,
        "SELECT window_start_ms, window_end_ms, version, tier, timing, reason, "
        f"processing_time_ms, {column} FROM versions WHERE series = ? AND window_start_ms >= ? "
        "AND grp = ? AND processing_time_ms <= ? ORDER BY window_start_ms, version",
        (series, from_ms, grp, now_ms),
        cols,
    )


def groups(store: Store, series: str, since_ms: int) -> list[str]:
    """The groups (sources) that have windows of ``series`` starting since ``since_ms``."""
    return [
        r[0]
        for r in store.conn.execute(
            "SELECT DISTINCT grp FROM versions WHERE series = ? AND window_start_ms >= ? "
            "ORDER BY grp",
            (series, since_ms),
        )
    ]


# -- the log -------------------------------------------------------------------------
def insert_log(store: Store, entry: dict) -> int | None:
    """Insert a log row unless its (rule, window, kind, once_per) exists; the new id or None."""
    cols = [c for c in LOG_COLUMNS if c != "id" and c in entry]
    cur = store.conn.execute(
        f"INSERT OR IGNORE INTO alert_log ({', '.join(cols)}) "
        f"VALUES ({', '.join('?' * len(cols))})",
        [entry[c] for c in cols],
    )
    return int(cur.lastrowid) if cur.rowcount == 1 else None


def unresolved_log(store: Store, rule_id: int) -> list[dict]:
    """Entries a later number can still settle: warnings not yet settled by a final
    number, and preliminary-tier alerts the final has not checked yet."""
    return _rows(
        store,
        "SELECT " + ", ".join(LOG_COLUMNS) + " FROM alert_log WHERE rule_id = ? "
        "AND coalesce(resolved_tier, '') != 'final' "
        "AND NOT (kind = 'alert' AND tier = 'final')",
        (rule_id,),
        LOG_COLUMNS,
    )


def resolve_log(
    store: Store, log_id: int, status: str, now_ms: int, tier: str, version: int, value
) -> None:
    store.conn.execute(
        "UPDATE alert_log SET status = ?, resolved_ms = ?, resolved_tier = ?, "
        "resolved_version = ?, resolved_value = ? WHERE id = ?",
        (status, now_ms, tier, version, value, log_id),
    )


def log_entries(store: Store, limit: int = 500, rule_id: int | None = None) -> list[dict]:
    """The newest log rows first, with the rule's name."""
    cols = (*LOG_COLUMNS, "rule_name")
    where, params = "", []
    if rule_id is not None:
        where, params = "WHERE l.rule_id = ? ", [rule_id]
    return _rows(
        store,
        "SELECT "
        + ", ".join(f"l.{c}" for c in LOG_COLUMNS)
        + ", r.name FROM alert_log l JOIN alert_rules r ON r.id = l.rule_id "
        + where
        + "ORDER BY l.raised_ms DESC, l.id DESC LIMIT ?",
        [*params, limit],
        cols,
    )


def log_counts(store: Store) -> dict[tuple[str, str], int]:
    """(kind, status) -> number of log rows."""
    return {
        (k, s): n
        for k, s, n in store.conn.execute(
            "SELECT kind, status, count(*) FROM alert_log GROUP BY kind, status"
        )
    }


# -- deliveries ----------------------------------------------------------------------
def insert_delivery(
    store: Store, log_id: int, sink: str, event: str, target: str, payload: dict, now_ms: int
) -> int | None:
    cur = store.conn.execute(
        "INSERT OR IGNORE INTO alert_deliveries (log_id, sink, event, target, status, payload, "
        "created_ms) VALUES (?, ?, ?, ?, 'pending', ?, ?)",
        (log_id, sink, event, target, json.dumps(payload, sort_keys=True), now_ms),
    )
    return int(cur.lastrowid) if cur.rowcount == 1 else None


def due_deliveries(store: Store, sinks: Sequence[str], max_attempts: int, limit: int) -> list[dict]:
    """Pending deliveries, and failed ones with attempts left, oldest first."""
    if not sinks:
        return []
    rows = _rows(
        store,
        "SELECT " + ", ".join(DELIVERY_COLUMNS) + " FROM alert_deliveries "
        f"WHERE sink IN ({','.join('?' * len(sinks))}) AND (status = 'pending' "
        "OR (status = 'failed' AND attempts < ?)) ORDER BY id LIMIT ?",
        [*sinks, max_attempts, limit],
        DELIVERY_COLUMNS,
    )
    for r in rows:
        r["payload"] = json.loads(r["payload"])
    return rows


def record_delivery(
    store: Store, delivery_id: int, ok: bool, error: str | None, now_ms: int
) -> None:
    """The delivery's current state, and the attempt appended to its history."""
    with store.transaction():
        store.conn.execute(
            "UPDATE alert_deliveries SET status = ?, attempts = attempts + 1, error = ?, "
            "last_attempt_ms = ? WHERE id = ?",
            ("sent" if ok else "failed", error, now_ms, delivery_id),
        )
        store.conn.execute(
            "INSERT INTO alert_delivery_attempts (delivery_id, rule_id, sink, event, target, "
            "attempted_ms, ok, error) SELECT d.id, l.rule_id, d.sink, d.event, d.target, ?, ?, ? "
            "FROM alert_deliveries d JOIN alert_log l ON l.id = d.log_id WHERE d.id = ?",
            (now_ms, 1 if ok else 0, error, delivery_id),
        )


def record_test_send(
    store: Store, rule_id: int, sink: str, target: str, ok: bool, error: str | None, now_ms: int
) -> int:
    """A "test webhook" send: an attempt with no notice behind it."""
    with store.transaction():
        cur = store.conn.execute(
            "INSERT INTO alert_delivery_attempts (delivery_id, rule_id, sink, event, target, "
            "attempted_ms, ok, error) VALUES (NULL, ?, ?, 'test', ?, ?, ?, ?)",
            (rule_id, sink, target, now_ms, 1 if ok else 0, error),
        )
        return int(cur.lastrowid)


def delivery_rows(store: Store, limit: int = 200, rule_id: int | None = None) -> list[dict]:
    """Deliveries newest first, with the rule and the notice they carry."""
    cols = (
        "id",
        "rule_id",
        "rule_name",
        "event",
        "sink",
        "target",
        "status",
        "attempts",
        "error",
        "created_ms",
        "last_attempt_ms",
        "series",
        "window_start_ms",
        "grp",
        "tier",
    )
    where, params = ("WHERE l.rule_id = ? ", [rule_id]) if rule_id is not None else ("", [])
    return _rows(
        store,
        "SELECT d.id, l.rule_id, r.name, d.event, d.sink, d.target, d.status, d.attempts, "
        "d.error, d.created_ms, d.last_attempt_ms, l.series, l.window_start_ms, l.grp, l.tier "
        "FROM alert_deliveries d JOIN alert_log l ON l.id = d.log_id "
        "JOIN alert_rules r ON r.id = l.rule_id " + where + "ORDER BY d.id DESC LIMIT ?",
        [*params, limit],
        cols,
    )


def attempt_rows(
    store: Store, limit: int = 200, rule_id: int | None = None, event: str | None = None
) -> list[dict]:
    """Delivery attempts (and test sends) newest first."""
    where, params = [], []
    if rule_id is not None:
        where.append("rule_id = ?")
        params.append(rule_id)
    if event is not None:
        where.append("event = ?")
        params.append(event)
    clause = f"WHERE {' AND '.join(where)} " if where else ""
    return _rows(
        store,
        "SELECT "
        + ", ".join(ATTEMPT_COLUMNS)
        + " FROM alert_delivery_attempts "
        + clause
        + "ORDER BY id DESC LIMIT ?",
        [*params, limit],
        ATTEMPT_COLUMNS,
    )


def deliveries_frame(store: Store, limit: int = 200) -> pd.DataFrame:
    return pd.read_sql_query(
        "SELECT " + ", ".join(DELIVERY_COLUMNS) + " FROM alert_deliveries ORDER BY id DESC LIMIT ?",
        store.conn,
        params=[limit],
    )
