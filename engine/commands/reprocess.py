"""`python -m engine reprocess --from … --to … --reason "…"`: recompute windows from the raw log.

Windows that are final do not change; the differences are booked as adjustments.
"""

from __future__ import annotations

import json

from engine.commands.finalize import add_series_options, resolve
from engine.commands.ingest import add_common, clock_from_args, db_path
from engine.core.timeutil import parse_timestamp_ms
from engine.runtime.finalize import reprocess
from engine.store.db import Store


def add_parser(sub) -> None:
    p = sub.add_parser("reprocess", help="recompute the windows starting in a time range")
    p.add_argument("--from", dest="from_", required=True, help="range start (ISO-8601 with offset)")
    p.add_argument("--to", required=True, help="range end, exclusive")
    p.add_argument("--reason", required=True, help="why (kept with the job)")
    add_series_options(p)
    add_common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    with Store(db_path(args)) as store:
        spec, policy = resolve(store, args)
        result = reprocess(
            store,
            args.series,
            parse_timestamp_ms(args.from_),
            parse_timestamp_ms(args.to),
            args.reason,
            clock_from_args(args)(),
            policy,
            spec,
        )
    print(f"job {result.job_id}: {result.status} {json.dumps(result.counts, sort_keys=True)}")
    return 0
