"""Restart without loss — a test, not a promise.

``python -m engine run`` replays a simulated past in its own process and is killed
with SIGKILL, then restarted, 10 times: five times during its start, five times at
a random moment once the catch-up has reached a random point (one in each fifth).
At the end the raw log holds every delivered event exactly once, versions are
gap-free and never duplicated, and the final versions equal those of a run never
interrupted (it runs meanwhile, beside the killed one). A reprocessing job killed
while it holds the write lock either committed whole or left no trace.

The kill points come from watching the store (the runtime's committed progress, the
write lock), so every kill lands where it is meant to however fast or loaded the
machine is.
"""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.forkserver
import os
import random
import sqlite3
import sys
import time
import types
from pathlib import Path

import pytest

from engine.commands.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[1]
NOW = "2026-11-20T15:30:00Z"
ARGS = [
    "--now",
    NOW,
    "--history-days",
    "9",
    "--events-per-day",
    "3000",
    "--seed",
    "11",
    "--tick",
    "0.05",
    "--catch-up-only",
]

pytestmark = pytest.mark.slow


# Each start of `python -m engine …` is its own process, killed with SIGKILL, but
# forked from a server that imported the engine once (multiprocessing's forkserver):
# a restart costs the runtime's start, not a second of imports. All runs share the
# server's hash seed (the same set orders, as a fixed PYTHONHASHSEED would give).
FORKS = multiprocessing.get_context("forkserver")


def _engine_main(argv: list[str]) -> None:  # in the forked process
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)
    os.dup2(quiet, 2)
    os.chdir(ROOT)
    sys.exit(main(argv))


class EngineRun:
    """``python -m engine <argv>`` in a forked process, with Popen's poll/wait/kill."""

    def __init__(self, *argv: str) -> None:
        self.process = FORKS.Process(target=_engine_main, args=(list(argv),), daemon=True)
        # A child first re-imports the parent's __main__ by its path. After an AppTest
        # earlier in the session that is the Streamlit app.py, which starts a runtime
        # (and the child dies on the lease): start the child from a bare __main__.
        main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            self.process.start()
        finally:
            sys.modules["__main__"] = main

    def poll(self) -> int | None:
        return self.process.exitcode

    def wait(self, timeout: float) -> int | None:
        self.process.join(timeout)
        return self.process.exitcode

    def kill(self) -> None:
        self.process.kill()  # SIGKILL


@pytest.fixture(scope="module", autouse=True)
def fork_server():
    FORKS.set_forkserver_preload(
        ["engine.commands.cli", *(f"engine.commands.{c.replace('-', '_')}" for c in COMMANDS)]
        + [__name__]
    )
    yield
    stop = getattr(multiprocessing.forkserver._forkserver, "_stop", None)
    if stop is not None:  # the server is idle from here on; free its memory
        stop()


def run_engine(db: Path, *extra: str) -> EngineRun:
    return EngineRun("run", "--db", str(db), *ARGS, *extra)


def snapshot(db: Path) -> dict:
    con = sqlite3.connect(db)
    try:
        raw = con.execute(
            "SELECT event_id, source, event_time_ms, arrival_time_ms, amount_cents, items "
            "FROM raw_events ORDER BY event_id"
        ).fetchall()
        gaps = con.execute(
            "SELECT series, window_start_ms, grp, count(*), max(version), "
            "count(DISTINCT version) FROM versions GROUP BY 1, 2, 3"
        ).fetchall()
        finals = con.execute(
            "SELECT series, window_start_ms, grp, revenue_cents, orders, items, events "
            "FROM versions v WHERE tier = 'final' AND version = (SELECT max(version) FROM "
            "versions w WHERE w.series = v.series AND w.window_start_ms = v.window_start_ms "
            "AND w.grp = v.grp AND w.tier = 'final') ORDER BY 1, 2, 3"
        ).fetchall()
        jobs = con.execute(
            "SELECT kind, idempotency_key, status FROM jobs WHERE kind = 'finalization' "
            "ORDER BY idempotency_key"
        ).fetchall()
        unfinished = con.execute(
            "SELECT kind, idempotency_key, status FROM jobs WHERE status != 'completed'"
        ).fetchall()
        done = con.execute("SELECT count(*) FROM jobs WHERE status = 'completed'").fetchone()[0]
        versions = con.execute("SELECT count(*) FROM versions").fetchone()[0]
    finally:
        con.close()
    return {
        "raw": raw,
        "gaps": gaps,
        "finals": finals,
        "jobs": jobs,
        "unfinished": unfinished,
        "done": done,
        "versions": versions,
    }


def catch_up_progress(db: Path) -> float:
    """How far the runtime's committed catch-up has got: 0 (nothing yet) to 1 (done)."""
    if not db.exists():
        return 0.0
    con = sqlite3.connect(db, timeout=5)
    try:
        row = con.execute("SELECT value FROM kv WHERE key = 'runtime'").fetchone()
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0.0
    finally:
        con.close()
    if row is None:
        return 0.0
    state = json.loads(row[0])
    if not state.get("catch_up_to_ms"):
        return 1.0
    start, target = state["feed_start_ms"], state["catch_up_to_ms"]
    return ((state.get("proc_ms") or start) - start) / (target - start)


