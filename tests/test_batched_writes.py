"""Batched version writes change nothing: a simulated history written with the
batched path (numbered panes written in one executemany) and with one INSERT per
pane gives the same store, row for row, apart from wall-clock job timings."""

from __future__ import annotations

import sqlite3

from engine.runtime.runtime import Runtime, RuntimeSettings
from engine.store import versions as version_writes
from tests.conftest import SEED_NOW_MS

TABLES = {
    "versions": "SELECT * FROM versions ORDER BY id",
    "contributions": "SELECT * FROM contributions ORDER BY series, window_start_ms, grp, event_id, version, sign",
    "late_events": "SELECT * FROM late_events ORDER BY id",
    "adjustments": "SELECT * FROM adjustments ORDER BY id",
    "raw_events": "SELECT * FROM raw_events ORDER BY seq",
    "jobs": "SELECT id, kind, series, label, tier, reason, status, cutoff_ms FROM jobs ORDER BY id",
}


def build(path) -> dict:
    settings = RuntimeSettings(
        db_path=str(path),
        history_days=3,
        events_per_day=1_200,
        seed=5,
        scenario="flash-sale",
        now_ms=SEED_NOW_MS,
    )
    rt = Runtime(settings).start(scheduler=False)
    try:
        while rt.catching_up:
            rt.tick(budget_ms=60_000)
        rt.run_due_jobs()
    finally:
        rt.shutdown()
    con = sqlite3.connect(path)
    try:
        return {name: con.execute(sql).fetchall() for name, sql in TABLES.items()}
    finally:
        con.close()


def test_batched_and_per_pane_writes_give_the_same_store(tmp_path, monkeypatch):
    batched = build(tmp_path / "batched.db")
    original = version_writes.VersionWrites.append_version_in_txn

    def one_by_one(self, series, nv, state, buffer=None):
        return original(self, series, nv, state, None)  # every pane its own INSERT

    monkeypatch.setattr(version_writes.VersionWrites, "append_version_in_txn", one_by_one)
    single = build(tmp_path / "single.db")
    assert len(batched["versions"]) > 100 and len(batched["contributions"]) > 1000
    for name in TABLES:
        assert batched[name] == single[name], name
