"""Poison timestamps and the runtime: ingest quarantines them; and one that is in the raw
log anyway (older data, a wider configured range) is set aside with a reason while the
checkpoint reaches the end of the raw log — on the tick and again after a restart."""

from __future__ import annotations

from engine.core.events import Event
from engine.core.timeutil import DAY_MS
from engine.ingest.ingestor import IngestOptions, Ingestor
from engine.runtime.clock import FakeClock
from engine.runtime.runtime import Runtime, RuntimeSettings
from engine.store.db import Store
from tests.conftest import SEED_NOW_MS

POISON_SECONDS = [
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    1e12,
    -1e12,
    1e15,
    -1e17,
    1e17,
    1e308,
    "1" * 400,
]
POISON_MS = [
    -62_135_596_800_000,  # year 1
    253_402_300_799_000,  # 9999-12-31
    10**15,
    -(10**15),
    10**18,
    -(10**18),
    2**62 - 1,
]


def _settings(db) -> RuntimeSettings:
    return RuntimeSettings(
        db_path=str(db), history_days=0, events_per_day=200, seed=3, now_ms=SEED_NOW_MS
    )


def test_ingest_quarantines_every_poison_timestamp(tmp_path):
    rows = []
    for i, t in enumerate(POISON_SECONDS):
        rows.append({"event_id": f"p{i}", "source": "api", "event_time": t})
        rows.append({"event_id": f"q{i}", "source": "api", "event_time": t, "arrival_time": t})
    with Store(tmp_path / "x.db") as store:
        report = Ingestor(store, IngestOptions(), clock=lambda: SEED_NOW_MS).ingest_records(rows)
    assert report.accepted == 0
    assert report.quarantined_by_reason == {"time_out_of_range": len(rows)}


def test_runtime_sets_poison_aside_and_the_checkpoint_reaches_the_end(tmp_path):
    db = tmp_path / "rt.db"
    clock = FakeClock(SEED_NOW_MS)
    rt = Runtime(_settings(db), clock=clock).start(scheduler=False)
    try:
        rt.tick()
        poison = [
            Event(f"poison-{i}", "api", ms, ms if i % 2 else SEED_NOW_MS, 100, 1)
            for i, ms in enumerate(POISON_MS)
        ]
        good = [
            Event(f"fine-{i}", "api", SEED_NOW_MS - 60_000, SEED_NOW_MS, 500, 1) for i in range(3)
        ]
        with Store(db) as other:  # appended behind the validation's back
            other.write_ingest_batch(None, [*poison[:3], *good, *poison[3:]], [], None, SEED_NOW_MS)
        for _ in range(3):
            clock.advance(60_000)
            rt.tick()  # never raises
        store = rt.store()
        last_seq = store.conn.execute("SELECT max(seq) FROM raw_events").fetchone()[0]
        assert rt.status()["processed_seq"] == last_seq
        set_aside = store.conn.execute(
            "SELECT event_id, reason FROM quarantine WHERE reason = 'unwindowable'"
        ).fetchall()
        assert sorted(e for e, _ in set_aside) == sorted(e.event_id for e in poison)
        input_count = rt.status()["operators"]["hourly"]["outcomes"]["input"]
    finally:
        rt.shutdown()

    # a restart rebuilds past the poison rows, silently and without recording them again
    clock.advance(DAY_MS // 24)
    rt = Runtime(_settings(db), clock=clock).start(scheduler=False)
    try:
        rt.tick()
        store = rt.store()
        again = store.conn.execute(
            "SELECT count(*) FROM quarantine WHERE reason = 'unwindowable'"
        ).fetchone()[0]
        assert again == len(POISON_MS)
        last_seq = store.conn.execute("SELECT max(seq) FROM raw_events").fetchone()[0]
        assert rt.status()["processed_seq"] == last_seq
        assert rt.status()["operators"]["hourly"]["outcomes"]["input"] >= input_count
    finally:
        rt.shutdown()
