"""API read latency with 8 concurrent readers, idle and while a writer posts events.

Builds a store with the real runtime (``benchmarks/pages.py``'s ``build``: raw
log, versions of every tier, so reads of windows that are not final fit the
completeness model from the raw log), starts ``python -m engine serve`` on it
and, as the same-run baseline, a bare FastAPI app under uvicorn whose one
``def`` endpoint returns a constant ``JSONResponse`` (served the same way: sync
endpoint, uvicorn defaults). Then, for each endpoint, 8 reader threads — each
with one keep-alive HTTP/1.1 connection, as a dashboard or API client holds —
send requests back to back; p50 / p99 are measured at the client (round trip
included). The same again while a writer thread posts 2,000-event batches to
``POST /events`` without pause. Each figure is printed next to the baseline's
figure of the same phase and the ratio.

Endpoints: ``/healthz``; ``/metrics/revenue_cents`` on random windows of the
last 10 days (hourly and daily, every group; latest / final / as-of in turn);
``/windows`` (one day of hourly windows). The "client floor" rows show what a
new TCP connection per request adds (the baseline endpoint both ways). Without
the writer, each row also gives the server process's CPU time per request (from
/proc), next to the bare endpoint's: the figure a busy shared machine disturbs least.

Targets (issue 14): idle p99 <= 20 ms; with the writer p99 <= 50 ms.

    python benchmarks/api.py [--db PATH] [--days 30] [--requests 150]

``--db``: reuse (or build once into) this file; each run measures a copy of it
(the writer adds events). ``--slowest N`` lists the N slowest requests.
``--compare-in-process R``: instead, serve two copies at once — ``serve`` (the
writer's ingest and the refits in the worker process) and ``serve
--no-worker-process`` (both in server threads, as before) — and the bare endpoint,
and measure them in R rounds of short bursts in shuffled order (8 readers on a mix
of the three endpoints, idle and with a writer posting to the server measured),
so that a busy shared machine's load falls on all of them alike.
Stops by itself.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

READERS = 8
WRITER_BATCH = 2_000
API_KEY = "bench-key"
SLOWEST: list | None = None  # (ms, wall time, url) of every request with --slowest
BASELINE_APP = """
from fastapi import FastAPI
from fastapi.responses import JSONResponse
import uvicorn, sys
app = FastAPI()
@app.get("/const")
def const() -> JSONResponse:
    return JSONResponse({"status": "ok", "store": {"reachable": True}})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, path: str, proc: subprocess.Popen, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not become ready")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc; None elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def per_request(c0: float | None, c1: float | None, n: int) -> float | None:
    return None if c0 is None or c1 is None or not n else 1000 * (c1 - c0) / n


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))]


def get(conn: http.client.HTTPConnection, url: str) -> int:
    conn.request("GET", url)
    r = conn.getresponse()
    r.read()
    return r.status


