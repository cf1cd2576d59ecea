"""The HTTP API answers with the store's own numbers, refuses what it cannot read,
and lets only keyed clients write.

Every expected value is computed here through the ``Store`` query functions (or
engine.analysis.lateness) on the seeded database — never pasted — so the tests say "the
API shows what the store holds", whatever the seeded history contains.
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from engine.analysis import lateness
from engine.api.app import create_app
from engine.core.timeutil import DAY_MS, HOUR_MS, format_ms
from engine.runtime.clock import FakeClock
from engine.store.db import Store
from tests.conftest import SEED_NOW_MS

KEY = "test-key-1"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def read_db(seeded_db_template, tmp_path_factory):
    """One copy of the seeded database for all read-only tests of this module."""
    path = tmp_path_factory.mktemp("api_read") / "latewatch.db"
    shutil.copy(seeded_db_template, path)
    return path


@pytest.fixture(scope="module")
def client(read_db):
    with TestClient(create_app(read_db, clock=FakeClock(SEED_NOW_MS), api_keys=[KEY])) as c:
        yield c


@pytest.fixture(scope="module")
def store(read_db):
    with Store.open(read_db) as s:
        yield s


def _windows(store, series, grp="*"):
    return store.windows_in_range(series, SEED_NOW_MS - 30 * DAY_MS, SEED_NOW_MS + DAY_MS, grp)


def _pick(store, series, final: bool, min_versions: int = 2) -> dict:
    frame = _windows(store, series)
    rows = frame[(frame["is_final"] == final) & (frame["versions"] >= min_versions)]
    assert len(rows), f"seeded {series} has no {'final' if final else 'open'} window"
    r = rows.iloc[len(rows) // 2]
    return {"start": int(r["window_start_ms"]), "end": int(r["window_end_ms"])}


# -- /metrics ----------------------------------------------------------------------------------
def test_latest_final_as_of_equal_the_store(client, store):
    w = _pick(store, "daily", final=True)
    iso = format_ms(w["start"])
    latest = store.latest("daily", w["start"], "*")
    r = client.get("/metrics/revenue_cents", params={"window": iso, "series": "daily"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["value"] == latest["revenue_cents"]
    assert body["version"] == latest["version"]
    assert body["tier"] == latest["tier"] == "final" and body["is_final"]
    assert body["event_count"] == latest["event_count"]
    assert body["computed_at_ms"] == latest["processing_time_ms"]
    assert body["staleness_ms"] == SEED_NOW_MS - latest["processing_time_ms"]
    assert body["completeness"] is None  # a final window needs no estimate

    final = store.final("daily", w["start"], "*")
    r = client.get("/metrics/orders", params={"window": iso, "series": "daily", "version": "final"})
    assert r.json()["value"] == final["orders"] and r.json()["label"] == final["label"]

    history = store.history("daily", w["start"], "*")
    t = history[len(history) // 2]["processing_time_ms"]
    expected = store.as_of("daily", w["start"], "*", t)
    r = client.get(
        "/metrics/revenue_cents",
        params={"window": w["start"], "series": "daily", "version": format_ms(t)},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["value"]) == (
        expected["version"],
        expected["revenue_cents"],
    )
    assert r.json()["superseded"] == (expected["version"] < latest["version"])


def test_open_window_is_labelled_and_estimated(client, store):
    w = _pick(store, "hourly", final=False)
    latest = store.latest("hourly", w["start"], "*")
    r = client.get(
        "/metrics/revenue_cents",
        params={"window": f"{format_ms(w['start'])}/{format_ms(w['end'])}", "version": "final"},
    )
    body = r.json()
    assert r.status_code == 200
    assert body["value"] == latest["revenue_cents"] and not body["is_final"]
    assert body["label"].endswith("(not final)") and "not final yet" in body["note"]
    comp = body["completeness"]
    assert comp is not None and comp["as_of"] == format_ms(SEED_NOW_MS)
    if comp["estimate"] is not None:
        assert 0 < comp["estimate"] <= 1
        assert comp["projected_final"] >= comp["observed_revenue_cents"]


@pytest.mark.parametrize("group", ["*", "web"])
def test_completeness_equals_the_model_fitted_on_the_events_frame(client, store, group):
    """The API bins arrival curves and sums the window's value in SQL; the figures must
    be those of the frame path (events -> window_arrivals -> fit -> project)."""
    from engine.analysis.arrivals import window_arrivals
    from engine.analysis.completeness import MATURE_MS, CompletenessModel
    from engine.api.views import HISTORY_WINDOWS

    w = _pick(store, "hourly", final=False)
    r = client.get(
        "/metrics/revenue_cents",
        params={"window": format_ms(w["start"]), "group": group, "series": "hourly"},
    )
    assert r.status_code == 200, r.text
    comp = r.json()["completeness"]
    fit_now = SEED_NOW_MS - SEED_NOW_MS % 60_000
    window_ms = w["end"] - w["start"]
    sources = None if group == "*" else [group]
    past = store.events_frame(
        fit_now - MATURE_MS - (HISTORY_WINDOWS + 1) * window_ms, fit_now - MATURE_MS, sources
    )
    past = past[past["arrival_time_ms"] <= fit_now]
    assert len(past), "the seeded store has no mature history to fit"
    model = CompletenessModel.fit(
        window_arrivals(past, window_ms, offset_ms=w["start"] % window_ms),
        fit_now,
        HISTORY_WINDOWS,
        MATURE_MS,
        measure_coverage=True,
    )
    part = store.events_frame(w["start"], w["end"], sources)
    part = part[part["arrival_time_ms"] <= SEED_NOW_MS]
    observed = part.groupby(part["source"].astype(str))["amount_cents"].sum().to_dict()
    est = model.project(observed, w["start"], SEED_NOW_MS)
    assert comp["history_windows"] == model.history_windows
    assert comp["estimate"] == pytest.approx(est.completeness, rel=1e-12)
    assert comp["observed_revenue_cents"] == round(est.observed * 100) == sum(observed.values())
    assert comp["projected_revenue_cents"] == round(est.projected * 100)
    assert comp["projected_revenue_low_cents"] == round(est.low * 100)
    assert comp["projected_revenue_high_cents"] == round(est.high * 100)
    assert comp["interval_measured_coverage"] == pytest.approx(est.coverage)


def test_history_with_deltas(client, store):
    w = _pick(store, "daily", final=True, min_versions=3)
    r = client.get(
        "/metrics/items",
        params={"window": w["start"], "series": "daily", "include_history": "true"},
    )
    expected = store.history("daily", w["start"], "*")
    got = r.json()["history"]
    assert [h["version"] for h in got] == [e["version"] for e in expected]
    assert [h["delta"] for h in got] == [e["delta_items"] for e in expected]
    assert [h["tier"] for h in got] == [e["tier"] for e in expected]


def test_per_source_group(client, store):
    frame = _windows(store, "hourly", "web")
    ws = int(frame["window_start_ms"].iloc[-5])
    r = client.get("/metrics/events", params={"window": ws, "group": "web"})
    assert r.json()["value"] == store.latest("hourly", ws, "web")["events"]


def test_compare_equals_store_compare(client, store):
    w = _pick(store, "daily", final=True)
    r = client.get(
        "/metrics/revenue_cents/compare",
        params={"window": format_ms(w["start"]), "series": "daily", "a": "first", "b": "final"},
    )
    assert r.status_code == 200, r.text
    final = store.final("daily", w["start"], "*")
    expected = store.compare("daily", w["start"], "*", 1, final["version"])["metrics"]
    assert r.json()["change"] == expected["revenue_cents"]
    assert r.json()["metrics"]["orders"] == expected["orders"]
    assert (r.json()["a"]["version"], r.json()["b"]["version"]) == (1, final["version"])


def test_compare_against_missing_final_is_404(client, store):
    w = _pick(store, "hourly", final=False)
    r = client.get("/metrics/revenue_cents/compare", params={"window": w["start"], "b": "final"})
    assert r.status_code == 404 and "not final" in r.json()["detail"]


def test_explain_sums_to_the_delta(client, store):
    w = _pick(store, "daily", final=True, min_versions=3)
    final = store.final("daily", w["start"], "*")
    r = client.get(
        "/metrics/revenue_cents/explain",
        params={"window": w["start"], "series": "daily", "a": "1", "b": "final"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    exp = store.explain("daily", w["start"], "*", 1, final["version"])
    assert body["delta"] == exp.delta["revenue_cents"]
    assert sum(row["value"] for row in body["breakdown"]) + body["unexplained"] == body["delta"]
    assert body["exact"] == exp.exact
    assert body["events_total"] == len(exp.events) and len(body["events"]) <= 50
    assert {(b["source"], b["delay_bucket"]) for b in body["breakdown"]} == {
        (b["source"], b["delay_bucket"]) for b in exp.breakdown
    }


def test_explain_refuses_reversed_and_non_additive(client, store):
    w = _pick(store, "daily", final=True, min_versions=3)
    r = client.get(
        "/metrics/revenue_cents/explain",
        params={"window": w["start"], "series": "daily", "a": "latest", "b": "first"},
    )
    assert r.status_code == 422
    r = client.get("/metrics/distinct_users/explain", params={"window": w["start"]})
    assert r.status_code == 422


# -- /windows ----------------------------------------------------------------------------------
def test_windows_pages_cover_the_range(client, store):
    lo, hi = SEED_NOW_MS - 2 * DAY_MS, SEED_NOW_MS
    expected = store.windows_in_range("hourly", lo, hi, "*")
    params = {"from": format_ms(lo), "to": format_ms(hi), "grain": "hour", "limit": 7}
    by_cursor, cursor = [], None
    while True:
        page = client.get("/windows", params=params | ({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200, page.text
        by_cursor += page.json()["windows"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    by_offset, offset = [], 0
    while offset is not None:
        page = client.get("/windows", params=params | {"offset": offset}).json()
        by_offset += page["windows"]
        offset = page["next_offset"]
    starts = [int(s) for s in expected["window_start_ms"]]
    assert [w["window"]["start_ms"] for w in by_cursor] == starts
    assert by_offset == by_cursor
    for got, (_, row) in zip(by_cursor, expected.iterrows(), strict=True):
        assert got["latest"]["values"]["revenue_cents"] == row["latest_revenue_cents"]
        assert got["latest"]["tier"] == row["latest_tier"] and got["is_final"] == row["is_final"]
        if row["is_final"]:
            assert got["final"]["values"]["revenue_cents"] == row["final_revenue_cents"]


def test_windows_answers_are_reused_only_while_no_version_is_written(seeded_db):
    """/windows keeps its answers keyed on the newest version id: a repeat is the same
    answer a fresh server gives, and a version written in between shows at once."""
    from engine.store.versions import NewVersion

    lo, hi = SEED_NOW_MS - 12 * HOUR_MS, SEED_NOW_MS
    params = {"from": format_ms(lo), "to": format_ms(hi), "grain": "hour", "limit": 50}

    def fresh() -> dict:
        app = create_app(seeded_db, clock=FakeClock(SEED_NOW_MS), api_keys=[KEY])
        with TestClient(app) as c:
            return c.get("/windows", params=params).json()

    app = create_app(seeded_db, clock=FakeClock(SEED_NOW_MS), api_keys=[KEY])
    with TestClient(app) as c, Store.open(seeded_db) as store:
        first = c.get("/windows", params=params).json()
        assert c.get("/windows", params=params).json() == first == fresh()
        i, w = next((i, w) for i, w in enumerate(first["windows"]) if w["latest"]["tier"] == "live")
        store.append_versions(
            "hourly",
            [
                NewVersion(
                    window_start_ms=w["window"]["start_ms"],
                    window_end_ms=w["window"]["end_ms"],
                    grp=w["group"],
                    values={"revenue_cents": 123_456, "orders": 1, "items": 1, "events": 1},
                    event_count=1,
                    timing="late",
                    tier="live",
                    reason="late_data",
                    processing_time_ms=SEED_NOW_MS,
                    watermark_ms=SEED_NOW_MS - 60_000,
                )
            ],
        )
        after = c.get("/windows", params=params).json()
        assert after["windows"][i]["latest"]["values"]["revenue_cents"] == 123_456
        assert after["windows"][i]["latest"]["version"] == w["latest"]["version"] + 1
        assert after == fresh()


@pytest.mark.parametrize(("series", "grp"), [("hourly", "*"), ("hourly", None), ("daily", "web")])
def test_windows_rows_equal_the_windows_frame(store, series, grp):
    """/windows reads ``windows_in_range_rows`` (no pandas); every value must be the
    frame's (NaN there is None here; integers are not turned into floats)."""
    import math

    lo, hi = SEED_NOW_MS - 30 * DAY_MS, SEED_NOW_MS + DAY_MS
    frame = store.windows_in_range(series, lo, hi, grp)
    rows = store.windows_in_range_rows(series, lo, hi, grp)
    assert len(rows) == len(frame) > 0
    assert {r["is_final"] for r in rows} == {True, False} or grp != "*"
    for row, want in zip(rows, frame.to_dict("records"), strict=True):
        assert list(row) == list(want)
        for k, v in want.items():
            if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
                assert row[k] is None, k
            else:
                assert row[k] == v, k
        for k in ("latest_revenue_cents", "final_revenue_cents", "final_version"):
            assert row[k] is None or type(row[k]) is int, k


