"""Average and median order value and distinct users as the chart metric (issue 15):
Today's charts, the Versions timeline and table, and Reconciliation show, per window
and per version, the value over the events that version counted — cross-checked here
with ``aggregate`` (the operator's and batch jobs' definitions) over the store's own
record of those events, never with a sum of hours or sources."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from engine.runtime.finalize import _rows_by_id, business_day_bounds
from engine.store.counted import counted_metrics
from engine.store.queries import aggregate
from engine.views import reconciliation as recon
from tests.test_pages import TODAY, TZ, YESTERDAY, array, figures, frame

ROOT = Path(__file__).parents[1]
WANTED = ("avg_order_value", "median_order_value", "distinct_users")


def counted(store, series: str, start_ms: int, grp: str, version: int | None = None) -> dict:
    """The non-additive values over the events the window's version counted (the latest
    when ``version`` is None), with aggregate() over the raw rows."""
    if version is None:
        ids = store.contributed_ids(series, start_ms, grp)
    else:
        ids = {
            eid
            for (eid,) in store.conn.execute(
                "SELECT event_id FROM contributions WHERE series = ? AND window_start_ms = ? "
                "AND grp = ? AND version <= ? GROUP BY event_id HAVING sum(sign) > 0",
                (series, start_ms, grp, version),
            )
        }
    return aggregate(_rows_by_id(store, ids), metrics=WANTED)


@pytest.fixture
def app(app_env):
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)


@pytest.fixture
def store(seeded_db):
    from engine.store.db import Store

    s = Store.open(seeded_db)
    yield s
    s.close()


def test_today_charts_average_order_value_per_hour_and_day(app, store):
    at = app.run()
    at.selectbox(key="today_metric").set_value("avg_order_value_cents").run()
    assert not at.exception
    hours_fig, days_fig = figures(at)
    assert hours_fig["layout"]["yaxis"]["title"]["text"] == "Avg order value (USD)"
    start, end = business_day_bounds(TODAY, TZ)
    hours = store.windows_in_range("hourly", start, end, "*")
    want = {}
    for s in hours["window_start_ms"]:
        v = counted(store, "hourly", int(s), "*")["avg_order_value_cents"]
        hour = (int(s) - start) // 3_600_000  # no DST change on the seeded day
        want[hour] = None if v is None else v / 100
    got = {}
    for t in hours_fig["data"]:
        if t["type"] == "bar":
            got.update(zip(array(t["x"]), array(t["y"]), strict=True))
    assert set(got) == set(want)
    assert got == pytest.approx(want)
    # the days: one value per day over that day's events, not a sum or mean of hours
    y_start = business_day_bounds(YESTERDAY, TZ)[0]
    yest = counted(store, "daily", y_start, "*")["avg_order_value_cents"] / 100
    bars = {
        x: y
        for t in days_fig["data"]
        if t["type"] == "bar"
        for x, y in zip(array(t["x"]), array(t["y"]), strict=True)
    }
    assert bars[str(YESTERDAY)] == pytest.approx(yest)
    assert "Avg order value by hour" in " ".join(s.value for s in at.subheader)


def test_versions_table_and_timeline_show_distinct_users_per_version(app, store):
    at = app.run()
    at.switch_page("pages/versions.py").run()
    at.segmented_control(key="v_metric").set_value("distinct_users").run()
    assert not at.exception
    y_start = business_day_bounds(YESTERDAY, TZ)[0]
    history = store.history("daily", y_start, "*")
    table = frame(at, "Distinct users")
    want = [counted(store, "daily", y_start, "*", h["version"])["distinct_users"] for h in history]
    assert table["Distinct users"].tolist() == want
    assert len(set(want)) > 1  # late data added users: the versions differ
    timeline = figures(at)[0]
    step = next(t for t in timeline["data"] if t.get("line", {}).get("shape") == "hv")
    assert array(step["y"]) == pytest.approx(want)
    assert timeline["layout"]["yaxis"]["title"]["text"] == "Distinct users"


def test_reconciliation_median_order_value_per_stage(app, store):
    start = business_day_bounds(YESTERDAY, TZ)[0] - 8 * 86_400_000
    got = recon.reconciliation(
        store, "daily", start, start + 9 * 86_400_000, "median_order_value_cents"
    )
    assert len(got) >= 6
    for row in got.itertuples(index=False):
        for stage in ("streaming", "preliminary", "final"):
            v = getattr(row, f"{stage}_version")
            if v == v:  # not NaN
                want = counted(store, "daily", row.window_start_ms, "*", int(v))
                assert getattr(row, stage) == pytest.approx(want["median_order_value_cents"])
        assert row.latest == pytest.approx(
            counted(store, "daily", row.window_start_ms, "*")["median_order_value_cents"]
        )
    assert got["final"].notna().any() and got["streaming"].notna().any()
    # the page shows them without an error
    at = app.run()
    at.switch_page("pages/reconciliation.py").run()
    at.selectbox(key="rc_metric").set_value("median_order_value_cents").run()
    assert not at.exception


def test_counted_metrics_is_aggregate_over_every_version(store):
    """Every version of a few windows (hourly and daily, all sources and one source):
    the vectorized read equals aggregate() over the version's counted events."""
    y_start = business_day_bounds(YESTERDAY, TZ)[0]
    for series, start, grp in (
        ("daily", y_start, "*"),
        ("daily", y_start, "mobile"),
        ("hourly", y_start + 14 * 3_600_000, "*"),
    ):
        versions = [h["version"] for h in store.history(series, start, grp)]
        got = counted_metrics(store, series, grp, [(start, v) for v in versions])
        for v in versions:
            want = counted(store, series, start, grp, v)
            for m in ("avg_order_value_cents", "median_order_value_cents", "distinct_users"):
                assert got[(start, v)][m] == pytest.approx(want[m]), (series, grp, v, m)


