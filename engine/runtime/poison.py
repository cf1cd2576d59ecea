"""Defence in depth: an event in the raw log that cannot be windowed never stalls the runtime.

Ingest validation keeps absurd times out of the raw log, but the log is append-only
and older than any rule: a row accepted before the time range existed (or under a
wider configured range) must not kill every tick and freeze the checkpoint. Such an
event is set aside — written to the quarantine table with reason ``unwindowable``,
in the same transaction as the checkpoint that passes it, so exactly once — and the
pipeline moves on. On a restart the rebuild skips it again, silently.
"""

from __future__ import annotations

from engine.core.events import Event, raw_text
from engine.core.operator import WindowOperator
from engine.core.timeutil import format_ms

# Times every window kind can compute bounds for (calendar windows need a datetime a
# month either side): about year 3 … year 9997.
MIN_WINDOWABLE_MS = -62_050_000_000_000
MAX_WINDOWABLE_MS = 253_300_000_000_000
REASON = "unwindowable"


def problem(event: Event) -> str | None:
    """Why ``event`` cannot be windowed, or None."""
    for name, value in (
        ("event time", event.event_time_ms),
        ("arrival time", event.arrival_time_ms),
    ):
        if value is None:
            continue
        if not isinstance(value, int) or not MIN_WINDOWABLE_MS <= value <= MAX_WINDOWABLE_MS:
            return f"{name} {value!r} ms is outside the range windows can be computed for"
    return None


def process_all(
    operators: dict[str, WindowOperator], items: list[tuple[int | None, Event]]
) -> list[tuple[Event, str]]:
    """Feed ``(appended_ms or None, event)`` pairs to every operator (as
    ``engine.runtime.live.feed_operator`` does, through the operator's batch entry
    point); return the events set aside, with why. An event one operator fails on is
    not fed to the operators after it."""
    poison: dict[int, tuple[Event, str]] = {}
    good = []
    for i, (_, event) in enumerate(items):
        why = problem(event)
        if why is None:
            good.append(i)
        else:
            poison[i] = (event, why)
    for op in operators.values():
        todo = [i for i in good if i not in poison]
        events = [items[i][1] for i in todo]
        appended = [items[i][0] for i in todo]

        def set_aside(k: int, exc: Exception, todo=todo) -> None:
            i = todo[k]
            poison[i] = (items[i][1], f"the window operator failed on it ({type(exc).__name__})")

        op.process_all(
            events,
            processed_at=None if all(a is None for a in appended) else appended,
            on_error=set_aside,
        )
    return [poison[i] for i in sorted(poison)]


REPLAY_CHUNK = 20_000  # rows replayed at a time: outputs are dropped after each chunk


def replay(op: WindowOperator, rows: list[tuple[int | None, Event]]) -> None:
    """Feed ``rows`` (``(appended_ms or None, event)``) to ``op`` with its outputs
    discarded — a rebuild up to the checkpoint, whose poison rows were set aside when
    first seen — and empty ``rows`` for the next chunk."""
    process_all({"replay": op}, rows)
    op.drain()
    op.drain_supersessions()
    rows.clear()


def quarantine_rows(poison: list[tuple[Event, str]]) -> list[dict]:
    """Quarantine-table rows for events set aside by the runtime."""
    out = []
    for event, why in poison:
        record = {
            "event_id": event.event_id,
            "source": event.source,
            "event_time_ms": event.event_time_ms,
            "arrival_time_ms": event.arrival_time_ms,
            "event_time": format_ms(event.event_time_ms)
            if isinstance(event.event_time_ms, int)
            else None,
        }
        out.append(
            {
                "line": None,
                "event_id": event.event_id,
                "reason": REASON,
                "detail": why,
                "raw": raw_text(record),
            }
        )
    return out
