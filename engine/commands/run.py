"""`python -m engine run`: the runtime headless — sources, operators, jobs.

With the simulator (the default) a simulated past is replayed on first start and
a simulated clock runs at ``--speed``. With ``--no-simulator`` (live mode) the
system clock runs and the runtime processes whatever arrives in the raw log
(``POST /events``, ``python -m engine ingest``), as it arrives.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading

from engine.core.timeutil import format_ms, parse_timestamp_ms
from engine.runtime.clock import wall_ms
from engine.runtime.config import config_path, load_config
from engine.runtime.config_apply import apply_settings
from engine.runtime.runtime import Runtime, RuntimeSettings
from engine.sim.simulator import SCENARIOS


def add_parser(sub) -> None:
    p = sub.add_parser(
        "run",
        help="run the live pipeline headless (simulator or --no-simulator, scheduler, store)",
        description="With the simulator, on first start the simulated past (--history-days) "
        "is replayed through the real pipeline, then the simulated clock runs at --speed. "
        "With --no-simulator the system clock runs and real events sent to the store "
        "(POST /events, `python -m engine ingest`) are processed as they arrive.",
    )
    p.add_argument("--db", default=None, help="SQLite store (default $LATEWATCH_DB or data/)")
    p.add_argument(
        "--no-simulator",
        dest="simulator",
        action="store_false",
        default=None,
        help="live mode: system clock, no simulated feed or history",
    )
    p.add_argument(
        "--config",
        default=None,
        help="latewatch.toml to read (default $LATEWATCH_CONFIG; none: today's defaults)",
    )
    p.add_argument(
        "--speed",
        type=float,
        default=None,
        help="simulated seconds per real second (default 60; 3600 = one hour per second)",
    )
    p.add_argument("--scenario", default=None, choices=sorted(SCENARIOS))
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--tz", default=None, help="business time zone (IANA; America/New_York)")
    p.add_argument("--history-days", type=int, default=None)
    p.add_argument("--events-per-day", type=float, default=None)
    p.add_argument(
        "--now",
        default=None,
        help="pretend the first start happens at this ISO time (reproducible demos)",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        help="stop after this many real seconds (default: until Ctrl-C)",
    )
    p.add_argument("--tick", type=float, default=1.0, help="seconds between ticks")
    p.add_argument(
        "--catch-up-only",
        action="store_true",
        help="replay the simulated past, run the due jobs, then exit",
    )
    p.set_defaults(run=run)


def settings_from_args(args) -> RuntimeSettings:
    """Command-line values win over latewatch.toml, which wins over the defaults."""
    given = {
        "scenario": args.scenario,
        "seed": args.seed,
        "speed": args.speed,
        "tz": args.tz,
        "history_days": args.history_days,
        "events_per_day": args.events_per_day,
        "simulator": args.simulator,
    }
    given = {k: v for k, v in given.items() if v is not None}
    base = RuntimeSettings(
        db_path=args.db or os.environ.get("LATEWATCH_DB", "data/latewatch.db"),
        tick_seconds=args.tick,
        now_ms=parse_timestamp_ms(args.now) if args.now else None,
        **given,
    )
    path = config_path(args.config)
    cfg = load_config(path) if path else None
    settings, origins = apply_settings(base, cfg, explicit=set(given))
    return dataclasses.replace(settings, config=cfg, origins=origins)


def run(args) -> int:
    settings = settings_from_args(args)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    rt = Runtime(settings).start(scheduler=True)
    started = wall_ms()
    mode = "live data" if rt.live else "simulator"
    print(
        f"latewatch runtime on {settings.db_path} ({mode}, {rt.clock.describe()})",
        file=sys.stderr,
        flush=True,
    )
    try:
        while not stop.wait(0.2 if args.catch_up_only else 5.0):
            if args.catch_up_only:
                if not rt.catching_up:
                    rt.run_due_jobs()
                    break
                continue
            st = rt.status()
            tick = st["last_tick"] or {}
            phase = "catching up" if st["catching_up"] else ("paused" if st["paused"] else "live")
            print(
                f"{format_ms(st['now_ms'])} {phase}: raw log seq {st['processed_seq']:,}, "
                f"last tick +{tick.get('accepted', 0)} events, {tick.get('versions', 0)} versions",
                file=sys.stderr,
                flush=True,
            )
            if args.duration is not None and (wall_ms() - started) / 1000 >= args.duration:
                break
    except KeyboardInterrupt:
        pass
    finally:
        rt.shutdown()
    return 0