def test_windows_daily_grain(client, store):
    lo, hi = SEED_NOW_MS - 10 * DAY_MS, SEED_NOW_MS
    r = client.get("/windows", params={"from": format_ms(lo), "to": format_ms(hi), "grain": "day"})
    expected = store.windows_in_range("daily", lo, hi, "*")
    assert r.json()["total"] == len(expected) > 0
    assert r.json()["series"] == "daily"


# -- /data-quality, /alerts, /healthz ---------------------------------------------------------------
def test_lateness_report_equals_engine_lateness(client, store):
    lo, hi = SEED_NOW_MS - 5 * DAY_MS, SEED_NOW_MS
    r = client.get("/data-quality/lateness", params={"from": format_ms(lo), "to": format_ms(hi)})
    assert r.status_code == 200, r.text
    body = r.json()
    events = store.events_frame(lo, hi, by="arrival_time")
    profile = lateness.lateness_profile(events)
    summary = lateness.summary(profile, "count")
    assert body["events"] == len(events)
    got = {p["source"]: p for p in body["percentiles"]}
    for _, row in summary.iterrows():
        assert got[row["source"]]["p99_ms"] == pytest.approx(row["p99_ms"])
        assert got[row["source"]]["events"] == row["events"]
    rec = lateness.recommend(profile, 0.99, "value")
    assert [x["allowed_lateness_ms"] for x in body["recommendations"]] == list(
        rec["allowed_lateness_ms"]
    )
    outcomes = body["outcomes"]["by_source"]["all"]
    names = ("on_time", "late", "side_output", "dropped", "too_late")
    assert sum(outcomes[f"{n}_count"] for n in names) == len(events)
    assert {d["source"] for d in body["drift"]} <= set(events["source"]) | set(got)


