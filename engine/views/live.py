"""What the pages say about the data source: the simulator, or your own events.

Empty states on real data say how to send data (not "wait for the simulator");
the sidebar says "Live data" with the last event received and the events/min.
Plain text and numbers; the pages render them.
"""

from __future__ import annotations

from engine.core.spec import PipelineSpec
from engine.core.timeutil import format_duration_ms


def send_data_hint(db_path: str) -> str:
    """Markdown: the ways in, with commands for this store."""
    return (
        "Send events to this store: `POST /events` on `python -m engine serve --db "
        f"{db_path}` (a JSON array, `Authorization: Bearer <key>`), pipe JSON lines into "
        f"`python -m engine ingest - --follow --db {db_path}`, drop .csv/.jsonl/.parquet "
        f"files into a folder watched by `python -m engine ingest --watch DIR --db {db_path}`, "
        "or append a validated file on the **Import** page (*Append to the live store*). "
        "The README's *Live mode* section has a curl example."
    )


def first_result_after(spec: PipelineSpec | None, simulated: bool) -> str:
    """'about 5s' / 'about 10m (simulated)': when a window's first (early) result fires."""
    if spec is None or spec.trigger.early != "after-first":
        return "when its window closes"
    text = f"about {format_duration_ms(spec.trigger.early_delay_ms)}"
    return f"{text} (simulated)" if simulated else text


def no_data_yet(status: dict, db_path: str, what: str = "numbers") -> str:
    """The empty state for a page with nothing to show yet."""
    if status.get("live"):
        arrivals = status.get("arrivals") or {}
        if not arrivals.get("last_appended_ms"):
            return f"No {what} yet — no event has arrived in this store. " + send_data_hint(db_path)
        return (
            f"No {what} for this selection yet. Events are arriving; a window's first "
            "result appears a few seconds after its first event. "
        )
    return (
        f"No {what} yet. The simulator feeds the store while the app runs "
        "(see the sidebar's clock); pick an earlier range, or import events on the Import page."
    )


def feed_summary(status: dict) -> dict:
    """Sidebar facts for live data: last event received (when and which source) and
    the events received in the last minute."""
    arrivals = status.get("arrivals") or {}
    return {
        "live": bool(status.get("live")),
        "last_received_ms": arrivals.get("last_appended_ms"),
        "last_event_time_ms": arrivals.get("last_event_time_ms"),
        "last_source": arrivals.get("last_source"),
        "events_per_min": arrivals.get("count"),
    }


def unconfigured_sources(spec: PipelineSpec | None, seen: list[str]) -> list[str]:
    """Sources seen in the data that have no policy of their own (the default applies)."""
    if spec is None:
        return []
    from engine.runtime.config_apply import configured_sources

    known = configured_sources(spec)
    return sorted(s for s in seen if s not in known)
