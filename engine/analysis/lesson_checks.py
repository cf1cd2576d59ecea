"""The Learn course's check questions: each computes its answer from the engine when
asked — a playground run, a lesson demo — and offers it among distractors that are
also computed (the value under another setting, the value one step earlier). Nothing
here is typed in; ``verify`` tells the learner where the demo shows it.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.analysis import lesson_demos as demos
from engine.analysis.playground import clock_ms, clock_text, run_preset
from engine.core.timeutil import HOUR_MS, MINUTE_MS


@dataclass(frozen=True)
class Check:
    question: str
    options: tuple[str, ...]
    answer: str
    verify: str  # where the demo shows it

    def __post_init__(self) -> None:
        if self.answer not in self.options:
            raise ValueError(f"answer {self.answer!r} is not among the options")


def _options(answer, *others, fmt=str) -> tuple[tuple[str, ...], str]:
    """Answer plus distinct distractors, in their natural order (numbers and times by
    value, words alphabetically) — the answer's position tells nothing."""
    values = []
    for v in (answer, *others):
        if fmt(v) not in [fmt(x) for x in values]:
            values.append(v)
    try:
        values.sort()
    except TypeError:
        values.sort(key=fmt)
    return tuple(fmt(v) for v in values), fmt(answer)


def _check(question, answer, others, verify, fmt=str) -> Check:
    options, ans = _options(answer, *others, fmt=fmt)
    return Check(question, options, ans, verify)


def _pane_value(run, start: str, version: int | None = None) -> float:
    p = run.panes[run.panes["window_start_ms"] == clock_ms(start)]
    if version is not None:
        p = p[p["version"] == version]
    return float(p["value"].iloc[-1])


def _w_after(run, event_id: str) -> int:
    at = int(run.points.set_index("event_id").loc[event_id, "arrival_time_ms"])
    wm = run.watermark[run.watermark["processing_time_ms"] <= at]
    return int(wm["watermark_ms"].iloc[-1])


def _hour(ms: int) -> str:
    return f"{clock_text(ms)[:5]}–{clock_text(ms + HOUR_MS)[:5]}"


# ---------------------------------------------------------------------- the checks
def check_bucket() -> Check:
    frame, _ = demos.bucket_demo(HOUR_MS)
    o3 = frame.set_index("event_id").loc["o3"]
    return _check(
        "Bucketed by processing time, which hour does the 9:45 order (o3) land in?",
        int(o3["processing_window_ms"]),
        [int(o3["event_window_ms"]), int(o3["event_window_ms"]) + HOUR_MS],
        "The red bars count by arrival; the table lists o3's bucket both ways.",
        fmt=_hour,
    )


def check_mistake() -> Check:
    _, totals = demos.bucket_demo(HOUR_MS)
    row = totals.set_index("window_start_ms").iloc[0]
    return _check(
        "The 9:00–10:00 hour's revenue by event time (what really happened then) is…",
        float(row["value_by_event_time"]),
        [float(row["value_by_processing_time"]), float(row["value_by_event_time"]) + 15],
        "In the table, add up the values of the orders whose bucket by event time is 09:00.",
        fmt=lambda v: f"${v:g}",
    )


def check_bounded() -> Check:
    run = run_preset("bounded_worked")
    w = _w_after(run, "c")
    return _check(
        "W = max event time seen − 5 min. What is the watermark right after c (10:02) arrives?",
        w,
        [w + 5 * MINUTE_MS, w - 4 * MINUTE_MS],
        "Step to 10:02:05: the caption under the chart states the watermark.",
        fmt=clock_text,
    )


def check_perfect() -> Check:
    run = run_preset("bounded_worked", watermark="perfect")
    fired = run.panes[(run.panes["timing"] == "on_time")].iloc[0]
    heuristic = run_preset("bounded_worked").panes
    h = heuristic[heuristic["timing"] == "on_time"].iloc[0]
    return _check(
        "With the perfect watermark, when does [09:50, 10:00) fire on time?",
        int(fired["processing_time_ms"]),
        [int(h["processing_time_ms"]), int(fired["processing_time_ms"]) - 5 * MINUTE_MS],
        "The first on-time diamond; the Panes table lists when it fired.",
        fmt=clock_text,
    )


def check_per_key() -> Check:
    run = run_preset("per_key_idle")
    first = run.panes[run.panes["timing"] == "on_time"].iloc[0]
    never = run_preset("per_key_idle", idle_ms=None)
    late = int(never.outcomes["late"])
    return _check(
        "With the 2-minute idle timeout, when does [12:00, 12:02) fire on time?",
        int(first["processing_time_ms"]),
        [
            int(first["processing_time_ms"]) - 2 * MINUTE_MS,
            int(run.points.set_index("event_id").loc["p3", "arrival_time_ms"]),
        ],
        "Step through: the global watermark jumps when the phone's line is marked idle. "
        f"(With 'never', {late} events are late — and nothing fires until the phone is back.)",
        fmt=clock_text,
    )


def check_proc_time() -> Check:
    run = run_preset("bounded_worked", watermark="processing-time", watermark_delay_ms=0)
    behind = int((run.points["klass"] == "behind_watermark").sum())
    return _check(
        "With W = processing time (delay 0), how many events arrive behind the watermark?",
        behind,
        [0, len(run.points)],
        "The blue dots (behind W, on time) and the metric above the table.",
    )


def check_lateness() -> Check:
    _, cap = demos.lateness_blend(demos.blend_frame("clickstream"))
    share = float(cap.set_index("wait_ms").loc[5 * MINUTE_MS, "measured_share"])
    return _check(
        "In the clickstream blend, what share of events arrives within 5 minutes?",
        share,
        [share - 0.09, share - 0.19],
        "The capture table, row 5 min, column 'measured'.",
        fmt=lambda v: f"{v:.1%}",
    )


