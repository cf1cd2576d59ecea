"""The Import page as a new user meets it (issue 15, problems 1, 2 and 7): after each of
two imports it analyses the dataset just imported; naive timestamps get a zone
suggestion and no Import button until a zone is chosen, and never an empty dataset;
empty, header-only and non-CSV files get a sentence, not garbage rows; datasets can
be renamed, and removed after a confirmation. Plus ``engine.ingest.inspect`` directly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.ingest import mapping as im
from engine.ingest.inspect import check_file, scan_file
from engine.ingest.samples import SAMPLE_TZ

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"


def open_import() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    at.switch_page("pages/import.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.get("file_uploader")[0].set_value((name, data, "application/octet-stream")).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def info_text(at: AppTest) -> str:
    return "\n".join(str(x.value) for x in (*at.info, *at.warning, *at.error, *at.caption))


def test_the_page_analyses_the_dataset_just_imported_after_each_of_two_imports(app_env):
    at = upload(open_import(), "events_broken.csv", (SAMPLES / "events_broken.csv").read_bytes())
    at.button(key="imp_go").click().run()
    assert at.selectbox(key="imp_ds").value == "events_broken"

    at = upload(at, "events_renamed.parquet", (SAMPLES / "events_renamed.parquet").read_bytes())
    tz_key = next(s.key for s in at.selectbox if s.key and s.key.startswith("imp_tz_"))
    at.selectbox(key=tz_key).set_value("UTC").run()
    at.button(key="imp_go").click().run()
    assert not at.exception
    assert at.selectbox(key="imp_ds").value == "events_renamed"
    assert "no accepted events" not in info_text(at)
    n = im.dataset_events(im.dataset_path(im.imports_dir_for(app_env), "events_renamed"))
    assert len(n) == 2_000
    assert any(f"{len(n):,} events from" in str(c.value) for c in at.caption)


def test_naive_timestamps_suggest_a_zone_and_disable_import(app_env):
    at = upload(
        open_import(), "events_renamed.parquet", (SAMPLES / "events_renamed.parquet").read_bytes()
    )
    assert "without a UTC offset" in info_text(at)
    assert at.button(key="imp_go").disabled
    at.button(key="imp_use_UTC").click().run()
    tz_key = next(s.key for s in at.selectbox if s.key and s.key.startswith("imp_tz_"))
    assert at.selectbox(key=tz_key).value == "UTC"
    assert not at.button(key="imp_go").disabled
    assert "without a UTC offset" not in info_text(at)


def test_an_import_that_accepts_nothing_keeps_no_dataset(tmp_path):
    path = SAMPLES / "events_renamed.parquet"
    mapping = im.guess_mapping(im.file_columns(path))
    result = im.import_file(path, mapping, tmp_path, "naive", now_ms=1_900_000_000_000)
    assert result.report.accepted == 0 and not result.kept
    assert result.report.quarantined == 2_000  # still reported, row by row
    assert im.list_datasets(tmp_path).empty
    ok = im.import_file(
        path, mapping, tmp_path, "naive", now_ms=1_900_000_000_000, assume_tz=SAMPLE_TZ
    )
    assert ok.kept and ok.report.accepted == 2_000
    # an existing dataset is kept even when a later import into it accepts nothing
    again = im.import_file(path, mapping, tmp_path, "naive", now_ms=1_900_000_000_000)
    assert again.kept and list(im.list_datasets(tmp_path)["events"]) == [2_000]


@pytest.mark.parametrize(
    "name,data,kind,says",
    [
        ("empty.csv", b"", "empty", "is empty"),
        ("blank.csv", b"\n\n  \n", "empty", "blank lines"),
        ("header.csv", b"event_time,arrival_time,amount\n", "header_only", "no data rows"),
        ("random.csv", bytes(range(256)) * 8, "not_text", "not a CSV file"),
        ("latin.csv", b"a,b\n" + bytes(range(128, 256)) * 4, "not_text", "readable"),
        ("fake.parquet", b"event_time,arrival_time\n1,2\n", "not_parquet", "not a Parquet"),
        ("header.jsonl", b"{oops\n{nope\n", "not_text", "JSON-lines"),
    ],
)
def test_files_that_cannot_be_imported_are_named_for_what_they_are(
    tmp_path, name, data, kind, says
):
    path = tmp_path / name
    path.write_bytes(data)
    check = check_file(path)
    assert not check.ok and check.kind == kind and says in check.message


def test_shipped_samples_pass_the_check_and_scan():
    for p in sorted(SAMPLES.iterdir()):
        assert check_file(p).ok, p
    sample = SAMPLES / "events_sample.jsonl"
    mapping = im.guess_mapping(im.file_columns(sample))
    outcome = scan_file(sample, mapping, None)
    assert outcome.scanned == 1_500 and outcome.ok == 1_500  # offsets are honoured
    renamed = SAMPLES / "events_renamed.parquet"
    outcome = scan_file(renamed, im.guess_mapping(im.file_columns(renamed)), None)
    assert outcome.all_quarantined and outcome.no_offset == outcome.scanned == 2_000


def test_bad_files_show_a_message_and_no_mapping(app_env):
    at = upload(open_import(), "random.csv", os.urandom(4096).replace(b"\x00", b"\x01") + b"\x00")
    assert any("not a CSV file" in str(e.value) for e in at.error)
    assert not [s for s in at.selectbox if s.key and s.key.startswith("imp_tz_")]
    at = upload(at, "header.csv", b"event_time,arrival_time\n")
    assert any("no data rows" in str(e.value) for e in at.error)


def test_rename_then_remove_after_confirmation(app_env):
    at = open_import()
    assert "events_sample.jsonl" in at.selectbox(key="imp_sample").options
    at.selectbox(key="imp_sample").set_value("events_sample.jsonl").run()
    at.button(key="imp_go").click().run()
    assert at.selectbox(key="imp_ds").value == "events_sample"
    imports = im.imports_dir_for(app_env)

    at.text_input(key="imp_rename_events_sample").set_value("My shop (May)").run()
    at.button(key="imp_rename_go").click().run()
    assert not at.exception
    assert at.selectbox(key="imp_ds").value == "my-shop-may"
    assert list(im.list_datasets(imports)["dataset"]) == ["my-shop-may"]
    assert len(im.dataset_events(im.dataset_path(imports, "my-shop-may"))) == 1_500

    at.button(key="imp_delete").click().run()
    assert im.dataset_path(imports, "my-shop-may").exists()  # not yet: asks first
    assert any("for good" in str(m.value) for m in at.markdown)  # the dialog says so
    assert [t.value for t in at.text] == ["my-shop-may"]
    at.button(key="imp_delete__cancel").click().run()
    assert im.dataset_path(imports, "my-shop-may").exists()
    at.button(key="imp_delete").click().run()
    at.button(key="imp_delete__confirm").click().run()
    assert not at.exception
    assert not im.dataset_path(imports, "my-shop-may").exists()
    assert "No datasets yet" in info_text(at)
