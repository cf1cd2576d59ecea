"""Tiers and jobs: idempotent finalization, final is immutable, patches, streaming meets batch.

The day under test (UTC), hourly windows, bounded watermark 5 min, lateness 1 h:

    day 2026-11-20 ───────────────────────────┤ T+1 preliminary ……… T+7 final ── later → adjustment
    events arrive 1 s … 3 d after event time   │
"""

import random
from datetime import date

import pytest

from engine.commands.cli import main
from engine.core.operator import WindowOperator
from engine.core.spec import PipelineSpec, SourcePolicy, WatermarkSpec, WindowSpec
from engine.core.timeutil import DAY_MS, HOUR_MS, parse_timestamp_ms
from engine.ingest.ingestor import IngestOptions, Ingestor
from engine.runtime.emissions import apply_side_output, record_emissions
from engine.runtime.finalize import (
    FinalizePolicy,
    batch_recompute,
    due_finalizations,
    finalize_day,
    reprocess,
    windows_starting_in,
)
from engine.store.db import Store
from engine.store.queries import aggregate

DAY = date(2026, 11, 20)
BASE = parse_timestamp_ms("2026-11-20T00:00:00Z")
SPEC = PipelineSpec(
    window=WindowSpec.parse("tumbling:1h"),
    watermark=WatermarkSpec.parse("bounded:5m"),
    allowed_lateness_ms=HOUR_MS,
    late_action="update",
    metrics=("revenue", "orders", "items", "events", "avg_order_value", "distinct_users"),
)


def make_records(n=600, seed=7, delays=(1_000, 60_000, 900_000, 2 * HOUR_MS, 3 * DAY_MS)):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        et = BASE + rng.randrange(0, DAY_MS)
        out.append(
            {
                "event_id": f"e{i}",
                "source": rng.choice(["web", "partner"]),
                "key": f"u{rng.randrange(40)}",
                "event_time": et / 1000,
                "arrival_time": (et + rng.choice(delays)) / 1000,
                "amount": rng.randrange(-500, 20_000) / 100,
                "items": rng.randrange(0, 4),
                "event_type": rng.choice(["order.placed", "order.placed", "page.view"]),
            }
        )
    out.sort(key=lambda r: r["arrival_time"])
    return out


class Pipeline:
    """Ingest → operator → store, with an injected clock."""

    def __init__(self, store, spec=SPEC):
        self.store, self.spec, self.now = store, spec, BASE
        store.save_config("hourly", spec, BASE)
        self.op = WindowOperator(spec, track_contributions=True)
        self.ingestor = Ingestor(
            store, IngestOptions(batch_size=100), clock=lambda: self.now, on_events=self.feed
        )

    def feed(self, events):
        for e in events:
            self.op.process(e)
        versions, late = self.op.drain()
        record_emissions(self.store, "hourly", versions, late, self.now, metrics=self.spec.metrics)

    def ingest(self, records):
        if records:
            self.now = max(self.now, int(max(r["arrival_time"] for r in records) * 1000))
        return self.ingestor.ingest_records(records)


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "f.db") as s:
        yield s


def dump(store):
    tables = ["versions", "contributions", "jobs", "job_diffs", "adjustments", "late_events"]
    order = {"contributions": "series, window_start_ms, grp, event_id, version, sign"}
    return {
        t: store.conn.execute(f"SELECT * FROM {t} ORDER BY {order.get(t, 'rowid')}").fetchall()
        for t in tables
    }


def test_windows_of_a_business_day_follow_the_zone():
    spec = PipelineSpec(window=WindowSpec.parse("tumbling:1h"))
    ny_start = parse_timestamp_ms("2026-11-01T04:00:00Z")  # DST ends in New York that day
    from engine.runtime.finalize import business_day_bounds

    start, end = business_day_bounds(date(2026, 11, 1), "America/New_York")
    assert (start, end - start) == (ny_start, 25 * HOUR_MS)
    assert len(windows_starting_in(spec, start, end)) == 25
    daily = PipelineSpec(window=WindowSpec.parse("day@America/New_York"))
    assert windows_starting_in(daily, start, end) == [(start, end)]


def test_finalization_twice_changes_nothing(store):
    p = Pipeline(store)
    p.ingest(make_records())
    now = BASE + 2 * DAY_MS
    first = finalize_day(store, "hourly", DAY, "preliminary", now)
    before = dump(store)
    second = finalize_day(store, "hourly", DAY, "preliminary", now + 5)
    assert first.status == "completed" and second.status == "skipped"
    assert dump(store) == before
    assert due_finalizations(store, "hourly", now, FinalizePolicy()) == []
    later = due_finalizations(store, "hourly", BASE + 7 * DAY_MS, FinalizePolicy())
    assert later == [(DAY, "final")]


