"""The versioned store: append-only, gap-free, final is final, and the query semantics.

Timeline used by the as_of / history tests (processing time →):

    t=100 v1 on_time 10.00 │ t=200 v2 late 12.50 │ t=300 v3 preliminary 12.50 │ t=900 v4 final 13.00
"""

import sqlite3
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.results import LateEvent
from engine.store.db import NewVersion, Store, StoreError
from engine.store.queries import DELAY_BUCKETS, delay_bucket

H = 3_600_000


def nv(rev, tier="live", reason="on_time", t=100, ws=0, grp="*", added=(), events=None):
    return NewVersion(
        window_start_ms=ws,
        window_end_ms=ws + H,
        grp=grp,
        values={"revenue_cents": rev, "orders": 1, "items": 1, "events": events or 1},
        event_count=events or 1,
        timing="on_time",
        tier=tier,
        reason=reason,
        processing_time_ms=t,
        watermark_ms=t - 10,
        added_ids=added,
    )


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "s.db")
    yield s
    s.close()


@pytest.fixture
def timeline(store):
    store.append_versions("hourly", [nv(1000, t=100)])
    store.append_versions("hourly", [nv(1250, reason="late_data", t=200)])
    store.append_versions("hourly", [nv(1250, tier="preliminary", reason="finalization", t=300)])
    store.append_versions("hourly", [nv(1300, tier="final", reason="finalization", t=900)])
    return store


def test_numbering_is_assigned_gap_free_per_window(store):
    assert store.append_versions("hourly", [nv(1), nv(2), nv(3, ws=H)]) == [1, 2, 1]
    assert store.append_versions("daily", [nv(5)]) == [1]
    assert [r["version"] for r in store.history("hourly", 0, "*")] == [1, 2]


def test_expected_version_mismatch_is_refused(store):
    v = nv(1)
    v.expected_version = 2
    with pytest.raises(StoreError):
        store.append_versions("hourly", [v])


def test_version_rows_cannot_be_updated_deleted_or_gapped(store):
    store.append_versions("hourly", [nv(1)])
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("UPDATE versions SET revenue_cents = 9")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("DELETE FROM versions")
    with pytest.raises(sqlite3.IntegrityError, match="gap-free"):
        store.conn.execute(
            "INSERT INTO versions (series, window_start_ms, window_end_ms, grp, version, timing,"
            " tier, reason, event_count) VALUES ('hourly', 0, 1, '*', 3, 'x', 'live', 'x', 0)"
        )
    store.conn.rollback()


def test_unique_window_version(store):
    store.append_versions("hourly", [nv(1)])
    # bypass the gap trigger's arithmetic by inserting version 1 twice
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute(
            "INSERT INTO versions (series, window_start_ms, window_end_ms, grp, version, timing,"
            " tier, reason, event_count) VALUES ('hourly', 0, 1, '*', 1, 'x', 'live', 'x', 0)"
        )
    store.conn.rollback()


def test_final_window_refuses_non_adjustment_versions(timeline):
    with pytest.raises(StoreError, match="final"):
        timeline.append_versions("hourly", [nv(1400, tier="final", reason="late_data")])
    with pytest.raises(StoreError, match="final"):
        timeline.append_versions("hourly", [nv(1400, ws=H, tier="final"), nv(1, ws=H)])
    assert timeline.latest("hourly", H, "*") is None  # the failed batch left nothing
    with pytest.raises(StoreError, match="tier cannot go back"):
        timeline.append_versions("hourly", [nv(1, ws=H, tier="preliminary"), nv(2, ws=H)])


def test_latest_final_and_labels(timeline, store):
    assert timeline.latest("hourly", 0, "*")["version"] == 4
    f = timeline.final("hourly", 0, "*")
    assert f["is_final"] and f["label"] == "final" and f["revenue_cents"] == 1300
    store.append_versions("hourly", [nv(7, ws=H)])
    g = store.final("hourly", H, "*")
    assert not g["is_final"] and g["label"] == "live (not final)"
    assert store.final("hourly", 5 * H, "*") is None


def test_as_of_returns_what_was_shown_at_t(timeline):
    assert timeline.as_of("hourly", 0, "*", 99) is None
    assert timeline.as_of("hourly", 0, "*", 100)["version"] == 1
    assert timeline.as_of("hourly", 0, "*", 250)["version"] == 2
    assert timeline.as_of("hourly", 0, "*", 899)["version"] == 3
    assert timeline.as_of("hourly", 0, "*", 10**12)["version"] == 4


def test_history_deltas_and_compare(timeline):
    h = timeline.history("hourly", 0, "*")
    assert [r["delta_revenue_cents"] for r in h] == [1000, 250, 0, 50]
    assert [r["tier"] for r in h] == ["live", "live", "preliminary", "final"]
    c = timeline.compare("hourly", 0, "*", 1, "final")
    assert c["metrics"]["revenue_cents"] == {"a": 1000, "b": 1300, "delta": 300, "pct": 30.0}
    with pytest.raises(KeyError):
        timeline.compare("hourly", 0, "*", 1, 9)


