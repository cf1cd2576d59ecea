"""Simulator throughput: 1 M events (frame, records for the CLI) and the
flash-sale completeness backtest. Run: python benchmarks/simulate.py [events]."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.analysis.completeness import backtest  # noqa: E402
from engine.sim.simulator import Simulator  # noqa: E402


def timed(label: str, fn):
    t0 = time.perf_counter()
    out = fn()
    print(f"{label:<48} {time.perf_counter() - t0:7.2f} s")
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    sim = Simulator("steady", seed=1, days=7, events=n)
    frame = timed(f"simulate {n:,} events (steady, 6 sources, 7 d)", sim.frame)
    timed("  to ISO record frame (what the CLI writes)", sim.record_frame)
    timed(
        f"  {min(n, 100_000):,} Event objects",
        lambda: list(zip(range(100_000), sim.events(), strict=False)),
    )
    retries = Simulator("retries", seed=1, days=7, events=n)
    timed(f"simulate {n:,} events (retries: + duplicates)", retries.frame)
    flash = Simulator("flash-sale", seed=3, days=42)
    f = timed("simulate flash-sale, 42 d", flash.frame)
    table = timed(f"backtest flash-sale ({len(f):,} events)", lambda: backtest(f))
    print(f"\nrows {len(frame):,}; flash-sale backtest (abs % error vs final):")
    print(table.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
