"""The shared sidebar: the runtime's clock, pipeline state and database file."""

from __future__ import annotations

import streamlit as st

from engine.runtime.runtime import Runtime
from ui.format import fmt_time
from ui.guard import operator_panel


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
        operator_panel()
