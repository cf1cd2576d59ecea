"""Formula-safe export: every downloadable table, read back by an independent reader.

The oracle is not our writer: CSV files are parsed with the standard ``csv`` module,
workbooks with openpyxl (whose ``data_type == "f"`` marks a live formula), Parquet with
pyarrow. The property: no text cell a spreadsheet would evaluate survives, every text
cell reads back as itself or as ``'`` + itself, numbers read back as the same numbers.
"""

from __future__ import annotations

import csv
import io
import math

import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from engine.core.text import FORMULA_PREFIXES, formula_safe, is_formula_like
from engine.views import export

HOSTILE = [
    '=HYPERLINK("http://evil.example","click")',
    "+1+1",
    "-2+3",
    "@SUM(A1:A2)",
    "\t=1",
    "\r=1",
    "**bold**",
    "plain",
    "",
    "＝1+1",
]

text_cells = st.text(
    alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=30
)


def hostile_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": HOSTILE,
            "amount": [-12.5, 3.0, -1.0, 0.0, 4.25, -7.0, 1.0, 2.0, 3.0, 4.0],
            "orders": list(range(-5, 5)),
            "when": pd.date_range("2026-11-20", periods=10, freq="h", tz="America/New_York"),
        }
    )


def read_csv_cells(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "Excel needs the BOM to read UTF-8"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_formula_safe_cells():
    for cell in HOSTILE:
        out = formula_safe(cell)
        if cell[:1] in ("=", "+", "-", "@", "\t", "\r", "＝"):
            assert out == "'" + cell
        else:
            assert out == cell
    assert formula_safe(-3.5) == -3.5 and formula_safe(None) is None and formula_safe(7) == 7


def test_csv_neutralises_text_keeps_numbers():
    rows = read_csv_cells(export.csv_bytes(hostile_frame()))
    header, body = rows[0], rows[1:]
    assert header == ["source", "amount", "orders", "when"]
    assert [r[0] for r in body] == [formula_safe(c) for c in HOSTILE]
    assert [float(r[1]) for r in body] == list(hostile_frame()["amount"])
    assert [int(r[2]) for r in body] == list(range(-5, 5))
    back = pd.read_csv(io.BytesIO(export.csv_bytes(hostile_frame())))
    assert back["amount"].dtype.kind == "f" and back["orders"].dtype.kind == "i"


def test_csv_headers_and_index_are_cells_too():
    frame = pd.DataFrame({"=cmd": ["a"], "ok": [1]}, index=pd.Index(["@x"], name="-k"))
    rows = read_csv_cells(export.csv_bytes(frame))
    assert rows[0] == ["'-k", "'=cmd", "ok"]
    assert rows[1] == ["'@x", "a", "1"]


def test_csv_survives_unencodable_text():
    data = export.csv_bytes(pd.DataFrame({"k": pd.Series(["a\ud800b"], dtype=object)}))
    assert read_csv_cells(data)[1] == ["a\\ud800b"]


@given(
    st.lists(st.tuples(text_cells, st.floats(allow_nan=False, allow_infinity=False)), max_size=8)
)
@example([("=1+2", -1.0), ("\r\n-x", 2.5), ('"=q"', -0.0)])
def test_csv_property(rows):
    frame = pd.DataFrame(rows, columns=["text", "number"])
    cells = read_csv_cells(export.csv_bytes(frame))
    assert len(cells) == len(rows) + 1
    for (text, number), (got_text, got_number) in zip(rows, cells[1:], strict=True):
        assert got_text == (("'" + text) if is_formula_like(text) else text)
        assert not got_text.startswith(FORMULA_PREFIXES)
        assert float(got_number) == number or (math.isclose(float(got_number), number))


def workbook_cells(data: bytes) -> list[list]:
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    rows = []
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", f"live formula in {cell.coordinate}: {cell.value!r}"
        rows.append([cell.value for cell in row])
    return rows


def test_excel_has_no_live_formulas():
    rows = workbook_cells(export.excel_bytes(hostile_frame()))
    assert rows[0] == ["source", "amount", "orders", "when (America/New_York)"]
    # XML turns a carriage return into a line feed; still quoted, still text
    expected = [formula_safe(c).replace("\r", "\n") for c in HOSTILE]
    assert [r[0] or "" for r in rows[1:]] == expected
    assert [r[1] for r in rows[1:]] == list(hostile_frame()["amount"])
    first = hostile_frame()["when"].iloc[0]
    assert rows[1][3] == first.tz_localize(None).to_pydatetime()


def test_excel_control_characters_are_visible_not_fatal():
    rows = workbook_cells(
        export.excel_bytes(pd.DataFrame({"k": pd.Series(["a\x01b", "c\ud800"], dtype=object)}))
    )
    assert [r[0] for r in rows[1:]] == ["a\\x01b", "c\\ud800"]


@given(st.lists(text_cells, max_size=6))
def test_excel_property(texts):
    rows = workbook_cells(export.excel_bytes(pd.DataFrame({"t": texts})))
    assert len(rows) == len(texts) + 1


def test_parquet_keeps_exact_values():
    frame = hostile_frame()
    back = pq.read_table(io.BytesIO(export.parquet_bytes(frame))).to_pandas()
    assert list(back["source"]) == HOSTILE
    assert list(back["amount"]) == list(frame["amount"])
    assert (back["when"] == frame["when"]).all()
    mixed = pd.DataFrame({"m": ["a", 1, None]})
    back = pq.read_table(io.BytesIO(export.parquet_bytes(mixed))).to_pandas()
    assert list(back["m"])[:2] == ["a", "1"] and pd.isna(back["m"].iloc[2])


@pytest.mark.parametrize("fmt", sorted(export.FORMATS))
def test_every_format_writes_an_empty_table(fmt):
    assert export.export_bytes(pd.DataFrame({"a": pd.Series([], dtype=object)}), fmt)


def test_file_names_from_user_text():
    assert export.file_name("../../etc/passwd", "csv") == "etc_passwd.csv"
    assert export.file_name('=HYPERLINK("x")', "xlsx") == "HYPERLINK_x.xlsx"
    assert export.file_name("", "parquet") == "latewatch-export.parquet"


def test_cli_csv_is_formula_safe(tmp_path):
    """`engine simulate --out x.csv` writes through engine.sim.files.write_records."""
    from engine.sim.files import read_events_file, write_records
    from engine.sim.simulator import Simulator
    from tests.conftest import SEED_NOW_MS

    frame = Simulator("steady", 3, None, SEED_NOW_MS, 1, events=200).frame()
    frame = frame.head(6).copy()
    frame["key"] = ["=1+1", "@x", "-y", "+z", "plain", "\tt"]
    frame.loc[frame.index[0], "amount_cents"] = -1250  # a refund stays a number
    out = tmp_path / "sim.csv"
    write_records(frame, out)
    rows = list(csv.DictReader(out.open(newline="", encoding="utf-8")))
    assert [r["key"] for r in rows] == ["'=1+1", "'@x", "'-y", "'+z", "plain", "'\tt"]
    assert float(rows[0]["amount"]) == -12.5
    assert len(read_events_file(out)) == 6
