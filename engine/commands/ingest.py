"""`python -m engine ingest FILE.csv|.jsonl|.parquet`: append a file to the raw event log.

The command line is the edge of the system, so this is where the wall clock is
read (``--now`` overrides it for reproducible runs). Every row is accounted for:
the closing line prints accepted + duplicates + quarantined = rows read.
"""

from __future__ import annotations

import os
import sys
import time

from engine.core.events import ParseOptions
from engine.core.timeutil import parse_duration_ms, parse_timestamp_ms
from engine.ingest.ingestor import IngestOptions, Ingestor
from engine.ingest.readers import ProgressBar, UnreadableFile
from engine.store.db import DEFAULT_DB_PATH, Store

PROGRESS_MIN_BYTES = 5_000_000


def db_path(args) -> str:
    return args.db or os.environ.get("LATEWATCH_DB", DEFAULT_DB_PATH)


def clock_from_args(args):
    """A fixed clock when ``--now`` is given, else the wall clock (the CLI is the edge)."""
    if getattr(args, "now", None):
        fixed = parse_timestamp_ms(args.now)
        return lambda: fixed
    return lambda: time.time_ns() // 1_000_000


def add_common(p) -> None:
    p.add_argument(
        "--db", default=None, help=f"SQLite file (default $LATEWATCH_DB or {DEFAULT_DB_PATH})"
    )
    p.add_argument(
        "--now", default=None, help="processing time to use instead of the wall clock (ISO-8601)"
    )


def add_parser(sub) -> None:
    p = sub.add_parser(
        "ingest", help="validate, de-duplicate and append a file to the raw event log"
    )
    p.add_argument("file", help="a .csv, .jsonl or .parquet file")
    p.add_argument(
        "--source", default=None, help="source for rows without one (and the ingest's label)"
    )
    p.add_argument(
        "--assume-tz",
        default=None,
        help="IANA zone for timestamps without an offset (else quarantined)",
    )
    p.add_argument(
        "--max-future", default="24h", help="clock-skew tolerance for event times (default 24h)"
    )
    p.add_argument("--batch-size", type=int, default=5000)
    p.add_argument("--progress", choices=["auto", "on", "off"], default="auto")
    add_common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    parse = ParseOptions(
        assume_tz=args.assume_tz,
        default_source=args.source,
        max_future_ms=parse_duration_ms(args.max_future),
    )
    options = IngestOptions(
        parse=parse,
        batch_size=args.batch_size,
        keep_events=False,
        source_name=args.source,
        file=os.path.basename(args.file),
    )
    size = os.path.getsize(args.file)
    show = args.progress == "on" or (args.progress == "auto" and size >= PROGRESS_MIN_BYTES)
    with Store(db_path(args)) as store:
        ingestor = Ingestor(store, options, clock=clock_from_args(args))
        try:
            report = ingestor.ingest_file(args.file, ProgressBar("ingest") if show else None)
        except UnreadableFile as exc:  # the file, not a row: one line, the record says 'failed'
            print(f"error: {exc} (the ingest is recorded as failed)", file=sys.stderr)
            return 1
    print(report.summary())
    if report.quarantined:
        print(
            f"quarantined rows: see the quarantine table (ingest_id {report.ingest_id})",
            file=sys.stderr,
        )
    return 0
