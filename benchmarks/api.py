"""Latency of ``GET /metrics`` (latest, final, as-of) under 8 concurrent local clients.

Builds (or reuses) the 1 M-version-row store of ``benchmarks/store_queries.py``
(50,000 hourly windows x 4 groups x 5 versions, the last final), starts
``python -m engine serve`` on 127.0.0.1 in a subprocess, then 8 client threads
(one ``httpx.Client`` each) send a fixed number of requests for random windows
and groups, cycling latest / final / as-of. Prints p50 / p99 per kind and
overall, in milliseconds, measured at the client (HTTP round trip included).
Target: p99 <= 20 ms. Stops by itself.

    python benchmarks/api.py [--db /tmp/lw_bench_queries.db] [--requests 600]
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from store_queries import BASE, GROUPS, VERSIONS, H, build  # noqa: E402

from engine.core.timeutil import format_ms  # noqa: E402
from engine.store.db import Store  # noqa: E402

KINDS = ("latest", "final", "as_of")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(base: str, proc: subprocess.Popen, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(base + "/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not become ready")


def client(base: str, n_windows: int, requests: int, seed: int, out: dict, errors: list) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=base, timeout=10.0) as http:
        for i in range(requests):
            kind = KINDS[i % len(KINDS)]
            ws = BASE + rng.randrange(n_windows) * H
            params = {"window": format_ms(ws), "group": rng.choice(GROUPS), "series": "hourly"}
            if kind == "final":
                params["version"] = "final"
            elif kind == "as_of":
                params["version"] = format_ms(ws + H + rng.randrange(1, VERSIONS) * 600_000)
            t0 = time.perf_counter()
            r = http.get("/metrics/revenue_cents", params=params)
            elapsed = (time.perf_counter() - t0) * 1000
            if r.status_code != 200:
                errors.append((r.status_code, r.text[:200]))
            out[kind].append(elapsed)


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default="/tmp/lw_bench_queries.db")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=600, help="per client")
    ap.add_argument("--warmup", type=int, default=30, help="per client, not measured")
    args = ap.parse_args()
    if not os.path.exists(args.db):
        with Store(args.db) as store:
            build(store, args.rows)
    with Store(args.db) as store:
        total = store.conn.execute("SELECT count(*) FROM versions").fetchone()[0]
    n_windows = total // (len(GROUPS) * VERSIONS)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "engine", "serve", "--db", args.db, "--port", str(port)]
    proc = subprocess.Popen([*cmd, "--log-level", "warning"], cwd=ROOT)
    try:
        wait_ready(base, proc)
        warm: dict = {k: [] for k in KINDS}
        errors: list = []
        client(base, n_windows, args.warmup * args.clients, 99, warm, errors)
        samples: dict = {k: [] for k in KINDS}
        threads = [
            threading.Thread(
                target=client, args=(base, n_windows, args.requests, seed, samples, errors)
            )
            for seed in range(args.clients)
        ]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    n = sum(len(v) for v in samples.values())
    print(f"{total:,} version rows; {args.clients} clients x {args.requests} requests")
    print(f"{n / wall:,.0f} requests/s over {wall:.1f} s; {len(errors)} non-200 answers")
    print(f"{'GET /metrics':<14} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    everything = [x for v in samples.values() for x in v]
    for name, vals in (*samples.items(), ("all", everything)):
        print(f"{name:<14} {statistics.median(vals):8.2f} {pct(vals, 0.99):8.2f} {max(vals):8.2f}")
    if errors:
        print("first errors:", errors[:3])
    print(f"target p99 <= 20 ms: {'met' if pct(everything, 0.99) <= 20 else 'NOT met'}")


if __name__ == "__main__":
    main()
