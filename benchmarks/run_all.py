"""Every benchmark in one run, printed as ONE table: each figure next to a baseline
measured in the same run on the same data, and the ratio (so a figure from a busy
or slow machine can still be read).

    python benchmarks/run_all.py [--scale 1.0] [--only operator,ingest,...]

Rows (``--only`` takes the names in brackets):
- [operator] the window operator, tumbling 1 h + ``update``, versions emitted, event
  by event (``process``) and through its batch entry point (``process_all``, what
  the runtime feeds it with), vs a bare Python loop doing the same windowed sums
  over the same events; and the
  runtime's two default series (per-key watermark with idle timeouts, early and late
  panes, contributions tracked), per series and event;
- [ingest] raw log only (vectorized frame path: validate, dedup, append) and end
  to end (+ operator, versions, contributions), vs a plain ``sqlite3``
  ``executemany`` of the same rows into a table with a unique key;
- [whatif] one what-if evaluation vs ``np.argsort`` of the event times;
- [start] runtime start on a store with ``90 * scale`` days of history, restoring
  the operator snapshots, vs the full raw-log replay it replaced, and vs opening
  the store; fresh first start to caught-up (Today's numbers) vs simulating the
  same history;
- [api] ``/healthz``, ``/metrics`` and ``/windows`` p50 / p99 with 8 keep-alive
  readers, idle and while a writer posts events (``benchmarks/api.py``), vs a bare
  FastAPI/uvicorn endpoint returning a constant in the same conditions (the floor);
- [pages] server-side run of every page (AppTest, warm caches) vs an empty page.

The browser figures (fresh start to numbers, page settle, slider) are in
``benchmarks/browser.py``. Scripts print figures; no test asserts on timings.
"""

from __future__ import annotations

import argparse
import gc
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

ROWS: list[tuple[str, str, str, str]] = []  # (what, figure, baseline, ratio)


def row(what: str, figure: str, baseline: str, ratio: float | None) -> None:
    ROWS.append((what, figure, baseline, "" if ratio is None else f"{ratio:.2f}x"))
    print(f"  {what}: {figure} | {baseline} | {ROWS[-1][3]}", flush=True)


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds / 1000:,.0f} K ev/s"


