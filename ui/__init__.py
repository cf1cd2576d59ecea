"""Streamlit-side glue shared by app.py and the pages: the runtime handle, the router
guard, the sidebar, display formatting and Plotly figures.

Kept out of ``pages/`` (auto-discovery would list it as a page) and out of ``engine/``
(the engine never imports Streamlit, nor this package).
"""
