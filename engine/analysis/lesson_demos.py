"""The Learn course's demos that are not a playground stream: each one runs the real
``WindowOperator`` (or the simulator and the lateness analysis) and returns plain
frames — the pages draw them, the lessons ask questions about them, the tests replay
the same events and compare.

- ``bucket_events`` / ``bucketing``: the chapter's opening example (an order from
  9:45 that arrives at 11:00) bucketed by event time and by processing time;
- ``lateness_blend``: the simulator's clickstream blend (or all six sources) measured
  like the Lateness page — the chapter's p50 2 s / p90 30 s / p99 5 min / p99.9 30 min;
- ``requirement_capture``: the chapter's requirement presets (fraud 30 s, daily
  reporting 1 h, monthly billing 7 d; web 5 min / mobile 4 h / partner 24 h; 4 h);
- ``patching``: average order value, median and distinct users patched vs recomputed;
- ``tiers``: one business day through live → preliminary (T+1) → final (T+7) →
  adjustment, each tier a batch recompute on the operator of what had arrived;
- ``ads_billing``: the ad-attribution practice problem (a billing close).

Never imports the runtime, the API or the views (the analysis part's boundary).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

from engine.analysis import lateness as lateness_analysis
from engine.analysis.playground import PlayEvent, clock_ms
from engine.analysis.playground_words import bucket_totals, bucketing
from engine.core.events import ORDER_TYPE, Event
from engine.core.operator import WindowOperator
from engine.core.spec import PipelineSpec, TriggerSpec, WatermarkSpec, WindowSpec
from engine.core.timeutil import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS
from engine.sim.profiles import CLICKSTREAM, STORE_SOURCES
from engine.sim.simulator import Simulator

# ---------------------------------------------------------------------- 1. buckets
BUCKET_EVENTS = (
    PlayEvent("o1", clock_ms("09:05:00"), clock_ms("09:05:02"), 20),
    PlayEvent("o2", clock_ms("09:20:00"), clock_ms("09:20:01"), 35),
    PlayEvent("o3", clock_ms("09:45:00"), clock_ms("11:00:00"), 50),  # phone was offline
    PlayEvent("o4", clock_ms("09:58:00"), clock_ms("10:00:30"), 15),
    PlayEvent("o5", clock_ms("10:10:00"), clock_ms("10:10:03"), 25),
    PlayEvent("o6", clock_ms("10:30:00"), clock_ms("10:30:05"), 40),
    PlayEvent("o7", clock_ms("10:50:00"), clock_ms("10:50:01"), 30),
    PlayEvent("o8", clock_ms("11:05:00"), clock_ms("11:05:02"), 10),
)


def bucket_demo(size_ms: int = HOUR_MS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per event, per bucket) for the opening example, both through the operator."""
    frame = bucketing(BUCKET_EVENTS, size_ms)
    return frame, bucket_totals(frame)


# ---------------------------------------------------------------------- 3. lateness
BLENDS = {
    "clickstream": ("Clickstream: web + api + mobile (the chapter's table)", CLICKSTREAM),
    "all": ("All six store sources (payment, partner, manual too)", STORE_SOURCES),
}
CHAPTER_QUANTILES_MS = {"p50": 2 * SECOND_MS, "p90": 30 * SECOND_MS, "p99": 5 * MINUTE_MS}
CHAPTER_QUANTILES_MS["p99.9"] = 30 * MINUTE_MS
CHAPTER_CAPTURE = {30 * SECOND_MS: 0.90, 5 * MINUTE_MS: 0.99, 30 * MINUTE_MS: 0.999}
CHAPTER_CAPTURE[HOUR_MS] = 0.9995
REQUIREMENTS = (
    ("Fraud detection", "all", 30 * SECOND_MS),
    ("Daily reporting", "all", HOUR_MS),
    ("Monthly billing", "all", 7 * DAY_MS),
    ("Per source: web", "web", 5 * MINUTE_MS),
    ("Per source: mobile", "mobile", 4 * HOUR_MS),
    ("Per source: partner", "partner", DAY_MS),
    ("Capture point", "all", 4 * HOUR_MS),
)


@lru_cache(maxsize=4)
def blend_frame(blend: str, events: int = 100_000, seed: int = 16) -> pd.DataFrame:
    """Simulated events of one blend (a seeded run of the real simulator, 2 days).
    Cached (the same seed gives the same frame): callers must not mutate it."""
    _, sources = BLENDS[blend]
    return Simulator("steady", seed=seed, sources=sources, events=events, days=2).frame()


