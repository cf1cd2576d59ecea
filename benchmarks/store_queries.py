"""Query latency of the versioned store with 1 M version rows.

Builds a database (50,000 hourly windows x 4 groups x 5 versions, the last one
final) unless it exists, then times 2,000 random calls of each query and prints
p50 / p99 in milliseconds. Target: as_of / history / latest / final <= 5 ms.

    python benchmarks/store_queries.py [--db /tmp/lw_bench_queries.db] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.store.db import Store  # noqa: E402
from engine.store.schema import METRIC_COLUMNS  # noqa: E402

H = 3_600_000
BASE = 1_767_225_600_000  # 2026-01-01T00:00Z
GROUPS = ("*", "web", "mobile", "partner")
VERSIONS = 5


def build(store: Store, rows: int) -> int:
    n_windows = rows // (len(GROUPS) * VERSIONS)
    rng = random.Random(1)
    cols = (
        "series, window_start_ms, window_end_ms, grp, version, timing, tier, reason, "
        "processing_time_ms, watermark_ms, " + ", ".join(METRIC_COLUMNS) + ", event_count"
    )
    sql = (
        f"INSERT INTO versions ({cols}) VALUES ({', '.join('?' * (10 + len(METRIC_COLUMNS) + 1))})"
    )
    tiers = ("live", "live", "live", "preliminary", "final")
    reasons = ("on_time", "late_data", "patch", "finalization", "finalization")
    batch = []
    t0 = time.perf_counter()
    for w in range(n_windows):
        ws = BASE + w * H
        for g in GROUPS:
            rev = 0
            for v in range(1, VERSIONS + 1):
                rev += rng.randrange(0, 100_000)
                pt = ws + H + v * 600_000
                batch.append(
                    (
                        "hourly",
                        ws,
                        ws + H,
                        g,
                        v,
                        "on_time",
                        tiers[v - 1],
                        reasons[v - 1],
                        pt,
                        pt - 300_000,
                        rev,
                        v,
                        v,
                        v,
                        None,
                        None,
                        None,
                        v,
                    )
                )
        if len(batch) >= 50_000:
            with store.transaction():
                store.conn.executemany(sql, batch)
            batch.clear()
    if batch:
        with store.transaction():
            store.conn.executemany(sql, batch)
    print(
        f"built {n_windows * len(GROUPS) * VERSIONS:,} version rows in "
        f"{time.perf_counter() - t0:.1f} s"
    )
    return n_windows


def timed(fn, calls: int) -> tuple[float, float]:
    samples = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.99 * len(samples)) - 1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default="/tmp/lw_bench_queries.db")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--calls", type=int, default=2000)
    args = ap.parse_args()
    fresh = not os.path.exists(args.db)
    store = Store(args.db)
    if fresh:
        build(store, args.rows)
    total = store.conn.execute("SELECT count(*) FROM versions").fetchone()[0]
    n_windows = total // (len(GROUPS) * VERSIONS)
    rng = random.Random(2)

    def win():
        return BASE + rng.randrange(n_windows) * H, rng.choice(GROUPS)

    def q_latest():
        store.latest("hourly", *win())

    def q_final():
        store.final("hourly", *win())

    def q_as_of():
        ws, g = win()
        store.as_of("hourly", ws, g, ws + H + rng.randrange(0, 4 * 600_000))

    def q_history():
        store.history("hourly", *win())

    def q_day():
        ws, _ = win()
        store.windows_in_range("hourly", ws, ws + 24 * H, "*")

    print(f"{total:,} version rows; {args.calls} random calls each")
    print(f"{'query':<28} {'p50 ms':>8} {'p99 ms':>8}")
    for name, fn in (
        ("latest", q_latest),
        ("final", q_final),
        ("as_of", q_as_of),
        ("history", q_history),
        ("windows_in_range (1 day)", q_day),
    ):
        p50, p99 = timed(fn, args.calls if "range" not in name else args.calls // 10)
        print(f"{name:<28} {p50:8.3f} {p99:8.3f}")
    store.close()


if __name__ == "__main__":
    main()
