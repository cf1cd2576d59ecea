"""AppTest through the entry point for the Today, Versions and Operations pages, on the
seeded database: no exception, the labels people rely on, numbers equal to what the
store's queries return, and widgets that change what is shown.

Expected values are computed here through the engine API (``Store`` queries,
``engine.analysis.completeness``), never pasted from a run. ``run_every`` timers do not
fire in AppTest (ecosystem notes §1.10); the browser tests cover the ticking.
"""

from __future__ import annotations

import base64
import json
import socket
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from engine.analysis.completeness import estimate_window
from engine.core.timeutil import MINUTE_MS, get_zone, ms_to_datetime
from engine.runtime.finalize import business_day_bounds, business_day_of
from engine.store.db import Store
from tests.conftest import SEED_NOW_MS

ROOT = Path(__file__).parents[1]
TZ = "America/New_York"
ZONE = get_zone(TZ)
TODAY = business_day_of(SEED_NOW_MS, TZ)
YESTERDAY = TODAY - timedelta(days=1)


def money(cents: int) -> str:
    return f"${cents / 100:,.2f}"


@pytest.fixture
def app(app_env):
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)


@pytest.fixture
def store(seeded_db):
    s = Store.open(seeded_db)
    yield s
    s.close()


def metrics(at) -> dict[str, object]:
    return {m.label: m for m in at.metric}


def texts(at) -> str:
    parts = [
        e.value
        for kind in ("markdown", "caption", "info", "success", "warning")
        for e in at.get(kind)
    ]
    parts += [e.value for e in at.subheader] + [e.value for e in at.title]
    return "\n".join(parts)


def frame(at, column: str):
    """The first table holding ``column`` (AppTest does not expose a dataframe's key)."""
    for df in at.dataframe:
        if column in df.value.columns:
            return df.value
    raise KeyError(column)


