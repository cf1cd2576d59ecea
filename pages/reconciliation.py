"""Reconciliation: the streaming number next to the preliminary (T+1) and final (T+7)
batch numbers, per day or hour and metric — how far apart they were, which sources the
difference came from, and what was booked later as adjustments to final days."""

import pandas as pd
import streamlit as st

from engine.core.timeutil import DAY_MS, HOUR_MS
from engine.views import live as live_view
from engine.views import reconciliation as recon
from engine.views.dashboard import ALL_SOURCES, local_datetime
from ui import reconciliation as rfmt
from ui.exports import download_buttons
from ui.format import fmt_time
from ui.replay import wait_for_replay
from ui.router import ensure_router
from ui.runtime import get_runtime

ensure_router()

SERIES = {"daily": "Days", "hourly": "Hours"}
RANGES_DAYS = {"Last 14 days": 14, "Last 30 days": 30, "Last 90 days": 90}

rt = get_runtime()
tz = rt.settings.tz


@st.cache_data(ttl=30, show_spinner=False, max_entries=32)
def load(db_path: str, series: str, metric: str, grp: str, from_ms: int, to_ms: int):
    store = get_runtime().store()
    frame = recon.reconciliation(store, series, from_ms, to_ms, metric, grp)
    return frame, recon.summary(frame)


@st.cache_data(ttl=30, show_spinner=False, max_entries=32)
def load_sources(db_path: str, series: str, window_start_ms: int, metric: str):
    return recon.by_source(get_runtime().store(), series, window_start_ms, metric)


@st.cache_data(ttl=30, show_spinner=False, max_entries=16)
def load_booked(db_path: str, series: str, from_ms: int, to_ms: int):
    return recon.adjustments_booked(get_runtime().store(), series, from_ms, to_ms)


@st.cache_data(ttl=300, show_spinner=False)
def load_sources_list(db_path: str, series: str, since_ms: int) -> list[str]:
    return recon.groups(get_runtime().store(), series, since_ms)


st.title("Reconciliation")
st.caption(
    "The streaming number is what the live dashboard showed before any batch job touched "
    "the window; the preliminary number is the T+1 recompute from the raw log; the final "
    "number is the T+7 one. Differences are later minus earlier. A growing gap means a "
    "source arrives later than the pipeline allows for."
)

# two rows of two: in one row of four, "Days | Hours" and "Last 14 days" were cut at 1024 px
c1, c2 = st.columns(2)
c3, c4 = st.columns(2)
series = c1.segmented_control(
    "Windows", list(SERIES), default="daily", format_func=SERIES.get, key="rc_series"
)
series = series or "daily"
metric = c2.selectbox(
    "Metric", list(rfmt.METRIC_NAMES), format_func=rfmt.METRIC_NAMES.get, key="rc_metric"
)
span = c3.selectbox("Range", list(RANGES_DAYS), key="rc_range")
wait_for_replay(rt, "streaming, preliminary and final numbers side by side")
status = rt.status()
now = status["proc_ms"] or status["now_ms"]
to_ms = now - now % HOUR_MS + HOUR_MS
from_ms = to_ms - RANGES_DAYS[span] * DAY_MS
sources = load_sources_list(rt.settings.db_path, series, from_ms - from_ms % DAY_MS)
grp = c4.selectbox(
    "Sources",
    [ALL_SOURCES, *(g for g in sources if g != ALL_SOURCES)],
    format_func=lambda g: "All sources" if g == ALL_SOURCES else g,
    key="rc_grp",
)
frame, summary = load(rt.settings.db_path, series, metric, grp, from_ms, to_ms)
daily = series == "daily"

if frame.empty:
    st.info(
        "No windows in this range yet. Reconciliation needs streaming results first (send "
        "events, or let the simulator run); preliminary and final numbers follow from the "
        "T+1 and T+7 jobs. Try a longer range."
    )
    if rt.status().get("live"):
        st.caption(live_view.no_data_yet(rt.status(), rt.settings.db_path, "results"))
    st.stop()

m1, m2, m3, m4 = st.columns(4)
m1.metric("Windows with a final number", f"{summary['with_final']} of {summary['windows']}")
m2.metric(
    "Median gap, streaming → final",
    rfmt.fmt_pct(summary["median_abs_pct_streaming_final"]).lstrip("+"),
)
worst = summary["worst_window_start_ms"]
m3.metric(
    "Largest gap, streaming → final",
    rfmt.fmt_pct(summary["max_abs_pct_streaming_final"]).lstrip("+"),
    help=None if worst is None else f"Window {rfmt.window_label(worst, tz, daily)}",
)
m4.metric("Events booked later as adjustments", f"{summary['adjustment_events']:,}")

st.plotly_chart(rfmt.differences_figure(frame, tz, daily), width="stretch", key="rc_chart")
st.caption(
    f"Windows in the business time zone ({tz}); the newest windows have no batch numbers yet."
)


def change(diff, pct) -> str:
    """'+$1,889.40 (+9.90%)': the difference and its share of the earlier number."""
    text = rfmt.fmt_signed(diff, metric)
    return text if pd.isna(pct) else f"{text} ({rfmt.fmt_pct(pct)})"


