"""Lateness: how late each source's events arrive, what an allowed lateness captures,
what to configure, whether a source drifted, and how good the completeness
projections were. Widgets -> one engine call (engine.analysis.lateness_report) -> charts and tables."""

import plotly.graph_objects as go
import streamlit as st

from engine.analysis.lateness_report import delay_ticks, lateness_report, range_end_ms
from engine.core.timeutil import DAY_MS, HOUR_MS, MINUTE_MS, format_duration_ms
from engine.views import lateness as lateness_view
from engine.views import live as live_view
from ui import charts
from ui.format import fmt_time
from ui.replay import wait_for_replay
from ui.router import ensure_router
from ui.runtime import get_runtime
from ui.text import escape_html, escape_markdown

ensure_router()

RANGES_DAYS = (3, 7, 14, 30, 90)
TARGETS = (0.9, 0.95, 0.99, 0.999)
MATURE_DAYS = (None, 1, 3, 7)  # None: the longest horizon the history can check
QUANTILE_SYMBOLS = {"p50": "circle", "p90": "diamond", "p99": "square", "p99.9": "x"}
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


@st.cache_data(ttl=60, show_spinner="Measuring arrival delays…")
def load_report(
    db_path: str,
    to_ms: int,
    days: int,
    by: str,
    target: float,
    window_ms: int,
    mature_ms: int | None,
    tz: str,
):
    """Plain arguments only (the cache key); ``to_ms`` is rounded by the caller so
    reruns within a minute share one computation."""
    store = get_runtime().store()
    from_ms = to_ms - days * DAY_MS
    arrived, happened = lateness_view.range_events(store, from_ms, to_ms)
    return lateness_report(
        arrived, happened, from_ms, to_ms, target, by, window_ms, tz, mature_ms=mature_ms
    )


rt = get_runtime()
tz = rt.settings.tz

st.title("Lateness")
wait_for_replay(rt, "how late each source's data arrives")
st.caption(
    "How long after they happen do events reach us? Arrival delay = arrival time − event "
    "time, per source. Use it to choose allowed lateness per source and to see how complete "
    "a live number usually is."
)

c1, c2, c3, c4, c5 = st.columns(5)
days = c1.selectbox(
    "Events that arrived in the last",
    RANGES_DAYS,
    index=2,
    format_func=lambda d: f"{d} days",
    key="lateness_days",
)
by = c2.radio(
    "Weigh by",
    ("value", "count"),
    format_func={"value": "Value (revenue)", "count": "Event count"}.get,
    horizontal=True,
    key="lateness_by",
)
target = c3.selectbox(
    "Target capture", TARGETS, index=2, format_func=lambda t: f"{t:.1%}", key="lateness_target"
)
window_ms = c4.radio(
    "Backtest windows",
    (HOUR_MS, DAY_MS),
    index=1,
    format_func={HOUR_MS: "Hourly", DAY_MS: "Daily"}.get,
    horizontal=True,
    key="lateness_window",
)
mature_days = c5.selectbox(
    "Backtest: treat a window as final after",
    MATURE_DAYS,
    index=0,
    format_func=lambda d: "auto" if d is None else f"{d} days",
    key="lateness_mature",
    help="auto: the longest horizon the history can check (7, 3 or 1 days).",
)

# Whole hours of simulated time (a real minute at 60x) or whole minutes on the wall clock
# of live mode: the range ends at or before the clock, never after it.
step_ms = MINUTE_MS if rt.live else HOUR_MS
to_ms = range_end_ms(rt.now_ms(), step_ms)
report = load_report(
    rt.settings.db_path,
    to_ms,
    days,
    by,
    target,
    window_ms,
    None if mature_days is None else mature_days * DAY_MS,
    tz,
)
weight_word = "value" if by == "value" else "events"

st.caption(
    f"{report.events:,} events arrived between {fmt_time(report.from_ms, rt)} and "
    f"{fmt_time(report.to_ms, rt)} from {len(report.sources)} sources "
    f"(up to the last full {'minute' if step_ms == MINUTE_MS else 'hour'}; the range moves on "
    f"with the clock, now {fmt_time(rt.now_ms(), rt, '%H:%M')})."
)

if report.empty:
    st.info(live_view.no_data_yet(rt.status(), rt.settings.db_path, "events in this range"))
    st.stop()

# -- the arrival-delay ECDF --------------------------------------------------------------
st.subheader("Arrival delay per source")
fig = go.Figure()
sources = [*report.sources, "all"]


def hover_name(src: str) -> str:
    """A source name for a Plotly hover template: no tags, no %{...} placeholders."""
    return escape_html(src).replace("%{", "%\u200b{")


