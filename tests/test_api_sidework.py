"""``serve``'s worker process (engine.api.sidework) changes where the work runs, not
what it does: POST /events answers and stores exactly what the in-thread path
does, a refit there lands the model a direct fit gives, and a worker that dies
is replaced without losing or doubling a batch."""

from __future__ import annotations

import json
import os
import shutil
import signal

from fastapi.testclient import TestClient

from engine.api.app import create_app
from engine.api.views import ModelCache
from engine.core.timeutil import DAY_MS, HOUR_MS, MINUTE_MS, format_ms
from engine.runtime.clock import FakeClock
from engine.store.db import Store
from tests.conftest import SEED_NOW_MS

KEY = "test-key-1"
AUTH = {"Authorization": f"Bearer {KEY}"}


def _event(i: int, **overrides) -> dict:
    base = {
        "event_id": f"side-{i}",
        "source": "web",
        "event_type": "order.placed",
        "event_time": format_ms(SEED_NOW_MS - 10 * 60_000 - i * 1000),
        "amount": 12.5,
        "items": 1,
    }
    return base | overrides


BATCH = [
    _event(1),
    _event(2, arrival_time=format_ms(SEED_NOW_MS - 60_000)),
    _event(1),  # a resend: duplicate
    _event(1, amount=99),  # conflict
    _event(3, amount="lots"),
    {"source": "web"},
    "not an object",
    _event(4, event_time=format_ms(SEED_NOW_MS + 3 * DAY_MS)),  # far future
]
JSONL = "\n".join([json.dumps(_event(10)), "{not json", json.dumps(_event(11))])


def _posts(client) -> list[tuple[int, object]]:
    out = []
    for content, headers, params in (
        (json.dumps(BATCH), AUTH, {}),
        (JSONL, AUTH | {"Content-Type": "application/x-ndjson"}, {"source": "api"}),
        (b"[{", AUTH | {"Content-Type": "application/json"}, {}),  # 400 from the worker
        (json.dumps(BATCH), AUTH, {}),  # all duplicates now
    ):
        r = client.post("/events", content=content, headers=headers, params=params)
        out.append((r.status_code, r.json()))
    return out


def _stored(path) -> tuple:
    with Store.open(path) as s:
        events = s.events_frame().sort_values("event_id").reset_index(drop=True)
        quarantine = s.quarantine_frame(limit=1000)
        ingests = s.ingests_frame()
    return (
        events.to_dict("records"),
        quarantine[["ingest_id", "line", "event_id", "reason", "detail", "raw", "at_ms"]].to_dict(
            "records"
        ),
        ingests[
            [
                "source_name",
                "status",
                "started_ms",
                "finished_ms",
                "rows_read",
                "accepted",
                "duplicates",
                "quarantined",
            ]
        ].to_dict("records"),
    )


def test_worker_process_ingests_refits_and_is_replaced_as_the_server_thread_does(
    seeded_db_template, tmp_path
):
    paths, answers, stored = {}, {}, {}
    for side_process in (False, True):
        path = paths[side_process] = tmp_path / f"side-{side_process}.db"
        shutil.copy(seeded_db_template, path)
        app = create_app(
            path, clock=FakeClock(SEED_NOW_MS), api_keys=[KEY], side_process=side_process
        )
        with TestClient(app) as c:
            answers[side_process] = _posts(c)
            stored[side_process] = _stored(path)
            if side_process:
                _refit_and_replace(c, app.state.side, path)
    assert [s for s, _ in answers[True]] == [200, 200, 400, 200]
    assert answers[True] == answers[False]
    assert answers[True][0][1]["accepted"] == 2 and answers[True][3][1]["accepted"] == 0
    assert stored[True] == stored[False]


def _refit_and_replace(client, side, path) -> None:
    # a refit in the worker lands the model a direct fit gives
    minute = SEED_NOW_MS // MINUTE_MS * MINUTE_MS
    far = side.fit(HOUR_MS, 0, "*", minute)
    with Store.open(path) as s:
        near = ModelCache._fit(s, HOUR_MS, 0, "*", minute)
        before = s.raw_event_count()
    assert far.history_windows == near.history_windows > 0
    observed = {"web": 1000, "mobile": 500}
    a = far.project(observed, SEED_NOW_MS - HOUR_MS, SEED_NOW_MS)
    b = near.project(observed, SEED_NOW_MS - HOUR_MS, SEED_NOW_MS)
    assert (a.completeness, a.projected, a.low, a.high) == (
        b.completeness,
        b.projected,
        b.low,
        b.high,
    )

    # a worker that dies is replaced; a batch it may have half done is sent again
    for pid in list(side._executor()._processes):
        os.kill(pid, signal.SIGKILL)
    statuses = []
    for _ in range(3):  # 503 if the death is noticed with this batch in flight
        r = client.post("/events", content=json.dumps([_event(30), _event(31)]), headers=AUTH)
        statuses.append(r.status_code)
        if r.status_code == 200:
            break
        assert r.status_code == 503 and "send it again" in r.json()["detail"]
    assert statuses[-1] == 200, statuses
    with Store.open(path) as s:
        assert s.raw_event_count() == before + 2
