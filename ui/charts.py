"""Plotly figures and display constants shared by the dashboard pages.

Why a module: pages should read like a description of the UI (widgets → one
engine call → a chart), so figure building — axis titles, legends, tier
colours, local wall-clock axes — lives here, once. Like ``app_state`` it sits
outside ``pages/`` (legacy auto-discovery would list it as a page) and outside
``engine/`` (the engine does not draw).
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from engine.views.dashboard import DELAY_BUCKETS, NO_DATA, local_datetime
from ui.text import escape_html

TIER_COLORS = {"live": "#F28E2B", "preliminary": "#4E79A7", "final": "#59A14F"}
TIER_LABELS = {
    "live": "Live (streaming)",
    "preliminary": "Preliminary (T+1 batch)",
    "final": "Final (T+7)",
}
METRIC_LABELS = {"revenue_cents": "Revenue", "orders": "Orders", "items": "Items"}
# The non-additive metrics, selectable as the chart metric next to the sums (read per
# window, never summed: engine.views.more_metrics.window_metrics).
MORE_METRIC_LABELS = {
    "avg_order_value_cents": "Avg order value",
    "median_order_value_cents": "Median order value",
    "distinct_users": "Distinct users",
}
CHART_METRIC_LABELS = {**METRIC_LABELS, **MORE_METRIC_LABELS}
SOURCE_LABEL = {"*": "All sources"}


def metric_axis(metric: str) -> str:
    label = CHART_METRIC_LABELS.get(metric, metric)
    return f"{label} (USD)" if metric.endswith("_cents") else label


def is_money(metric: str) -> bool:
    return metric.endswith("_cents")


def metric_values(series: pd.Series, metric: str) -> pd.Series:
    """Cents become dollars for charts; counts stay counts."""
    return series / 100 if metric.endswith("_cents") else series


def wall_clock(ms_values, tz: str) -> list:
    """Local wall-clock datetimes without offset: Plotly draws them as given, and the
    axis title names the zone."""
    return [local_datetime(int(v), tz).replace(tzinfo=None) for v in ms_values]


# Margins that already hold the axis titles, tick labels and a one- or two-row legend on
# top (measured in Chromium at 1440 px: left 59-97, bottom 65-80, top 60-86). Plotly.js
# grows a margin that is too small to fit them (axes' automargin) by drawing the whole
# chart a second time; with l=10, b=10 every chart was drawn twice, ~40 % of a chart's
# browser time (benchmarks/browser.py). Plotly still grows a margin that does not fit.
MARGIN = dict(l=90, r=10, t=60, b=85)


def margin(**override: int) -> dict:
    """``MARGIN`` with some sides changed (a chart whose labels need more room)."""
    return {**MARGIN, **override}


def _layout(
    x_title: str,
    y_title: str,
    legend_title: str,
    height=360,
    xaxis=None,
    margins: dict | None = None,
    **extra,
) -> dict:
    """The shared layout as one dict for ``go.Figure(data, layout)``: Plotly validates
    it once. ``update_layout``/``update_xaxes`` after the fact re-walk the property
    paths on every call (~30 ms of a Today chart's ~40)."""
    return dict(
        height=height,
        margin=margins or MARGIN,
        legend=dict(title=dict(text=legend_title), orientation="h", y=1.02, yanchor="bottom", x=0),
        xaxis=dict(title=dict(text=x_title), **(xaxis or {})),
        yaxis=dict(title=dict(text=y_title)),
        hovermode="closest",
        **extra,
    )


def hourly_by_tier(
    today: pd.DataFrame,
    yesterday: pd.DataFrame,
    metric: str,
    tz: str,
    names: tuple[str, str] = ("Today", "Yesterday"),
):
    """A day's hours as bars coloured by tier; the day before (latest) as a line."""
    traces = []
    hover = "%{x|%H:%M}: %{y:,.2f}<extra>%{fullData.name}</extra>"
    for tier in TIER_COLORS:
        part = today.loc[today["tier"] == tier]
        if part.empty:
            continue
        traces.append(
            go.Bar(
                x=[h.hour for h in part["hour"]],
                y=metric_values(part[metric], metric),
                name=f"{names[0]} — {TIER_LABELS[tier]}",
                marker_color=TIER_COLORS[tier],
                customdata=part["versions"],
                hovertemplate="%{x}:00 · %{y:,.2f} · %{customdata} versions<extra>%{fullData.name}</extra>",
            )
        )
    if not yesterday.empty:
        traces.append(
            go.Scatter(
                x=[h.hour for h in yesterday["hour"]],
                y=metric_values(yesterday[metric], metric),
                name=f"{names[1]} (latest numbers)",
                mode="lines+markers",
                line=dict(color="#9AA0A6", dash="dot"),
                hovertemplate=hover.replace("%{x|%H:%M}", "%{x}:00"),
            )
        )
    return go.Figure(
        data=traces,
        layout=_layout(
            f"Hour of day ({tz})",
            metric_axis(metric),
            "Colour = tier of each hour",
            xaxis=dict(dtick=2, range=[-0.5, 23.5]),
        ),
    )


def days_by_tier(days: pd.DataFrame, metric: str, tz: str, projection=None):
    """Recent business days as bars coloured by tier; today's projected final (if
    any) as a marker with its interval."""
    traces = []
    for tier in TIER_COLORS:
        part = days.loc[days["tier"] == tier]
        if part.empty:
            continue
        traces.append(
            go.Bar(
                x=[str(d) for d in part["day"]],
                y=metric_values(part[metric], metric),
                name=TIER_LABELS[tier],
                marker_color=TIER_COLORS[tier],
                hovertemplate="%{x}: %{y:,.2f}<extra>%{fullData.name}</extra>",
            )
        )
    empty = days.loc[days["tier"] == NO_DATA]
    if not empty.empty:
        traces.append(
            go.Scatter(
                x=[str(d) for d in empty["day"]],
                y=[0] * len(empty),
                mode="markers",
                marker=dict(symbol="x-thin-open", size=9, color="#9AA0A6", line=dict(width=2)),
                name="No result for the day",
                hovertemplate="%{x}: no result<extra></extra>",
            )
        )
    if projection is not None:
        day, value, low, high = projection
        traces.append(
            go.Scatter(
                x=[str(day)],
                y=[value],
                mode="markers",
                marker=dict(symbol="diamond", size=12, color="#333333"),
                error_y=dict(
                    type="data", symmetric=False, array=[high - value], arrayminus=[value - low]
                ),
                name="Today — projected final (interval)",
                hovertemplate="projected %{y:,.2f}<extra></extra>",
            )
        )
    return go.Figure(
        data=traces,
        layout=_layout(
            f"Business day ({tz})",
            metric_axis(metric),
            "Colour = tier of each day",
            xaxis=dict(
                type="category",
                categoryorder="array",
                categoryarray=[str(d) for d in days["day"]],
            ),
        ),
    )


def version_timeline(history: pd.DataFrame, bands: pd.DataFrame, metric: str, tz: str):
    """The window's value over processing time as a step chart; shaded bands show
    which tier the number had; markers carry each version's reason. Built in one
    ``go.Figure(data, layout)`` call: incremental ``add_*`` re-validates every time."""
    shapes = []
    for row in bands.itertuples(index=False):
        x0, x1 = wall_clock([row.start_ms, row.end_ms], tz)
        shapes.append(
            dict(
                type="rect",
                xref="x",
                yref="paper",
                x0=x0,
                x1=x1,
                y0=0,
                y1=1,
                fillcolor=TIER_COLORS.get(row.tier, "#cccccc"),
                opacity=0.12,
                line_width=0,
                layer="below",
            )
        )
    present = set(bands["tier"])
    data = [
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            name=f"Band: {TIER_LABELS[tier]}",
            marker=dict(symbol="square", size=12, color=color, opacity=0.4),
        )
        for tier, color in TIER_COLORS.items()
        if tier in present
    ]
    x = wall_clock(history["processing_time_ms"], tz)
    y = metric_values(history[metric], metric).tolist()
    data.append(
        go.Scatter(
            x=x,
            y=y,
            mode="lines",
            line=dict(shape="hv", color="#555555"),
            name="Value shown (step)",
            hoverinfo="skip",
        )
    )
    tiers = history["tier"].tolist()
    custom = history[["version", "reason"]].to_numpy()
    for tier, color in TIER_COLORS.items():
        idx = [i for i, t in enumerate(tiers) if t == tier]
        if not idx:
            continue
        data.append(
            go.Scatter(
                x=[x[i] for i in idx],
                y=[y[i] for i in idx],
                mode="markers",
                marker=dict(color=color, size=9, line=dict(color="white", width=1)),
                name=f"Version ({tier})",
                customdata=custom[idx],
                hovertemplate="v%{customdata[0]} · %{customdata[1]}<br>%{x|%a %d %b %H:%M}"
                "<br>%{y:,.2f}<extra></extra>",
            )
        )
    return go.Figure(
        data=data,
        layout=_layout(
            f"Processing time — when the number was computed ({tz})",
            metric_axis(metric),
            "Versions and tier bands",
            height=400,
            xaxis=dict(type="date"),  # the legend-only traces would make it linear
            shapes=shapes,
        ),
    )


