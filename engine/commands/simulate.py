"""`python -m engine simulate --scenario flash-sale --days 14 --seed 7 --out data/sim.jsonl`.

Writes a scenario's events (every record carries event_id, source, key,
event_type, amount, items, event_time and arrival_time, ISO-8601 UTC) in
arrival order, and prints what was written so the run can be checked at a
glance. ``--events`` fixes the total (before retry duplicates).
"""

from __future__ import annotations

import numpy as np

from engine.core.timeutil import format_duration_ms, format_ms, parse_timestamp_ms
from engine.sim.profiles import SCENARIOS
from engine.sim.simulator import DEFAULT_START_MS, Simulator, write_records


def add_parser(sub) -> None:
    p = sub.add_parser("simulate", help="generate realistic late-arriving events to a file")
    p.add_argument("--scenario", default="steady", choices=sorted(SCENARIOS))
    p.add_argument("--days", type=int, default=7)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sources", default=None, help="comma-separated, e.g. web,api,mobile")
    p.add_argument("--events", type=int, default=None, help="total events (default: by scenario)")
    p.add_argument(
        "--start", default=None, help=f"ISO-8601 start (default {format_ms(DEFAULT_START_MS)})"
    )
    p.add_argument("--out", required=True, help="output file: .jsonl, .csv or .parquet")
    p.set_defaults(run=run)


def run(args) -> int:
    sources = (
        tuple(s.strip() for s in args.sources.split(",") if s.strip()) if args.sources else None
    )
    start = parse_timestamp_ms(args.start) if args.start else DEFAULT_START_MS
    sim = Simulator(args.scenario, args.seed, sources, start, args.days, events=args.events)
    frame = sim.frame()
    n = write_records(frame, args.out)
    delay = frame["arrival_time_ms"].to_numpy() - frame["event_time_ms"].to_numpy()
    p50, p99 = np.quantile(delay, [0.5, 0.99]) if n else (0, 0)
    dupes = int(frame["event_id"].duplicated().sum())
    print(
        f"wrote {n:,} events ({dupes:,} duplicate deliveries) to {args.out}: "
        f"scenario {args.scenario}, seed {args.seed}, {args.days} d from {format_ms(start)}, "
        f"value ${frame['amount_cents'].sum() / 100:,.2f}, "
        f"delay p50 {format_duration_ms(p50)} p99 {format_duration_ms(p99)}"
    )
    return 0
