"""Downloads (issue 15): the tables Today and Versions offer hold the store's numbers —
read back from the formula-safe CSV / Parquet bytes and compared with the store's own
queries — and the pages draw their download buttons. Also: "the last 14 days" is 14
rows, a day without results included."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

from engine.core.timeutil import business_day_of
from engine.runtime.runtime import RuntimeSettings
from engine.store.db import Store
from engine.views import dashboard, export, tables
from tests.conftest import SEED_NOW_MS

ROOT = Path(__file__).resolve().parents[1]
TZ = "America/New_York"
POLICY = RuntimeSettings(db_path="unused", tz=TZ).finalize


def read_csv(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(export.csv_bytes(frame)), encoding="utf-8-sig")


def test_hours_and_days_downloads_hold_the_stores_latest_values(seeded_db):
    store = Store.open(seeded_db)
    today = business_day_of(SEED_NOW_MS, TZ)
    day = today - timedelta(days=2)
    hours = dashboard.day_hours(store, day, POLICY)
    got = read_csv(tables.day_hours_table(hours, TZ))
    start, end = dashboard.window_bounds(dashboard.DAILY, day, None, TZ)
    w = store.windows_in_range(dashboard.HOURLY, start, end, "*")
    assert len(got) == len(w) == 24
    assert (got["revenue_usd"] * 100).round().astype("int64").tolist() == w[
        "latest_revenue_cents"
    ].astype("int64").tolist()
    assert got["orders"].tolist() == w["latest_orders"].astype("int64").tolist()
    assert got["tier"].tolist() == w["latest_tier"].tolist()
    assert got["hour_start"].iloc[0].startswith(f"{day}T00:00:00-0")  # local, with offset

    days = dashboard.recent_days(store, SEED_NOW_MS, POLICY, 14)
    assert len(days) == 14 and days["day"].tolist() == [
        today - timedelta(days=k) for k in range(13, -1, -1)
    ]
    back = pd.read_parquet(io.BytesIO(export.parquet_bytes(tables.days_table(days))))
    daily = store.windows_in_range(
        dashboard.DAILY,
        dashboard.window_bounds(dashboard.DAILY, today - timedelta(days=13), None, TZ)[0],
        dashboard.window_bounds(dashboard.DAILY, today, None, TZ)[1],
        "*",
    ).set_index("window_start_ms")
    for row, start_ms in zip(back.itertuples(), days["window_start_ms"], strict=True):
        if start_ms in daily.index:
            assert round(row.revenue_usd * 100) == int(daily.loc[start_ms, "latest_revenue_cents"])
            assert row.tier == daily.loc[start_ms, "latest_tier"]
        else:
            assert row.tier == dashboard.NO_DATA and row.versions == 0
    assert dashboard.NO_DATA in set(back["tier"])  # the seeded store holds 9 days of 14


def test_version_history_and_explain_downloads_are_the_stores(seeded_db):
    store = Store.open(seeded_db)
    day = business_day_of(SEED_NOW_MS, TZ) - timedelta(days=3)
    start, _ = dashboard.window_bounds(dashboard.DAILY, day, None, TZ)
    history = store.history_frame(dashboard.DAILY, start, "*")
    got = read_csv(tables.version_history_table(history, TZ))
    assert got["version"].tolist() == list(range(1, len(history) + 1))
    assert (got["revenue_usd"] * 100).round().astype("int64").tolist() == history[
        "revenue_cents"
    ].tolist()
    assert (got["delta_revenue_usd"] * 100).round().sum() == history["revenue_cents"].iloc[-1]
    assert got["tier"].tolist() == history["tier"].tolist()

    exp = store.explain(dashboard.DAILY, start, "*", 0, int(history["version"].iloc[-1]))
    breakdown = read_csv(tables.explain_breakdown_table(exp.breakdown_frame()))
    events = read_csv(tables.explain_events_table(exp.events_frame(), TZ))
    assert round(breakdown["revenue_usd"].sum() * 100) == exp.delta["revenue_cents"]
    assert (
        round((events["amount_usd"] * events["sign"]).sum() * 100) == (exp.delta["revenue_cents"])
    )
    assert len(events) == len(exp.events_frame())


def test_today_and_versions_draw_their_download_buttons(app_env):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not at.exception
    keys = {b.key for b in at.download_button}
    assert {"today_dl_hours_csv", "today_dl_days_csv", "today_dl_days_parquet"} <= keys
    assert any("PNG" in str(c.value) for c in at.caption)
    at.switch_page("pages/versions.py").run()
    assert not at.exception
    keys = {b.key for b in at.download_button}
    assert {"v_dl_history_csv", "v_dl_breakdown_csv", "v_dl_events_csv"} <= keys
    # Δ columns read like the money next to them: "+$1,234.56", not "+1234.56"
    table = next(d.value for d in at.dataframe if "Δ revenue" in d.value.columns)
    assert all(str(v)[0] in "+−" and "$" in str(v) for v in table["Δ revenue"])


def test_job_counters_are_named_in_words_with_units():
    counts = {"versions_written": 24, "abs_diff_revenue_cents": 1240, "run_ms": 1500}
    text = tables.describe_counts(counts)
    assert text == "versions written 24, revenue differing from streaming $12.40, run time 1.5s"
    table = tables.job_results_table(
        [{"Day": "2026-11-19", "Series": "daily", "status": "completed", "job_id": 7, **counts}]
    )
    assert list(table.columns) == [
        "Day",
        "Series",
        "Status",
        "Job",
        "Versions written",
        "Revenue differing from streaming",
        "Run time",
    ]
    assert table.iloc[0]["Job"] == "#7" and "_" not in " ".join(table.columns)