def test_alerts_answers_or_says_not_implemented(client):
    r = client.get("/alerts", params={"from": "2026-11-01T00:00:00Z", "to": "2026-11-21T00:00Z"})
    assert r.status_code in (200, 501)
    if r.status_code == 200:
        assert set(r.json()) >= {"alerts", "warnings", "count"}
    else:
        assert "alert" in r.json()["detail"]


def test_healthz_reports_checkpoint_and_lag(client, store):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    body = r.json()
    state = store.get_kv("runtime")
    assert body["store"]["raw_events"] == store.raw_event_count()
    assert body["runtime"]["checkpoint"]["proc_ms"] == state["proc_ms"]
    for mark in body["runtime"]["watermarks"].values():
        assert mark["lag_ms"] == state["proc_ms"] - mark["watermark_ms"]
    assert body["clock"]["now_ms"] == SEED_NOW_MS
    # cross-check the index-probe query against the definition, done the long way: the
    # latest versions of the last 6 all-sources windows from 2 days before the checkpoint
    names = [
        r[0]
        for r in store.conn.execute(
            "SELECT series FROM versions UNION SELECT series FROM config_versions"
        )
    ]
    assert sorted(body["runtime"]["watermarks"]) == sorted(names)
    proc = state["proc_ms"]
    for series in names:
        frame = store.windows_in_range(series, proc - 2 * DAY_MS, proc + DAY_MS, "*")
        marks = [
            row["watermark_ms"]
            for ws in frame["window_start_ms"].tail(6)
            if (row := store.latest(series, int(ws), "*"))["watermark_ms"] is not None
        ]
        expected = max(marks) if marks else None
        assert body["runtime"]["watermarks"][series]["watermark_ms"] == expected, series
        assert expected is not None


