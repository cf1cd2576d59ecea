"""The HTTP API (FastAPI): the app, request parameters, response shaping and support.

Reads through the store, analysis and the page-shaped views; never imports Streamlit or ``ui``.
"""
