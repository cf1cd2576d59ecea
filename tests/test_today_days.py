"""Any day on Today (issue 15): a picked past day shows that day's numbers with its tier
and versions, next to the day before and the same weekday a week earlier (values from
the store's own ``final``/``history``); live Today adds the same weekday last week at
this time and week over week (cross-checked against ``recent_days``)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from streamlit.testing.v1 import AppTest

from engine.core.timeutil import business_day_bounds, business_day_of
from engine.runtime.runtime import RuntimeSettings
from engine.store.db import Store
from engine.views import dashboard
from engine.views import days as day_views
from tests.conftest import SEED_NOW_MS

ROOT = Path(__file__).resolve().parents[1]
TZ = "America/New_York"
POLICY = RuntimeSettings(db_path="unused", tz=TZ).finalize
TODAY = business_day_of(SEED_NOW_MS, TZ)


def money(cents) -> str:
    return f"${cents / 100:,.2f}"


def metric_values(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_a_picked_day_shows_that_days_values_tier_and_versions(app_env):
    store = Store.open(app_env)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not at.exception
    day = TODAY - timedelta(days=7)  # final in the seeded store
    at.date_input(key="date").set_value(day).run()
    assert not at.exception
    start = business_day_bounds(day, TZ)[0]
    best = store.final(dashboard.DAILY, start, "*")
    before = store.final(dashboard.DAILY, business_day_bounds(day - timedelta(days=1), TZ)[0], "*")
    assert best["is_final"]
    m = metric_values(at)
    assert m["Revenue — final"] == money(best["revenue_cents"])
    assert m["Orders — final"] == f"{best['orders']:,}"
    assert m["Revenue — the day before"] == money(before["revenue_cents"])
    texts = "\n".join(str(x.value) for x in (*at.markdown, *at.caption, *at.info))
    assert "final since" in texts and "never changes again" in texts
    assert f"{len(store.history(dashboard.DAILY, start, '*')):,} versions" in texts
    assert "Today (live)" not in texts  # the live panel is not drawn for a past day

    # a day with nothing recorded says so instead of showing zeros as numbers
    at.date_input(key="date").set_value(TODAY - timedelta(days=12)).run()
    assert not at.exception
    assert any("no results" in str(i.value) for i in at.info)
    assert metric_values(at)["Revenue — no data"] == "—"

    at.date_input(key="date").set_value(TODAY).run()
    assert "Today (live)" in "\n".join(str(x.value) for x in at.markdown)


def test_week_comparison_agrees_with_recent_days(seeded_db):
    store = Store.open(seeded_db)
    week = day_views.week_comparison(store, SEED_NOW_MS, POLICY)
    recent = dashboard.recent_days(store, SEED_NOW_MS, POLICY, 7)
    assert week["week"]["revenue_cents"] == recent["revenue_cents"].sum()
    assert week["week"]["days"] == (recent["tier"] != dashboard.NO_DATA).sum()
    shown = store.as_of(
        dashboard.DAILY,
        business_day_bounds(TODAY - timedelta(days=7), TZ)[0],
        "*",
        week["then_ms"],
    )
    assert week["last_week_then"]["revenue_cents"] == shown["revenue_cents"]
    assert week["then_ms"] == SEED_NOW_MS - 7 * 86_400_000  # no DST change in between
    assert week["wow"]["revenue_cents"] is None  # the seeded store has 9 days, not 14


def test_live_today_shows_last_week_at_this_time(app_env):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not at.exception
    m = metric_values(at)
    assert "Revenue — same day last week at this time" in m
    assert any("Week over week" in str(c.value) for c in at.caption)


def test_non_additive_metrics_are_a_recompute_of_what_had_arrived(seeded_db):
    """Cross-checked with plain pandas over the raw log (not the engine's aggregate)."""
    from engine.views import more_metrics

    store = Store.open(seeded_db)
    table = more_metrics.comparison_table(store, SEED_NOW_MS, POLICY)
    table = table.set_index(table["Day"].str.replace(r" \(.*\)$", "", regex=True))
    events = store.events_frame()
    for label, day, by in (
        ("Today so far", TODAY, SEED_NOW_MS),
        ("Yesterday, this time", TODAY - timedelta(days=1), SEED_NOW_MS - 86_400_000),
        ("Yesterday, all to now", TODAY - timedelta(days=1), SEED_NOW_MS),
    ):
        start, end = business_day_bounds(day, TZ)
        ev = events[
            (events["event_time_ms"] >= start)
            & (events["event_time_ms"] < end)
            & (events["arrival_time_ms"] <= by)
        ]
        orders = ev.loc[ev["event_type"] == "order.placed", "amount_cents"]
        row = table.loc[label]
        assert row["Events"] == len(ev)
        assert row["Distinct users"] == ev["key"].nunique()
        assert row["Average order value"] == round(orders.mean() / 100, 2)
        assert row["Median order value"] == round(orders.median() / 100, 2)
    assert (
        table.loc["Yesterday, this time", "Events"] < table.loc["Yesterday, all to now", "Events"]
    )


def test_today_shows_the_non_additive_metrics(app_env):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not at.exception
    table = next(d.value for d in at.dataframe if "Median order value" in d.value.columns)
    assert table["Day"].tolist()[0].startswith("Today so far (")


def test_the_day_picker_follows_today_when_today_moves_on(app_env):
    """A picker left on its default follows "today" when the replay reaches the present
    (or midnight passes); it must not pin the page to the day the replay was on."""
    from datetime import timedelta
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).parents[1] / "app.py"), default_timeout=60)
    at.run()
    today = at.session_state["date_default"]
    # as if the page had first been drawn while the replay was a day behind
    at.session_state["date"] = today - timedelta(days=1)
    at.session_state["date_default"] = today - timedelta(days=1)
    at.run()
    assert not at.exception
    assert at.session_state["date"] == today
    # a day the viewer picked stays picked
    at.session_state["date"] = today - timedelta(days=2)
    at.run()
    assert at.session_state["date"] == today - timedelta(days=2)
