"""The Lateness page through the entry point, on the seeded database: it runs without an
exception, shows the key sections, and its tables and chart hold exactly what
``engine.analysis.lateness_report`` computes for the same store, range and settings."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.analysis.lateness_report import lateness_report, range_end_ms
from engine.core.timeutil import DAY_MS, HOUR_MS
from engine.store.db import Store

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def paused_runtime(app_env):
    """The page's runtime (the same cached object AppTest's runs get), with its
    simulated clock paused so the page and the test ask about the same range."""
    from ui.runtime import get_runtime

    rt = get_runtime()
    rt.pause()
    return rt


def expected(rt, days=14, by="value", target=0.99, window_ms=DAY_MS, mature_days=None):
    store = Store.open(rt.settings.db_path)
    to_ms = range_end_ms(rt.now_ms())
    from_ms = to_ms - days * DAY_MS
    return lateness_report(
        store.events_frame(from_ms, to_ms, by="arrival_time"),
        store.events_frame(from_ms, to_ms, by="event_time"),
        from_ms,
        to_ms,
        target,
        by,
        window_ms,
        rt.settings.tz,
        mature_ms=None if mature_days is None else mature_days * DAY_MS,
    )


def plotly_array(value) -> list:
    """Plotly 7 sends numeric arrays as typed base64 ({'dtype', 'bdata'}); lists stay lists."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).tolist()
    return list(value)


def lateness_page():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.run()
    at.switch_page("pages/lateness.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_lateness_page_shows_what_the_engine_computes(paused_runtime):
    at = lateness_page()
    report = expected(paused_runtime)
    assert report.events > 0

    assert at.title[0].value == "Lateness"
    assert [s.value for s in at.subheader] == [
        "Arrival delay per source",
        "Capture: share arriving within a delay budget",
        "Recommended allowed lateness for 99.0% capture",
        "Drift: last day against the days before",
        "Completeness projections, backtested",
    ]
    assert any(f"{report.events:,} events arrived" in c.value for c in at.caption)
    # the range ends at the last full hour, never after the clock (it said 12:00 at 11:01)
    now = paused_runtime.now_ms()
    assert now - HOUR_MS < report.to_ms <= now

    summary, capture, recs, drift = (at.dataframe[i].value for i in range(4))
    assert summary["source"].tolist() == report.summary["source"].tolist()
    assert summary["events"].tolist() == report.summary["events"].tolist()
    pd.testing.assert_frame_equal(
        capture.reset_index(drop=True), report.capture.reset_index(), check_dtype=False
    )
    assert recs["allowed_lateness"].tolist() == report.recommendations["allowed_lateness"].tolist()
    assert recs["capture_value"].tolist() == pytest.approx(
        report.recommendations["capture_value"].tolist()
    )
    assert drift["flagged"].tolist() == report.drift["flagged"].tolist()
    assert drift["recent_events"].tolist() == report.drift["recent_events"].tolist()

    # 8 days of history cannot backtest against 7-day finals: 'auto' picks a shorter horizon
    assert report.mature != "7d" and not report.backtest.empty
    assert any(f"counts as final after {report.mature}" in c.value for c in at.caption)
    backtest = at.dataframe[4].value
    assert backtest["age"].tolist() == report.backtest["age"].tolist()
    assert backtest["windows"].tolist() == report.backtest["windows"].tolist()

    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = [t.get("name") for t in chart["data"] if t.get("name")]
    assert set(report.sources) | {"all sources"} <= set(names)
    assert {"p50 marker", "p90 marker", "p99 marker", "p99.9 marker"} <= set(names)
    layout = chart["layout"]
    assert layout["xaxis"]["type"] == "log"
    assert layout["xaxis"]["title"]["text"] == "Arrival delay (log scale)"
    assert layout["yaxis"]["title"]["text"] == "Share of value arrived"
    lines = {t["name"]: t for t in chart["data"] if t.get("mode") == "lines"}
    web = report.curves[report.curves["source"] == "web"]
    assert plotly_array(lines["web"]["y"]) == pytest.approx(web["share"].tolist())
    assert plotly_array(lines["web"]["x"]) == pytest.approx(web["delay_s"].tolist())


def test_lateness_page_widgets_change_the_analysis(paused_runtime):
    """Count weighting, a 90 % target, hourly windows and a fixed 3-day horizon; then a
    7-day horizon, which 8 days of history cannot check: the page says so."""
    at = lateness_page()
    at.radio(key="lateness_by").set_value("count")
    at.selectbox(key="lateness_target").set_value(0.9)
    at.radio(key="lateness_window").set_value(HOUR_MS)
    at.selectbox(key="lateness_mature").set_value(3)
    at.run()
    assert not at.exception
    report = expected(paused_runtime, by="count", target=0.9, window_ms=HOUR_MS, mature_days=3)
    assert "Recommended allowed lateness for 90.0% capture" in [s.value for s in at.subheader]
    recs = at.dataframe[2].value
    assert recs["allowed_lateness"].tolist() == report.recommendations["allowed_lateness"].tolist()
    assert set(recs["weighted_by"]) == {"count"}
    assert not report.backtest.empty
    backtest = at.dataframe[4].value
    assert backtest["age"].tolist() == report.backtest["age"].tolist()
    assert backtest["windows"].tolist() == report.backtest["windows"].tolist()
    assert backtest["median_abs_pct_error"].tolist() == pytest.approx(
        report.backtest["median_abs_pct_error"].tolist()
    )

    at.selectbox(key="lateness_mature").set_value(7).run()
    assert expected(
        paused_runtime, by="count", target=0.9, window_ms=HOUR_MS, mature_days=7
    ).backtest.empty
    assert any("Not enough history yet" in i.value for i in at.info)


def test_events_frame_reads_only_the_columns_asked_for(seeded_db):
    """The Lateness page reads four columns of weeks of events; they must be exactly
    those columns of the full read, rows in the same order."""
    import pandas as pd
    import pytest

    from engine.store.db import Store

    store = Store.open(seeded_db)
    full = store.events_frame(by="arrival_time")
    cols = ["source", "amount_cents", "event_time_ms", "arrival_time_ms"]
    part = store.events_frame(by="arrival_time", columns=cols)
    assert list(part.columns) == cols and len(part) == len(full) > 0
    pd.testing.assert_frame_equal(part, full[cols])
    with pytest.raises(ValueError):
        store.events_frame(columns=["seq; DROP TABLE raw_events"])


def test_lateness_reads_what_arrived_and_what_happened_in_one_read(seeded_db):
    """The page's one read, split, equals the two reads it replaced (by arrival time
    and by event time), rows in log order."""
    import pandas as pd

    from engine.store.db import Store
    from engine.views.lateness import ANALYSED_COLUMNS, range_events

    store = Store.open(seeded_db)
    full = store.events_frame()
    lo = int(full["event_time_ms"].quantile(0.3))
    hi = int(full["arrival_time_ms"].quantile(0.9))
    arrived, happened = range_events(store, lo, hi)
    cols = list(ANALYSED_COLUMNS)
    want_a = store.events_frame(lo, hi, by="arrival_time", columns=cols)
    want_h = store.events_frame(lo, hi, by="event_time", columns=cols)
    assert len(want_a) and len(want_h) and len(want_a) != len(want_h)
    pd.testing.assert_frame_equal(arrived, want_a)
    pd.testing.assert_frame_equal(happened, want_h)
