"""User text shown as text: ``ui.text.escape_markdown`` read back by a CommonMark
renderer (markdown-it, not Streamlit's own code) must produce no markup at all and
exactly the original characters. The browser test (tests/e2e) checks Streamlit's
renderer on a page; this property covers arbitrary text."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ui.text import code, escape_html, escape_markdown

markdown_it = pytest.importorskip("markdown_it")
MD = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])
TAG = re.compile(r"<[^>]+>")


def visible(rendered: str) -> str:
    return html.unescape(TAG.sub("", rendered)).replace("\u200d", "")


@given(st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc")), max_size=60))
@example('=HYPERLINK("http://evil.example","click")')
@example("**x**")
@example("[click](http://evil.example) ![i](x.png) <https://e.x> <b>b</b>")
@example("# h\n- li\n1. one\n> q\n`c` ~~s~~ a|b\n---")
@example("&amp; &#x41; \\* \\")
@example("x@y.com www.evil.example :material/home: :red[r] $x^2$")
def test_escaped_text_renders_literally(text):
    rendered = MD.renderInline(escape_markdown(text))
    assert TAG.search(rendered) is None, rendered
    one_line = text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
    assert visible(rendered) == one_line


def test_inline_code_is_literal():
    for text in ("a`b", "`x`", "**x**", "[c](http://e.x)"):
        rendered = MD.renderInline(code(text))
        assert rendered.startswith("<code>") and visible(rendered).strip() == text


def test_plotly_names_have_no_tags():
    assert escape_html('<a href="http://evil.example">x</a>') == (
        '&lt;a href="http://evil.example"&gt;x&lt;/a&gt;'
    )
