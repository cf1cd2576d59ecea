"""The one runtime per server process, configured from the environment."""

from __future__ import annotations

import os

import streamlit as st

from engine.runtime.config_apply import settings_from_env as engine_settings_from_env
from engine.runtime.runtime import Runtime, RuntimeSettings


def settings_from_env() -> RuntimeSettings:
    """Configuration from the environment and ``$LATEWATCH_CONFIG`` (tests point
    LATEWATCH_DB at a temp file)."""
    return engine_settings_from_env(dict(os.environ))


def _shutdown(rt: Runtime) -> None:
    rt.shutdown()


@st.cache_resource(on_release=_shutdown, show_spinner="Starting the latewatch runtime…")
def get_runtime() -> Runtime:
    """One runtime (and one scheduler) per server process, shared by all sessions.
    ``LATEWATCH_SCHEDULER=off`` runs it without background jobs (tests)."""
    scheduler = os.environ.get("LATEWATCH_SCHEDULER", "on") != "off"
    return Runtime(settings_from_env()).start(scheduler=scheduler)
