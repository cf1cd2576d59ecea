"""User text on its way out: formula-safe spreadsheet cells.

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
is read as a formula by Excel, LibreOffice and Google Sheets when a CSV is opened
(OWASP, "CSV Injection"): ``=HYPERLINK("http://evil.example","click")`` in an
imported ``source`` would become a live link in the finance team's spreadsheet.
OWASP's advice, followed here: prefix such a cell with a single quote, so it shows
as the text it is. The full-width forms (``＝ ＋ － ＠``) are included because some
spreadsheet locales fold them to their ASCII forms, and a line feed because some
importers strip leading whitespace before deciding.

Only *text* is touched: numbers stay numbers (a refund of -12.50 is still -12.50),
so a file stays sortable and summable. Pure and dependency-free: used by the
views' export (``engine.views.export``) and by every CSV the command line writes.
"""

from __future__ import annotations

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
SAFE_PREFIX = "'"


def is_formula_like(text: str) -> bool:
    """Would a spreadsheet treat this text cell as a formula?"""
    return text.startswith(FORMULA_PREFIXES)


def formula_safe(value):
    """``value`` unchanged unless it is text that starts like a formula; then with a
    leading ``'``. Non-text values (numbers, booleans, None, dates) pass through."""
    if isinstance(value, str) and is_formula_like(value):
        return SAFE_PREFIX + value
    return value
