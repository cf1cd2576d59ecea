"""Versions: every number latewatch ever showed for one window, why it changed, and
which one is right ("why did Saturday change, and which number is right?")."""

from datetime import timedelta

import pandas as pd
import streamlit as st

from engine.core.timeutil import business_day_of, format_duration_ms
from engine.views import dashboard, more_metrics, reconciliation, tables
from engine.views import live as live_view
from engine.views.dashboard import DELAY_BUCKETS
from ui import charts
from ui.exports import download_buttons
from ui.format import fmt_count, fmt_money, fmt_time
from ui.replay import wait_for_replay
from ui.router import ensure_router
from ui.runtime import get_runtime
from ui.text import escape_markdown

ensure_router()

REFRESH_S = 10
FMT = {"revenue_cents": fmt_money, "orders": fmt_count, "items": fmt_count}
EVENT_ROWS = 500

rt = get_runtime()
policy, tz = rt.settings.finalize, rt.settings.tz


@st.cache_data(ttl=REFRESH_S, show_spinner=False, max_entries=64)
def load_history(db_path: str, series: str, start_ms: int, grp: str, stamp) -> pd.DataFrame:
    return get_runtime().store().history_frame(series, start_ms, grp)


@st.cache_data(ttl=REFRESH_S, show_spinner=False, max_entries=64)
def load_history_metric(
    db_path: str, series: str, start_ms: int, grp: str, stamp, metric: str
) -> pd.DataFrame:
    """The history with a non-additive metric per version, over the events it counted."""
    history = load_history(db_path, series, start_ms, grp, stamp)
    return more_metrics.window_metrics(get_runtime().store(), series, grp, history, [metric])


@st.cache_data(ttl=REFRESH_S, show_spinner=False, max_entries=64)
def load_adjustments(db_path: str, series: str, start_ms: int, grp: str, stamp) -> dict:
    return reconciliation.window_adjustments(get_runtime().store(), series, start_ms, grp)


@st.cache_data(ttl=300, show_spinner=False, max_entries=64)
def load_explain(db_path: str, series: str, start_ms: int, grp: str, a: int, b: int):
    exp = get_runtime().store().explain(series, start_ms, grp, a, b)
    return exp.delta, exp.breakdown_frame(), exp.events_frame(), exp.unexplained, exp.exact


def signed_money(cents) -> str:
    return ("+" if cents >= 0 else "−") + fmt_money(abs(cents))


def when(ms) -> str:
    return fmt_time(ms, rt, "%a %d %b %H:%M:%S")


def version_labels(history: pd.DataFrame) -> dict[int, str]:
    """The explain pickers' option labels, built once per run (not one frame lookup
    per option: a daily window has hundreds of versions)."""
    labels = {0: "nothing (before v1)"}
    for v, tier, reason, at in zip(
        history["version"],
        history["tier"],
        history["reason"],
        history["processing_time_ms"],
        strict=True,
    ):
        labels[int(v)] = f"v{int(v)} · {tier} · {reason} · {when(at)}"
    return labels


status = rt.status()
now = status["proc_ms"] or status["now_ms"]
today = business_day_of(now, tz)
sources = sorted((status["operators"].get("hourly") or {}).get("per_key_watermarks_ms", {}))

st.title("Versions")
wait_for_replay(rt, "the versions of every window")
st.caption(
    "A window's result is never overwritten: every firing and every batch job appends a "
    "version. Pick a window to see its versions over time, explain any change down to the "
    "events behind it, and see what the dashboard showed at any moment."
)