colors = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(report.sources)} | {"all": "#222"}
for src in sources:
    part = report.curves[report.curves["source"] == src]
    if part.empty:
        continue
    fig.add_trace(
        go.Scatter(
            x=part["delay_s"],
            y=part["share"],
            mode="lines",
            name="all sources" if src == "all" else escape_html(src),
            legendgroup=src,
            line={
                "color": colors[src],
                "width": 3 if src == "all" else 2,
                "dash": "dash" if src == "all" else "solid",
                "shape": "hv",
            },
            customdata=part[["delay"]].to_numpy(),
            hovertemplate=f"%{{fullData.name}}: %{{y:.1%}} of {weight_word} within "
            "%{customdata[0]}"
            "<extra></extra>",
        )
    )
    marks = report.markers[report.markers["source"] == src]
    fig.add_trace(
        go.Scatter(
            x=marks["delay_s"],
            y=marks["share"],
            mode="markers",
            showlegend=False,
            legendgroup=src,
            marker={
                "color": colors[src],
                "size": 9,
                "symbol": [QUANTILE_SYMBOLS[lbl] for lbl in marks["label"]],
                "line": {"color": "white", "width": 1},
            },
            customdata=marks[["label", "delay"]].to_numpy(),
            hovertemplate=f"{hover_name(src)} %{{customdata[0]}}: "
            "%{customdata[1]}<extra></extra>",
        )
    )
for label, symbol in QUANTILE_SYMBOLS.items():  # a legend entry per marker shape
    fig.add_trace(
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            name=f"{label} marker",
            marker={"color": "#777", "size": 9, "symbol": symbol},
        )
    )
tickvals, ticktext = delay_ticks()
fig.update_layout(
    height=480,
    margin=charts.margin(t=30, r=150),  # the legend on the right
    xaxis={
        "type": "log",
        "title": "Arrival delay (log scale)",
        "tickvals": tickvals,
        "ticktext": ticktext,
    },
    yaxis={"title": f"Share of {weight_word} arrived", "tickformat": ".0%", "range": [0, 1.02]},
    legend={"title": {"text": "Source / quantile"}},
    hovermode="closest",
)
st.plotly_chart(fig, width="stretch", key="lateness_ecdf")
st.caption(
    "Each line is the share of a source's "
    f"{weight_word} that had arrived within a given delay (an ECDF, step-shaped); markers "
    "show p50 / p90 / p99 / p99.9. Delays of zero or less (clock skew) are drawn at 0.1 s."
)

every = st.toggle(
    "Every column",
    key="lateness_every_column",
    help="Off: the columns that matter, in widths that fit a narrow screen. On: every "
    "column of the tables on this page.",
)
SOURCE = st.column_config.TextColumn("Source", width=72)
summary = report.summary.copy()
for col in ("p50_ms", "p90_ms", "p99_ms", "p99.9_ms", "max_ms"):
    summary[col] = summary[col].map(format_duration_ms)
delay_cols = ("p50_ms", "p90_ms", "p99_ms", "p99.9_ms")
st.dataframe(
    summary,
    hide_index=True,
    width="stretch",
    column_order=None
    if every or ("negative_share" in summary and (summary["negative_share"] > 0).any())
    else ["source", "events", "value", *delay_cols, "max_ms"],
    column_config={
        "source": SOURCE,
        "events": st.column_config.NumberColumn("Events", format="localized", width=62),
        "value": st.column_config.NumberColumn("Value", format="dollar", width=92),
        **{
            c: st.column_config.TextColumn(c.removesuffix("_ms"), width=58, help="Delay")
            for c in delay_cols
        },
        "max_ms": st.column_config.TextColumn("Max", width=62, help="Longest delay"),
        "negative_share": st.column_config.NumberColumn("Clock skew share", format="percent"),
    },
)

# -- capture ----------------------------------------------------------------------------------
st.subheader("Capture: share arriving within a delay budget")
st.caption(
    f"Share of each source's {weight_word} whose arrival delay is within the budget "
    "(watermark delay + allowed lateness). Below the target means the window's streaming "
    "result misses that share; batch patching and the final tier pick it up later."
)
capture = report.capture.reset_index()
st.dataframe(
    capture,
    hide_index=True,
    width="stretch",
    column_config={"source": SOURCE}
    | {
        c: st.column_config.NumberColumn(c, format="percent", width=52) for c in capture.columns[1:]
    },
)

