"""The same hostile rows through every entry point give the same outcome, row for row:
`engine ingest`, `POST /events`, the Import page's mapping, `replay`, `lateness
--input`, and the vectorized frame path. If one of them drifts from the shared
validation, a reason or a line differs here."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from engine.api.support import parse_events_body
from engine.core.events import ParseOptions, RecordError, parse_event
from engine.core.replay import replay
from engine.core.spec import PipelineSpec, WindowSpec
from engine.core.timeutil import parse_timestamp_ms
from engine.ingest.events_file import read_events_checked
from engine.ingest.frame import validate_frame
from engine.ingest.ingestor import IngestOptions, Ingestor
from engine.ingest.mapping import file_columns, guess_mapping, import_file
from engine.ingest.readers import replay_records
from engine.store.db import Store
from tests.hostile.make_corpus import NOW, make_corpus, path_of

NOW_MS = parse_timestamp_ms(NOW)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    out = tmp_path_factory.mktemp("entry")
    specs = {s.name: s for s in make_corpus(out)}
    return out, specs


def _cli(path, tmp_path) -> dict[int, str]:
    with Store(tmp_path / "cli.db") as store:
        report = Ingestor(store, IngestOptions(), clock=lambda: NOW_MS).ingest_file(path)
        q = store.quarantine_frame(limit=100_000, ingest_id=report.ingest_id)
    return dict(zip(q["line"].astype(int), q["reason"], strict=True))


@pytest.mark.parametrize("name", ["csv-plain", "jsonl-bom", "pq-timestamps", "pq-struct-key"])
def test_every_entry_point_quarantines_the_same_rows(files, name, tmp_path):
    out, specs = files
    spec = specs[name]
    path = path_of(out, spec)
    cli = _cli(path, tmp_path)
    assert cli == spec.bad

    # the import page's mapping (a separate dataset file)
    mapping = guess_mapping(file_columns(path))
    result = import_file(path, mapping, tmp_path / "imports", "x", now_ms=NOW_MS)
    imported = dict(
        zip(result.quarantine["line"].astype(int), result.quarantine["reason"], strict=True)
    )
    # an import needs an arrival time: a row without one is refused for that first
    no_arrival = {line for line, r in imported.items() if r == "malformed_row" and cli[line] != r}
    details = result.quarantine.set_index("line")["detail"]
    assert all("arrival time" in details[line] for line in no_arrival)
    assert {k: v for k, v in imported.items() if k not in no_arrival} == {
        k: v for k, v in cli.items() if k not in no_arrival
    }

    # replay
    doc = replay(replay_records(path), PipelineSpec(window=WindowSpec.parse("tumbling:1h")))
    assert {q["line"]: q["reason"] for q in doc["quarantine"]} == cli

    # lateness --input (counts by reason)
    checked = read_events_checked(path)
    assert checked.rows == spec.rows
    expected = Counter(cli.values())
    assert +checked.quarantined_by_reason == +expected
    assert set(checked.frame["event_id"]) == set(spec.good_ids)


def test_post_events_gives_the_cli_reasons(files, tmp_path):
    out, specs = files
    spec = specs["jsonl-plain"]
    path = path_of(out, spec)
    rows = parse_events_body(path.read_bytes(), "application/x-ndjson")
    with Store(tmp_path / "api.db") as store:
        report = Ingestor(store, IngestOptions(), clock=lambda: NOW_MS).ingest_records(rows)
        q = store.quarantine_frame(limit=100_000, ingest_id=report.ingest_id)
    assert dict(zip(q["line"].astype(int), q["reason"], strict=True)) == _cli(path, tmp_path)


# -- the vectorized frame path ----------------------------------------------------------
BASE_MS = parse_timestamp_ms("2026-11-20T10:00:00Z")
FRAME_ROWS = [
    # (overrides of a good typed row, expected reason or None)
    ({}, None),
    ({"event_time_ms": 10**17}, "time_out_of_range"),
    ({"event_time_ms": -(10**15)}, "time_out_of_range"),
    ({"event_time_ms": 253_402_300_799_000}, "time_out_of_range"),
    ({"event_time_ms": 4_102_444_800_000}, "time_out_of_range"),
    ({"arrival_time_ms": 253_402_300_799_000}, "time_out_of_range"),
    ({"event_id": "i" * 300}, "oversized_field"),
    ({"key": "k" * 5000}, "oversized_field"),
    ({"source": "s" * 1000}, "oversized_field"),
    ({"source": b"mobile"}, "invalid_type"),
    ({"key": {"nested": 1}}, "invalid_type"),
    ({"key": [1, 2]}, "invalid_type"),
    ({"event_id": 1.5}, "invalid_type"),
    ({"source": "\ud800"}, "invalid_unicode"),
    ({"source": "we\x07b"}, "unprintable_name"),
    ({"event_type": "order.placed\u202e"}, "unprintable_name"),
    ({"key": "ab\udfff"}, "invalid_unicode"),
    ({"amount": "1_000"}, "invalid_amount"),
    ({"amount": True}, "invalid_amount"),
    ({"amount": float("inf")}, "invalid_amount"),
    ({"amount": "9" * 400}, "invalid_amount"),
    ({"items": True}, "invalid_items"),
    ({"items": "1_0"}, "invalid_items"),
    ({"event_id": 12345}, None),
    ({"key": 42}, None),
]


def test_frame_path_agrees_with_the_row_parser():
    rows = []
    for i, (over, _) in enumerate(FRAME_ROWS):
        row = {
            "event_id": f"f{i}",
            "source": "web",
            "key": f"u{i}",
            "event_type": "order.placed",
            "amount": 12.5,
            "items": 1,
            "event_time_ms": BASE_MS,
            "arrival_time_ms": BASE_MS + 5000,
        }
        row.update(over)
        rows.append(row)
    frame = pd.DataFrame(rows, dtype=object)
    options = ParseOptions()
    accepted, quarantined = validate_frame(frame, options, NOW_MS)
    by_line = {q["line"]: q["reason"] for q in quarantined}
    for i, (over, expected) in enumerate(FRAME_ROWS, start=1):
        row = rows[i - 1]
        record = {k: v for k, v in row.items() if not k.endswith("_ms")}
        record["event_time"] = row["event_time_ms"] / 1000
        record["arrival_time"] = row["arrival_time_ms"] / 1000
        try:
            parse_event(record, options)
            row_reason = None
        except RecordError as exc:
            row_reason = exc.reason
        assert by_line.get(i) == expected == row_reason, (over, by_line.get(i), row_reason)
    assert len(accepted) + len(quarantined) == len(frame)
    assert all(isinstance(e.key, str | None) for _, _, e in accepted)
    assert [e.event_id for _, _, e in accepted][-2:] == ["12345", f"f{len(FRAME_ROWS) - 1}"]
