"""The runtime's status: a small, plain summary for the sidebar, the operations
page and the headless ``run`` command's log lines."""

from __future__ import annotations


def runtime_status(rt) -> dict:
    """What ``Runtime.status()`` returns. Reads without the write lock: every value is
    a snapshot of a plain attribute, good enough for display."""
    now = rt.clock.now_ms() if rt.clock is not None else None
    ops = {}
    for name, op in list(rt.operators.items()):
        metrics = op.metrics()
        ops[name] = {
            "watermark_ms": metrics["watermark_ms"],
            "per_key_watermarks_ms": metrics["per_key_watermarks_ms"],
            "idle_keys": metrics["idle_keys"],
            "state": metrics["state"],
            "outcomes": metrics["outcomes"],
        }
    state = rt.state
    arrivals = None
    if now is not None:
        try:  # last event received and events/min, from the raw log
            arrivals = rt.store().last_arrivals(now - 60_000)
        except Exception:  # noqa: BLE001 - a status read never fails a page
            arrivals = None
    return {
        "live": rt.live,
        "arrivals": arrivals,
        "now_ms": now,
        "clock": rt.clock.describe() if rt.clock is not None else "not started",
        "simulated": bool(rt.clock and rt.clock.simulated) and not rt.live,
        "paused": bool(state.get("paused")),
        "catching_up": rt.catching_up,
        "catch_up_to_ms": state.get("catch_up_to_ms"),
        "speed": state.get("speed"),
        "scenario": state.get("scenario"),
        "db_path": rt.settings.db_path,
        "tz": rt.settings.tz,
        "processed_seq": state.get("processed_seq"),
        "proc_ms": state.get("proc_ms"),
        "last_tick": rt.last_tick.__dict__ if rt.last_tick else None,
        "last_error": rt.last_error,
        "operators": ops,
        "series": {name: spec.to_dict()["describe"] for name, spec in rt.series.items()},
    }
