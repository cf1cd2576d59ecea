"""Plotly figures of the What-if lab and the import page (the playground's and the
course's figures are in ``ui.playfigs``).

Why a module: pages read like a description of the UI; axis titles, legends and
colours live here once. It only draws frames the engine produced (no window
maths). Kept outside ``pages/`` (legacy discovery would list it) and ``engine/``
(the engine does not draw).
"""

from __future__ import annotations

import copy
import functools
from datetime import UTC, datetime

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from engine.core.timeutil import format_duration_ms
from engine.views.dashboard import local_datetime
from ui.charts import MARGIN, margin
from ui.text import escape_html

CONFIG_COLORS = {"Current": "#9C9C9C", "Proposed": "#4E79A7"}
LABELLED_MS = (30_000, 300_000, 1_800_000, 86_400_000)


def _utc(ms) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC).replace(tzinfo=None)


def _legend_top(title: str = "", margins: dict | None = None) -> dict:
    """Layout keys for a legend on top; figures get their layout as one dict in
    ``go.Figure(data, layout)`` (``update_layout`` re-walks property paths per call).
    The margins hold the labels already (``ui.charts.MARGIN``: no second drawing)."""
    return dict(
        legend=dict(title=dict(text=title), orientation="h", y=1.02, yanchor="bottom", x=0),
        margin=margins or MARGIN,
        hovermode="closest",
    )


@functools.cache
def _tradeoff_grid() -> dict:
    """The trade-off figure's three stacked panels (axes, domains, panel titles): the
    same every time, so ``make_subplots`` (~20 ms) runs once per process. Without
    the template: ``go.Figure`` applies the default one itself."""
    grid = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        subplot_titles=(
            "Captured in a streaming result",
            "Delay after the window end",
            "State held at peak",
        ),
    ).to_dict()["layout"]
    grid.pop("template", None)
    return grid


# ---------------------------------------------------------------------- what-if
def tradeoff_figure(df: pd.DataFrame, knob_label: str = "Allowed lateness") -> go.Figure:
    """Three panels over the same lateness axis: what it captures, how long results
    take to settle, and how much state it holds."""
    x = [format_duration_ms(v) for v in df.iloc[:, 0]]
    minutes = 60_000
    data = [
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
            xaxis="x",
            yaxis="y",
        ),
        go.Scatter(
            x=x,
            y=df["captured_value_share"] * 100,
            name="captured (value)",
            mode="lines+markers",
            line=dict(color="#59A14F", dash="dot"),
            hovertemplate="%{x}: %{y:.2f}% of value<extra></extra>",
            xaxis="x",
            yaxis="y",
        ),
        go.Scatter(
            x=x,
            y=df["wait_mean_ms"] / minutes,
            name="first (on-time) result, mean",
            mode="lines+markers",
            line=dict(color="#2F6690"),
            hovertemplate="%{x}: on-time result %{y:.1f} min after the window end<extra></extra>",
            xaxis="x2",
            yaxis="y2",
        ),
        go.Scatter(
            x=x,
            y=df["last_version_delay_mean_ms"] / minutes,
            name="last version, mean",
            mode="lines+markers",
            line=dict(color="#F28E2B"),
            hovertemplate="%{x}: last version %{y:.1f} min after the window end<extra></extra>",
            xaxis="x2",
            yaxis="y2",
        ),
        go.Bar(
            x=x,
            y=df["peak_open_windows"],
            name="open windows at peak",
            marker_color="#B07AA1",
            hovertemplate="%{x}: %{y:,} windows open at once<extra></extra>",
            xaxis="x3",
            yaxis="y3",
        ),
    ]
    layout = copy.deepcopy(_tradeoff_grid())
    ticks = (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080, 43200)
    layout["yaxis"]["title"] = dict(text="share (%)")
    layout["yaxis2"].update(
        title=dict(text="after window end"),
        type="log",
        tickvals=ticks,
        ticktext=[format_duration_ms(m * 60_000) for m in ticks],
    )
    layout["yaxis3"]["title"] = dict(text="windows")
    layout["xaxis3"]["title"] = dict(text=knob_label)
    layout.update(
        height=760,
        margin=margin(t=40, b=135),  # the legend below the bottom axis
        legend=dict(orientation="h", y=-0.1, yanchor="top", x=0),
        hovermode="x unified",
    )
    return go.Figure(data=data, layout=layout)


def outcome_figure(table: pd.DataFrame) -> go.Figure:
    """Events that were *not* on time, per outcome, for both configurations (on time
    dwarfs the rest; its count is in the table next to the chart)."""
    rest = table.iloc[1:]
    data = []
    for name in ("Current", "Proposed"):
        data.append(
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
    return go.Figure(
        data=data,
        layout=dict(
            barmode="group",
            height=320,
            xaxis=dict(title=dict(text="events not on time")),
            yaxis=dict(title=dict(text=""), autorange="reversed"),
            **_legend_top("Configuration", margin(l=160)),  # the outcome names
        ),
    )


def window_error_figure(current: pd.DataFrame, proposed: pd.DataFrame, tz: str) -> go.Figure:
    """Per window: how far the on-time number was from the final one."""
    data = []
    for name, frame in (("Current", current), ("Proposed", proposed)):
        part = frame.dropna(subset=["abs_pct_error"])
        data.append(
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
    return go.Figure(
        data=data,
        layout=dict(
            height=340,
            xaxis=dict(title=dict(text=f"Window start ({tz})")),
            yaxis=dict(title=dict(text="|on-time − final| / final (%)")),
            **_legend_top("Configuration"),
        ),
    )


# ---------------------------------------------------------------------- import
def capture_figure(capture: pd.DataFrame) -> go.Figure:
    """Share captured per delay budget, one line per source (rows of capture_table)."""
    data = []
    for source, row in capture.iterrows():
        data.append(
            go.Scatter(
                x=list(capture.columns),
                y=row.to_numpy() * 100,
                mode="lines+markers",
                name="all sources" if source == "all" else escape_html(source),
                line=dict(width=3 if source == "all" else 1.5),
                hovertemplate="within %{x}: %{y:.2f}%<extra>%{fullData.name}</extra>",
            )
        )
    return go.Figure(
        data=data,
        layout=dict(
            height=380,
            xaxis=dict(
                title=dict(text="Arrival delay budget (watermark delay + allowed lateness)")
            ),
            yaxis=dict(title=dict(text="events arrived within it (%)")),
            **_legend_top("Source"),
        ),
    )
