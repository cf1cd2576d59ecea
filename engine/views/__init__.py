"""Page-shaped reads for the dashboard: plain data (dicts, frames), no Streamlit.

Pages call these instead of the store; never imports Streamlit, ``ui`` or the API.
"""
