"""Today's metric cards shared by its panels, and what it shows during the first
start: today's numbers worked out ahead of the replay, the replay's progress and the
day being replayed (the page keeps the fragments; this holds what they draw)."""

from __future__ import annotations

import time

import streamlit as st

from engine.runtime.runtime import Runtime
from engine.views import dashboard
from ui import charts
from ui.format import fmt_count, fmt_money, fmt_time

FMT = {"revenue_cents": fmt_money, "orders": fmt_count, "items": fmt_count}


def replay_eta(progress: float) -> str:
    """ ", about N s left" from the replay's pace in this session (wall clock: UI only)."""
    now = time.monotonic()
    first = st.session_state.setdefault("replay_seen", (now, progress))
    elapsed, done = now - first[0], progress - first[1]
    if elapsed < 2 or done <= 0:
        return ""
    left = (1 - progress) * elapsed / done
    return f", about {left:.0f} s left" if left < 120 else f", about {left / 60:.0f} min left"


def replay_preview(rt: Runtime, load_today, at_ms: int, grp: str, metric: str) -> None:
    """The replayed day so far, as the pipeline saw it at the replay's position: real
    versions from the store (the history fills in behind them), labelled as the past."""
    data = load_today(rt.settings.db_path, at_ms, grp, metric)
    tz = rt.settings.tz
    day = data["today"]
    st.markdown(
        f"#### {day:%A %d %B} — as the pipeline saw it at {fmt_time(at_ms, rt, '%H:%M')} (replay)"
    )
    cols = st.columns(3)
    for col, m in zip(cols, dashboard.METRICS, strict=True):
        col.metric(
            f"{charts.METRIC_LABELS[m]} — {day:%a %d %b}, live then",
            FMT[m](data["today_live"][m]),
            border=True,
        )
    if not data["hours"].empty:
        st.plotly_chart(
            charts.hourly_by_tier(
                data["hours"],
                data["hours_yesterday"],
                metric,
                tz,
                names=(f"{day:%a %d %b}", "The day before"),
            ),
            width="stretch",
            key="today_replay_chart",
        )


def today_and_then(c1, c2, m: str, today: dict, then: dict) -> None:
    """Metric ``m`` today (live) in ``c1``, with its change against yesterday at this
    time, shown in ``c2``."""
    label, base = charts.METRIC_LABELS[m], then[m]
    vs = (today[m] - base) / base if today[m] is not None and base else None
    c1.metric(
        f"{label} — today, live",
        FMT[m](today[m]),
        delta=f"{vs:+.1%} vs yesterday at this time" if vs is not None else None,
        border=True,
    )
    c2.metric(f"{label} — yesterday at this time, live then", FMT[m](base), border=True)


def today_ahead(rt: Runtime, status: dict, grp: str) -> bool:
    """Today's live numbers before the replay reaches them (the first start's preview:
    the same values the pipeline publishes, from the simulated arrivals)."""
    target, tz = status.get("catch_up_to_ms"), rt.settings.tz
    data = dashboard.preview_comparison(rt.first_start_preview(), target, tz, grp)
    if data is None:
        return False
    now, today, then = data["now_ms"], data["today_live"], data["yesterday_then"]
    st.markdown(
        f"#### {dashboard.local_datetime(now, tz):%A %d %B %Y} — as of {fmt_time(now, rt, '%H:%M')}"
    )
    c1, c2 = st.columns(2)
    c1.markdown("**Today (live, ahead of the replay)**")
    c2.markdown(f"**Yesterday at this time** ({fmt_time(data['yesterday_then_ms'], rt, '%H:%M')})")
    for m in dashboard.METRICS:
        today_and_then(c1, c2, m, today, then)
    st.caption(
        "Worked out from the simulated arrivals with the pipeline's own rules (its early "
        "panes; duplicates and invalid events left out): the numbers the replay will publish "
        "for these two moments. Versions, tiers, the hourly chart and the completeness "
        "estimate come with the replay."
    )
    return True


def replay_progress(
    rt: Runtime, load_today, status: dict, progress: float, grp: str, metric: str
) -> None:
    """The first start's panel: today's numbers ahead of the replay (when the preview
    has them), the replay's progress, and the day being replayed. ``load_today`` is
    the page's cached reader of a day's numbers."""
    st.session_state["today_caught_up_rerun"] = True
    at = fmt_time(status["proc_ms"], rt) if status["proc_ms"] else "the start"
    ahead = today_ahead(rt, status, grp)
    st.info(
        "**Catching up** — latewatch is replaying the simulated past week through the real "
        f"pipeline (now at {at}). "
        + (
            "The rest of Today appears when the replay reaches the present; "
            if ahead
            else "Today's numbers appear when the replay reaches the present; "
        )
        + "until then this panel shows the day being replayed and refreshes by itself."
    )
    st.progress(progress, text=f"Replay {progress:.0%} done{replay_eta(progress)}")
    if status["proc_ms"]:
        replay_preview(rt, load_today, status["proc_ms"], grp, metric)
