"""Aggregated and narrow reads of the raw log for pages (``engine.views.more_metrics``,
today's completeness, the Lateness page): counted or binned in SQL, or one read where
two would fetch the same rows, instead of reading weeks of events into Python.

Same definitions as ``engine.store.queries.aggregate`` (the batch jobs' recompute):
events counted, distinct non-null keys, and the amounts of the order events (the
caller takes their mean and median)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from engine.core.events import ORDER_TYPE
from engine.store.db import Store
from engine.store.queries import _INT_EVENT_COLUMNS, EVENT_COLUMNS


def arrived_day_values(
    store: Store,
    from_ms: int,
    to_ms: int,
    arrived_by_ms: int | None = None,
    sources: Sequence[str] | None = None,
) -> dict:
    """Events with event time in [from_ms, to_ms) that had arrived by ``arrived_by_ms``
    (inclusive; all when None): ``events``, ``distinct_users`` and ``order_amounts``
    (cents, ascending)."""
    where = "WHERE event_time_ms >= ? AND event_time_ms < ?"
    params: list = [from_ms, to_ms]
    if arrived_by_ms is not None:
        where += " AND arrival_time_ms <= ?"
        params.append(arrived_by_ms)
    if sources:
        where += f" AND source IN ({','.join('?' * len(sources))})"
        params.extend(sources)
    events, users = store.conn.execute(
        "SELECT count(*), count(DISTINCT key) FROM raw_events " + where, params
    ).fetchone()
    amounts = [
        r[0]
        for r in store.conn.execute(
            "SELECT amount_cents FROM raw_events " + where + " AND event_type = ? "
            "ORDER BY amount_cents",
            [*params, ORDER_TYPE],
        )
    ]
    return {"events": int(events), "distinct_users": int(users), "order_amounts": amounts}


def arrived_value_by_source(
    store: Store,
    from_ms: int,
    to_ms: int,
    arrived_by_ms: int,
    sources: Sequence[str] | None = None,
    *,
    arrived_after_ms: int | None = None,
    seq_after: int | None = None,
    seq_upto: int | None = None,
) -> dict[str, int]:
    """``amount_cents`` summed per source over the events with event time in
    [from_ms, to_ms) that had arrived by ``arrived_by_ms`` (inclusive): a window's
    value so far, as the completeness model projects it. Sources with no event
    are absent. For an incremental sum (``engine.api.observed``): only events that
    arrived after ``arrived_after_ms`` (read along the arrival-time index), and/or
    raw-log rows ``seq_after < seq <= seq_upto`` (read along ``seq``)."""
    where = ["arrival_time_ms <= ?"]
    params: list = [arrived_by_ms]
    # the event-time index unless a narrower range is given (unary + turns it off)
    on_event_time = arrived_after_ms is None and seq_after is None
    col = "event_time_ms" if on_event_time else "+event_time_ms"
    where += [f"{col} >= ?", f"{col} < ?"]
    params += [from_ms, to_ms]
    table = "raw_events"
    if arrived_after_ms is not None:
        where.append("arrival_time_ms > ?")
        params.append(arrived_after_ms)
        table = "raw_events INDEXED BY raw_events_arrival"
    if seq_after is not None:
        where.append("seq > ?")
        params.append(seq_after)
    if seq_upto is not None:
        where.append(("+seq" if arrived_after_ms is not None else "seq") + " <= ?")
        params.append(seq_upto)
    if sources:
        where.append(f"source IN ({','.join('?' * len(sources))})")
        params.extend(sources)
    return {
        str(source): int(cents)
        for source, cents in store.conn.execute(
            f"SELECT source, sum(amount_cents) FROM {table} WHERE "
            + " AND ".join(where)
            + " GROUP BY source",
            params,
        )
    }


def arrival_histogram(
    store: Store,
    window_ms: int,
    offset_ms: int,
    ages_ms: Sequence[int],
    from_ms: int,
    to_ms: int,
    arrived_by_ms: int | None = None,
    sources: Sequence[str] | None = None,
) -> tuple[list[int], list[str], list[tuple[int, int, int, int]]]:
    """Value arrived per (tumbling window, source, age bucket), summed in SQL — what
    ``engine.analysis.arrivals.window_arrivals`` bins from an events frame, without
    reading the events. Events with event time in [from_ms, to_ms) that arrived by
    ``arrived_by_ms``; window ``k`` is ``[k * window_ms + offset_ms, + window_ms)``;
    an event's bucket is the index of the first age ``>=`` its age (arrival − window
    end), ``len(ages_ms)`` past the last. Returns the window indices and the source
    names present (both ascending) and rows ``(window, source, bucket, cents)``
    with indices into them."""
    ages = [int(a) for a in sorted(set(ages_ms))]
    bucket = _bucket_sql(ages, 0, len(ages))
    where = "WHERE event_time_ms >= ? AND event_time_ms < ?"
    params: list = [from_ms, to_ms]
    if arrived_by_ms is not None:
        where += " AND arrival_time_ms <= ?"
        params.append(arrived_by_ms)
    if sources:
        where += f" AND source IN ({','.join('?' * len(sources))})"
        params.extend(sources)
    w, o = int(window_ms), int(offset_ms)
    # floor division that also holds before the offset (SQLite's / truncates)
    win = f"((event_time_ms - {o}) - (((event_time_ms - {o}) % {w}) + {w}) % {w}) / {w}"
    rows = store.conn.execute(
        f"SELECT win, source, {bucket} AS bucket, sum(amount_cents) FROM ("
        f"SELECT {win} AS win, source, amount_cents, "
        f"arrival_time_ms - (({win}) + 1) * {w} - {o} AS age FROM raw_events {where}"
        ") GROUP BY win, source, bucket",
        params,
    ).fetchall()
    wins = sorted({r[0] for r in rows})
    names = sorted({r[1] for r in rows})
    wi = {v: i for i, v in enumerate(wins)}
    si = {v: i for i, v in enumerate(names)}
    return wins, names, [(wi[a], si[b], int(g), int(c)) for a, b, g, c in rows]


def _bucket_sql(ages: list[int], lo: int, hi: int) -> str:
    """SQL for the index of the first of ``ages[lo:hi]`` that is ``>= age`` (``hi``
    when none is): a binary search as nested CASEs, ~log2(n) comparisons per event
    instead of one per grid age."""
    if lo == hi:
        return str(hi)
    mid = (lo + hi) // 2
    return (
        f"CASE WHEN age <= {ages[mid]} THEN {_bucket_sql(ages, lo, mid)} "
        f"ELSE {_bucket_sql(ages, mid + 1, hi)} END"
    )


def events_arrived_or_happened(
    store: Store, from_ms: int, to_ms: int, columns: Sequence[str]
) -> pd.DataFrame:
    """Raw events that arrived *or* happened in [from_ms, to_ms), in log order: one
    read for an analysis that needs both sets (the Lateness page: delays by arrival,
    the backtest by event time), instead of two reads that mostly fetch the same
    rows. ``columns`` must include ``event_time_ms`` and ``arrival_time_ms`` (the
    caller splits on them); the integer columns come back as int64."""
    cols = list(columns)
    unknown = set(cols) - set(EVENT_COLUMNS)
    if unknown or not {"event_time_ms", "arrival_time_ms"} <= set(cols):
        raise ValueError(f"columns {cols}: raw event columns with both times")
    df = pd.read_sql_query(
        "SELECT " + ", ".join(cols) + " FROM raw_events "
        "WHERE (arrival_time_ms >= ? AND arrival_time_ms < ?) "
        "OR (event_time_ms >= ? AND event_time_ms < ?) ORDER BY seq",
        store.conn,
        params=[from_ms, to_ms, from_ms, to_ms],
    )
    return df.astype({c: "int64" for c in _INT_EVENT_COLUMNS if c in cols})
