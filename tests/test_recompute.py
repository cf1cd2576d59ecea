"""The ``recompute`` late action recomputes: a window flagged by a late event of a
``recompute`` source gets a new version (reason ``recompute``) whose every metric —
average and median order value and distinct users included — equals a batch
recompute of the raw log, computed here independently of the engine's code.
Versions stay append-only and gap-free; a final window only takes adjustments.

    hourly windows, bounded watermark 5 min, lateness 1 h, group by all+source:
    web → update (late panes)      partner → recompute (queued, window flagged)
"""

from __future__ import annotations

import random
import statistics
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.operator import WindowOperator
from engine.core.spec import PipelineSpec, SourcePolicy, WatermarkSpec, WindowSpec
from engine.core.timeutil import DAY_MS, HOUR_MS, parse_timestamp_ms
from engine.ingest.ingestor import IngestOptions, Ingestor
from engine.runtime.emissions import apply_side_output, record_emissions
from engine.runtime.finalize import finalize_day
from engine.runtime.recompute import apply_recompute, recompute_from_raw_log
from engine.store.db import Store

BASE = parse_timestamp_ms("2026-11-20T00:00:00Z")
DAY = date(2026, 11, 20)
METRICS = ("revenue", "orders", "items", "events")
NON_ADDITIVE = ("avg_order_value", "median_order_value", "distinct_users")


def spec_for(group_by: str, window: str = "tumbling:1h") -> PipelineSpec:
    return PipelineSpec(
        window=WindowSpec.parse(window),
        watermark=WatermarkSpec.parse("bounded:5m"),
        allowed_lateness_ms=HOUR_MS,
        late_action="update",
        group_by=group_by,
        metrics=METRICS + NON_ADDITIVE,
        sources=(SourcePolicy("partner", late_action="recompute"),),
    )


def make_records(seed: int, n: int, hours: int = 6) -> list[dict]:
    """Web events arrive within seconds to minutes, partner events up to 3 h late."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        source = rng.choice(["web", "web", "partner"])
        et = BASE + rng.randrange(0, hours * HOUR_MS)
        delay = rng.choice([1_000, 30_000, 400_000]) if source == "web" else rng.randrange(HOUR_MS)
        if source == "partner" and rng.random() < 0.3:
            delay = rng.randrange(3 * HOUR_MS)
        out.append(
            {
                "event_id": f"e{i}",
                "source": source,
                "key": f"u{rng.randrange(12)}",
                "event_time": et / 1000,
                "arrival_time": (et + delay) / 1000,
                "amount": rng.randrange(-300, 9_000) / 100,
                "items": rng.randrange(0, 4),
                "event_type": rng.choice(["order.placed", "order.placed", "page.view"]),
            }
        )
    out.sort(key=lambda r: r["arrival_time"])
    return out


class Pipeline:
    """Ingest → operator → store with an injected clock (the runtime's write path)."""

    def __init__(self, store: Store, spec: PipelineSpec) -> None:
        self.store, self.spec, self.now = store, spec, BASE
        store.save_config("hourly", spec, BASE)
        self.op = WindowOperator(spec, track_contributions=True)
        self.ingestor = Ingestor(
            store, IngestOptions(batch_size=50), clock=lambda: self.now, on_events=self.feed
        )

    def feed(self, events) -> None:
        for e in events:
            self.op.process(e)
        versions, late = self.op.drain()
        record_emissions(self.store, "hourly", versions, late, self.now, metrics=self.spec.metrics)

    def ingest(self, records: list[dict]) -> None:
        for r in records:  # one at a time: processing time follows each arrival
            self.now = max(self.now, int(r["arrival_time"] * 1000))
            self.ingestor.ingest_records([r])


def batch_values(records, window, group, now_ms, spec) -> dict:
    """The window's values over every record that arrived by ``now_ms`` (independent)."""
    start, end = window
    if spec.window.kind == "session":
        inside = lambda t: start <= t <= end - spec.window.gap_ms  # noqa: E731
    else:
        inside = lambda t: start <= t < end  # noqa: E731
    rows = [
        r
        for r in records
        if round(r["arrival_time"] * 1000) <= now_ms
        and inside(round(r["event_time"] * 1000))
        and group in {"none": ("*",), "all+source": ("*", r["source"])}[spec.group_by]
    ]
    orders = [round(r["amount"] * 100) for r in rows if r["event_type"] == "order.placed"]
    return {
        "revenue_cents": sum(round(r["amount"] * 100) for r in rows),
        "orders": len(orders),
        "items": sum(r["items"] for r in rows),
        "events": len(rows),
        "avg_order_value_cents": sum(orders) / len(orders) if orders else None,
        "median_order_value_cents": float(statistics.median(orders)) if orders else None,
        "distinct_users": len({r["key"] for r in rows}),
    }


def flagged_windows(store: Store) -> set[tuple[int, int, str]]:
    return {
        tuple(r)
        for r in store.conn.execute(
            "SELECT DISTINCT window_start_ms, window_end_ms, grp FROM late_events "
            "WHERE action = 'recompute'"
        )
    }


def assert_same(row: dict, want: dict) -> None:
    for col, value in want.items():
        if value is None or row[col] is None:
            assert row[col] == value, col
        else:
            assert row[col] == pytest.approx(value, abs=1e-6), col


def check_gap_free(store: Store) -> None:
    rows = store.conn.execute(
        "SELECT window_start_ms, grp, group_concat(version) FROM "
        "(SELECT * FROM versions ORDER BY version) GROUP BY series, window_start_ms, grp"
    ).fetchall()
    for _, _, numbers in rows:
        got = [int(x) for x in numbers.split(",")]
        assert got == list(range(1, len(got) + 1))


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "r.db") as s:
        yield s