def best_of(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


# -- operator ---------------------------------------------------------------------
def bench_operator(scale: float) -> None:
    import engine_throughput as et

    n = int(1_000_000 * scale)
    events = et.simulated(n)
    gc.collect()
    gc.freeze()
    bare = min(et.run_bare(events)[0] for _ in range(2))
    op = min(et.run_operator(events, collect_lateness=False)[0] for _ in range(2))
    batch = min(et.run_operator(events, collect_lateness=False, batch=True)[0] for _ in range(2))
    live = min(run_default_series(events) for _ in range(2))
    gc.unfreeze()
    row(
        f"operator, {n:,} events (tumbling 1 h, update)",
        rate(n, op),
        f"bare loop {rate(n, bare)}",
        op / bare,
    )
    row(
        f"operator process_all, {n:,} events (tumbling 1 h, update)",
        rate(n, batch),
        f"bare loop {rate(n, bare)}",
        batch / bare,
    )
    row(
        f"operator, the runtime's 2 default series, {n:,} events each (per-key watermark)",
        rate(2 * n, live),
        f"bare loop {rate(n, bare)}",
        live / (2 * bare),
    )


def run_default_series(events) -> float:
    """What the runtime runs: ``hourly`` and ``daily`` (engine.runtime.pipelines)."""
    from engine.core.operator import WindowOperator
    from engine.runtime.pipelines import default_series

    t0 = time.perf_counter()
    for spec in default_series("America/New_York").values():
        op = WindowOperator(spec, track_contributions=True, collect_lateness=False)
        op.process_all(events)  # as the runtime feeds it (engine.runtime.poison)
        op.finish()
        op.drain()
    return time.perf_counter() - t0


# -- ingest -----------------------------------------------------------------------
def plain_executemany(frame, path: str) -> float:
    """The floor: the same rows into a table with a unique key, one transaction per batch."""
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = NORMAL")
    con.execute(
        "CREATE TABLE t (seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, source TEXT, "
        "event_time_ms INTEGER, arrival_time_ms INTEGER, amount_cents INTEGER, items INTEGER, "
        "event_type TEXT)"
    )
    cols = ["event_id", "source", "event_time_ms", "arrival_time_ms", "amount_cents", "items"]
    rows = list(zip(*(frame[c].tolist() for c in cols), frame["event_type"].tolist(), strict=True))
    t0 = time.perf_counter()
    for i in range(0, len(rows), 20_000):
        with con:
            con.executemany(
                "INSERT OR IGNORE INTO t (event_id, source, event_time_ms, arrival_time_ms, "
                "amount_cents, items, event_type) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows[i : i + 20_000],
            )
    elapsed = time.perf_counter() - t0
    con.close()
    return elapsed


def bench_ingest(scale: float) -> None:
    import ingest_throughput as it

    n = int(500_000 * scale)
    frame = it.records_frame(n)
    with tempfile.TemporaryDirectory() as tmp:
        base = plain_executemany(frame, os.path.join(tmp, "plain.db"))
        raw = it.run(n, 20_000, False, os.path.join(tmp, "raw.db"), frame)[0]
        e2e, _, nver = it.run(n, 20_000, True, os.path.join(tmp, "e2e.db"), frame)
    floor = f"executemany {rate(n, base)}"
    row(f"ingest raw log only, {n:,} rows (frame)", rate(n, raw), floor, raw / base)
    row(f"ingest end to end, {n:,} rows ({nver:,} versions)", rate(n, e2e), floor, e2e / base)


# -- what-if ----------------------------------------------------------------------
def bench_whatif(scale: float) -> None:
    import numpy as np
    import whatif as wb

    from engine.analysis.whatif import evaluate

    n = int(10_000_000 * scale)
    arrays = wb.synthetic(n)
    evaluate(arrays, wb.SPEC)
    t, _ = best_of(lambda: evaluate(arrays, wb.SPEC))
    s, _ = best_of(lambda: np.argsort(arrays.event_time_ms))
    row(f"what-if evaluate, {n:,} events", f"{t:.3f} s", f"np.argsort {s:.3f} s", t / s)


# -- runtime start ------------------------------------------------------------------
def _settings(path: str, days: int, per_day: float):
    from engine.core.timeutil import parse_timestamp_ms
    from engine.runtime.runtime import RuntimeSettings

    return RuntimeSettings(
        db_path=path,
        history_days=days,
        events_per_day=per_day,
        seed=7,
        now_ms=parse_timestamp_ms("2026-11-20T15:30:00Z"),
    )


def _timed_start(settings) -> float:
    from engine.runtime.runtime import Runtime

    t0 = time.perf_counter()
    rt = Runtime(settings).start(scheduler=False)
    elapsed = time.perf_counter() - t0
    rt.shutdown()
    return elapsed


def bench_start(scale: float) -> None:
    from engine.runtime.runtime import Runtime
    from engine.sim.simulator import LiveFeed
    from engine.store.db import Store

    days = max(2, int(90 * scale))
    with tempfile.TemporaryDirectory() as tmp:
        # First start, the app's defaults (8 days x 20,000 events/day): to caught up.
        fresh = _settings(os.path.join(tmp, "fresh.db"), 8, 20_000)
        t0 = time.perf_counter()
        rt = Runtime(fresh).start(scheduler=False)
        while rt.catching_up:
            rt.tick(budget_ms=60_000)
        first = time.perf_counter() - t0
        events = rt.store().raw_event_count()
        rt.shutdown()
        state = Store(fresh.db_path).get_kv("runtime")
        t0 = time.perf_counter()
        feed = LiveFeed("steady", seed=7, start_ms=state["feed_start_ms"], events_per_day=20_000)
        feed.arrivals_until(state["proc_ms"])
        sim = time.perf_counter() - t0
        row(
            f"first start to caught up (8 d, {events:,} events)",
            f"{first:.1f} s",
            f"simulating them {sim:.2f} s",
            first / sim,
        )

        # Restart on a long history: snapshot restore vs the full replay.
        path = os.path.join(tmp, "long.db")
        settings = _settings(path, days, 2_000)
        rt = Runtime(settings).start(scheduler=False)
        while rt.catching_up:
            rt.tick(budget_ms=60_000)
        events = rt.store().raw_event_count()
        rt.shutdown()
        t0 = time.perf_counter()
        Store(path).close()
        open_s = time.perf_counter() - t0
        restore = min(_timed_start(settings) for _ in range(3))
        con = sqlite3.connect(path)
        con.execute("DELETE FROM operator_snapshots")
        con.commit()
        con.close()
        t0 = time.perf_counter()
        replay = _timed_start(settings)
        row(
            f"runtime start, {days} d store ({events:,} events)",
            f"{restore:.2f} s",
            f"full replay {replay:.2f} s; open store {open_s:.3f} s",
            restore / replay,
        )


# -- API ----------------------------------------------------------------------------
def bench_api(scale: float) -> None:
    """``benchmarks/api.py``'s measurement: 8 keep-alive readers per endpoint, idle
    and while a writer posts events, vs a bare FastAPI/uvicorn endpoint."""

    import api as api_bench

    import pages as pages_bench

    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "api.db")
        # A store the real runtime built (raw log, versions of every tier), so reads of
        # windows that are not final also fit the completeness model from the raw log.
        pages_bench.build(Path(db), max(10, int(30 * scale)), 2_000)
        n_req = max(30, int(150 * scale))
        results = api_bench.measure(db, pages_bench.NOW_MS, n_req, log=lambda *a, **k: None)
    for r in results:
        s, base = r["samples"], r["baseline"]
        figure = f"p50 {statistics.median(s):.1f} / p99 {api_bench.pct(s, 0.99):.1f} ms"
        if base is None:
            row(f"API {r['endpoint']}, {r['phase']}", figure, r.get("note", ""), None)
            continue
        b99 = api_bench.pct(base, 0.99)
        baseline = f"bare endpoint p50 {statistics.median(base):.1f} / p99 {b99:.1f} ms"
        if r.get("cpu") is not None and r.get("base_cpu"):
            figure += f"; server CPU {r['cpu']:.2f} ms/req"
            baseline += f"; {r['base_cpu']:.2f} ms/req"
        row(
            f"API {r['endpoint']}, 8 readers, {r['phase']}",
            figure,
            baseline,
            api_bench.pct(s, 0.99) / b99,
        )


