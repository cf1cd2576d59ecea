"""APScheduler 3.11 wiring for the runtime: stable job ids, one worker thread.

All jobs run on a single worker thread (so the write path is serialised and
each job finds the same thread-local SQLite connection), coalesce missed runs,
never overlap (``max_instances=1``) and tolerate a slow first page render
(``misfire_grace_time``). The scheduler runs in UTC; local time is for display.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from engine.runtime.clock import wall_ms

log = logging.getLogger("latewatch.scheduler")

JOB_IDS = ("tick", "jobs")


def _guard(fn, name):
    def run():
        try:
            fn()
        except Exception:  # noqa: BLE001 - a failing tick must not kill the scheduler
            log.exception("job %s failed", name)

    run.__name__ = f"latewatch_{name}"
    return run


def build_scheduler(runtime) -> BackgroundScheduler:
    s = runtime.settings
    # A tick that overruns its interval is skipped by design (max_instances=1,
    # coalesce); APScheduler logs each skip as a warning, which is only noise here.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    sched = BackgroundScheduler(
        timezone="UTC",
        executors={"default": ThreadPoolExecutor(1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
    )
    # The tick: simulator arrivals, ingest, operators (processing-time timers fire
    # here: early panes and rate-limited late panes), versions and checkpoint.
    sched.add_job(
        _guard(runtime.tick, "tick"),
        "interval",
        seconds=s.tick_seconds,
        id="tick",
        replace_existing=True,
    )
    # Side-output patches and T+1 / T+7 finalization when due.
    sched.add_job(
        _guard(runtime.run_due_jobs, "jobs"),
        "interval",
        seconds=s.jobs_seconds,
        id="jobs",
        replace_existing=True,
    )
    sched.add_listener(
        _catch_up_without_pause(runtime, sched), EVENT_JOB_EXECUTED | EVENT_JOB_ERROR
    )
    return sched


def _catch_up_without_pause(runtime, sched):
    """While the first start catches up, the next tick starts as soon as one ends.

    A catch-up tick runs ~0.9 s of steps (so the runtime's lock is released often)
    plus the step that crosses the budget; on the 1 s interval the next run was due
    while it still ran, was skipped, and the worker sat idle until the run after it:
    a third of the replay's wall time. The listener runs after the executor counted
    the tick as finished, so the re-armed tick is not refused as a second instance.
    The wall clock here only schedules; the runtime's own time stays its clock's."""

    def listener(event) -> None:
        if event.job_id == "tick" and runtime.catching_up and sched.running:
            now = datetime.fromtimestamp(wall_ms() / 1000, UTC)
            sched.modify_job("tick", next_run_time=now)

    return listener