def readers(
    port: int,
    url_fn: Callable[[random.Random], str],
    n_req: int,
    keep_alive: bool = True,
    n_threads: int = READERS,
) -> tuple[list[float], list[int]]:
    """Latencies (ms) of ``n_threads`` x ``n_req`` GETs and the non-200 statuses."""
    out: list[float] = []
    bad: list[int] = []
    lock = threading.Lock()
    go = threading.Barrier(n_threads)

    def one(seed: int) -> None:
        rng = random.Random(seed)
        urls = [url_fn(rng) for _ in range(n_req)]
        mine, wrong = [], []
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        if keep_alive:
            get(conn, urls[0])  # connect outside the measured requests
        go.wait()
        for url in urls:
            t0 = time.perf_counter()
            if not keep_alive:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            status = get(conn, url)
            if not keep_alive:
                conn.close()
            mine.append(1000 * (time.perf_counter() - t0))
            if SLOWEST is not None:
                SLOWEST.append((mine[-1], time.time(), url))
            if status != 200:
                wrong.append(status)
        conn.close()
        with lock:
            out.extend(mine)
            bad.extend(wrong)

    threads = [threading.Thread(target=one, args=(s,)) for s in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out, bad


class Writer:
    """Posts ``WRITER_BATCH``-event JSON arrays to ``POST /events`` back to back."""

    def __init__(self, port: int, event_ms: int) -> None:
        self.port = port
        self.event_ms = event_ms
        self.stop = threading.Event()
        self.posts: list[float] = []
        self.accepted = 0
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self.run)
        self.prefix = f"bench-{os.getpid()}-{time.time_ns()}"

    def body(self, i: int) -> bytes:
        from engine.core.timeutil import format_ms

        rng = random.Random(i)
        rows = []
        for j in range(WRITER_BATCH):
            t = self.event_ms - rng.randrange(0, 3_600_000)
            rows.append(
                {
                    "event_id": f"{self.prefix}-{i}-{j}",
                    "source": rng.choice(("web", "ios", "android", "pos")),
                    "event_time": format_ms(t),
                    "arrival_time": format_ms(t + rng.randrange(0, 600_000)),
                    "amount": round(rng.uniform(1, 200), 2),
                    "items": rng.randrange(1, 5),
                    "event_type": "order.placed",
                    "user_id": f"u{rng.randrange(10_000)}",
                }
            )
        return json.dumps(rows).encode()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
        i = 0
        while not self.stop.is_set():
            body = self.body(i)
            t0 = time.perf_counter()
            conn.request("POST", "/events", body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            self.posts.append(time.perf_counter() - t0)
            if r.status == 200:
                self.accepted += json.loads(data)["accepted"]
            else:
                self.errors.append(f"{r.status} {data[:200]!r}")
            i += 1
        conn.close()

    def __enter__(self) -> Writer:
        self.thread.start()
        time.sleep(0.5)  # the first post is in flight
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def metric_url(series: str, window_start_ms: int, grp: str) -> str:
    from engine.core.timeutil import format_ms

    params = {"window": format_ms(window_start_ms), "group": grp, "series": series}
    return "/metrics/revenue_cents?" + urllib.parse.urlencode(params)


def warm_windows(db: str, now_ms: int) -> list[tuple[str, int, str]]:
    """The newest window of each (series, group) the benchmark reads."""
    from engine.core.timeutil import DAY_MS
    from engine.store.db import Store

    with Store(db) as store:
        return [
            tuple(r)
            for r in store.conn.execute(
                "SELECT series, max(window_start_ms), grp FROM versions "
                "WHERE window_start_ms >= ? AND window_start_ms < ? "
                "AND series IN ('hourly', 'daily') GROUP BY series, grp",
                (now_ms - 10 * DAY_MS, now_ms),
            )
        ]


def endpoint_urls(db: str, now_ms: int) -> dict[str, Callable[[random.Random], str]]:
    from engine.core.timeutil import DAY_MS, format_ms
    from engine.store.db import Store

    with Store(db) as store:
        windows = [
            tuple(r)
            for r in store.conn.execute(
                "SELECT series, window_start_ms, grp, min(processing_time_ms) FROM versions "
                "WHERE window_start_ms >= ? AND window_start_ms < ? "
                "AND series IN ('hourly', 'daily') GROUP BY series, window_start_ms, grp",
                (now_ms - 10 * DAY_MS, now_ms),
            )
        ]
    kinds = ("latest", "final", "as_of")

    def metrics(rng: random.Random) -> str:
        series, ws, grp, first_ms = rng.choice(windows)
        params = {"window": format_ms(ws), "group": grp, "series": series}
        kind = rng.choice(kinds)
        if kind == "final":
            params["version"] = "final"
        elif kind == "as_of":
            params["version"] = format_ms(rng.randrange(first_ms, max(first_ms, now_ms) + 1))
        return "/metrics/revenue_cents?" + urllib.parse.urlencode(params)

    def windows_day(rng: random.Random) -> str:
        day = now_ms - now_ms % DAY_MS - rng.randrange(0, 10) * DAY_MS
        params = {"from": format_ms(day), "to": format_ms(day + DAY_MS), "grain": "hour"}
        return "/windows?" + urllib.parse.urlencode(params)

    return {
        "/healthz": lambda rng: "/healthz",
        "/metrics (latest|final|as-of)": metrics,
        "/windows (1 day, hourly)": windows_day,
    }


def measure(db: str, now_ms: int, n_req: int, log=print) -> list[dict]:
    """Serve ``db`` and the baseline; return one row per (phase, endpoint)."""
    api_port, base_port = free_port(), free_port()
    env = {**os.environ, "LATEWATCH_API_KEYS": API_KEY}
    api = subprocess.Popen(
        [sys.executable, "-m", "engine", "serve", "--db", db, "--port", str(api_port)]
        + ["--log-level", "warning"],
        cwd=ROOT,
        env=env,
    )
    bare = subprocess.Popen([sys.executable, "-c", BASELINE_APP, str(base_port)], cwd=ROOT)
    rows: list[dict] = []
    try:
        wait_ready(api_port, "/healthz", api)
        wait_ready(base_port, "/const", bare)
        urls = endpoint_urls(db, now_ms)
        # warm-up, as on a server that has been up a while: one request per window
        # shape fits its completeness model (a cold shape's first request waits for
        # its fit, ~0.1-0.5 s), then a few of each kind
        shapes = sorted({(w[0], w[2]): w for w in warm_windows(db, now_ms)}.values())
        for series, ws, grp in shapes:
            readers(api_port, lambda rng, s=series, w=ws, g=grp: metric_url(s, w, g), 1, True, 1)
        for url_fn in urls.values():
            readers(api_port, url_fn, 10)
        readers(base_port, lambda rng: "/const", 10)

        def phase(name: str, writer: Writer | None) -> None:
            c0 = cpu_seconds(bare.pid)
            base, _ = readers(base_port, lambda rng: "/const", n_req)
            base_cpu = per_request(c0, cpu_seconds(bare.pid), len(base))
            for label, url_fn in urls.items():
                c0 = cpu_seconds(api.pid)
                got, bad = readers(api_port, url_fn, n_req)
                cpu = per_request(c0, cpu_seconds(api.pid), len(got))
                rows.append(
                    {"phase": name, "endpoint": label, "samples": got, "baseline": base}
                    | {"non200": len(bad)}
                    # the server's CPU per request: without a writer, what the
                    # endpoint costs however busy the machine is
                    | ({"cpu": cpu, "base_cpu": base_cpu} if writer is None else {})
                )
                log(
                    f"  {name:<12} {label:<32} p50 {statistics.median(got):6.1f}  "
                    f"p99 {pct(got, 0.99):6.1f} ms",
                    flush=True,
                )
            if writer is None:
                new, _ = readers(base_port, lambda rng: "/const", n_req, keep_alive=False)
                rows.append(
                    {"phase": name, "endpoint": "client floor: new connection", "samples": new}
                    | {"baseline": base, "non200": 0}
                )

        phase("idle", None)
        with Writer(api_port, now_ms) as writer:
            phase("with writer", writer)
        posts = writer.posts
        rows.append(
            {
                "phase": "with writer",
                "endpoint": f"writer: POST /events ({WRITER_BATCH:,} events)",
                "samples": [1000 * p for p in posts],
                "baseline": None,
                "non200": len(writer.errors),
                "note": f"{writer.accepted / max(sum(posts), 1e-9):,.0f} events/s accepted, "
                f"{len(posts)} posts",
            }
        )
        if writer.errors:
            log("writer errors:", writer.errors[:3])
    finally:
        for proc in (api, bare):
            proc.terminate()
            proc.wait(timeout=10)
    return rows


def compare_in_process(db: str, now_ms: int, rounds: int, n_req: int) -> None:
    """``serve`` vs ``serve --no-worker-process`` vs the bare endpoint, interleaved."""
    env = {**os.environ, "LATEWATCH_API_KEYS": API_KEY}
    tmp = tempfile.mkdtemp(prefix="lw_bench_api_cmp_")
    servers: dict[str, tuple[int, subprocess.Popen]] = {}
    procs = []
    try:
        for name, extra in (("worker process", []), ("in-process", ["--no-worker-process"])):
            copy = os.path.join(tmp, f"{len(servers)}.db")
            with sqlite3.connect(db) as src, sqlite3.connect(copy) as dst:
                src.backup(dst)
            port = free_port()
            cmd = [sys.executable, "-m", "engine", "serve", "--db", copy, "--port", str(port)]
            proc = subprocess.Popen(cmd + ["--log-level", "warning", *extra], cwd=ROOT, env=env)
            procs.append(proc)
            servers[name] = (port, proc)
        base_port = free_port()
        procs.append(subprocess.Popen([sys.executable, "-c", BASELINE_APP, str(base_port)]))
        wait_ready(base_port, "/const", procs[-1])
        urls = endpoint_urls(db, now_ms)
        shapes = sorted({(w[0], w[2]): w for w in warm_windows(db, now_ms)}.values())
        for port, proc in servers.values():
            wait_ready(port, "/healthz", proc)
            for series, ws, grp in shapes:
                url = metric_url(series, ws, grp)
                readers(port, lambda rng, u=url: u, 1, True, 1)
            for url_fn in urls.values():
                readers(port, url_fn, 5)
        fns = list(urls.values())

        def mixed(rng: random.Random) -> str:
            return rng.choice(fns)(rng)

        out: dict[tuple[str, str], list[float]] = {}
        posts: dict[str, list[float]] = {name: [] for name in servers}
        accepted = dict.fromkeys(servers, 0)
        loads = []
        order = [*servers, "bare"]
        for r in range(rounds):
            loads.append(os.getloadavg()[0])
            random.Random(r).shuffle(order)
            for phase in ("idle", "with writer"):
                for name in order:
                    port = base_port if name == "bare" else servers[name][0]
                    fn = (lambda rng: "/const") if name == "bare" else mixed
                    writer = None
                    if phase == "with writer" and name != "bare":
                        writer = Writer(port, now_ms).__enter__()
                    got, bad = readers(port, fn, n_req)
                    if writer is not None:
                        writer.__exit__()
                        posts[name] += writer.posts
                        accepted[name] += writer.accepted
                    if bad:
                        print(f"{name}: {len(bad)} non-200 answers, e.g. {bad[:3]}")
                    out.setdefault((phase, name), []).extend(got)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"\n{rounds} rounds x {READERS} readers x {n_req} requests per burst (mixed /healthz, "
        f"/metrics, /windows); load average (1 min) {min(loads):.1f}-{max(loads):.1f}"
    )
    for (phase, name), got in out.items():
        note = ""
        if phase == "with writer" and name in posts and posts[name]:
            rate = accepted[name] / max(sum(posts[name]), 1e-9)
            note = f"   writer {rate:,.0f} events/s accepted"
        elif phase == "with writer":
            note = "   (no writer of its own: the floor, in the same minutes)"
        print(
            f"  {phase:<12} {name:<15} p50 {statistics.median(got):6.1f}  p90 {pct(got, 0.9):6.1f}"
            f"  p99 {pct(got, 0.99):6.1f} ms{note}"
        )


