"""Today: the live numbers, labelled with their tier, next to yesterday's, with how
complete today is and what its final will probably be."""

from datetime import timedelta

import streamlit as st

from engine.core.timeutil import HOUR_MS, MINUTE_MS, business_day_of
from engine.views import dashboard, more_metrics, reconciliation, tables
from engine.views import days as day_views
from engine.views import live as live_view
from ui import charts
from ui.exports import download_buttons
from ui.format import fmt_money, fmt_time
from ui.recent import Recent
from ui.router import ensure_router
from ui.runtime import get_runtime
from ui.today_view import FMT, replay_progress, today_and_then

ensure_router()

REFRESH_S = 5
CHARTS_REFRESH_S = 15  # the charts' own fragment (redrawn only when a result changed)
REPLAY_REFRESH_S = 3

rt = get_runtime()
policy, tz = rt.settings.finalize, rt.settings.tz


def with_metric(store, series: str, grp: str, frame, metric: str):
    """A non-additive chart metric per window, read from the versions shown (never summed)."""
    return more_metrics.window_metrics(store, series, grp, frame, [metric], version_col="versions")


@st.cache_data(ttl=REFRESH_S, show_spinner=False, max_entries=32)
def load_numbers(db_path: str, now_ms: int, grp: str) -> dict:
    """Today's live numbers next to yesterday's, and today's adjustments: they move
    with the clock ("yesterday at this time"), so they are read at ``now_ms``."""
    store = get_runtime().store()
    return {
        **dashboard.day_comparison(store, now_ms, policy, grp),
        "adjustments": reconciliation.booked_today(store, "daily", now_ms, policy.tz, grp),
    }


@st.cache_data(show_spinner=False, max_entries=32)
def load_charts(db_path: str, day, grp: str, metric: str, stamp: int) -> dict:
    """The charts' frames: ``day``'s hours and the day before's, and the 14 days up to
    ``day``. They change only when a result is written, so they are keyed on the
    store's newest result (``stamp``) instead of the clock: a click or a refresh
    with no new result reuses them (and Plotly redraws nothing)."""
    store = get_runtime().store()
    hours = dashboard.day_hours(store, day, policy, grp)
    hours_y = dashboard.day_hours(store, day - timedelta(days=1), policy, grp)
    start = dashboard.window_bounds(dashboard.DAILY, day, None, tz)[0]
    days = dashboard.recent_days(store, start, policy, 14, grp)
    return {
        "hours": with_metric(store, dashboard.HOURLY, grp, hours, metric),
        "hours_yesterday": with_metric(store, dashboard.HOURLY, grp, hours_y, metric),
        "days": with_metric(store, dashboard.DAILY, grp, days, metric),
    }


def load_today(db_path: str, now_ms: int, grp: str, metric: str) -> dict:
    """Today's numbers at ``now_ms`` and its charts' frames, as one dict."""
    numbers = load_numbers(db_path, now_ms, grp)
    stamp = get_runtime().store().results_stamp()
    return {**numbers, **load_charts(db_path, numbers["today"], grp, metric, stamp)}


@st.cache_data(ttl=REFRESH_S, show_spinner=False, max_entries=32)
def load_week(db_path: str, now_ms: int, grp: str) -> dict:
    return day_views.week_comparison(get_runtime().store(), now_ms, policy, grp)


@st.cache_data(ttl=30, show_spinner=False, max_entries=32)
def load_day(db_path: str, day, grp: str, stamp: int, metric: str) -> dict:
    """A past business day next to the day before and the same weekday a week earlier."""
    store = get_runtime().store()
    before, week_ago = day - timedelta(days=1), day - timedelta(days=7)
    hours = dashboard.day_hours(store, day, policy, grp)
    hours_before = dashboard.day_hours(store, before, policy, grp)
    days = dashboard.recent_days(
        store, dashboard.window_bounds(dashboard.DAILY, day, None, tz)[0], policy, 14, grp
    )
    return {
        "day": day_views.day_summary(store, day, policy, grp),
        "before": day_views.day_summary(store, before, policy, grp),
        "week_ago": day_views.day_summary(store, week_ago, policy, grp),
        "hours": with_metric(store, dashboard.HOURLY, grp, hours, metric),
        "hours_before": with_metric(store, dashboard.HOURLY, grp, hours_before, metric),
        "days": with_metric(store, dashboard.DAILY, grp, days, metric),
    }


