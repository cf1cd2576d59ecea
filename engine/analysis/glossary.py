"""The glossary: the course chapter's terms reconciled with latewatch's. Where the
two differ, the entry says how, and the Learn page shows both counts side by side
(``watermark_rule_counts``: "behind the watermark" — the chapter's rule — vs
"routed late" — latewatch's — on one replay through the operator).

Plain data; ``search`` is what the page's search box calls.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.events import Event
from engine.core.operator import WindowOperator
from engine.core.spec import PipelineSpec, WatermarkSpec, WindowSpec
from engine.core.timeutil import HOUR_MS, SECOND_MS
from engine.sim.profiles import CLICKSTREAM
from engine.sim.simulator import Simulator


@dataclass(frozen=True)
class Term:
    key: str
    term: str  # latewatch's word
    chapter: str  # the chapter's word (same when they agree)
    meaning: str  # in latewatch
    differs: str = ""  # how the chapter's use differs, when it does
    page: str = ""  # url path of the page where it shows ("" = Today)
    lesson: str = ""  # lesson key


TERMS: tuple[Term, ...] = (
    Term(
        "event-time",
        "event time",
        "event time",
        "When the event happened (its timestamp). Windows are cut by event time.",
        lesson="event-time",
    ),
    Term(
        "processing-time",
        "processing time / arrival",
        "processing time",
        "When the event reached latewatch. Also the time versions are computed at.",
        lesson="event-time",
    ),
    Term(
        "arrival-delay",
        "arrival delay",
        "lateness (of an event)",
        "arrival − event time, measured per source on the Lateness page.",
        "The chapter says an event's 'lateness' for this delay; latewatch keeps 'late' for "
        "the routing outcome below.",
        page="lateness",
        lesson="lateness",
    ),
    Term(
        "watermark",
        "watermark (W)",
        "watermark",
        "The claim that no event older than W is still coming. Monotonic. A window "
        "[start, end) fires on time once W ≥ end.",
        page="operations",
        lesson="watermarks",
    ),
    Term(
        "bounded-watermark",
        "bounded watermark",
        "bounded out-of-orderness",
        "W = largest event time seen − delay (the watermark delay).",
        lesson="watermarks",
    ),
    Term(
        "per-key-watermark",
        "per-key watermark",
        "per-partition / per-key watermark",
        "One bounded watermark per source (or key); global W = minimum over keys that are "
        "not idle.",
        page="operations",
        lesson="watermarks",
    ),
    Term(
        "idle-timeout",
        "idle timeout",
        "idleness",
        "A key silent for longer than this (processing time) stops holding W back.",
        lesson="watermarks",
    ),
    Term(
        "on-time",
        "on time",
        "on time",
        "The event's window had not fired when it arrived — even if event time < W.",
        "By the chapter's rule an event with event time < W is late. latewatch (like Flink "
        "and Beam) calls it on time while its window has not fired: it is merely out of "
        "order. The chapter's count is kept as 'behind the watermark'.",
        lesson="late-windows",
    ),
    Term(
        "behind-watermark",
        "behind the watermark",
        "late (event_time < watermark)",
        "event time < W at arrival. Recorded as the watermark_lateness_ms metric "
        "(W − event time); not used for routing.",
        "This is the chapter's definition of late. On replays it flags many more events "
        "than latewatch routes late — see the counts above.",
        page="operations",
        lesson="watermarks",
    ),
    Term(
        "late",
        "late (routed late)",
        "late",
        "The event's window had already fired, and W < end + allowed lateness: the late "
        "action applies.",
        "Per (event, window) pair, not per event: a sliding-window event can be late for "
        "one window and on time for another.",
        lesson="late-windows",
    ),
    Term(
        "too-late",
        "too late",
        "dropped / beyond allowed lateness",
        "W ≥ end + allowed lateness: the window's state is gone; the event goes to the "
        "late-events side output (never silently dropped).",
        page="operations",
        lesson="cleanup",
    ),
    Term(
        "allowed-lateness",
        "allowed lateness",
        "allowed lateness",
        "How long after a window fired late events may still update it (state retention).",
        "The chapter uses 'allowed lateness' both for the watermark's bound (latewatch: "
        "the watermark delay) and for state retention (latewatch: allowed lateness). Two "
        "knobs, two jobs.",
        page="whatif",
        lesson="cleanup",
    ),
    Term(
        "state",
        "window state",
        "state",
        "The accumulator of an open window, kept until W ≥ end + allowed lateness.",
        lesson="cleanup",
    ),
    Term(
        "pane",
        "pane",
        "firing / result",
        "One emission of a window: early, on time or late. Each pane is kept as a version.",
        page="versions",
        lesson="late-windows",
    ),
    Term(
        "late-action",
        "late action",
        "late-data strategy",
        "update (a late pane), side_output (batch patch), drop (counted, logged), recompute.",
        page="operations",
        lesson="strategies",
    ),
    Term(
        "side-output",
        "side output",
        "dead-letter queue / side output",
        "Late events kept out of the streaming result, queued for the batch patch.",
        page="operations",
        lesson="strategies",
    ),
    Term(
        "max-updates",
        "max updates per window",
        "(update limit)",
        "Late panes a window may publish; further late events go to the side output.",
        lesson="strategies",
    ),
    Term(
        "patch",
        "patch",
        "incremental correction",
        "Adding late events to a published number — right for sums and counts only.",
        page="versions",
        lesson="patching",
    ),
    Term(
        "recompute",
        "recompute / reprocessing",
        "reprocessing",
        "Rebuilding a window from the raw event log — needed for non-additive metrics.",
        page="operations",
        lesson="patching",
    ),
    Term(
        "non-additive",
        "non-additive metric",
        "non-additive aggregate",
        "Average order value, median order value, distinct users: cannot be patched.",
        lesson="patching",
    ),
    Term(
        "version",
        "version",
        "versioned result",
        "A window result is never overwritten; each change appends a version with when and why.",
        page="versions",
        lesson="versions",
    ),
    Term(
        "as-of",
        "as of",
        "as-of query / time travel",
        "What a dashboard showed at a past processing time.",
        page="versions",
        lesson="versions",
    ),
    Term(
        "tier",
        "tier",
        "result tier",
        "live (streaming) → preliminary (T+1 batch) → final (T+7).",
        page="",
        lesson="tiers",
    ),
    Term(
        "is-final",
        "final tier",
        "is_final",
        "latewatch's final tier: the T+7 batch recompute; after it the window is frozen.",
        "The chapter's is_final means the watermark passed the window's end — latewatch's "
        "on-time pane, which is still live and will change with late data.",
        lesson="tiers",
    ),
    Term(
        "final",
        "final",
        "final",
        "The frozen T+7 number; alerts evaluate on it.",
        page="alerts",
        lesson="tiers",
    ),
    Term(
        "adjustment",
        "adjustment",
        "restatement / adjustment",
        "A late event for a final window is booked in the open period, linked to its window.",
        page="reconciliation",
        lesson="tiers",
    ),
    Term(
        "completeness",
        "completeness",
        "completeness",
        "How much of a window's final value has probably arrived, from arrival curves.",
        page="",
        lesson="dashboards",
    ),
    Term(
        "capture",
        "capture",
        "coverage",
        "The share of events (or value) whose arrival delay is within a wait.",
        page="lateness",
        lesson="lateness",
    ),
)
BY_KEY = {t.key: t for t in TERMS}


def search(text: str) -> list[Term]:
    """Terms whose words (either side) or meaning contain every word of ``text``."""
    words = [w for w in str(text or "").lower().split() if w]
    if not words:
        return list(TERMS)
    out = []
    for t in TERMS:
        hay = " ".join((t.term, t.chapter, t.meaning, t.differs, t.key)).lower()
        if all(w in hay for w in words):
            out.append(t)
    return out


def watermark_rule_counts(events: int = 20_000, seed: int = 16) -> dict:
    """The chapter's rule ("late iff event_time < W") vs latewatch's (the window had
    fired) on one replay of the clickstream blend through the operator — hourly
    windows, W = max − 30 s, 6 h allowed lateness — plus the ``watermark_lateness_ms``
    metric the operator records (W − event_time for every event that had a W)."""
    frame = Simulator("steady", seed=seed, sources=CLICKSTREAM, events=events, days=1).frame()
    frame = frame.loc[~frame["event_id"].duplicated(keep="first")]
    spec = PipelineSpec(
        window=WindowSpec(kind="tumbling", size_ms=HOUR_MS),
        watermark=WatermarkSpec(kind="bounded", delay_ms=30 * SECOND_MS),
        allowed_lateness_ms=6 * HOUR_MS,
        late_action="update",
    )
    op = WindowOperator(spec)
    for row in frame.itertuples(index=False):
        op.process(
            Event(
                row.event_id,
                row.source,
                int(row.event_time_ms),
                int(row.arrival_time_ms),
                int(row.amount_cents),
            )
        )
    lateness = op.watermark_lateness_ms
    behind = sum(1 for d in lateness if d > 0)
    out = op.outcomes
    routed = out.late + out.side_output + out.dropped + out.too_late
    metric = op.metrics()["watermark_lateness_ms"]
    return {
        "events": len(frame),
        "behind_watermark": behind,
        "routed_late": routed,
        "late": out.late,
        "too_late": out.too_late,
        "ratio": behind / routed if routed else None,
        "watermark_lateness_ms": metric,
    }