def table(rows: list[dict]) -> str:
    head = (
        f"{'phase':<12} {'endpoint':<34} {'p50 ms':>7} {'p99 ms':>7} | "
        f"{'base p50':>8} {'base p99':>8} | {'x p50':>6} {'x p99':>6}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        s = r["samples"]
        p50, p99 = statistics.median(s), pct(s, 0.99)
        if r["baseline"]:
            b50, b99 = statistics.median(r["baseline"]), pct(r["baseline"], 0.99)
            tail = f"{b50:8.1f} {b99:8.1f} | {p50 / b50:5.1f}x {p99 / b99:5.1f}x"
        else:
            tail = r.get("note", "")
        if r.get("cpu") is not None and r.get("base_cpu"):
            tail += f" | server CPU {r['cpu']:.2f} ms/req (bare {r['base_cpu']:.2f})"
        bad = f"  ({r['non200']} non-200)" if r["non200"] else ""
        lines.append(f"{r['phase']:<12} {r['endpoint']:<34} {p50:7.1f} {p99:7.1f} | {tail}{bad}")
    return "\n".join(lines)


def verdict(rows: list[dict]) -> str:
    reads = [r for r in rows if r["endpoint"].startswith("/")]
    idle = max(pct(r["samples"], 0.99) for r in reads if r["phase"] == "idle")
    busy = max(pct(r["samples"], 0.99) for r in reads if r["phase"] == "with writer")
    return (
        f"worst read p99: idle {idle:.1f} ms (target <= 20: {'met' if idle <= 20 else 'NOT met'})"
        f"; with writer {busy:.1f} ms (target <= 50: {'met' if busy <= 50 else 'NOT met'})"
    )


def main() -> None:
    import pages as pages_bench

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=None, help="store to reuse or build (default: a temp file)")
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--events-per-day", type=float, default=2_000)
    ap.add_argument("--requests", type=int, default=150, help="per reader thread")
    ap.add_argument("--slowest", type=int, default=0, help="print the N slowest requests")
    ap.add_argument(
        "--compare-in-process",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="interleave serve, serve --no-worker-process and the bare endpoint",
    )
    args = ap.parse_args()
    global SLOWEST
    SLOWEST = [] if args.slowest else None
    tmp = tempfile.mkdtemp(prefix="lw_bench_api_")
    try:
        built = args.db or os.path.join(tmp, "built.db")
        if not os.path.exists(built):
            pages_bench.build(Path(built), args.days, args.events_per_day)
        # the writer adds events: measure on a copy, so every run starts from the same store
        db = os.path.join(tmp, "api.db")
        with sqlite3.connect(built) as src, sqlite3.connect(db) as dst:
            src.backup(dst)
        if args.compare_in_process:
            compare_in_process(db, pages_bench.NOW_MS, args.compare_in_process, args.requests)
            return
        load0 = os.getloadavg()
        rows = measure(db, pages_bench.NOW_MS, args.requests)
        load1 = os.getloadavg()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(
        f"{READERS} readers x {args.requests} requests, keep-alive connection per reader; "
        f"baseline: bare FastAPI/uvicorn def endpoint returning a constant"
    )
    print(table(rows))
    print(verdict(rows))
    if SLOWEST:
        t0 = min(t for _, t, _ in SLOWEST)
        for ms, t, url in sorted(SLOWEST, reverse=True)[: args.slowest]:
            at = time.strftime("%H:%M:%S", time.localtime(t))
            print(f"  {ms:7.1f} ms at +{t - t0:6.2f} s ({at})  {url[:100]}")
    print(
        f"load average (1 min) {load0[0]:.2f} before, {load1[0]:.2f} after; {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
