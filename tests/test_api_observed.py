"""The API's incremental "value so far" (engine.api.observed) against a full recompute.

/metrics sums a window's arrived revenue per source from what is new since the last
request (rows appended since, rows that arrived since); after any sequence of
appends and clock moves (forwards, backwards, or still) it must equal summing the
whole window afresh."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.api.observed import ObservedCache
from engine.core.events import ParseOptions
from engine.core.timeutil import HOUR_MS, MINUTE_MS, format_ms
from engine.ingest.ingestor import IngestOptions, Ingestor
from engine.ingest.vocabulary import Vocabulary
from engine.store.db import Store
from engine.store.raw_metrics import arrived_value_by_source

W0 = 1_795_132_800_000  # a window [W0, W0 + 1 h)
SOURCES = ("web", "ios", "pos")

event = st.tuples(
    st.integers(-10, 70),  # event time, minutes after W0 (some outside the window)
    st.integers(0, 180),  # arrival delay, minutes
    st.sampled_from(SOURCES),
    st.integers(1, 50_000),  # cents
)
step = st.tuples(st.lists(event, max_size=6), st.integers(-30, 90))  # (appended, clock move)


def append(store: Store, events, first_id: int, now_ms: int) -> None:
    rows = [
        (
            i,
            {
                "event_id": f"e{first_id + i}",
                "source": src,
                "event_time": format_ms(W0 + t * MINUTE_MS),
                "arrival_time": format_ms(W0 + (t + d) * MINUTE_MS),
                "amount": cents / 100,
                "items": 1,
                "event_type": "order.placed",
                "user_id": "u1",
            },
        )
        for i, (t, d, src, cents) in enumerate(events)
    ]
    options = IngestOptions(parse=ParseOptions(), keep_events=False, source_name="t")
    report = Ingestor(store, options, clock=lambda: now_ms).ingest_records(
        Vocabulary().map_records(rows)
    )
    assert report.accepted == len(rows)


@settings(max_examples=25, deadline=None)
@given(steps=st.lists(step, min_size=1, max_size=8), grp=st.sampled_from(["*", "web"]))
def test_incremental_value_so_far_equals_a_full_sum(steps, grp):
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "t.db") as store:
        cache, now, n = ObservedCache(), W0 + 30 * MINUTE_MS, 0
        sources = None if grp == "*" else [grp]
        for events, move in steps:
            append(store, events, n, now)
            n += len(events)
            now += move * MINUTE_MS
            got = cache.observed(store, W0, W0 + HOUR_MS, grp, now)
            want = arrived_value_by_source(store, W0, W0 + HOUR_MS, now, sources)
            assert got == want
