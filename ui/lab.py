"""Plotly figures of the "Tuning and learning" pages: the What-if lab, the watermark
playground and the import page.

Why a module: pages read like a description of the UI; axis titles, legends and
colours live here once. It only draws frames the engine produced (no window
maths). Kept outside ``pages/`` (legacy discovery would list it) and ``engine/``
(the engine does not draw).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from engine.analysis.playground import POINT_LABELS, PlaygroundRun, PlaygroundSnapshot, clock_text
from engine.core.timeutil import format_duration_ms
from engine.views.dashboard import local_datetime

POINT_COLORS = {
    "on_time": "#59A14F",
    "behind_watermark": "#4E79A7",
    "late_updated": "#F28E2B",
    "late_side": "#B07AA1",
    "too_late": "#E15759",
}
PANE_COLORS = {"early": "#9C9C9C", "on_time": "#2F6690", "late": "#F28E2B"}
PANE_LABELS = {"early": "early pane", "on_time": "on-time pane", "late": "late pane"}
POINT_SHORT = {
    "on_time": "On time",
    "behind_watermark": "Behind W, on time",
    "late_updated": "Late, updated",
    "late_side": "Late, kept out",
    "too_late": "Too late",
}
CONFIG_COLORS = {"Current": "#9C9C9C", "Proposed": "#4E79A7"}
LABELLED_MS = (30_000, 300_000, 1_800_000, 86_400_000)


def _utc(ms) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC).replace(tzinfo=None)


def _legend_top(fig: go.Figure, title: str = "") -> None:
    fig.update_layout(
        legend=dict(title=dict(text=title), orientation="h", y=1.02, yanchor="bottom", x=0),
        margin=dict(l=10, r=10, t=60, b=10),
        hovermode="closest",
    )


# ---------------------------------------------------------------------- what-if
def tradeoff_figure(df: pd.DataFrame, knob_label: str = "Allowed lateness") -> go.Figure:
    """Three panels over the same lateness axis: what it captures, how long results
    take to settle, and how much state it holds."""
    x = [format_duration_ms(v) for v in df.iloc[:, 0]]
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        subplot_titles=(
            "Captured in a streaming result",
            "Delay after the window end",
            "State held at peak",
        ),
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=df["captured_count_share"] * 100,
            name="captured (events)",
            mode="lines+markers+text",
            text=[
                f"{v:.1%}" if ms in LABELLED_MS else ""
                for ms, v in zip(df.iloc[:, 0], df["captured_count_share"], strict=True)
            ],
            textposition="bottom right",
            line=dict(color="#4E79A7"),
            hovertemplate="%{x}: %{y:.2f}% of events<extra></extra>",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=df["captured_value_share"] * 100,
            name="captured (value)",
            mode="lines+markers",
            line=dict(color="#59A14F", dash="dot"),
            hovertemplate="%{x}: %{y:.2f}% of value<extra></extra>",
        ),
        row=1,
        col=1,
    )
    minutes = 60_000
    fig.add_trace(
        go.Scatter(
            x=x,
            y=df["wait_mean_ms"] / minutes,
            name="first (on-time) result, mean",
            mode="lines+markers",
            line=dict(color="#2F6690"),
            hovertemplate="%{x}: on-time result %{y:.1f} min after the window end<extra></extra>",
        ),
        row=2,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=df["last_version_delay_mean_ms"] / minutes,
            name="last version, mean",
            mode="lines+markers",
            line=dict(color="#F28E2B"),
            hovertemplate="%{x}: last version %{y:.1f} min after the window end<extra></extra>",
        ),
        row=2,
        col=1,
    )
    fig.add_trace(
        go.Bar(
            x=x,
            y=df["peak_open_windows"],
            name="open windows at peak",
            marker_color="#B07AA1",
            hovertemplate="%{x}: %{y:,} windows open at once<extra></extra>",
        ),
        row=3,
        col=1,
    )
    fig.update_yaxes(title_text="share (%)", row=1, col=1)
    ticks = (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080, 43200)
    fig.update_yaxes(
        title_text="after window end",
        type="log",
        tickvals=ticks,
        ticktext=[format_duration_ms(m * 60_000) for m in ticks],
        row=2,
        col=1,
    )
    fig.update_yaxes(title_text="windows", row=3, col=1)
    fig.update_xaxes(title_text=knob_label, row=3, col=1)
    fig.update_layout(
        height=760,
        margin=dict(l=10, r=10, t=40, b=10),
        legend=dict(orientation="h", y=-0.1, yanchor="top", x=0),
        hovermode="x unified",
    )
    return fig


def outcome_figure(table: pd.DataFrame) -> go.Figure:
    """Events that were *not* on time, per outcome, for both configurations (on time
    dwarfs the rest; its count is in the table next to the chart)."""
    rest = table.iloc[1:]
    fig = go.Figure()
    for name in ("Current", "Proposed"):
        fig.add_trace(
            go.Bar(
                y=rest["Outcome"],
                x=rest[f"{name} events"],
                name=name,
                orientation="h",
                marker_color=CONFIG_COLORS[name],
                text=[f"{v:,}" for v in rest[f"{name} events"]],
                textposition="outside",
                cliponaxis=False,
                hovertemplate="%{y}: %{x:,} events<extra>" + name + "</extra>",
            )
        )
    fig.update_layout(barmode="group", height=320, xaxis_title="events not on time", yaxis_title="")
    fig.update_yaxes(autorange="reversed")
    _legend_top(fig, "Configuration")
    return fig


def window_error_figure(current: pd.DataFrame, proposed: pd.DataFrame, tz: str) -> go.Figure:
    """Per window: how far the on-time number was from the final one."""
    fig = go.Figure()
    for name, frame in (("Current", current), ("Proposed", proposed)):
        part = frame.dropna(subset=["abs_pct_error"])
        fig.add_trace(
            go.Scatter(
                x=[
                    local_datetime(int(v), tz).replace(tzinfo=None) for v in part["window_start_ms"]
                ],
                y=part["abs_pct_error"],
                mode="markers",
                name=name,
                marker=(
                    dict(color=CONFIG_COLORS[name], size=6, opacity=0.8)
                    if name == "Proposed"
                    else dict(color="rgba(0,0,0,0)", size=9, line=dict(color="#7F7F7F", width=1.5))
                ),
                hovertemplate="%{x|%a %d %b %H:%M}: on-time off by %{y:.2f}%<extra>"
                + name
                + "</extra>",
            )
        )
    fig.update_layout(
        height=340,
        xaxis_title=f"Window start ({tz})",
        yaxis_title="|on-time − final| / final (%)",
    )
    _legend_top(fig, "Configuration")
    return fig


# ---------------------------------------------------------------------- playground
def playground_figure(run: PlaygroundRun, snap: PlaygroundSnapshot, discarding: bool) -> go.Figure:
    """The Dataflow-model picture at the slider's processing time."""
    fig = go.Figure()
    panes = run.panes
    all_times = [*run.points["event_time_ms"], *run.windows["window_start_ms"]]
    all_times += [*run.windows["window_end_ms"], *run.watermark["watermark_ms"]]
    x_lo, x_hi = min(all_times), max(all_times)
    y_vals = [*run.points["arrival_time_ms"], *panes["processing_time_ms"].dropna(), run.end_ms]
    y_lo, y_hi = min(y_vals), max(y_vals)
    pad_x, pad_y = max((x_hi - x_lo) * 0.09, 5_000), max((y_hi - y_lo) * 0.12, 5_000)
    y0, y1 = _utc(y_lo - 2 * pad_y), _utc(y_hi + pad_y)

    # windows as columns; sliding windows overlap, so they are stacked in lanes
    for i, w in enumerate(run.windows.itertuples()):
        fig.add_shape(
            type="rect",
            x0=_utc(w.window_start_ms),
            x1=_utc(w.window_end_ms),
            y0=y0,
            y1=y1,
            fillcolor="#4E79A7" if i % 2 == 0 else "#76B7B2",
            opacity=0.07 if not w.superseded else 0.03,
            line=dict(width=1, color="#9C9C9C", dash="dot" if w.superseded else "solid"),
            layer="below",
        )
        if w.state_until_ms <= x_hi and not w.superseded:
            fig.add_shape(
                type="line",
                x0=_utc(w.state_until_ms),
                x1=_utc(w.state_until_ms),
                y0=y0,
                y1=y1,
                line=dict(color="#E15759", width=1, dash="dot"),
            )
            fig.add_annotation(
                x=_utc(w.state_until_ms),
                y=0.0,
                yref="paper",
                text="end + allowed lateness",
                textangle=-90,
                showarrow=False,
                xanchor="right",
                yanchor="bottom",
                font=dict(size=10, color="#E15759"),
            )
        fig.add_annotation(
            x=_utc((w.window_start_ms + w.window_end_ms) // 2),
            y=0.0,
            yref="paper",
            yanchor="bottom",
            yshift=4 + 14 * (i % 3 if run.config.window in ("sliding", "session") else 0),
            text=f"[{clock_text(w.window_start_ms)[:8]}, {clock_text(w.window_end_ms)[:8]})"
            + (" merged away" if w.superseded else ""),
            showarrow=False,
            font=dict(size=10, color="#666"),
        )

    # the current processing time
    fig.add_shape(
        type="line",
        x0=_utc(x_lo - pad_x),
        x1=_utc(x_hi + pad_x),
        y0=_utc(snap.t_ms),
        y1=_utc(snap.t_ms),
        line=dict(color="#9C9C9C", width=1, dash="dash"),
    )
    fig.add_annotation(
        x=_utc(x_lo - pad_x),
        y=_utc(snap.t_ms),
        text=f"processing time now: {clock_text(snap.t_ms)}",
        showarrow=False,
        xanchor="left",
        yanchor="top",
        font=dict(size=11),
    )

    # the watermark: at processing time y, W = x (a step: up, then right)
    wm = snap.watermark
    if len(wm):
        xs = [_utc(v) for v in wm["watermark_ms"]] + [_utc(wm["watermark_ms"].iloc[-1])]
        ys = [_utc(v) for v in wm["processing_time_ms"]] + [_utc(snap.t_ms)]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                line=dict(color="#E15759", width=2, shape="vh"),
                name="watermark",
                hovertemplate="at %{y|%H:%M:%S} W = %{x|%H:%M:%S}<extra>watermark</extra>",
            )
        )

    # events, coloured by what the operator did with them
    pts = snap.points
    for klass, color in POINT_COLORS.items():
        part = pts[pts["klass"] == klass]
        fig.add_trace(
            go.Scatter(
                x=[_utc(v) for v in part["event_time_ms"]],
                y=[_utc(v) for v in part["arrival_time_ms"]],
                mode="markers+text",
                name=POINT_LABELS[klass],
                marker=dict(color=color, size=13, line=dict(color="white", width=1)),
                text=[
                    f"{eid} ({v:g})" for eid, v in zip(part["event_id"], part["value"], strict=True)
                ],
                textposition="middle left",
                customdata=part[["detail"]].to_numpy(),
                hovertemplate="event time %{x|%H:%M:%S}, arrived %{y|%H:%M:%S}<br>"
                "%{customdata[0]}<extra>%{text}</extra>",
                showlegend=True,
                visible=True if len(part) else "legendonly",
            )
        )

    # panes: where (window end) and when (processing time) they fired, with their value
    shown = snap.panes
    for timing, color in PANE_COLORS.items():
        part = shown[shown["timing"] == timing]
        value = part["delta"] if discarding else part["value"]
        fig.add_trace(
            go.Scatter(
                x=[_utc(v) for v in part["window_end_ms"]],
                y=[_utc(v) for v in part["processing_time_ms"]],
                mode="markers+text",
                name=PANE_LABELS[timing],
                marker=dict(
                    color=color, size=16, symbol="diamond", line=dict(color="#333", width=1)
                ),
                text=[
                    (f"+{v:g}" if discarding else f"{v:g}") + (" (at end)" if end else "")
                    for v, end in zip(value, part["at_end"], strict=True)
                ],
                textposition="middle right",
                textfont=dict(size=12, color=color),
                customdata=part[["version", "event_count", "added_ids"]].to_numpy(),
                hovertemplate="pane v%{customdata[0]} fired %{y|%H:%M:%S}: %{text}"
                "<br>%{customdata[1]} events; new: %{customdata[2]}<extra></extra>",
                visible=True if len(part) else "legendonly",
            )
        )
    fig.update_layout(
        height=620,
        xaxis=dict(
            title="Event time (when it happened, UTC)",
            range=[_utc(x_lo - pad_x), _utc(x_hi + pad_x)],
            tickformat="%H:%M:%S",
        ),
        yaxis=dict(
            title="Processing time (when it arrived, UTC)",
            range=[y0, y1],
            tickformat="%H:%M:%S",
        ),
    )
    _legend_top(fig)
    return fig


# ---------------------------------------------------------------------- import
def capture_figure(capture: pd.DataFrame) -> go.Figure:
    """Share captured per delay budget, one line per source (rows of capture_table)."""
    fig = go.Figure()
    for source, row in capture.iterrows():
        fig.add_trace(
            go.Scatter(
                x=list(capture.columns),
                y=row.to_numpy() * 100,
                mode="lines+markers",
                name="all sources" if source == "all" else str(source),
                line=dict(width=3 if source == "all" else 1.5),
                hovertemplate="within %{x}: %{y:.2f}%<extra>" + str(source) + "</extra>",
            )
        )
    fig.update_layout(
        height=380,
        xaxis_title="Arrival delay budget (watermark delay + allowed lateness)",
        yaxis_title="events arrived within it (%)",
    )
    _legend_top(fig, "Source")
    return fig