# -- recommendations ------------------------------------------------------------------------
st.subheader(f"Recommended allowed lateness for {target:.1%} capture")
rec = report.recommendations.copy()
rec["p99_ms"] = rec["p99_ms"].map(format_duration_ms)
st.dataframe(
    rec[
        [
            "source",
            "allowed_lateness",
            "reached",
            "capture_value",
            "capture_count",
            "p99_ms",
            "windows_open",
            "weighted_by",
        ]
    ],
    hide_index=True,
    width="stretch",
    column_order=None
    if every
    else ["source", "allowed_lateness", "reached", "capture_value", "capture_count", "p99_ms"],
    column_config={
        "source": SOURCE,
        "allowed_lateness": st.column_config.TextColumn("Allowed lateness", width=110),
        "reached": st.column_config.CheckboxColumn("Target reached", width=100),
        "capture_value": st.column_config.NumberColumn(
            "Captured value", format="percent", width=95
        ),
        "capture_count": st.column_config.NumberColumn(
            "Captured events", format="percent", width=95
        ),
        "p99_ms": st.column_config.TextColumn("p99 delay", width=72),
        "windows_open": st.column_config.NumberColumn("Hourly windows held open"),
        "weighted_by": "Weighted by",
    },
)
st.caption(
    "The smallest round setting whose capture reaches the target; 'all' is the one global "
    "setting you would need without per-source policies — usually far longer than most "
    "sources need."
)

# -- drift ----------------------------------------------------------------------------------
st.subheader("Drift: last day against the days before")
if report.drift.empty:
    st.info("Drift compares the last day with the days before it: choose a range of 3+ days.")
else:
    drift = report.drift.copy()
    qcols = [c for c in drift.columns if c.endswith("_ms")]
    for col in qcols:
        drift[col] = drift[col].map(format_duration_ms)
    flagged = drift[drift["flagged"]]
    if flagged.empty:
        st.success("No source's p99 delay moved by more than 2× against its baseline.")
    else:
        for row in flagged.itertuples():
            st.warning(
                f"{escape_markdown(row.source)}: p99 delay got {row.direction} "
                f"({row.ratio:.1f}× baseline)."
            )
    st.dataframe(
        drift,
        hide_index=True,
        width="stretch",
        column_order=None
        if every
        else ["source", "recent_events", qcols[0], qcols[1], "ratio", "flagged"],
        column_config={
            "source": SOURCE,
            "recent_events": st.column_config.NumberColumn("Events, last day", width=110),
            "baseline_events": st.column_config.NumberColumn("Events, baseline"),
            qcols[0]: st.column_config.TextColumn("p99, last day", width=95),
            qcols[1]: st.column_config.TextColumn("p99, baseline", width=95),
            "ratio": st.column_config.NumberColumn("Ratio", format="%.2f×", width=70),
            "flagged": st.column_config.CheckboxColumn("Drifted", width=70),
            "direction": "Direction",
        },
    )

# -- backtest ---------------------------------------------------------------------------------
st.subheader("Completeness projections, backtested")
st.caption(
    f"{report.backtest_window} windows: at each age after a window ends, the projected final "
    "made with only what was known then, against the final that later arrived (a window "
    f"counts as final after {report.mature}; the final tier is 7 days). The naive error is "
    "reading the observed number as if it were final."
)
if report.backtest.empty:
    st.info(
        f"Not enough history yet: the backtest needs windows at least {report.mature} old "
        f"and three earlier ones that old at each projection age. Choose a shorter "
        "'treat as final after' horizon or a longer range."
    )
else:
    st.dataframe(
        report.backtest.drop(columns=["age_ms"]),
        hide_index=True,
        width="stretch",
        column_order=None
        if every
        else [
            "age",
            "windows",
            "median_abs_pct_error",
            "p90_abs_pct_error",
            "within_2pct",
            "interval_coverage",
        ],
        column_config={
            "age": st.column_config.TextColumn("Age", width=70, help="Age after the window's end"),
            "windows": st.column_config.NumberColumn("Windows", width=75),
            "median_abs_pct_error": st.column_config.NumberColumn(
                "Median error", format="%.2f%%", width=100, help="Of the projection"
            ),
            "p90_abs_pct_error": st.column_config.NumberColumn(
                "p90 error", format="%.2f%%", width=90, help="Of the projection"
            ),
            "within_2pct": st.column_config.NumberColumn("Within 2 %", format="percent", width=85),
            "interval_coverage": st.column_config.NumberColumn(
                "Interval held", format="percent", width=100, help="The interval held the final"
            ),
            "final_below_observed": st.column_config.NumberColumn(
                "Final below observed", format="percent"
            ),
            "median_observed_pct_error": st.column_config.NumberColumn(
                "Naive error (observed as final)", format="%.2f%%"
            ),
            "median_completeness": st.column_config.NumberColumn(
                "Median completeness", format="percent"
            ),
        },
    )
