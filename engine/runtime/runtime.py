"""The runtime: clock + simulator feed + ingest + operators + store + jobs, wired.

One ``Runtime`` per process (the Streamlit app holds it in ``st.cache_resource``;
``python -m engine run`` holds it headless). The scheduler thread calls
``tick()`` and ``run_due_jobs()``; pages call the read helpers and the controls.

Restart without loss, by construction:
- a tick first commits the arrived events to the raw log (ingest), then feeds
  the operators, then writes their versions, late events and the checkpoint
  (``processed_seq``: the last raw-log row the operators have seen) in ONE
  transaction;
- on start, operator state is rebuilt by replaying the raw log up to the
  checkpoint (outputs discarded: they are stored already), then the raw rows
  after the checkpoint (committed but never processed) are processed normally;
- the simulator feed is deterministic per (scenario, seed, start); it is
  re-positioned at the checkpoint, and anything it delivers twice is caught by
  the ingest de-duplication (counted as duplicates, never stored twice);
- jobs are idempotent (engine.runtime.finalize).

Time is injected: the runtime reads only its ``Clock``.
"""

from __future__ import annotations

import contextlib
import threading
import zlib
from dataclasses import dataclass, field
from datetime import timedelta

from engine.core.events import ParseOptions
from engine.core.operator import WindowOperator
from engine.core.spec import PipelineSpec
from engine.core.timeutil import DAY_MS, HOUR_MS
from engine.ingest.ingestor import IngestOptions, Ingestor
from engine.runtime.alerts import run_alert_job
from engine.runtime.clock import Clock, SimulatedClock, wall_ms
from engine.runtime.emissions import apply_side_output, record_emissions
from engine.runtime.finalize import (
    FinalizePolicy,
    business_day_bounds,
    business_day_of,
    due_finalizations,
    finalize_day,
    reprocess,
)
from engine.runtime.pipelines import default_series
from engine.sim.simulator import SCENARIOS, LiveFeed
from engine.store.db import DEFAULT_DB_PATH, Store

DEFAULT_TZ = "America/New_York"
STATE_KEY = "runtime"
CATCH_UP_STEP_MS = 2 * HOUR_MS


@dataclass
class RuntimeSettings:
    db_path: str = DEFAULT_DB_PATH
    scenario: str = "steady"
    seed: int = 7
    speed: float = 60.0  # simulated seconds per real second
    tz: str = DEFAULT_TZ
    history_days: int = 8  # simulated past, run through the real pipeline on first start
    events_per_day: float | None = 20_000
    tick_seconds: float = 1.0
    jobs_seconds: float = 3.0
    now_ms: int | None = None  # "now" at first start (None: the clock's); fixes seeded demos
    finalize: FinalizePolicy = field(default_factory=lambda: FinalizePolicy(tz=DEFAULT_TZ))


@dataclass
class TickReport:
    now_ms: int
    arrived: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    versions: int = 0
    late_events: int = 0
    catching_up: bool = False