def array(value) -> list:
    """Plotly 7 ships numeric arrays as typed arrays ({dtype, bdata}); decode them."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).tolist()
    return list(value)


def figures(at) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


# -- Today ------------------------------------------------------------------------------
def test_today_shows_live_numbers_labelled_with_tiers(app, store):
    at = app.run()
    assert not at.exception
    t_start = business_day_bounds(TODAY, TZ)[0]
    y_start = business_day_bounds(YESTERDAY, TZ)[0]
    live = store.latest("daily", t_start, "*")
    then_local = ms_to_datetime(SEED_NOW_MS, ZONE) - timedelta(days=1)
    then = store.as_of("daily", y_start, "*", int(then_local.timestamp() * 1000))
    yest = store.final("daily", y_start, "*")

    m = metrics(at)
    assert m["Revenue — today, live"].value == money(live["revenue_cents"])
    assert m["Orders — today, live"].value == f"{live['orders']:,}"
    assert m["Items — today, live"].value == f"{live['items']:,}"
    assert m["Revenue — yesterday at this time, live then"].value == money(then["revenue_cents"])
    assert m[f"Revenue — yesterday, {yest['tier']}"].value == money(yest["revenue_cents"])

    prelim = TODAY + timedelta(days=1)
    final = TODAY + timedelta(days=7)
    text = texts(at)
    assert (
        f"Live • updates every 5 s • preliminary tomorrow ({prelim:%a %d %b}), "
        f"final on {final:%a %d %b}" in text
    )
    assert "Today (live)" in text and "Yesterday at this time" in text
    assert f"Yesterday ({yest['tier']}" in text

    # completeness: the same model, fitted independently on the whole raw log
    bucket = SEED_NOW_MS - SEED_NOW_MS % (15 * MINUTE_MS)
    est = estimate_window(store.events_frame(), t_start, bucket)
    assert m["Completeness of today's revenue (estimate)"].value == f"{est.completeness:.0%}"
    assert m["Projected final revenue (estimate)"].value == money(round(est.projected * 100))


def test_today_hours_chart_is_coloured_by_tier_and_sums_to_the_store(app, store):
    at = app.run()
    t_start, t_end = business_day_bounds(TODAY, TZ)
    hours = store.windows_in_range("hourly", t_start, t_end, "*")
    hours_fig, days_fig = figures(at)
    bars = [t for t in hours_fig["data"] if t["type"] == "bar"]
    labels = {"live": "Live (streaming)", "preliminary": "Preliminary (T+1 batch)"}
    labels["final"] = "Final (T+7)"
    assert {t["name"] for t in bars} == {f"Today — {labels[t]}" for t in set(hours["latest_tier"])}
    assert sum(sum(array(t["y"])) for t in bars) == pytest.approx(
        hours["latest_revenue_cents"].sum() / 100
    )
    assert hours_fig["layout"]["xaxis"]["title"]["text"] == f"Hour of day ({TZ})"
    assert hours_fig["layout"]["yaxis"]["title"]["text"] == "Revenue (USD)"
    assert "tier" in hours_fig["layout"]["legend"]["title"]["text"]
    tiers_in_days = {t["name"] for t in days_fig["data"] if t["type"] == "bar"}
    assert {"Final (T+7)", "Preliminary (T+1 batch)", "Live (streaming)"} <= tiers_in_days


def test_today_source_and_metric_widgets_change_what_is_shown(app, store):
    at = app.run()
    at.selectbox(key="today_grp").set_value("web").run()
    assert not at.exception
    t_start = business_day_bounds(TODAY, TZ)[0]
    web = store.latest("daily", t_start, "web")
    assert metrics(at)["Revenue — today, live"].value == money(web["revenue_cents"])
    at.selectbox(key="today_metric").set_value("orders").run()
    hours_fig = figures(at)[0]
    assert hours_fig["layout"]["yaxis"]["title"]["text"] == "Orders"
    assert "Orders by hour" in texts(at)


# -- Versions -----------------------------------------------------------------------------
def test_versions_default_window_timeline_table_and_exact_explain(app, store):
    at = app.run()
    at.switch_page("pages/versions.py").run()
    assert not at.exception
    y_start = business_day_bounds(YESTERDAY, TZ)[0]
    history = store.history("daily", y_start, "*")
    latest = history[-1]
    m = metrics(at)
    assert m[f"Latest revenue ({latest['tier']})"].value == money(latest["revenue_cents"])
    assert m["Versions so far"].value == f"{len(history):,}"
    table = frame(at, "Δ revenue")
    assert list(table["Version"]) == [h["version"] for h in history]
    assert list(table["Tier"]) == [h["tier"] for h in history]
    assert table["Δ revenue"].tolist() == [
        ("+" if h["delta_revenue_cents"] >= 0 else "−") + money(abs(h["delta_revenue_cents"]))
        for h in history
    ]
    fig = figures(at)[0]
    assert fig["layout"]["xaxis"]["title"]["text"].startswith("Processing time")
    assert any(t.get("line", {}).get("shape") == "hv" for t in fig["data"])
    assert len(fig["layout"]["shapes"]) >= 2  # tier bands

    # Explain: by default from the last live version to the latest
    a = max(h["version"] for h in history if h["tier"] == "live")
    b = latest["version"]
    exp = store.explain("daily", y_start, "*", a, b)
    delta = exp.delta["revenue_cents"]
    assert m["Change in revenue"].value == ("+" if delta >= 0 else "−") + money(abs(delta))
    assert m["Events behind it"].value == f"{len(exp.events):,}"
    assert exp.exact and "sums exactly" in texts(at)
    breakdown = frame(at, "delay_bucket")
    assert breakdown["revenue"].sum() == pytest.approx(delta / 100)
    assert "Which number is right?" in texts(at)


def test_versions_widgets_pick_window_versions_and_as_of(app, store):
    y_start = business_day_bounds(YESTERDAY, TZ)[0]
    at = app.run()
    at.switch_page("pages/versions.py").run()
    history = store.history("daily", y_start, "*")
    wid = f"daily_{y_start}_*"
    at.selectbox(key=f"explain_a_{wid}").set_value(0).run()
    at.selectbox(key=f"explain_b_{wid}").set_value(1).run()
    assert not at.exception
    first = history[0]
    assert metrics(at)["Change in revenue"].value == "+" + money(first["revenue_cents"])

    # as of: noon yesterday
    from datetime import time

    at.date_input(key=f"asof_day_{wid}").set_value(YESTERDAY).run()
    at.time_input(key=f"asof_time_{wid}").set_value(time(12, 0)).run()
    noon = int(ms_to_datetime(y_start, ZONE).replace(hour=12).timestamp() * 1000)  # 12:00 local
    shown = store.as_of("daily", y_start, "*", noon)
    m = metrics(at)
    label = next(k for k in m if k.startswith("Shown at"))
    assert m[label].value == money(shown["revenue_cents"])
    assert m[label].delta.startswith(f"v{shown['version']} · {shown['tier']}")


def test_versions_deep_link_selects_an_hourly_window_per_source(app, store):
    app.query_params["grain"] = "Hour"
    app.query_params["source"] = "payment"
    app.query_params["day"] = str(YESTERDAY)
    app.query_params["hour"] = "09:00"
    at = app.run()
    at.switch_page("pages/versions.py").run()
    assert not at.exception
    start = business_day_bounds(YESTERDAY, TZ)[0] + 9 * 3_600_000
    history = store.history("hourly", start, "payment")
    table = frame(at, "Δ revenue")
    assert list(table["Version"]) == [h["version"] for h in history]
    assert "payment · " in texts(at) and "09:00" in texts(at)


# -- Operations ----------------------------------------------------------------------------
def test_operations_shows_watermarks_jobs_and_balanced_ingest(app, store):
    at = app.run()
    at.switch_page("pages/operations.py").run()
    assert not at.exception
    text = texts(at)
    for label in ("Simulator controls", "Pipeline now", "Watermarks per source", "Idle keys"):
        assert label in text
    wm = frame(at, "State")
    sources = set(store.events_frame()["source"])
    assert set(wm["Source"]) == sources
    assert (wm["State"] == "holding the global watermark back").sum() <= 1
    jobs = frame(at, "Job")
    assert list(jobs["Job"]) == list(store.jobs_frame(limit=200)["id"])
    ingests = store.ingests_frame(limit=100_000)
    m = metrics(at)
    assert m["Rows read"].value == f"{int(ingests['rows_read'].sum()):,}"
    assert m["Accepted (raw log)"].value == f"{store.raw_event_count():,}"
    assert "Nothing lost" in text
    assert m["Side-output queue"].value == str(len(store.late_events_frame(pending_only=True)))


def test_operations_controls_pause_speed_and_jobs(app, store):
    at = app.run()
    at.switch_page("pages/operations.py").run()
    at.button(key="ops_pause").click().run()
    assert not at.exception
    assert at.button(key="ops_resume")  # the control flipped
    assert "paused" in at.sidebar.caption[1].value
    assert store.get_kv("runtime")["paused"] is True  # the runtime saved it
    at.select_slider(key="ops_speed").set_value(600).run()
    assert store.get_kv("runtime")["speed"] == 600
    at.button(key="ops_resume").click().run()
    assert store.get_kv("runtime")["paused"] is False

    # a finalization asks first, then runs; one that already ran is skipped (idempotent)
    at.button(key="ops_fin_run").click().run()
    assert not at.status, "a click only opens the confirmation"
    assert any("Recompute" in m.value for m in at.markdown)
    at.button(key="ops_fin_run__confirm").click().run()
    assert not at.exception
    assert at.status[0].state == "complete"
    res = frame(at, "Day")
    assert set(res["Status"]) == {"skipped"}, res.to_dict("records")
    assert "Already done by job" in res.columns  # counters in words, not raw names

    # reprocessing yesterday writes one job per series
    before = len(store.jobs_frame(limit=10_000, kind="reprocessing"))
    at.date_input(key="ops_rep_days").set_value((YESTERDAY, YESTERDAY)).run()
    at.button(key="ops_rep_run").click().run()
    assert [t.value for t in at.text] == ["manual reprocessing"]  # the reason, literally
    at.button(key="ops_rep_run__confirm").click().run()
    assert not at.exception
    res = frame(at, "Day")
    assert set(res["Status"]) == {"completed"}
    assert len(store.jobs_frame(limit=10_000, kind="reprocessing")) == before + len(res)


def test_operations_cancel_and_read_only(app, store, monkeypatch):
    at = app.run()
    at.switch_page("pages/operations.py").run()
    jobs = len(store.jobs_frame(limit=10_000))
    at.button(key="ops_rep_run").click().run()
    at.button(key="ops_rep_run__cancel").click().run()
    assert not at.status and len(store.jobs_frame(limit=10_000)) == jobs

    monkeypatch.setenv("LATEWATCH_ADMIN_PASSWORD", "pw")
    at.run()
    for key in ("ops_pause", "ops_fin_run", "ops_rep_run"):
        assert at.button(key=key).disabled, key
    assert at.select_slider(key="ops_speed").disabled
    assert at.selectbox(key="ops_scenario").disabled
    assert store.get_kv("runtime")["paused"] is False


# -- first start ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "page",
    [
        "pages/today.py",
        "pages/versions.py",
        "pages/operations.py",
        "pages/whatif.py",
        "pages/lateness.py",
        "pages/alerts.py",
    ],
)
def test_pages_explain_the_catching_up_state_on_a_fresh_database(page, tmp_path, monkeypatch):
    monkeypatch.setenv("LATEWATCH_DB", str(tmp_path / "fresh.db"))
    monkeypatch.setenv("LATEWATCH_SCHEDULER", "off")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    at.switch_page(page).run()
    assert not at.exception
    text = texts(at)
    assert "Catching up" in text, text
    assert "Pick an earlier day" not in text and "No events in this range" not in text


def test_operations_names_interrupted_and_failed_ingests(app, store):
    """An ingest left 'running' by a process that died is marked 'interrupted' on the
    next start, and the Operations page says so (with the status column)."""
    with store.transaction():
        store.conn.execute(
            "INSERT INTO ingests (source_name, file, started_ms, status, owner) "
            "VALUES ('cli', 'crashed.csv', 0, 'running', ?)",
            (f"{socket.gethostname()}:{2**22 + 12345}",),  # above pid_max: never alive
        )
    assert store.mark_interrupted_ingests(0) >= 1
    at = app.run()
    at.switch_page("pages/operations.py").run()
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "interrupted" in warnings
    tables = [d.value for d in at.dataframe if "file" in d.value and "status" in d.value]
    assert tables, "the ingest table is shown"
    rows = tables[0][tables[0]["file"] == "crashed.csv"]
    assert list(rows["status"]) == ["interrupted"]


def test_today_shows_the_replayed_day_while_the_first_start_catches_up(tmp_path, monkeypatch):
    """During the first-start replay Today shows real numbers: the day being replayed,
    as the store holds it at the replay's position (not a placeholder, not 'today')."""
    import os

    from engine.runtime.config_apply import settings_from_env
    from engine.runtime.runtime import Runtime
    from engine.views import dashboard
    from ui.format import fmt_money

    monkeypatch.setenv("LATEWATCH_DB", str(tmp_path / "replay.db"))
    monkeypatch.setenv("LATEWATCH_SCHEDULER", "off")
    rt = Runtime(settings_from_env(dict(os.environ))).start(scheduler=False)
    start = rt.state["feed_start_ms"]
    while (rt.state.get("proc_ms") or start) < start + 30 * 3_600_000:
        rt.tick(budget_ms=200)
    assert rt.catching_up
    proc = rt.state["proc_ms"]
    want = dashboard.day_comparison(rt.store(), proc, rt.settings.finalize, "*")["today_live"]
    rt.shutdown()
    assert want["revenue_cents"], "the replayed day has live numbers by then"
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    at.switch_page("pages/today.py").run()
    assert not at.exception
    assert "Catching up" in texts(at)
    shown = {m.label: m.value for m in at.metric}
    day = ms_to_datetime(proc, get_zone(rt.settings.tz))
    label = f"Revenue — {day:%a %d %b}, live then"
    assert shown.get(label) == fmt_money(want["revenue_cents"]), shown
    # and today's live numbers ahead of the replay (tests/test_first_preview.py holds
    # the preview equal to what the replay writes)
    ahead = dashboard.preview_comparison(
        rt.first_start_preview(), rt.state["catch_up_to_ms"], rt.settings.tz
    )
    assert ahead["today_live"]["revenue_cents"]
    assert "Today (live, ahead of the replay)" in texts(at)
    assert shown["Revenue — today, live"] == fmt_money(ahead["today_live"]["revenue_cents"])
    # the business-day picker says which day "today" is: the one the replay catches up to
    today = business_day_of(rt.state["catch_up_to_ms"], rt.settings.tz)
    assert [d.value for d in at.date_input] == [today]
