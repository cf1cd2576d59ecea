"""Page-wide CSS the dashboard needs at projector widths (1024 px).

Streamlit cuts metric values, labels and deltas with an ellipsis when a column is
narrow ("$108,6…"), and button captions likewise ("◀…"). A number that is cut is a
wrong number, so these wrap instead, and metric values shrink with the viewport."""

from __future__ import annotations

import streamlit as st

CSS = """
<style>
[data-testid="stMetricValue"], [data-testid="stMetricValue"] *,
[data-testid="stMetricLabel"], [data-testid="stMetricLabel"] *,
[data-testid="stMetricDelta"], [data-testid="stMetricDelta"] * {
  white-space: normal !important;
  overflow: visible !important;
  text-overflow: clip !important;
  overflow-wrap: anywhere;
}
[data-testid="stMetricValue"] { font-size: clamp(1.35rem, 2.1vw, 2.25rem) !important; }
[data-testid="stMetricDelta"] { height: auto !important; }
.stButton button, .stDownloadButton button, [data-testid="stPopover"] button,
[data-testid^="stBaseButton-segmented_control"] {
  height: auto !important;
  min-height: 2.5rem;
}
.stButton button *, .stDownloadButton button *, [data-testid="stPopover"] button *,
[data-testid^="stBaseButton-segmented_control"] * {
  white-space: normal !important;
  overflow: visible !important;
  text-overflow: clip !important;
}
</style>
"""


def apply_style() -> None:
    st.html(CSS)
