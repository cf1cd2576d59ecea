"""[orders] in latewatch.toml: the sender's field and event-type names, mapped by every
way in before the one validation path (engine.ingest.vocabulary)."""

from __future__ import annotations

import io
import json

from fastapi.testclient import TestClient

from engine.api.app import create_app
from engine.ingest.ingestor import IngestOptions
from engine.ingest.stream import FolderWatcher, ingest_stream
from engine.ingest.vocabulary import Vocabulary
from engine.runtime.clock import FakeClock
from engine.runtime.config import parse_config
from engine.store.db import Store

T = 1_795_000_000_000 + 3 * 86_400_000  # after the events
ORDERS = """
[orders]
order_types = ["purchase"]
refund_types = ["return", "chargeback"]
amount_field = "total"
items_field = "qty"
"""


def records():
    base = {"event_time": "2026-11-20T10:00:00Z", "source": "web"}
    return [
        base | {"event_id": "p1", "event_type": "purchase", "total": "30.00", "qty": 2},
        base | {"event_id": "r1", "event_type": "return", "total": "-10.00", "qty": 1},
        base | {"event_id": "c1", "event_type": "chargeback", "total": "-5.00"},
        base | {"event_id": "x1", "event_type": "teleport", "total": "1.00"},
    ]


def stored(db):
    with Store(db) as s:
        rows = s.conn.execute(
            "SELECT event_id, event_type, amount_cents, items FROM raw_events ORDER BY event_id"
        ).fetchall()
    return rows


EXPECTED = [
    ("c1", "order.adjusted", -500, 0),
    ("p1", "order.placed", 3000, 2),
    ("r1", "order.refunded", -1000, 1),
]


def vocab() -> Vocabulary:
    return Vocabulary.from_config(parse_config(ORDERS).orders)


def test_the_default_vocabulary_changes_nothing():
    rec = {"event_id": "a", "event_type": "purchase", "total": 3}
    assert list(Vocabulary().map_records([rec])) == [rec]


def test_stdin_maps_fields_and_types(tmp_path):
    db = tmp_path / "s.db"
    text = "".join(json.dumps(r) + "\n" for r in records())
    with Store(db) as store:
        totals = ingest_stream(
            store, io.StringIO(text), IngestOptions(), lambda: T, vocabulary=vocab()
        )
    assert (totals.accepted, totals.quarantined) == (3, 1)  # teleport: unknown type
    assert stored(db) == EXPECTED


def test_watched_folder_maps_fields_and_types(tmp_path):
    db, inbox = tmp_path / "w.db", tmp_path / "in"
    inbox.mkdir()
    (inbox / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records()))
    with Store(db) as store:
        w = FolderWatcher(
            store, inbox, IngestOptions(), lambda: T, settle_polls=0, vocabulary=vocab()
        )
        [done] = w.poll()
    assert done.report.accepted == 3 and stored(db) == EXPECTED


def test_api_maps_fields_and_types(tmp_path):
    db = tmp_path / "a.db"
    app = create_app(db, clock=FakeClock(T), api_keys=["k"], vocabulary=vocab())
    with TestClient(app) as client:
        r = client.post("/events", json=records(), headers={"Authorization": "Bearer k"})
    assert r.status_code == 200 and r.json()["accepted"] == 3
    assert stored(db) == EXPECTED
