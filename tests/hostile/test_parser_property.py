"""Property: whatever a row holds, parsing returns an event or a quarantine reason and
never raises anything else; reading arbitrary bytes never raises on a row; and what
would be stored (raw copy, detail, event fields) is always storable text."""

from __future__ import annotations

import contextlib
import io
import math
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import example, given
from hypothesis import strategies as st

from engine.core.events import (
    QUARANTINE_REASONS,
    Event,
    ParseOptions,
    RecordError,
    parse_event,
    raw_text,
)
from engine.core.limits import Limits
from engine.ingest.readers import MalformedRow, open_text, read_csv, read_jsonl, record_from_json

FIELDS = (
    "event_id",
    "source",
    "event_time",
    "arrival_time",
    "amount",
    "items",
    "event_type",
    "key",
)
SMALL = Limits(max_id_chars=16, max_key_chars=16, max_source_chars=8, max_row_chars=400)

any_text = st.text(alphabet=st.characters(codec=None), max_size=40)  # lone surrogates too
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    any_text,
    st.binary(max_size=20),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.datetimes(timezones=st.one_of(st.none(), st.just(UTC))),
    st.sampled_from(["2026-11-20T10:00:00Z", "1e308", "1" * 400, "0001-01-01T00:00:00Z", "1_000"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
)
records = st.dictionaries(st.sampled_from(FIELDS) | any_text, json_values, max_size=10)


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@given(record=st.one_of(records, json_values), small=st.booleans())
@example(record={"event_id": "a", "source": "web", "event_time": 1e308}, small=False)
@example(record={"event_id": 10**300, "source": "w", "event_time": 1}, small=False)
@example(
    record={"event_id": "a", "source": "\ud800", "event_time": "2026-11-20T10:00:00Z"}, small=False
)
@example(record={"event_id": "a", "source": "w", "event_time": Decimal("1e400")}, small=False)
@example(
    record={"event_id": "a", "source": "w", "event_time": datetime(9999, 12, 31, tzinfo=UTC)},
    small=False,
)
def test_parse_event_returns_an_event_or_a_reason(record, small):
    options = ParseOptions(limits=SMALL if small else Limits(), assume_tz=None)
    try:
        event = parse_event(record, options)
    except RecordError as exc:
        assert exc.reason in QUARANTINE_REASONS
        assert _storable(str(exc))
        assert _storable(raw_text(record)) and len(raw_text(record)) <= 4000
        return
    assert isinstance(event, Event)
    limits = options.limits
    assert limits.min_time_ms <= event.event_time_ms < limits.max_time_ms
    if event.arrival_time_ms is not None:
        assert limits.min_time_ms <= event.arrival_time_ms < limits.max_time_ms
    for text in (event.event_id, event.source, event.event_type, event.key or ""):
        assert isinstance(text, str) and _storable(text)
    assert len(event.event_id) <= limits.max_id_chars
    assert isinstance(event.amount_cents, int) and math.isfinite(event.amount)


@given(data=st.binary(max_size=600))
@example(data=b"[" * 5000)
@example(data=b'{"event_id": 1' + b"9" * 5000 + b"}")
@example(data=b"\xef\xbb\xbf{}\n\xff\xfe\n")
def test_json_lines_reader_never_raises(data):
    for _, record in read_jsonl(open_text(io.BytesIO(data)), SMALL):
        assert isinstance(record, dict | MalformedRow)
        if isinstance(record, MalformedRow):
            assert record.reason in QUARANTINE_REASONS and _storable(record.raw)
        else:
            with contextlib.suppress(RecordError):
                parse_event(record, ParseOptions(limits=SMALL))
    assert isinstance(
        record_from_json(data.decode("utf-8", "surrogateescape")), dict | MalformedRow
    )


@given(data=st.binary(max_size=600), header=st.sampled_from([b"event_id,source,event_time\n", b""]))
@example(data=b'a,b,"unterminated\nc,d,e\n', header=b"event_id,source,event_time\n")
@example(data=b'a,"x' + b"y" * 1000 + b"\n", header=b"event_id,source,event_time\n")
def test_csv_reader_never_raises_and_counts_each_line_once(data, header):
    lines = set()
    for line, record in read_csv(open_text(io.BytesIO(header + data)), SMALL):
        assert line not in lines
        lines.add(line)
        assert isinstance(record, dict | MalformedRow)
        if isinstance(record, MalformedRow):
            assert record.reason in QUARANTINE_REASONS and _storable(record.raw)
