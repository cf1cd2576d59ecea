"""`python -m engine history --window 2026-11-20T10:00Z`: a window's version timeline.

One line per version: number, tier, reason, processing time, revenue and events
with their deltas; then the adjustments booked against it once it was final.
"""

from __future__ import annotations

from engine.commands.ingest import db_path
from engine.core.timeutil import format_ms, parse_timestamp_ms
from engine.store.db import Store


def add_parser(sub) -> None:
    p = sub.add_parser("history", help="print the version timeline of one window")
    p.add_argument(
        "--window", required=True, help="window start, ISO-8601 (e.g. 2026-11-20T10:00Z)"
    )
    p.add_argument("--series", default="hourly")
    p.add_argument("--group", default="*", help="group ('*' when the series is not grouped)")
    p.add_argument("--db", default=None)
    p.set_defaults(run=run)


def _money(cents) -> str:
    return "—" if cents is None else f"{cents / 100:,.2f}"


def _signed(cents) -> str:
    return "" if cents is None else f"{'+' if cents >= 0 else '-'}{abs(cents) / 100:,.2f}"


def run(args) -> int:
    start = parse_timestamp_ms(args.window)
    with Store(db_path(args)) as store:
        rows = store.history(args.series, start, args.group)
        adjustments = store.adjustments_frame(args.series, start)
    if not rows:
        print(f"no versions for {args.series} window {format_ms(start)} group {args.group!r}")
        return 1
    first = rows[0]
    print(
        f"{args.series} [{format_ms(first['window_start_ms'])}, {format_ms(first['window_end_ms'])})"
        f" group {args.group}"
    )
    print(
        f"{'v':>3}  {'tier':<11} {'reason':<13} {'processing time':<24} {'revenue':>14} "
        f"{'delta':>12} {'events':>7} {'Δ':>6}"
    )
    for r in rows:
        print(
            f"{r['version']:>3}  {r['tier']:<11} {r['reason']:<13} "
            f"{format_ms(r['processing_time_ms']) or '—':<24} {_money(r['revenue_cents']):>14} "
            f"{_signed(r['delta_revenue_cents']):>12} {r['events'] if r['events'] is not None else '—':>7} "
            f"{r['delta_events'] if r['delta_events'] is not None else '':>6}"
        )
    if len(adjustments):
        total = int(adjustments["revenue_cents"].sum())
        print(
            f"adjustments after final: {len(adjustments)} ({_signed(total)}), booked to "
            + ", ".join(sorted({format_ms(int(p)) for p in adjustments["period_start_ms"]}))
        )
    return 0