def lateness_blend(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(quantiles of the arrival delay, capture shares) over all of ``frame``, measured
    by ``engine.analysis.lateness`` — the Lateness page's own functions — next to the
    chapter's figures."""
    profile = lateness_analysis.lateness_profile(frame, dedup=True)
    summary = lateness_analysis.summary(profile).set_index("source").loc["all"]
    q = pd.DataFrame(
        {
            "quantile": list(CHAPTER_QUANTILES_MS),
            "measured_ms": [float(summary[f"{k}_ms"]) for k in CHAPTER_QUANTILES_MS],
            "chapter_ms": list(CHAPTER_QUANTILES_MS.values()),
        }
    )
    budgets = tuple(CHAPTER_CAPTURE)
    cap = lateness_analysis.capture_table(profile, budgets).loc["all"]
    c = pd.DataFrame(
        {
            "wait_ms": budgets,
            "measured_share": [float(v) for v in cap.to_numpy()],
            "chapter_share": list(CHAPTER_CAPTURE.values()),
        }
    )
    return q, c


def requirement_capture(frame: pd.DataFrame) -> pd.DataFrame:
    """For each of the chapter's requirements: the share of events (of that source, or
    of all) that arrive within its wait — what that allowed lateness would capture."""
    profile = lateness_analysis.lateness_profile(frame, dedup=True)
    rows = []
    for name, source, wait in REQUIREMENTS:
        if source not in profile.rows():
            continue
        share = float(profile.capture((wait,), source, "count")[0])
        rows.append({"requirement": name, "source": source, "wait_ms": wait, "captured": share})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------- 7. patching
@dataclass(frozen=True)
class Order:
    event_id: str
    user: str
    amount: float
    event_time: str
    arrival: str


PATCH_ORDERS = (
    Order("a", "u1", 20, "12:05:00", "12:05:01"),
    Order("b", "u2", 30, "12:20:00", "12:20:02"),
    Order("c", "u3", 100, "12:40:00", "12:40:01"),
    Order("d", "u1", 25, "12:50:00", "13:20:00"),  # late: a returning user
    Order("e", "u4", 26, "12:55:00", "13:40:00"),  # late: a new user
)
NON_ADDITIVE = ("avg_order_value", "median_order_value", "distinct_users")
PATCH_METRICS = ("revenue", "orders", *NON_ADDITIVE)
METRIC_LABELS = {
    "revenue": "Revenue",
    "orders": "Orders",
    "avg_order_value": "Average order value",
    "median_order_value": "Median order value",
    "distinct_users": "Distinct users",
}


def _order_event(o: Order) -> Event:
    return Event(
        event_id=o.event_id,
        source="web",
        event_time_ms=clock_ms(o.event_time),
        arrival_time_ms=clock_ms(o.arrival),
        amount_cents=int(round(o.amount * 100)),
        event_type=ORDER_TYPE,
        key=o.user,
    )


def _patch_spec() -> PipelineSpec:
    return PipelineSpec(
        window=WindowSpec(kind="tumbling", size_ms=HOUR_MS),
        watermark=WatermarkSpec(kind="bounded", delay_ms=MINUTE_MS),
        trigger=TriggerSpec(late="each"),
        allowed_lateness_ms=2 * HOUR_MS,
        late_action="update",
        metrics=PATCH_METRICS,
    )


def _run_orders(orders, finish: bool = True) -> list:
    op = WindowOperator(_patch_spec())
    for o in sorted(orders, key=lambda x: x.arrival):
        op.process(_order_event(o))
        if o.event_id == "c":  # the clock moves past 13:00 + 1 min: the on-time pane fires
            op.advance_processing_time(clock_ms("13:01:00"))
            op.process(
                Event("tick", "web", clock_ms("13:01:30"), clock_ms("13:01:30"), 0, 0, "page.view")
            )
    if finish:
        op.finish()
    versions, _ = op.drain()
    return [v for v in versions if v.window_start_ms == clock_ms("12:00:00")]


def patching() -> pd.DataFrame:
    """Per metric: the on-time value, the late events' own aggregate, the patched value
    (published value combined with the late batch as if the metric were additive or
    averageable), the operator's recomputed late pane, and a batch recompute of the
    raw log. Additive metrics agree; non-additive ones do not."""
    versions = _run_orders(PATCH_ORDERS)
    on_time = next(v for v in versions if v.timing == "on_time").values
    final = versions[-1].values
    late_orders = [o for o in PATCH_ORDERS if clock_ms(o.arrival) >= clock_ms("13:00:00")]
    late_only = _late_batch(late_orders)
    amounts = [o.amount for o in PATCH_ORDERS]
    batch = {
        "revenue": sum(amounts),
        "orders": len(amounts),
        "avg_order_value": round(statistics.mean(amounts), 4),
        "median_order_value": statistics.median(amounts),
        "distinct_users": len({o.user for o in PATCH_ORDERS}),
    }
    patched = {
        "revenue": on_time["revenue"] + late_only["revenue"],
        "orders": on_time["orders"] + late_only["orders"],
        # the tempting patches: average the two averages / medians, add the user counts
        "avg_order_value": round(
            (on_time["avg_order_value"] + late_only["avg_order_value"]) / 2, 4
        ),
        "median_order_value": (on_time["median_order_value"] + late_only["median_order_value"]) / 2,
        "distinct_users": on_time["distinct_users"] + late_only["distinct_users"],
    }
    rows = []
    for m in PATCH_METRICS:
        rows.append(
            {
                "metric": m,
                "label": METRIC_LABELS[m],
                "published": on_time[m],
                "late_only": late_only[m],
                "patched": patched[m],
                "recomputed": final[m],
                "batch": batch[m],
                "patch_is_right": abs(patched[m] - batch[m]) < 1e-9,
            }
        )
    return pd.DataFrame(rows)


def _late_batch(orders) -> dict:
    """The late orders aggregated on their own (a second operator over just them)."""
    op = WindowOperator(_patch_spec())
    for o in orders:
        op.process(_order_event(o))
    op.finish()
    versions, _ = op.drain()
    return versions[-1].values


# ---------------------------------------------------------------------- 9. tiers
TIER_DAY = "2026-01-01"
TIER_EVENTS = (  # (id, source, event time, arrival, value) — times relative to the day
    ("w1", "web", 9 * HOUR_MS, 9 * HOUR_MS + 2 * SECOND_MS, 120),
    ("w2", "web", 14 * HOUR_MS, 14 * HOUR_MS + 5 * SECOND_MS, 80),
    ("w3", "web", 23 * HOUR_MS + 50 * MINUTE_MS, 23 * HOUR_MS + 50 * MINUTE_MS + SECOND_MS, 60),
    ("m1", "mobile", 21 * HOUR_MS, 26 * HOUR_MS, 45),  # offline until 02:00 the next day
    ("p1", "partner", 12 * HOUR_MS, 30 * HOUR_MS, 300),  # the partner's file, next morning
    ("y1", "payment", 18 * HOUR_MS, 3 * DAY_MS, 70),  # a payment confirmed after review
    ("c1", "manual", 10 * HOUR_MS, 9 * DAY_MS, -40),  # a correction after the final
)
# When latewatch computes each tier (FinalizePolicy's defaults: the preliminary from
# the start of T+1, the final from the start of T+7; a test holds them equal).
PRELIMINARY_AFTER_DAYS = 1
FINAL_AFTER_DAYS = 7
TIER_CUTS = (
    ("live, end of the day", "live", DAY_MS - SECOND_MS),
    ("preliminary (start of T+1)", "preliminary", PRELIMINARY_AFTER_DAYS * DAY_MS),
    ("final (start of T+7)", "final", FINAL_AFTER_DAYS * DAY_MS),
    ("later: adjustment", "adjustment", 30 * DAY_MS),
)


def tier_events() -> list[PlayEvent]:
    day0 = clock_ms("00:00:00", TIER_DAY)
    return [PlayEvent(i, day0 + t, day0 + a, v, src) for i, src, t, a, v in TIER_EVENTS]


def _day_total(events) -> tuple[float, int]:
    """A batch recompute on the operator: the day window over the given events."""
    spec = PipelineSpec(
        window=WindowSpec(kind="day", tz="UTC"),
        watermark=WatermarkSpec(kind="punctuated"),
        metrics=("revenue", "events"),
    )
    op = WindowOperator(spec)
    for e in events:
        op.process(
            Event(
                e.event_id, e.key or "web", e.event_time_ms, e.arrival_time_ms, int(e.amount * 100)
            )
        )
    op.finish()
    versions, _ = op.drain()
    if not versions:
        return 0.0, 0
    return versions[-1].values["revenue"], versions[-1].event_count


def tiers() -> pd.DataFrame:
    """Per tier: when it is computed, which events it includes (arrived by then), its
    value; the adjustment row is what arrives after the final tier was frozen."""
    events = tier_events()
    day0 = clock_ms("00:00:00", TIER_DAY)
    rows, final_value = [], None
    for label, tier, cut in TIER_CUTS:
        arrived = [e for e in events if e.arrival_time_ms <= day0 + cut]
        value, count = _day_total(arrived)
        row = {
            "tier": tier,
            "label": label,
            "computed_at_ms": day0 + cut,
            "events": count,
            "ids": ", ".join(e.event_id for e in arrived),
            "value": value,
        }
        if tier == "final":
            final_value = value
        if tier == "adjustment":
            row["value"] = value - final_value  # booked in the open period, linked to the day
            frozen = day0 + FINAL_AFTER_DAYS * DAY_MS
            row["ids"] = ", ".join(
                e.event_id for e in events if frozen < e.arrival_time_ms <= day0 + cut
            )
            row["events"] = len(row["ids"].split(", ")) if row["ids"] else 0
        rows.append(row)
    return pd.DataFrame(rows)


def as_of(t_ms: int) -> dict:
    """What a dashboard shows for the day at processing time ``t_ms``: everything that
    had arrived (the latest version, late updates included) until the final tier
    freezes the day; its label (live, then preliminary from the start of T+1, final
    from the start of T+7) and the share of the final value it holds."""
    events = tier_events()
    day0 = clock_ms("00:00:00", TIER_DAY)
    frozen = day0 + FINAL_AFTER_DAYS * DAY_MS
    final, _ = _day_total([e for e in events if e.arrival_time_ms <= frozen])
    value, count = _day_total([e for e in events if e.arrival_time_ms <= min(t_ms, frozen)])
    tier = "live"
    if t_ms >= frozen:
        tier = "final"
    elif t_ms >= day0 + PRELIMINARY_AFTER_DAYS * DAY_MS:
        tier = "preliminary"
    return {"value": value, "events": count, "tier": tier, "share_of_final": value / final}


# ---------------------------------------------------------------------- 12. ad billing
ADS_YEAR = "2026"
ADS_EVENTS = (  # (id, click day, conversion arrives, commission) in January/February
    ("k1", "01-05", "01-06", 12),
    ("k2", "01-12", "01-20", 8),
    ("k3", "01-25", "01-26", 15),
    ("k4", "01-28", "02-02", 9),
    ("k5", "02-01", "02-01", 11),
    ("k6", "02-03", "02-03", 7),
    ("k7", "01-20", "02-04", 10),
    ("k8", "02-07", "02-07", 6),
    ("k9", "01-15", "02-12", 14),
    ("k10", "01-30", "02-27", 5),
)
ADS_CLOSE_DAYS = 5  # the billing close: invoices are cut 5 days after the month ends


def _day_ms(mmdd: str) -> int:
    from engine.core.timeutil import parse_timestamp_ms

    return parse_timestamp_ms(f"{ADS_YEAR}-{mmdd}T12:00:00Z")


def ads_billing() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ad-attribution practice problem on the operator: a conversion is booked to
    the month of its click (a 30-day attribution window, so it can arrive weeks
    later); monthly windows, W = max click time − 1 day, allowed lateness = the
    billing close (5 days). Returns (per conversion: outcome, action; per pane)."""
    spec = PipelineSpec(
        window=WindowSpec(kind="month", tz="UTC"),
        watermark=WatermarkSpec(kind="bounded", delay_ms=DAY_MS),
        trigger=TriggerSpec(late="each"),
        allowed_lateness_ms=ADS_CLOSE_DAYS * DAY_MS,
        late_action="update",
        metrics=("revenue", "events"),
    )
    op = WindowOperator(spec, track_contributions=True)
    rows, versions, late = [], [], []
    for eid, click, conv, value in sorted(ADS_EVENTS, key=lambda r: _day_ms(r[2])):
        w = op.watermark_ms
        outcome = op.process(Event(eid, "partner", _day_ms(click), _day_ms(conv), value * 100))
        v, lt = op.drain()
        versions += v
        late += lt
        rows.append(
            {
                "conversion": eid,
                "click_ms": _day_ms(click),
                "arrived_ms": _day_ms(conv),
                "commission": float(value),
                "watermark_before_ms": w,
                "outcome": outcome,
            }
        )
    op.finish()
    v, lt = op.drain()
    versions += v
    late += lt
    panes = pd.DataFrame(
        [
            {
                "month_start_ms": x.window_start_ms,
                "version": x.version,
                "timing": x.timing,
                "at_ms": x.processing_time_ms,
                "at_end": x.watermark_ms >= 2**62,
                "invoice": x.values["revenue"],
                "conversions": x.event_count,
                "added": ", ".join(x.added_ids),
            }
            for x in versions
        ]
    )
    frame = pd.DataFrame(rows)
    actions = {x.event_id: x.action for x in late}
    frame["action"] = [actions.get(e, "") for e in frame["conversion"]]
    return frame, panes