c1, c2, c3, c4 = st.columns([1.6, 1.4, 1.8, 1.4])
grain = c1.segmented_control(
    "Window", ["Day", "Hour"], default="Day", key="grain", bind="query-params"
)
series = dashboard.HOURLY if grain == "Hour" else dashboard.DAILY
grp = c2.selectbox(
    "Sources",
    ["*", *sources] if sources else ["*"],
    format_func=lambda g: charts.SOURCE_LABEL.get(g, g),
    key="source",
    bind="query-params",
)
day = c3.date_input(
    f"Business day ({tz})",
    value=today - timedelta(days=1),
    max_value=today,
    key="day",
    bind="query-params",
)
hour = None
if series == dashboard.HOURLY:
    # Labels are the local start times (what the URL carries); a repeated hour on the
    # DST fall-back day is told apart by its zone abbreviation.
    starts = [dashboard.local_datetime(s, tz) for s, _ in dashboard.hours_of_day(day, tz)]
    plain = [f"{d:%H:%M}" for d in starts]
    labels = [
        f"{d:%H:%M %Z}" if plain.count(p) > 1 else p for d, p in zip(starts, plain, strict=True)
    ]
    label = c4.selectbox(
        f"Hour starting ({tz})",
        labels,
        index=min(12, len(labels) - 1),
        key="hour",
        bind="query-params",
    )
    hour = labels.index(label)
start_ms, end_ms = dashboard.window_bounds(series, day, hour, tz)
window_name = f"{'All sources' if grp == '*' else escape_markdown(grp)} · " + (
    f"{dashboard.local_datetime(start_ms, tz):%A %d %B %Y}"
    if series == dashboard.DAILY
    else f"{fmt_time(start_ms, rt, '%a %d %b %Y, %H:%M')} – "
    f"{dashboard.local_datetime(end_ms, tz):%H:%M}"
)
st.subheader(window_name)

history = load_history(rt.settings.db_path, series, start_ms, grp, now)
if history.empty:
    if status.get("live"):
        st.info(live_view.no_data_yet(status, rt.settings.db_path, "versions of this window"))
    else:
        st.info(
            "This window has no versions yet. A window gets its first version when its first "
            "early result fires (about 10 minutes after its first event for hours, 30 minutes "
            "for days), and later ones as late data, patches and the T+1 / T+7 jobs arrive. "
            "Pick an earlier day."
        )
    st.stop()

schedule = dashboard.tier_schedule(business_day_of(start_ms, tz), policy)


@st.fragment(run_every=REFRESH_S)
def latest_panel(series: str, start_ms: int, grp: str) -> None:
    status = rt.status()
    stamp = status["proc_ms"] or status["now_ms"]
    hist = load_history(rt.settings.db_path, series, start_ms, grp, stamp)
    last = hist.iloc[-1]
    k1, k2, k3, k4 = st.columns(4)
    k1.metric(f"Latest revenue ({last['tier']})", fmt_money(last["revenue_cents"]), border=True)
    k2.metric(f"Latest orders ({last['tier']})", fmt_count(last["orders"]), border=True)
    k3.metric("Versions so far", fmt_count(len(hist)), border=True)
    if last["tier"] == "final":
        k4.metric(
            "Status",
            "Final",
            delta="never changes again",
            delta_color="off",
            delta_arrow="off",
            border=True,
        )
        st.markdown(
            f":material/verified: **Which number is right?** The final one: v{int(last['version'])}, "
            f"{fmt_money(last['revenue_cents'])}, computed {when(last['processing_time_ms'])}. "
            "Anything that arrives later for this window is booked as an adjustment in the "
            "current period, never by changing it."
        )
    else:
        k4.metric(
            f"Status ({last['tier']})",
            "Not final",
            delta=f"final on {dashboard.local_datetime(schedule.final_ms, tz):%a %d %b}",
            delta_color="off",
            delta_arrow="off",
            border=True,
        )
        st.markdown(
            f":material/info: **Which number is right?** None is final yet; the best available "
            f"is v{int(last['version'])} ({last['tier']}), {fmt_money(last['revenue_cents'])}. "
            f"The final number is computed {fmt_time(schedule.final_ms, rt, '%a %d %b at %H:%M')}."
        )
    if last["tier"] == "final":
        adj = load_adjustments(rt.settings.db_path, series, start_ms, grp, stamp)
        if adj["events"]:
            periods = ", ".join(
                f"{dashboard.local_datetime(p, tz):%a %d %b}" for p in adj["periods_ms"]
            )
            st.info(
                f"{adj['events']:,} later event{'s' if adj['events'] != 1 else ''}, "
                f"{fmt_money(adj['revenue_cents'])}, booked to {periods} as adjustments "
                "(the final number above stays as it is; see Reconciliation)."
            )
    state = "Paused (resume on Operations)" if status["paused"] else "Live"
    st.caption(f"{state} • updates every {REFRESH_S} s • as of {when(stamp)}")


