"""`python -m engine load-versions FILE|DIR`: versions computed elsewhere (e.g. by
``engine.beam``'s ``WriteVersionFiles`` on a cluster) into the store. Idempotent."""

from __future__ import annotations

import sys

from engine.commands.ingest import db_path
from engine.store.db import Store
from engine.store.version_files import load_versions, read_records, split_records


def add_parser(sub) -> None:
    p = sub.add_parser(
        "load-versions",
        help="load version files (.jsonl / .parquet, or a folder of them) into the store",
    )
    p.add_argument("path", help="a .jsonl or .parquet file, or a folder of them")
    p.add_argument("--db", default=None, help="store (default: $LATEWATCH_DB or data/latewatch.db)")
    p.add_argument("--series", default="beam", help="series to load into (default: beam)")
    p.set_defaults(run=run)


def run(args) -> int:
    versions, late, _ = split_records(read_records(args.path))
    with Store(db_path(args)) as store:
        appended, skipped, recorded = load_versions(store, args.series, versions, late)
    print(
        f"{appended} versions loaded into series {args.series!r}, {skipped} already there, "
        f"{recorded} late events",
        file=sys.stderr,
    )
    return 0
