"""`python -m engine <command>`: each command lives in its own module under
``engine.commands`` and exposes ``add_parser(subparsers)`` and ``run(args) -> int``."""

from __future__ import annotations

import argparse
import importlib
import sys

# One line per command module; the module name is the command's home.
COMMANDS = (
    "replay",
    "ingest",
    "finalize",
    "reprocess",
    "history",
    "simulate",
    "lateness",
    "run",
    "serve",
    "beam",
    "load-versions",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m engine", description="latewatch: late-arriving data, made explainable"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"engine.commands.{name.replace('-', '_')}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in argv:  # options for another tool (the beam command's pipeline options)
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1 :]
    args = parser.parse_args(argv)
    if passthrough:
        if not hasattr(args, "passthrough"):
            parser.error(f"{args.command} takes no options after --")
        args.passthrough = passthrough
    try:
        return int(args.run(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
