"""Download buttons for a table, through the formula-safe export (``engine.views.export``).

Streamlit's own table toolbar download is turned off (``client.disableDataExport``):
it writes cells verbatim, so an imported ``=HYPERLINK(…)`` would reach a spreadsheet
as a live formula. Pages offer these buttons instead. The bytes are made only when a
button is clicked (a callable ``data``), so an unclicked button costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from engine.views import export


def download_buttons(
    frame: pd.DataFrame | Callable[[], pd.DataFrame],
    stem: str,
    key: str,
    container=None,
    formats: tuple[str, ...] | None = None,
    label: str = "Download",
) -> None:
    """One button per available format (CSV, Excel, Parquet) in a row of columns.
    ``frame`` may be a callable returning the table (built on click)."""
    target = container if container is not None else st
    chosen = [f for f in export.available_formats() if formats is None or f.key in formats]
    cols = target.columns(len(chosen))

    def make(fmt: str) -> Callable[[], bytes]:
        def build() -> bytes:
            table = frame() if callable(frame) else frame
            return export.export_bytes(table, fmt)

        return build

    for col, fmt in zip(cols, chosen, strict=True):
        col.download_button(
            f"{label} {fmt.label}",
            data=make(fmt.key),
            file_name=export.file_name(stem, fmt.key),
            mime=fmt.mime,
            key=f"{key}_{fmt.key}",
            on_click="ignore",
            icon=":material/download:",
        )
