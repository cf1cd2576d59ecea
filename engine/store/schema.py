"""The SQLite store's rules, shared column names, and connections (the tables
themselves are built by the named migrations in ``engine.store.migrations``).

Why this shape:
- Every table is created by a named ``sqlite_utils.Migrations`` step, recorded in
  the same transaction, so a half-applied schema cannot exist.
- ``versions`` and ``raw_events`` are append-only, and the database says so:
  triggers refuse UPDATE and DELETE, refuse a version number that is not
  ``max + 1`` for its window, and refuse a non-adjustment version after a final
  one. The Python code checks the same things first to give better messages;
  the triggers hold even for a writer that bypasses it.
- Times are integer epoch milliseconds (``*_ms``), money is integer cents: no
  'NaT' strings, no float drift between streaming and batch numbers.
- Writes go through ``write_txn`` (``BEGIN IMMEDIATE``): a deferred ``BEGIN``
  cannot wait to upgrade its lock and fails with "database is locked" under a
  second writer (ecosystem notes §3). WAL lets readers run during a write.
- One connection per thread: ``open_database`` keeps sqlite3's
  ``check_same_thread`` guard on, so sharing one by mistake fails loudly.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from sqlite_utils import Database

BUSY_TIMEOUT_MS = 30_000
TIERS = ("live", "preliminary", "final")
TIER_RANK = {tier: rank for rank, tier in enumerate(TIERS)}

# Metric columns of a version row. Additive ones are integers that sum exactly.
ADDITIVE_COLUMNS = ("revenue_cents", "orders", "items", "events")
NON_ADDITIVE_COLUMNS = ("avg_order_value_cents", "median_order_value_cents", "distinct_users")
METRIC_COLUMNS = ADDITIVE_COLUMNS + NON_ADDITIVE_COLUMNS


def open_database(path: str | Path) -> Database:
    """A sqlite-utils ``Database`` on a fresh connection owned by the calling thread."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db = Database(conn)
    if str(path) != ":memory:":
        db.enable_wal()
    # WAL + NORMAL: a commit survives a process kill (the restart test's SIGKILL);
    # only an OS crash could lose the last commits.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    from engine.store.migrations import migrations  # it imports this module's names

    if migrations.pending(db):
        with write_txn(db):
            # Re-checked under the write lock: another process may have migrated.
            migrations.apply(db)  # nested atomic() blocks become SAVEPOINTs
    return db


@contextlib.contextmanager
def write_txn(db: Database) -> Iterator[Database]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``; nests as a SAVEPOINT inside an open transaction."""
    conn = db.conn
    if conn.in_transaction:
        with db.atomic():
            yield db
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")
