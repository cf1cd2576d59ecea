"""Throughput of the in-memory WindowOperator on 1 M simulated events.

    python benchmarks/engine_throughput.py [--events 1000000]

Tumbling 1 h windows, bounded 5 min watermark, allowed lateness 1 h with the
``update`` action, metrics revenue/orders/items, versions emitted (drained at the
end). Event objects are built before timing. The operator is timed event by event
(``process``) and through its batch entry point (``process_all``, what the runtime
uses), each with and without ``collect_lateness``; the ratio is to a bare Python
loop doing the same windowed sums over the same events in the same run (the floor
for any per-event Python implementation). Each figure is the best of ``--repeat``
runs, taken in turns (the machine is shared: the ratio is the figure to compare). Peak memory is measured in a separate traced pass
(tracemalloc slows the code it traces), plus the process's max RSS.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.core.events import ORDER_TYPE, Event
from engine.core.operator import WindowOperator
from engine.core.spec import PipelineSpec, WatermarkSpec, WindowSpec

SOURCES = ("web", "mobile", "partner", "manual")
SHARE = (0.6, 0.25, 0.1, 0.05)
DELAY_MS = (2_000, 60_000, 1_800_000, 6 * 3_600_000)

SPEC = PipelineSpec(
    window=WindowSpec(kind="tumbling", size_ms=3_600_000),
    watermark=WatermarkSpec(kind="bounded", delay_ms=300_000),
    allowed_lateness_ms=3_600_000,
    late_action="update",
    metrics=("revenue", "orders", "items"),
)


def simulated(n: int, seed: int = 11) -> list[Event]:
    rng = np.random.default_rng(seed)
    start = 1_767_225_600_000
    arrival = start + np.sort(rng.integers(0, 7 * 86_400_000, n))
    src = rng.choice(len(SOURCES), n, p=SHARE)
    delay = (rng.exponential(1.0, n) * np.asarray(DELAY_MS, np.float64)[src]).astype(np.int64)
    amount = rng.integers(-2_000, 20_000, n)
    items = rng.integers(0, 5, n)
    order = rng.random(n) < 0.7
    return [
        Event(
            event_id=f"e{i}",
            source=SOURCES[s],
            event_time_ms=t,
            arrival_time_ms=a,
            amount_cents=c,
            items=k,
            event_type=ORDER_TYPE if o else "page.view",
        )
        for i, (s, t, a, c, k, o) in enumerate(
            zip(
                src.tolist(),
                (arrival - delay).tolist(),
                arrival.tolist(),
                amount.tolist(),
                items.tolist(),
                order.tolist(),
                strict=True,
            )
        )
    ]


def run_operator(
    events: list[Event], collect_lateness: bool, batch: bool = False
) -> tuple[float, int]:
    op = WindowOperator(SPEC, collect_lateness=collect_lateness)
    t0 = time.perf_counter()
    if batch:
        op.process_all(events)
    else:
        process = op.process
        for e in events:
            process(e)
    op.finish()
    versions, _ = op.drain()
    return time.perf_counter() - t0, len(versions)


def run_bare(events: list[Event]) -> tuple[float, int]:
    """The same windowed sums with nothing else: no watermark, no lateness, no versions."""
    size = SPEC.window.size_ms
    sums: dict[int, list[int]] = {}
    t0 = time.perf_counter()
    for e in events:
        t = e.event_time_ms
        start = t - t % size
        acc = sums.get(start)
        if acc is None:
            acc = sums[start] = [0, 0, 0]
        acc[0] += e.amount_cents
        acc[1] += e.event_type == ORDER_TYPE
        acc[2] += e.items
    return time.perf_counter() - t0, len(sums)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    events = simulated(args.events)
    n = len(events)
    gc.collect()
    gc.freeze()  # the prebuilt events are not garbage: keep the collector off them

    runs = {
        "bare": lambda: run_bare(events),
        "full": lambda: run_operator(events, collect_lateness=True),
        "lean": lambda: run_operator(events, collect_lateness=False),
        "batch full": lambda: run_operator(events, collect_lateness=True, batch=True),
        "batch lean": lambda: run_operator(events, collect_lateness=False, batch=True),
    }
    best: dict[str, float] = {}
    for _ in range(args.repeat):
        for name, fn in runs.items():
            seconds, count = fn()
            best[name] = min(best.get(name, float("inf")), seconds)
            if name == "bare":
                windows = count
            elif name == "full":
                versions = count

    tracemalloc.start()
    run_operator(events, collect_lateness=True)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    bare_s = best["bare"]
    print(f"events                    {n:,} ({windows} windows, {versions:,} versions)")
    print(f"bare Python windowed sum  {bare_s:.3f} s   {n / bare_s:,.0f} events/s")
    for name, label in (
        ("full", "operator"),
        ("lean", "operator, no lateness log"),
        ("batch full", "process_all"),
        ("batch lean", "process_all, no lateness log"),
    ):
        s = best[name]
        print(f"{label:29s} {s:.3f} s   {n / s:,.0f} events/s   {s / bare_s:.1f}x bare")
    print(
        f"peak memory (operator)    {traced_peak / 2**20:.1f} MiB traced, process max RSS {max_rss_mb:.0f} MiB"
    )


if __name__ == "__main__":
    main()