# -- refusals --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/metrics/revenue_cents?window=2026-11-19T05:30:00Z", 404),  # no such window
        ("/metrics/revenue_cents?window=1", 404),
        ("/metrics/revenue_cents?window=2026-11-19T05:00:00", 422),  # no offset
        ("/metrics/revenue_cents?window=tuesday", 422),
        ("/metrics/revenue_cents?window=2026-11-19T06:00Z/2026-11-19T05:00Z", 422),
        ("/metrics/revenue_cents?window=99999999999999999999", 422),
        ("/metrics/bogus?window=2026-11-19T05:00:00Z", 422),
        ("/metrics/revenue_cents?window=2026-11-19T05:00:00Z&version=soon", 422),
        ("/metrics/revenue_cents?window=2026-11-19T05:00:00Z&version=0", 422),
        ("/metrics/revenue_cents?window=2026-11-19T05:00:00Z&version=99999", 404),
        ("/metrics/revenue_cents?window=2026-11-19T05:00:00Z&version=2000-01-01T00:00Z", 404),
        ("/metrics/revenue_cents?window=2026-11-19T05:00:00Z&series=weekly", 422),
        ("/metrics/revenue_cents?window=2026-11-19T05:00:00Z&group=nobody", 404),
        ("/metrics/revenue_cents?window=2026-11-19T05:00:00Z&group=x'%20OR%201=1--", 422),
        ("/windows?from=2026-11-19T00:00Z&to=2026-11-18T00:00Z", 422),
        ("/windows?from=2026-11-18T00:00Z&to=2026-11-19T00:00Z&grain=week", 422),
        ("/windows?from=2026-11-18T00:00Z&to=2026-11-19T00:00Z&cursor=%25%25", 422),
        ("/windows?from=2000-01-01T00:00Z&to=2026-11-19T00:00Z", 422),  # too long a range
        ("/data-quality/lateness?from=2026-11-18T00:00Z&to=2026-11-19T00:00Z&target=2", 422),
    ],
)
def test_bad_requests(client, url, status):
    r = client.get(url)
    assert r.status_code == status, r.text
    assert r.json()["detail"]


