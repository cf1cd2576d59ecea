"""The simulator: calibration against the case study, reproducibility, scenarios,
record files, and the live feed agreeing with a whole-range run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.core.events import parse_event
from engine.core.timeutil import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS
from engine.sim.simulator import LiveFeed, Simulator, read_events_file, write_records

CLICKSTREAM = ("web", "api", "mobile")


@pytest.fixture(scope="module")
def clickstream() -> np.ndarray:
    sim = Simulator("steady", seed=11, sources=CLICKSTREAM, days=7, events=1_000_000)
    f = sim.frame()
    return (f["arrival_time_ms"] - f["event_time_ms"]).to_numpy()


# (quantile, target ms, relative tolerance) — 1 M events: sampling noise at
# p99.9 is ~3 %, the tolerances leave room for it and nothing more.
@pytest.mark.parametrize(
    "q, target_ms, rel",
    [
        (0.5, 2 * SECOND_MS, 0.10),
        (0.9, 30 * SECOND_MS, 0.10),
        (0.99, 5 * MINUTE_MS, 0.10),
        (0.999, 30 * MINUTE_MS, 0.15),
    ],
)
def test_clickstream_percentiles_match_the_case_study(clickstream, q, target_ms, rel):
    assert np.quantile(clickstream, q) == pytest.approx(target_ms, rel=rel)


def test_clickstream_max_is_about_72h(clickstream):
    assert 60 * HOUR_MS <= clickstream.max() <= 72 * HOUR_MS


@pytest.mark.parametrize(
    "budget_ms, share, tol",
    [
        (30 * SECOND_MS, 0.90, 0.01),
        (5 * MINUTE_MS, 0.99, 0.002),
        (30 * MINUTE_MS, 0.999, 0.0003),
        (HOUR_MS, 0.9995, 0.0002),
    ],
)
def test_clickstream_capture_table(clickstream, budget_ms, share, tol):
    assert (clickstream <= budget_ms).mean() == pytest.approx(share, abs=tol)


def test_same_seed_same_events_different_seed_different():
    a = Simulator("steady", seed=5, days=2, events_per_day=3_000).frame()
    b = Simulator("steady", seed=5, days=2, events_per_day=3_000).frame()
    c = Simulator("steady", seed=6, days=2, events_per_day=3_000).frame()
    pd.testing.assert_frame_equal(a, b)
    assert len(a) != len(c) or not a["arrival_time_ms"].equals(c["arrival_time_ms"])


def test_no_global_random_state_is_touched():
    np.random.seed(123)
    before = np.random.random()
    np.random.seed(123)
    Simulator("retries", seed=1, days=1, events_per_day=1_000).frame()
    assert np.random.random() == before


def test_frame_shape_and_order():
    f = Simulator("steady", seed=1, days=3, events=20_000).frame()
    assert len(f) == 20_000
    assert list(f.columns) == [
        "event_id", "source", "key", "event_type", "amount_cents", "amount",
        "items", "event_time_ms", "arrival_time_ms",
    ]  # fmt: skip
    assert (np.diff(f["arrival_time_ms"].to_numpy()) >= 0).all()
    assert (f["arrival_time_ms"] >= f["event_time_ms"]).all()  # no clock skew in steady
    assert f["event_id"].is_unique
    refunds = f[f["event_type"] == "order.refunded"]
    assert len(refunds) and (refunds["amount_cents"] < 0).all()
    assert set(f["source"].astype(str)) == {"web", "api", "mobile", "payment", "partner", "manual"}


def test_partner_files_arrive_the_next_morning():
    f = Simulator("steady", seed=2, sources=("partner",), days=3, events_per_day=2_000).frame()
    day = f["event_time_ms"] // DAY_MS
    arrival_day = f["arrival_time_ms"] // DAY_MS
    assert (arrival_day == day + 1).all()
    hours = (f["arrival_time_ms"] % DAY_MS) / HOUR_MS
    assert hours.between(4, 12).all()


def test_partner_outage_delays_two_files_by_two_days():
    f = Simulator(
        "partner-outage", seed=2, sources=("partner",), days=6, events_per_day=500
    ).frame()
    run_day = (f["event_time_ms"] - f["event_time_ms"].min()) // DAY_MS
    lag_days = (f["arrival_time_ms"] // DAY_MS) - (f["event_time_ms"] // DAY_MS)
    assert set(lag_days[run_day.isin([2, 3])]) == {3}
    assert set(lag_days[~run_day.isin([2, 3])]) == {1}


def test_flash_sale_weekend_value_and_on_the_day_shortfall():
    sim = Simulator("flash-sale", seed=4, days=7)  # Mon..Sun
    f = sim.frame()
    day = (f["event_time_ms"] - sim.start_ms) // DAY_MS
    end = sim.start_ms + (day + 1) * DAY_MS
    final = f.groupby(day)["amount_cents"].sum() / 100
    on_day = f[f["arrival_time_ms"] <= end].groupby(day)["amount_cents"].sum() / 100
    assert final[5] == pytest.approx(1_250_000, rel=0.1)
    assert final[6] == pytest.approx(1_250_000, rel=0.1)
    shortfall = 1 - on_day / final
    assert shortfall.between(0.05, 0.10).all()


def test_clock_skew_puts_some_events_in_the_future_and_far_past():
    f = Simulator("clock-skew", seed=3, days=2, events_per_day=50_000).frame()
    delay = f["arrival_time_ms"] - f["event_time_ms"]
    assert 0.001 < (delay < 0).mean() < 0.02
    assert (delay > 30 * DAY_MS).any()


def test_retries_repeat_event_id_with_identical_content():
    f = Simulator("retries", seed=3, days=1, events_per_day=20_000).frame()
    dup = f[f["event_id"].duplicated(keep=False)]
    assert 0.02 < f["event_id"].duplicated().mean() < 0.07
    content = ["source", "key", "event_type", "amount_cents", "items", "event_time_ms"]
    assert (dup.groupby("event_id")[content].nunique() == 1).all().all()


def test_offline_spike_makes_mobile_slower_on_the_spike_day():
    f = Simulator(
        "offline-spike", seed=3, sources=("mobile",), days=3, events_per_day=20_000
    ).frame()
    delay = f["arrival_time_ms"] - f["event_time_ms"]
    day = (f["event_time_ms"] - f["event_time_ms"].min()) // DAY_MS
    slow = delay > HOUR_MS
    assert slow[day == 1].mean() > 10 * slow[day != 1].mean()


def test_live_feed_matches_the_whole_range_run():
    sim = Simulator("steady", seed=9, days=3, events_per_day=2_000)
    feed = LiveFeed("steady", seed=9, events_per_day=2_000)
    cut = sim.start_ms + 3 * DAY_MS
    parts = [feed.arrivals_until(sim.start_ms + k * 6 * HOUR_MS) for k in range(1, 13)]
    got = pd.concat(parts, ignore_index=True)
    want = sim.frame()
    want = want[want["arrival_time_ms"] <= cut].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        got.sort_values("event_id").reset_index(drop=True),
        want.sort_values("event_id").reset_index(drop=True),
    )
    assert (np.diff(got["arrival_time_ms"].to_numpy()) >= 0).all()
    with pytest.raises(ValueError):
        feed.arrivals_until(sim.start_ms)


def test_simulator_arrivals_until_is_incremental():
    sim = Simulator("steady", seed=9, days=2, events_per_day=1_000)
    a = sim.arrivals_until(sim.start_ms + DAY_MS)
    b = sim.arrivals_until(sim.start_ms + 40 * DAY_MS)
    assert len(a) + len(b) == len(sim.frame())


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_record_files_round_trip(tmp_path, suffix):
    sim = Simulator("clock-skew", seed=1, days=1, events_per_day=500)
    frame = sim.frame()
    path = tmp_path / f"events{suffix}"
    assert write_records(frame, path) == len(frame)
    back = read_events_file(path)
    for col in ("event_time_ms", "arrival_time_ms", "amount_cents", "items"):
        assert back[col].tolist() == frame[col].tolist()
    assert back["source"].astype(str).tolist() == frame["source"].astype(str).tolist()


def test_records_parse_as_events():
    sim = Simulator("steady", seed=1, days=1, events_per_day=300)
    records = list(sim.records())
    events = list(sim.events())
    assert len(records) == len(events) == len(sim.frame())
    assert parse_event(records[0]) == events[0]
    assert records[0]["event_time"].endswith("Z")


def test_unknown_scenario_and_source_are_refused():
    with pytest.raises(ValueError, match="unknown scenario"):
        Simulator("nope")
    with pytest.raises(ValueError, match="unknown sources"):
        Simulator("steady", sources=("fax",))
