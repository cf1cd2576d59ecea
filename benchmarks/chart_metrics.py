"""Cost of the non-additive chart metrics (average / median order value, distinct users)
read per version over the events it counted (``engine.store.counted``), on a store
built by the real runtime at the default traffic (20,000 events a day, 8 days):
Today's hours and 14 days, one window's version history, and Reconciliation's stages
over 14 days (daily and hourly). Median of ``--runs`` cold calls (no caches involved).

    python benchmarks/chart_metrics.py [--db /tmp/lw_bench_metrics.db]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from engine.core.timeutil import DAY_MS, business_day_bounds, business_day_of  # noqa: E402
from engine.runtime.finalize import FinalizePolicy  # noqa: E402
from engine.store.db import Store  # noqa: E402
from engine.views import dashboard, more_metrics  # noqa: E402
from engine.views import reconciliation as recon  # noqa: E402
from pages import NOW_MS, build  # noqa: E402

TZ = "America/New_York"


def timed(fn, runs: int) -> float:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default="/tmp/lw_bench_metrics.db")
    ap.add_argument("--days", type=int, default=8)
    ap.add_argument("--events-per-day", type=float, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    db = Path(args.db)
    if not db.exists():
        build(db, args.days, args.events_per_day)
    store = Store.open(db)
    policy = FinalizePolicy(tz=TZ)
    now = store.get_kv("runtime")["proc_ms"] or NOW_MS
    yesterday = business_day_of(now, TZ) - timedelta(days=1)
    hours = dashboard.day_hours(store, yesterday, policy)
    days = dashboard.recent_days(store, now, policy, 14)
    y_start = business_day_bounds(yesterday, TZ)[0]
    history = store.history_frame("daily", y_start, "*")
    cases = {
        "Today: a day's hours, average order value": lambda: more_metrics.window_metrics(
            store, "hourly", "*", hours, ["avg_order_value_cents"], version_col="versions"
        ),
        "Today: 14 days, distinct users": lambda: more_metrics.window_metrics(
            store, "daily", "*", days, ["distinct_users"], version_col="versions"
        ),
        f"Versions: every version of a day ({len(history)}), median": lambda: (
            more_metrics.window_metrics(store, "daily", "*", history, ["median_order_value_cents"])
        ),
        "Reconciliation: 14 days, daily, average": lambda: recon.reconciliation(
            store, "daily", now - 14 * DAY_MS, now, "avg_order_value_cents"
        ),
        "Reconciliation: 14 days, hourly, average": lambda: recon.reconciliation(
            store, "hourly", now - 14 * DAY_MS, now, "avg_order_value_cents"
        ),
        "Reconciliation: 14 days, daily, revenue (for scale)": lambda: recon.reconciliation(
            store, "daily", now - 14 * DAY_MS, now, "revenue_cents"
        ),
    }
    for name, fn in cases.items():
        print(f"{timed(fn, args.runs):8.0f} ms  {name}", flush=True)


if __name__ == "__main__":
    main()
