"""Today: the live numbers, labelled with their tier, next to yesterday's, with how
complete today is and what its final will probably be."""

import streamlit as st

from engine.core.timeutil import MINUTE_MS
from engine.views import dashboard, reconciliation, tables
from ui import charts
from ui.exports import download_buttons
from ui.format import fmt_count, fmt_money, fmt_time
from ui.router import ensure_router
from ui.runtime import get_runtime

ensure_router()

REFRESH_S = 5
FMT = {"revenue_cents": fmt_money, "orders": fmt_count, "items": fmt_count}

rt = get_runtime()
policy, tz = rt.settings.finalize, rt.settings.tz


@st.cache_data(ttl=REFRESH_S, show_spinner=False, max_entries=32)
def load_today(db_path: str, now_ms: int, grp: str) -> dict:
    store = get_runtime().store()
    cmp = dashboard.day_comparison(store, now_ms, policy, grp)
    return {
        **cmp,
        "hours": dashboard.day_hours(store, cmp["today"], policy, grp),
        "hours_yesterday": dashboard.day_hours(store, cmp["yesterday"], policy, grp),
        "days": dashboard.recent_days(store, now_ms, policy, 14, grp),
        "adjustments": reconciliation.booked_today(store, "daily", now_ms, policy.tz, grp),
    }


@st.cache_data(ttl=60, show_spinner=False, max_entries=16)
def load_completeness(db_path: str, now_ms: int, grp: str):
    return dashboard.day_completeness(get_runtime().store(), now_ms, policy, grp)


def day_label(ms: int) -> str:
    return dashboard.local_datetime(ms, tz).strftime("%a %d %b")


def schedule_caption(schedule: dashboard.TierSchedule, paused: bool = False) -> str:
    state = (
        "**Paused** — the clock is stopped, so these numbers do not move (resume on Operations)"
        if paused
        else f"Live • updates every {REFRESH_S} s"
    )
    return (
        f"{state} • preliminary tomorrow "
        f"({day_label(schedule.preliminary_ms)}), final on {day_label(schedule.final_ms)}"
    )


def tier_title(row: dict, schedule: dashboard.TierSchedule) -> str:
    tier = row.get("tier")
    if tier == "final":
        return "final"
    if tier == "preliminary":
        return f"preliminary • final on {day_label(schedule.final_ms)}"
    return "live"


def pct(x: float | None) -> str | None:
    return None if x is None else f"{x:+.1%}"


st.title("Today")
st.caption(
    "Revenue, orders and items for the current business day. Every number says which tier "
    "it is: **live** numbers still grow as late data arrives, **preliminary** numbers come "
    "from the T+1 batch recompute, **final** numbers (T+7) never change."
)
sources = sorted((rt.status()["operators"].get("hourly") or {}).get("per_key_watermarks_ms", {}))
left, right = st.columns([2, 3])
grp = left.selectbox(
    "Sources",
    ["*", *sources],
    format_func=lambda g: charts.SOURCE_LABEL.get(g, g),
    key="today_grp",
)
metric = right.segmented_control(
    "Chart metric",
    list(charts.METRIC_LABELS),
    default="revenue_cents",
    format_func=charts.METRIC_LABELS.get,
    key="today_metric",
)
metric = metric or "revenue_cents"


