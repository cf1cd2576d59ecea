"""The one runtime per server process, configured from the environment."""

from __future__ import annotations

import os

import streamlit as st

from engine.runtime.runtime import Runtime, RuntimeSettings


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
        simulator=env.get("LATEWATCH_SIMULATOR", "on").strip().lower()
        not in ("off", "0", "false", "no"),
    )


def _shutdown(rt: Runtime) -> None:
    rt.shutdown()


@st.cache_resource(on_release=_shutdown, show_spinner="Starting the latewatch runtime…")
def get_runtime() -> Runtime:
    """One runtime (and one scheduler) per server process, shared by all sessions.
    ``LATEWATCH_SCHEDULER=off`` runs it without background jobs (tests)."""
    scheduler = os.environ.get("LATEWATCH_SCHEDULER", "on") != "off"
    return Runtime(settings_from_env()).start(scheduler=scheduler)
