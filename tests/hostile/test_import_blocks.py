"""The chunked, column-at-a-time import (``read_csv_blocks`` → ``csv_block_rows`` →
``Ingestor.ingest_blocks``) against the row path it replaces (``read_csv`` →
``map_records`` → ``Ingestor.ingest_records``), on generated hostile CSV files:

- the block reader gives the same (line, record | MalformedRow) pairs as ``read_csv``,
  whatever the block size (quoted fields spanning block ends, CRLF, BOM, bad bytes,
  lines over the row cap);
- the column checks accept only what ``parse_event`` accepts, with the same values;
- an import both ways ends with the same raw log, the same quarantine rows (line,
  event id, reason, detail, raw copy) and the same accounting.

Rows are counted independently of the readers: the generator knows how many physical
lines hold a row."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from engine.core.events import ParseOptions, RecordError, try_parse
from engine.core.limits import Limits
from engine.core.timeutil import parse_timestamp_ms
from engine.ingest.csv_blocks import read_csv_blocks
from engine.ingest.fast_rows import FIELDS, accept_columns
from engine.ingest.ingestor import IngestOptions, Ingestor
from engine.ingest.mapped_blocks import csv_block_rows
from engine.ingest.mapping import (
    ColumnMapping,
    file_columns,
    guess_mapping,
    import_file,
    map_records,
    parse_options,
)
from engine.ingest.readers import open_text, read_csv, read_file
from engine.store.db import Store

NOW_MS = parse_timestamp_ms("2026-03-20T00:00:00Z")
SMALL = Limits(max_id_chars=12, max_key_chars=12, max_source_chars=8, max_row_chars=90)

GOOD_ROWS = (
    b"e1,web,u1,order.placed,10.50,1,2026-03-02T10:00:00Z,2026-03-02T10:00:05Z\n",
    b"e2,mobile,,cart.add,0,0,2026-03-02T10:00:00.123Z,2026-03-02T10:00:07.5+01:00\n",
    b"e3,api,u3,page.view,,,2026-03-02 10:00:00,2026-03-02T10:01:00-05:00\r\n",
    b"e1,web,u1,order.placed,10.50,1,2026-03-02T10:00:00Z,2026-03-02T10:00:05Z\n",
    b"e1,web,u1,order.placed,99,1,2026-03-02T10:00:00Z,2026-03-02T10:00:05Z\n",
    b",,,,1,,1764000000,1764000005.25\n",
)
HOSTILE = (
    b'"quoted, comma",web,u1,order.placed,1,1,2026-03-02T10:00:00Z,2026-03-02T10:00:01Z\n',
    b'e4,web,"u\nspans",order.placed,1,1,2026-03-02T10:00:00Z,2026-03-02T10:00:01Z\n',
    b'e5,web,"never closed,x,1,1,2026-03-02T10:00:00Z,2026-03-02T10:00:01Z\n',
    b"e6,w\xffb,u1,x,1,1,2026-03-02T10:00:00Z,2026-03-02T10:00:01Z\n",
    b"e7,web,u1,x,1e400,1,2026-03-02T10:00:00Z,2026-03-02T10:00:01Z\n",
    b"e8,web,u1,x,1,-1,2026-03-02T10:00:00Z,2026-03-02T10:00:01Z\n",
    b"e9,web,u1,x,1,1,9999-12-31T23:59:59Z,2026-03-02T10:00:01Z\n",
    b"e10,web,u1,x,1,1,2026-03-09T10:00:00Z,2026-03-02T10:00:01Z\n",
    b"e11,web,u1,x,1,1,2026-02-30T10:00:00Z,2026-03-02T10:00:01Z\n",
    b"e12,web,u1,x,1,1,2026-03-02T10:00:00Z,\n",
    b"e13,web\x07,u1,x,1,1,2026-03-02T10:00:00Z,2026-03-02T10:00:01Z\n",
    b"too,few\n",
    b"e14,web,u1,x,1,1,2026-03-02T10:00:00Z,2026-03-02T10:00:01Z,extra\n",
    b"\n",
    b"   \r\n",
    b"x" * 120 + b"\n",
    b"e15,\xc3\xa9t\xc3\xa9,u1,x,1_000,1,2026-03-02T10:00:00+05:99,2026-03-02T10:00:01Z\n",
    b"e16,web,u1,x,1,1,2026-03-02T10:00:00z, 2026-03-02T10:00:01Z \n",
    b"e17,web,u1,x,1,1,2026-03-02T10:00:00+0530,2026-03-02T10:00:01.1234567Z\n",
    b"lone\rcr,web,u1,x,1,1,2026-03-02T10:00:00Z,2026-03-02T10:00:01Z\n",
    b'"',
    b'""',
    b",",
)
HEADER = b"event_id,source,key,event_type,amount,items,event_time,arrival_time\n"

files = st.tuples(
    st.sampled_from([b"", b"\xef\xbb\xbf", b"\n\n"]),
    st.lists(st.one_of(st.sampled_from(GOOD_ROWS), st.sampled_from(HOSTILE)), max_size=40),
).map(lambda t: t[0] + HEADER + b"".join(t[1]))


def _read_csv(path: Path, limits: Limits) -> list:
    with open(path, "rb") as fh:
        return list(read_csv(open_text(io.BufferedReader(fh)), limits))


def _read_blocks(path: Path, limits: Limits, block_bytes: int) -> list:
    return [
        p for b in read_csv_blocks(path, limits=limits, block_bytes=block_bytes) for p in b.pairs()
    ]


@given(data=files, block_bytes=st.sampled_from([1, 50, 200, 4 << 20]))
@example(data=HEADER + b'e4,web,"u\nspans",x,1,1,a,b\n' * 3, block_bytes=50)
@example(data=HEADER + HOSTILE[2] + GOOD_ROWS[0] * 3, block_bytes=1)
def test_block_reader_reads_what_read_csv_reads(tmp_path_factory, data, block_bytes):
    path = tmp_path_factory.mktemp("blocks") / "f.csv"
    path.write_bytes(data)
    for limits in (SMALL, Limits()):
        assert _read_blocks(path, limits, block_bytes) == _read_csv(path, limits)


def _snapshot(db: Path, ingest_id: int) -> tuple:
    with Store(db) as store:
        raw = store.conn.execute(
            "SELECT event_id, event_time_ms, arrival_time_ms, source, key, event_type, "
            "amount_cents, items FROM raw_events ORDER BY seq"
        ).fetchall()
        quarantine = store.conn.execute(
            "SELECT line, event_id, reason, detail, raw FROM quarantine WHERE ingest_id = ? "
            "ORDER BY line, reason",
            (ingest_id,),
        ).fetchall()
        counts = store.conn.execute(
            "SELECT rows_read, accepted, duplicates, quarantined, quarantined_by_reason, status "
            "FROM ingests WHERE id = ?",
            (ingest_id,),
        ).fetchone()
    return raw, quarantine, counts


MAPPINGS = (
    ColumnMapping(
        event_time="event_time",
        arrival_time="arrival_time",
        source="source",
        amount="amount",
        event_id="event_id",
        key="key",
        event_type="event_type",
        items="items",
    ),
    # no id column (row numbers become ids), no source column, the zone for naive times
    ColumnMapping(event_time="event_time", arrival_time="arrival_time", amount="amount"),
)


@given(
    data=files,
    block_bytes=st.sampled_from([64, 300, 4 << 20]),
    which=st.sampled_from([0, 1]),
    tz=st.sampled_from([None, "America/Chicago"]),
)
@example(data=HEADER + GOOD_ROWS[0] * 2 + GOOD_ROWS[4], block_bytes=64, which=0, tz=None)
def test_chunked_import_equals_the_row_path(tmp_path_factory, data, block_bytes, which, tz):
    """Same accepted events, same quarantine rows and reasons, same accounting."""
    tmp = tmp_path_factory.mktemp("imp")
    path = tmp / "f.csv"
    path.write_bytes(data)
    mapping = MAPPINGS[which]
    options = IngestOptions(parse=parse_options(mapping, tz), keep_events=False, batch_size=7)
    limits = options.parse.limits
    with Store(tmp / "rows.db") as store:
        rows = Ingestor(store, options, clock=lambda: NOW_MS).ingest_records(
            map_records(read_file(path), mapping)
        )
    with Store(tmp / "blocks.db") as store:
        blocks = Ingestor(store, options, clock=lambda: NOW_MS).ingest_blocks(
            csv_block_rows(b, mapping, limits)
            for b in read_csv_blocks(path, limits=limits, block_bytes=block_bytes)
        )
    assert (blocks.rows_read, blocks.accepted, blocks.duplicates) == (
        rows.rows_read,
        rows.accepted,
        rows.duplicates,
    )
    assert blocks.quarantined_by_reason == rows.quarantined_by_reason
    assert _snapshot(tmp / "blocks.db", blocks.ingest_id) == _snapshot(
        tmp / "rows.db", rows.ingest_id
    )


def test_rows_are_counted_independently_of_the_readers(tmp_path):
    """Every physical line that holds a row is reported once (blank lines are not rows;
    an unclosed quote quarantines its own line and the lines after it are read again)."""
    whole_lines = [r for r in HOSTILE if r.endswith(b"\n") and b"\r" not in r.rstrip(b"\r\n")]
    body = GOOD_ROWS * 300 + tuple(whole_lines) * 50
    path = tmp_path / "big.csv"
    path.write_bytes(HEADER + b"".join(body))
    # each entry is one row (a quoted field spanning two lines included), but blank lines
    expected = sum(1 for r in body if r.strip())
    result = import_file(
        path, guess_mapping(file_columns(path)), tmp_path / "imports", "big", NOW_MS
    )
    assert result.report.rows_read == expected
    assert result.report.balanced
    lines = result.quarantine["line"].tolist()
    assert len(lines) == len(set(lines))  # one quarantine row per line


texts = st.one_of(
    st.sampled_from(["", "web", "x" * 9, "é", "a\x00", "\u200b", "order.placed", "12"]),
    st.text(max_size=10),
)
stamps = st.one_of(
    st.sampled_from(
        [
            "2026-03-02T10:00:00Z",
            "2026-03-02 10:00:00.5+05:30",
            "2026-03-02T10:00:00,123456-23:59",
            "2026-03-02T10:00:00",
            "2026-02-29T10:00:00Z",
            "2024-02-29T23:59:59.999999Z",
            "2026-03-02T24:00:00Z",
            "1764000000",
            "1764000000.0005",
            "",
        ]
    ),
    st.from_regex(
        r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}([.,][0-9]{1,7})?"
        r"(Z|z|[+-][0-9]{2}:?[0-9]{2})?\Z"
    ),
)
numbers = st.one_of(
    st.sampled_from(["", "0", "-0", "1.005", "2.675", "1e3", "inf", " 5", "999999999.995"]),
    st.from_regex(r"\A-?[0-9]{1,13}(\.[0-9]{0,10})?\Z"),
)
records = st.fixed_dictionaries(
    {
        "event_id": texts,
        "source": texts,
        "event_time": stamps,
        "arrival_time": stamps,
        "amount": numbers,
        "items": numbers,
        "event_type": texts,
        "key": texts,
    }
)


@pytest.mark.parametrize("tz", [None, "America/Chicago"])
@given(batch=st.lists(records, min_size=1, max_size=30))
@example(  # a blank event type is the default, which is longer than SMALL's cap
    batch=[
        {
            "event_id": "0",
            "source": "",
            "event_time": "1764000000",
            "arrival_time": "1764000000",
            "amount": "",
            "items": "",
            "event_type": "",
            "key": "",
        }
    ]
)
def test_column_checks_accept_only_what_parse_event_accepts(tz, batch):
    options = ParseOptions(
        assume_tz=tz, default_source="import", known_event_types=None, limits=SMALL
    )
    accepted = accept_columns({f: [r[f] for r in batch] for f in FIELDS}, len(batch), options)
    events = accepted.events(list(range(len(batch))))
    for i, record in enumerate(batch):
        parsed = try_parse(record, options)
        if accepted.ok[i]:
            assert not isinstance(parsed, RecordError), (record, parsed)
            assert parsed == events[i]


def _as_record(event) -> dict:
    """An accepted event back as an input record (what the row-path backfill sent)."""
    from decimal import Decimal

    from engine.core.timeutil import format_ms

    return {
        "event_id": event.event_id,
        "source": event.source,
        "key": event.key,
        "event_type": event.event_type,
        "amount": str(Decimal(event.amount_cents).scaleb(-2)),
        "items": event.items,
        "event_time": format_ms(event.event_time_ms),
        "arrival_time": format_ms(event.arrival_time_ms),
    }


@given(data=files, which=st.sampled_from([0, 1]))
@example(data=HEADER + GOOD_ROWS[0] + GOOD_ROWS[1] + HOSTILE[7], which=0)
def test_append_to_live_equals_the_row_path(tmp_path_factory, data, which):
    """ "Append to the live store" (pages of the dataset through the frame path) accepts,
    de-duplicates and quarantines (same reasons, same lines) what the row path did;
    the live store already holds one of the ids."""
    from engine.ingest.backfill import append_dataset

    tmp = tmp_path_factory.mktemp("append")
    path = tmp / "f.csv"
    path.write_bytes(data)
    try:
        result = import_file(path, MAPPINGS[which], tmp / "imports", "ds", NOW_MS)
    except ValueError:  # no record among the first rows shows the mapped columns
        return
    if not result.kept:
        return
    with Store(result.db_path) as ds:
        records = [(n, _as_record(e)) for n, (_, e) in enumerate(ds.iter_raw_events(0), 1)]
    seen = {"event_id": "e1", "source": "web", "event_time": "2026-03-02T10:00:00Z"}
    reports = {}
    for how in ("rows", "frames"):
        live = tmp / f"{how}.db"
        with Store(live) as store:
            Ingestor(store, IngestOptions(), clock=lambda: NOW_MS).ingest_records([seen])
            if how == "rows":
                options = IngestOptions(keep_events=False, source_name="backfill:ds")
                report = Ingestor(store, options, clock=lambda: NOW_MS).ingest_records(records)
        if how == "frames":
            report = append_dataset(result.db_path, live, NOW_MS, "ds")
        raw, quarantine, _ = _snapshot(live, report.ingest_id)
        reports[how] = (
            (report.rows_read, report.accepted, report.duplicates),
            report.quarantined_by_reason,
            raw,
            [(q[0], q[1], q[2]) for q in quarantine],  # line, event id, reason
        )
    assert reports["frames"] == reports["rows"]
