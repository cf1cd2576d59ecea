"""Server-side run time of each dashboard page on a store with ~90 days of hourly windows.

Builds the database with the real runtime (simulator → ingest → operators →
store → T+1 / T+7 jobs) over a simulated past of ``--days`` days unless it
exists, then runs every page through ``app.py`` with AppTest and prints, per
page, the median and max milliseconds of a rerun with empty data caches
("cold": what a first visitor waits for) and with warm caches (what a live
refresh costs). The runtime itself (one per process) is started once, before
timing. Target: < 300 ms per page.

    python benchmarks/pages.py [--db /tmp/lw_bench_pages.db] [--days 90] [--events-per-day 400]
"""

from __future__ import annotations

import argparse
import ast
import os
import sqlite3
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.core.timeutil import parse_timestamp_ms  # noqa: E402
from engine.runtime.runtime import Runtime, RuntimeSettings  # noqa: E402

NOW_MS = parse_timestamp_ms("2026-11-20T15:30:00Z")


def build(path: Path, days: int, events_per_day: float) -> None:
    settings = RuntimeSettings(
        db_path=str(path),
        history_days=days,
        events_per_day=events_per_day,
        seed=7,
        scenario="steady",
        now_ms=NOW_MS,
    )
    t0 = time.perf_counter()
    rt = Runtime(settings).start(scheduler=False)
    try:
        while rt.catching_up:
            rt.tick(budget_ms=60_000)
        rt.run_due_jobs()
    finally:
        rt.shutdown()
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    print(f"built {path} in {time.perf_counter() - t0:.0f} s", flush=True)


def page_files() -> list[str]:
    tree = ast.parse((ROOT / "app.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "PAGES" for t in node.targets
        ):
            return [p[1] for p in ast.literal_eval(node.value) if (ROOT / p[1]).exists()]
    raise SystemExit("app.py has no PAGES table")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default="/tmp/lw_bench_pages.db")
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--events-per-day", type=float, default=400)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pages", nargs="*", help="page files (default: every routed page)")
    args = ap.parse_args()
    db = Path(args.db)
    if not db.exists():
        build(db, args.days, args.events_per_day)
    con = sqlite3.connect(db)
    n_versions = con.execute("SELECT count(*) FROM versions").fetchone()[0]
    n_hourly = con.execute(
        "SELECT count(DISTINCT window_start_ms) FROM versions WHERE series = 'hourly'"
    ).fetchone()[0]
    n_events = con.execute("SELECT count(*) FROM raw_events").fetchone()[0]
    con.close()
    print(f"store: {n_versions:,} versions, {n_hourly:,} hourly windows, {n_events:,} raw events")

    os.environ["LATEWATCH_DB"] = str(db)
    os.environ["LATEWATCH_SCHEDULER"] = "off"
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    t0 = time.perf_counter()
    at.run()  # starts the runtime (rebuilds operator state from the raw log)
    print(f"runtime start + first run: {1000 * (time.perf_counter() - t0):.0f} ms")

    print(f"{'page':32} {'cold p50':>9} {'cold max':>9} {'warm p50':>9} {'warm max':>9}")
    for page in args.pages or page_files():
        at.switch_page(page).run()  # first visit: imports, widget registration
        if at.exception:
            print(f"{page:32} raised: {at.exception[0].value}")
            continue
        cold, warm = [], []
        for _ in range(args.runs):
            st.cache_data.clear()
            t = time.perf_counter()
            at.run()
            cold.append(1000 * (time.perf_counter() - t))
        for _ in range(args.runs):
            t = time.perf_counter()
            at.run()
            warm.append(1000 * (time.perf_counter() - t))
        print(
            f"{page:32} {statistics.median(cold):9.0f} {max(cold):9.0f} "
            f"{statistics.median(warm):9.0f} {max(warm):9.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
