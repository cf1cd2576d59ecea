"""Restart without loss — a test, not a promise.

``python -m engine run`` replays a simulated past in a subprocess and is killed
with SIGKILL at random points (at least 10), then restarted each time. At the end
the raw log holds every delivered event exactly once, versions are gap-free and
never duplicated, and the final versions equal those of a run never interrupted.
A finalization job killed mid-way either committed whole or left no trace.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOW = "2026-11-20T15:30:00Z"
ARGS = [
    "--now",
    NOW,
    "--history-days",
    "9",
    "--events-per-day",
    "6000",
    "--seed",
    "11",
    "--tick",
    "0.05",
    "--catch-up-only",
]

pytestmark = pytest.mark.slow


def run_engine(db: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "engine", "run", "--db", str(db), *ARGS, *extra],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )


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
    finally:
        con.close()
    return {"raw": raw, "gaps": gaps, "finals": finals, "jobs": jobs, "unfinished": unfinished}


def test_sigkill_at_random_points_loses_nothing(tmp_path):
    baseline_db = tmp_path / "baseline.db"
    assert run_engine(baseline_db).wait(timeout=180) == 0
    baseline = snapshot(baseline_db)
    assert baseline["finals"], "the baseline run produced no final versions"

    db = tmp_path / "killed.db"
    rng = random.Random(20261120)
    kills = 0
    for _ in range(20):
        proc = run_engine(db)
        time.sleep(rng.uniform(0.8, 2.2))  # imports take ~1 s; kill anywhere after
        if proc.poll() is not None:
            break  # the run completed between kills
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        kills += 1
        if kills >= 12:
            break
    assert kills >= 10, f"only {kills} kills landed before the run completed"
    assert run_engine(db).wait(timeout=180) == 0  # finish without interruption
    got = snapshot(db)

    assert got["raw"] == baseline["raw"]  # every event exactly once (event_id is unique)
    for series, ws, grp, n, top, distinct in got["gaps"]:
        assert n == top == distinct, f"{series} {ws} {grp}: versions not 1..n"
    assert got["finals"] == baseline["finals"]
    assert got["jobs"] == baseline["jobs"]


def test_finalization_killed_midway_commits_whole_or_not_at_all(tmp_path):
    db = tmp_path / "f.db"
    assert run_engine(db, "--events-per-day", "3000").wait(timeout=180) == 0
    cmd = [
        sys.executable,
        "-m",
        "engine",
        "reprocess",
        "--db",
        str(db),
        "--from",
        "2026-11-12T00:00:00Z",
        "--to",
        "2026-11-20T00:00:00Z",
        "--reason",
        "restart test",
    ]
    started = time.perf_counter()  # one full run tells how long imports + job take
    assert subprocess.run(cmd, cwd=ROOT, capture_output=True).returncode == 0
    full = time.perf_counter() - started
    before = snapshot(db)
    rng = random.Random(5)
    kills = 0
    for _ in range(8):
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(full * rng.uniform(0.55, 0.95))  # the job is the last part of a run
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=30)
        after = snapshot(db)
        assert after["raw"] == before["raw"]
        for *window, n, top, distinct in after["gaps"]:
            assert n == top == distinct, window
        assert not after["unfinished"], f"a killed job left a trace: {after['unfinished']}"
        if kills >= 3:
            break
    assert kills >= 1, "every reprocess finished before the kill; the test proved nothing"
    assert subprocess.run(cmd, cwd=ROOT, capture_output=True).returncode == 0
