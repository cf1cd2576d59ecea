"""The HTTP API (FastAPI): the app, request parameters, response shaping and support.

Reads through the store and analysis; never imports Streamlit or ``ui``.
"""