@settings(max_examples=6)
@given(seed=st.integers(0, 10_000), group_by=st.sampled_from(["none", "all+source"]))
def test_flagged_windows_equal_a_batch_recompute_of_the_raw_log(tmp_path_factory, seed, group_by):
    spec = spec_for(group_by)
    records = make_records(seed, 160)
    with Store(tmp_path_factory.mktemp("rc") / "r.db") as store:
        p = Pipeline(store, spec)
        p.ingest(records)
        flagged = flagged_windows(store)
        assert flagged, "the stream must flag windows for the test to mean anything"
        now = p.now
        result = apply_recompute(store, "hourly", now, spec=spec)
        assert result.status == "completed"
        assert result.counts["windows_flagged"] == len(flagged)
        assert result.counts["versions_written"] > 0  # queued events were not counted
        for ws, we, grp in flagged:
            latest = store.latest("hourly", ws, grp)
            assert_same(latest, batch_values(records, (ws, we), grp, now, spec))
        check_gap_free(store)
        pending = store.conn.execute(
            "SELECT count(*) FROM late_events WHERE action = 'recompute' "
            "AND absorbed_by_job IS NULL"
        ).fetchone()[0]
        assert pending == 0
        # nothing queued any more: a second run writes nothing
        assert apply_recompute(store, "hourly", now + 1, spec=spec).status == "nothing_to_do"


def test_recompute_version_is_appended_with_its_reason(store):
    # window [00:00, 01:00): on time 10.00 (u1); partner event 30.00 (u2) late by 10 min
    spec = spec_for("none")
    records = [
        {"event_id": "a", "source": "web", "key": "u1", "event_time": (BASE + 60_000) / 1000,
         "arrival_time": (BASE + 61_000) / 1000, "amount": 10, "event_type": "order.placed"},
        {"event_id": "b", "source": "web", "key": "u1", "event_time": (BASE + HOUR_MS + 600_000) / 1000,
         "arrival_time": (BASE + HOUR_MS + 601_000) / 1000, "amount": 1, "event_type": "order.placed"},
        {"event_id": "c", "source": "partner", "key": "u2", "event_time": (BASE + 120_000) / 1000,
         "arrival_time": (BASE + HOUR_MS + 602_000) / 1000, "amount": 30, "event_type": "order.placed"},
    ]  # fmt: skip
    p = Pipeline(store, spec)
    p.ingest(records)
    before = store.history("hourly", BASE, "*")
    assert [(v["reason"], v["revenue_cents"]) for v in before] == [("on_time", 1000)]
    # the patch job leaves the recompute queue to the recompute job
    assert apply_side_output(store, "hourly", p.now, spec=spec).status == "nothing_to_do"
    res = apply_recompute(store, "hourly", p.now, spec=spec)
    after = store.history("hourly", BASE, "*")
    assert [(v["version"], v["reason"]) for v in after] == [(1, "on_time"), (2, "recompute")]
    v2 = after[-1]
    assert (v2["revenue_cents"], v2["orders"], v2["distinct_users"]) == (4000, 2, 2)
    assert v2["avg_order_value_cents"] == 2000 and v2["median_order_value_cents"] == 2000
    assert v2["job_id"] == res.job_id and v2["tier"] == "live"


