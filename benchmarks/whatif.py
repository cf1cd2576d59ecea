"""What-if replay of one configuration on 10 M events, against a plain numpy sort.

    python benchmarks/whatif.py [--events 10000000] [--repeat 3]

Target (issue 6): <= 0.5 s. The events are synthetic numpy arrays (a week of
arrivals, four sources with exponential delays from seconds to hours); the ratio is
to ``np.argsort`` of the same event-time array, timed in the same run, so the
figure survives a slower machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.analysis.whatif import EventArrays, evaluate
from engine.core.spec import PipelineSpec, SourcePolicy, WatermarkSpec, WindowSpec

SOURCES = ("web", "mobile", "partner", "manual")
SHARE = (0.6, 0.25, 0.1, 0.05)
DELAY_MS = (2_000, 60_000, 1_800_000, 6 * 3_600_000)  # mean arrival delay per source


def synthetic(n: int, seed: int = 7) -> EventArrays:
    rng = np.random.default_rng(seed)
    start = 1_767_225_600_000  # 2026-01-01T00:00Z
    arrival = start + np.sort(rng.integers(0, 7 * 86_400_000, n))
    src = rng.choice(len(SOURCES), n, p=SHARE)
    delay = rng.exponential(1.0, n) * np.asarray(DELAY_MS, dtype=np.float64)[src]
    return EventArrays(
        event_time_ms=arrival - delay.astype(np.int64),
        arrival_time_ms=arrival,
        amount_cents=rng.integers(-2_000, 20_000, n),
        items=rng.integers(0, 5, n),
        is_order=rng.random(n) < 0.7,
        source_codes=src.astype(np.int64),
        source_names=SOURCES,
    )


SPEC = PipelineSpec(
    window=WindowSpec(kind="tumbling", size_ms=3_600_000),
    watermark=WatermarkSpec(kind="bounded", delay_ms=300_000),
    allowed_lateness_ms=3_600_000,
    late_action="update",
    sources=(
        SourcePolicy("partner", allowed_lateness_ms=6 * 3_600_000),
        SourcePolicy("manual", late_action="side_output"),
    ),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    arrays = synthetic(args.events)
    evaluate(arrays, SPEC)  # warm-up: first touch of numpy's allocator pages

    runs, sorts = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        result = evaluate(arrays, SPEC)
        runs.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        np.argsort(arrays.event_time_ms)
        sorts.append(time.perf_counter() - t0)
    best, sort_best = min(runs), min(sorts)
    s = result.summary()
    print(f"events            {args.events:,}")
    print(f"config            {SPEC.window.describe()}, {SPEC.watermark.describe()}, late 1h")
    print(f"method            {result.method}")
    print(
        f"evaluate          {best:.3f} s best of {args.repeat} (runs {', '.join(f'{r:.3f}' for r in runs)})"
    )
    print(f"np.argsort        {sort_best:.3f} s best of {args.repeat}")
    print(f"ratio             {best / sort_best:.2f}x a plain argsort")
    print(f"target <= 0.5 s   {'met' if best <= 0.5 else 'MISSED'}")
    print(f"outcomes          {s['outcomes']}")
    print(f"captured          {s['captured_count_share']:.4f} by count")
    print(f"windows           {s['windows']}, peak open {s['peak_open_windows']}")
    print(f"on-time error     mean {s['error_mean_pct']:.3f}%, worst {s['error_worst_pct']:.3f}%")


if __name__ == "__main__":
    main()