def table(frame: pd.DataFrame) -> pd.DataFrame:
    f = lambda col: [rfmt.fmt_value(v, metric) for v in frame[col]]  # noqa: E731
    d = lambda a, b: [  # noqa: E731
        change(x, y) for x, y in zip(frame[f"diff_{a}_{b}"], frame[f"pct_{a}_{b}"], strict=True)
    ]
    return pd.DataFrame(
        {
            "Window": [rfmt.window_label(ms, tz, daily) for ms in frame["window_start_ms"]],
            "Tier now": frame["tier_now"],
            "Streaming": f("streaming"),
            "Preliminary": f("preliminary"),
            "Final": f("final"),
            "Streaming → preliminary": d("streaming", "preliminary"),
            "Streaming → final": d("streaming", "final"),
            "Preliminary → final": d("preliminary", "final"),
            "Adjusted later": [
                f"{rfmt.fmt_value(v, metric)} ({n:,} events)" if n else "—"
                for v, n in zip(frame["adjustment_value"], frame["adjustment_events"], strict=True)
            ],
        }
    )


st.subheader("Per window")
shown = frame.iloc[::-1].reset_index(drop=True)
every = st.toggle(
    "Every column",
    key="rc_every_column",
    help="Off: each window's stages and the streaming → final change (fits a narrow screen). "
    "On: the streaming → preliminary and preliminary → final changes and the adjustments "
    "booked later, here and in the per-source table.",
)
money = st.column_config.TextColumn(width=82)
change_col = st.column_config.TextColumn(width="medium")
st.dataframe(
    table(shown),
    hide_index=True,
    width="stretch",
    column_order=None
    if every
    else ["Window", "Tier now", "Streaming", "Preliminary", "Final", "Streaming → final"],
    column_config={
        "Window": st.column_config.TextColumn("Window", width=92),
        "Tier now": st.column_config.TextColumn("Tier now", width=78),
        **{c: money for c in ("Streaming", "Preliminary", "Final")},
        **{
            c: change_col
            for c in ("Streaming → preliminary", "Preliminary → final", "Adjusted later")
        },
        "Streaming → final": st.column_config.TextColumn("Streaming → final", width=140),
    },
)
download_buttons(
    lambda: shown.assign(
        window_start=[local_datetime(int(ms), tz).isoformat() for ms in shown["window_start_ms"]]
    ),
    f"reconciliation-{series}-{metric}",
    key="rc_download",
)

st.subheader("Where a difference came from")
choices = [int(ms) for ms in shown["window_start_ms"]]
batched = shown["preliminary"].notna() | shown["final"].notna()
pick = st.selectbox(
    "Window",
    choices,
    index=int(batched.to_numpy().argmax()) if batched.any() else 0,
    format_func=lambda ms: rfmt.window_label(ms, tz, daily),
    key="rc_window",
)
parts = load_sources(rt.settings.db_path, series, pick, metric)
if parts.empty:
    st.caption("No per-source results for this window.")
else:
    st.dataframe(
        pd.DataFrame(
            {
                "Source": parts["grp"],
                "Streaming": [rfmt.fmt_value(v, metric) for v in parts["streaming"]],
                "Preliminary": [rfmt.fmt_value(v, metric) for v in parts["preliminary"]],
                "Final": [rfmt.fmt_value(v, metric) for v in parts["final"]],
                "Latest": [rfmt.fmt_value(v, metric) for v in parts["latest"]],
                "Δ streaming → latest": [
                    rfmt.fmt_signed(v, metric) for v in parts["diff_streaming_latest"]
                ],
                "Share": ["—" if pd.isna(v) else f"{v:.0%}" for v in parts["share_of_difference"]],
            }
        ),
        hide_index=True,
        width="stretch",
        column_order=None
        if every
        else ["Source", "Streaming", "Final", "Latest", "Δ streaming → latest", "Share"],
        column_config={
            "Source": st.column_config.TextColumn("Source", width=80),
            **{c: money for c in ("Streaming", "Preliminary", "Final", "Latest")},
            "Δ streaming → latest": st.column_config.TextColumn("Δ streaming → latest", width=125),
            "Share": st.column_config.TextColumn(
                "Share", width=70, help="Share of the whole (all sources) difference"
            ),
        },
    )
    st.caption(
        "Each source's own windows, largest difference first. For sums (revenue, orders, "
        "items) the shares add up to the whole difference; for averages, medians and "
        "distinct users they do not, which is why those are recomputed, never patched."
    )

st.subheader("Adjustments booked to final windows")
booked = load_booked(rt.settings.db_path, series, from_ms, to_ms)
if booked.empty:
    st.caption(
        "None in this range: no event arrived for a window after it was final. When one does, "
        "it is booked here, to the open period it arrived in, and linked to its window."
    )
else:
    st.dataframe(
        pd.DataFrame(
            {
                "Final window": [
                    rfmt.window_label(ms, tz, daily) for ms in booked["window_start_ms"]
                ],
                "Booked to": [rfmt.window_label(ms, tz, True) for ms in booked["period_start_ms"]],
                "Events": booked["events"],
                "Revenue": [rfmt.fmt_value(v, "revenue_cents") for v in booked["revenue_cents"]],
                "Orders": booked["orders"],
                "Items": booked["items"],
                "Last booked": [fmt_time(ms, rt) for ms in booked["last_booked_ms"]],
                "Why": booked["reasons"],
            }
        ),
        hide_index=True,
        width="stretch",
    )
