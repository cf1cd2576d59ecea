"""Plotly figures of the watermark playground and the Learn course: the Dataflow-model
picture (event time across, processing time up), the bucketing bars.

Why a module: pages read like a description of the UI; it only draws frames the
engine produced (``engine.analysis.playground``), never decides what is late.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from engine.analysis.playground import POINT_LABELS, PlaygroundRun, PlaygroundSnapshot, clock_text
from engine.core.timeutil import POS_INF_MS
from ui.charts import margin
from ui.lab import _legend_top, _utc
from ui.text import escape_html

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


def watermark_text(w_ms: int | None) -> str:
    if w_ms is None:
        return "— (not set yet)"
    if w_ms >= POS_INF_MS:
        return "+∞ (end of input)"
    return clock_text(w_ms)


KEY_DASHES = ("dot", "dash", "dashdot", "longdash")


def playground_figure(
    run: PlaygroundRun, snap: PlaygroundSnapshot, discarding: bool, big: bool = False
) -> go.Figure:
    """The Dataflow-model picture at the slider's processing time (``big``: presenter
    mode's larger type)."""
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
                y=1.0,
                yref="paper",
                text="end + allowed lateness",
                textangle=-90,
                showarrow=False,
                xanchor="right",
                yanchor="top",
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

    # per-key mode: each key's own watermark, dashed (the red line is their minimum)
    keys = snap.key_watermarks
    for i, (key, part) in enumerate(keys.groupby("key", sort=True)):
        xs = [_utc(v) for v in part["watermark_ms"]] + [_utc(part["watermark_ms"].iloc[-1])]
        ys = [_utc(v) for v in part["processing_time_ms"]] + [_utc(snap.t_ms)]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                line=dict(color="#B07AA1", width=1.5, shape="vh", dash=KEY_DASHES[i % 4]),
                name=f"watermark of key {escape_html(key)}",
                hovertemplate="%{fullData.name}: at %{y|%H:%M:%S} W = %{x|%H:%M:%S}<extra></extra>",
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
                    f"{escape_html(eid)} ({v:g})"
                    for eid, v in zip(part["event_id"], part["value"], strict=True)
                ],
                textposition="middle left",
                customdata=[[escape_html(d)] for d in part["detail"]],
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
        font=dict(size=16 if big else 12),
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
    fig.update_layout(**_legend_top(margins=margin(l=110, t=100)))  # the legend's two rows
    return fig


def bucketing_figure(totals: pd.DataFrame, big: bool = False) -> go.Figure:
    """Events per bucket counted by event time and by processing time, side by side."""
    labels = [clock_text(v) for v in totals["window_start_ms"]]
    fig = go.Figure()
    for col, name, color in (
        ("by_event_time", "by event time (when it happened)", "#4E79A7"),
        ("by_processing_time", "by processing time (when it arrived)", "#E15759"),
    ):
        fig.add_trace(
            go.Bar(
                x=labels,
                y=totals[col],
                name=name,
                marker_color=color,
                text=totals[col],
                textposition="outside",
                hovertemplate="bucket from %{x}: %{y} events<extra>" + name + "</extra>",
            )
        )
    fig.update_layout(
        barmode="group",
        height=340,
        font=dict(size=16 if big else 12),
        xaxis=dict(title="Bucket start (UTC)", type="category"),
        yaxis=dict(title="Events"),
    )
    fig.update_layout(**_legend_top())
    return fig
