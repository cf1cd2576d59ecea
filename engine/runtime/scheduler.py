"""APScheduler 3.11 wiring for the runtime: stable job ids, one worker thread.

All jobs run on a single worker thread (so the write path is serialised and
each job finds the same thread-local SQLite connection), coalesce missed runs,
never overlap (``max_instances=1``) and tolerate a slow first page render
(``misfire_grace_time``). The scheduler runs in UTC; local time is for display.
"""

from __future__ import annotations

import logging

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

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
    return sched
