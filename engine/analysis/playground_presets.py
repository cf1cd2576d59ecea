"""The watermark playground's presets: small streams, each with the knobs it was
written for and an explanation of what the operator does with them *under those
knobs*. The first three mirror transcripts under ``tests/scenarios/``; the others
are the course chapter's worked examples (the bounded watermark ``W = max − 5 min``
over events at 9:58, 9:55, …; per-key watermarks with a device that goes offline).

Explanations are for the preset's own configuration: when a learner changes a knob
the page shows the operator's own account of the run instead
(``engine.analysis.playground_words.narrate``).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.analysis.playground_inputs import (
    PlayEvent,
    PlaygroundConfig,
    WatermarkPoint,
    clock_ms,
)
from engine.core.timeutil import MINUTE_MS


@dataclass(frozen=True)
class Preset:
    key: str
    title: str
    label: str  # short, for the preset picker
    explanation: str
    config: PlaygroundConfig
    events: tuple[PlayEvent, ...]
    watermarks: tuple[WatermarkPoint, ...] = ()
    ticks_ms: tuple[int, ...] = ()  # processing-time-only steps (timers fire)
    scenario_file: str | None = None  # the transcript in tests/scenarios it mirrors


def _ev(event_id: str, t: str, at: str, amount: float, key: str | None = None) -> PlayEvent:
    return PlayEvent(event_id, clock_ms(t), clock_ms(at), amount, key)


def _wm(at: str, w: str) -> WatermarkPoint:
    return WatermarkPoint(clock_ms(at), clock_ms(w))


PRESETS: dict[str, Preset] = {
    p.key: p
    for p in (
        Preset(
            key="classic",
            title="Classic: a 2-minute window with early, on-time and late panes",
            label="Classic 2-minute window",
            explanation=(
                "The Dataflow paper's picture. An early pane fires one minute of processing "
                "time after the first element (14); the on-time pane fires when the watermark "
                "passes 12:02 and includes e3, which was behind the watermark but still on "
                "time because its window had not fired (17); e4 arrives after that and makes "
                "a late pane (25). e5 arrives when the watermark is exactly end + allowed "
                "lateness: too late, it goes to the side output."
            ),
            config=PlaygroundConfig(
                window="tumbling",
                size_ms=2 * MINUTE_MS,
                watermark="drawn",
                allowed_lateness_ms=5 * MINUTE_MS,
                early="after-first",
                early_delay_ms=MINUTE_MS,
            ),
            events=(
                _ev("e1", "12:00:20", "12:01:00", 5),
                _ev("e2", "12:01:10", "12:01:30", 9),
                _ev("e3", "12:00:50", "12:02:40", 3),
                _ev("e4", "12:01:50", "12:04:00", 8),
                _ev("e5", "12:01:59.999", "12:05:30", 1),
            ),
            watermarks=(
                _wm("12:02:30", "12:01:30"),
                _wm("12:03:00", "12:02:00"),
                _wm("12:05:00", "12:07:00"),
            ),
            ticks_ms=(clock_ms("12:03:40"),),
            scenario_file="classic_early_ontime_late.json",
        ),
        Preset(
            key="bounded_worked",
            title="The chapter's worked example: W = max event time seen − 5 min",
            label="Bounded: W = max − 5 min",
            explanation=(
                "10-minute windows, a bounded-out-of-orderness watermark 5 minutes behind the "
                "largest event time seen, 5 minutes of allowed lateness. After 9:58 W is "
                "9:53; 10:02 moves it to 9:57, so 9:56 arrives behind the watermark — the "
                "chapter's rule calls it late, but its window [9:50, 10:00) has not fired, so "
                "latewatch counts it on time. 10:06 moves W to 10:01: the window fires on "
                "time. 9:59 then arrives late and updates it with a late pane. 10:11 moves W "
                "to 10:06, past 10:00 + 5 min: the window's state is gone, so 9:57 arriving "
                "after that is too late and goes to the side output."
            ),
            config=PlaygroundConfig(
                window="tumbling",
                size_ms=10 * MINUTE_MS,
                watermark="bounded",
                watermark_delay_ms=5 * MINUTE_MS,
                allowed_lateness_ms=5 * MINUTE_MS,
            ),
            events=(
                _ev("a", "09:58:00", "09:58:05", 4),
                _ev("b", "09:55:00", "09:58:20", 2),
                _ev("c", "10:02:00", "10:02:05", 5),
                _ev("d", "09:56:00", "10:02:40", 3),
                _ev("e", "10:06:00", "10:06:10", 1),
                _ev("f", "09:59:00", "10:07:00", 6),
                _ev("g", "10:11:00", "10:11:05", 2),
                _ev("h", "09:57:00", "10:12:00", 7),
            ),
        ),
        Preset(
            key="per_key_idle",
            title="Per-key watermarks: a phone goes offline",
            label="Per-key: an idle phone",
            explanation=(
                "Each device keeps its own watermark (its largest event time seen); the "
                "global watermark is the minimum over devices. The phone sends two events and "
                "goes offline, so its watermark stays at 12:00:40 and holds the global one "
                "back — until it has been silent for longer than the 2-minute idle timeout "
                "(checked at 12:02:46): then it stops counting, the global watermark jumps to the laptop's and the "
                "window [12:00, 12:02) fires. When the phone comes back at 12:06 with an "
                "event from 12:01:10 that event is late and updates the window. Set the idle "
                "timeout to 'never' to see the other side of the trade-off: no lateness, but "
                "no result until the phone returns."
            ),
            config=PlaygroundConfig(
                window="tumbling",
                size_ms=2 * MINUTE_MS,
                watermark="per-key",
                watermark_delay_ms=0,
                idle_ms=2 * MINUTE_MS,
                allowed_lateness_ms=5 * MINUTE_MS,
            ),
            events=(
                _ev("l1", "12:00:10", "12:00:12", 1, "laptop"),
                _ev("p1", "12:00:20", "12:00:25", 2, "phone"),
                _ev("p2", "12:00:40", "12:00:45", 3, "phone"),
                _ev("l2", "12:00:50", "12:00:52", 1, "laptop"),
                _ev("l3", "12:01:30", "12:01:32", 1, "laptop"),
                _ev("l4", "12:02:20", "12:02:22", 1, "laptop"),
                _ev("l5", "12:03:10", "12:03:12", 1, "laptop"),
                _ev("l6", "12:04:30", "12:04:32", 1, "laptop"),
                _ev("p3", "12:01:10", "12:06:00", 4, "phone"),
            ),
        ),
        Preset(
            key="game_offline",
            title="Practice: a mobile game with per-player watermarks and an offline player",
            label="Practice: offline player",
            explanation=(
                "Scores per 2-minute window, one watermark per player (the largest event time "
                "seen from that player), global watermark = minimum over players that are not "
                "idle (3 minutes). cai plays at 12:00:50, then goes into the subway: the three "
                "scores cai makes offline arrive together at 12:09. Meanwhile cai turned idle "
                "(12:03:53) and stopped holding the leaderboard back, so the windows fired "
                "without cai; when cai comes back, two scores are late and update their "
                "windows, and the one from 12:01:30 is too late — that window's state was "
                "cleaned once the watermark passed 12:02 + 5 min."
            ),
            config=PlaygroundConfig(
                window="tumbling",
                size_ms=2 * MINUTE_MS,
                watermark="per-key",
                idle_ms=3 * MINUTE_MS,
                allowed_lateness_ms=5 * MINUTE_MS,
            ),
            events=(
                _ev("a1", "12:00:10", "12:00:11", 3, "ana"),
                _ev("b1", "12:00:30", "12:00:32", 2, "ben"),
                _ev("c1", "12:00:50", "12:00:52", 4, "cai"),
                _ev("a2", "12:01:20", "12:01:21", 1, "ana"),
                _ev("b2", "12:02:00", "12:02:02", 5, "ben"),
                _ev("a3", "12:02:30", "12:02:31", 2, "ana"),
                _ev("b3", "12:03:50", "12:03:52", 3, "ben"),
                _ev("a4", "12:04:10", "12:04:11", 4, "ana"),
                _ev("a5", "12:05:40", "12:05:41", 1, "ana"),
                _ev("b4", "12:06:10", "12:06:12", 2, "ben"),
                _ev("a6", "12:07:20", "12:07:21", 3, "ana"),
                _ev("b5", "12:08:00", "12:08:02", 1, "ben"),
                _ev("a7", "12:08:50", "12:08:51", 2, "ana"),
                _ev("c2", "12:01:30", "12:09:00", 6, "cai"),
                _ev("c3", "12:03:00", "12:09:01", 2, "cai"),
                _ev("c4", "12:05:30", "12:09:02", 5, "cai"),
            ),
        ),
        Preset(
            key="session_bridge",
            title="Sessions: a late event merges two sessions",
            label="Sessions merged by a late event",
            explanation=(
                "Two sessions with a 1-minute gap fire on time when the watermark reaches "
                "12:03. Then c arrives, late, at 12:00:45: it touches both sessions, so they "
                "merge into one session [12:00:00, 12:02:30). Lateness is judged on the "
                "merged window, which is within the allowed lateness, so the merged session's "
                "first version is a late pane (7) and both published sessions are superseded."
            ),
            config=PlaygroundConfig(
                window="session",
                gap_ms=MINUTE_MS,
                watermark="drawn",
                allowed_lateness_ms=10 * MINUTE_MS,
            ),
            events=(
                _ev("a", "12:00:00", "12:00:05", 1),
                _ev("b", "12:01:30", "12:01:35", 2),
                _ev("c", "12:00:45", "12:03:10", 4),
            ),
            watermarks=(_wm("12:03:00", "12:03:00"),),
            scenario_file="session_late_bridge.json",
        ),
        Preset(
            key="sliding_split",
            title="Sliding windows: late for one window, on time for another",
            label="Sliding: late and on time",
            explanation=(
                "10-minute windows slide every 5 minutes, so b at 12:07 belongs to "
                "[12:00, 12:10) and [12:05, 12:15). When b arrives the watermark is 12:10: "
                "the first window has fired, so b is late there and updates it (11); the "
                "second has not, so b is on time there. The record counts once, as on time "
                "(its best outcome); hover over it to see both pairs."
            ),
            config=PlaygroundConfig(
                window="sliding",
                size_ms=10 * MINUTE_MS,
                slide_ms=5 * MINUTE_MS,
                watermark="drawn",
                allowed_lateness_ms=2 * MINUTE_MS,
            ),
            events=(
                _ev("a", "12:06:00", "12:06:00", 10),
                _ev("b", "12:07:00", "12:10:30", 1),
            ),
            watermarks=(_wm("12:10:00", "12:10:00"),),
            scenario_file="sliding_late_and_on_time.json",
        ),
    )
}
