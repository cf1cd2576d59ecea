"""Live mode in process (engine.runtime.live): real data on an injected clock, no
simulator. What arrives in the raw log is processed in arrival order, each row at
the time it was appended; routes are checked against the Flink/Beam rules, and a
restart replays the same decisions."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.timeutil import DAY_MS, HOUR_MS, SECOND_MS, format_ms, parse_timestamp_ms
from engine.ingest.ingestor import IngestOptions, Ingestor
from engine.runtime.clock import FakeClock
from engine.runtime.runtime import Runtime, RuntimeSettings
from engine.store.db import Store

T0 = parse_timestamp_ms("2026-11-20T15:20:00Z")


class Live:
    def __init__(self, db, start_ms=T0):
        self.db = str(db)
        self.clock = FakeClock(start_ms)
        self.rt = self._start()
        self.store = Store.open(self.db)

    def _start(self):
        return Runtime(RuntimeSettings(db_path=self.db, simulator=False), clock=self.clock).start(
            scheduler=False
        )

    def post(self, rows, source="web"):
        records = [
            {"event_id": eid, "event_time": format_ms(t), "source": source, "amount": amount}
            for eid, t, amount in rows
        ]
        return Ingestor(self.store, IngestOptions(), clock=self.clock.now_ms).ingest_records(
            records
        )

    def after(self, ms):
        self.clock.advance(ms)
        return self.rt.tick()

    def history(self, window_start, series="hourly", grp="*"):
        return [
            (r["reason"], r["tier"], r["revenue_cents"])
            for r in self.rt.store().history(series, window_start, grp)
        ]

    def restart(self):
        self.rt.shutdown()
        self.rt = self._start()


@pytest.fixture
def live(tmp_path):
    lv = Live(tmp_path / "live.db")
    yield lv
    lv.rt.shutdown()


def test_live_start_has_no_simulator_no_history(live):
    status = live.rt.status()
    assert status["live"] and not status["simulated"]
    assert live.rt.feed is None and live.store.raw_event_count() == 0
    # `python -m engine finalize` on this store uses the runtime's business days
    assert live.store.get_kv("business_tz") == live.rt.settings.tz
    live.after(10 * SECOND_MS)
    assert live.store.raw_event_count() == 0  # nothing simulated arrives


def test_current_window_equals_the_batch_sum_within_seconds(live):
    hour = T0 - T0 % HOUR_MS
    report = live.post([(f"e{i}", T0 - 3 * SECOND_MS, 10 + i) for i in range(5)])
    assert report.accepted == 5
    live.after(SECOND_MS)
    live.after(6 * SECOND_MS)  # the live early pane fires 5 s after new data
    latest = live.rt.store().latest("hourly", hour, "*")
    batch = live.store.conn.execute(
        "SELECT sum(amount_cents) FROM raw_events WHERE event_time_ms >= ? AND event_time_ms < ?",
        (hour, hour + HOUR_MS),
    ).fetchone()[0]
    assert latest["revenue_cents"] == batch == sum(100 * (10 + i) for i in range(5))
    status = live.rt.status()
    assert status["arrivals"]["count"] == 5
    assert status["arrivals"]["last_event_time_ms"] == T0 - 3 * SECOND_MS


def test_late_event_late_version_too_late_side_output_final_day_adjustment(live):
    hour = T0 - T0 % HOUR_MS
    live.post([("a", T0 - 3 * SECOND_MS, 10)])
    live.after(6 * SECOND_MS)
    live.after(HOUR_MS)  # the web key goes idle; a new event moves the watermark past the hour
    live.post([("b", live.clock.now_ms() - SECOND_MS, 1)])
    live.after(SECOND_MS)
    assert [r[0] for r in live.history(hour)] == ["early", "on_time"]
    # late: the hour fired, its allowed lateness (6 h for web) has not passed
    live.post([("c", T0 - SECOND_MS, 5)])
    live.after(16 * 60 * SECOND_MS)  # late panes at most every 15 min
    assert live.history(hour)[-1] == ("late_data", "live", 1500)
    # too late: two days back, past any allowed lateness -> the side output
    outcomes_before = live.rt.status()["operators"]["hourly"]["outcomes"]["too_late"]
    live.post([("d", T0 - 2 * DAY_MS, 7)])
    live.after(SECOND_MS)
    assert live.rt.status()["operators"]["hourly"]["outcomes"]["too_late"] == outcomes_before + 1
    assert (
        live.store.conn.execute("SELECT count(*) FROM late_events WHERE event_id = 'd'").fetchone()[
            0
        ]
        >= 1
    )
    # a final day: a later event for it is booked as an adjustment, the final stays
    day = date(2026, 11, 17)
    live.post([("e", parse_timestamp_ms("2026-11-17T18:00:00Z"), 3)])
    live.after(SECOND_MS)
    live.rt.finalize(day, "final")
    finals = live.store.conn.execute(
        "SELECT count(*) FROM versions WHERE tier = 'final'"
    ).fetchone()[0]
    live.post([("f", parse_timestamp_ms("2026-11-17T19:00:00Z"), 4)])
    live.after(SECOND_MS)
    live.rt.run_due_jobs()
    adj = live.store.adjustments_frame("daily")
    booked = adj[(adj["event_id"] == "f") & (adj["grp"] == "*")]
    assert list(booked["revenue_cents"]) == [400]
    assert (
        live.store.conn.execute(
            "SELECT count(*) FROM versions WHERE tier = 'final' AND reason != 'adjustment'"
        ).fetchone()[0]
        >= finals
    )


def test_same_event_id_twice_is_a_duplicate(live):
    live.post([("x", T0 - SECOND_MS, 10)])
    again = live.post([("x", T0 - SECOND_MS, 10)])
    assert (again.accepted, again.duplicates) == (0, 1)
    live.after(6 * SECOND_MS)
    assert live.rt.store().latest("hourly", T0 - T0 % HOUR_MS, "*")["revenue_cents"] == 1000


def test_a_simulated_store_is_not_run_live_and_the_other_way_round(tmp_path, live):
    with pytest.raises(ValueError, match="live data"):
        Runtime(RuntimeSettings(db_path=live.db)).start(scheduler=False)


def _decisions(db):
    con = Store.open(db).conn
    return con.execute(
        "SELECT series, window_start_ms, grp, version, reason, revenue_cents, processing_time_ms "
        "FROM versions ORDER BY series, window_start_ms, grp, version"
    ).fetchall()


@settings(max_examples=8)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3 * HOUR_MS),  # how long after the previous row it arrives
            st.integers(0, 8 * HOUR_MS),  # how far behind the wall clock its event time is
            st.sampled_from(["web", "mobile", "partner"]),
        ),
        min_size=1,
        max_size=25,
    ),
    st.integers(1, 24),
)
def test_restart_replays_the_same_decisions(tmp_path_factory, rows, cut):
    """Killing the runtime between ticks and starting again gives the same versions
    as never stopping: each row is processed at the time it was appended."""
    runs = []
    for restart in (False, True):
        db = tmp_path_factory.mktemp("live") / "x.db"
        lv = Live(db)
        try:
            for i, (gap, behind, source) in enumerate(rows):
                lv.clock.advance(gap)
                lv.post([(f"r{i}", lv.clock.now_ms() - behind, i + 1)], source=source)
                if i % 3 == 0:
                    lv.after(SECOND_MS)
                if restart and i == cut % len(rows):
                    lv.restart()
            lv.after(HOUR_MS)
        finally:
            lv.rt.shutdown()
        runs.append(_decisions(db))
    assert runs[0] == runs[1]


def test_backfill_appends_a_dataset_once_through_the_ingest_path(live, tmp_path):
    """The Import page's "Append to the live store": validated, de-duplicated by
    event_id against everything already there, with an ingest record of its own."""
    from engine.ingest.backfill import append_dataset

    dataset = tmp_path / "orders.db"
    with Store(dataset) as ds:
        Ingestor(ds, IngestOptions(), clock=lambda: T0).ingest_records(
            [
                {
                    "event_id": f"b{i}",
                    "event_time": format_ms(T0 - 3 * SECOND_MS),
                    "arrival_time": format_ms(T0 - SECOND_MS),
                    "source": "partner",
                    "amount": "12.34",
                }
                for i in range(4)
            ]
        )
    live.post([("b0", T0 - 3 * SECOND_MS, 12.34)], source="partner")  # already sent another way
    first = append_dataset(dataset, live.db, live.clock.now_ms(), "orders")
    assert (first.rows_read, first.accepted, first.duplicates) == (4, 3, 1)
    again = append_dataset(dataset, live.db, live.clock.now_ms(), "orders")
    assert (again.accepted, again.duplicates) == (0, 4)
    ingests = live.store.ingests_frame(limit=10)
    assert "backfill:orders" in set(ingests["source_name"])
    live.after(6 * SECOND_MS)
    latest = live.rt.store().latest("hourly", T0 - T0 % HOUR_MS, "partner")
    assert latest["revenue_cents"] == 4 * 1234


def test_one_processing_runtime_per_store(tmp_path):
    """A second runtime on a store another live process runs is refused by name; a
    lease whose heartbeat went stale (a crashed process, another host) is taken over."""
    from engine.runtime import lease
    from engine.runtime.clock import wall_ms

    db = str(tmp_path / "x.db")
    with Store(db) as store:
        store.set_kv(
            lease.LEASE_KEY, {"owner": "elsewhere:4242", "heartbeat_ms": wall_ms(), "what": "run"}
        )
    settings = RuntimeSettings(db_path=db, simulator=False)
    with pytest.raises(lease.StoreBusy, match="elsewhere:4242"):
        Runtime(settings, clock=FakeClock(T0)).start(scheduler=False)
    with Store(db) as store:
        store.set_kv(
            lease.LEASE_KEY,
            {"owner": "elsewhere:4242", "heartbeat_ms": wall_ms() - 2 * lease.STALE_MS},
        )
    rt = Runtime(settings, clock=FakeClock(T0)).start(scheduler=False)
    try:
        assert Store.open(db).get_kv(lease.LEASE_KEY)["owner"] == lease.this_owner()
    finally:
        rt.shutdown()
    assert Store.open(db).get_kv(lease.LEASE_KEY)["heartbeat_ms"] == 0  # released
