"""Lateness analysis over 10 M rows: profile (one pass), then summary, capture
table, recommendations and drift. Run: python benchmarks/lateness.py [rows]."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from engine.analysis import lateness  # noqa: E402
from engine.sim.simulator import Simulator  # noqa: E402


def timed(label: str, fn, repeat: int = 3):
    """Best of ``repeat`` runs (the first one also pays for cold caches)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    print(f"{label:<52} {best:7.3f} s (best of {repeat})")
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    base = Simulator("steady", seed=1, days=7, events=1_000_000).frame()
    reps = -(-n // len(base))
    idx = np.tile(np.arange(len(base)), reps)[:n]
    shift = np.repeat(np.arange(reps, dtype=np.int64) * 7 * 86_400_000, len(base))[:n]
    frame = pd.DataFrame(
        {
            "source": pd.Categorical.from_codes(  # categorical, as the simulator gives
                base["source"].cat.codes.to_numpy()[idx], base["source"].cat.categories
            ),
            "amount_cents": base["amount_cents"].to_numpy()[idx],
            "event_time_ms": base["event_time_ms"].to_numpy()[idx] + shift,
            "arrival_time_ms": base["arrival_time_ms"].to_numpy()[idx] + shift,
        }
    )
    print(f"{len(frame):,} rows")
    prof = timed("profile (categorical source)", lambda: lateness.lateness_profile(frame))
    strings = frame.assign(source=frame["source"].astype(str))
    timed("profile (string source, as from SQLite)", lambda: lateness.lateness_profile(strings))

    def report():
        lateness.summary(prof, "value")
        lateness.capture_table(prof, by="value")
        return lateness.recommend(prof, 0.99, "value")

    rec = timed("summary + capture table + recommendations", report)
    now = int(frame["arrival_time_ms"].max())
    timed("drift (last 1 d vs 14 d)", lambda: lateness.drift(frame, now))
    print(
        rec[["source", "allowed_lateness", "capture_value", "windows_open"]].to_string(index=False)
    )


if __name__ == "__main__":
    main()
