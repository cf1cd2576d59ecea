"""Live mode end to end, as a user runs it: ``engine run --no-simulator`` and
``engine serve`` as subprocesses on a temporary store (free ports, bounded waits,
always killed). Events posted with event times a few seconds before the wall
clock show up as the current hour's latest version, equal to the batch sum of
what was posted; the raw log holds exactly what was posted. The same through
``ingest - --follow`` and ``ingest --watch``; the same event_id through all four
ways in (API, stdin, watched folder, file) is one event."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from engine.core.timeutil import HOUR_MS, format_ms

ROOT = Path(__file__).resolve().parents[1]
KEY = "test-key-13"
WAIT_S = 30

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(*args, stdin=None, env=None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "engine", *args],
        cwd=ROOT,
        stdin=stdin,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "LATEWATCH_API_KEYS": KEY, **(env or {})},
        text=True,
    )


def wait_for(check, what: str, timeout: float = WAIT_S):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (OSError, urllib.error.URLError, sqlite3.Error, KeyError) as exc:
            last = exc
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def http(port, path, body=None):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def events(prefix: str, n: int, t_ms: int, source: str = "web") -> list[dict]:
    return [
        {
            "event_id": f"{prefix}-{i}",
            "event_time": format_ms(t_ms),
            "source": source,
            "amount": 10 + i,
            "items": 1,
        }
        for i in range(n)
    ]


def raw_ids(db) -> list[str]:
    con = sqlite3.connect(db)
    try:
        return sorted(r[0] for r in con.execute("SELECT event_id FROM raw_events"))
    finally:
        con.close()


@pytest.fixture
def live(tmp_path):
    db = tmp_path / "live.db"
    port = free_port()
    procs = [
        spawn("run", "--no-simulator", "--db", str(db), "--tick", "0.3"),
        spawn("serve", "--db", str(db), "--port", str(port), "--log-level", "warning"),
    ]
    try:
        wait_for(lambda: http(port, "/healthz")["status"] == "ok", "the API")
        yield db, port, procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def current_revenue(port, window_ms: int):
    out = http(port, f"/metrics/revenue?window={window_ms}&series=hourly")
    return out["value"], out


def test_posted_events_become_the_current_window(live):
    db, port, _ = live
    t = now_ms() - 3000
    hour = t - t % HOUR_MS
    posted = events("api", 5, t)
    answer = http(port, "/events", posted)
    assert answer["accepted"] == 5
    expected_cents = sum(100 * e["amount"] for e in posted)
    value = wait_for(
        lambda: (
            (v := current_revenue(port, hour)[0]) in (expected_cents, expected_cents / 100) and v
        ),
        "the current window's version",
    )
    assert value in (expected_cents, expected_cents / 100)
    assert raw_ids(db) == sorted(e["event_id"] for e in posted)  # no simulated rows
    # a second post of the same ids: duplicates, the number does not move
    again = http(port, "/events", posted)
    assert (again["accepted"], again["duplicates"]) == (0, 5)


def test_stdin_follow_and_watched_folder_feed_the_live_runtime(live, tmp_path):
    db, port, procs = live
    t = now_ms() - 3000
    hour = t - t % HOUR_MS
    follow = spawn("ingest", "-", "--follow", "--db", str(db), stdin=subprocess.PIPE)
    procs.append(follow)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    watch = spawn("ingest", "--watch", str(inbox), "--interval", "0.2", "--db", str(db))
    procs.append(watch)

    piped = events("pipe", 3, t)
    for e in piped:
        follow.stdin.write(json.dumps(e) + "\n")
    follow.stdin.flush()  # the pipe stays open: lines must be committed as they arrive
    wait_for(lambda: {e["event_id"] for e in piped} <= set(raw_ids(db)), "stdin lines")

    dropped = events("file", 4, t, source="mobile")
    # write-then-rename: the half-written dotfile is never read
    tmp = inbox / ".orders.jsonl"
    tmp.write_text("".join(json.dumps(e) + "\n" for e in dropped[:2]))
    (inbox / "notes.tmp").write_text("not data\n")
    time.sleep(1.0)
    assert not {e["event_id"] for e in dropped} & set(raw_ids(db))
    tmp.write_text("".join(json.dumps(e) + "\n" for e in dropped))
    tmp.rename(inbox / "orders.jsonl")
    wait_for(lambda: {e["event_id"] for e in dropped} <= set(raw_ids(db)), "the watched file")

    # the same event_id through every way in is one event
    dup = events("pipe", 1, t)  # already sent through stdin
    assert http(port, "/events", dup)["duplicates"] == 1
    follow.stdin.write(json.dumps(dropped[0]) + "\n")  # already read from the folder
    follow.stdin.flush()
    (inbox / "again.csv").write_text(
        "event_id,event_time,source,amount,items\n"
        + "".join(
            f"{e['event_id']},{e['event_time']},{e['source']},{e['amount']},1\n" for e in piped
        )
    )
    once = subprocess.run(
        [sys.executable, "-m", "engine", "ingest", str(inbox / "again.csv"), "--db", str(db)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "accepted 0 + duplicates 3" in once.stdout

    everything = piped + dropped
    expected = sum(100 * e["amount"] for e in everything)
    wait_for(
        lambda: current_revenue(port, hour)[0] in (expected, expected / 100),
        "all ways in in the current window",
    )
    assert raw_ids(db) == sorted(e["event_id"] for e in everything)
    follow.stdin.close()
    assert follow.wait(timeout=20) == 0
    con = sqlite3.connect(db)
    try:
        files = con.execute("SELECT name, status FROM watched_files ORDER BY name").fetchall()
    finally:
        con.close()
    assert ("orders.jsonl", "completed") in files
    assert all(not name.startswith(".") and not name.endswith(".tmp") for name, _ in files)


def test_late_too_late_and_final_day_events_through_the_api(live):
    """A late event for an hour that already passed gets a late version; one past the
    allowed lateness lands in the side output (patched in batch); one for a day that
    is final is booked as an adjustment — all visible through the API."""
    db, port, _ = live
    now = now_ms()
    http(port, "/events", events("now", 1, now - 1000))  # the web watermark reaches ~now
    now_hour = (now - 1000) - (now - 1000) % HOUR_MS
    wait_for(lambda: current_revenue(port, now_hour)[0] == 1000, "the first event processed")
    # late: an earlier hour, inside the web source's 6 h of allowed lateness
    late_t = now - 2 * HOUR_MS
    late_hour = late_t - late_t % HOUR_MS
    http(port, "/events", [events("late", 1, late_t)[0]])
    late = wait_for(
        lambda: (
            (r := http(port, f"/metrics/revenue?window={late_hour}&series=hourly"))["value"] == 1000
            and r
        ),
        "the late version",
    )
    assert late["reason"] == "late_data" and late["timing"] == "late"
    # too late: two days back, past every allowed lateness -> side output -> a patch
    old_t = now - 2 * 86_400_000
    old_hour = old_t - old_t % HOUR_MS
    http(port, "/events", [events("old", 1, old_t)[0]])
    patched = wait_for(
        lambda: (
            (r := http(port, f"/metrics/revenue?window={old_hour}&series=hourly"))["value"] == 1000
            and r
        ),
        "the side-output event in a batch version",
    )
    # patched from the side output, or absorbed by the day's preliminary batch job
    assert patched["reason"] in ("patch", "finalization")
    con = sqlite3.connect(db)
    try:
        assert con.execute("SELECT count(*) FROM late_events WHERE event_id = 'old-0'").fetchone()[
            0
        ]
    finally:
        con.close()
    # a final day: finalize it, then a later event for it becomes an adjustment
    day_t = now - 4 * 86_400_000
    http(port, "/events", [events("day", 1, day_t)[0]])
    from datetime import datetime
    from zoneinfo import ZoneInfo

    day = datetime.fromtimestamp(day_t / 1000, ZoneInfo("America/New_York")).date()
    wait_for(lambda: "day-0" in raw_ids(db), "the event for the day")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "finalize",
            "--date",
            str(day),
            "--tier",
            "final",
            "--series",
            "daily",
            "--tz",
            "America/New_York",
            "--db",
            str(db),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    http(port, "/events", [events("after", 1, day_t + 60_000)[0]])
    frm, to = format_ms(now - 6 * 86_400_000), format_ms(now + 2 * 86_400_000)
    booked = wait_for(
        lambda: [
            w
            for w in http(port, f"/adjustments?from={frm}&to={to}&grain=day")["windows"]
            if w.get("revenue_cents") == 1000
        ],
        "the adjustment",
    )
    assert booked


def test_a_second_processing_runtime_on_the_store_is_refused(live):
    db, port, _ = live
    http(port, "/events", events("x", 1, now_ms() - 1000))
    wait_for(lambda: current_revenue(port, (now_ms() - 1000) // HOUR_MS * HOUR_MS)[0], "a tick")
    second = subprocess.run(
        [sys.executable, "-m", "engine", "run", "--no-simulator", "--db", str(db)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 2 and "already being processed" in second.stderr