@st.cache_resource(show_spinner=False)
def slow_reads() -> dict[str, Recent]:
    """The two reads of the raw log that cost a click 0.1-0.5 s, kept per runtime: a
    value one clock step old is shown (with the time it is as of) while the current
    step is computed in the background (ui.recent). Keyed on the business day too, so
    midnight never shows yesterday's figures as today's."""
    runtime = get_runtime()
    finalize = runtime.settings.finalize

    def completeness(db_path, grp, day, at_ms):
        return dashboard.day_completeness(runtime.store(), at_ms, finalize, grp)

    def more(db_path, grp, day, at_ms):
        return more_metrics.comparison_table(runtime.store(), at_ms, finalize, grp)

    return {
        "completeness": Recent(completeness, HOUR_MS, "today-completeness"),
        "more": Recent(more, 10 * MINUTE_MS, "today-more-metrics"),
    }


def load_more_metrics(db_path: str, now_ms: int, grp: str):
    """(the minute the table is as of, the table)"""
    at = now_ms - now_ms % MINUTE_MS
    return slow_reads()["more"].get((db_path, grp, business_day_of(at, tz)), at)


def load_completeness(db_path: str, now_ms: int, grp: str):
    """Today's completeness estimate (its ``estimate.now_ms`` says when it is as of)."""
    at = now_ms - now_ms % (15 * MINUTE_MS)
    return slow_reads()["completeness"].get((db_path, grp, business_day_of(at, tz)), at)[1]


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
status0 = rt.status()
sources = sorted((status0["operators"].get("hourly") or {}).get("per_key_watermarks_ms", {}))
# the replay's position; during a first start "today" is already the day it catches up to
replayed_to = business_day_of(status0["proc_ms"] or status0["now_ms"], tz)
catching_up = dashboard.catch_up_progress(status0, rt.settings.history_days, tz) is not None
today0 = business_day_of(status0["catch_up_to_ms"], tz) if catching_up else replayed_to
# The picker's default is "today". When today moves on (the first-start replay reaches
# the present, or midnight passes) a picker still on the old default follows it; a day
# the viewer picked stays picked.
shown_today = st.session_state.get("date_default")
if (
    shown_today is not None
    and shown_today != today0
    and st.session_state.get("date")
    in (
        shown_today,
        None,
    )
):
    st.session_state["date"] = today0
st.session_state["date_default"] = today0
left, mid, right = st.columns([2, 2, 3])
picked = mid.date_input(
    f"Business day ({tz})",
    value=today0,
    max_value=today0,
    key="date",  # not "day": Versions binds that one, and widget state outlives a page
    bind="query-params",
    help="Today is live; pick any earlier day to see its numbers with their tier and versions.",
)
grp = left.selectbox(
    "Sources",
    ["*", *sources],
    format_func=lambda g: charts.SOURCE_LABEL.get(g, g),
    key="today_grp",
)
metric = right.selectbox(
    "Chart metric",
    list(charts.CHART_METRIC_LABELS),
    format_func=charts.CHART_METRIC_LABELS.get,
    key="today_metric",
    help="Average and median order value and distinct users are not sums: each hour and "
    "each day shows its own value, over the events its latest version counted.",
)
metric = metric or "revenue_cents"


@st.cache_resource(max_entries=16, show_spinner=False)
def hours_figure(hours, hours_before, metric: str, names: tuple[str, str]):
    """The hourly chart, built once per frames: Plotly validates every property it is
    given (~30-50 ms a figure). Shared read-only; ``st.plotly_chart`` copies it."""
    return charts.hourly_by_tier(hours, hours_before, metric, tz, names=names)


