"""The versioned store: one SQLite file, append-only versions, every write one transaction.

``Store(path)`` owns one connection for the thread that created it; every thread
(scheduler, each dashboard session) opens its own ``Store``. Writers take the
lock up front (``BEGIN IMMEDIATE``), readers never block them (WAL).

The write side lives here; the read side (``latest``, ``final``, ``as_of``,
``history``, ``compare``, ``explain``, range and listing queries) is in
``engine.store.queries`` and mixed in. The schema is ``engine.store.schema``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from engine.core.events import Event
from engine.core.results import LateEvent, Version
from engine.core.spec import PipelineSpec
from engine.store.queries import StoreQueries, chunks
from engine.store.schema import (
    METRIC_COLUMNS,
    TIER_RANK,
    TIERS,
    open_database,
    write_txn,
)

DEFAULT_DB_PATH = "data/latewatch.db"

# How an operator's ``Version.values`` keys map onto version columns. Money is
# integer cents in the store; a float ``revenue`` from the operator is in units.
_VALUE_ALIASES = {
    "revenue_cents": ("revenue_cents",),
    "orders": ("orders",),
    "items": ("items",),
    "events": ("events",),
    "avg_order_value_cents": ("avg_order_value_cents",),
    "median_order_value_cents": ("median_order_value_cents",),
    "distinct_users": ("distinct_users",),
}
_MONEY_IN_UNITS = {
    "revenue_cents": "revenue",
    "avg_order_value_cents": "avg_order_value",
    "median_order_value_cents": "median_order_value",
}


class StoreError(ValueError):
    """A write that would break an invariant (append-only, gap-free, final is final)."""


def values_to_columns(values: dict) -> dict:
    """Operator metric values -> version columns (unknown keys are ignored)."""
    out: dict = {}
    for column, names in _VALUE_ALIASES.items():
        for name in names:
            if name in values and values[name] is not None:
                out[column] = values[name]
                break
        else:
            unit_name = _MONEY_IN_UNITS.get(column)
            if unit_name is not None and values.get(unit_name) is not None:
                amount = values[unit_name]
                out[column] = (
                    int(round(amount * 100)) if column == "revenue_cents" else (float(amount) * 100)
                )
    return out


@dataclass
class NewVersion:
    """A version to append. ``version`` is assigned by the store (max + 1).

    ``added_ids`` / ``removed_ids``: events that entered / left the window's
    result in this version; they become ``contributions`` rows, which is what
    makes ``explain`` exact.
    """

    window_start_ms: int
    window_end_ms: int
    grp: str
    values: dict
    event_count: int
    timing: str
    tier: str
    reason: str
    processing_time_ms: int | None
    watermark_ms: int | None
    added_ids: Sequence[str] = ()
    removed_ids: Sequence[str] = ()
    superseded_by: tuple[int, int] | None = None
    job_id: int | None = None
    expected_version: int | None = None  # if set, must equal the number assigned

    @classmethod
    def from_operator(
        cls, v: Version, *, tier: str = "live", reason: str | None = None
    ) -> NewVersion:
        return cls(
            window_start_ms=v.window_start_ms,
            window_end_ms=v.window_end_ms,
            grp=v.group,
            values=values_to_columns(v.values),
            event_count=v.event_count,
            timing=v.timing,
            tier=tier,
            reason=reason or v.reason,
            processing_time_ms=v.processing_time_ms,
            watermark_ms=v.watermark_ms,
            added_ids=tuple(getattr(v, "added_ids", ()) or ()),
            superseded_by=v.superseded_by,
        )


@dataclass
class IngestCounts:
    rows_read: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def quarantined(self) -> int:
        return sum(self.quarantined_by_reason.values())


class Store(StoreQueries):
    """One SQLite connection for one thread. Use ``Store.open(path)`` or ``Store(path)``."""

    def __init__(self, path: str | Path = DEFAULT_DB_PATH) -> None:
        self.path = str(path)
        self.db = open_database(self.path)
        self.conn = self.db.conn

    @classmethod
    def open(cls, path: str | Path = DEFAULT_DB_PATH) -> Store:
        return cls(path)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self):
        """``with store.transaction(): ...`` — one ``BEGIN IMMEDIATE`` transaction."""
        return write_txn(self.db)

    # -- raw log and ingest accounting -----------------------------------------
    def begin_ingest(self, source_name: str | None, file: str | None, now_ms: int) -> int:
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO ingests (source_name, file, started_ms) VALUES (?, ?, ?)",
                (source_name, file, now_ms),
            )
            return int(cur.lastrowid)

    def existing_contents(self, event_ids: Iterable[str]) -> dict[str, tuple]:
        """event_id -> ``Event.content_key()`` for ids already in the raw log."""
        out: dict[str, tuple] = {}
        for part in chunks(list(event_ids), 5000):
            marks = ",".join("?" * len(part))
            for row in self.conn.execute(
                "SELECT event_id, source, event_time_ms, amount_cents, items, event_type, key "
                f"FROM raw_events WHERE event_id IN ({marks})",
                part,
            ):
                out[row[0]] = tuple(row[1:])
        return out

    def write_ingest_batch(
        self,
        ingest_id: int | None,
        events: Sequence[Event],
        quarantined: Sequence[dict],
        counts: IngestCounts | None,
        now_ms: int,
        finished: bool = False,
    ) -> None:
        """Append accepted events and quarantined rows and update the ingest's counts,
        in one transaction: after it returns, the events are durable."""
        with self.transaction():
            self.conn.executemany(
                "INSERT INTO raw_events (event_id, event_time_ms, arrival_time_ms, source, key, "
                "event_type, amount_cents, items, ingest_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        e.event_id,
                        e.event_time_ms,
                        e.arrival_time_ms if e.arrival_time_ms is not None else now_ms,
                        e.source,
                        e.key,
                        e.event_type,
                        e.amount_cents,
                        e.items,
                        ingest_id,
                    )
                    for e in events
                ],
            )
            self.conn.executemany(
                "INSERT INTO quarantine (ingest_id, line, event_id, reason, detail, raw, at_ms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        ingest_id,
                        q.get("line"),
                        q.get("event_id"),
                        q["reason"],
                        q.get("detail"),
                        q.get("raw"),
                        now_ms,
                    )
                    for q in quarantined
                ],
            )
            if ingest_id is not None and counts is not None:
                self.conn.execute(
                    "UPDATE ingests SET rows_read = ?, accepted = ?, duplicates = ?, "
                    "quarantined = ?, quarantined_by_reason = ?, finished_ms = ?, status = ? "
                    "WHERE id = ?",
                    (
                        counts.rows_read,
                        counts.accepted,
                        counts.duplicates,
                        counts.quarantined,
                        json.dumps(counts.quarantined_by_reason, sort_keys=True),
                        now_ms if finished else None,
                        "completed" if finished else "running",
                        ingest_id,
                    ),
                )

    def raw_event_count(self) -> int:
        """Rows in the raw log. ``seq`` is a rowid that is never deleted (triggers), so
        max(seq) is the count and costs one index probe instead of a scan."""
        return int(self.conn.execute("SELECT coalesce(max(seq), 0) FROM raw_events").fetchone()[0])

    def iter_raw_events(
        self, after_seq: int = 0, batch_size: int = 10_000
    ) -> Iterator[tuple[int, Event]]:
        """(seq, Event) in raw-log order: what a restart replays into the operator."""
        last = after_seq
        while True:
            rows = self.conn.execute(
                "SELECT seq, event_id, source, event_time_ms, arrival_time_ms, amount_cents, "
                "items, event_type, key FROM raw_events WHERE seq > ? ORDER BY seq LIMIT ?",
                (last, batch_size),
            ).fetchall()
            if not rows:
                return
            for r in rows:
                yield (
                    r[0],
                    Event(
                        event_id=r[1],
                        source=r[2],
                        event_time_ms=r[3],
                        arrival_time_ms=r[4],
                        amount_cents=r[5],
                        items=r[6],
                        event_type=r[7],
                        key=r[8],
                    ),
                )
            last = rows[-1][0]

    # -- versions ---------------------------------------------------------------
    def _current(self, series: str, window_start_ms: int, grp: str) -> tuple[int, str | None]:
        """(last version number, tier) of a window; tiers never go back, so the last
        version's tier is the window's tier."""
        row = self.conn.execute(
            "SELECT version, tier FROM versions WHERE series = ? AND window_start_ms = ? "
            "AND grp = ? ORDER BY version DESC LIMIT 1",
            (series, window_start_ms, grp),
        ).fetchone()
        return (0, None) if row is None else (row[0], row[1])

    def append_versions(
        self,
        series: str,
        versions: Iterable[NewVersion],
        current: dict[tuple[int, str], tuple[int, str | None]] | None = None,
    ) -> list[int]:
        """Append versions in order, numbering each window's versions max + 1.

        Refuses (``StoreError``) a tier that goes backwards, a non-adjustment
        version after a final one, and an ``expected_version`` that does not match.
        All rows, and their contributions, go in one transaction. ``current`` is an
        optional cache of (last number, tier) per (window_start_ms, grp) that a caller
        inside a longer transaction keeps to save a lookup per version.
        """
        assigned: list[int] = []
        with self.transaction():
            state = {} if current is None else current
            for nv in versions:
                assigned.append(self.append_version_in_txn(series, nv, state))
        return assigned

    def append_version_in_txn(
        self, series: str, nv: NewVersion, state: dict[tuple[int, str], tuple[int, str | None]]
    ) -> int:
        """One version, inside a transaction the caller holds (no savepoint of its
        own: a caller appending thousands of panes in one transaction saves two
        statements per pane). Same checks as ``append_versions``; returns the number."""
        if not self.conn.in_transaction:
            raise StoreError("append_version_in_txn needs an open transaction")
        if nv.tier not in TIERS:
            raise StoreError(f"tier {nv.tier!r} is not one of {TIERS}")
        key = (nv.window_start_ms, nv.grp)
        if key not in state:
            state[key] = self._current(series, nv.window_start_ms, nv.grp)
        last, tier = state[key]
        if tier == "final" and nv.reason != "adjustment":
            raise StoreError(
                f"window {nv.window_start_ms}/{nv.grp} of {series!r} is final; "
                "later changes are adjustments"
            )
        if tier is not None and TIER_RANK[nv.tier] < TIER_RANK[tier]:
            raise StoreError(f"tier cannot go back from {tier} to {nv.tier}")
        number = last + 1
        if nv.expected_version is not None and nv.expected_version != number:
            raise StoreError(f"expected version {nv.expected_version} but the next is {number}")
        self._insert_version(series, nv, number)
        state[key] = (number, tier if tier == "final" else nv.tier)
        return number

    def _insert_version(self, series: str, nv: NewVersion, number: int) -> None:
        cols = {c: nv.values.get(c) for c in METRIC_COLUMNS}
        sup = nv.superseded_by or (None, None)
        self.conn.execute(
            "INSERT INTO versions (series, window_start_ms, window_end_ms, grp, version, timing, "
            "tier, reason, processing_time_ms, watermark_ms, "
            + ", ".join(METRIC_COLUMNS)
            + ", event_count, superseded_by_start_ms, superseded_by_end_ms, job_id) VALUES ("
            + ", ".join("?" * (10 + len(METRIC_COLUMNS) + 4))
            + ")",
            (
                series,
                nv.window_start_ms,
                nv.window_end_ms,
                nv.grp,
                number,
                nv.timing,
                nv.tier,
                nv.reason,
                nv.processing_time_ms,
                nv.watermark_ms,
                *cols.values(),
                nv.event_count,
                sup[0],
                sup[1],
                nv.job_id,
            ),
        )
        rows = [(series, nv.window_start_ms, nv.grp, number, eid, 1) for eid in nv.added_ids]
        rows += [(series, nv.window_start_ms, nv.grp, number, eid, -1) for eid in nv.removed_ids]
        if rows:
            self.conn.executemany(
                "INSERT INTO contributions (series, window_start_ms, grp, version, event_id, sign) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )

    def contributed_ids(self, series: str, window_start_ms: int, grp: str) -> set[str]:
        """Events counted in the window's latest version (net of removals)."""
        net: dict[str, int] = {}
        for eid, sign in self.conn.execute(
            "SELECT event_id, sign FROM contributions WHERE series = ? AND window_start_ms = ? "
            "AND grp = ? ORDER BY version",
            (series, window_start_ms, grp),
        ):
            net[eid] = net.get(eid, 0) + sign
        return {eid for eid, n in net.items() if n > 0}

    # -- late events side output ------------------------------------------------
    def record_late_events(self, series: str, late: Iterable[LateEvent]) -> int:
        rows = [
            (
                series,
                le.event_id,
                le.source,
                le.window_start_ms,
                le.window_end_ms,
                le.group,
                le.action,
                le.late_by_ms,
                le.watermark_ms,
                le.processing_time_ms,
                le.event_time_ms,
                le.amount_cents,
            )
            for le in late
        ]
        if rows:
            with self.transaction():
                self.conn.executemany(
                    "INSERT INTO late_events (series, event_id, source, window_start_ms, "
                    "window_end_ms, grp, action, late_by_ms, watermark_ms, processing_time_ms, "
                    "event_time_ms, amount_cents) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
        return len(rows)

    def mark_late_absorbed(self, late_ids: Sequence[int], job_id: int) -> None:
        for part in chunks(list(late_ids), 5000):
            marks = ",".join("?" * len(part))
            self.conn.execute(
                f"UPDATE late_events SET absorbed_by_job = ? WHERE id IN ({marks})",
                [job_id, *part],
            )

    # -- jobs -------------------------------------------------------------------
    def job_by_key(self, key: str) -> dict | None:
        row = self.conn.execute("SELECT * FROM jobs WHERE idempotency_key = ?", (key,)).fetchone()
        return self._job_row(row) if row else None

    def insert_job(
        self,
        kind: str,
        *,
        status: str,
        now_ms: int,
        series: str | None = None,
        range_start_ms: int | None = None,
        range_end_ms: int | None = None,
        label: str | None = None,
        tier: str | None = None,
        reason: str | None = None,
        idempotency_key: str | None = None,
        cutoff_ms: int | None = None,
        counts: dict | None = None,
        error: str | None = None,
    ) -> int:
        """Insert a job row (call inside the job's transaction so that both commit together)."""
        done = status in ("completed", "failed")
        cur = self.conn.execute(
            "INSERT INTO jobs (kind, series, range_start_ms, range_end_ms, label, tier, reason, "
            "status, idempotency_key, requested_key, cutoff_ms, counts, error, created_ms, "
            "started_ms, finished_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                kind,
                series,
                range_start_ms,
                range_end_ms,
                label,
                tier,
                reason,
                status,
                idempotency_key if status != "failed" else None,
                idempotency_key,
                cutoff_ms,
                json.dumps(counts or {}, sort_keys=True),
                error,
                now_ms,
                now_ms if status != "pending" else None,
                now_ms if done else None,
            ),
        )
        return int(cur.lastrowid)

    def finish_job(self, job_id: int, status: str, now_ms: int, counts: dict | None = None) -> None:
        self.conn.execute(
            "UPDATE jobs SET status = ?, finished_ms = ?, counts = ? WHERE id = ?",
            (status, now_ms, json.dumps(counts or {}, sort_keys=True), job_id),
        )

    def record_job_diffs(self, job_id: int, series: str, rows: Iterable[dict]) -> None:
        self.conn.executemany(
            "INSERT INTO job_diffs (job_id, series, window_start_ms, grp, streaming_version, "
            "streaming_revenue_cents, streaming_events, batch_revenue_cents, batch_events, "
            "diff_revenue_cents, diff_events, written_version) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    job_id,
                    series,
                    r["window_start_ms"],
                    r["grp"],
                    r.get("streaming_version"),
                    r.get("streaming_revenue_cents"),
                    r.get("streaming_events"),
                    r["batch_revenue_cents"],
                    r["batch_events"],
                    r.get("diff_revenue_cents"),
                    r.get("diff_events"),
                    r.get("written_version"),
                )
                for r in rows
            ],
        )

    # -- adjustments ------------------------------------------------------------
    def insert_adjustments(self, series: str, rows: Iterable[dict]) -> int:
        """Book adjustments (call inside a transaction). An event is booked against a
        window at most once (UNIQUE), so re-running a job cannot book it twice."""
        n = 0
        for r in rows:
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO adjustments (series, window_start_ms, window_end_ms, grp, "
                "final_version, event_id, revenue_cents, orders, items, events, "
                "period_start_ms, period_end_ms, booked_at_ms, reason, job_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    series,
                    r["window_start_ms"],
                    r["window_end_ms"],
                    r["grp"],
                    r["final_version"],
                    r.get("event_id"),
                    r.get("revenue_cents", 0),
                    r.get("orders", 0),
                    r.get("items", 0),
                    r.get("events", 0),
                    r["period_start_ms"],
                    r["period_end_ms"],
                    r["booked_at_ms"],
                    r["reason"],
                    r.get("job_id"),
                ),
            )
            n += cur.rowcount
        return n

    # -- configuration and checkpoints -----------------------------------------
    def save_config(self, series: str, spec: PipelineSpec, now_ms: int) -> int:
        """Record the spec a series runs with; a no-op when it has not changed."""
        current = self.config_json(series)
        text = spec.to_json()
        if current == text:
            return 0
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO config_versions (series, spec_json, applied_at_ms) VALUES (?, ?, ?)",
                (series, text, now_ms),
            )
            return int(cur.lastrowid)

    def config_json(self, series: str) -> str | None:
        row = self.conn.execute(
            "SELECT spec_json FROM config_versions WHERE series = ? ORDER BY id DESC LIMIT 1",
            (series,),
        ).fetchone()
        return row[0] if row else None

    def config(self, series: str) -> PipelineSpec | None:
        text = self.config_json(series)
        return PipelineSpec.from_json(text) if text else None

    def set_kv(self, key: str, value: object, now_ms: int | None = None) -> None:
        """Checkpoint values for the runtime. Call inside a transaction to commit a
        checkpoint together with the writes it describes."""
        with self.transaction():
            self.conn.execute(
                "INSERT INTO kv (key, value, updated_ms) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                "updated_ms = excluded.updated_ms",
                (key, json.dumps(value), now_ms),
            )

    def get_kv(self, key: str, default: object = None) -> object:
        row = self.conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default


__all__ = [
    "DEFAULT_DB_PATH",
    "IngestCounts",
    "NewVersion",
    "Store",
    "StoreError",
    "values_to_columns",
]
