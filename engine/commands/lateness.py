"""`python -m engine lateness [--db PATH | --input FILE] [--target 0.99] [--by value|count]`.

Prints the measured arrival-delay distribution per source, the capture table
("30s captures 90%") and the recommended allowed lateness per source for the
target, with what it costs. Reads a file written by ``simulate`` (or any file
with the same columns) or, without ``--input``, the raw event log in the store.
"""

from __future__ import annotations

import sys

import pandas as pd

from engine.analysis import lateness
from engine.core.timeutil import format_duration_ms, parse_duration_ms
from engine.ingest.events_file import read_events_checked
from engine.ingest.readers import UnreadableFile


def add_parser(sub) -> None:
    p = sub.add_parser("lateness", help="lateness distribution, capture table, recommendations")
    p.add_argument("--db", default=None, help="SQLite store (default: data/latewatch.db)")
    p.add_argument(
        "--input", default=None, help="events file (.jsonl/.csv/.parquet) instead of the store"
    )
    p.add_argument("--target", type=float, default=0.99, help="capture target, e.g. 0.99")
    p.add_argument("--by", choices=("value", "count"), default="value")
    p.add_argument("--window", default="1h", help="window size for the cost column (e.g. 1h, 1d)")
    p.add_argument(
        "--watermark-delay", default="0s", help="watermark delay D; lateness = budget - D"
    )
    p.set_defaults(run=run)


def load_events(args) -> pd.DataFrame:
    if args.input:
        checked = read_events_checked(args.input)
        print(f"{args.input}: {checked.summary()}", file=sys.stderr)
        return checked.frame
    from engine.commands.ingest import db_path  # the store is optional for file analysis
    from engine.store.db import Store

    with Store.open(db_path(args)) as store:
        return store.events_frame()


def _ms_table(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        if col.endswith("_ms"):
            out[col.removesuffix("_ms")] = out.pop(col).map(format_duration_ms)
    return out


def run(args) -> int:
    try:
        events = load_events(args)
    except UnreadableFile as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if events.empty:
        print("no events to analyse")
        return 1
    profile = lateness.lateness_profile(events, dedup=bool(args.input))
    pd.set_option("display.width", 160)
    pd.set_option("display.max_columns", 30)
    print(f"arrival delay by {args.by} ({len(events):,} events)")
    table = lateness.summary(profile, args.by)
    table["value"] = table["value"].map("{:,.0f}".format)
    print(_ms_table(table).to_string(index=False))
    print(f"\nshare captured within each delay budget (by {args.by})")
    print((lateness.capture_table(profile, by=args.by) * 100).round(2).to_string())
    rec = lateness.recommend(
        profile,
        args.target,
        args.by,
        window_ms=parse_duration_ms(args.window),
        watermark_delay_ms=parse_duration_ms(args.watermark_delay),
    )
    print(f"\nrecommended allowed lateness for {args.target:.2%} capture by {args.by}")
    shown = rec[
        ["source", "allowed_lateness", "reached", "capture_count", "capture_value", "p99_ms"]
        + ["windows_open", "events_in_state"]
    ].copy()
    shown["capture_count"] = (shown["capture_count"] * 100).round(2)
    shown["capture_value"] = (shown["capture_value"] * 100).round(2)
    shown["events_in_state"] = shown["events_in_state"].round(0).astype("int64")
    print(_ms_table(shown).to_string(index=False))
    print(
        f"\n('all' is the single global setting. Cost for {args.window} windows: windows_open "
        "per group while late data is accepted; events_in_state = windows_open x events per "
        "window, the state held when windows keep their events.)"
    )
    return 0