def test_every_window_of_a_final_day_has_a_final_version_equal_to_batch(store):
    p = Pipeline(store)
    records = make_records()
    p.ingest(records)
    p.op.finish()
    p.feed([])
    cutoff = BASE + 8 * DAY_MS
    result = finalize_day(store, "hourly", DAY, "final", cutoff)
    assert result.counts["windows"] == 24
    windows = windows_starting_in(SPEC, BASE, BASE + DAY_MS)
    batch = batch_recompute(store, SPEC, windows, cutoff)
    for ws, we in windows:
        f = store.final("hourly", ws, "*")
        assert f["is_final"]
        values, ids = batch[(ws, we, "*")]
        for col in ("revenue_cents", "orders", "items", "events", "distinct_users"):
            assert f[col] == values[col]
        assert store.contributed_ids("hourly", ws, "*") == ids
        ex = store.explain("hourly", ws, "*", 0, f["version"])
        assert ex.exact
    diffs = store.job_diffs_frame(result.job_id)
    assert len(diffs) == 24 and diffs["streaming_version"].notna().all()


def test_streaming_meets_batch_when_nothing_is_late(store):
    p = Pipeline(store)
    p.ingest(make_records(delays=(1_000, 30_000)))
    p.op.finish()
    p.feed([])
    result = finalize_day(store, "hourly", DAY, "preliminary", BASE + 2 * DAY_MS)
    assert result.counts["windows_changed_vs_streaming"] == 0
    for ws, _ in windows_starting_in(SPEC, BASE, BASE + DAY_MS):
        h = store.history("hourly", ws, "*")
        assert h[-1]["tier"] == "preliminary" and h[-1]["delta_revenue_cents"] == 0


def test_final_window_is_immutable_later_events_become_adjustments(store):
    p = Pipeline(store)
    records = make_records(n=200, delays=(1_000,))
    p.ingest(records)
    p.now = BASE + 8 * DAY_MS
    finalize_day(store, "hourly", DAY, "final", p.now)
    before = store.conn.execute("SELECT count(*) FROM versions").fetchone()[0]
    late = {
        "event_id": "late1",
        "source": "partner",
        "event_time": (BASE + 10 * HOUR_MS + 5) / 1000,
        "arrival_time": (BASE + 9 * DAY_MS) / 1000,
        "amount": 42.0,
        "items": 2,
        "event_type": "order.placed",
    }
    p.ingest([late])
    p.op.advance_processing_time(BASE + 9 * DAY_MS + 1)
    p.feed([])
    apply_side_output(store, "hourly", p.now)
    reprocess(store, "hourly", BASE, BASE + DAY_MS, "late partner file", p.now + 1)
    assert store.conn.execute("SELECT count(*) FROM versions").fetchone()[0] == before
    adj = store.adjustments_frame("hourly")
    assert list(adj["event_id"]) == ["late1"]  # booked once, whichever path saw it first
    row = adj.iloc[0]
    assert row["window_start_ms"] == BASE + 10 * HOUR_MS and row["revenue_cents"] == 4200
    assert row["period_start_ms"] == BASE + 9 * DAY_MS  # the open period, not the window's day


def test_side_output_becomes_patch_versions_and_is_absorbed(store):
    spec = SPEC.with_changes(late_action="side_output", allowed_lateness_ms=0)
    p = Pipeline(store, spec)
    p.ingest(make_records(n=300))
    pending = store.late_events_frame("hourly", pending_only=True)
    assert len(pending) > 0
    result = apply_side_output(store, "hourly", p.now, spec=spec)
    assert result.counts["late_events_absorbed"] == len(pending)
    assert store.late_events_frame("hourly", pending_only=True).empty
    assert apply_side_output(store, "hourly", p.now, spec=spec).status == "nothing_to_do"
    patched = store.conn.execute(
        "SELECT window_start_ms, version FROM versions WHERE reason = 'patch'"
    ).fetchall()
    assert patched
    for ws, v in patched:
        row = store.version("hourly", ws, "*", v)
        rows = (
            store.events_frame()
            .set_index("event_id")
            .loc[sorted(store.contributed_ids("hourly", ws, "*"))]
        )
        values = aggregate(rows.reset_index().to_dict("records"), spec.metrics)
        assert row["revenue_cents"] == values["revenue_cents"]
        assert row["distinct_users"] == values["distinct_users"]
        assert store.explain("hourly", ws, "*", v - 1, v).exact


