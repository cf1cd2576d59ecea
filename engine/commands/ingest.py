"""`python -m engine ingest FILE.csv|.jsonl|.parquet | - [--follow] | --watch DIR`:
append a file, JSON lines from stdin, or files dropped into a folder to the raw event log.

The command line is the edge of the system, so this is where the wall clock is
read (``--now`` overrides it for reproducible runs). Every row is accounted for:
the closing line prints accepted + duplicates + quarantined = rows read.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from dataclasses import replace

from engine.core.events import ParseOptions
from engine.core.timeutil import parse_duration_ms, parse_timestamp_ms
from engine.ingest.ingestor import IngestOptions, Ingestor
from engine.ingest.readers import ProgressBar, UnreadableFile, open_text, read_file
from engine.ingest.vocabulary import Vocabulary
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
        "ingest",
        help="validate, de-duplicate and append a file, stdin (-) or a watched folder "
        "to the raw event log",
        description="FILE: a .csv, .jsonl or .parquet file. '-': JSON lines from stdin until "
        "EOF (with --follow: each line committed within half a second, for pipes such as "
        "`tail -F app.log | python -m engine ingest - --follow`). --watch DIR: every new "
        ".csv/.jsonl/.parquet file dropped into DIR, read once; write it under a dotfile or "
        ".tmp name and rename it when complete.",
    )
    p.add_argument("file", nargs="?", help="a .csv, .jsonl or .parquet file, or - for stdin")
    p.add_argument(
        "--follow",
        action="store_true",
        help="with -: keep reading and commit lines as they arrive (until the pipe closes)",
    )
    p.add_argument("--watch", metavar="DIR", default=None, help="ingest new files dropped here")
    p.add_argument(
        "--interval", type=float, default=1.0, help="--watch: seconds between folder scans"
    )
    p.add_argument(
        "--once", action="store_true", help="--watch: read the files there now, then exit"
    )
    p.add_argument(
        "--config",
        default=None,
        help="latewatch.toml whose [orders] names your fields and event types "
        "(default $LATEWATCH_CONFIG)",
    )
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


def _options(args, file: str | None) -> IngestOptions:
    parse = ParseOptions(
        assume_tz=args.assume_tz,
        default_source=args.source,
        max_future_ms=parse_duration_ms(args.max_future),
    )
    return IngestOptions(
        parse=parse,
        batch_size=args.batch_size,
        keep_events=False,
        source_name=args.source,
        file=file,
    )


def vocabulary_from_args(args) -> Vocabulary:
    """``[orders]`` of ``--config`` / ``$LATEWATCH_CONFIG`` (today's words without one)."""
    from engine.runtime.config import config_path, load_config

    path = config_path(getattr(args, "config", None))
    return Vocabulary.from_config(load_config(path).orders if path else None)


def _stop_on_sigterm() -> threading.Event:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


def run(args) -> int:
    if args.watch is not None:
        if args.file is not None:
            raise ValueError("give either a FILE (or -) or --watch DIR, not both")
        return run_watch(args)
    if args.file is None:
        raise ValueError("nothing to ingest: give a FILE, - for stdin, or --watch DIR")
    if args.file == "-":
        return run_stdin(args)
    if args.follow:
        raise ValueError("--follow reads stdin: use `ingest - --follow` (e.g. < FILE)")
    return run_file(args)


def run_stdin(args) -> int:
    from engine.ingest.stream import ingest_stream

    options = replace(_options(args, "stdin"), source_name=args.source or "stdin")
    stop = _stop_on_sigterm()

    def show(report) -> None:
        if args.follow:
            print(report.summary(), file=sys.stderr, flush=True)

    with Store(db_path(args)) as store:
        try:
            totals = ingest_stream(
                store,
                open_text(sys.stdin.buffer) if hasattr(sys.stdin, "buffer") else sys.stdin,
                options,
                clock_from_args(args),
                follow=args.follow,
                on_report=show,
                stop=stop,
                vocabulary=vocabulary_from_args(args),
            )
        except KeyboardInterrupt:
            return 0
    print(totals.summary())
    return 0


def run_watch(args) -> int:
    from engine.ingest.stream import FolderWatcher

    stop = _stop_on_sigterm()
    if not os.path.exists(args.watch):
        os.makedirs(args.watch)  # a new inbox: created, then watched
        print(f"created {args.watch}", file=sys.stderr)
    with Store(db_path(args)) as store:
        watcher = FolderWatcher(
            store,
            args.watch,
            _options(args, None),
            clock_from_args(args),
            vocabulary=vocabulary_from_args(args),
        )
        print(f"watching {watcher.key} for .csv/.jsonl/.parquet files", file=sys.stderr)
        try:
            while True:
                for done in watcher.poll():
                    if done.report is not None:
                        print(f"{done.name}: {done.report.summary()}", flush=True)
                    else:
                        print(f"{done.name}: failed ({done.detail})", flush=True)
                if args.once and not watcher.pending():
                    break
                if stop.wait(args.interval):
                    break
        except KeyboardInterrupt:
            pass
    return 0


def run_file(args) -> int:
    options = _options(args, os.path.basename(args.file))
    size = os.path.getsize(args.file)
    show = args.progress == "on" or (args.progress == "auto" and size >= PROGRESS_MIN_BYTES)
    vocab = vocabulary_from_args(args)
    with Store(db_path(args)) as store:
        ingestor = Ingestor(store, options, clock=clock_from_args(args))
        try:
            bar = ProgressBar("ingest") if show else None
            report = ingestor.ingest_records(vocab.map_records(read_file(args.file, bar)))
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