def test_a_final_window_takes_adjustments_not_versions(store):
    spec = spec_for("none")
    records = make_records(3, 120)
    early = [r for r in records if r["source"] == "web"]
    partner = [r for r in records if r["source"] == "partner"]
    p = Pipeline(store, spec)
    p.ingest(early)
    finalize_day(store, "hourly", DAY, "final", BASE + 8 * DAY_MS, spec=spec)
    versions_before = store.conn.execute("SELECT count(*) FROM versions").fetchone()[0]
    late = [{**r, "arrival_time": r["arrival_time"] + 8 * 86_400} for r in partner]
    p.ingest(late)
    flagged = flagged_windows(store)
    if not flagged:  # every partner event was too late for its window: still no change
        pytest.skip("no window flagged")
    res = apply_recompute(store, "hourly", p.now, spec=spec)
    assert res.status == "completed" and res.counts.get("already_final", 0) == len(flagged)
    versions_after = store.conn.execute("SELECT count(*) FROM versions").fetchone()[0]
    assert versions_after == versions_before
    booked = store.conn.execute(
        "SELECT count(*) FROM adjustments WHERE reason = 'recompute'"
    ).fetchone()[0]
    assert booked > 0


def test_session_windows_recompute_the_session_span(store):
    spec = spec_for("none", window="session:10m")
    #  a(00:00) b(00:05) → session [00:00, 00:15); W passes it; partner c(00:03) late
    recs = [
        ("a", "web", 0, 1_000, 5),
        ("b", "web", 300_000, 301_000, 7),
        ("x", "web", 3_600_000, 3_601_000, 1),
        ("c", "partner", 180_000, 3_602_000, 11),
    ]
    records = [
        {"event_id": i, "source": s, "key": i, "event_time": (BASE + t) / 1000,
         "arrival_time": (BASE + a) / 1000, "amount": amt, "event_type": "order.placed"}
        for i, s, t, a, amt in recs
    ]  # fmt: skip
    Pipeline(store, spec).ingest(records)
    assert flagged_windows(store) == {(BASE, BASE + 900_000, "*")}
    got = recompute_from_raw_log(store, spec, [(BASE, BASE + 900_000, "*")], None)
    values, ids = got[(BASE, BASE + 900_000, "*")]
    assert ids == {"a", "b", "c"} and values["revenue_cents"] == 2300


def test_the_runtime_jobs_run_the_recompute(seeded_db):
    """Wired in: a partner event arriving late for an hourly window that already fired,
    under a live configuration whose partner action is recompute, is rebuilt from the
    raw log by ``run_due_jobs``."""
    from dataclasses import replace

    from engine.runtime.clock import FakeClock
    from engine.runtime.runtime import Runtime, RuntimeSettings
    from tests.conftest import SEED_NOW_MS, SEED_SETTINGS

    clock = FakeClock(SEED_NOW_MS)
    rt = Runtime(RuntimeSettings(db_path=str(seeded_db), **SEED_SETTINGS), clock=clock)
    rt.start(scheduler=False)
    try:
        live = rt.series["hourly"]
        sources = tuple(
            replace(p, late_action="recompute") if p.source == "partner" else p
            for p in live.sources
        )
        rt.apply_config("hourly", live.with_changes(sources=sources))
        event_time = SEED_NOW_MS - 3 * HOUR_MS + 60_000
        report = Ingestor(rt.store(), IngestOptions(), clock=lambda: SEED_NOW_MS).ingest_records(
            [
                {
                    "event_id": "late-partner-1",
                    "source": "partner",
                    "key": "u-late",
                    "amount": 1234.56,
                    "event_time": event_time / 1000,
                    "arrival_time": SEED_NOW_MS / 1000,
                    "event_type": "order.placed",
                }
            ]
        )
        assert report.accepted == 1
        clock.advance(60_000)
        rt.tick()
        store = rt.store()
        (ws, we, grp) = store.conn.execute(
            "SELECT window_start_ms, window_end_ms, grp FROM late_events WHERE series = "
            "'hourly' AND event_id = 'late-partner-1' AND grp = '*'"
        ).fetchone()
        assert ws <= event_time < we
        done = rt.run_due_jobs()
        assert any(j.get("kind") == "recompute" and j.get("series") == "hourly" for j in done)
        latest = store.latest("hourly", ws, grp)
        assert latest["reason"] == "recompute"
        spec = rt.series["hourly"]
        (values, ids), *_ = recompute_from_raw_log(store, spec, [(ws, we, grp)], None).values()
        assert "late-partner-1" in ids
        assert latest["revenue_cents"] == values["revenue_cents"]
        assert latest["events"] == values["events"]
    finally:
        rt.shutdown()
