"""Tables as files people download: CSV, Excel and Parquet, formula-safe.

Why a module: every table the dashboard offers for download goes through here, so
the CSV-injection rule (``engine.core.text``) is applied once, the same way, and a
page cannot forget it. Streamlit's own table toolbar download writes cells verbatim,
so the app turns it off (``client.disableDataExport`` in ``.streamlit/config.toml``)
and offers these files instead.

- **CSV** (``csv_bytes``): UTF-8 with a byte-order mark (Excel otherwise reads it as
  the local code page), text cells and column names that start like a formula get a
  leading ``'``; numbers stay numbers. Text that cannot be encoded (a lone surrogate)
  is written as a visible ``\\udXXX`` escape instead of failing the download.
- **Excel** (``excel_bytes``, needs openpyxl): the same neutralised text (openpyxl
  would otherwise store ``=…`` as a live formula), control characters Excel refuses
  written as visible ``\\xNN`` escapes, zone-aware times as wall-clock times in their
  zone (Excel has no zones) with the zone in the column name.
- **Parquet** (``parquet_bytes``): the exact typed values. A Parquet file is data, not
  a sheet — no spreadsheet evaluates its cells — so nothing is rewritten; mixed-type
  text columns are written as text.

Plain functions of a DataFrame, no Streamlit: pages call them (``ui`` draws the
buttons) and tests read the bytes back.
"""

from __future__ import annotations

import importlib.util
import io
import re
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine.core.text import formula_safe

_EXCEL_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
EXCEL_MAX_ROWS = 1_048_575  # one row is the header


def _is_text_column(series: pd.Series) -> bool:
    return (
        series.dtype == object
        or isinstance(series.dtype, pd.CategoricalDtype)
        or pd.api.types.is_string_dtype(series.dtype)
    )


def _with_index(frame: pd.DataFrame) -> pd.DataFrame:
    """A meaningful index (not 0..n-1) becomes columns, so no file loses it."""
    index = frame.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return frame
    return frame.reset_index()


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append(name if n == 0 else f"{name} ({n + 1})")
    return out


def _map_text(series: pd.Series, fn) -> pd.Series:
    """``fn`` over every cell, kept as Python objects: pandas would otherwise infer an
    Arrow string column, which refuses text it cannot encode (a lone surrogate)."""
    return pd.Series([fn(v) for v in series.astype(object)], index=series.index, dtype=object)


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells and column names are formula-safe; other values unchanged.

    Column names become text (a spreadsheet header is a cell too)."""
    out = _with_index(frame).copy()
    for col in out.columns:
        if _is_text_column(out[col]):
            out[col] = _map_text(out[col], formula_safe)
    out.columns = _unique_names([str(formula_safe(str(c))) for c in out.columns])
    return out


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as a formula-safe CSV file (UTF-8 with BOM, no index column)."""
    text = safe_frame(frame).to_csv(index=False, lineterminator="\r\n")
    return text.encode("utf-8-sig", errors="backslashreplace")


def _excel_cell(value):
    value = formula_safe(value)
    if isinstance(value, str):
        value = value.encode("utf-8", errors="backslashreplace").decode("utf-8")
        value = _EXCEL_ILLEGAL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)
    return value


def excel_available() -> bool:
    return importlib.util.find_spec("openpyxl") is not None


def excel_bytes(frame: pd.DataFrame, sheet_name: str = "data") -> bytes:
    """The frame as a formula-safe .xlsx workbook (one sheet). Raises ValueError when
    the table has more rows than a sheet holds, RuntimeError without openpyxl."""
    if not excel_available():
        raise RuntimeError("Excel export needs the openpyxl package (see requirements.txt)")
    data = _with_index(frame)
    if len(data) > EXCEL_MAX_ROWS:
        raise ValueError(
            f"{len(data):,} rows do not fit in one Excel sheet ({EXCEL_MAX_ROWS:,}); "
            "download CSV or Parquet instead"
        )
    out = pd.DataFrame(index=range(len(data)))
    names = []
    for i, col in enumerate(data.columns):
        series = data.iloc[:, i].reset_index(drop=True)
        name = str(col)
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            name = f"{name} ({series.dt.tz})"
            series = series.dt.tz_localize(None)
        elif _is_text_column(series):
            series = _map_text(series, _excel_cell)
        out[i] = series
        names.append(str(_excel_cell(name)))
    out.columns = _unique_names(names)
    buffer = io.BytesIO()
    safe_sheet = _FILENAME_UNSAFE.sub(" ", sheet_name).strip()[:31] or "data"
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        out.to_excel(writer, sheet_name=safe_sheet, index=False)
    return buffer.getvalue()


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """The frame's exact typed values as Parquet (text columns holding mixed types
    are written as text rather than failing)."""
    data = _with_index(frame).copy()
    data.columns = _unique_names([str(c) for c in data.columns])
    try:
        table = pa.Table.from_pandas(data, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError):
        for col in data.columns:
            if data[col].dtype == object:
                data[col] = data[col].map(lambda v: None if v is None else str(v))
        table = pa.Table.from_pandas(data, preserve_index=False)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


@dataclass(frozen=True)
class ExportFormat:
    key: str
    label: str
    extension: str
    mime: str
    write: Callable[[pd.DataFrame], bytes]


FORMATS: dict[str, ExportFormat] = {
    "csv": ExportFormat("csv", "CSV", "csv", "text/csv", csv_bytes),
    "xlsx": ExportFormat(
        "xlsx",
        "Excel",
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        excel_bytes,
    ),
    "parquet": ExportFormat(
        "parquet", "Parquet", "parquet", "application/vnd.apache.parquet", parquet_bytes
    ),
}


def available_formats() -> list[ExportFormat]:
    """The formats this installation can write (Excel only with openpyxl)."""
    return [f for k, f in FORMATS.items() if k != "xlsx" or excel_available()]


def export_bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; one of {sorted(FORMATS)}")
    return FORMATS[fmt].write(frame)


def file_name(stem: str, fmt: str) -> str:
    """A download file name from any text (dataset names are user text): letters,
    digits, ``.``, ``_`` and ``-`` only, never empty, never hidden."""
    safe = _FILENAME_UNSAFE.sub("_", stem).strip("._-")[:120] or "latewatch-export"
    return f"{safe}.{FORMATS[fmt].extension}"