latest_panel(series, start_ms, grp)

st.subheader("Version timeline")
metric = st.segmented_control(
    "Metric",
    list(charts.CHART_METRIC_LABELS),
    default="revenue_cents",
    format_func=charts.CHART_METRIC_LABELS.get,
    key="v_metric",
)
metric = metric or "revenue_cents"
more = metric in charts.MORE_METRIC_LABELS
if more:
    history = load_history_metric(rt.settings.db_path, series, start_ms, grp, now, metric)
    st.caption(
        f"{charts.CHART_METRIC_LABELS[metric]} of each version over the events that version "
        "counted (the events behind its revenue and orders) — not a sum, so it is read per "
        "version, never added up from hours or sources."
    )
bands = dashboard.tier_bands(history, now)
st.plotly_chart(
    charts.version_timeline(history, bands, metric, tz), width="stretch", key="v_timeline"
)

st.markdown("**All versions, with the change from the previous one**")
every = st.toggle(
    "Every column",
    key="v_every_column",
    help="Off: the version, when, tier, reason and the metric chosen above, and for the "
    "events behind a change their source, type, amount, time and delay (fits a narrow "
    "screen). On: every column of both tables.",
)
table = pd.DataFrame(
    {
        "Version": history["version"],
        f"Computed at ({tz})": charts.wall_clock(history["processing_time_ms"], tz),
        "Tier": history["tier"],
        "Reason": history["reason"],
        "Revenue": history["revenue_cents"] / 100,
        "Δ revenue": [signed_money(int(c)) for c in history["delta_revenue_cents"]],
        "Orders": history["orders"],
        "Δ orders": history["delta_orders"],
        "Items": history["items"],
        "Δ items": history["delta_items"],
        **(
            {
                charts.CHART_METRIC_LABELS[metric]: (
                    history[metric] / 100 if charts.is_money(metric) else history[metric]
                )
            }
            if more
            else {}
        ),
        "Events": history["event_count"],
        f"Watermark ({tz})": [
            None if w is None or pd.isna(w) else v
            for w, v in zip(
                history["watermark_ms"],
                charts.wall_clock(history["watermark_ms"].fillna(0), tz),
                strict=True,
            )
        ],
    }
)
dt_fmt = "ddd DD MMM HH:mm:ss"
chosen_cols = {
    "revenue_cents": ["Revenue", "Δ revenue"],
    "orders": ["Orders", "Δ orders"],
    "items": ["Items", "Δ items"],
}.get(metric, [charts.CHART_METRIC_LABELS[metric]])
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_order=None
    if every
    else ["Version", f"Computed at ({tz})", "Tier", "Reason", *chosen_cols],
    column_config={
        "Version": st.column_config.NumberColumn("Version", width=58),
        "Tier": st.column_config.TextColumn("Tier", width=84),
        "Revenue": st.column_config.NumberColumn("Revenue (USD)", format="dollar", width=105),
        "Δ revenue": st.column_config.TextColumn("Δ revenue", width=100),
        "Reason": st.column_config.TextColumn("Reason", width=82),
        f"Computed at ({tz})": st.column_config.DatetimeColumn(
            "Computed at",
            format="ddd DD MMM HH:mm" if not every else dt_fmt,
            width=124,
            help=f"Processing time, in {tz}",
        ),
        f"Watermark ({tz})": st.column_config.DatetimeColumn(
            "Watermark", format=dt_fmt, help=f"The watermark when it was computed, in {tz}"
        ),
        "Δ orders": st.column_config.NumberColumn(format="%+d"),
        "Δ items": st.column_config.NumberColumn(format="%+d"),
        "Avg order value": st.column_config.NumberColumn("Avg order (USD)", format="dollar"),
        "Median order value": st.column_config.NumberColumn("Median order (USD)", format="dollar"),
        "Distinct users": st.column_config.NumberColumn("Users", format="localized"),
    },
    key="v_table",
)
download_buttons(
    lambda: tables.version_history_table(history, tz),
    f"latewatch-versions-{series}-{start_ms}-{'all' if grp == '*' else grp}",
    key="v_dl_history",
    label="Versions as",
)

