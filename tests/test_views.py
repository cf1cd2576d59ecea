"""engine.views.dashboard: the page-shaped reads agree with the store's own queries, and the
calendar helpers are right across DST."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from engine.core.timeutil import HOUR_MS, parse_timestamp_ms
from engine.runtime.finalize import FinalizePolicy, business_day_bounds, business_day_of
from engine.store.db import Store
from engine.views import dashboard as views
from tests.conftest import SEED_NOW_MS

TZ = "America/New_York"
POLICY = FinalizePolicy(tz=TZ)


def test_business_days_have_23_24_and_25_hours_across_dst():
    assert len(views.hours_of_day(date(2026, 3, 8), TZ)) == 23  # spring forward
    assert len(views.hours_of_day(date(2026, 11, 1), TZ)) == 25  # fall back
    assert len(views.hours_of_day(date(2026, 11, 20), TZ)) == 24
    start, end = views.window_bounds("hourly", date(2026, 11, 1), 2, TZ)
    assert end - start == HOUR_MS
    assert start == business_day_bounds(date(2026, 11, 1), TZ)[0] + 2 * HOUR_MS


def test_same_time_yesterday_is_the_same_wall_clock_time():
    # the day after spring-forward is 23 h after the same wall time on the DST day
    now = parse_timestamp_ms("2026-03-09T14:00:00Z")  # 10:00 EDT
    then = views.same_time_yesterday(now, TZ)
    assert then == parse_timestamp_ms("2026-03-08T14:00:00Z")  # 10:00 EDT
    now = parse_timestamp_ms("2026-11-20T15:30:00Z")
    assert views.same_time_yesterday(now, TZ) == now - 24 * HOUR_MS


def test_tier_schedule_follows_the_policy():
    s = views.tier_schedule(date(2026, 11, 20), POLICY)
    assert s.preliminary_ms == business_day_bounds(date(2026, 11, 21), TZ)[0]
    assert s.final_ms == business_day_bounds(date(2026, 11, 27), TZ)[0]
    assert s.tier_due(s.start_ms) == "live"
    assert s.tier_due(s.preliminary_ms) == "preliminary"
    assert s.tier_due(s.final_ms) == "final"


def test_day_comparison_matches_the_store_queries(seeded_db):
    store = Store.open(seeded_db)
    cmp = views.day_comparison(store, SEED_NOW_MS, POLICY, "*")
    today = business_day_of(SEED_NOW_MS, TZ)
    t_start = business_day_bounds(today, TZ)[0]
    y_start = business_day_bounds(today - timedelta(days=1), TZ)[0]
    assert cmp["today_live"]["revenue_cents"] == store.latest("daily", t_start)["revenue_cents"]
    then = store.as_of("daily", y_start, "*", SEED_NOW_MS - 24 * HOUR_MS)
    assert cmp["yesterday_then"]["version"] == then["version"]
    final = store.final("daily", y_start)
    assert cmp["yesterday_latest"]["revenue_cents"] == final["revenue_cents"]
    assert cmp["yesterday_latest"]["is_final"] == final["is_final"]
    g = cmp["growth"]["revenue_cents"]
    assert g == (final["revenue_cents"] - then["revenue_cents"]) / then["revenue_cents"]


def test_day_hours_and_recent_days_carry_tiers(seeded_db):
    store = Store.open(seeded_db)
    today = business_day_of(SEED_NOW_MS, TZ)
    hours = views.day_hours(store, today - timedelta(days=8), POLICY)
    assert set(hours["tier"]) == {"final"} and len(hours) == 24
    days = views.recent_days(store, SEED_NOW_MS, POLICY, 14)
    assert days["day"].is_monotonic_increasing
    assert days.iloc[-1]["tier"] == "live" and "final" in set(days["tier"])


def test_completeness_needs_a_mature_day(seeded_db):
    store = Store.open(seeded_db)
    comp = views.day_completeness(store, SEED_NOW_MS, POLICY)
    assert comp is not None and comp.history_days >= 1
    assert 0 < comp.estimate.completeness <= 1
    assert comp.estimate.low <= comp.estimate.projected <= comp.estimate.high
    # with the mature horizon beyond the seeded history there is nothing to learn from
    assert views.day_completeness(store, SEED_NOW_MS, POLICY, mature_ms=10 * 24 * HOUR_MS) is None


def test_tier_bands_and_default_explain_pair():
    history = pd.DataFrame(
        {
            "version": [1, 2, 3, 4, 5],
            "tier": ["live", "live", "preliminary", "preliminary", "final"],
            "processing_time_ms": [10, 20, 30, 40, 50],
        }
    )
    bands = views.tier_bands(history, now_ms=99)
    assert bands.to_dict("records") == [
        {"tier": "live", "start_ms": 10, "end_ms": 30},
        {"tier": "preliminary", "start_ms": 30, "end_ms": 50},
        {"tier": "final", "start_ms": 50, "end_ms": 99},
    ]
    assert views.default_explain_pair(history) == (2, 5)
    assert views.default_explain_pair(history.iloc[:2]) == (1, 2)
    assert views.tier_bands(history.iloc[:0], 99).empty


def test_watermark_frame_marks_idle_and_the_slowest_active_source():
    status = {
        "proc_ms": 1_000_000,
        "operators": {
            "hourly": {
                "watermark_ms": 900_000,
                "per_key_watermarks_ms": {"web": 990_000, "mobile": 900_000, "partner": 10},
                "idle_keys": ["partner"],
            }
        },
    }
    wm = views.watermark_frame(status).set_index("source")
    assert wm.loc["mobile", "holding_back"] and not wm.loc["partner", "holding_back"]
    assert wm.loc["partner", "idle"] and wm.loc["web", "lag_ms"] == 10_000
    # a key below the (monotonic) global watermark does not hold it back
    assert wm.loc["mobile", "state"] == "holding the global watermark back"
    assert wm.loc["web", "state"] == "active, ahead of the global watermark"
    status["operators"]["hourly"]["watermark_ms"] = 950_000
    wm = views.watermark_frame(status).set_index("source")
    assert not wm["holding_back"].any()
    # ... and says so, instead of reading "active" under a global watermark ahead of it
    assert wm.loc["mobile", "state"] == "behind the global watermark (it never goes back)"


def test_catch_up_progress():
    target = parse_timestamp_ms("2026-11-20T15:30:00Z")
    start = business_day_bounds(date(2026, 11, 12), TZ)[0]
    status = {"catching_up": True, "catch_up_to_ms": target, "proc_ms": (start + target) // 2}
    assert abs(views.catch_up_progress(status, 8, TZ) - 0.5) < 1e-6
    assert views.catch_up_progress({"catching_up": False}, 8, TZ) is None


def test_operations_listings(seeded_db):
    store = Store.open(seeded_db)
    totals = views.ingest_totals(store)
    assert totals["balanced"] and totals["accepted"] == store.raw_event_count()
    jobs = views.jobs_view(store)
    assert len(jobs) == len(store.jobs_frame()) and (jobs["duration_ms"] >= 0).all()
    queue = views.side_output_summary(store)
    assert int(queue["events"].sum()) == len(store.late_events_frame(pending_only=True))
