"""Ingest: every row accounted for, duplicates vs conflicts, all quarantine reasons, formats."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.commands.cli import main
from engine.core.events import ParseOptions
from engine.core.timeutil import parse_timestamp_ms
from engine.ingest.ingestor import IngestOptions, Ingestor
from engine.store.db import Store

NOW = parse_timestamp_ms("2026-11-21T00:00:00Z")
GOOD = {
    "event_id": "a1",
    "source": "web",
    "event_time": "2026-11-20T10:05:00Z",
    "arrival_time": "2026-11-20T10:05:01Z",
    "amount": "12.50",
    "items": "1",
    "event_type": "order.placed",
    "key": "u1",
}
# (row, expected outcome): one row per kind of breakage.
ROWS = [
    (GOOD, "accepted"),
    ({**GOOD, "event_id": "a2", "arrival_time": ""}, "accepted"),  # arrives "now"
    ({**GOOD, "arrival_time": "2026-11-20T11:00:00Z"}, "duplicate"),  # a resend
    ({**GOOD, "amount": "13.00"}, "conflict"),
    ({**GOOD, "event_id": ""}, "missing_field"),
    ({**GOOD, "event_id": "b1", "event_time": "yesterday"}, "unparseable_timestamp"),
    ({**GOOD, "event_id": "b2", "event_time": "2026-11-20T10:05:00"}, "no_offset"),
    ({**GOOD, "event_id": "b3", "event_time": "2026-11-25T10:05:00Z"}, "future_event_time"),
    ({**GOOD, "event_id": "b4", "amount": "inf"}, "invalid_amount"),
    ({**GOOD, "event_id": "b5", "event_type": "order.teleported"}, "unknown_event_type"),
    ({**GOOD, "event_id": "b6", "items": "-2"}, "invalid_items"),
]


def clock():
    return NOW


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "i.db") as s:
        yield s


def expected_counts():
    reasons: dict[str, int] = {}
    for _, outcome in ROWS:
        if outcome not in ("accepted", "duplicate"):
            reasons[outcome] = reasons.get(outcome, 0) + 1
    return reasons


def test_records_every_outcome_and_counts_add_up(store):
    seen = []
    report = Ingestor(store, IngestOptions(batch_size=3), clock=clock).ingest_records(
        [dict(r) for r, _ in ROWS], on_events=lambda evs: seen.extend(e.event_id for e in evs)
    )
    assert report.balanced
    assert (report.rows_read, report.accepted, report.duplicates) == (len(ROWS), 2, 1)
    assert report.quarantined_by_reason == expected_counts()
    assert seen == ["a1", "a2"] == [e.event_id for e in report.events]
    assert store.raw_event_count() == 2
    a2 = store.events_frame().set_index("event_id").loc["a2"]
    assert a2["arrival_time_ms"] == NOW
    row = store.ingests_frame().iloc[0]
    assert (row["rows_read"], row["accepted"], row["duplicates"], row["quarantined"]) == (
        len(ROWS),
        2,
        1,
        len(ROWS) - 3,
    )
    assert json.loads(row["quarantined_by_reason"]) == expected_counts()
    assert store.quarantine_counts() == expected_counts()


def test_callback_sees_only_committed_events(store, tmp_path):
    def check(events):
        with Store(tmp_path / "i.db") as other:  # another connection sees them already
            assert other.existing_contents(e.event_id for e in events).keys() == {
                e.event_id for e in events
            }

    Ingestor(store, IngestOptions(batch_size=1), clock=clock, on_events=check).ingest_records(
        [GOOD, {**GOOD, "event_id": "z"}]
    )


def test_reingesting_the_same_rows_is_all_duplicates(store):
    ing = Ingestor(store, clock=clock)
    ing.ingest_records([GOOD, {**GOOD, "event_id": "a9"}])
    again = ing.ingest_records([GOOD, {**GOOD, "event_id": "a9"}, {**GOOD, "items": "3"}])
    assert (again.accepted, again.duplicates, again.quarantined_by_reason) == (
        0,
        2,
        {"conflict": 1},
    )
    assert store.raw_event_count() == 2


def _write_csv(path, rows, extra_lines=()):
    cols = list(GOOD)
    lines = [",".join(cols)]
    for r, _ in rows:
        lines.append(",".join(str(r.get(c, "")) for c in cols))
    lines.extend(extra_lines)
    path.write_text("\n".join(lines) + "\n")


def test_csv_file_with_malformed_rows(store, tmp_path):
    path = tmp_path / "in.csv"
    _write_csv(path, ROWS, extra_lines=["x,y", "", "1,2,3,4,5,6,7,8,9"])
    report = Ingestor(store, clock=clock).ingest_file(path)
    want = expected_counts() | {"malformed_row": 2}
    assert report.quarantined_by_reason == want and report.balanced
    assert report.rows_read == len(ROWS) + 2  # the blank line is not a row
    lines = set(store.quarantine_frame(reason="malformed_row")["line"])
    assert lines == {len(ROWS) + 2, len(ROWS) + 4}


def test_jsonl_and_parquet_files(store, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(
        "\n".join(json.dumps(r) for r, _ in ROWS) + "\n{not json\n[1, 2]\n\n", encoding="utf-8"
    )
    report = Ingestor(store, clock=clock).ingest_file(path)
    assert report.quarantined_by_reason == expected_counts() | {"malformed_row": 2}
    table = pa.Table.from_pylist(
        [{**GOOD, "event_id": f"p{i}", "amount": 1.25 * i, "items": i} for i in range(5)]
    )
    pq.write_table(table, tmp_path / "in.parquet")
    report = Ingestor(store, clock=clock).ingest_file(tmp_path / "in.parquet")
    assert (report.rows_read, report.accepted) == (5, 5)
    df = store.events_frame(sources=["web"])
    assert df.loc[df.event_id == "p4", "amount_cents"].item() == 500


def test_assume_tz_reads_offsetless_timestamps(store):
    opts = IngestOptions(parse=ParseOptions(assume_tz="Europe/Berlin"))
    report = Ingestor(store, opts, clock=clock).ingest_records(
        [{**GOOD, "event_time": "2026-11-20T11:05:00", "arrival_time": ""}]
    )
    assert report.accepted == 1
    assert store.events_frame()["event_time_ms"].item() == parse_timestamp_ms(GOOD["event_time"])


def test_events_frame_contract(store):
    Ingestor(store, clock=clock).ingest_records([GOOD])
    df = store.events_frame(from_ms=0, to_ms=NOW, sources=["web"])
    assert list(df.columns) == [
        "event_id",
        "source",
        "key",
        "event_type",
        "amount_cents",
        "items",
        "event_time_ms",
        "arrival_time_ms",
    ]
    assert {str(df[c].dtype) for c in df.columns[4:]} == {"int64"}
    empty = store.events_frame(from_ms=0, to_ms=1)
    assert len(empty) == 0 and str(empty["event_time_ms"].dtype) == "int64"


def test_cli_ingest_prints_the_accounting(tmp_path, capsys):
    path = tmp_path / "in.csv"
    _write_csv(path, ROWS)
    db = tmp_path / "cli.db"
    assert main(["ingest", str(path), "--db", str(db), "--now", "2026-11-21T00:00:00Z"]) == 0
    out = capsys.readouterr().out
    assert f"rows read {len(ROWS)} = accepted 2 + duplicates 1 + quarantined {len(ROWS) - 3}" in out