def test_window_end_must_match(client, store):
    w = _pick(store, "hourly", final=False)
    wrong = f"{format_ms(w['start'])}/{format_ms(w['end'] + HOUR_MS)}"
    assert client.get("/metrics/revenue_cents", params={"window": wrong}).status_code == 404


def test_reads_answer_while_a_writer_holds_the_write_lock(seeded_db, monkeypatch):
    """WAL readers never wait for the writer: with another connection inside a write
    transaction (BEGIN IMMEDIATE, rows pending), every read endpoint — including the
    first request of a worker thread, which opens its store, and a completeness
    estimate, which fits a model — answers. A read path that wrote anything, or
    took the write lock, would wait out the busy timeout (cut to 0.2 s here) and fail."""
    import sqlite3

    from engine.store import schema

    monkeypatch.setattr(schema, "BUSY_TIMEOUT_MS", 200)
    with Store.open(seeded_db) as store:
        open_w = _pick(store, "hourly", final=False)
        final_w = _pick(store, "daily", final=True)
    writer = sqlite3.connect(seeded_db, timeout=0)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO kv (key, value, updated_ms) VALUES ('held', '1', 0)")
    day = format_ms(SEED_NOW_MS - SEED_NOW_MS % DAY_MS - DAY_MS)
    urls = [
        "/healthz",
        f"/metrics/revenue_cents?window={format_ms(open_w['start'])}",
        f"/metrics/revenue_cents?window={format_ms(final_w['start'])}&series=daily"
        "&version=final&include_history=true",
        f"/metrics/revenue_cents/compare?window={format_ms(final_w['start'])}&series=daily"
        "&a=first&b=final",
        f"/metrics/revenue_cents/explain?window={format_ms(final_w['start'])}&series=daily",
        f"/windows?from={day}&to={format_ms(SEED_NOW_MS)}",
        f"/data-quality/lateness?from={day}&to={format_ms(SEED_NOW_MS)}",
    ]
    try:
        app = create_app(seeded_db, clock=FakeClock(SEED_NOW_MS), api_keys=[KEY])
        with TestClient(app) as c:
            for url in urls:
                r = c.get(url)
                assert r.status_code == 200, (url, r.text[:300])
    finally:
        writer.rollback()
        writer.close()