def test_alert_rule_on_average_order_value_judges_each_window(store):
    """A rule on the average order value (always below a huge threshold) fires on every
    final day, with the value over the events the final version counted; the log shows
    it in dollars and the rule's chart has the same numbers."""
    from engine.runtime import alerts
    from engine.views import alerts as alert_views

    now = store.get_kv("runtime")["proc_ms"]
    rule = alerts.add_rule(
        store,
        alerts.AlertRule(
            metric="avg_order_value", series="daily", comparator="below", threshold=1e9
        ),
        now - 40 * 86_400_000,
    )
    report = alerts.evaluate_alerts(store, now)
    log = alert_views.log_frame(store)
    fired = log[(log["rule_id"] == rule.id) & (log["kind"] == "alert")]
    assert report.alerts >= 1 and len(fired) == report.alerts
    for row in fired.itertuples(index=False):
        want = counted(store, "daily", row.window_start_ms, "*", row.version)
        assert row.value == pytest.approx(want["avg_order_value_cents"] / 100)
        assert alert_views.shown_text("avg_order_value", row.value).startswith("$")
    timeline = alert_views.rule_timeline(store, rule, now, tz=TZ)
    for row in timeline.itertuples(index=False):
        want = counted(store, "daily", row.window_start_ms, "*", row.version)
        assert row.value == pytest.approx(want["avg_order_value_cents"] / 100)


# -- the version walk, on drawn histories -----------------------------------------------
_EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["order.placed", "page.view"]),
        st.integers(-500, 5_000),
        st.sampled_from(["u1", "u2", "u3", None]),
    ),
    min_size=1,
    max_size=12,
)
# per version: (event index, +1 add / -1 remove); a removal only of a counted event
_STEPS = st.lists(
    st.lists(st.tuples(st.integers(0, 11), st.sampled_from([1, 1, -1])), max_size=6),
    min_size=1,
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(_EVENTS, _STEPS)
@example([("order.placed", 7, None)], [[(0, 1)], [(0, -1)], [(0, 1)]])
def test_counted_metrics_walk_equals_aggregate_per_version(tmp_path_factory, events, steps):
    """Events enter and leave a window over versions (a recompute removes some); every
    version's values equal aggregate() over the events counted at that version, asked
    together (one walk) or one version at a time."""
    from engine.store.db import Store

    path = tmp_path_factory.mktemp("walk") / "w.db"
    store = Store.open(path)
    rows = [(f"e{i}", 0, 0, "web", k, t, a, 1) for i, (t, a, k) in enumerate(events)]
    store.conn.executemany(
        "INSERT INTO raw_events (event_id, event_time_ms, arrival_time_ms, source, key, "
        "event_type, amount_cents, items) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    counted: set[int] = set()
    per_version = []
    for version, step in enumerate(steps, start=1):
        touched: set[int] = set()  # a version adds or removes an event once
        for i, sign in step:
            if i >= len(events) or (sign > 0) == (i in counted) or i in touched:
                continue  # add what is not counted, remove what is
            touched.add(i)
            (counted.add if sign > 0 else counted.discard)(i)
            store.conn.execute(
                "INSERT INTO contributions (series, window_start_ms, grp, version, event_id, "
                "sign) VALUES ('daily', 0, '*', ?, ?, ?)",
                (version, f"e{i}", sign),
            )
        want = aggregate(
            [
                {
                    "event_type": events[i][0],
                    "amount_cents": events[i][1],
                    "items": 1,
                    "key": events[i][2],
                }
                for i in sorted(counted)
            ],
            metrics=WANTED,
        )
        if not counted:
            want["distinct_users"] = None  # nothing counted: no value at all
        per_version.append(want)
    store.conn.commit()
    asked = list(range(1, len(steps) + 1))
    together = counted_metrics(store, "daily", "*", [(0, v) for v in asked])
    for v, want in zip(asked, per_version, strict=True):
        alone = counted_metrics(store, "daily", "*", [(0, v)])
        for m in ("avg_order_value_cents", "median_order_value_cents", "distinct_users"):
            assert together[(0, v)][m] == pytest.approx(want[m]), (v, m)
            assert alone[(0, v)][m] == pytest.approx(want[m]), (v, m)
    store.close()
