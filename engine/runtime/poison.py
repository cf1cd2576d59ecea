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
from engine.runtime.live import feed_operator

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
    ``engine.runtime.live.feed_operator`` does); return the events set aside, with why."""
    poison: dict[int, tuple[Event, str]] = {}
    good = []
    for i, (appended, event) in enumerate(items):
        why = problem(event)
        if why is None:
            good.append((i, appended, event))
        else:
            poison[i] = (event, why)
    for op in operators.values():
        for i, appended, event in good:
            if i in poison:
                continue
            try:
                feed_operator(op, appended, event)
            except Exception as exc:  # noqa: BLE001 - one event must not stop the pipeline
                poison[i] = (event, f"the window operator failed on it ({type(exc).__name__})")
    return [poison[i] for i in sorted(poison)]


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