st.subheader("Explain a change")
versions = [int(v) for v in history["version"]]
a_default, b_default = dashboard.default_explain_pair(history)
labels = version_labels(history)
wid = f"{series}_{start_ms}_{grp}"
# one above the other: side by side at 1024 px a label like "v50 · preliminary ·
# late_data · Fri 20 Nov 00:00:00" was cut
e1, e2 = st.container(), st.container()
va = e1.selectbox(
    "From version",
    [0, *versions],
    index=[0, *versions].index(a_default),
    format_func=labels.get,
    key=f"explain_a_{wid}",
)
vb = e2.selectbox(
    "To version",
    versions,
    index=versions.index(b_default),
    format_func=labels.get,
    key=f"explain_b_{wid}",
)
if va > vb:
    st.caption(f"Showing the change from v{vb} to v{va} (the earlier version first).")
    va, vb = vb, va
delta, breakdown, events, unexplained, exact = load_explain(
    rt.settings.db_path, series, start_ms, grp, va, vb
)
d1, d2, d3, d4 = st.columns(4)
d1.metric("Change in revenue", signed_money(delta["revenue_cents"]), border=True)
d2.metric("Change in orders", f"{delta['orders']:+,}", border=True)
d3.metric("Change in items", f"{delta['items']:+,}", border=True)
d4.metric("Events behind it", fmt_count(len(events)), border=True)
if va == vb:
    st.info("Pick two different versions to see what changed between them.")
elif exact:
    st.success(
        f"The breakdown below sums exactly to the change from v{va} to v{vb}: every cent is "
        "accounted for by the events first counted (or removed) in between."
    )
else:
    st.warning(
        "Part of this change is not explained by recorded events "
        f"(revenue {fmt_money(unexplained['revenue_cents'])}, orders {unexplained['orders']:+,}). "
        "That happens for windows computed before per-event contributions were recorded."
    )