@st.cache_resource(max_entries=16, show_spinner=False)
def days_figure(recent, metric: str, projection):
    """The 14 days' chart, built once per frame and projection (see ``hours_figure``)."""
    return charts.days_by_tier(recent, metric, tz, projection)


@st.cache_resource(max_entries=8, show_spinner=False)
def live_charts_view(db_path: str, day, grp: str, metric: str, stamp: int, projection) -> dict:
    """Today's chart frames and both figures, keyed on scalars: the store's newest
    result (``stamp``) and the projection. Hashing the frames for ``hours_figure`` and
    unpickling ``load_charts``'s copies cost every run ~40 ms; this is one dict lookup
    until a result is written. Shared read-only."""
    data = load_charts(db_path, day, grp, metric, stamp)
    return {
        **data,
        "figures": (
            charts.hourly_by_tier(
                data["hours"], data["hours_yesterday"], metric, tz, names=("Today", "Yesterday")
            ),
            charts.days_by_tier(data["days"], metric, tz, projection),
        ),
    }


def charts_section(
    hours, hours_before, recent, day, metric: str, projection=None, live=True, figures=None
):
    """The day's hours by tier (with the day before as a line) and the 14 days up to it,
    each with its downloads. ``figures``: the two figures, already built."""
    name = charts.CHART_METRIC_LABELS[metric]
    which = "today" if live else f"{day:%a %d %b}"
    st.subheader(f"{name} by hour — {which}, coloured by tier")
    if hours.empty:
        status = rt.status()
        st.info(
            live_view.no_data_yet(status, rt.settings.db_path, "hourly results for this day")
            if status.get("live")
            else "No hourly results for this day yet. The first hourly result appears ~10 "
            "minutes (simulated) after an hour's first event."
        )
    else:
        st.plotly_chart(
            figures[0]
            if figures
            else hours_figure(
                hours,
                hours_before,
                metric,
                ("Today", "Yesterday") if live else (which, "The day before"),
            ),
            width="stretch",
            key="today_hours_chart",
        )
        download_buttons(
            lambda: tables.day_hours_table(hours, tz),
            f"latewatch-hours-{day}",
            key="today_dl_hours",
            label="Hours as",
        )
    if metric in charts.MORE_METRIC_LABELS:
        st.caption(
            f"{name} is not a sum: each hour and each day shows its own value, over the "
            "events its latest version counted — a day's value is not the total or the "
            "average of its hours."
        )
    st.subheader(f"{name} — the 14 days up to {which} by tier")
    st.plotly_chart(
        figures[1] if figures else days_figure(recent, metric, projection),
        width="stretch",
        key="today_days_chart",
    )
    download_buttons(
        lambda: tables.days_table(recent),
        f"latewatch-days-to-{day}",
        key="today_dl_days",
        label="Days as",
    )
    st.caption(
        ":material/photo_camera: To save a chart as a PNG, use the camera button in its "
        "toolbar (top right of the chart, on hover)."
    )


def state_line(row: dict) -> str:
    """A past day's tier in words, with when it changes next."""
    sched = row["schedule"]
    if row["tier"] is None:
        return "no result"
    if row["is_final"]:
        return f"final since {fmt_time(sched.final_ms, rt, '%a %d %b %H:%M')} — never changes again"
    if row["tier"] == "preliminary":
        return f"preliminary — final on {fmt_time(sched.final_ms, rt, '%a %d %b at %H:%M')}"
    return f"live — preliminary on {fmt_time(sched.preliminary_ms, rt, '%a %d %b at %H:%M')}"


