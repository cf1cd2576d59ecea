"""A restarted simulator feed skips the days that have arrived completely and still
delivers exactly what the uninterrupted feed delivers (every scenario)."""

from __future__ import annotations

import pandas as pd
import pytest

from engine.core.timeutil import DAY_MS, HOUR_MS
from engine.sim.simulator import SCENARIOS, LiveFeed

START = 1_795_132_800_000 - 40 * DAY_MS


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_repositioned_feed_delivers_what_the_uninterrupted_one_does(scenario):
    kwargs = dict(seed=3, start_ms=START, events_per_day=300)
    whole = LiveFeed(scenario, **kwargs)
    stop = START + 38 * DAY_MS + 5 * HOUR_MS
    whole.arrivals_until(stop)
    first = whole.first_needed_day()
    assert first > 0  # weeks of history have arrived completely and are skipped

    resumed = LiveFeed(scenario, **kwargs)
    resumed.skip_to_day(first)
    resumed.arrivals_until(stop)  # already delivered
    for step in range(1, 6):
        t = stop + step * 7 * HOUR_MS
        pd.testing.assert_frame_equal(resumed.arrivals_until(t), whole.arrivals_until(t))
    assert resumed.first_needed_day() == whole.first_needed_day()


@pytest.mark.parametrize("scenario", ["steady", "partner-outage"])
def test_resumed_feed_position_delivers_what_the_uninterrupted_one_does(scenario):
    kwargs = dict(seed=4, start_ms=START, events_per_day=300)
    whole = LiveFeed(scenario, **kwargs)
    stop = START + 12 * DAY_MS + 3 * HOUR_MS
    whole.arrivals_until(stop)
    resumed = LiveFeed(scenario, **kwargs)
    resumed.resume(whole.position())
    assert resumed._next_day == whole._next_day
    for step in range(1, 6):
        t = stop + step * 9 * HOUR_MS
        pd.testing.assert_frame_equal(resumed.arrivals_until(t), whole.arrivals_until(t))


def test_runtime_restart_resumes_the_feed_without_simulating_again(seeded_db, monkeypatch):
    from engine.runtime.runtime import Runtime, RuntimeSettings
    from engine.sim.days import DayGenerator
    from tests.conftest import SEED_SETTINGS

    generated = []
    original = DayGenerator.generate_day

    def counting(self, day, n=None):
        generated.append(day)
        return original(self, day, n)

    monkeypatch.setattr(DayGenerator, "generate_day", counting)
    rt = Runtime(RuntimeSettings(db_path=str(seeded_db), **SEED_SETTINGS)).start(scheduler=False)
    try:
        assert generated == []  # the saved position holds the pending events
        assert rt.feed.feed._last_ms == rt.state["feed_pos_ms"]
    finally:
        rt.shutdown()
