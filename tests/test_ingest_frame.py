"""The vectorized frame validation agrees with ``parse_event`` row for row, and the
frame ingest path keeps the same accounting as the record path."""

from __future__ import annotations

import math

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core.events import ParseOptions, RecordError, parse_event
from engine.ingest.frame import validate_frame
from engine.ingest.ingestor import IngestOptions, Ingestor
from engine.sim.simulator import Simulator
from engine.store.db import Store

NOW = 1_795_000_000_000
OPTIONS = ParseOptions(max_future_ms=3_600_000)

row = st.fixed_dictionaries(
    {
        "event_id": st.sampled_from(["a", "b", "c", "", None]),
        "source": st.sampled_from(["web", "mobile", "", None]),
        "key": st.sampled_from(["u1", None]),
        "event_type": st.sampled_from(["order.placed", "page.view", "bogus", None]),
        "amount": st.sampled_from([0.0, 12.34, -5.5, float("nan"), float("inf"), 2e9, None]),
        "items": st.sampled_from([0, 1, 3, -1, 2.5, None]),
        "event_time_ms": st.sampled_from([NOW - 5_000, NOW + 7_200_000, None]),
        "arrival_time_ms": st.sampled_from([NOW, None]),
    }
)


def record_of(r: dict) -> dict:
    """The same row as a record the row-by-row parser reads (times in epoch seconds)."""
    out = {k: v for k, v in r.items() if k not in ("event_time_ms", "arrival_time_ms")}
    out["event_time"] = None if r["event_time_ms"] is None else r["event_time_ms"] / 1000
    out["arrival_time"] = None if r["arrival_time_ms"] is None else r["arrival_time_ms"] / 1000
    return out


def expected(r: dict) -> str:
    try:
        event = parse_event(record_of(r), OPTIONS)
    except RecordError as exc:
        return exc.reason
    if event.arrival_time_ms is None and event.event_time_ms - NOW > OPTIONS.max_future_ms:
        return "future_event_time"
    return "ok"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row, min_size=1, max_size=25))
def test_frame_validation_agrees_with_parse_event(rows):
    frame = pd.DataFrame(rows)
    accepted, quarantined = validate_frame(frame, OPTIONS, NOW)
    got = {line: "ok" for line, _, _ in accepted}
    got.update({q["line"]: q["reason"] for q in quarantined})
    assert len(got) == len(rows)
    for line, r in enumerate(rows, start=1):
        want = expected(r)
        # both reject: the first failing rule may differ in order, the verdict must not
        assert (got[line] == "ok") == (want == "ok"), (r, got[line], want)
    for line, _, event in accepted:
        r = rows[line - 1]
        ref = parse_event(record_of(r), OPTIONS)
        assert event.amount_cents == ref.amount_cents and event.items == ref.items
        assert event.event_type == ref.event_type and event.key == ref.key
        if r["amount"] is not None and math.isfinite(r["amount"]):
            assert event.amount_cents == round(r["amount"] * 100)


def test_frame_ingest_matches_record_ingest(tmp_path):
    frame = Simulator("retries", seed=3, days=1, events=3_000).frame()
    a = Store.open(tmp_path / "a.db")
    b = Store.open(tmp_path / "b.db")
    clock = lambda: NOW  # noqa: E731
    rep_a = Ingestor(a, IngestOptions(), clock=clock).ingest_frame(frame, chunk_rows=700)
    records = (
        {
            **{k: frame[k].iloc[i] for k in ("event_id", "source", "key", "event_type", "items")},
            "amount": frame["amount_cents"].iloc[i] / 100,
            "event_time": frame["event_time_ms"].iloc[i] / 1000,
            "arrival_time": frame["arrival_time_ms"].iloc[i] / 1000,
        }
        for i in range(len(frame))
    )
    rep_b = Ingestor(b, IngestOptions(), clock=clock).ingest_records(records)
    assert rep_a.balanced and rep_b.balanced
    assert (rep_a.rows_read, rep_a.accepted, rep_a.duplicates, rep_a.quarantined_by_reason) == (
        rep_b.rows_read,
        rep_b.accepted,
        rep_b.duplicates,
        rep_b.quarantined_by_reason,
    )
    assert rep_a.duplicates > 0  # the retries scenario repeats deliveries
    pd.testing.assert_frame_equal(a.events_frame(), b.events_frame())