def test_late_panes_after_preliminary_are_rebased_not_undoing_it(store):
    spec = SPEC.with_changes(allowed_lateness_ms=3 * DAY_MS)
    p = Pipeline(store, spec)
    records = make_records(n=300)
    early = [r for r in records if r["arrival_time"] * 1000 < BASE + DAY_MS + HOUR_MS]
    p.ingest(early)
    finalize_day(store, "hourly", DAY, "preliminary", p.now)
    p.ingest([r for r in records if r not in early])
    p.op.finish()
    p.feed([])
    windows = windows_starting_in(spec, BASE, BASE + DAY_MS)
    batch = batch_recompute(store, spec, windows, None)
    for ws, we in windows:
        latest = store.latest("hourly", ws, "*")
        assert latest["revenue_cents"] == batch[(ws, we, "*")][0]["revenue_cents"]
        assert latest["tier"] == "preliminary"  # tiers never go back
        assert store.explain("hourly", ws, "*", 0, latest["version"]).exact


def test_cli_finalize_and_history(tmp_path, capsys):
    db = tmp_path / "cli.db"
    with Store(db) as store:
        Pipeline(store).ingest(make_records(n=50, delays=(1_000,)))
    args = ["--db", str(db), "--now", "2026-11-22T00:00:00Z"]
    assert main(["finalize", "--date", "2026-11-20", "--tier", "preliminary", *args]) == 0
    assert main(["finalize", "--date", "2026-11-20", "--tier", "preliminary", *args]) == 0
    out = capsys.readouterr().out
    assert "completed" in out and "skipped" in out
    assert main(["history", "--window", "2026-11-20T10:00Z", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "preliminary" in out and "finalization" in out


def test_a_group_first_seen_after_finalization_inherits_the_windows_tier(store):
    """A source whose first event for a window comes after the window's day was
    finalized: its first version carries the day's tier (a late pane or a patch), and
    once the day is final its events are adjustments (final_version 0: the final held
    nothing from it) — never a 'live' number on a closed day."""
    spec = SPEC.with_changes(
        group_by="all+source",
        allowed_lateness_ms=3 * DAY_MS,
        sources=(SourcePolicy("partner", late_action="side_output"),),
    )
    p = Pipeline(store, spec)
    hour = BASE + 10 * HOUR_MS

    def record(eid, source, event_ms, arrival_ms):
        return {
            "event_id": eid,
            "source": source,
            "event_time": event_ms / 1000,
            "arrival_time": arrival_ms / 1000,
            "amount": 10.0,
            "items": 1,
            "event_type": "order.placed",
        }

    p.ingest(
        [
            record("w1", "web", hour + 5, hour + 10),
            record("w2", "web", hour + 2 * HOUR_MS, hour + 2 * HOUR_MS),
        ]
    )
    p.ingest([record("w3", "web", BASE + DAY_MS + HOUR_MS, BASE + DAY_MS + HOUR_MS)])
    finalize_day(store, "hourly", DAY, "preliminary", p.now)
    assert store.latest("hourly", hour, "*")["tier"] == "preliminary"

    p.ingest([record("m1", "mobile", hour + 7, BASE + DAY_MS + 2 * HOUR_MS)])  # late pane
    assert store.latest("hourly", hour, "mobile")["tier"] == "preliminary"
    p.ingest([record("p1", "partner", hour + 9, BASE + DAY_MS + 3 * HOUR_MS)])  # side output
    apply_side_output(store, "hourly", p.now, spec=spec)
    assert store.latest("hourly", hour, "partner")["tier"] == "preliminary"

    finalize_day(store, "hourly", DAY, "final", BASE + 8 * DAY_MS)
    p.now = BASE + 8 * DAY_MS + HOUR_MS
    late = record("p2", "partner", hour + HOUR_MS + 9, p.now)
    p.ingest([late])
    apply_side_output(store, "hourly", p.now, spec=spec)
    assert store.latest("hourly", hour + HOUR_MS, "partner") is None
    adj = store.adjustments_frame("hourly")
    row = adj[adj["event_id"] == "p2"].iloc[0]
    assert row["grp"] == "partner" and row["final_version"] == 0
    assert row["revenue_cents"] == 1000
