"""The runtime end to end on a simulated past: tiers exist, nothing is lost, the
scheduler wiring is right, and a restart converges to the same results."""

from __future__ import annotations

from engine.runtime import Runtime, RuntimeSettings
from engine.store import Store
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
    from engine.scheduler import JOB_IDS, build_scheduler

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