def explain_bars(breakdown: pd.DataFrame, metric: str):
    """The change split by arrival-delay bucket (x) and source (colour)."""
    traces = []
    for source, part in breakdown.groupby("source", sort=True):
        traces.append(
            go.Bar(
                x=part["delay_bucket"],
                y=metric_values(part[metric], metric),
                name=escape_html(source),
                hovertemplate="%{x}: %{y:,.2f}<extra>%{fullData.name}</extra>",
            )
        )
    present = set(breakdown["delay_bucket"])
    order = [label for label, _ in DELAY_BUCKETS if label in present]
    order += sorted(present - set(order))
    return go.Figure(
        data=traces,
        layout=_layout(
            "Arrival delay of the events behind the change",
            f"Change in {metric_axis(metric)[0].lower()}{metric_axis(metric)[1:]}",
            "Source",
            height=320,
            xaxis=dict(type="category", categoryorder="array", categoryarray=order),
            barmode="relative",
        ),
    )


def watermark_lags(wm: pd.DataFrame):
    """How far each source's watermark trails processing time (log scale)."""
    palette = {
        "holding the global watermark back": "#E15759",
        "behind the global watermark (it never goes back)": "#F1A340",
        "active, ahead of the global watermark": "#4E79A7",
        "idle (not holding it back)": "#9AA0A6",
    }
    colors = [palette.get(s, "#4E79A7") for s in wm["state"]]
    data = [
        go.Bar(
            x=wm["lag_ms"] / 60_000,
            y=[escape_html(s) for s in wm["source"]],
            orientation="h",
            marker_color=colors,
            name="Watermark lag",
            hovertemplate="%{y}: %{x:,.1f} min behind<extra></extra>",
            showlegend=False,
        )
    ]
    for label, color in palette.items():
        data.append(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                marker=dict(color=color, symbol="square", size=12),
                name=label[0].upper() + label[1:],
            )
        )
    top = max(float(wm["lag_ms"].max()) / 60_000, 1.0)
    return go.Figure(
        data=data,
        layout=_layout(
            "Lag behind processing time (minutes, log scale)",
            "Source",
            "Colour",
            height=320,
            xaxis=dict(type="log", range=[-1.5, math.log10(top) + 0.2]),  # from ~2 s
            margins=margin(l=115, t=90),  # source names; the legend's two rows
        ),
    )


def counts_bar(labels, values, x_title: str, y_title: str, legend_title: str, color="#4E79A7"):
    return go.Figure(
        data=[
            go.Bar(
                x=list(labels), y=list(values), marker_color=color, name=y_title, showlegend=True
            )
        ],
        layout=_layout(x_title, y_title, legend_title, height=280),
    )
