"""The API's operational answers: window-list cursors, the alert log and health.

Why apart: alerting is built by another module (``engine.runtime.alerts`` with its SQL in
``engine.store.alerts``); the API imports it lazily and says 501 while it is
absent instead of growing alert SQL of its own. Health must answer even when
the runtime is elsewhere, so it reads the runtime's checkpoint from the store.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import json
import sqlite3

from fastapi import HTTPException

from engine.api.params import MAX_MS, unprocessable
from engine.core.timeutil import DAY_MS, format_ms
from engine.store.db import Store

RUNTIME_STATE_KEY = (
    "runtime"  # engine.runtime.runtime.STATE_KEY; not imported: it pulls the simulator
)
ALERT_LOG_LIMIT = 100_000


def encode_cursor(window_start_ms: int, grp: str) -> str:
    """An opaque cursor: the (start, group) key of the last window of a page."""
    raw = json.dumps([window_start_ms, grp], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        start, grp = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise unprocessable("cursor is not one this API handed out") from exc
    if not isinstance(start, int) or not isinstance(grp, str) or not 0 <= start <= MAX_MS:
        raise unprocessable("cursor is not one this API handed out")
    return start, grp


def alerts_between(store: Store, from_ms: int, to_ms: int) -> dict:
    """Alert-log rows raised in [from, to), split into alerts and provisional warnings."""
    try:
        importlib.import_module("engine.runtime.alerts")
        store_alerts = importlib.import_module("engine.store.alerts")
    except ImportError as exc:
        raise HTTPException(
            status_code=501,
            detail=f"alerting is not available in this build yet ({exc.name} is missing)",
        ) from exc
    try:
        rows = store_alerts.log_entries(store, limit=ALERT_LOG_LIMIT)
    except sqlite3.OperationalError as exc:
        raise HTTPException(
            status_code=501, detail=f"this database has no alert log yet ({exc})"
        ) from exc
    picked = [
        r for r in rows if r.get("raised_ms") is not None and from_ms <= r["raised_ms"] < to_ms
    ]
    for r in picked:
        for col in ("window_start_ms", "window_end_ms", "raised_ms", "resolved_ms"):
            if col in r:
                r[col.removesuffix("_ms")] = format_ms(r[col])
    warnings = [r for r in picked if r.get("kind") == "warning"]
    alerts = [r for r in picked if r.get("kind") != "warning"]
    return {
        "alerts": alerts,
        "warnings": warnings,
        "count": len(picked),
        "truncated": len(rows) >= ALERT_LOG_LIMIT,
    }


def _store_watermarks(store: Store, around_ms: int) -> dict:
    """Per series, the newest watermark a version was written under (the global
    watermark at that firing), from the latest versions of the last 6 windows of
    all sources starting from two days before to a day after ``around_ms``: index
    probes, no frame (the health check is polled, often by many clients)."""
    return {
        series: store.newest_watermark(series, around_ms - 2 * DAY_MS, around_ms + DAY_MS)
        for series in store.series_names()
    }


def runtime_health(store: Store, runtime, now_ms: int) -> dict:
    """The runtime's checkpoint (kv 'runtime') and watermark lag, or why there is none.

    Beside a live ``runtime`` the operators' current watermarks are used; on a bare
    database file, the newest watermark stored with a version, and the lag is
    measured at the checkpoint's processing time (the runtime's clock, which may
    be simulated) rather than the API's.
    """
    state = store.get_kv(RUNTIME_STATE_KEY)
    if runtime is not None:
        status = runtime.status()
        proc = status.get("now_ms")
        marks = {name: op["watermark_ms"] for name, op in status["operators"].items()}
        source = "runtime"
    elif isinstance(state, dict) and state.get("proc_ms") is not None:
        proc = state["proc_ms"]
        marks = _store_watermarks(store, proc)
        source = "checkpoint"
    else:
        return {"checkpoint": None, "note": "no runtime checkpoint in this database"}
    return {
        "source": source,
        "checkpoint": {
            "proc_ms": proc,
            "proc": format_ms(proc),
            "processed_seq": (state or {}).get("processed_seq"),
            "clock_ms": (state or {}).get("clock_ms"),
            "age_ms": None
            if not isinstance(state, dict) or state.get("clock_ms") is None
            else now_ms - state["clock_ms"],
        },
        "watermarks": {
            name: {
                "watermark": format_ms(w),
                "watermark_ms": w,
                "lag_ms": None if w is None or proc is None else proc - w,
            }
            for name, w in marks.items()
        },
    }
