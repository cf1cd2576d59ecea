"""latewatch: the Streamlit entry point (navigation, shared sidebar, one runtime per process)."""

import streamlit as st

st.set_page_config(page_title="latewatch", layout="wide")
st.title("latewatch")
st.write(
    "Late-arriving analytics data made visible, correct and explainable. "
    "The event-time engine is available from the command line (`python -m engine replay`); "
    "the dashboard pages are being built."
)
