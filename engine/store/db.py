"""The versioned store: one SQLite file, append-only versions, every write one transaction.

``Store(path)`` owns one connection for the thread that created it; every thread
(scheduler, each dashboard session) opens its own ``Store``. Writers take the
lock up front (``BEGIN IMMEDIATE``), readers never block them (WAL).

The write side is split by job: raw-log and ingest writes in ``engine.store.rawlog``,
version, side-output and adjustment writes in ``engine.store.versions``, jobs,
configuration and checkpoints here; the read side (``latest``, ``final``, ``as_of``,
``history``, ``compare``, ``explain``, range and listing queries) is in
``engine.store.queries`` and mixed in. The schema is ``engine.store.schema``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from engine.core.spec import PipelineSpec
from engine.store.explain import VersionComparisons
from engine.store.queries import StoreQueries
from engine.store.rawlog import IngestCounts, RawLogWrites
from engine.store.schema import open_database, write_txn
from engine.store.versions import (
    NewVersion,
    StoreError,
    VersionWrites,
    values_to_columns,
)

DEFAULT_DB_PATH = "data/latewatch.db"


class Store(RawLogWrites, VersionWrites, VersionComparisons, StoreQueries):
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

    # -- configuration and checkpoints -----------------------------------------
    def save_config(
        self,
        series: str,
        spec: PipelineSpec,
        now_ms: int,
        applied_by: str | None = None,
        reason: str | None = None,
    ) -> int:
        """Record the spec a series runs with (who applied it and why, when known); a
        no-op when it has not changed."""
        current = self.config_json(series)
        text = spec.to_json()
        if current == text:
            return 0
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO config_versions (series, spec_json, applied_at_ms, applied_by, reason)"
                " VALUES (?, ?, ?, ?, ?)",
                (series, text, now_ms, applied_by or None, reason or None),
            )
            return int(cur.lastrowid)

    def config_history(self, series: str):
        """Every configuration version of a series, oldest first (a DataFrame: id,
        applied_at_ms, applied_by, reason, spec_json)."""
        return self._frame(
            "SELECT id, applied_at_ms, applied_by, reason, spec_json FROM config_versions "
            "WHERE series = ? ORDER BY id",
            [series],
        )

    def config_json(self, series: str) -> str | None:
        row = self.conn.execute(
            "SELECT spec_json FROM config_versions WHERE series = ? ORDER BY id DESC LIMIT 1",
            (series,),
        ).fetchone()
        return row[0] if row else None

    def config(self, series: str) -> PipelineSpec | None:
        text = self.config_json(series)
        return PipelineSpec.from_json(text) if text else None

    def save_snapshot(
        self, series: str, seq: int, processing_time_ms: int | None, fmt: str, state: bytes
    ) -> None:
        """An operator's open state after raw-log row ``seq``. Call inside the
        checkpoint's transaction: the snapshot and the checkpoint commit together."""
        with self.transaction():
            self.conn.execute(
                "INSERT INTO operator_snapshots (series, seq, processing_time_ms, format, state, "
                "taken_ms) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(series) DO UPDATE SET "
                "seq = excluded.seq, processing_time_ms = excluded.processing_time_ms, "
                "format = excluded.format, state = excluded.state, taken_ms = excluded.taken_ms",
                (series, seq, processing_time_ms, fmt, state, processing_time_ms),
            )

    def load_snapshot(self, series: str) -> dict | None:
        row = self.conn.execute(
            "SELECT seq, processing_time_ms, format, state FROM operator_snapshots "
            "WHERE series = ?",
            (series,),
        ).fetchone()
        if row is None:
            return None
        return {"seq": row[0], "processing_time_ms": row[1], "format": row[2], "state": row[3]}

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
