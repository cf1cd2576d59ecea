"""User text shown as text: Streamlit's Markdown must not read it.

``st.markdown``, ``st.caption``, ``st.info``/``success``/…, ``st.subheader`` and widget
labels render GitHub-flavoured Markdown plus Streamlit's directives (``:red[…]``,
``:material/icon:``, ``$…$`` maths); so a source named ``**x**`` would be bold and
``[click](http://evil.example)`` or a bare ``http://…`` a live link. Values that come
from data (sources, keys, event ids, dataset and file names, rule names, quarantine
details) go either into an element that never parses Markdown (``st.text``,
``st.code``, table cells, selectbox options) or through ``escape_markdown`` first.

Plotly reads a small HTML subset in trace names and texts (``<a href>``, ``<b>``…);
``escape_html`` makes those literal too.

What each surface does with text (checked in Chromium on Streamlit 1.67, held by
tests/e2e/test_markdown_surfaces.py): Markdown in ``st.markdown``/``caption``/``info``/…,
``subheader``, metric labels *and values*, every widget label, radio and pills options,
button labels, tab and expander labels, dialog titles; Streamlit's icon shortcodes
(``:material/…:``, ``:streamlit:``) even inside inline code. Literal: ``st.text``,
``st.code``, table cells, selectbox and multiselect options (a ``format_func`` result
too) — escaping there would show the backslashes, so don't.
"""

from __future__ import annotations

import html
import re

# Every ASCII punctuation character may be backslash-escaped in CommonMark; these are
# the ones that start Markdown, GFM or a Streamlit directive.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$&=\"'])")


def escape_markdown(text: object) -> str:
    """``text`` so that Streamlit's Markdown renders it literally: no emphasis, no
    links (bare URLs included), no headings, no directives, one line."""
    s = str(text)
    s = s.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
    s = _MD_SPECIAL.sub(r"\\\1", s)
    # "www." and "http\:" can still be autolinked by GFM: break the pattern with a
    # zero-width joiner that is invisible to the reader
    s = re.sub(r"(?i)(www)\\\.", lambda m: m.group(1) + "\u200d\\.", s)
    s = re.sub(r"(?i)(https?|ftp|mailto)\\:", lambda m: m.group(1) + "\u200d\\:", s)
    s = s.replace("@", "\u200d@")  # an e-mail address is autolinked too
    # Streamlit replaces ":material/icon:" and ":streamlit:" before Markdown sees the
    # escapes: a joiner after a colon that starts a word breaks those patterns
    return re.sub(r"\\:(?=\w)", "\\:\u200d", s)


def code(text: object) -> str:
    """``text`` as inline code in Markdown: literal, and longer backtick runs inside
    it cannot close it early."""
    s = str(text).replace("\r", " ").replace("\n", " ")
    s = re.sub(r":(?=\w)", ":\u200d", s)  # icon shortcodes are replaced even in code
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or not s.strip() else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def escape_html(text: object) -> str:
    """``text`` for Plotly names, labels and hover texts: no tags, no links."""
    return html.escape(str(text), quote=False)
