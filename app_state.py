"""Streamlit-side glue shared by app.py and every page: the one runtime per server
process, the router guard for deep links, the shared sidebar and display helpers.

Kept out of ``pages/`` (legacy auto-discovery would list it as a page) and out of
``engine/`` (the engine never imports Streamlit).
"""

from __future__ import annotations

import contextlib
import os
import threading
from datetime import datetime

import streamlit as st

from engine.runtime import Runtime, RuntimeSettings
from engine.timeutil import POS_INF_MS, ms_to_datetime

TZ_LABEL_FORMAT = "%a %d %b %Y, %H:%M"


def settings_from_env() -> RuntimeSettings:
    """Configuration from the environment (tests point LATEWATCH_DB at a temp file)."""
    env = os.environ
    events = env.get("LATEWATCH_EVENTS_PER_DAY")
    return RuntimeSettings(
        db_path=env.get("LATEWATCH_DB", "data/latewatch.db"),
        scenario=env.get("LATEWATCH_SCENARIO", "steady"),
        seed=int(env.get("LATEWATCH_SEED", "7")),
        speed=float(env.get("LATEWATCH_SPEED", "60")),
        tz=env.get("LATEWATCH_TZ", "America/New_York"),
        history_days=int(env.get("LATEWATCH_HISTORY_DAYS", "8")),
        events_per_day=float(events) if events else 20_000,
    )


def _shutdown(rt: Runtime) -> None:
    rt.shutdown()


@st.cache_resource(on_release=_shutdown, show_spinner="Starting the latewatch runtime…")
def get_runtime() -> Runtime:
    """One runtime (and one scheduler) per server process, shared by all sessions.
    ``LATEWATCH_SCHEDULER=off`` runs it without background jobs (tests)."""
    scheduler = os.environ.get("LATEWATCH_SCHEDULER", "on") != "off"
    return Runtime(settings_from_env()).start(scheduler=scheduler)


_routing = threading.local()


@contextlib.contextmanager
def routed():
    """app.py runs the selected page inside this: the page then knows the router ran."""
    _routing.active = True
    try:
        yield
    finally:
        _routing.active = False


def ensure_router() -> None:
    """A deep link on a fresh server runs a page file bare (legacy ``pages/`` mode).
    Switch the process to ``st.navigation`` and rerun so app.py routes the URL.
    Does nothing when app.py routed this run (the normal case, and AppTest).
    Uses an internal flag checked on Streamlit 1.67; a browser test covers it."""
    if getattr(_routing, "active", False):
        return
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # pragma: no cover - other Streamlit versions
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()


def tz_name(rt: Runtime) -> str:
    return rt.settings.tz


def fmt_time(ms: int | None, rt: Runtime, fmt: str = TZ_LABEL_FORMAT) -> str:
    """A processing or event time in the business time zone, zone named."""
    if ms is None:
        return "—"
    if ms >= POS_INF_MS:
        return "end of input"
    dt: datetime = ms_to_datetime(int(ms), _zone(rt))
    return f"{dt.strftime(fmt)} {dt.tzname()}"


def _zone(rt: Runtime):
    from engine.timeutil import get_zone

    return get_zone(rt.settings.tz)


def fmt_money(cents: float | int | None) -> str:
    if cents is None:
        return "—"
    return f"${cents / 100:,.2f}"


def fmt_count(n: float | int | None) -> str:
    return "—" if n is None else f"{int(n):,}"


def sidebar(rt: Runtime) -> None:
    """The shared sidebar: the runtime's clock, pipeline state and database file."""
    status = rt.status()
    with st.sidebar:
        st.markdown("### latewatch")
        clock = "Simulated time" if status["simulated"] else "Time"
        st.caption(f"{clock}: **{fmt_time(status['now_ms'], rt)}**")
        if status["catching_up"]:
            st.caption(
                "Pipeline: :material/fast_forward: replaying the simulated past week through the real pipeline…"
            )
        elif status["paused"]:
            st.caption("Pipeline: :material/pause: paused")
        else:
            st.caption(f"Pipeline: ● live — {status['clock']}, scenario **{status['scenario']}**")
        if status.get("last_error"):
            st.caption(f"Last error: {status['last_error']}")
        st.caption(f"Business time zone: {status['tz']}")
        st.caption(f"Database: `{status['db_path']}`")
