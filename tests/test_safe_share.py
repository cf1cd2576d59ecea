"""Safe to share (issue 12, items 8, 9 and 11), through app.py in AppTest:

- imported text (a source ``=HYPERLINK(...)``, ``**x**``, a Markdown link) is shown as
  text on the Import page and in the What-if lab: wherever Streamlit would read Markdown
  it arrives escaped, option lists carry it verbatim, tables hold it as data;
- uploads: one limit everywhere; an upload is removed with its dataset (after the
  confirmation) and when an import fails or keeps nothing;
- the Import page is read-only in operator mode.

The escaping itself is checked against an independent Markdown renderer in
tests/test_text.py and in a real browser in tests/e2e.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.ingest import mapping as im
from engine.ingest import uploads
from ui.text import escape_markdown

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = [
    '=HYPERLINK("http://evil.example","click")',
    "**x**",
    "[click](http://evil.example)",
]


def hostile_csv(rows_per_source: int = 40) -> bytes:
    out = io.StringIO()
    out.write("event_id,source,amount,event_time,arrival_time\n")
    n = 0
    for src in HOSTILE:
        for i in range(rows_per_source):
            n += 1
            minute = n % 60
            quoted = '"' + src.replace('"', '""') + '"'
            out.write(
                f"e{n},{quoted},{1 + i % 7}.5,2026-11-02T10:{minute:02d}:00Z,"
                f"2026-11-02T10:{minute:02d}:{10 + i % 40:02d}Z\n"
            )
    return out.getvalue().encode()


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def import_hostile(at: AppTest) -> AppTest:
    at.get("file_uploader")[0].set_value(("evil.csv", hostile_csv(), "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    at.button(key="imp_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


MARKDOWN_KINDS = ("markdown", "caption", "info", "warning", "error", "success", "subheader")


def markdown_texts(at: AppTest) -> list[str]:
    """Every string Streamlit renders as Markdown: text elements, metric labels and
    values, widget labels, radio options, button labels."""
    out = [str(e.value) for kind in MARKDOWN_KINDS for e in at.get(kind)]
    out += [str(m.label) for m in at.metric] + [str(m.value) for m in at.metric]
    for kind in ("selectbox", "multiselect", "select_slider", "slider", "text_input", "button"):
        out += [str(w.label) for w in at.get(kind)]
    for r in at.radio:
        out += [str(r.label), *map(str, r.options)]
    return out


def assert_literal_everywhere(at: AppTest) -> None:
    for text in markdown_texts(at):
        for raw in HOSTILE:
            assert raw not in text, f"unescaped user text in Markdown: {text!r}"


def test_imported_hostile_sources_are_text_on_the_import_page(app_env):
    at = import_hostile(open_page("pages/import.py"))
    imports = im.imports_dir_for(app_env)
    assert at.selectbox(key="imp_ds").value == "evil"
    assert_literal_everywhere(at)
    # the per-source table holds the names as data, exactly
    summary = next(df.value for df in at.dataframe if "negative_share" in df.value)
    assert set(HOSTILE) <= set(summary["source"])
    # the capture chart's legend has the names with tags escaped (no Plotly links)
    spec = json.loads(at.get("plotly_chart")[-1].proto.spec)
    names = {t.get("name") for t in spec["data"]}
    assert "**x**" in names and not any("<a" in (n or "") for n in names)
    # the upload is kept with its dataset …
    [kept] = uploads.dataset_uploads(im.dataset_path(imports, "evil"), imports)
    assert kept.exists() and kept.parent == uploads.uploads_dir_for(imports)
    # … and goes with it
    at.button(key="imp_delete").click().run()
    at.button(key="imp_delete__confirm").click().run()
    assert not at.exception
    assert not im.dataset_path(imports, "evil").exists()
    assert not kept.exists()
    assert list(uploads.uploads_dir_for(imports).iterdir()) == []


def test_hostile_sources_are_text_in_the_whatif_lab(app_env):
    at = import_hostile(open_page("pages/import.py"))
    at.button(key="imp_whatif").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="data").value == "evil"
    assert_literal_everywhere(at)
    texts = "\n".join(markdown_texts(at))
    for src in HOSTILE:
        assert escape_markdown(src) in texts, f"{src!r} is not shown at all"
    # option lists show the names verbatim (Streamlit does not read Markdown there)
    sweep = next(s for s in at.selectbox if set(HOSTILE) <= set(s.options))
    assert sweep is not None


def test_a_failed_import_removes_the_upload(app_env, monkeypatch):
    at = open_page("pages/import.py")
    at.get("file_uploader")[0].set_value(("evil.csv", hostile_csv(), "text/csv")).run()
    folder = uploads.uploads_dir_for(im.imports_dir_for(app_env))
    assert len(list(folder.iterdir())) == 1

    def broken(*args, **kwargs):
        raise OSError("disk on fire")

    monkeypatch.setattr(im, "import_file", broken)
    at.button(key="imp_go").click().run()
    assert not at.exception
    assert any("Import failed" in e.value and "disk on fire" in e.value for e in at.error)
    assert list(folder.iterdir()) == []
    at.run()  # the file is still in the widget: it is saved again for another try
    assert not at.exception and len(list(folder.iterdir())) == 1


def test_upload_limit_is_the_configured_one(app_env, tmp_path):
    at = open_page("pages/import.py")
    uploader = at.get("file_uploader")[0]
    assert uploader.proto.max_upload_size_mb == im.UPLOAD_LIMIT_MB
    assert f"up to {im.UPLOAD_LIMIT_MB} MB" in uploader.proto.label
    # the page's own check counts bytes as Streamlit does (MiB): the limit passes …
    mib = b"\0" * (1 << 20)
    target = tmp_path / "u.bin"
    assert im.save_upload(iter([mib] * im.UPLOAD_LIMIT_MB), target) == im.UPLOAD_LIMIT_BYTES
    # … one byte more does not, and nothing is left behind
    with pytest.raises(ValueError, match="larger than"):
        im.save_upload(iter([*[mib] * im.UPLOAD_LIMIT_MB, b"\0"]), target)
    assert not target.exists()


def test_orphan_uploads_are_swept(tmp_path):
    imports = tmp_path / "imports"
    folder = uploads.uploads_dir_for(imports)
    folder.mkdir(parents=True)
    old, fresh, kept = folder / "old.csv", folder / "fresh.csv", folder / "kept.csv"
    for p in (old, fresh, kept):
        p.write_text("x")
    import os

    os.utime(old, (1_000, 1_000))
    os.utime(kept, (1_000, 1_000))
    now = 1_000 + uploads.ORPHAN_AGE_S + 1
    os.utime(fresh, (now - 10, now - 10))
    removed = uploads.prune_orphans(imports, now, keep=(kept,))
    assert removed == [old] and fresh.exists() and kept.exists()
    assert not uploads.discard_upload(ROOT / "data" / "samples" / "events_sample.csv", imports)


def test_import_page_is_read_only_in_operator_mode(app_env, monkeypatch):
    monkeypatch.setenv("LATEWATCH_ADMIN_PASSWORD", "pw")
    at = open_page("pages/import.py")
    assert at.get("file_uploader")[0].proto.disabled
    at.selectbox(key="imp_sample").set_value("events_sample.jsonl").run()
    assert at.button(key="imp_go").disabled
