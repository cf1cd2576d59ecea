"""Where streaming emissions go once batch jobs exist, and side-output patches.

Split from ``engine.runtime.finalize`` (tiers and batch jobs), which this builds on:
- a pane for a window whose stored state the operator still describes is
  appended as is; otherwise (a batch/patch version came in between, or the
  operator restarted) it is rebased on the stored version using the events it
  adds (``added_ids``), so a late pane never undoes a correction;
- a pane or a queued late event for a *final* window becomes an adjustment in
  the current open period, linked to the window;
- queued late events (the side output) become patch versions: additive metrics
  add up, non-additive ones are recomputed over the window's events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from engine.core.results import LateEvent, Version
from engine.core.spec import PipelineSpec
from engine.runtime.finalize import (
    SIDE_OUTPUT_ACTIONS,
    FinalizePolicy,
    JobResult,
    _adjustment_rows,
    _rows_by_id,
    _run_job,
    open_period,
)
from engine.store.db import NewVersion, Store, values_to_columns
from engine.store.queries import aggregate, event_metrics
from engine.store.schema import ADDITIVE_COLUMNS, METRIC_COLUMNS, TIER_RANK
from engine.store.versions import VERSION_ROW_FIELDS, VersionBuffer, row_dict, version_row


# -- streaming output and side-output patches ---------------------------------------
def _rebased_values(store, latest, new_rows, all_ids, spec_metrics) -> dict:
    """The latest stored values plus ``new_rows``; non-additive metrics recomputed over
    ``all_ids()`` (a callable: reading a whole window's ids is only paid when needed)."""
    values = {
        c: (latest[c] or 0)
        + sum(event_metrics(r["event_type"], r["amount_cents"], r["items"])[c] for r in new_rows)
        for c in ADDITIVE_COLUMNS
    }
    if any(m in spec_metrics for m in ("avg_order_value", "median_order_value", "distinct_users")):
        full = aggregate(_rows_by_id(store, all_ids()), spec_metrics)
        values.update({c: full[c] for c in METRIC_COLUMNS if c not in ADDITIVE_COLUMNS})
    return values


@dataclass
class EmissionReport:
    appended: int = 0
    rebased: int = 0
    skipped: int = 0
    adjustments: int = 0
    late_events: int = 0


def record_emissions(
    store: Store,
    series: str,
    versions: Sequence[Version],
    late: Sequence[LateEvent],
    now_ms: int,
    policy: FinalizePolicy | None = None,
    metrics: Sequence[str] = (),
) -> EmissionReport:
    """Store what the operator drained, in one transaction.

    A pane for a window whose stored state the operator still describes is
    appended as is; otherwise (a batch/patch version came in between, or the
    operator restarted) it is rebased on the stored version using the events it
    adds; a pane for a final window becomes adjustments.
    """
    policy = policy or FinalizePolicy()
    rep = EmissionReport()
    # The latest row per window, kept current: a dict read from the store, or the
    # parameters of the row buffered for it here (``row_dict`` reads them as a dict).
    seen: dict[tuple[int, str], dict | tuple | None] = {}
    numbers: dict[tuple[int, str], tuple[int, str | None]] = {}
    # Panes are numbered and checked one by one but written in one batch; anything
    # that reads a window's rows back (the rebase paths below) flushes first.
    buffer = VersionBuffer(store, series)

    def append(nv: NewVersion) -> None:
        number = store.append_version_in_txn(series, nv, numbers, buffer)
        seen[(nv.window_start_ms, nv.grp)] = version_row(series, nv, number)

    with store.transaction():
        for v in versions:
            key = (v.window_start_ms, v.group)
            if key not in seen:
                if key in buffer.keys:
                    buffer.flush()
                seen[key] = store.latest(series, v.window_start_ms, v.group)
                if seen[key] is not None and key not in numbers:  # saves append's lookup
                    numbers[key] = (seen[key]["version"], seen[key]["tier"])
            latest = seen[key]
            if latest is None:
                # a group's first version inherits the tier its window's other groups
                # reached; on a final window the pane's events become adjustments
                nv = NewVersion.from_operator(v)
                inherited = store.window_tier(series, v.window_start_ms)
                if inherited == "final" and v.added_ids:
                    rep.adjustments += _first_group_adjustments(
                        store, series, v.window, v.group, v.added_ids, now_ms, policy, "late_data"
                    )
                    continue
                if inherited is not None and TIER_RANK[inherited] > TIER_RANK[nv.tier]:
                    nv.tier = inherited
                append(nv)
                rep.appended += 1
                continue
            if type(latest) is tuple:  # a row buffered here
                tier, stored = latest[_TIER], latest[_ADDITIVE]
            else:
                tier, stored = latest["tier"], tuple(map(latest.__getitem__, ADDITIVE_COLUMNS))
            is_final = tier == "final"  # a window's tier never goes back: the pane takes it
            if not is_final and _consistent(v, stored):
                # the common case: what the operator describes is what is stored (the
                # checks of append_version_in_txn hold: same tier, not final, no job)
                number = numbers[key][0] + 1
                seen[key] = buffer.add_pane(v, number, tier)
                numbers[key] = (number, tier)
                rep.appended += 1
                continue
            if type(latest) is tuple:
                latest = row_dict(latest)
            nv = NewVersion.from_operator(v, tier=tier)
            buffer.flush()  # the rebase reads the stored window back
            if not v.added_ids:  # contributions not tracked: rebase on the pane's deltas
                _rebase_untracked(store, series, v, nv, latest, is_final, now_ms, policy, rep)
                seen.pop(key, None)
                numbers.pop(key, None)
                continue
            added = set(v.added_ids)
            new_ids = added - store.counted_among(series, v.window_start_ms, v.group, added)
            if not new_ids:
                rep.skipped += 1
                continue
            new_rows = _rows_by_id(store, new_ids)
            if is_final:
                rep.adjustments += store.insert_adjustments(
                    series,
                    _adjustment_rows(
                        store, series, v.window, latest, new_rows, now_ms, policy, "late_data", None
                    ),
                )
                continue
            nv.values = _rebased_values(
                store,
                latest,
                new_rows,
                lambda key=key, new_ids=new_ids: store.contributed_ids(series, *key) | new_ids,
                metrics,
            )
            nv.event_count = nv.values["events"]
            nv.added_ids = sorted(new_ids)
            append(nv)
            rep.rebased += 1
        buffer.flush()
        rep.late_events = store.record_late_events(series, late)
    return rep


_TIER = VERSION_ROW_FIELDS.index("tier")
_ADDITIVE = slice(
    VERSION_ROW_FIELDS.index(ADDITIVE_COLUMNS[0]),
    VERSION_ROW_FIELDS.index(ADDITIVE_COLUMNS[-1]) + 1,
)
assert VERSION_ROW_FIELDS[_ADDITIVE] == ADDITIVE_COLUMNS


def _consistent(v: Version, stored: tuple) -> bool:
    """Does the stored latest row (its additive columns ``stored``) hold what the
    pane's values minus its deltas say the previous pane held? If not, the window was
    changed behind the operator's back (a batch version, a restart) and the pane is
    rebased on what is stored."""
    values, deltas = v.values, v.deltas
    get = deltas.get
    try:
        prev = (
            int(round((values["revenue"] - get("revenue", 0)) * 100)),
            values["orders"] - get("orders", 0),
            values["items"] - get("items", 0),
            values["events"] - get("events", 0),
        )
    except KeyError:  # not an operator's pane: compare the columns it has
        cols = values_to_columns(
            {
                k: values[k] - get(k, 0)
                for k in ("revenue", "orders", "items", "events")
                if k in values
            }
        )
        return all(cols[c] == s for c, s in zip(ADDITIVE_COLUMNS, stored, strict=True) if c in cols)
    return prev == stored


def _first_group_adjustments(
    store, series, window, grp, event_ids, now_ms, policy, reason, job_id=None
) -> int:
    """Adjustments for a group that has no version in a window that is already final
    (the final held nothing from it): ``final_version`` 0 says so."""
    rows = _rows_by_id(store, event_ids)
    latest = {"grp": grp, "version": 0}
    return store.insert_adjustments(
        series,
        _adjustment_rows(store, series, window, latest, rows, now_ms, policy, reason, job_id),
    )


def _rebase_untracked(store, series, v, nv, latest, is_final, now_ms, policy, rep) -> None:
    delta = values_to_columns(v.deltas)
    if not any(delta.get(c) for c in ADDITIVE_COLUMNS):
        rep.skipped += 1
        return
    if is_final:
        period = open_period(now_ms, policy.tz)
        rep.adjustments += store.insert_adjustments(
            series,
            [
                {
                    "window_start_ms": v.window_start_ms,
                    "window_end_ms": v.window_end_ms,
                    "grp": v.group,
                    "final_version": latest["version"],
                    "event_id": None,
                    **{c: int(delta.get(c, 0)) for c in ADDITIVE_COLUMNS},
                    "period_start_ms": period[0],
                    "period_end_ms": period[1],
                    "booked_at_ms": now_ms,
                    "reason": "late_data",
                    "job_id": None,
                }
            ],
        )
        return
    nv.values = {c: (latest[c] or 0) + delta.get(c, 0) for c in ADDITIVE_COLUMNS}
    nv.event_count = nv.values["events"]
    store.append_versions(series, [nv])
    rep.rebased += 1


def apply_side_output(
    store: Store,
    series: str,
    now_ms: int,
    policy: FinalizePolicy | None = None,
    spec: PipelineSpec | None = None,
) -> JobResult:
    """Turn queued late events into patch versions (additive metrics add up, non-additive
    ones are recomputed over the window's events) or, for final windows, adjustments.
    Marks the queue rows absorbed by the patch job. Nothing queued: nothing written."""
    policy = policy or FinalizePolicy()
    spec = spec or store.config(series) or PipelineSpec()
    marks = ",".join("?" * len(SIDE_OUTPUT_ACTIONS))
    pending = store.conn.execute(
        "SELECT id, event_id, window_start_ms, window_end_ms, grp FROM late_events "
        f"WHERE series = ? AND absorbed_by_job IS NULL AND action IN ({marks}) ORDER BY id",
        (series, *SIDE_OUTPUT_ACTIONS),
    ).fetchall()
    if not pending:
        return JobResult(None, "nothing_to_do", {})
    by_window: dict[tuple[int, int, str], list[str]] = defaultdict(list)
    for _, eid, ws, we, grp in pending:
        by_window[(ws, we, grp)].append(eid)

    def body(job_id: int) -> dict:
        counts = defaultdict(int)
        for (ws, we, grp), ids in sorted(by_window.items()):
            latest = store.latest(series, ws, grp)
            pending_ids = set(ids)
            counted = store.counted_among(series, ws, grp, pending_ids)
            new_rows = _rows_by_id(store, pending_ids - counted)
            if not new_rows:
                counts["already_counted"] += len(ids)
                continue
            if latest is not None and store.final(series, ws, grp)["is_final"]:
                counts["adjustments"] += store.insert_adjustments(
                    series,
                    _adjustment_rows(
                        store, series, (ws, we), latest, new_rows, now_ms, policy, "patch", job_id
                    ),
                )
                continue
            inherited = None if latest is not None else store.window_tier(series, ws)
            if inherited == "final":  # the group had no final version: book adjustments
                counts["adjustments"] += _first_group_adjustments(
                    store,
                    series,
                    (ws, we),
                    grp,
                    [r["event_id"] for r in new_rows],
                    now_ms,
                    policy,
                    "patch",
                    job_id,
                )
                continue
            if latest is None:
                values = aggregate(new_rows, spec.metrics)
            else:
                values = _rebased_values(
                    store,
                    latest,
                    new_rows,
                    lambda ws=ws, grp=grp, new_rows=new_rows: (
                        store.contributed_ids(series, ws, grp) | {r["event_id"] for r in new_rows}
                    ),
                    spec.metrics,
                )
            store.append_versions(
                series,
                [
                    NewVersion(
                        window_start_ms=ws,
                        window_end_ms=we,
                        grp=grp,
                        values=values,
                        event_count=values["events"],
                        timing="batch",
                        tier=latest["tier"] if latest else (inherited or "live"),
                        reason="patch",
                        processing_time_ms=now_ms,
                        watermark_ms=latest["watermark_ms"] if latest else None,
                        added_ids=sorted(r["event_id"] for r in new_rows),
                        job_id=job_id,
                    )
                ],
            )
            counts["versions_written"] += 1
            counts["events_patched"] += len(new_rows)
        store.mark_late_absorbed([row[0] for row in pending], job_id)
        counts["late_events_absorbed"] = len(pending)
        return dict(counts)

    fields = dict(
        series=series, label=f"{len(pending)} queued late events", reason="patch", cutoff_ms=now_ms
    )
    return _run_job(store, f"patch:{series}:{pending[-1][0]}", "patch", now_ms, fields, body)
