"""Presenter mode: a URL flag (``?present=1``) for teaching on a projector — larger
type, the sidebar and toolbar hidden, fewer controls (pages ask ``presenting()``
before drawing their optional panels). Legible at 1024×768."""

from __future__ import annotations

import streamlit as st

FLAG = "present"
_CSS = """
<style>
html, body, [data-testid="stAppViewContainer"] { font-size: 20px; }
[data-testid="stMain"] p, [data-testid="stMain"] li, [data-testid="stMain"] label,
[data-testid="stMarkdownContainer"] { font-size: 1.08rem; line-height: 1.5; }
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stToolbar"], [data-testid="stDecoration"],
[data-testid="stHeader"] { display: none; }
[data-testid="stMainBlockContainer"] { padding: 1.5rem 1.5rem; max-width: 100%; }
h1 { font-size: 2.1rem !important; }
</style>
"""


def presenting() -> bool:
    return str(st.query_params.get(FLAG, "")).lower() in ("1", "true", "yes", "on")


def apply_presenter_style() -> bool:
    """Inject the presenter styles when the flag is on; returns whether it is."""
    on = presenting()
    if on:
        st.html(_CSS)
    return on


def chart_font(on: bool) -> int:
    return 17 if on else 12
