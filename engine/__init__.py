"""latewatch engine: the whole domain, importable and testable without Streamlit.

One package per part, in the order data flows:
``sim``/``ingest`` → ``core`` → ``store`` → ``runtime`` → ``views``/``api`` → ``commands``,
with ``analysis`` working on arrays beside them. Each part's ``__init__`` says what it
is and what it never imports; ``tests/test_layout.py`` holds those rules.
"""

__version__ = "0.1.0"