class Runtime:
    """Owns the operators and the write path. Thread-safe: one lock around writes;
    each thread gets its own ``Store`` connection (SQLite objects stay in their thread)."""

    def __init__(
        self,
        settings: RuntimeSettings | None = None,
        clock: Clock | None = None,
        series: dict[str, PipelineSpec] | None = None,
    ) -> None:
        self.settings = settings or RuntimeSettings()
        if self.settings.finalize.tz != self.settings.tz:
            self.settings.finalize = FinalizePolicy(
                tz=self.settings.tz,
                preliminary_after_days=self.settings.finalize.preliminary_after_days,
                final_after_days=self.settings.finalize.final_after_days,
            )
        self.series = series or default_series(self.settings.tz)
        self._lock = threading.RLock()
        self._local = threading.local()
        self._stores: list[tuple[threading.Thread, Store]] = []
        self._stores_lock = threading.Lock()
        self.clock: Clock | None = clock
        self._injected_clock = clock is not None
        self.operators: dict[str, WindowOperator] = {}
        self.feed: LiveFeed | None = None
        self.state: dict = {}
        self.scheduler = None
        self.last_tick: TickReport | None = None
        self.last_error: str | None = None
        self.started = False

    # ------------------------------------------------------------------ stores
    def store(self) -> Store:
        """This thread's connection to the runtime's database.

        Streamlit runs every script and fragment run on a new thread, so the
        connections of finished threads are dropped here (garbage collection
        closes them); keeping them would leak one connection per page run."""
        store = getattr(self._local, "store", None)
        if store is None:
            store = Store.open(self.settings.db_path)
            self._local.store = store
            with self._stores_lock:
                self._stores = [(t, s) for t, s in self._stores if t.is_alive()]
                self._stores.append((threading.current_thread(), store))
        return store

    # ------------------------------------------------------------------ life cycle
    def start(self, scheduler: bool = True) -> Runtime:
        with self._lock:
            if self.started:
                return self
            store = self.store()
            saved = store.get_kv(STATE_KEY)
            if saved is None:
                self._first_start(store)
            else:
                self.state = dict(saved)
                # a configuration applied while running (apply_config) outlives a restart
                for name in self.series:
                    self.series[name] = store.config(name) or self.series[name]
            self._make_clock()
            self._rebuild(store)
            self.started = True
        if scheduler:
            from engine.runtime.scheduler import build_scheduler

            self.scheduler = build_scheduler(self)
            self.scheduler.start()
        return self

    def shutdown(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None
        with self._lock:
            self._save_state(self.store())
            with self._stores_lock:
                for _, store in self._stores:
                    with contextlib.suppress(Exception):  # another thread's connection
                        store.close()
                self._stores.clear()
            self._local = threading.local()

    def _first_start(self, store: Store) -> None:
        s = self.settings
        now = s.now_ms or (self.clock.now_ms() if self.clock is not None else wall_ms())
        today = business_day_of(now, s.tz)
        start_day = today - timedelta(days=s.history_days)
        start_ms = business_day_bounds(start_day, s.tz)[0]
        self.state = {
            "scenario": s.scenario,
            "seed": s.seed,
            "feed_seed": s.seed,
            "feed_start_ms": start_ms,
            "feed_pos_ms": start_ms,
            "clock_ms": start_ms,
            "catch_up_to_ms": now,
            "speed": s.speed,
            "paused": False,
            "processed_seq": 0,
            "proc_ms": None,
            "events_per_day": s.events_per_day,
        }
        with store.transaction():
            for name, spec in self.series.items():
                store.save_config(name, spec, start_ms)
            self._save_state(store)

    def _make_clock(self) -> None:
        if self._injected_clock:
            return
        clock = SimulatedClock(self.state["clock_ms"], speed=self.state["speed"])
        if self.state.get("paused") or self.state.get("catch_up_to_ms"):
            clock.pause()
        self.clock = clock

    def _new_feed(self) -> LiveFeed:
        return LiveFeed(
            self.state["scenario"],
            seed=self.state["feed_seed"],
            start_ms=self.state["feed_start_ms"],
            events_per_day=self.state.get("events_per_day"),
        )

    def _rebuild(self, store: Store) -> None:
        """Operators from the raw log up to the checkpoint; then the rows after it."""
        self.operators = {
            name: WindowOperator(spec, track_contributions=True, collect_lateness=False)
            for name, spec in self.series.items()
        }
        self.feed = self._new_feed()
        self.feed.arrivals_until(self.state["feed_pos_ms"])  # already delivered
        checkpoint = self.state.get("processed_seq", 0)
        pending = []
        for seq, event in store.iter_raw_events(0):
            if seq <= checkpoint:
                for op in self.operators.values():
                    op.process(event)
            else:
                pending.append((seq, event))
        proc = self.state.get("proc_ms")
        for op in self.operators.values():
            if proc is not None:
                op.advance_processing_time(proc)
            op.drain()
            op.drain_supersessions()
        if pending:
            self._process(store, [e for _, e in pending], pending[-1][0], proc or 0)

    def _save_state(self, store: Store) -> None:
        if self.clock is not None:
            self.state["clock_ms"] = self.clock.now_ms()
        store.set_kv(STATE_KEY, self.state, self.state.get("clock_ms"))

    # ------------------------------------------------------------------ the tick
    def now_ms(self) -> int:
        return self.clock.now_ms()

    @property
    def catching_up(self) -> bool:
        return bool(self.state.get("catch_up_to_ms"))

    def tick(self, budget_ms: int = 1500) -> TickReport:
        """Deliver what arrived up to now; while catching up, advance in steps for
        at most ``budget_ms`` of wall time (so pages stay responsive)."""
        with self._lock:
            try:
                if self.catching_up:
                    return self._catch_up(budget_ms)
                return self._tick_to(self.clock.now_ms())
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                raise

    def _catch_up(self, budget_ms: int) -> TickReport:
        target = self.state["catch_up_to_ms"]
        deadline = wall_ms() + budget_ms
        report = TickReport(now_ms=self.clock.now_ms(), catching_up=True)
        while wall_ms() < deadline:
            position = self.state.get("proc_ms") or self.state["feed_start_ms"]
            step_to = min(position + CATCH_UP_STEP_MS, target)
            self.clock.jump_to(step_to)
            part = self._tick_to(step_to)
            self.run_due_jobs()
            report.arrived += part.arrived
            report.accepted += part.accepted
            report.versions += part.versions
            report.now_ms = step_to
            if step_to >= target:
                self.state["catch_up_to_ms"] = None
                if not self.state.get("paused") and hasattr(self.clock, "resume"):
                    self.clock.resume()
                self._save_state(self.store())
                break
        report.catching_up = self.catching_up
        self.last_tick = report
        return report

    def _tick_to(self, now: int) -> TickReport:
        store = self.store()
        report = TickReport(now_ms=now)
        if self.state.get("proc_ms") is not None and now <= self.state["proc_ms"]:
            return report
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
        # The operators read the raw log, not the feed: events ingested by anyone
        # else (the HTTP API, `python -m engine ingest`) stream through them too.
        last_seq = self.state.get("processed_seq", 0)
        events = []
        for seq, event in store.iter_raw_events(last_seq):
            events.append(event)
            last_seq = seq
        self.state["feed_pos_ms"] = now
        versions, late = self._process(store, events, last_seq, now)
        report.versions, report.late_events = versions, late
        self.last_tick = report
        return report

    def _process(self, store: Store, events, last_seq: int, now: int) -> tuple[int, int]:
        """Feed events to every operator, move processing time to ``now``, and write
        the emissions together with the checkpoint."""
        drained = {}
        for name, op in self.operators.items():
            for event in events:
                op.process(event)
            op.advance_processing_time(now)
            drained[name] = op.drain()
            op.drain_supersessions()
        n_versions = n_late = 0
        with store.transaction():
            for name, (versions, late) in drained.items():
                record_emissions(
                    store,
                    name,
                    versions,
                    late,
                    now,
                    self.settings.finalize,
                    self.series[name].metrics,
                )
                n_versions += len(versions)
                n_late += len(late)
            self.state["processed_seq"] = last_seq
            self.state["proc_ms"] = now
            self._save_state(store)
        return n_versions, n_late

    # ------------------------------------------------------------------ jobs
    def run_due_jobs(self) -> list[dict]:
        """Patch the side output, then any T+1 / T+7 finalizations that are due, then alerts."""
        with self._lock:
            store = self.store()
            now = self.state.get("proc_ms") or self.clock.now_ms()
            done = []
            for name in self.series:
                res = apply_side_output(store, name, now, self.settings.finalize, self.series[name])
                if res.status == "completed":
                    done.append({"series": name, "kind": "patch", **res.counts})
                for day, tier in due_finalizations(store, name, now, self.settings.finalize):
                    res = finalize_day(
                        store, name, day, tier, now, self.settings.finalize, self.series[name]
                    )
                    done.append({"series": name, "kind": tier, "day": str(day), **res.counts})
            # Alerts last, so a final written just now is judged in the same run.
            alerts = run_alert_job(store, now)
            if alerts is not None:
                done.append({"kind": "alerts", **alerts})
            return done

    def finalize(self, day, tier: str) -> dict:
        with self._lock:
            now = self.state.get("proc_ms") or self.clock.now_ms()
            out = {}
            for name in self.series:
                res = finalize_day(
                    self.store(), name, day, tier, now, self.settings.finalize, self.series[name]
                )
                out[name] = {"status": res.status, "job_id": res.job_id, **res.counts}
            return out

    def reprocess(self, from_ms: int, to_ms: int, reason: str) -> dict:
        with self._lock:
            now = self.state.get("proc_ms") or self.clock.now_ms()
            out = {}
            for name in self.series:
                res = reprocess(
                    self.store(),
                    name,
                    from_ms,
                    to_ms,
                    reason,
                    now,
                    self.settings.finalize,
                    self.series[name],
                )
                out[name] = {"status": res.status, "job_id": res.job_id, **res.counts}
            return out

    # ------------------------------------------------------------------ controls
    def pause(self) -> None:
        with self._lock:
            self.state["paused"] = True
            if hasattr(self.clock, "pause"):
                self.clock.pause()
            self._save_state(self.store())

    def resume(self) -> None:
        with self._lock:
            self.state["paused"] = False
            if hasattr(self.clock, "resume") and not self.catching_up:
                self.clock.resume()
            self._save_state(self.store())

    def set_speed(self, speed: float) -> None:
        with self._lock:
            self.state["speed"] = float(speed)
            if hasattr(self.clock, "set_speed"):
                self.clock.set_speed(speed)
            self._save_state(self.store())

    def set_scenario(self, scenario: str) -> None:
        """Switch the simulator's scenario from now on. The new feed gets its own seed
        (derived from the switch time), so its event ids never collide with the old."""
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; choose one of {sorted(SCENARIOS)}")
        with self._lock:
            now = self.state.get("proc_ms") or self.clock.now_ms()
            day_start = now - now % DAY_MS
            self.state["scenario"] = scenario
            self.state["feed_seed"] = zlib.crc32(f"{self.state['seed']}:{scenario}:{now}".encode())
            self.state["feed_start_ms"] = min(day_start, now)
            self.state["feed_pos_ms"] = now
            self.feed = self._new_feed()
            self.feed.arrivals_until(now)  # what the new feed "had" before now never arrived
            self._save_state(self.store())

    def apply_config(self, series: str, spec: PipelineSpec) -> int:
        """Make ``spec`` the live configuration of ``series`` from now on (the What-if
        lab's "Apply"). Returns the new configuration version's id (0: no change).

        Recorded as a configuration version so history says which rules produced
        which numbers. The series' operator is rebuilt under the new spec exactly as
        a restart rebuilds it — the raw log up to the checkpoint replayed with
        outputs discarded (what was published stays published) — and runs with it
        for everything after. Built before it is recorded, so a failure changes
        nothing; under the write lock, so no tick sees half a swap."""
        if series not in self.series:
            raise KeyError(f"unknown series {series!r}; choose one of {sorted(self.series)}")
        with self._lock:
            if spec == self.series[series]:
                return 0
            store = self.store()
            op = WindowOperator(spec, track_contributions=True, collect_lateness=False)
            checkpoint = self.state.get("processed_seq", 0)
            for seq, event in store.iter_raw_events(0):
                if seq > checkpoint:
                    break  # committed but not yet processed: the next tick feeds them
                op.process(event)
            proc = self.state.get("proc_ms")
            if proc is not None:
                op.advance_processing_time(proc)
            op.drain()
            op.drain_supersessions()
            now = proc or self.clock.now_ms()
            version = store.save_config(series, spec, now)
            self.series[series] = spec
            self.operators[series] = op
            return version

    # ------------------------------------------------------------------ reading
    def status(self) -> dict:
        """A small, thread-safe summary for the sidebar and the operations page."""
        now = self.clock.now_ms() if self.clock is not None else None
        ops = {}
        for name, op in self.operators.items():
            metrics = op.metrics()
            ops[name] = {
                "watermark_ms": metrics["watermark_ms"],
                "per_key_watermarks_ms": metrics["per_key_watermarks_ms"],
                "idle_keys": metrics["idle_keys"],
                "state": metrics["state"],
                "outcomes": metrics["outcomes"],
            }
        return {
            "now_ms": now,
            "clock": self.clock.describe() if self.clock is not None else "not started",
            "simulated": bool(self.clock and self.clock.simulated),
            "paused": bool(self.state.get("paused")),
            "catching_up": self.catching_up,
            "catch_up_to_ms": self.state.get("catch_up_to_ms"),
            "speed": self.state.get("speed"),
            "scenario": self.state.get("scenario"),
            "db_path": self.settings.db_path,
            "tz": self.settings.tz,
            "processed_seq": self.state.get("processed_seq"),
            "proc_ms": self.state.get("proc_ms"),
            "last_tick": self.last_tick.__dict__ if self.last_tick else None,
            "last_error": self.last_error,
            "operators": ops,
            "series": {name: spec.to_dict()["describe"] for name, spec in self.series.items()},
        }
