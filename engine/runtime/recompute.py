"""The ``recompute`` late action, done: windows flagged by a late event of a
``recompute`` source get a new version computed from the raw log.

The operator queues such an event in the late-events output with action
``recompute`` (it does not update the window: the point of the action is that
non-additive metrics — average and median order value, distinct users — cannot
be patched from a delta). This job, run by the runtime's jobs before the
side-output patches:

- takes every queued, unabsorbed ``recompute`` event and the (window, group)
  it flagged;
- recomputes each flagged window over *every* raw-log event of that window and
  group that arrived by now (the same assigner, groups and metric definitions as
  the operator and the T+1/T+7 jobs), so it also picks up events the operator
  dropped, queued or never saw;
- appends a version with reason ``recompute`` where the values or contributions
  change (numbered after the window's last version, never in place; the tier
  never goes back); a *final* window is immutable, so its difference is booked
  as adjustments in the current open period instead;
- marks the queued events absorbed by the job, all in one transaction; a rerun
  with the same queue is skipped (idempotency key = the last queued row).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from engine.core.spec import PipelineSpec
from engine.core.timeutil import NEG_INF_MS, POS_INF_MS
from engine.core.windows import WindowAssigner
from engine.runtime.finalize import (
    FinalizePolicy,
    JobResult,
    _raw_rows,
    _run_job,
    _write_recompute,
    groups_of,
)
from engine.store.db import Store
from engine.store.queries import aggregate

RECOMPUTE_ACTION = "recompute"
RECOMPUTE_REASON = "recompute"


def recompute_from_raw_log(
    store: Store,
    spec: PipelineSpec,
    flagged: Iterable[tuple[int, int, str]],
    cutoff_ms: int | None,
) -> dict[tuple[int, int, str], tuple[dict, set[str]]]:
    """(start, end, group) -> (values, event ids) over every raw-log event of that
    window and group that arrived by ``cutoff_ms``. A session ``[s, e)`` holds the
    events with ``s <= t <= e - gap`` (its first event starts it, its last ends it
    ``gap`` later)."""
    flagged = sorted(set(flagged))
    if not flagged:
        return {}
    lo = max(min(w[0] for w in flagged), NEG_INF_MS)
    hi = min(max(w[1] for w in flagged), POS_INF_MS)
    rows = _raw_rows(store, lo, hi, cutoff_ms)
    wanted = set(flagged)
    members: dict[tuple[int, int, str], list[dict]] = {key: [] for key in flagged}
    if spec.window.kind == "session":
        gap = spec.window.gap_ms
        by_group: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for start, end, group in flagged:
            by_group[group].append((start, end))
        for row in rows:
            t = row["event_time_ms"]
            for group in groups_of(row, spec.group_by):
                for start, end in by_group.get(group, ()):
                    if start <= t <= end - gap:
                        members[(start, end, group)].append(row)
    else:
        assign = WindowAssigner(spec.window).assign
        for row in rows:
            groups = groups_of(row, spec.group_by)
            for start, end in assign(row["event_time_ms"]):
                for group in groups:
                    if (start, end, group) in wanted:
                        members[(start, end, group)].append(row)
    return {
        key: (aggregate(evs, spec.metrics), {r["event_id"] for r in evs})
        for key, evs in members.items()
    }


def pending_recomputes(store: Store, series: str) -> list[tuple[int, int, int, str]]:
    """Queued, unabsorbed ``recompute`` late events: (row id, start, end, group)."""
    return store.conn.execute(
        "SELECT id, window_start_ms, window_end_ms, grp FROM late_events "
        "WHERE series = ? AND absorbed_by_job IS NULL AND action = ? ORDER BY id",
        (series, RECOMPUTE_ACTION),
    ).fetchall()


def apply_recompute(
    store: Store,
    series: str,
    now_ms: int,
    policy: FinalizePolicy | None = None,
    spec: PipelineSpec | None = None,
) -> JobResult:
    """Recompute every window a queued ``recompute`` event flagged, from the raw log.
    Nothing queued: nothing written."""
    policy = policy or FinalizePolicy()
    spec = spec or store.config(series) or PipelineSpec()
    pending = pending_recomputes(store, series)
    if not pending:
        return JobResult(None, "nothing_to_do", {})
    flagged = sorted({(ws, we, grp) for _, ws, we, grp in pending})

    def body(job_id: int) -> dict:
        results = recompute_from_raw_log(store, spec, flagged, now_ms)
        counts = _write_recompute(
            store,
            series,
            spec,
            results,
            tier="live",
            reason=RECOMPUTE_REASON,
            job_id=job_id,
            now_ms=now_ms,
            policy=policy,
        )
        store.mark_late_absorbed([row[0] for row in pending], job_id)
        return {**counts, "windows_flagged": len(flagged), "late_events_absorbed": len(pending)}

    fields = dict(
        series=series,
        range_start_ms=max(min(w[0] for w in flagged), NEG_INF_MS),
        range_end_ms=min(max(w[1] for w in flagged), POS_INF_MS),
        label=f"{len(flagged)} windows flagged by {len(pending)} late events",
        reason=RECOMPUTE_REASON,
        cutoff_ms=now_ms,
    )
    key = f"recompute:{series}:{pending[-1][0]}"
    return _run_job(store, key, RECOMPUTE_REASON, now_ms, fields, body)
