"""The Learn course: lessons in the course chapter's order, each with steps; a step
has a short explanation in latewatch's words, a demo that runs on the real operator
(a playground stream or one of ``lesson_demos``), one "try this" prompt and a check
question whose answer is *computed* here from the engine when asked — never typed
in — and can be verified in the demo.

Plain data only: the Learn page (``pages/learn.py``) draws it, the tests replay it.
Deep links: ``/learn?lesson=<Lesson.key>&step=<Step.key>``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from engine.analysis import lesson_checks as checks
from engine.analysis.lesson_checks import Check
from engine.analysis.playground import PRESETS, run_preset
from engine.core.timeutil import MINUTE_MS, format_duration_ms


@dataclass(frozen=True)
class Demo:
    """What a step shows. ``kind``: ``playground`` (a preset, with ``changes`` to its
    knobs and optionally one ``knob`` the learner may turn, over ``knob_values``),
    ``bucketing``, ``lateness``, ``patching``, ``tiers``, ``ads``."""

    kind: str
    preset: str | None = None
    changes: tuple[tuple[str, object], ...] = ()
    knob: str | None = None
    knob_values: tuple = ()

    def run(self, knob_value=None):
        """The playground run for this step (knob at ``knob_value``, else as set)."""
        changes = dict(self.changes)
        if self.knob is not None and knob_value is not None:
            changes[self.knob] = knob_value
        return run_preset(self.preset, **changes)

    def knob_default(self):
        preset = PRESETS[self.preset]
        return dict(self.changes).get(self.knob, getattr(preset.config, self.knob))


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    text: str
    demo: Demo
    try_this: str
    check: Callable[[], Check]


@dataclass(frozen=True)
class Lesson:
    key: str
    title: str
    chapter: str  # the chapter's section it follows
    summary: str
    page: str  # url path of the dashboard page where the idea lives
    page_title: str
    page_why: str
    terms: tuple[str, ...]  # glossary keys
    steps: tuple[Step, ...]

    def step(self, key: str | None) -> Step:
        return next((s for s in self.steps if s.key == key), self.steps[0])


# ---------------------------------------------------------------------- the course
def _pg(preset: str, knob: str | None = None, values: tuple = (), **changes) -> Demo:
    return Demo("playground", preset, tuple(changes.items()), knob, values)


LATENESS_KNOB = (0, 30_000, MINUTE_MS, 2 * MINUTE_MS, 5 * MINUTE_MS, 10 * MINUTE_MS)

LESSONS: tuple[Lesson, ...] = (
    Lesson(
        key="event-time",
        title="1. Event time vs processing time",
        chapter="Event time and processing time",
        summary=(
            "Every event has two times: when it happened (event time) and when it reached "
            "latewatch (processing time, the arrival). Business questions — revenue per "
            "hour, orders per day — are about event time. Bucketing by arrival is easy "
            "and wrong: a late event lands in the wrong hour."
        ),
        page="",
        page_title="Today",
        page_why="Today's hourly chart buckets by event time and labels each hour's tier.",
        terms=("event-time", "processing-time", "arrival-delay"),
        steps=(
            Step(
                "buckets",
                "The order from 9:45 that arrives at 11:00",
                "Eight orders, hourly buckets. o3 was placed at 9:45 on a phone that was "
                "offline; it reaches latewatch at 11:00. Both bucketings below are the real "
                "operator, once over the event times and once over the arrival times.",
                Demo("bucketing"),
                "Change the bucket size to 15 minutes: how many orders move now?",
                checks.check_bucket,
            ),
            Step(
                "mistake-1",
                "Mistake 1: reporting by arrival",
                "A dashboard that groups by arrival reports 9:00–10:00 short and 11:00–12:00 "
                "too high — and both numbers look final. latewatch windows by event time and "
                "later *updates* 9:00–10:00 when o3 arrives, as a new version.",
                Demo("bucketing"),
                "Compare the blue and red bars hour by hour: which hours are wrong by arrival?",
                checks.check_mistake,
            ),
        ),
    ),
    Lesson(
        key="watermarks",
        title="2. Watermark strategies",
        chapter="Watermarks",
        summary=(
            "The watermark W is latewatch's running claim that no event older than W is "
            "still coming. It decides when a window fires on time. It only moves forward. "
            "How it is computed is a strategy — each one is a trade-off between waiting "
            "and being wrong."
        ),
        page="operations",
        page_title="Operations",
        page_why="Operations shows each source's watermark and the global one, live.",
        terms=("watermark", "bounded-watermark", "per-key-watermark", "idle-timeout"),
        steps=(
            Step(
                "bounded",
                "Bounded out-of-orderness: W = max − 5 min",
                "The chapter's worked example: events at 9:58, 9:55, 10:02, … and W = the "
                "largest event time seen minus 5 minutes. Step through and watch the red "
                "line follow the newest event, 5 minutes behind.",
                _pg(
                    "bounded_worked",
                    "watermark_delay_ms",
                    (0, MINUTE_MS, 2 * MINUTE_MS, 5 * MINUTE_MS),
                ),
                "Set the delay to 1 minute: which events turn late, and what happens to the window?",
                checks.check_bounded,
            ),
            Step(
                "perfect",
                "Perfect vs heuristic",
                "A perfect watermark knows the future: at each moment it is the smallest "
                "event time still to come. Nothing is ever late — but every window waits for "
                "its slowest event. Real pipelines cannot know the future, so they guess "
                "(heuristic watermarks) and handle what the guess gets wrong.",
                _pg("bounded_worked", watermark="perfect"),
                "Compare when [09:50, 10:00) fires here and in the previous step.",
                checks.check_perfect,
            ),
            Step(
                "per-key",
                "Per-key watermarks and an idle source",
                "One watermark per key (here: per device); the global watermark is the "
                "minimum over keys. A key that goes quiet holds everything back — unless it "
                "is idle for longer than the idle timeout, then it stops counting.",
                _pg("per_key_idle", "idle_ms", (None, MINUTE_MS, 2 * MINUTE_MS, 5 * MINUTE_MS)),
                "Set the idle timeout to 'never': when does the first window fire now, and is "
                "anything late?",
                checks.check_per_key,
            ),
            Step(
                "processing-time",
                "The processing-time watermark",
                "W = now − delay: simple and never stuck, but it ignores event time, so every "
                "out-of-order event is 'behind the watermark' and windows close on the wall "
                "clock, whatever the data says.",
                _pg(
                    "bounded_worked",
                    "watermark_delay_ms",
                    (0, MINUTE_MS, 5 * MINUTE_MS),
                    watermark="processing-time",
                    watermark_delay_ms=0,
                ),
                "Raise the delay to 5 minutes: what changes for f and h?",
                checks.check_proc_time,
            ),
        ),
    ),
    Lesson(
        key="lateness",
        title="3. Lateness distributions and tolerances",
        chapter="Measuring lateness",
        summary=(
            "Arrival delay = arrival − event time, measured per source. Its distribution "
            "tells you what a given wait captures: the clickstream's p50 is seconds, its "
            "p99.9 half an hour. Choose the tolerance from the requirement, not the other "
            "way round."
        ),
        page="lateness",
        page_title="Lateness",
        page_why="The Lateness page measures these curves on the live data, per source.",
        terms=("arrival-delay", "capture", "allowed-lateness"),
        steps=(
            Step(
                "distribution",
                "The clickstream's lateness table",
                "A seeded run of latewatch's simulator (web + api + mobile), measured with "
                "the Lateness page's own functions, next to the chapter's figures.",
                Demo("lateness"),
                "Switch the blend to all six sources: what happens to p99.9, and why?",
                checks.check_lateness,
            ),
            Step(
                "requirements",
                "Tolerances from requirements",
                "Fraud detection cannot wait more than 30 s; daily reporting can wait an "
                "hour; monthly billing a week. Per source: web 5 min, mobile 4 h, partner "
                "24 h. Each wait captures a share of events — the rest arrive late.",
                Demo("lateness", changes=(("blend", "all"),)),
                "Which requirement loses the most? What would a 4 h capture point buy?",
                checks.check_requirements,
            ),
        ),
    ),
    Lesson(
        key="late-windows",
        title="4. Windows with late data",
        chapter="Windows and late data",
        summary=(
            "A window [start, end) fires on time once W ≥ end. An event whose window has "
            "not fired is on time even if it is behind the watermark. An event whose window "
            "already fired is late; once W ≥ end + allowed lateness it is too late."
        ),
        page="versions",
        page_title="Versions",
        page_why="Versions lists every pane of a window (early, on time, late) as a version.",
        terms=("on-time", "late", "too-late", "pane"),
        steps=(
            Step(
                "tumbling",
                "Early, on-time and late panes",
                "The Dataflow paper's picture: an early pane after the first event, the "
                "on-time pane when W passes 12:02, a late pane for e4, and e5 too late.",
                _pg("classic"),
                "Open the stream in the playground and change e4's arrival to 12:05:40: what "
                "becomes of it, and why?",
                checks.check_classic,
            ),
            Step(
                "sliding",
                "Sliding windows: late for one, on time for another",
                "With sliding windows an event is in several windows; lateness is judged per "
                "window. The record counts once, by its best outcome.",
                _pg("sliding_split"),
                "Hover over b to see both (event, window) pairs.",
                checks.check_sliding,
            ),
            Step(
                "sessions",
                "Sessions merged by a late event",
                "A late event can bridge two sessions; lateness is judged on the merged "
                "window, and the two published sessions are superseded.",
                _pg("session_bridge", "allowed_lateness_ms", LATENESS_KNOB),
                "Set allowed lateness to 0: does c still merge the sessions?",
                checks.check_sessions,
            ),
        ),
    ),
    Lesson(
        key="strategies",
        title="5. Late-data strategies",
        chapter="Strategies for late data",
        summary=(
            "What to do with a late event is a per-source choice: update (a late pane, a "
            "new version), side output (queue it for a batch patch), drop (count and log "
            "it — never silently), recompute (rebuild the window from the raw log, for "
            "metrics that cannot be patched)."
        ),
        page="operations",
        page_title="Operations",
        page_why="Operations shows the side output waiting for the batch patch.",
        terms=("late-action", "side-output", "max-updates"),
        steps=(
            Step(
                "actions",
                "Every late action on the same events",
                "The worked example again; f is late. Pick a late action and see where f goes.",
                _pg(
                    "bounded_worked", "late_action", ("update", "side_output", "drop", "recompute")
                ),
                "Pick 'drop': is f still visible anywhere? (It is counted and logged.)",
                checks.check_actions,
            ),
            Step(
                "max-updates",
                "Limiting updates",
                "Each late pane is a new version people may see change. max updates caps "
                "them per window; further late events go to the side output.",
                _pg("classic", "max_updates", (None, 0, 1, 2)),
                "Set it to 0: which pane disappears, and where did e4 go?",
                checks.check_max_updates,
            ),
        ),
    ),
    Lesson(
        key="cleanup",
        title="6. State cleanup",
        chapter="Allowed lateness and state",
        summary=(
            "A window's state is kept until W ≥ end + allowed lateness, then cleaned. "
            "Two knobs, two jobs: the watermark delay decides when a window fires and what "
            "counts as late; allowed lateness decides how long late events can still update "
            "it (the chapter uses 'allowed lateness' for both)."
        ),
        page="whatif",
        page_title="What-if lab",
        page_why="The What-if lab shows what each allowed lateness captures and costs.",
        terms=("allowed-lateness", "state", "too-late"),
        steps=(
            Step(
                "lateness",
                "How long state lives",
                "The dotted red line is end + allowed lateness: from there on the window's "
                "state is gone and events for it are too late.",
                _pg("bounded_worked", "allowed_lateness_ms", LATENESS_KNOB),
                "Find the smallest allowed lateness at which h is no longer too late.",
                checks.check_cleanup,
            ),
        ),
    ),
    Lesson(
        key="patching",
        title="7. Patching vs reprocessing",
        chapter="Correcting results",
        summary=(
            "Sums and counts are additive: adding the late events' own total to the "
            "published number gives the right answer (a patch). Average, median and "
            "distinct users are not: combining the published value with the late batch "
            "gives a wrong number — they must be recomputed from all the events."
        ),
        page="versions",
        page_title="Versions",
        page_why="Versions labels each change: late data, patch or reprocessing.",
        terms=("patch", "recompute", "non-additive"),
        steps=(
            Step(
                "metrics",
                "The same late orders, both ways",
                "An hour with three orders published on time; two late orders arrive (one "
                "from a returning user). Every column comes from the operator; 'batch' is a "
                "plain recomputation over all five orders.",
                Demo("patching"),
                "Which rows does the patch get right, and why exactly those?",
                checks.check_patching,
            ),
        ),
    ),
    Lesson(
        key="versions",
        title="8. Versioned results",
        chapter="Versioning results",
        summary=(
            "latewatch never overwrites a result: every pane is a version with the time it "
            "was computed and why. So 'what did the dashboard show at 12:03?' has an "
            "answer (as of), and every change can be explained."
        ),
        page="versions",
        page_title="Versions",
        page_why="Versions shows the timeline, as-of, compare and explain for any window.",
        terms=("version", "as-of", "pane"),
        steps=(
            Step(
                "as-of",
                "Versions and as-of",
                "Three versions of one window: early (14), on time (17), late (25). Move the "
                "time slider: the latest diamond at or before that moment is what a dashboard "
                "showed then.",
                _pg("classic"),
                "Find the moment the number changed from 17 to 25 and what caused it.",
                checks.check_versions,
            ),
        ),
    ),
    Lesson(
        key="tiers",
        title="9. Tiers: live, preliminary, final",
        chapter="Finality",
        summary=(
            "The live number (streaming) is followed by a preliminary one (T+1: a batch "
            "recompute of the day from the raw log) and a final one (T+7). A final day is "
            "frozen: anything later is booked as an adjustment in the open period. The "
            "chapter's is_final (W passed the end) is only the first of these moments."
        ),
        page="",
        page_title="Today",
        page_why="Today labels every number with its tier.",
        terms=("tier", "final", "adjustment", "is-final"),
        steps=(
            Step(
                "tiers",
                "One day through its tiers",
                "One business day's events from five sources: web in seconds, a mobile "
                "phone offline overnight, the partner's file the next morning, a payment "
                "confirmed after review, a manual correction nine days later. Each tier is a "
                "batch recompute on the operator of what had arrived by then: the "
                "preliminary (start of T+1) makes the day consistent but cannot include what "
                "has not arrived; late data keeps updating it until the final (start of T+7) "
                "freezes it.",
                Demo("tiers"),
                "Which event would change the final number if T+7 were T+2?",
                checks.check_tiers,
            ),
        ),
    ),
    Lesson(
        key="dashboards",
        title="10. Dashboards that don't lie",
        chapter="Presenting late data",
        summary=(
            "A number shown without its tier and completeness invites the wrong decision. "
            "latewatch labels each number live / preliminary / final, says as of when, "
            "estimates how complete it is, and alerts only on final numbers."
        ),
        page="",
        page_title="Today",
        page_why="Today shows the tier, the as-of time and the completeness of each number.",
        terms=("completeness", "tier", "as-of"),
        steps=(
            Step(
                "as-of",
                "What the dashboard says at each moment",
                "The day from lesson 9, seen as a dashboard would show it while time passes: "
                "the value, its tier label and how much of the final value had arrived.",
                Demo("tiers"),
                "At which moment would an alert on this day be safe to send?",
                checks.check_dashboard,
            ),
        ),
    ),
    Lesson(
        key="practice-game",
        title="11. Practice: a mobile game",
        chapter="Practice problem 1",
        summary=(
            "A leaderboard per 2-minute window, players on phones, one watermark per "
            "player. One player goes offline. Decide the idle timeout and the allowed "
            "lateness: who waits for whom, and what is lost?"
        ),
        page="playground",
        page_title="Watermark playground",
        page_why="The playground has this stream as a preset to experiment further.",
        terms=("per-key-watermark", "idle-timeout", "too-late"),
        steps=(
            Step(
                "game",
                "Per-player watermarks with an offline player",
                "ana and ben keep playing; cai goes into the subway after one score and "
                "comes back at 12:09 with three scores made offline.",
                _pg("game_offline", "allowed_lateness_ms", LATENESS_KNOB),
                "Which allowed lateness keeps all of cai's scores? What does it cost?",
                checks.check_game,
            ),
        ),
    ),
    Lesson(
        key="practice-ads",
        title="12. Practice: ad attribution and billing",
        chapter="Practice problem 2",
        summary=(
            "A conversion is credited to the ad click that caused it, up to 30 days "
            "earlier, and billed in the click's month. Invoices are cut 5 days after the "
            "month ends. Conversions that arrive after the close are not lost: they are "
            "booked as adjustments on a later invoice."
        ),
        page="reconciliation",
        page_title="Reconciliation",
        page_why="Reconciliation shows adjustments booked to final periods.",
        terms=("allowed-lateness", "adjustment", "final"),
        steps=(
            Step(
                "ads",
                "A 30-day attribution window and a billing close",
                "Monthly windows over click time, W = max click time − 1 day, allowed "
                "lateness = the 5-day billing close, on the real operator.",
                Demo("ads"),
                "Which conversions would a 30-day close catch — and what would it delay?",
                checks.check_ads,
            ),
        ),
    ),
)
BY_KEY = {lesson.key: lesson for lesson in LESSONS}


def lesson(key: str | None) -> Lesson:
    return BY_KEY.get(key or "", LESSONS[0])


def knob_label(field: str, value) -> str:
    """How a knob value is written in a lesson."""
    if value is None:
        return {"idle_ms": "never", "max_updates": "no limit"}.get(field, "—")
    if field.endswith("_ms"):
        return format_duration_ms(value)
    return str(value).replace("_", " ")


def demo_for(step: Step, knob_value=None):
    """The step's playground run (for kind ``playground``)."""
    return step.demo.run(knob_value)
