"""Tiers and batch jobs: preliminary / final recomputes, reprocessing, side-output
patches, and where streaming emissions go once a window has a batch or final version.

Why it works this way:
- A batch job recomputes whole windows from the raw log (the source of truth),
  with the same window assigner and the same per-event metric definitions as the
  streaming operator, counting only events that arrived by the job's cutoff.
- Each job is ONE transaction holding its versions, contributions, adjustments,
  diff rows and its own job record; the job's idempotency key is checked under
  the write lock, so a second run (or a restart mid-job) changes nothing.
- A final window is immutable. Anything that later arrives for it — a late pane,
  a side-output event, a reprocessing difference — is booked as an adjustment in
  the current open period (the business day holding "now"), linked to the window.
- Once a batch or patch version exists, the operator's in-memory totals no longer
  describe the stored window (the batch saw events the operator dropped). Later
  panes are therefore rebased on the stored version using the events they add
  (``added_ids``), so a late pane never undoes a correction.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from engine.core.events import ORDER_TYPE
from engine.core.spec import PipelineSpec
from engine.core.timeutil import business_day_bounds, business_day_of, get_zone
from engine.core.windows import WindowAssigner
from engine.runtime.clock import wall_ms
from engine.runtime.tiers import TierSchedule, check_order
from engine.store.db import NewVersion, Store
from engine.store.queries import chunks, event_metrics
from engine.store.schema import METRIC_COLUMNS, TIER_RANK

STREAMING_REASONS = ("early", "on_time", "late_data")
# Late-event actions the patch job absorbs; ``recompute`` ones go to the recompute
# job (engine.runtime.recompute), which rebuilds the whole window from the raw log.
SIDE_OUTPUT_ACTIONS = ("side_output", "too_late", "max_updates")
_RAW_COLUMNS = "event_id, source, key, event_type, amount_cents, items, event_time_ms"


@dataclass(frozen=True)
class FinalizePolicy:
    """Business time zone and when the tiers are due. ``preliminary_at``/``final_at``
    are schedules relative to the day (engine.runtime.tiers: "D+1 02:00", "+24h",
    "D+7"); unset, they are the start of day + ``preliminary_after_days`` /
    ``final_after_days``."""

    tz: str = "UTC"
    preliminary_after_days: int = 1
    final_after_days: int = 7
    preliminary_at: str | None = None
    final_at: str | None = None

    def __post_init__(self) -> None:
        get_zone(self.tz)
        if not 0 < self.preliminary_after_days <= self.final_after_days:
            raise ValueError("the preliminary tier must come after the day and before the final")
        check_order(self.schedule("preliminary"), self.schedule("final"), self.tz)

    def schedule(self, tier: str) -> TierSchedule:
        if tier == "preliminary":
            return TierSchedule.parse(self.preliminary_at or f"D+{self.preliminary_after_days}")
        if tier == "final":
            return TierSchedule.parse(self.final_at or f"D+{self.final_after_days}")
        raise ValueError(f"no schedule for tier {tier!r}")

    def due_ms(self, day: date, tier: str) -> int:
        """When ``tier`` of business day ``day`` is due."""
        return self.schedule(tier).due_ms(day, self.tz)


@dataclass
class JobResult:
    job_id: int | None
    status: str  # completed | skipped (already done) | nothing_to_do
    counts: dict = field(default_factory=dict)


# -- calendar helpers ---------------------------------------------------------------
def open_period(now_ms: int, tz: str) -> tuple[int, int]:
    """The current open booking period: the business day holding ``now_ms``."""
    return business_day_bounds(business_day_of(now_ms, tz), tz)


def groups_of(row: dict, group_by: str) -> tuple[str, ...]:
    """The groups an event counts in — the same rule as ``WindowOperator._groups``."""
    if group_by == "none":
        return ("*",)
    if group_by == "source":
        return (row["source"],)
    if group_by == "key":
        return (row["key"] or "-",)
    return ("*", row["source"])


def windows_starting_in(spec: PipelineSpec, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
    """Every window whose start lies in [start_ms, end_ms), in order."""
    kind = spec.window.kind
    if kind in ("session", "global"):
        raise ValueError(f"{kind} windows have no fixed calendar; batch jobs need fixed windows")
    if kind == "sliding":
        size, slide, offset = spec.window.size_ms, spec.window.slide_ms, spec.window.offset_ms
        first = start_ms + (offset - start_ms) % slide
        return [(s, s + size) for s in range(first, end_ms, slide)]
    assign = WindowAssigner(spec.window).assign
    out: list[tuple[int, int]] = []
    w = assign(start_ms)[0]
    if w[0] < start_ms:
        w = assign(w[1])[0]
    while w[0] < end_ms:
        out.append(w)
        w = assign(w[1])[0]
    return out


# -- batch recompute --------------------------------------------------------------
def _raw_rows(store: Store, from_ms: int, to_ms: int, cutoff_ms: int | None) -> list[dict]:
    sql = f"SELECT {_RAW_COLUMNS} FROM raw_events WHERE event_time_ms >= ? AND event_time_ms < ?"
    params: list = [from_ms, to_ms]
    if cutoff_ms is not None:
        sql += " AND arrival_time_ms <= ?"
        params.append(cutoff_ms)
    names = [c.strip() for c in _RAW_COLUMNS.split(",")]
    return [dict(zip(names, r, strict=True)) for r in store.conn.execute(sql, params)]


def _rows_by_id(store: Store, ids: Iterable[str]) -> list[dict]:
    names = [c.strip() for c in _RAW_COLUMNS.split(",")]
    out: list[dict] = []
    for part in chunks(sorted(set(ids)), 5000):
        marks = ",".join("?" * len(part))
        cur = store.conn.execute(
            f"SELECT {_RAW_COLUMNS} FROM raw_events WHERE event_id IN ({marks})", part
        )
        out.extend(dict(zip(names, r, strict=True)) for r in cur)
    return out


def batch_recompute(
    store: Store, spec: PipelineSpec, windows: Sequence[tuple[int, int]], cutoff_ms: int | None
) -> dict[tuple[int, int, str], tuple[dict, set[str]]]:
    """(start, end, group) -> (values, event ids) for the given windows, from the raw log.

    The values are ``aggregate()``'s over each window's rows (a test holds them
    equal); summed here in one pass over plain tuples, because a finalization reads
    whole days of events."""
    if not windows:
        return {}
    wanted = set(windows)
    lo, hi = min(w[0] for w in windows), max(w[1] for w in windows)
    sql = f"SELECT {_RAW_COLUMNS} FROM raw_events WHERE event_time_ms >= ? AND event_time_ms < ?"
    params: list = [lo, hi]
    if cutoff_ms is not None:
        sql += " AND arrival_time_ms <= ?"
        params.append(cutoff_ms)
    metrics = set(spec.metrics)
    keep_orders = bool(metrics & {"avg_order_value", "median_order_value"})
    keep_users = "distinct_users" in metrics
    assign = WindowAssigner(spec.window).assign
    group_by = spec.group_by
    # per (start, end, group): [revenue, orders, items, events, ids, order amounts, users]
    acc: dict[tuple[int, int, str], list] = {}
    for eid, source, key, event_type, amount, items, ts in store.conn.execute(sql, params):
        amount, items = int(amount), int(items)
        is_order = event_type == ORDER_TYPE
        if group_by == "all+source":
            groups = ("*", source)
        elif group_by == "none":
            groups = ("*",)
        else:
            groups = groups_of({"source": source, "key": key}, group_by)
        for w in assign(ts):
            if w not in wanted:
                continue
            for g in groups:
                a = acc.get((w[0], w[1], g))
                if a is None:
                    a = acc[(w[0], w[1], g)] = [0, 0, 0, 0, set(), [], set()]
                a[0] += amount
                a[2] += items
                a[3] += 1
                a[4].add(eid)
                if is_order:
                    a[1] += 1
                    if keep_orders:
                        a[5].append(amount)
                if keep_users and key is not None:
                    a[6].add(key)
    if group_by in ("none", "all+source"):
        for w in windows:
            acc.setdefault((w[0], w[1], "*"), [0, 0, 0, 0, set(), [], set()])
    out = {}
    for k, (revenue, orders, items, events, ids, amounts, users) in acc.items():
        values = {"revenue_cents": revenue, "orders": orders, "items": items, "events": events}
        values["avg_order_value_cents"] = (
            (sum(amounts) / len(amounts) if amounts else None)
            if "avg_order_value" in metrics
            else None
        )
        values["median_order_value_cents"] = (
            (float(statistics.median(amounts)) if amounts else None)
            if "median_order_value" in metrics
            else None
        )
        values["distinct_users"] = len(users) if keep_users else None
        out[k] = (values, ids)
    return out


def _same_values(a: dict, b: dict) -> bool:
    for c in METRIC_COLUMNS:
        x, y = a.get(c), b.get(c)
        if x is None or y is None:
            if (x is None) != (y is None):
                return False
        elif round(float(x), 2) != round(float(y), 2):
            return False
    return True


def _adjustment_rows(store, series, window, latest, rows, now_ms, policy, reason, job_id):
    period = open_period(now_ms, policy.tz)
    for r in rows:
        yield {
            "window_start_ms": window[0],
            "window_end_ms": window[1],
            "grp": latest["grp"],
            "final_version": latest["version"],
            "event_id": r["event_id"],
            **{
                k: r.get("sign", 1) * v
                for k, v in event_metrics(r["event_type"], r["amount_cents"], r["items"]).items()
            },
            "period_start_ms": period[0],
            "period_end_ms": period[1],
            "booked_at_ms": now_ms,
            "reason": reason,
            "job_id": job_id,
        }


def _write_recompute(store, series, spec, results, *, tier, reason, job_id, now_ms, policy):
    """Append batch versions where needed; book differences on final windows as adjustments."""
    counts = defaultdict(int)
    diffs = []
    for (ws, we, grp), (values, ids) in sorted(results.items()):
        latest = store.latest(series, ws, grp)
        contributed = store.contributed_ids(series, ws, grp)
        added, removed = ids - contributed, contributed - ids
        counts["windows"] += 1
        if latest is not None and store.final(series, ws, grp)["is_final"]:
            rows = _rows_by_id(store, added) + [
                {**r, "sign": -1} for r in _rows_by_id(store, removed)
            ]
            counts["adjustments"] += store.insert_adjustments(
                series,
                _adjustment_rows(
                    store, series, (ws, we), latest, rows, now_ms, policy, reason, job_id
                ),
            )
            counts["already_final"] += 1
            continue
        streaming = store.conn.execute(
            "SELECT version, revenue_cents, events FROM versions WHERE series = ? AND "
            "window_start_ms = ? AND grp = ? AND reason IN ('early', 'on_time', 'late_data') "
            "ORDER BY version DESC LIMIT 1",
            (series, ws, grp),
        ).fetchone()
        new_tier = tier
        if latest is not None and TIER_RANK[latest["tier"]] > TIER_RANK[tier]:
            new_tier = latest["tier"]
        needs = (
            latest is None
            or latest["tier"] != new_tier
            or not _same_values(latest, values)
            or added
            or removed
        )
        written = None
        if needs:
            (written,) = store.append_versions(
                series,
                [
                    NewVersion(
                        window_start_ms=ws,
                        window_end_ms=we,
                        grp=grp,
                        values=values,
                        event_count=values["events"],
                        timing="batch",
                        tier=new_tier,
                        reason=reason,
                        processing_time_ms=now_ms,
                        watermark_ms=latest["watermark_ms"] if latest else None,
                        added_ids=sorted(added),
                        removed_ids=sorted(removed),
                        job_id=job_id,
                    )
                ],
            )
            counts["versions_written"] += 1
        diffs.append(
            {
                "window_start_ms": ws,
                "grp": grp,
                "streaming_version": streaming[0] if streaming else None,
                "streaming_revenue_cents": streaming[1] if streaming else None,
                "streaming_events": streaming[2] if streaming else None,
                "batch_revenue_cents": values["revenue_cents"],
                "batch_events": values["events"],
                "diff_revenue_cents": values["revenue_cents"] - streaming[1] if streaming else None,
                "diff_events": values["events"] - streaming[2] if streaming else None,
                "written_version": written,
            }
        )
        if streaming:
            counts["abs_diff_revenue_cents"] += abs(values["revenue_cents"] - streaming[1])
            counts["windows_changed_vs_streaming"] += int(
                values["revenue_cents"] != streaming[1] or values["events"] != streaming[2]
            )
    store.record_job_diffs(job_id, series, diffs)
    return dict(counts)


def _spec_for(store: Store, series: str, spec: PipelineSpec | None) -> PipelineSpec:
    spec = spec or store.config(series)
    if spec is None:
        raise ValueError(f"no pipeline spec stored for series {series!r}; pass one or save it")
    return spec


def _run_job(store: Store, key: str, kind: str, now_ms: int, job_fields: dict, body) -> JobResult:
    """Run ``body(job_id) -> counts`` as one idempotent transaction under ``key``."""
    done = store.job_by_key(key)
    if done is not None:
        return JobResult(done["id"], "skipped", {"existing_job": done["id"]})
    try:
        with store.transaction():
            done = store.job_by_key(key)  # re-checked under the write lock
            if done is not None:
                return JobResult(done["id"], "skipped", {"existing_job": done["id"]})
            job_id = store.insert_job(
                kind, status="running", now_ms=now_ms, idempotency_key=key, **job_fields
            )
            started = wall_ms()  # processing time stands still in a job; wall time shows cost
            counts = body(job_id)
            counts = {**counts, "run_ms": wall_ms() - started}
            store.finish_job(job_id, "completed", now_ms, counts)
    except Exception as exc:
        with store.transaction():
            store.insert_job(
                kind,
                status="failed",
                now_ms=now_ms,
                idempotency_key=key,
                error=f"{type(exc).__name__}: {exc}",
                **job_fields,
            )
        raise
    return JobResult(job_id, "completed", counts)


def finalize_day(
    store: Store,
    series: str,
    day: date,
    tier: str,
    now_ms: int,
    policy: FinalizePolicy | None = None,
    spec: PipelineSpec | None = None,
) -> JobResult:
    """Recompute every window of business ``day`` from the raw log (events arrived by
    ``now_ms``) and append ``tier`` versions where the value or the tier changes."""
    if tier not in ("preliminary", "final"):
        raise ValueError("finalization tiers are 'preliminary' and 'final'")
    policy = policy or FinalizePolicy()
    spec = _spec_for(store, series, spec)
    start, end = business_day_bounds(day, policy.tz)
    windows = windows_starting_in(spec, start, end)

    def body(job_id: int) -> dict:
        results = batch_recompute(store, spec, windows, now_ms)
        return _write_recompute(
            store,
            series,
            spec,
            results,
            tier=tier,
            reason="finalization",
            job_id=job_id,
            now_ms=now_ms,
            policy=policy,
        )

    fields = dict(
        series=series,
        range_start_ms=start,
        range_end_ms=end,
        label=day.isoformat(),
        tier=tier,
        reason="finalization",
        cutoff_ms=now_ms,
    )
    return _run_job(
        store, f"finalize:{series}:{day.isoformat()}:{tier}", "finalization", now_ms, fields, body
    )


def reprocess(
    store: Store,
    series: str,
    from_ms: int,
    to_ms: int,
    reason: str,
    now_ms: int,
    policy: FinalizePolicy | None = None,
    spec: PipelineSpec | None = None,
) -> JobResult:
    """Recompute the windows starting in [from_ms, to_ms) from the whole raw log.
    Final windows do not change; their differences become adjustments."""
    policy = policy or FinalizePolicy()
    spec = _spec_for(store, series, spec)
    windows = windows_starting_in(spec, from_ms, to_ms)

    def body(job_id: int) -> dict:
        results = batch_recompute(store, spec, windows, now_ms)
        return _write_recompute(
            store,
            series,
            spec,
            results,
            tier="live",
            reason="reprocessing",
            job_id=job_id,
            now_ms=now_ms,
            policy=policy,
        )

    fields = dict(
        series=series,
        range_start_ms=from_ms,
        range_end_ms=to_ms,
        label=reason,
        reason="reprocessing",
        cutoff_ms=now_ms,
    )
    key = f"reprocess:{series}:{from_ms}:{to_ms}:{now_ms}:{reason}"
    return _run_job(store, key, "reprocessing", now_ms, fields, body)


def due_finalizations(
    store: Store, series: str, now_ms: int, policy: FinalizePolicy, lookback_days: int = 35
) -> list[tuple[date, str]]:
    """(day, tier) jobs that are due at ``now_ms`` and not yet done, oldest first:
    by default preliminary from the start of T+1, final from the start of T+7; the
    policy's schedules say otherwise (engine.runtime.tiers)."""
    today = business_day_of(now_ms, policy.tz)
    out = []
    for back in range(lookback_days, 0, -1):
        day = today - timedelta(days=back)
        start, end = business_day_bounds(day, policy.tz)
        has_data = store.conn.execute(
            "SELECT 1 FROM raw_events WHERE event_time_ms >= ? AND event_time_ms < ? LIMIT 1",
            (start, end),
        ).fetchone()
        if not has_data:
            continue
        for tier in ("preliminary", "final"):
            due = now_ms >= policy.due_ms(day, tier)
            if due and store.job_by_key(f"finalize:{series}:{day}:{tier}") is None:
                out.append((day, tier))
    return out