def check_requirements() -> Check:
    req = demos.requirement_capture(demos.blend_frame("all")).set_index("requirement")
    share = float(req.loc["Fraud detection", "captured"])
    other = float(req.loc["Daily reporting", "captured"])
    return _check(
        "Over all six sources, what share would a fraud check that waits 30 s see?",
        share,
        [other, 0.999],
        "Sources: all six; the requirements table, row 'Fraud detection'.",
        fmt=lambda v: f"{v:.1%}",
    )


def check_classic() -> Check:
    run = run_preset("classic")
    late = run.panes[run.panes["timing"] == "late"].iloc[0]
    on_time = run.panes[run.panes["timing"] == "on_time"].iloc[0]
    return _check(
        "What value does the late pane of [12:00, 12:02) publish?",
        float(late["value"]),
        [float(on_time["value"]), float(late["delta"])],
        "The orange diamond at the end of the run, or the Panes table.",
        fmt=lambda v: f"{v:g}",
    )


def check_sliding() -> Check:
    run = run_preset("sliding_split")
    detail = run.points.set_index("event_id").loc["b", "detail"]
    n = detail.count("[")
    return _check(
        "How many windows does b (12:07) belong to?",
        n,
        [1, n + 1],
        "Hover over b: one line per (event, window) pair.",
    )


def check_sessions() -> Check:
    run = run_preset("session_bridge")
    live = run.panes[~run.panes["superseded"].astype(bool)]
    n = len({(a, b) for a, b in zip(live["window_start_ms"], live["window_end_ms"], strict=True)})
    return _check(
        "After c arrives, how many sessions are left?",
        n,
        [n + 1, n + 2],
        "Dotted columns are merged away; count the solid ones at the end.",
    )


def check_actions() -> Check:
    side = run_preset("bounded_worked", late_action="side_output")
    upd = run_preset("bounded_worked")
    return _check(
        "With late action 'side output', what is the last published value of [09:50, 10:00)?",
        _pane_value(side, "09:50:00"),
        [_pane_value(upd, "09:50:00"), _pane_value(side, "09:50:00") + 7],
        "Pick 'side output' above and read the last diamond of the first window.",
        fmt=lambda v: f"{v:g}",
    )


def check_max_updates() -> Check:
    run = run_preset("classic", max_updates=0)
    n = int(run.outcomes["side_output"])
    return _check(
        "With max updates = 0 in the classic preset, how many events go to the side output "
        "(not counting the too-late one)?",
        n,
        [0, n + 1] if n else [1, 2],
        "Set the knob to 0: the 'Late, kept out' metric.",
    )


def check_cleanup() -> Check:
    run = run_preset("bounded_worked", allowed_lateness_ms=0)
    n = int(run.outcomes["too_late"])
    base = int(run_preset("bounded_worked").outcomes["too_late"])
    return _check(
        "With allowed lateness 0, how many events are too late in the worked example?",
        n,
        [base, n + 1],
        "Set the knob to 0 s: the 'Too late' metric.",
    )


def check_patching() -> Check:
    t = demos.patching().set_index("metric")
    row = t.loc["distinct_users"]
    return _check(
        "After the late orders, how many distinct users did the hour really have?",
        int(row["recomputed"]),
        [int(row["patched"]), int(row["published"])],
        "The table's 'recomputed' and 'batch' columns (they agree).",
    )


def check_versions() -> Check:
    run = run_preset("classic")
    t = clock_ms("12:03:30")
    shown = run.at(t).panes
    value = float(shown["value"].iloc[-1])
    return _check(
        "What did a dashboard show for [12:00, 12:02) at 12:03:30 (as of)?",
        value,
        [float(run.panes["value"].iloc[-1]), float(run.panes["value"].iloc[0])],
        "Move the time slider to 12:03:30: the latest diamond at or below the line.",
        fmt=lambda v: f"{v:g}",
    )


def check_tiers() -> Check:
    t = demos.tiers().set_index("tier")
    final = float(t.loc["final", "value"])
    return _check(
        "What is the day's final (T+7) value?",
        final,
        [float(t.loc["preliminary", "value"]), final + float(t.loc["adjustment", "value"])],
        "The tiers table, row 'final'; the correction after it is booked elsewhere.",
        fmt=lambda v: f"${v:g}",
    )


def check_dashboard() -> Check:
    share = demos.as_of(clock_ms("00:00:00", "2026-01-02"))["share_of_final"]
    return _check(
        "At midnight, the live number shows what share of the day's final value?",
        share,
        [1.0, share + 0.25],
        "Set the slider to +1d 00:00: the '% of final' next to the number.",
        fmt=lambda v: f"{v:.0%}",
    )


def check_game() -> Check:
    run = run_preset("game_offline")
    n = int(run.outcomes["too_late"])
    return _check(
        "How many of cai's offline scores are too late to count?",
        n,
        [0, 3],
        "The 'Too late' metric at the end, and the account under the chart.",
    )


def check_ads() -> Check:
    frame, _ = demos.ads_billing()
    adj = float(frame.loc[frame["outcome"] == "too_late", "commission"].sum())
    late = float(frame.loc[frame["outcome"] == "late", "commission"].sum())
    return _check(
        "How much January commission misses the billing close and is booked as an "
        "adjustment on a later invoice?",
        adj,
        [late, adj + late],
        "The conversions table: rows marked 'too late'.",
        fmt=lambda v: f"${v:g}",
    )