@st.fragment(run_every=REFRESH_S * 6)
def day_panel(day, grp: str, metric: str) -> None:
    """Any past business day: its best number with tier and versions, next to the day
    before and the same weekday a week earlier."""
    status = rt.status()
    stamp = int(status["proc_ms"] or status["now_ms"] or 0) // 30_000
    data = load_day(rt.settings.db_path, day, grp, stamp, metric)
    d, before, week_ago = data["day"], data["before"], data["week_ago"]
    st.markdown(f"#### {day:%A %d %B %Y} — {state_line(d)}")
    if d["versions"]:
        st.caption(
            f"{d['versions']:,} versions; this is v{d['version']} ({d['reason']}), computed "
            f"{fmt_time(d['processing_time_ms'], rt, '%a %d %b %H:%M')}."
        )
        st.page_link(
            "pages/versions.py",
            label="See every version of this day, and explain the changes",
            icon=":material/history:",
            query_params={"day": str(day), **({} if grp == "*" else {"source": grp})},
        )
    else:
        st.info("This day has no results: nothing was recorded for it.")
    c1, c2, c3 = st.columns(3)
    c1.markdown(f"**{day:%a %d %b}** ({d['tier'] or 'no data'})")
    c2.markdown(f"**The day before** ({before['tier'] or 'no data'})")
    c3.markdown(f"**Same day a week earlier** ({week_ago['tier'] or 'no data'})")
    for m in dashboard.METRICS:
        label = charts.METRIC_LABELS[m]
        vs_before = (d[m] - before[m]) / before[m] if d[m] is not None and before[m] else None
        vs_week = (d[m] - week_ago[m]) / week_ago[m] if d[m] is not None and week_ago[m] else None
        c1.metric(f"{label} — {d['tier'] or 'no data'}", FMT[m](d[m]), border=True)
        c2.metric(
            f"{label} — the day before",
            FMT[m](before[m]),
            delta=f"{vs_before:+.1%} {day:%a} vs it" if vs_before is not None else None,
            border=True,
        )
        c3.metric(
            f"{label} — a week earlier",
            FMT[m](week_ago[m]),
            delta=f"{vs_week:+.1%} {day:%a} vs it (week over week)"
            if vs_week is not None
            else None,
            border=True,
        )
    charts_section(data["hours"], data["hours_before"], data["days"], day, metric, live=False)


@st.fragment(run_every=REPLAY_REFRESH_S)
def replay_panel(grp: str, metric: str) -> None:
    """The first-start replay, refreshed more often than the live panel (the replay
    moves a simulated hour every fraction of a second); the whole page reruns when
    it reaches the present."""
    status = rt.status()
    progress = dashboard.catch_up_progress(status, rt.settings.history_days, tz)
    if progress is None:
        st.session_state.pop("today_caught_up_rerun", None)
        st.rerun(scope="app")
    replay_progress(rt, load_today, status, progress, grp, metric)


