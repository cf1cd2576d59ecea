"""`python -m engine replay EVENTS.jsonl|.csv`: run a file through the window operator."""

from __future__ import annotations

import json
import sys

from engine.core.replay import replay
from engine.core.spec import PipelineSpec, SourcePolicy, TriggerSpec, WatermarkSpec, WindowSpec
from engine.core.timeutil import parse_duration_ms
from engine.ingest.readers import UnreadableFile, replay_records


def add_parser(sub) -> None:
    p = sub.add_parser(
        "replay",
        help="replay events through the window operator and print versions as JSON",
        description="Records are taken in order of arrival_time; end of input fires what remains.",
    )
    p.add_argument("file", help="events as .jsonl, .csv or .parquet")
    p.add_argument("--out", help="write the JSON result here instead of stdout")
    add_spec_arguments(p)
    p.set_defaults(run=run)


def add_spec_arguments(p) -> None:
    """The pipeline-spec flags (shared with ``engine beam``)."""
    p.add_argument(
        "--window",
        default="tumbling:5m",
        help="tumbling:5m | tumbling:1h+15m | sliding:1h/15m | session:30m | global | "
        "day@Europe/Berlin | week@UTC | month@UTC",
    )
    p.add_argument(
        "--watermark",
        default="bounded:0s",
        help="bounded:10s | per-key:10s,idle=5m[,by=key] | punctuated | processing-time:10s",
    )
    p.add_argument("--allowed-lateness", default="0s")
    p.add_argument(
        "--late-action", default="update", choices=["update", "side_output", "drop", "recompute"]
    )
    p.add_argument(
        "--source-policy",
        action="append",
        default=[],
        metavar="SRC:LATENESS[:ACTION]",
        help="per-source allowed lateness and late action, e.g. partner:2d:side_output",
    )
    p.add_argument("--max-updates", type=int, default=None, help="max late versions per window")
    p.add_argument("--early", default="none", help="after-first:1m | per-record | none")
    p.add_argument("--late", default="each", help="each | every:1m | none")
    p.add_argument("--group-by", default="none", choices=["none", "source", "key", "all+source"])
    p.add_argument(
        "--metrics",
        default="revenue,orders,items,events",
        help="add avg_order_value, median_order_value, distinct_users as needed",
    )
    p.add_argument(
        "--assume-tz",
        default=None,
        help="IANA zone for timestamps written without an offset (else quarantined)",
    )


def spec_from_args(args) -> PipelineSpec:
    early, early_delay = TriggerSpec.parse_early(args.early)
    late, late_every = TriggerSpec.parse_late(args.late)
    policies = []
    for text in args.source_policy:
        parts = text.split(":")
        if len(parts) not in (2, 3):
            raise ValueError(f"cannot read --source-policy {text!r}: use SRC:LATENESS[:ACTION]")
        policies.append(
            SourcePolicy(
                source=parts[0],
                allowed_lateness_ms=parse_duration_ms(parts[1]),
                late_action=parts[2] if len(parts) == 3 else None,
            )
        )
    return PipelineSpec(
        window=WindowSpec.parse(args.window),
        watermark=WatermarkSpec.parse(args.watermark),
        trigger=TriggerSpec(
            early=early, early_delay_ms=early_delay, late=late, late_every_ms=late_every
        ),
        allowed_lateness_ms=parse_duration_ms(args.allowed_lateness),
        late_action=args.late_action,
        max_updates_per_window=args.max_updates,
        group_by=args.group_by,
        metrics=tuple(m.strip() for m in args.metrics.split(",") if m.strip()),
        sources=tuple(policies),
    )


def run(args) -> int:
    spec = spec_from_args(args)
    try:
        result = replay(replay_records(args.file), spec, assume_tz=args.assume_tz)
    except UnreadableFile as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    text = json.dumps(result, indent=2)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        print(summary(result, args.out), file=sys.stderr)
    else:
        print(text)
    return 0


def summary(result: dict, out: str) -> str:
    o = result["outcomes"]
    return (
        f"{o['input']} records: {o['on_time']} on time, {o['late']} late, "
        f"{o['too_late']} too late, {o['side_output']} side output, {o['dropped']} dropped, "
        f"{o['duplicates']} duplicates, {o['quarantined']} quarantined; "
        f"{sum(len(w['versions']) for w in result['windows'])} versions -> {out}"
    )
