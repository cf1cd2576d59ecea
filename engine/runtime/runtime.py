"""The runtime: clock + sources + operators + store + jobs, wired (the pipeline loop).

One ``Runtime`` per process (the Streamlit app holds it in ``st.cache_resource``;
``python -m engine run`` holds it headless). The scheduler thread calls
``tick()`` and ``run_due_jobs()``; pages call the read helpers and the controls.

Restart without loss, by construction:
- a tick first commits the arrived events to the raw log (ingest), then feeds
  the operators, then writes their versions, late events and the checkpoint
  (``processed_seq``: the last raw-log row the operators have seen) in ONE
  transaction;
- the same transaction holds a snapshot of each operator's open state (open
  windows, watermarks, timers: engine.core.snapshot), so a start restores it
  instead of replaying history (start time does not grow with the raw log);
  without a usable snapshot (other code, another spec) operator state is rebuilt
  by replaying the raw log up to the checkpoint (outputs discarded: they are
  stored already); then the raw rows after the checkpoint (committed but never
  processed) are processed normally;
- the simulator feed (engine.runtime.feed) is re-positioned where it stopped;
  anything it delivers twice is caught by the ingest de-duplication;
- jobs are idempotent (engine.runtime.finalize).

Time is injected: the runtime reads only its ``Clock``. The status summary is
engine.runtime.status; settings and the tick report are engine.runtime.settings.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading

from engine.core import snapshot as snapshots
from engine.core.operator import WindowOperator
from engine.core.spec import PipelineSpec
from engine.runtime import lease, poison
from engine.runtime.alerts import run_alert_job
from engine.runtime.clock import Clock, SimulatedClock, SystemClock, wall_ms
from engine.runtime.config_apply import (
    build_series,
    mark_series_origin,
    reconcile_series,
    sync_file_rules,
)
from engine.runtime.emissions import apply_side_output, record_emissions
from engine.runtime.feed import CATCH_UP_STEP_MS, SimulatorFeed, catch_up, first_start_state
from engine.runtime.finalize import due_finalizations, finalize_day, reprocess
from engine.runtime.first_preview import FirstStartPreview, PreviewKeeper
from engine.runtime.live import check_mode, live_start_state
from engine.runtime.recompute import apply_recompute
from engine.runtime.settings import DEFAULT_TZ, STATE_KEY, RuntimeSettings, TickReport
from engine.runtime.status import runtime_status
from engine.store.db import Store

FEED_SNAPSHOT = "~simulator-feed"  # operator_snapshots row of the simulated source

__all__ = [
    "CATCH_UP_STEP_MS",
    "DEFAULT_TZ",
    "STATE_KEY",
    "Runtime",
    "RuntimeSettings",
    "TickReport",
]


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
            self.settings.finalize = dataclasses.replace(
                self.settings.finalize, tz=self.settings.tz
            )
        self._declared_series = series is None  # from defaults / latewatch.toml
        if series is None:
            series = build_series(
                self.settings.config, self.settings.tz, live=not self.settings.simulator
            )
        self.series = series
        self._lock = threading.RLock()
        self._local = threading.local()
        self._stores: list[tuple[threading.Thread, Store]] = []
        self._stores_lock = threading.Lock()
        self.clock: Clock | None = clock
        self._injected_clock = clock is not None
        self.operators: dict[str, WindowOperator] = {}
        self.feed: SimulatorFeed | None = None
        self.state: dict = {}
        self.scheduler = None
        self.last_tick: TickReport | None = None
        self.last_error: str | None = None
        self.started = False
        self._preview = PreviewKeeper()

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
            lease.claim(store, self.settings.db_path)  # one processing runtime per store
            self._lease_ms = 0
            saved = store.get_kv(STATE_KEY)
            if saved is None:
                self._first_start(store)
            else:
                check_mode(saved, self.settings)
                self.state = dict(saved)
            # a configuration applied while running (apply_config) outlives a restart,
            # unless latewatch.toml's declaration of the series changed since
            now = self.state.get("proc_ms") or self.state.get("clock_ms") or 0
            if self._declared_series:
                self.series = reconcile_series(
                    store, self.series, now, from_file=self.settings.config is not None
                )
            else:
                for name in self.series:
                    self.series[name] = store.config(name) or self.series[name]
            if self.settings.config is not None:
                sync_file_rules(store, self.settings.config, now)
            if store.get_kv("business_tz") != self.settings.tz:
                # `python -m engine finalize/reprocess` on this store use the same days
                store.set_kv("business_tz", self.settings.tz, now)
            self._make_clock()
            store.mark_interrupted_ingests(self.clock.now_ms())
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
            if self.started:
                with contextlib.suppress(Exception):  # best effort: a stale lease expires
                    lease.release(self.store())
            with self._stores_lock:
                for _, store in self._stores:
                    with contextlib.suppress(Exception):  # another thread's connection
                        store.close()
                self._stores.clear()
            self._local = threading.local()

    def _first_start(self, store: Store) -> None:
        s = self.settings
        now = s.now_ms or (self.clock.now_ms() if self.clock is not None else wall_ms())
        if s.simulator:
            self.state = first_start_state(s, now)
            since = self.state["feed_start_ms"]
        else:
            self.state = live_start_state(now)
            since = now
        with store.transaction():
            for name, spec in self.series.items():
                store.save_config(name, spec, since)
            self._save_state(store)

    @property
    def live(self) -> bool:
        """Live mode: real data on the system clock, no simulator."""
        return self.state.get("simulator", True) is False

    def _make_clock(self) -> None:
        if self._injected_clock:
            return
        if self.live:
            self.clock = SystemClock()
            return
        clock = SimulatedClock(self.state["clock_ms"], speed=self.state["speed"])
        if self.state.get("paused") or self.state.get("catch_up_to_ms"):
            clock.pause()
        self.clock = clock

    def _rebuild(self, store: Store) -> None:
        """Operators from their snapshots (or, without a usable one, from the raw log),
        brought up to the checkpoint with outputs discarded (a poison row there was set
        aside when first seen); then the rows after it."""
        checkpoint = self.state.get("processed_seq", 0)
        self.operators, since = {}, {}
        for name, spec in self.series.items():
            self.operators[name], since[name] = self._restored(store, name, spec, checkpoint)
        self.feed = (
            None
            if self.live
            else SimulatorFeed(self.state, (store.load_snapshot(FEED_SNAPSHOT) or {}).get("state"))
        )
        pending = []
        replay = {name: [] for name in self.operators}
        for seq, appended, event in self._raw_after(store, min(since.values(), default=0)):
            if seq <= checkpoint:
                for name, rows in replay.items():
                    if seq > since[name]:
                        rows.append((appended, event))
                        if len(rows) >= poison.REPLAY_CHUNK:
                            poison.replay(self.operators[name], rows)
            else:
                pending.append((appended, event))
                last_seq = seq
        for name, rows in replay.items():
            poison.replay(self.operators[name], rows)
        proc = self.state.get("proc_ms")
        for op in self.operators.values():
            if proc is not None:
                op.advance_processing_time(proc)
            op.drain()
            op.drain_supersessions()
        if pending:
            self._process(store, pending, last_seq, proc or 0)

    def _raw_after(self, store: Store, seq: int):
        """(seq, appended_ms or None, event) after ``seq``. Live mode processes each row
        at the wall-clock time it was appended; the simulator at its arrival time."""
        if self.live:
            yield from store.iter_raw_appended(seq)
        else:
            for s, event in store.iter_raw_events(seq):
                yield s, None, event

    def _restored(
        self, store: Store, name: str, spec: PipelineSpec, checkpoint: int
    ) -> tuple[WindowOperator, int]:
        """(operator, raw-log seq it has seen): the snapshot written with the last
        checkpoint when it fits this code and spec, else a fresh operator at 0."""
        saved = store.load_snapshot(name)
        if saved is not None and saved["format"] == snapshots.FORMAT and saved["seq"] <= checkpoint:
            try:
                return snapshots.restore(spec, saved["state"]), saved["seq"]
            except snapshots.SnapshotMismatch:
                pass
        return WindowOperator(spec, track_contributions=True, collect_lateness=False), 0

    def _save_state(self, store: Store) -> None:
        if self.clock is not None:
            self.state["clock_ms"] = self.clock.now_ms()
        store.set_kv(STATE_KEY, self.state, self.state.get("clock_ms"))

    # ------------------------------------------------------------------ the tick
    def now_ms(self) -> int:
        return self.clock.now_ms()

    def first_start_preview(self) -> FirstStartPreview | None:
        """Today's live numbers ahead of a first start's replay, None when not catching
        up (engine.runtime.first_preview; computed once, the write lock stays free)."""
        return self._preview.get(dict(self.state), self.series.get("daily"), self.settings.tz)

    @property
    def catching_up(self) -> bool:
        return bool(self.state.get("catch_up_to_ms"))

    def tick(self, budget_ms: int = 900) -> TickReport:
        """Deliver what arrived up to now; while catching up, advance in steps for
        at most ``budget_ms`` of wall time (so pages stay responsive)."""
        with self._lock:
            try:
                self._lease_ms = lease.heartbeat(self.store(), getattr(self, "_lease_ms", 0))
                if self.catching_up:
                    return catch_up(self, budget_ms)
                return self._tick_to(self.clock.now_ms())
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                raise

    def _tick_to(self, now: int, snapshot: bool = True) -> TickReport:
        store = self.store()
        report = TickReport(now_ms=now)
        if self.state.get("proc_ms") is not None and now <= self.state["proc_ms"]:
            return report
        if self.feed is not None:
            self.feed.deliver(store, now, report)
        elif self.state.get("paused"):
            return report  # live data keeps arriving in the raw log; processed on resume
        # The operators read the raw log, not the feed: events ingested by anyone
        # else (the HTTP API, `python -m engine ingest`) stream through them too.
        last_seq = self.state.get("processed_seq", 0)
        events = []
        for seq, appended, event in self._raw_after(store, last_seq):
            events.append((appended, event))
            last_seq = seq
            if appended is not None and appended > now:
                now = appended  # appended by another process a moment after we read the clock
        if self.feed is None:
            report.arrived = report.accepted = len(events)
        versions, late = self._process(store, events, last_seq, now, snapshot)
        report.versions, report.late_events = versions, late
        self.last_tick = report
        return report

    def _process(
        self, store: Store, events, last_seq: int, now: int, snapshot: bool = True
    ) -> tuple[int, int]:
        """Feed ``(appended_ms or None, event)`` pairs to every operator, move processing
        time to ``now``, and write the emissions together with the checkpoint — and,
        with ``snapshot``, the operators' open state (a catch-up saves it only now and
        then: a start restores the last one and replays the raw rows after it)."""
        drained = {}
        set_aside = poison.process_all(self.operators, list(events))
        for name, op in self.operators.items():
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
            if set_aside:  # exactly once: with the checkpoint that passes them
                store.write_ingest_batch(None, [], poison.quarantine_rows(set_aside), None, now)
            self.state["processed_seq"] = last_seq
            self.state["proc_ms"] = now
            self._save_state(store)
            if not snapshot:
                return n_versions, n_late
            # the operators' open state, committed with the checkpoint it belongs to
            for name, op in self.operators.items():
                store.save_snapshot(name, last_seq, now, snapshots.FORMAT, snapshots.snapshot(op))
            if self.feed is not None:  # and the simulated source's position
                store.save_snapshot(FEED_SNAPSHOT, last_seq, now, "feed", self.feed.position_blob())
        return n_versions, n_late

    # ------------------------------------------------------------------ jobs
    def run_due_jobs(self) -> list[dict]:
        """Recompute flagged windows, patch the side output, then any T+1 / T+7
        finalizations that are due, then alerts."""
        with self._lock:
            store = self.store()
            now = self.state.get("proc_ms") or self.clock.now_ms()
            done = []
            for name in self.series:
                res = apply_recompute(store, name, now, self.settings.finalize, self.series[name])
                if res.status == "completed":
                    done.append({"series": name, "kind": "recompute", **res.counts})
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
        if self.live:
            raise ValueError("live data runs on the system clock; there is no speed to set")
        with self._lock:
            self.state["speed"] = float(speed)
            if hasattr(self.clock, "set_speed"):
                self.clock.set_speed(speed)
            self._save_state(self.store())

    def set_scenario(self, scenario: str) -> None:
        """Switch the simulator's scenario from now on (engine.runtime.feed)."""
        if self.feed is None:
            raise ValueError("live data has no simulator; its scenario cannot be switched")
        with self._lock:
            now = self.state.get("proc_ms") or self.clock.now_ms()
            self.feed.switch(scenario, now)
            self._save_state(self.store())

    def apply_config(
        self,
        series: str,
        spec: PipelineSpec,
        applied_by: str | None = None,
        reason: str | None = None,
    ) -> int:
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
            rows = []
            for seq, appended, event in self._raw_after(store, 0):
                if seq > checkpoint:
                    break  # committed but not yet processed: the next tick feeds them
                rows.append((appended, event))
                if len(rows) >= poison.REPLAY_CHUNK:
                    poison.replay(op, rows)
            poison.replay(op, rows)
            proc = self.state.get("proc_ms")
            if proc is not None:
                op.advance_processing_time(proc)
            op.drain()
            op.drain_supersessions()
            now = proc or self.clock.now_ms()
            with store.transaction():
                version = store.save_config(series, spec, now, applied_by, reason)
                mark_series_origin(store, series, "UI", now)
                store.save_snapshot(
                    series, checkpoint, proc, snapshots.FORMAT, snapshots.snapshot(op)
                )
            self.series[series] = spec
            self.operators[series] = op
            return version

    # ------------------------------------------------------------------ reading
    def status(self) -> dict:
        """A small, thread-safe summary for the sidebar and the operations page."""
        return runtime_status(self)
