"""The first start's preview of Today against what the replay writes.

``FirstStartPreview`` answers Today's live numbers from the simulated arrivals
before the replay reaches them; once the replay is done the store must say
exactly the same (today's latest version, yesterday's version as of this time
yesterday), for every group — or the preview must have said it could not tell."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
from hypothesis import example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from engine.core.events import Event
from engine.core.operator import WindowOperator
from engine.core.spec import TriggerSpec
from engine.core.timeutil import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    business_day_bounds,
    business_day_of,
    parse_timestamp_ms,
)
from engine.runtime.first_preview import FirstStartPreview, first_start_preview, supported
from engine.runtime.pipelines import default_series
from engine.runtime.runtime import Runtime, RuntimeSettings
from engine.sim.simulator import SCENARIOS
from engine.views import dashboard
from tests.conftest import SEED_NOW_MS

TZ = "America/New_York"
GROUPS = ("*", "web", "mobile", "partner", "payment", "manual", "api")


def replayed(tmp_path, series=None, **settings):
    rt = Runtime(RuntimeSettings(db_path=str(tmp_path / "x.db"), **settings), series=series)
    rt.start(scheduler=False)
    preview = first_start_preview(rt.state, rt.series["daily"], rt.settings.tz)
    while rt.catching_up:
        rt.tick(budget_ms=10**9)
    return rt, preview


def check_against_store(rt, preview) -> int:
    """Every group's today (live) and yesterday-at-this-time values equal the
    store's, or the preview said None; returns how many it answered."""
    now = rt.state["proc_ms"]
    then = dashboard.same_time_yesterday(now, TZ)
    store, answered = rt.store(), 0
    for grp in GROUPS:
        cmp = dashboard.day_comparison(store, now, rt.settings.finalize, grp)
        for at, row in ((now, cmp["today_live"]), (then, cmp["yesterday_then"])):
            got = preview.live_at(at, grp)
            if got is None:
                continue
            answered += 1
            assert got == {m: row[m] for m in dashboard.METRICS}, (grp, at)
    return answered


@hsettings(max_examples=3)
@given(
    scenario=st.sampled_from(sorted(SCENARIOS)),
    seed=st.integers(0, 50),
    hours=st.integers(0, 24 * 7),
    minute=st.integers(0, 59),
    per_day=st.sampled_from([300, 2_000]),
    early=st.sampled_from(
        ["after-first:1", "after-first:10", "after-first:30", "per-record", "none"]
    ),
)
@example(scenario="steady", seed=7, hours=0, minute=0, per_day=2_000, early="after-first:30")
@example(scenario="clock-skew", seed=3, hours=30, minute=7, per_day=2_000, early="after-first:30")
@example(scenario="retries", seed=1, hours=100, minute=59, per_day=2_000, early="per-record")
def test_preview_equals_the_replayed_store(
    tmp_path_factory, scenario, seed, hours, minute, per_day, early
):
    now = SEED_NOW_MS + hours * HOUR_MS + minute * MINUTE_MS
    series = default_series(TZ)
    daily = series["daily"]
    kind, _, minutes = early.partition(":")
    trigger = replace(daily.trigger, early=kind, early_delay_ms=int(minutes or 0) * MINUTE_MS)
    series["daily"] = replace(daily, trigger=trigger)
    rt, preview = replayed(
        tmp_path_factory.mktemp("pv"),
        series=series,
        history_days=1,
        events_per_day=per_day,
        seed=seed,
        scenario=scenario,
        now_ms=now,
        tz=TZ,
    )
    try:
        assert preview is not None
        answered = check_against_store(rt, preview)
        if scenario != "clock-skew":  # no event times from the future: always sure
            assert answered == 2 * len(GROUPS)
        if kind == "none":  # nothing is published before the day ends
            assert preview.live_at(now) == dict.fromkeys(dashboard.METRICS)
    finally:
        rt.shutdown()


@pytest.mark.parametrize(
    "now",
    ["2026-03-10T14:10:00Z", "2026-11-03T16:45:00Z"],  # 2 days after DST begins / ends
)
def test_preview_across_a_dst_change(tmp_path, now):
    """Run days are 24 h from the feed's start, business days follow the zone: across
    a DST change they are an hour apart, and the preview must still find every event."""
    rt, preview = replayed(
        tmp_path, history_days=2, events_per_day=2_000, now_ms=parse_timestamp_ms(now), tz=TZ
    )
    try:
        assert check_against_store(rt, preview) == 2 * len(GROUPS)
    finally:
        rt.shutdown()


def test_the_default_first_start_is_previewed(tmp_path):
    """The app's own defaults (8 days at 20,000 events a day would take a while:
    a smaller day, the same series and policies)."""
    rt, preview = replayed(tmp_path, history_days=2, events_per_day=3_000, now_ms=SEED_NOW_MS)
    try:
        assert preview is not None and preview.live_at(SEED_NOW_MS)["revenue_cents"] > 0
        assert check_against_store(rt, preview) == 2 * len(GROUPS)
    finally:
        rt.shutdown()


