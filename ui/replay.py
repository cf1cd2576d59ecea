"""What a page shows while the first start is still replaying the simulated past.

Until the replay reaches the present, versions, lateness, what-if and alert numbers
are partial; a page that shows them as if complete misleads ("No events in this
range yet", "Pick an earlier day"). ``wait_for_replay`` draws the progress instead
and refreshes by itself; when the replay is done it reruns the whole page."""

from __future__ import annotations

import streamlit as st

from engine.runtime.runtime import Runtime
from engine.views import dashboard
from ui.format import fmt_time

REFRESH_S = 2


def _progress(rt: Runtime) -> tuple[float | None, dict]:
    status = rt.status()
    return dashboard.catch_up_progress(status, rt.settings.history_days, rt.settings.tz), status


def wait_for_replay(rt: Runtime, what: str) -> None:
    """Stop the page with a progress panel while the first-start replay runs.
    ``what`` says what the page will show ("the versions of each window")."""
    progress, _ = _progress(rt)
    if progress is None:
        return
    _panel(rt, what)
    st.stop()


@st.fragment(run_every=REFRESH_S)
def _panel(rt: Runtime, what: str) -> None:
    progress, status = _progress(rt)
    if progress is None:
        st.rerun(scope="app")
    at = fmt_time(status["proc_ms"], rt) if status.get("proc_ms") else "the start"
    st.info(
        "**Catching up** — latewatch is replaying the simulated past week through the real "
        f"pipeline (now at {at}). This page shows {what} when the replay reaches the "
        "present; until then its numbers would be incomplete. It refreshes by itself."
    )
    st.progress(progress, text=f"Replay {progress:.0%} done")
