"""A page that puts hostile text on every Streamlit surface the dashboard uses, escaped
the way the pages do (ui.text); tests/e2e/test_markdown_surfaces.py reads it back."""

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ui.text import code, escape_markdown  # noqa: E402

HOSTILE = [
    '=HYPERLINK("http://evil.example","click")',
    "**x**",
    "[click](http://evil.example) <https://evil.example> www.evil.example x@evil.example",
    ":red[red] :material/home: :streamlit: $x^2$ <b>b</b> ~~s~~ `t`",
    "# h",
]
for i, h in enumerate(HOSTILE):
    e = escape_markdown(h)
    with st.container(key=f"probe-{i}"):
        st.markdown(e)
        st.caption(e)
        st.info(e)
        st.subheader(e)
        st.metric(e, e)
        st.button(e, key=f"b{i}")
        st.radio(e, [e], key=f"r{i}")
        st.selectbox(e, [h], key=f"s{i}")
        st.text_input(e, key=f"t{i}")
        with st.expander(e):
            st.write("")
        st.tabs([e])
        st.markdown("code " + code(h))
with st.container(key="probe-control"):  # unescaped: the probe must catch this
    st.markdown(HOSTILE[1] + " " + HOSTILE[2])
st.container(key="probe-end").write("end")