SOURCES = ("web", "mobile", "payment", "partner")


@st.composite
def arrivals(draw):
    """Events on a one-minute grid (so arrivals tie with timers and with each other)
    over two business days, in arrival order, as the ingest would pass them on; a
    few from devices whose clocks run ahead."""
    day0 = business_day_bounds(business_day_of(SEED_NOW_MS, TZ), TZ)[0]
    n = draw(st.integers(0, 60))
    rows = []
    for i in range(n):
        event = draw(st.integers(-30, 2 * 24 * 60 - 1))  # minutes after yesterday's start
        delay = draw(st.sampled_from([-1500, -60, 0, 0, 1, 2, 5, 29, 30, 31, 90, 600]))
        rows.append(
            {
                "event_id": f"e{i}",
                "source": draw(st.sampled_from(SOURCES)),
                "event_time_ms": day0 - DAY_MS + event * MINUTE_MS,
                "arrival_time_ms": day0 - DAY_MS + (event + delay) * MINUTE_MS,
                "amount_cents": draw(st.integers(-500, 5_000)),
                "items": draw(st.integers(0, 3)),
                "event_type": draw(st.sampled_from(["order", "page_view", "refund"])),
            }
        )
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.sort_values("arrival_time_ms", kind="stable").reset_index(drop=True), day0


COLUMNS = dict.fromkeys(
    ["event_id", "source", "event_time_ms", "arrival_time_ms", "amount_cents", "items"]
    + ["event_type"]
)


@given(
    data=arrivals(),
    delay_min=st.sampled_from([1, 2, 30]),
    at_min=st.lists(st.integers(0, 2 * 24 * 60 + 60), min_size=1, max_size=6),
)
@example(  # an arrival exactly at a timer's due time goes to the next pane
    data=(
        pd.DataFrame(
            {
                "event_id": ["a", "b"],
                "source": ["web", "web"],
                "event_time_ms": [0, 0],
                "arrival_time_ms": [0, 30 * MINUTE_MS],
                "amount_cents": [100, 200],
                "items": [1, 1],
                "event_type": ["order", "order"],
            }
        ),
        None,
    ),
    delay_min=30,
    at_min=[24 * 60 + 30, 24 * 60 + 59],
)
def test_live_at_is_the_operators_last_pane(data, delay_min, at_min):
    """``live_at`` against the event-at-a-time operator on the same events."""
    frame, day0 = data
    if day0 is None:  # the explicit example: times relative to today's start
        day0 = business_day_bounds(business_day_of(SEED_NOW_MS, TZ), TZ)[0]
        frame = frame.assign(
            event_time_ms=frame["event_time_ms"] + day0,
            arrival_time_ms=frame["arrival_time_ms"] + day0,
        )
    daily = default_series(TZ)["daily"]
    spec = replace(daily, trigger=replace(daily.trigger, early_delay_ms=delay_min * MINUTE_MS))
    op = WindowOperator(spec)
    end = day0 + 2 * DAY_MS
    for row in frame.itertuples(index=False):
        op.process(Event(**row._asdict()))
    op.advance_processing_time(end)
    versions, _ = op.drain()
    preview = FirstStartPreview(frame, day0 - DAY_MS, spec, TZ)
    for minute in at_min:
        t = day0 - DAY_MS + minute * MINUTE_MS
        start = business_day_bounds(business_day_of(t, TZ), TZ)[0]
        for grp in ("*", *SOURCES):
            got = preview.live_at(t, grp)
            if got is None:
                continue
            shown = [
                v
                for v in versions
                if v.window_start_ms == start and v.group == grp and v.processing_time_ms <= t
            ]
            if not shown:
                assert got == dict.fromkeys(dashboard.METRICS), (grp, t)
                continue
            values = shown[-1].values
            want = {
                "revenue_cents": round(values["revenue"] * 100),
                "orders": values["orders"],
                "items": values["items"],
            }
            assert got == want, (grp, t)


def test_no_preview_where_it_cannot_be_sure(tmp_path):
    daily = default_series(TZ)["daily"]
    assert supported(daily, TZ)
    assert not supported(daily, "Europe/Berlin")  # days of another zone
    assert not supported(replace(daily, window=replace(daily.window, kind="week")), TZ)
    state = {"catch_up_to_ms": None}
    assert first_start_preview(state, daily, TZ) is None  # not catching up
    state = {"catch_up_to_ms": SEED_NOW_MS, "simulator": False}
    assert first_start_preview(state, daily, TZ) is None  # live data: nothing to simulate
    per_record = replace(daily, trigger=TriggerSpec(early="per-record"))
    assert supported(per_record, TZ)
