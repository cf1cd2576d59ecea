"""The shared sidebar: the runtime's clock, pipeline state and database file.

The clock and the pipeline state are a fragment that reruns every few seconds by
itself, so they move while the simulated clock runs (and say "paused" when it
does not) without rerunning the page under them."""

from __future__ import annotations

import streamlit as st

from engine.runtime.runtime import Runtime
from engine.views import live as live_view
from ui.format import DISPLAY_TZ_PARAM, display_zones, fmt_time
from ui.guard import operator_panel
from ui.text import code, escape_markdown

SIDEBAR_REFRESH_S = 10  # the clock shows minutes; fewer reruns keep a loaded box idle more often


def sidebar(rt: Runtime) -> None:
    """The shared sidebar: the runtime's clock, pipeline state and database file."""
    with st.sidebar:
        st.markdown("### latewatch")
        _clock_panel(rt)
        zones = display_zones(rt)
        st.selectbox(
            "Show times in",
            zones,
            key=DISPLAY_TZ_PARAM,
            bind="query-params",
            help="Timestamps on every page use this zone; business days, tiers and the "
            "hour-of-day charts stay in the business zone, and say so.",
        )
        st.caption(f"Database: {code(rt.settings.db_path)}")
        operator_panel()


@st.fragment(run_every=SIDEBAR_REFRESH_S)
def _clock_panel(rt: Runtime) -> None:
    status = rt.status()
    clock = "Simulated time" if status["simulated"] else "Time"
    st.caption(f"{clock}: **{fmt_time(status['now_ms'], rt)}**")
    if status.get("live"):
        feed = live_view.feed_summary(status)
        state = ":material/pause: **paused**" if status["paused"] else "● **Live data**"
        st.caption(f"Pipeline: {state} — system clock, your own events")
        if feed["last_received_ms"]:
            st.caption(
                f"Last event received: **{fmt_time(feed['last_received_ms'], rt)}** "
                f"(source {escape_markdown(feed['last_source'])}) • "
                f"{feed['events_per_min']:,} events/min"
            )
        else:
            st.caption("No event received yet — see *Live mode* in the README to send some.")
    elif status["catching_up"]:
        st.caption(
            "Pipeline: :material/fast_forward: replaying the simulated past week through the real pipeline…"
        )
    elif status["paused"]:
        st.caption(
            "Pipeline: :material/pause: **paused** — the clock is stopped and no new data "
            "arrives (resume on Operations)"
        )
    else:
        st.caption(f"Pipeline: ● live — {status['clock']}, scenario **{status['scenario']}**")
    if status.get("last_error"):
        st.caption(f"Last error: {escape_markdown(status['last_error'])}")
    st.caption(f"Business time zone: {status['tz']}")
