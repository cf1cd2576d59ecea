"""The simulated source of a runtime: a deterministic ``LiveFeed`` positioned by the
runtime's saved state, delivering through the one ingest path, and the catch-up
that replays the simulated past through the real pipeline on first start.

The feed is deterministic per (scenario, seed, start); on restart it is
re-positioned at the saved ``feed_pos_ms``, and anything it delivers twice is
caught by the ingest de-duplication (counted as duplicates, never stored twice).
"""

from __future__ import annotations

import pickle
import zlib
from datetime import timedelta

from engine.core.events import ParseOptions
from engine.core.timeutil import DAY_MS, HOUR_MS
from engine.ingest.ingestor import IngestOptions, Ingestor
from engine.runtime.clock import wall_ms
from engine.runtime.finalize import business_day_bounds, business_day_of
from engine.runtime.settings import RuntimeSettings, TickReport
from engine.sim.simulator import SCENARIOS, LiveFeed
from engine.store.db import Store

CATCH_UP_STEP_MS = 2 * HOUR_MS
# a catch-up snapshots the operators once a simulated day (and when it ends), not every
# step: pickling the open windows each step cost more than the restart it saves
CATCH_UP_SNAPSHOT_MS = DAY_MS


def first_start_state(settings: RuntimeSettings, now: int) -> dict:
    """The runtime state of a simulated first start: the feed and the clock begin
    ``history_days`` business days ago and catch up to ``now``."""
    today = business_day_of(now, settings.tz)
    start_day = today - timedelta(days=settings.history_days)
    start_ms = business_day_bounds(start_day, settings.tz)[0]
    return {
        "scenario": settings.scenario,
        "seed": settings.seed,
        "feed_seed": settings.seed,
        "feed_start_ms": start_ms,
        "feed_pos_ms": start_ms,
        "clock_ms": start_ms,
        "catch_up_to_ms": now,
        "speed": settings.speed,
        "paused": False,
        "processed_seq": 0,
        "proc_ms": None,
        "events_per_day": settings.events_per_day,
    }


class SimulatorFeed:
    """The simulator as a source. Reads and writes its position in ``state`` (the
    runtime's saved state dict), so a restart resumes where it stopped."""

    def __init__(self, state: dict, saved: bytes | None = None) -> None:
        """``saved``: ``position_blob()`` written with the last checkpoint. Without a
        usable one the feed re-simulates from the first day that still had events to
        deliver (days that had arrived completely are never generated again)."""
        self.state = state
        self.feed = self._new_feed()
        if saved is not None:
            try:
                position = pickle.loads(zlib.decompress(saved))  # noqa: S301 - our own checkpoint
                if (
                    position.get("key") == self._key()
                    and position["last_ms"] == state["feed_pos_ms"]
                ):
                    self.feed.resume(position)
                    return
            except Exception:  # noqa: BLE001 - a stale or foreign blob: re-simulate instead
                self.feed = self._new_feed()
        self.feed.skip_to_day(state.get("feed_first_day", 0))
        self.feed.arrivals_until(state["feed_pos_ms"])  # already delivered

    def _key(self) -> tuple:
        s = self.state
        return (s["scenario"], s["feed_seed"], s["feed_start_ms"], s.get("events_per_day"))

    def position_blob(self) -> bytes:
        """The feed's position (pending events, next day) for the checkpoint."""
        position = {"key": self._key(), **self.feed.position()}
        return zlib.compress(pickle.dumps(position, protocol=pickle.HIGHEST_PROTOCOL), 1)

    def _new_feed(self) -> LiveFeed:
        return LiveFeed(
            self.state["scenario"],
            seed=self.state["feed_seed"],
            start_ms=self.state["feed_start_ms"],
            events_per_day=self.state.get("events_per_day"),
        )

    def deliver(self, store: Store, now: int, report: TickReport) -> None:
        """Ingest what the feed delivers up to ``now`` (processing time ``now``)."""
        frame = self.feed.arrivals_until(now)
        report.arrived = len(frame)
        if len(frame):
            ingestor = Ingestor(
                store,
                IngestOptions(
                    parse=ParseOptions(max_future_ms=DAY_MS),
                    source_name=f"simulator:{self.state['scenario']}",
                    keep_events=False,
                ),
                clock=lambda: now,
            )
            ingest = ingestor.ingest_frame(frame)
            report.accepted = ingest.accepted
            report.duplicates = ingest.duplicates
            report.quarantined = ingest.quarantined
        self.state["feed_pos_ms"] = now
        self.state["feed_first_day"] = self.feed.first_needed_day()

    def switch(self, scenario: str, now: int) -> None:
        """Switch the scenario from ``now`` on. The new feed gets its own seed (derived
        from the switch time), so its event ids never collide with the old."""
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; choose one of {sorted(SCENARIOS)}")
        day_start = now - now % DAY_MS
        self.state["scenario"] = scenario
        self.state["feed_seed"] = zlib.crc32(f"{self.state['seed']}:{scenario}:{now}".encode())
        self.state["feed_start_ms"] = min(day_start, now)
        self.state["feed_pos_ms"] = now
        self.feed = self._new_feed()
        self.feed.arrivals_until(now)  # what the new feed "had" before now never arrived
        self.state["feed_first_day"] = self.feed.first_needed_day()


def catch_up(runtime, budget_ms: int) -> TickReport:
    """Advance a catching-up runtime in steps of simulated time, running the due jobs
    after each, for at most ``budget_ms`` of wall time (so pages stay responsive)."""
    state = runtime.state
    target = state["catch_up_to_ms"]
    deadline = wall_ms() + budget_ms
    # Today's numbers ahead of the replay first (once; ~0.3 s): the page that opens
    # with them gets them from here instead of computing them against the replay.
    # They are a view: a failure is reported, never a reason to stop the replay.
    try:
        runtime.first_start_preview()
    except Exception as exc:  # noqa: BLE001 - shown in the status, the page raises it
        runtime.last_error = f"first-start preview: {type(exc).__name__}: {exc}"
    report = TickReport(now_ms=runtime.clock.now_ms(), catching_up=True)
    while wall_ms() < deadline:
        position = state.get("proc_ms") or state["feed_start_ms"]
        step_to = min(position + CATCH_UP_STEP_MS, target)
        runtime.clock.jump_to(step_to)
        snapshot = (
            step_to >= target or step_to - state.get("snapshot_ms", 0) >= CATCH_UP_SNAPSHOT_MS
        )
        part = runtime._tick_to(step_to, snapshot=snapshot)
        if snapshot:
            state["snapshot_ms"] = step_to
        runtime.run_due_jobs()
        report.arrived += part.arrived
        report.accepted += part.accepted
        report.versions += part.versions
        report.now_ms = step_to
        if step_to >= target:
            state["catch_up_to_ms"] = None
            if not state.get("paused") and hasattr(runtime.clock, "resume"):
                runtime.clock.resume()
            runtime._save_state(runtime.store())
            break
    report.catching_up = runtime.catching_up
    runtime.last_tick = report
    return report