if not breakdown.empty:
    # a change in an average, a median or a distinct count is not a sum of the events
    # behind it: the breakdown shows what those events added to revenue instead
    st.plotly_chart(
        charts.explain_bars(breakdown, "revenue_cents" if more else metric),
        width="stretch",
        key="v_explain",
    )
    if more:
        st.caption(
            f"{charts.CHART_METRIC_LABELS[metric]} does not split into per-event parts, so the "
            "chart shows the revenue the events behind this change added."
        )
    bucket_order = {label: i for i, (label, _) in enumerate(DELAY_BUCKETS)}
    st.markdown("**By source and arrival delay**")
    st.dataframe(
        breakdown.assign(revenue=breakdown["revenue_cents"] / 100)
        .sort_values(
            ["source", "delay_bucket"],
            key=lambda s: s.map(bucket_order) if s.name == "delay_bucket" else s,
        )
        .drop(columns=["revenue_cents"]),
        hide_index=True,
        width="stretch",
        column_config={
            "source": "Source",
            "delay_bucket": "Arrival delay",
            "n_events": st.column_config.NumberColumn("Events (net)"),
            "revenue": st.column_config.NumberColumn("Revenue (USD)", format="dollar"),
            "orders": "Orders",
            "items": "Items",
            "events": "Events counted",
        },
        key="v_breakdown",
    )
    st.markdown(
        f"**The events behind it** ({'first ' + str(EVENT_ROWS) + ' of ' if len(events) > EVENT_ROWS else ''}"
        f"{len(events):,}; sign −1 = removed by a recompute)"
    )
    ev = events.head(EVENT_ROWS)
    st.dataframe(
        pd.DataFrame(
            {
                "Version": ev["version"],
                "Sign": ev["sign"],
                "Source": ev["source"],
                "Type": ev["event_type"],
                "Amount": ev["amount_cents"] / 100,
                "Items": ev["items"],
                f"Event time ({tz})": charts.wall_clock(ev["event_time_ms"], tz),
                f"Arrived ({tz})": charts.wall_clock(ev["arrival_time_ms"], tz),
                "Arrival delay": [
                    format_duration_ms(int(a - e))
                    for a, e in zip(ev["arrival_time_ms"], ev["event_time_ms"], strict=True)
                ],
                "Event id": ev["event_id"],
            }
        ),
        hide_index=True,
        width="stretch",
        column_order=None
        if every
        else [
            "Version",
            *(["Sign"] if (ev["sign"] < 0).any() else []),
            "Source",
            "Type",
            "Amount",
            f"Event time ({tz})",
            "Arrival delay",
        ],
        column_config={
            "Version": st.column_config.NumberColumn("Version", width=62),
            "Source": st.column_config.TextColumn("Source", width=75),
            "Type": st.column_config.TextColumn("Type", width=100),
            "Amount": st.column_config.NumberColumn("Amount (USD)", format="dollar", width=95),
            f"Event time ({tz})": st.column_config.DatetimeColumn(
                "Event time", format=dt_fmt, width=135, help=f"In {tz}"
            ),
            f"Arrived ({tz})": st.column_config.DatetimeColumn(
                "Arrived", format=dt_fmt, help=f"In {tz}"
            ),
            "Arrival delay": st.column_config.TextColumn("Arrival delay", width=95),
        },
        key="v_events",
    )
    d_stem = f"latewatch-explain-{series}-{start_ms}-v{va}-v{vb}"
    st.markdown("Download the breakdown and every event behind it (not only the first rows):")
    download_buttons(
        lambda: tables.explain_breakdown_table(breakdown),
        d_stem + "-breakdown",
        key="v_dl_breakdown",
        label="Breakdown as",
    )
    download_buttons(
        lambda: tables.explain_events_table(events, tz),
        d_stem + "-events",
        key="v_dl_events",
        label="Events as",
    )

st.subheader("As of: what did the dashboard show then?")
default_at = min(end_ms - 60_000, now)  # the last minute of the window, or now
a1, a2 = st.columns(2)
as_day = a1.date_input(
    f"Date ({tz})", value=dashboard.local_datetime(default_at, tz).date(), key=f"asof_day_{wid}"
)
as_time = a2.time_input(
    f"Time ({tz})",
    value=dashboard.local_datetime(default_at, tz).time().replace(second=0, microsecond=0),
    step=timedelta(minutes=15),
    key=f"asof_time_{wid}",
)
at_ms = dashboard.local_to_ms(as_day, as_time, tz)
shown = rt.store().as_of(series, start_ms, grp, at_ms)
last = history.iloc[-1]
if shown is None:
    st.info(
        f"At {when(at_ms)} this window had no number yet: its first version was computed "
        f"{when(history.iloc[0]['processing_time_ms'])}."
    )
else:
    s1, s2, s3 = st.columns(3)
    s1.metric(
        f"Shown at {fmt_time(at_ms, rt, '%a %d %b %H:%M')}",
        fmt_money(shown["revenue_cents"]),
        delta=f"v{shown['version']} · {shown['tier']} · {shown['reason']}",
        delta_color="off",
        delta_arrow="off",
        border=True,
    )
    s2.metric(
        f"Latest ({last['tier']})",
        fmt_money(last["revenue_cents"]),
        delta=f"v{int(last['version'])}",
        delta_color="off",
        delta_arrow="off",
        border=True,
    )
    s3.metric(
        "Change since then",
        signed_money(int(last["revenue_cents"]) - int(shown["revenue_cents"])),
        delta=f"{int(last['orders']) - int(shown['orders']):+,} orders",
        delta_color="off",
        delta_arrow="off",
        border=True,
    )