# -- pages --------------------------------------------------------------------------
def bench_pages(scale: float) -> None:
    import pages as pages_bench

    days = max(2, int(30 * scale))
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "pages.db"
        pages_bench.build(db, days, 400)
        os.environ["LATEWATCH_DB"] = str(db)
        os.environ["LATEWATCH_SCHEDULER"] = "off"
        from streamlit.testing.v1 import AppTest

        empty = AppTest.from_string("import streamlit as st\nst.write('')\n")
        empty.run()
        base = statistics.median(best_of(empty.run, 1)[0] for _ in range(5))
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.run()
        for page in pages_bench.page_files():
            at.switch_page(page).run()
            if at.exception:
                row(f"page {page}", "raised", "", None)
                continue
            runs = []
            for _ in range(3):
                t0 = time.perf_counter()
                at.run()
                runs.append(time.perf_counter() - t0)
            med = statistics.median(runs)
            row(
                f"page {page} (server run, warm, {days} d)",
                f"{1000 * med:.0f} ms",
                f"empty page {1000 * base:.0f} ms",
                med / base,
            )


BENCHES = {
    "operator": bench_operator,
    "ingest": bench_ingest,
    "whatif": bench_whatif,
    "start": bench_start,
    "api": bench_api,
    "pages": bench_pages,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="size of every data set")
    ap.add_argument("--only", default=",".join(BENCHES), help="comma-separated names")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    for name in args.only.split(","):
        print(f"[{name}]", flush=True)
        BENCHES[name.strip()](args.scale)
    width = max(len(r[0]) for r in ROWS)
    fig = max(len(r[1]) for r in ROWS)
    bas = max(len(r[2]) for r in ROWS)
    print()
    print(f"load average at start {load:.1f} on {os.cpu_count()} CPUs (the machine may be shared)")
    print(f"{'what':<{width}}  {'figure':>{fig}}  {'baseline (same run)':<{bas}}  ratio")
    for what, figure, baseline, ratio in ROWS:
        print(f"{what:<{width}}  {figure:>{fig}}  {baseline:<{bas}}  {ratio}")


if __name__ == "__main__":
    main()