@st.fragment(run_every=REFRESH_S)
def live_panel(grp: str, metric: str) -> None:
    status = rt.status()
    progress = dashboard.catch_up_progress(status, rt.settings.history_days, tz)
    if progress is not None:
        st.session_state["today_caught_up_rerun"] = True
        at = fmt_time(status["proc_ms"], rt) if status["proc_ms"] else "the start"
        st.info(
            "**Catching up** — latewatch is replaying the simulated past week through the real "
            f"pipeline (now at {at}). Today's numbers appear when the replay reaches the "
            "present; this panel refreshes by itself."
        )
        st.progress(progress, text=f"Replay {progress:.0%} done")
        return
    if st.session_state.pop("today_caught_up_rerun", False):
        st.rerun(scope="app")  # the sidebar and the source list were drawn mid-replay
    now = status["proc_ms"] or status["now_ms"]
    data = load_today(rt.settings.db_path, now, grp)
    today, then, yest = data["today_live"], data["yesterday_then"], data["yesterday_latest"]

    st.markdown(
        f"#### {dashboard.local_datetime(now, tz):%A %d %B %Y} — as of {fmt_time(now, rt, '%H:%M')}"
    )
    st.caption(schedule_caption(data["today_schedule"], status["paused"]))
    if today["version"] is None:
        st.info(
            "No numbers for today yet: the first live result for a day appears about 30 minutes "
            "(simulated) after its first event arrives."
        )

    c1, c2, c3 = st.columns(3)
    c1.markdown("**Today (live)**")
    c2.markdown(f"**Yesterday at this time** ({fmt_time(data['yesterday_then_ms'], rt, '%H:%M')})")
    c3.markdown(f"**Yesterday ({tier_title(yest, data['yesterday_schedule'])})**")
    for m in dashboard.METRICS:
        label = charts.METRIC_LABELS[m]
        base = then[m]
        vs = (today[m] - base) / base if today[m] is not None and base else None
        c1.metric(
            f"{label} — today, live",
            FMT[m](today[m]),
            delta=f"{vs:+.1%} vs yesterday at this time" if vs is not None else None,
            border=True,
        )
        c2.metric(f"{label} — yesterday at this time, live then", FMT[m](base), border=True)
        growth = data["growth"][m]
        c3.metric(
            f"{label} — yesterday, {yest['tier'] or 'no data'}",
            FMT[m](yest[m]),
            delta=f"{growth:+.1%} after this time" if growth is not None else None,
            delta_color="off",  # growth after this hour is a fact, neither good nor bad
            delta_arrow="off",
            border=True,
        )
    c3.caption(
        "“After this time” is how much yesterday's number grew from this time of day to its "
        "latest version: the rest of the day plus late mobile, payment, partner and manual data."
    )
    adj = data["adjustments"]
    if adj["events"]:
        days = ", ".join(f"{dashboard.local_datetime(w, tz):%a %d %b}" for w in adj["windows_ms"])
        st.caption(
            f"Adjustments booked today to earlier final days: {fmt_money(adj['revenue_cents'])} "
            f"from {adj['events']:,} late event{'s' if adj['events'] != 1 else ''} ({days}). "
            "The final numbers of those days stay as they are; see Reconciliation."
        )

    st.subheader("How complete is today?")
    comp = load_completeness(rt.settings.db_path, now - now % (15 * MINUTE_MS), grp)
    projection = None
    if comp is None:
        st.info(
            "Not enough history for an estimate yet: completeness is learned from days that are "
            "at least 7 days old (their numbers count as final). It appears once such a day exists."
        )
    else:
        est = comp.estimate
        k1, k2, k3 = st.columns(3)
        k1.metric(
            "Completeness of today's revenue (estimate)", f"{est.completeness:.0%}", border=True
        )
        k2.metric(
            "Projected final revenue (estimate)",
            fmt_money(est.projected * 100),
            delta=f"range {fmt_money(est.low * 100)} – {fmt_money(est.high * 100)}",
            delta_color="off",
            delta_arrow="off",
            border=True,
        )
        k3.metric("Arrived so far (by event time)", fmt_money(est.observed * 100), border=True)
        st.progress(est.completeness, text=f"~{est.completeness:.0%} of today's final revenue")
        days = "day" if comp.history_days == 1 else "days"
        st.caption(
            f"From the arrival curves of the last {comp.history_days} past {days} per source "
            f"(estimated at {fmt_time(est.now_ms, rt, '%H:%M')}). Range: {est.interval_note()}."
        )
        projection = (data["today"], est.projected, est.low, est.high)
        if metric != "revenue_cents":
            projection = None

    st.subheader(f"{charts.METRIC_LABELS[metric]} by hour — today, coloured by tier")
    if data["hours"].empty:
        st.info(
            "No hourly results for today yet. The first hourly result appears ~10 minutes "
            "(simulated) after an hour's first event."
        )
    else:
        st.plotly_chart(
            charts.hourly_by_tier(data["hours"], data["hours_yesterday"], metric, tz),
            width="stretch",
            key="today_hours_chart",
        )
        download_buttons(
            tables.day_hours_table(data["hours"], tz),
            f"latewatch-hours-{data['today']}",
            key="today_dl_hours",
            label="Hours as",
        )
    st.subheader(f"{charts.METRIC_LABELS[metric]} — the last 14 days by tier")
    if data["days"].empty:
        st.info("No daily results yet.")
    else:
        st.plotly_chart(
            charts.days_by_tier(data["days"], metric, tz, projection),
            width="stretch",
            key="today_days_chart",
        )
        download_buttons(
            tables.days_table(data["days"]),
            f"latewatch-days-to-{data['today']}",
            key="today_dl_days",
            label="Days as",
        )
        st.caption(
            ":material/photo_camera: To save a chart as a PNG, use the camera button in its "
            "toolbar (top right of the chart, on hover)."
        )


live_panel(grp, metric)
