"""Lateness analysis on synthetic data whose quantiles are known exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.analysis import lateness
from engine.core.timeutil import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS
from engine.sim.simulator import Simulator


def frame(delays_ms, source="web", amounts_cents=None, start_ms=1_700_000_000_000):
    delays_ms = np.asarray(delays_ms, dtype=np.int64)
    n = delays_ms.size
    event = start_ms + np.arange(n, dtype=np.int64) * 1000
    return pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "source": source,
            "amount_cents": np.full(n, 100) if amounts_cents is None else amounts_cents,
            "event_time_ms": event,
            "arrival_time_ms": event + delays_ms,
        }
    )


def test_uniform_delays_give_exact_capture_and_close_quantiles():
    # delays 1..100_000 ms, each once: capture(L) = L / 100_000 exactly
    df = frame(np.arange(1, 100_001))
    prof = lateness.lateness_profile(df, extra_points_ms=[12_345])
    assert prof.capture([SECOND_MS, 30 * SECOND_MS, 12_345], "web").tolist() == [0.01, 0.3, 0.12345]
    q = prof.quantile([0.5, 0.9, 0.99], "web")
    np.testing.assert_allclose(q, [50_000, 90_000, 99_000], rtol=0.01)
    assert prof.max_delay_ms("web") == 100_000


def test_recommendation_picks_the_smallest_human_step_reaching_the_target():
    # 99 % of events within 4 min, 1 % at 20 min: 99 % -> 5m, 99.5 % -> 30m
    delays = np.concatenate([np.full(9_900, 4 * MINUTE_MS), np.full(100, 20 * MINUTE_MS)])
    prof = lateness.lateness_profile(frame(delays))
    rec = lateness.recommend(prof, 0.99, by="count").set_index("source")
    assert rec.loc["web", "delay_budget_ms"] == 5 * MINUTE_MS
    assert rec.loc["web", "capture_count"] == pytest.approx(0.99)
    rec = lateness.recommend(prof, 0.995, by="count").set_index("source")
    assert rec.loc["web", "allowed_lateness"] == "30m"


def test_exact_boundary_counts_as_captured():
    prof = lateness.lateness_profile(frame(np.full(1_000, 5 * MINUTE_MS)))
    rec = lateness.recommend(prof, 1.0, by="count").set_index("source")
    assert rec.loc["web", "delay_budget_ms"] == 5 * MINUTE_MS


def test_value_weighting_follows_the_money():
    # 90 % of events are fast and cheap, 10 % slow (1 h) and carry 90 % of value
    delays = np.concatenate([np.full(900, SECOND_MS), np.full(100, HOUR_MS)])
    cents = np.concatenate([np.full(900, 100), np.full(100, 8_100)])
    prof = lateness.lateness_profile(frame(delays, amounts_cents=cents))
    assert prof.capture(MINUTE_MS, "web", "count")[0] == pytest.approx(0.9)
    assert prof.capture(MINUTE_MS, "web", "value")[0] == pytest.approx(0.1)
    by_value = lateness.recommend(prof, 0.99, by="value").set_index("source")
    by_count = lateness.recommend(prof, 0.5, by="count").set_index("source")
    assert by_value.loc["web", "delay_budget_ms"] == HOUR_MS
    assert by_count.loc["web", "delay_budget_ms"] == SECOND_MS


def test_refunds_weigh_by_absolute_value():
    prof = lateness.lateness_profile(frame([SECOND_MS, DAY_MS], amounts_cents=[100, -300]))
    assert prof.capture(HOUR_MS, "web", "value")[0] == pytest.approx(0.25)


def test_per_source_and_watermark_delay():
    df = pd.concat(
        [frame(np.full(1_000, 2 * SECOND_MS), "web"), frame(np.full(1_000, 3 * DAY_MS), "partner")]
    )
    rec = lateness.recommend(prof := lateness.lateness_profile(df), 0.99, by="count",
                             watermark_delay_ms=SECOND_MS).set_index("source")  # fmt: skip
    assert rec.loc["web", "delay_budget_ms"] == 2 * SECOND_MS
    assert rec.loc["web", "allowed_lateness_ms"] == SECOND_MS
    assert rec.loc["partner", "delay_budget_ms"] == 3 * DAY_MS
    assert rec.loc["all", "delay_budget_ms"] == 3 * DAY_MS  # a global setting serves the slowest
    assert rec.loc["partner", "windows_open"] > rec.loc["web", "windows_open"]
    table = lateness.capture_table(prof)
    assert table.loc["all", "1d"] == pytest.approx(0.5)


def test_negative_delays_are_captured_and_reported():
    prof = lateness.lateness_profile(frame([-HOUR_MS, SECOND_MS, 2 * SECOND_MS, 3 * SECOND_MS]))
    assert prof.capture(0, "web")[0] == pytest.approx(0.25)
    summary = lateness.summary(prof).set_index("source")
    assert summary.loc["web", "negative_share"] == pytest.approx(0.25)


def test_cost_states_wait_and_state():
    prof = lateness.lateness_profile(frame(np.full(3_601, SECOND_MS)))  # 1 event / s
    c = lateness.cost(prof, allowed_lateness_ms=2 * HOUR_MS, window_ms=HOUR_MS,
                      watermark_delay_ms=30 * SECOND_MS)  # fmt: skip
    assert c["result_wait_ms"] == 30 * SECOND_MS
    assert c["final_after_ms"] == 2 * HOUR_MS + 30 * SECOND_MS
    assert c["windows_open"] == 4
    assert c["events_per_window"] == pytest.approx(3_600, rel=0.01)


def test_dedup_keeps_first_arrival():
    df = frame([SECOND_MS, 2 * SECOND_MS])
    dup = df.iloc[[0]].assign(arrival_time_ms=df["arrival_time_ms"].iloc[0] + DAY_MS)
    prof = lateness.lateness_profile(pd.concat([df, dup]), dedup=True)
    assert prof.total("web") == 2 and prof.max_delay_ms("web") == 2 * SECOND_MS


def test_matches_numpy_on_simulated_mix():
    f = Simulator("steady", seed=3, days=3, events=200_000).frame()
    prof = lateness.lateness_profile(f)
    delay = (f["arrival_time_ms"] - f["event_time_ms"]).to_numpy()
    for src in ("web", "payment", "all"):
        d = delay if src == "all" else delay[(f["source"] == src).to_numpy()]
        np.testing.assert_allclose(
            prof.quantile([0.5, 0.9, 0.99], src), np.quantile(d, [0.5, 0.9, 0.99]), rtol=0.03
        )
        for budget in lateness.CAPTURE_POINTS_MS:
            assert prof.capture(budget, src)[0] == pytest.approx((d <= budget).mean(), abs=1e-12)


def test_drift_flags_a_source_whose_tail_moved():
    rng = np.random.default_rng(0)
    days, now = 15, 1_700_000_000_000 + 15 * DAY_MS
    n = 30_000
    event = 1_700_000_000_000 + np.sort(rng.integers(0, days * DAY_MS, n))
    recent = event > now - 1 * DAY_MS - 5 * MINUTE_MS
    mobile_delay = np.where(recent, 10, 1) * rng.exponential(MINUTE_MS, n)
    web_delay = rng.exponential(SECOND_MS, n)
    df = pd.DataFrame(
        {
            "source": np.repeat(["mobile", "web"], n),
            "amount_cents": 100,
            "event_time_ms": np.concatenate([event, event]),
            "arrival_time_ms": np.concatenate([event + mobile_delay, event + web_delay]).astype(
                np.int64
            ),
        }
    )
    out = lateness.drift(df, now, recent_days=1, baseline_days=14).set_index("source")
    assert out.loc["mobile", "flagged"] and out.loc["mobile", "direction"] == "slower"
    assert out.loc["mobile", "ratio"] == pytest.approx(10, rel=0.2)
    assert not out.loc["web", "flagged"]
