"""`python -m engine beam EVENTS.jsonl|.csv`: the same file and flags as ``replay``, run
on Apache Beam (a TestStream through ``LatewatchWindows``). Needs the optional extra
(requirements-beam.txt); everything after ``--`` goes to Beam as pipeline options."""

from __future__ import annotations

import json
import sys

from engine.commands.replay import add_spec_arguments, spec_from_args, summary

INSTALL_HINT = (
    "the beam command needs the optional Apache Beam extra, in its own virtualenv: "
    "python3 -m venv .venv-beam && .venv-beam/bin/pip install -r requirements-beam.txt, "
    "then run .venv-beam/bin/python -m engine beam ..."
)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "beam",
        help="run an event file through the spec on Apache Beam (TestStream) and print versions",
        description="The same flags and JSON output as replay. Beam pipeline options go "
        "after --, e.g. -- --runner FlinkRunner --flink_master host:8081.",
    )
    p.add_argument("file", help="events as .jsonl or .csv (arrival order as in replay)")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--out", help="write the JSON result here instead of stdout")
    target.add_argument("--db", help="also write the versions and late events into this store")
    p.add_argument("--series", default="beam", help="series name for --db (default: beam)")
    p.add_argument("--runner", default="DirectRunner", help="Beam runner (default DirectRunner)")
    add_spec_arguments(p)
    p.set_defaults(run=run, passthrough=[])


def run(args) -> int:
    spec = spec_from_args(args)
    try:
        from engine.beam.teststream import build_stream, run_stream
    except ImportError as exc:
        if "apache_beam" not in str(exc):
            raise
        print(f"error: {INSTALL_HINT}", file=sys.stderr)
        return 2
    from engine.ingest.readers import replay_records as read_records

    beam_args = list(args.passthrough)
    if not any(a == "--runner" or a.startswith("--runner=") for a in beam_args):
        beam_args = ["--runner", args.runner, *beam_args]
    prepared = build_stream(read_records(args.file), spec, assume_tz=args.assume_tz)
    result, _ = run_stream(prepared, spec, beam_args, db_path=args.db, series=args.series)
    if args.out or args.db:
        if args.out:
            with open(args.out, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(result, indent=2) + "\n")
        print(summary(result, args.out or f"{args.db} (series {args.series})"), file=sys.stderr)
    else:
        print(json.dumps(result, indent=2))
    return 0
