"""Live mode: a runtime on real data and the system clock, with no simulator.

Whatever arrives in the raw log (``POST /events``, ``python -m engine ingest``,
the Import page's "Append to the live store") is processed in arrival order
(raw-log ``seq``), each row at the wall-clock time it was appended
(``raw_events.appended_ms``), so a restart replays the same decisions: the same
rows at the same processing times give the same watermarks and routes.

A store holds either a simulated run or a live one; mixing them would put the
simulated clock's hours next to the wall clock's, so starting one mode on the
other's store is refused with a message that says what to do.
"""

from __future__ import annotations

from dataclasses import replace

from engine.core.events import Event
from engine.core.operator import WindowOperator


def live_start_state(now: int) -> dict:
    """The runtime state of a live first start: nothing processed, no simulated past."""
    return {
        "simulator": False,
        "scenario": None,
        "speed": None,
        "clock_ms": now,
        "live_since_ms": now,
        "catch_up_to_ms": None,
        "paused": False,
        "processed_seq": 0,
        "proc_ms": None,
    }


def check_mode(saved: dict, settings) -> None:
    """Refuse to run live data on a simulated store and the other way round."""
    saved_live = saved.get("simulator", True) is False
    if saved_live and settings.simulator:
        raise ValueError(
            f"{settings.db_path} holds live data (started without the simulator); start "
            "it with --no-simulator / LATEWATCH_SIMULATOR=off, or use another --db for the "
            "simulator"
        )
    if not saved_live and not settings.simulator:
        raise ValueError(
            f"{settings.db_path} holds a simulated run; live data needs its own store: "
            "pass another --db (e.g. --db data/live.db) or set LATEWATCH_DB"
        )


def feed_operator(op: WindowOperator, appended_ms: int | None, event: Event) -> str:
    """Process one raw row. Live rows move processing time to when they were appended
    first; an arrival time a client stamped later than that cannot run the clock ahead."""
    if appended_ms is not None:
        op.advance_processing_time(appended_ms)
        if event.arrival_time_ms is not None and event.arrival_time_ms > appended_ms:
            event = replace(event, arrival_time_ms=appended_ms)
    return op.process(event)
