"""The router guard: a page opened by deep link on a fresh server still gets app.py's
navigation and sidebar. Pages call ``ensure_router()`` after their imports."""

from __future__ import annotations

import contextlib
import threading

import streamlit as st

_routing = threading.local()


@contextlib.contextmanager
def routed():
    """app.py runs the selected page inside this: the page then knows the router ran."""
    _routing.active = True
    try:
        yield
    finally:
        _routing.active = False


def ensure_router() -> None:
    """A deep link on a fresh server runs a page file bare (legacy ``pages/`` mode).
    Switch the process to ``st.navigation`` and rerun so app.py routes the URL.
    Does nothing when app.py routed this run (the normal case).
    Uses an internal flag checked on Streamlit 1.67; a browser test covers it.

    AppTest resets that flag before every run, so under AppTest every run of a page
    whose file is named as its URL (all of them: tests/test_layout.py) starts bare
    and is rerun from here. Widget callbacks run in the bare run; a button's return
    value is gone by the rerun. Pages act on buttons through ``on_click`` (the Import
    page records a request there and carries it out in the routed run)."""
    if getattr(_routing, "active", False):
        return
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # pragma: no cover - other Streamlit versions
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()
