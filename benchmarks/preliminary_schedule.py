"""How complete is a business day's revenue when the preliminary tier runs?

Simulates the default scenario (``steady``, 20 000 events/day, the default seed
and the runtime's business time zone) for 28 days and, for each candidate
preliminary schedule, the share of each day's final revenue (every event of the
day that ever arrives) that had arrived when the job would run. The README's
choice of the default ``[tiers] preliminary`` comes from this table.

    .venv/bin/python benchmarks/preliminary_schedule.py [--scenario steady] [--days 28]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.core.timeutil import HOUR_MS  # noqa: E402
from engine.runtime.finalize import FinalizePolicy, business_day_bounds  # noqa: E402
from engine.runtime.settings import DEFAULT_TZ  # noqa: E402
from engine.sim.simulator import Simulator  # noqa: E402

CANDIDATES = ("D+1", "D+1 02:00", "D+1 06:00", "D+1 09:00", "D+1 12:00", "+24h", "+36h", "D+2")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", default="steady")
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--events-per-day", type=float, default=20_000)
    args = ap.parse_args()
    start_day = business_day_bounds.__globals__["date"](2026, 10, 1)
    start_ms = business_day_bounds(start_day, DEFAULT_TZ)[0]
    sim = Simulator(
        args.scenario,
        seed=args.seed,
        start_ms=start_ms,
        days=args.days,
        events_per_day=args.events_per_day,
    )
    f = sim.frame()
    et = f["event_time_ms"].to_numpy()
    at = f["arrival_time_ms"].to_numpy()
    amt = f["amount_cents"].to_numpy() if "amount_cents" in f else (f["amount"] * 100).to_numpy()
    print(f"scenario {args.scenario}, {args.days} days, {len(f):,} events, tz {DEFAULT_TZ}")
    print(f"{'schedule':<12} {'median':>8} {'p10':>8} {'min':>8}   (revenue arrived / final)")
    from datetime import timedelta

    days = [start_day + timedelta(days=d) for d in range(1, args.days - 8)]  # full, settled days
    for sched in CANDIDATES:
        policy = FinalizePolicy(tz=DEFAULT_TZ, preliminary_at=sched)
        shares = []
        for day in days:
            lo, hi = business_day_bounds(day, DEFAULT_TZ)
            in_day = (et >= lo) & (et < hi)
            final = amt[in_day].sum()
            due = policy.due_ms(day, "preliminary")
            shares.append(amt[in_day & (at <= due)].sum() / final)
        s = np.array(shares) * 100
        print(f"{sched:<12} {np.median(s):7.2f}% {np.percentile(s, 10):7.2f}% {s.min():7.2f}%")
    _ = HOUR_MS
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