def write_locked(con: sqlite3.Connection) -> bool:
    """Whether another connection holds the write lock (BEGIN IMMEDIATE, no waiting)."""
    try:
        con.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return True
    con.execute("ROLLBACK")
    return False


class Baseline:
    """A run never interrupted, started at once and waited for when needed."""

    def __init__(self, db: Path) -> None:
        self.db, self.proc = db, run_engine(db)

    def wait(self) -> Path:
        assert self.proc.wait(timeout=300) == 0
        return self.db


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    run = Baseline(tmp_path_factory.mktemp("baseline") / "baseline.db")
    yield run
    if run.proc.poll() is None:
        run.proc.kill()
        run.proc.wait()


def test_sigkill_at_random_points_loses_nothing(tmp_path, baseline):
    db = tmp_path / "killed.db"
    rng = random.Random(20261120)
    for i in range(10):
        proc = run_engine(db)
        if i % 2:
            # during the start (imports, the lease, rebuilding the operators from the
            # last snapshot and the raw log after it) or as the first step commits
            at, moved = time.monotonic() + rng.uniform(0.2, 1.2), catch_up_progress(db)
            while time.monotonic() < at and catch_up_progress(db) == moved:
                time.sleep(0.02)
        else:
            # once the run is somewhere in the (i/2)-th fifth of the first 85 % of the
            # catch-up (the rest, and the jobs after it, take far longer than the wait
            # below, so the run cannot end before the kill) ...
            point = 0.85 * (i // 2 + rng.uniform(0.1, 0.9)) / 5
            while catch_up_progress(db) < point:
                assert proc.poll() is None, f"run {i} ended early (exit code {proc.poll()})"
                time.sleep(0.02)
            # ... then anywhere: inside a step's transaction, a finalization job, between
            time.sleep(rng.uniform(0, 0.2))
        assert proc.poll() is None, f"run {i} ended before it was killed"
        proc.kill()
        proc.wait(timeout=30)
    assert run_engine(db).wait(timeout=180) == 0  # finish without interruption
    got = snapshot(db)
    want = snapshot(baseline.wait())
    assert want["finals"], "the baseline run produced no final versions"

    assert got["raw"] == want["raw"]  # every event exactly once (event_id is unique)
    for series, ws, grp, n, top, distinct in got["gaps"]:
        assert n == top == distinct, f"{series} {ws} {grp}: versions not 1..n"
    assert got["finals"] == want["finals"]
    assert got["jobs"] == want["jobs"]


def copy_store(src: Path, dst: Path) -> Path:
    dst.unlink(missing_ok=True)
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    a.close()
    b.close()
    return dst


def test_reprocessing_killed_midway_commits_whole_or_not_at_all(tmp_path, baseline):
    db = copy_store(baseline.wait(), tmp_path / "f.db")

    def reprocess(path: Path) -> list[str]:
        return [
            "reprocess",
            "--db",
            str(path),
            "--from",
            "2026-11-12T00:00:00Z",
            "--to",
            "2026-11-20T00:00:00Z",
            "--reason",
            "restart test",
        ]

    def run_until_locked(path: Path, watch: sqlite3.Connection) -> EngineRun:
        """Start a reprocess; return it once its job has taken the write lock (the job
        is one BEGIN IMMEDIATE transaction, engine.runtime.finalize._run_job)."""
        proc = EngineRun(*reprocess(path))
        while not write_locked(watch):
            if proc.poll() is not None:
                raise AssertionError(f"reprocess ended ({proc.poll()}) before it was seen")
            time.sleep(0.005)
        return proc

    def lock_held() -> float:
        """How long the job holds the lock, from a whole run on a copy of the store as it
        is now (a killed run leaves it so: the next run has this same job to do)."""
        probe = copy_store(db, tmp_path / "probe.db")
        watch = sqlite3.connect(probe, timeout=0, isolation_level=None)
        proc = run_until_locked(probe, watch)
        locked_at = time.perf_counter()
        while write_locked(watch):
            time.sleep(0.005)
        held = time.perf_counter() - locked_at
        watch.close()
        assert proc.wait(timeout=60) == 0
        return held

    held = lock_held()
    before = snapshot(db)
    assert before["unfinished"] == []
    watch = sqlite3.connect(db, timeout=0, isolation_level=None)
    rng = random.Random(5)
    mid_job = 0
    for _ in range(6):  # until three kills have landed inside the job
        proc = run_until_locked(db, watch)
        time.sleep(held * rng.uniform(0.1, 0.9))
        in_job = write_locked(watch)
        proc.kill()
        proc.wait(timeout=30)
        after = snapshot(db)
        assert after["raw"] == before["raw"]
        for *window, n, top, distinct in after["gaps"]:
            assert n == top == distinct, window
        assert not after["unfinished"], f"a killed job left a trace: {after['unfinished']}"
        if after["done"] == before["done"]:  # no trace at all
            assert after == before
            mid_job += in_job
        else:  # or the whole job (it committed just before the kill landed)
            assert after["done"] == before["done"] + 1
            before, held = after, lock_held()  # the next job has less to write
        if mid_job == 3:
            break
    watch.close()
    assert mid_job >= 1, "no kill landed inside the job; the test proved nothing"
    assert EngineRun(*reprocess(db)).wait(timeout=60) == 0