def test_read_keys_required(read_db):
    app = create_app(read_db, clock=FakeClock(SEED_NOW_MS), api_keys=[KEY], read_keys_required=True)
    with TestClient(app) as c:
        assert c.get("/windows?from=2026-11-18T00:00Z&to=2026-11-19T00:00Z").status_code == 401
        r = c.get("/windows?from=2026-11-18T00:00Z&to=2026-11-19T00:00Z", headers=AUTH)
        assert r.status_code == 200


# -- POST /events ---------------------------------------------------------------------------------
def _event(i: int, **overrides) -> dict:
    base = {
        "event_id": f"api-test-{i}",
        "source": "web",
        "event_type": "order.placed",
        "event_time": format_ms(SEED_NOW_MS - 10 * 60_000 - i * 1000),
        "amount": 12.5,
        "items": 1,
        "key": f"user-{i}",
    }
    return base | overrides


@pytest.fixture
def writer(seeded_db):
    app = create_app(seeded_db, clock=FakeClock(SEED_NOW_MS), api_keys=[KEY], max_body_bytes=4096)
    with TestClient(app) as c, Store.open(seeded_db) as s:
        yield c, s


def test_ingest_accounts_for_every_row(writer):
    client, store = writer
    before = store.raw_event_count()
    batch = [
        _event(1),
        _event(2),
        _event(1),  # a resend: duplicate
        _event(1, amount=99),  # same id, other content: conflict
        _event(3, event_time="2026-11-20T12:00:00"),  # no offset
        _event(4, amount="lots"),
        _event(5, event_type="teleport"),
        {"source": "web"},  # no event_id
        "not an object",
        _event(6, event_time=format_ms(SEED_NOW_MS + 3 * DAY_MS)),  # far future
    ]
    r = client.post("/events", content=json.dumps(batch), headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["rows_read"] == len(batch)
    assert (body["accepted"], body["duplicates"], body["quarantined"]) == (2, 1, 7)
    assert body["balanced"]
    assert body["quarantined_by_reason"] == {
        "conflict": 1,
        "no_offset": 1,
        "invalid_amount": 1,
        "unknown_event_type": 1,
        "missing_field": 1,
        "malformed_row": 1,
        "future_event_time": 1,
    }
    assert [q["line"] for q in body["quarantined_rows"]] == [4, 5, 6, 7, 8, 9, 10]
    assert store.raw_event_count() == before + 2
    assert set(store.existing_contents(["api-test-1", "api-test-2"])) == {
        "api-test-1",
        "api-test-2",
    }


def test_ingest_jsonl_quarantines_bad_lines(writer):
    client, store = writer
    before = store.raw_event_count()
    body = "\n".join([json.dumps(_event(10)), "{not json", "", json.dumps(_event(11))])
    r = client.post(
        "/events",
        content=body,
        headers=AUTH | {"Content-Type": "application/x-ndjson"},
        params={"source": "api"},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["accepted"], r.json()["quarantined_by_reason"]) == (2, {"malformed_row": 1})
    assert store.raw_event_count() == before + 2


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": KEY},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer k\u00e9y".encode()},  # non-ASCII: 401, not a 500
        {"Authorization": f"Basic {KEY}"},
    ],
)
def test_ingest_without_a_valid_key_writes_nothing(writer, headers):
    client, store = writer
    before, ingests = store.raw_event_count(), len(store.ingests_frame())
    r = client.post("/events", content=json.dumps([_event(20)]), headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert store.raw_event_count() == before
    assert len(store.ingests_frame()) == ingests  # refused before an ingest was begun


def test_ingest_refuses_oversized_and_invalid_bodies(writer):
    client, store = writer
    before = store.raw_event_count()
    big = json.dumps([_event(i) for i in range(100)])
    assert len(big) > 4096
    assert client.post("/events", content=big, headers=AUTH).status_code == 413
    for bad in ("[{", '{"event_id": 1}', "\xff", "", "[1, 2"):
        r = client.post(
            "/events",
            content=bad.encode("latin-1"),
            headers=AUTH | {"Content-Type": "application/json"},
        )
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["detail"]
    assert store.raw_event_count() == before


def test_model_cache_fits_once_for_concurrent_readers_and_ignores_writes():
    """8 readers asking for the same completeness model at once cause ONE fit (no
    stampede), and a writer's new events do not invalidate it within the minute."""
    import threading
    import time as _time
    from contextlib import nullcontext

    from engine.api.views import ModelCache

    calls = []

    def slow_fit(store, window_ms, offset_ms, grp, fit_now):
        calls.append(fit_now)
        _time.sleep(0.05)
        return None

    class SlowStore:
        def raw_event_count(self):  # grows like a store under a writer
            return len(calls) * 1000

    cache, store, now = ModelCache(open_store=nullcontext), SlowStore(), 1_795_132_800_000
    cache._fit = slow_fit
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.model(store, 3_600_000, 0, "*", now)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(results) == 8
    cache.model(store, 3_600_000, 0, "*", now + 30_000)  # same minute, more raw events
    assert len(calls) == 1
    # next minute: the reader gets last minute's model at once, the refit runs behind
    cache._fit = lambda *args: (slow_fit(*args), "refitted")[1]
    assert cache.model(store, 3_600_000, 0, "*", now + 60_000) is None
    cache.wait_refits()
    assert len(calls) == 2
    assert cache.model(store, 3_600_000, 0, "*", now + 61_000) == "refitted"
    assert len(calls) == 2


def test_model_cache_refits_in_the_background_on_its_own_connection(store):
    """The next minute's refit opens its own store (the reader's connection belongs to
    the reader's thread) and lands the same model a direct fit gives."""
    from engine.api.views import ModelCache

    cache, shape = ModelCache(), (HOUR_MS, 0, "*")
    first = cache.model(store, *shape, SEED_NOW_MS)
    assert first is not None and first.history_windows > 0
    assert cache.model(store, *shape, SEED_NOW_MS + 60_000) is first  # stale, not waiting
    cache.wait_refits()
    refit = cache.model(store, *shape, SEED_NOW_MS + 60_000)
    assert refit is not first
    minute = (SEED_NOW_MS + 60_000) // 60_000 * 60_000
    direct = ModelCache._fit(store, *shape, minute)
    assert refit.history_windows == direct.history_windows
    est = refit.project({"web": 1000}, SEED_NOW_MS - HOUR_MS, SEED_NOW_MS + 60_000)
    assert (
        est.completeness
        == direct.project({"web": 1000}, SEED_NOW_MS - HOUR_MS, SEED_NOW_MS + 60_000).completeness
    )
