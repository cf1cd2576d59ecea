"""Figures and formatting for the Reconciliation page."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from engine.views.dashboard import local_datetime
from ui.charts import margin

METRIC_NAMES = {
    "revenue_cents": "Revenue",
    "orders": "Orders",
    "items": "Items",
    "events": "Events",
    "avg_order_value_cents": "Avg order value",
    "median_order_value_cents": "Median order value",
    "distinct_users": "Distinct users",
}
STAGE_COLORS = {"preliminary": "#4c8bd6", "final": "#2e7d32"}


def fmt_value(value, metric: str) -> str:
    """A metric value as people read it: dollars for cents, whole counts otherwise."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return "—"
    if metric.endswith("_cents"):
        return f"${value / 100:,.2f}"
    return f"{value:,.0f}"


def fmt_signed(value, metric: str) -> str:
    if value is None or pd.isna(value):
        return "—"
    sign = "+" if value > 0 else "−" if value < 0 else "±"
    return sign + fmt_value(abs(value), metric)


def fmt_pct(value) -> str:
    if value is None or pd.isna(value):
        return "—"
    return f"{value:+.2%}".replace("-", "−")


def window_label(ms: int, tz: str, daily: bool) -> str:
    return local_datetime(int(ms), tz).strftime("%a %d %b" if daily else "%a %d %b %H:%M")


def differences_figure(frame: pd.DataFrame, tz: str, daily: bool) -> go.Figure:
    """Per window: how far the preliminary and the final number moved from the
    streaming one, in percent (bars above zero: batch found more)."""
    x = [window_label(ms, tz, daily) for ms in frame["window_start_ms"]]
    fig = go.Figure()
    for stage in ("preliminary", "final"):
        pct = frame[f"pct_streaming_{stage}"] * 100
        fig.add_bar(
            x=x,
            y=pct,
            name=f"streaming → {stage}",
            marker_color=STAGE_COLORS[stage],
            hovertemplate="%{x}: %{y:+.2f} %<extra>streaming → " + stage + "</extra>",
        )
    fig.update_layout(
        barmode="group",
        height=320,
        margin=margin(l=75, t=50, b=80),
        yaxis_title="difference from streaming (%)",
        xaxis_title="window (business time zone)" if daily else "window start",
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0),
    )
    fig.add_hline(y=0, line_color="#888", line_width=1)
    return fig
