"""`python -m engine finalize --date 2026-11-20 --tier preliminary|final`: one batch job.

Recomputes every window of the business day from the raw log and writes the tier's
versions and the job record in one transaction; a second run does nothing.
"""

from __future__ import annotations

import json
from datetime import date

from engine.commands.ingest import add_common, clock_from_args, db_path
from engine.core.spec import PipelineSpec, WindowSpec
from engine.runtime.finalize import FinalizePolicy, finalize_day
from engine.store.db import Store


def add_series_options(p) -> None:
    p.add_argument("--series", default="hourly", help="metric set / pipeline name (default hourly)")
    p.add_argument(
        "--tz", default=None, help="business time zone (default: stored 'business_tz' or UTC)"
    )
    p.add_argument(
        "--window",
        default=None,
        help="window spec to use when none is stored for the series, e.g. tumbling:1h",
    )


def resolve(store: Store, args) -> tuple[PipelineSpec, FinalizePolicy]:
    spec = store.config(args.series)
    if spec is None:
        if not args.window:
            raise ValueError(f"no pipeline spec stored for series {args.series!r}; pass --window")
        spec = PipelineSpec(window=WindowSpec.parse(args.window))
    tz = args.tz or store.get_kv("business_tz") or "UTC"
    return spec, FinalizePolicy(tz=tz)


def add_parser(sub) -> None:
    p = sub.add_parser("finalize", help="write the preliminary (T+1) or final (T+7) tier of a day")
    p.add_argument("--date", required=True, help="business day, YYYY-MM-DD")
    p.add_argument("--tier", required=True, choices=["preliminary", "final"])
    add_series_options(p)
    add_common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    with Store(db_path(args)) as store:
        spec, policy = resolve(store, args)
        result = finalize_day(
            store,
            args.series,
            date.fromisoformat(args.date),
            args.tier,
            clock_from_args(args)(),
            policy,
            spec,
        )
    print(f"job {result.job_id}: {result.status} {json.dumps(result.counts, sort_keys=True)}")
    return 0
