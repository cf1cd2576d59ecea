"""The finalization's batch recompute is the definition: for each window, the raw
events whose event time falls in it (arrived by the cut-off), per group, summed by
``aggregate()`` — whatever the window kind, grouping and metrics. (It sums in one
pass over tuples for speed; this holds it to the plain reading.)"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.spec import PipelineSpec, WindowSpec
from engine.core.timeutil import DAY_MS, HOUR_MS, parse_timestamp_ms
from engine.core.windows import WindowAssigner
from engine.ingest.ingestor import IngestOptions, Ingestor
from engine.runtime.finalize import batch_recompute, groups_of, windows_starting_in
from engine.store.db import Store
from engine.store.queries import aggregate

BASE = parse_timestamp_ms("2026-03-07T00:00:00Z")  # a DST change in the window's zone
METRICS = ("revenue", "orders", "items", "events", "avg_order_value", "median_order_value")


def _records(seed: int, n: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        et = BASE + rng.randrange(-HOUR_MS, 3 * DAY_MS)
        if rng.random() < 0.2:  # on a window edge (an hour; in UTC, also a window start)
            et -= et % HOUR_MS
        out.append(
            {
                "event_id": f"e{i}",
                "source": rng.choice(["web", "partner", "mobile"]),
                "key": rng.choice([None, "u1", "u2", f"u{rng.randrange(30)}"]),
                "event_time": et / 1000,
                "arrival_time": (et + rng.choice([0, 60_000, 5 * HOUR_MS, 2 * DAY_MS])) / 1000,
                "amount": rng.randrange(-500, 20_000) / 100,
                "items": rng.randrange(0, 4),
                "event_type": rng.choice(["order.placed", "order.placed", "page.view"]),
            }
        )
    return out


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(0, 300),
    window=st.sampled_from(
        ["tumbling:1h", "tumbling:6h+30m", "day:America/New_York", "sliding:6h/2h"]
    ),
    group_by=st.sampled_from(["all+source", "none", "source", "key"]),
    metrics=st.sampled_from(
        [METRICS, (*METRICS, "distinct_users"), METRICS[:4], (*METRICS[:4], METRICS[5])]
    ),
    # no cut-off, a cut-off part-way (some events not yet arrived), any cut-off
    cutoff_after=st.one_of(
        st.sampled_from([None, None, 30 * HOUR_MS, 2 * DAY_MS]), st.integers(0, 4 * DAY_MS)
    ),
    every=st.sampled_from([1, 1, 2, 3]),
)
def test_batch_recompute_is_aggregate_over_each_windows_events(
    tmp_path_factory, seed, n, window, group_by, metrics, cutoff_after, every
):
    kind, _, arg = window.partition(":")
    wspec = WindowSpec(kind="day", tz=arg) if kind == "day" else WindowSpec.parse(window)
    spec = PipelineSpec(window=wspec, group_by=group_by, metrics=metrics)
    records = _records(seed, n)
    cutoff = None if cutoff_after is None else BASE + cutoff_after
    with Store(tmp_path_factory.mktemp("b") / "b.db") as store:
        Ingestor(store, IngestOptions(), clock=lambda: BASE).ingest_records(records)
        # all the windows of two days, or every 2nd / 3rd of them (gaps between)
        windows = windows_starting_in(spec, BASE, BASE + 2 * DAY_MS)[::every]
        got = batch_recompute(store, spec, windows, cutoff)
        cur = store.conn.execute(
            "SELECT event_id, source, key, event_type, amount_cents, items, event_time_ms, "
            "arrival_time_ms FROM raw_events"
        )
        rows = [dict(zip([c[0] for c in cur.description], r, strict=True)) for r in cur]
    assign = WindowAssigner(spec.window).assign
    members: dict = {}
    for r in rows:
        if cutoff is not None and r["arrival_time_ms"] > cutoff:
            continue
        for w in assign(r["event_time_ms"]):
            if w in windows:
                for g in groups_of(r, group_by):
                    members.setdefault((w[0], w[1], g), []).append(r)
    if group_by in ("none", "all+source"):
        for w in windows:
            members.setdefault((w[0], w[1], "*"), [])
    want = {k: (aggregate(v, metrics), {r["event_id"] for r in v}) for k, v in members.items()}
    assert got == want