def test_windows_in_range_has_latest_and_final(timeline, store):
    store.append_versions("hourly", [nv(7, ws=H), nv(8, ws=H, reason="late_data")])
    df = store.windows_in_range("hourly", 0, 2 * H)
    assert list(df["window_start_ms"]) == [0, H]
    assert list(df["is_final"]) == [True, False]
    assert list(df["latest_revenue_cents"]) == [1300, 8]
    assert df["final_revenue_cents"].iloc[0] == 1300
    assert list(df["label"]) == ["final", "live (not final)"]


def test_late_events_recorded_and_listed(store):
    le = LateEvent("e1", "web", 0, H, "*", "side_output", 5, H + 5, H + 6, 10, 250)
    assert store.record_late_events("hourly", [le]) == 1
    df = store.late_events_frame("hourly", pending_only=True)
    assert list(df["event_id"]) == ["e1"] and df["absorbed_by_job"].isna().all()


def test_delay_buckets_edges():
    assert delay_bucket(59_999) == "< 1 min"
    assert delay_bucket(60_000) == "1–10 min"
    assert delay_bucket(7 * 86_400_000) == "> 7 d"
    assert len(DELAY_BUCKETS) == 7


def _raw(store, rows):
    store.conn.executemany(
        "INSERT INTO raw_events (event_id, event_time_ms, arrival_time_ms, source, key, "
        "event_type, amount_cents, items) VALUES (?, ?, ?, ?, NULL, ?, ?, ?)",
        rows,
    )
    store.conn.commit()


events_st = st.lists(
    st.tuples(
        st.sampled_from(["web", "mobile", "partner"]),
        st.integers(0, 9 * 86_400_000),  # arrival delay
        st.integers(-50_000, 500_000),  # amount in cents, refunds negative
        st.integers(0, 5),
        st.sampled_from(["order.placed", "page.view", "order.refunded"]),
        st.integers(1, 4),  # which version first counts it
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=40, deadline=None)
@given(events=events_st, va=st.integers(0, 4), span=st.integers(0, 4))
def test_explain_sums_exactly_to_the_delta(tmp_path_factory, events, va, span):
    store = Store(tmp_path_factory.mktemp("explain") / "e.db")
    vb = min(4, va + span) or 1
    va = min(va, vb)
    _raw(
        store,
        [(f"e{i}", 1000, 1000 + d, s, t, a, it) for i, (s, d, a, it, t, _) in enumerate(events)],
    )
    totals = {"revenue_cents": 0, "orders": 0, "items": 0, "events": 0}
    new = []
    for number in range(1, 5):
        ids = [f"e{i}" for i, e in enumerate(events) if e[5] == number]
        for e in events:
            if e[5] == number:
                totals["revenue_cents"] += e[2]
                totals["orders"] += e[4] == "order.placed"
                totals["items"] += e[3]
                totals["events"] += 1
        v = nv(0, t=number * 100, added=ids)
        v.values = dict(totals)
        new.append(v)
    store.append_versions("hourly", new)
    ex = store.explain("hourly", 0, "*", va, vb)
    assert ex.exact, ex.unexplained
    for col in ("revenue_cents", "orders", "items", "events"):
        assert sum(g[col] for g in ex.breakdown) == ex.delta[col]
    assert len(ex.events) == sum(1 for e in events if va < e[5] <= vb)
    store.close()


@pytest.mark.slow
def test_one_writer_eight_readers_no_lock_errors(tmp_path):
    path = tmp_path / "c.db"
    Store(path).close()
    stop = threading.Event()
    errors: list[BaseException] = []
    reads = [0] * 8
    writes = [0]

    def writer():
        try:
            with Store(path) as s:
                ws = 0
                while not stop.is_set():
                    s.append_versions("hourly", [nv(writes[0], ws=ws, t=writes[0])])
                    s.record_late_events(
                        "hourly", [LateEvent("x", "web", 0, H, "*", "drop", 1, 1, 1, 1, 1)]
                    )
                    writes[0] += 1
                    ws = (ws + H) % (50 * H)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def reader(i):
        try:
            with Store(path) as s:
                while not stop.is_set():
                    s.latest("hourly", 0, "*")
                    s.as_of("hourly", H, "*", 10**9)
                    s.history("hourly", 2 * H, "*")
                    s.windows_in_range("hourly", 0, 10 * H)
                    reads[i] += 1
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=reader, args=(i,)) for i in range(8)
    ]
    for t in threads:
        t.start()
    time.sleep(10)  # the issue asks for 10 s of one writer and 8 readers
    stop.set()
    for t in threads:
        t.join(30)
    assert not errors, errors[:3]
    assert writes[0] > 50 and all(r > 5 for r in reads)