@st.fragment(run_every=REFRESH_S)
def live_panel(grp: str, metric: str) -> None:
    status = rt.status()
    progress = dashboard.catch_up_progress(status, rt.settings.history_days, tz)
    if progress is not None:
        replay_progress(rt, load_today, status, progress, grp, metric)
        return
    if st.session_state.pop("today_caught_up_rerun", False):
        st.rerun(scope="app")  # the sidebar and the source list were drawn mid-replay
    now = status["proc_ms"] or status["now_ms"]
    data = load_numbers(rt.settings.db_path, now, grp)
    today, then, yest = data["today_live"], data["yesterday_then"], data["yesterday_latest"]

    st.markdown(
        f"#### {dashboard.local_datetime(now, tz):%A %d %B %Y} — as of {fmt_time(now, rt, '%H:%M')}"
    )
    st.caption(schedule_caption(data["today_schedule"], status["paused"]))
    if today["version"] is None:
        st.info(
            live_view.no_data_yet(status, rt.settings.db_path, "numbers for today")
            if status.get("live")
            else "No numbers for today yet: the first live result for a day appears about 30 "
            "minutes (simulated) after its first event arrives."
        )

    c1, c2, c3 = st.columns(3)
    c1.markdown("**Today (live)**")
    c2.markdown(f"**Yesterday at this time** ({fmt_time(data['yesterday_then_ms'], rt, '%H:%M')})")
    c3.markdown(f"**Yesterday ({tier_title(yest, data['yesterday_schedule'])})**")
    for m in dashboard.METRICS:
        today_and_then(c1, c2, m, today, then)
        growth = data["growth"][m]
        c3.metric(
            f"{charts.METRIC_LABELS[m]} — yesterday, {yest['tier'] or 'no data'}",
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
    week = load_week(rt.settings.db_path, now, grp)
    then_label = fmt_time(week["then_ms"], rt, "%a %d %b %H:%M")
    st.markdown(f"**A week ago** — same weekday at this time ({then_label}), and the week")
    w1, w2, w3 = st.columns(3)
    for col, m in zip((w1, w2, w3), dashboard.METRICS, strict=True):
        label = charts.METRIC_LABELS[m]
        change, wow = week["change"][m], week["wow"][m]
        col.metric(
            f"{label} — same day last week at this time",
            FMT[m](week["last_week_then"][m]),
            delta=f"{change:+.1%} today vs it" if change is not None else None,
            border=True,
        )
        col.caption(
            f"Week over week: {wow:+.1%} (the last 7 days, {FMT[m](week['week'][m])}, vs the "
            f"7 before, {FMT[m](week['week_before'][m])}; both up to this time of day)"
            if wow is not None
            else "Week over week: needs 14 days of results "
            f"({week['week']['days'] + week['week_before']['days']} so far)."
        )
    more_at, more = load_more_metrics(rt.settings.db_path, now, grp)
    st.markdown(
        f"**Average and median order value, distinct users** — as of {fmt_time(more_at, rt, '%H:%M')}"
    )
    st.dataframe(
        more,
        hide_index=True,
        width="stretch",
        column_config={  # widths that fit 1024 px without a sideways scroll
            "Day": st.column_config.TextColumn("Day", width=225),
            "Distinct users": st.column_config.NumberColumn("Users", format="localized", width=65),
            "Events": st.column_config.NumberColumn(format="localized", width=65),
            "Average order value": st.column_config.NumberColumn(
                "Avg order", format="dollar", width=85
            ),
            "Median order value": st.column_config.NumberColumn(
                "Median order", format="dollar", width=95
            ),
        },
        key="today_more_metrics",
    )
    st.caption(
        "An average, a median or a count of distinct users cannot be patched from a sum the "
        "way late events patch revenue, so these are recomputed from the raw log: over the "
        "events that had *arrived* by the time named in each row (“all to now”: "
        "yesterday's events with everything that arrived up to now)."
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
    comp = load_completeness(rt.settings.db_path, now, grp)
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


@st.fragment(run_every=CHARTS_REFRESH_S)
def live_charts(grp: str, metric: str) -> None:
    """Today's two charts, in their own fragment: the numbers above refresh every
    ``REFRESH_S`` seconds, the charts less often, and their frames and figures are
    reused until a result is written (an unchanged figure is not redrawn)."""
    status = rt.status()
    if dashboard.catch_up_progress(status, rt.settings.history_days, tz) is not None:
        return  # the live panel shows the replay
    now = status["proc_ms"] or status["now_ms"]
    day = business_day_of(now, tz)
    comp = load_completeness(rt.settings.db_path, now, grp)
    projection = None
    if comp is not None and metric == "revenue_cents":
        est = comp.estimate
        projection = (day, est.projected, est.low, est.high)
    stamp = rt.store().results_stamp()
    data = live_charts_view(rt.settings.db_path, day, grp, metric, stamp, projection)
    charts_section(
        data["hours"],
        data["hours_yesterday"],
        data["days"],
        day,
        metric,
        projection,
        figures=data["figures"],
    )
    st.caption(
        f"Charts as of {fmt_time(now, rt, '%H:%M')}; they refresh every {CHARTS_REFRESH_S} s, "
        f"the numbers above every {REFRESH_S} s."
    )


if picked is not None and picked < min(today0, replayed_to):
    day_panel(picked, grp, metric)
elif catching_up:  # (a day the replay has not reached yet shows the replay too)
    replay_panel(grp, metric)
else:
    live_panel(grp, metric)
    live_charts(grp, metric)
