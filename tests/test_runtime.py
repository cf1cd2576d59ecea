"""The runtime end to end on a simulated past: tiers exist, nothing is lost, the
scheduler wiring is right, and a restart converges to the same results."""

from __future__ import annotations

from engine.runtime.runtime import Runtime, RuntimeSettings
from engine.store.db import Store
from tests.conftest import SEED_NOW_MS, SEED_SETTINGS


def test_seeded_history_has_every_tier_and_balanced_accounting(seeded_db):
    store = Store.open(seeded_db)
    tiers = {r[0] for r in store.conn.execute("SELECT DISTINCT tier FROM versions")}
    assert {"live", "preliminary", "final"} <= tiers
    ingests = store.ingests_frame(limit=10_000)
    assert (
        ingests["rows_read"] == ingests["accepted"] + ingests["duplicates"] + ingests["quarantined"]
    ).all()
    raw = store.raw_event_count()
    assert raw == int(ingests["accepted"].sum())


def test_restart_rebuilds_the_same_operator_state(seeded_db):
    rt = Runtime(RuntimeSettings(db_path=str(seeded_db), **SEED_SETTINGS)).start(scheduler=False)
    try:
        status = rt.status()
        assert not status["catching_up"]
        assert status["proc_ms"] == SEED_NOW_MS
        hourly = status["operators"]["hourly"]
        assert hourly["outcomes"]["input"] == rt.store().raw_event_count()
        assert hourly["watermark_ms"] > SEED_NOW_MS - 86_400_000
    finally:
        rt.shutdown()


def test_scheduler_jobs_have_stable_ids(tmp_path):
    from engine.runtime.scheduler import JOB_IDS, build_scheduler

    rt = Runtime(
        RuntimeSettings(
            db_path=str(tmp_path / "x.db"), history_days=0, events_per_day=100, now_ms=SEED_NOW_MS
        )
    )
    sched = build_scheduler(rt)
    sched.start(paused=True)
    try:
        jobs = {job.id: job for job in sched.get_jobs()}
        assert set(jobs) == set(JOB_IDS)
        assert all(job.max_instances == 1 and job.coalesce for job in jobs.values())
    finally:
        sched.shutdown(wait=False)


def test_a_catching_up_runtime_ticks_again_at_once(tmp_path):
    """After a tick ends, the next one is due now while the first start catches up
    (an overrunning tick skipped the next run and idled up to a second), and on the
    interval once it has caught up."""
    from datetime import UTC, datetime, timedelta

    from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent

    from engine.runtime.scheduler import build_scheduler

    rt = Runtime(
        RuntimeSettings(
            db_path=str(tmp_path / "x.db"), history_days=1, events_per_day=100, now_ms=SEED_NOW_MS
        )
    ).start(scheduler=False)
    sched = build_scheduler(rt)
    sched.start(paused=True)
    try:
        later = datetime.now(UTC) + timedelta(hours=1)
        done = JobExecutionEvent(EVENT_JOB_EXECUTED, "tick", None, datetime.now(UTC))
        assert rt.catching_up
        sched.modify_job("tick", next_run_time=later)
        sched._dispatch_event(done)
        assert sched.get_job("tick").next_run_time <= datetime.now(UTC)
        while rt.catching_up:
            rt.tick(budget_ms=10**9)
        sched.modify_job("tick", next_run_time=later)
        sched._dispatch_event(done)
        assert sched.get_job("tick").next_run_time == later
    finally:
        sched.shutdown(wait=False)
        rt.shutdown()


def test_events_ingested_by_others_stream_through_the_operators(seeded_db):
    """Rows another writer (the HTTP API, the ingest CLI) appends to the raw log are
    picked up by the next tick, not skipped by the checkpoint."""
    from engine.ingest.ingestor import IngestOptions, Ingestor
    from engine.runtime.clock import FakeClock

    clock = FakeClock(SEED_NOW_MS)
    rt = Runtime(RuntimeSettings(db_path=str(seeded_db), **SEED_SETTINGS), clock=clock)
    rt.start(scheduler=False)
    try:
        before = rt.status()["operators"]["hourly"]["outcomes"]["input"]
        other = Store.open(seeded_db)
        report = Ingestor(other, IngestOptions(), clock=lambda: SEED_NOW_MS).ingest_records(
            [
                {
                    "event_id": "api-1",
                    "source": "api",
                    "amount": 12.5,
                    "event_time": SEED_NOW_MS / 1000 - 30,
                    "arrival_time": SEED_NOW_MS / 1000,
                }
            ]
        )
        assert report.accepted == 1
        clock.advance(60_000)
        rt.tick()
        status = rt.status()
        assert status["operators"]["hourly"]["outcomes"]["input"] == before + 1
        assert status["processed_seq"] == rt.store().raw_event_count()
    finally:
        rt.shutdown()
