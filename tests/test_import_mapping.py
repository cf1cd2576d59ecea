"""Import of a user's own event log: the column mapping is a pure rename, every row
of a deliberately broken file is reported (accepted + duplicates + quarantined ==
rows), imports land in their own SQLite file, and the shipped samples are what
the generator writes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from engine.ingest import samples as import_samples
from engine.ingest.ingestor import MalformedRow
from engine.ingest.mapping import (
    ColumnMapping,
    dataset_events,
    dataset_name,
    file_columns,
    guess_mapping,
    import_file,
    list_datasets,
    map_record,
    mapped_preview,
    read_preview,
    save_upload,
)
from engine.store.db import Store

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
NOW_MS = 1_800_000_000_000


def test_broken_file_reports_every_row(tmp_path):
    path = SAMPLES / "events_broken.csv"
    mapping = guess_mapping(file_columns(path))
    result = import_file(path, mapping, tmp_path, "broken", now_ms=NOW_MS)
    acc = result.accounting()
    assert acc["rows"] == import_samples.BROKEN_ROWS  # the blank line is not a row
    assert acc["accepted"] + acc["duplicates"] + acc["quarantined"] == acc["rows"]
    expect = import_samples.BROKEN_EXPECT
    assert acc["accepted"] == expect["accepted"]
    assert acc["duplicates"] == expect["duplicates"]
    assert result.report.quarantined_by_reason == expect["quarantined"]
    # every quarantined row is stored with its line, reason and a detail
    q = result.quarantine
    assert len(q) == acc["quarantined"]
    assert q["line"].notna().all() and (q["detail"].str.len() > 0).all()
    assert "no-arrival" in " ".join(q["raw"])
    # and nothing reached the live store: the dataset is its own file
    assert result.db_path == tmp_path / "broken.db"
    assert len(dataset_events(result.db_path)) == expect["accepted"]


def test_reimport_counts_duplicates_not_new_events(tmp_path):
    path = SAMPLES / "events_sample.csv"
    mapping = guess_mapping(file_columns(path))
    first = import_file(path, mapping, tmp_path, "sample", now_ms=NOW_MS)
    again = import_file(path, mapping, tmp_path, "sample", now_ms=NOW_MS + 1)
    assert first.report.accepted == 3_000
    assert again.report.accepted == 0 and again.report.duplicates == 3_000
    datasets = list_datasets(tmp_path)
    assert datasets.set_index("dataset").loc["sample", "events"] == 3_000
    assert datasets.set_index("dataset").loc["sample", "ingests"] == 2


def test_renamed_parquet_needs_the_time_zone(tmp_path):
    path = SAMPLES / "events_renamed.parquet"
    mapping = guess_mapping(file_columns(path))
    assert mapping.columns() == {
        "event_time": "occurred_at",
        "arrival_time": "received_at",
        "source": "channel",
        "amount": "value",
        "event_id": "id",
        "key": "user_id",
        "event_type": "type",
        "items": "qty",
    }
    preview = mapped_preview(path, mapping, None, rows=5)
    assert set(preview["status"]) == {"quarantined: no_offset"}
    result = import_file(
        path, mapping, tmp_path, "renamed", now_ms=NOW_MS, assume_tz=import_samples.SAMPLE_TZ
    )
    assert result.report.accepted == 2_000 and result.report.balanced
    # naive Chicago wall-clock times read in that zone give back the simulator's UTC times
    events = dataset_events(result.db_path)
    sim = import_samples._records(12, 2_000)
    want = pd.to_datetime(sim["event_time"], utc=True).dt.as_unit("ms").astype("int64")
    assert sorted(events["event_time_ms"]) == sorted(want)


def test_mapping_is_a_rename():
    mapping = ColumnMapping(event_time="ts", arrival_time="got", amount="v", default_source="shop")
    out = map_record(
        {"ts": "2026-01-01T00:00:00Z", "got": "2026-01-01T00:00:05Z", "v": "3"}, mapping, 7
    )
    assert out == {
        "event_time": "2026-01-01T00:00:00Z",
        "arrival_time": "2026-01-01T00:00:05Z",
        "amount": "3",
        "source": "shop",
        "event_id": "row-7",
    }
    empty = map_record({"ts": "2026-01-01T00:00:00Z", "got": ""}, mapping, 8)
    assert isinstance(empty, MalformedRow) and "arrival time" in empty.detail
    broken = MalformedRow("x,y", "2 fields where the header has 3")
    assert map_record(broken, mapping, 9) is broken


def test_mapping_problems_explain_themselves():
    cols = ["a", "b"]
    assert ColumnMapping().problems(cols)[0].startswith("choose the column for event time")
    assert "not in the file" in ColumnMapping(event_time="a", arrival_time="zz").problems(cols)[0]
    assert "same column" in ColumnMapping(event_time="a", arrival_time="a").problems(cols)[0]
    assert ColumnMapping(event_time="a", arrival_time="b").problems(cols) == []
    with pytest.raises(ValueError, match="choose the column"):
        import_file(SAMPLES / "events_broken.csv", ColumnMapping(), "/nonexistent", "x", NOW_MS)


def test_previews_show_rows_as_read(tmp_path):
    raw = read_preview(SAMPLES / "events_broken.csv", rows=50)
    assert "(row problem)" in raw.columns
    assert raw["(row problem)"].notna().sum() == 2  # the two rows with a wrong field count
    mapping = guess_mapping(file_columns(SAMPLES / "events_broken.csv"))
    parsed = mapped_preview(SAMPLES / "events_broken.csv", mapping, None, rows=50)
    assert (parsed["status"] == "ok").sum() == 30  # 27 good, resend, conflict, no source
    assert "quarantined: invalid_amount" in set(parsed["status"])


def test_dataset_names_and_bounded_uploads(tmp_path):
    assert dataset_name("My events (May).csv") == "my-events-may"
    with pytest.raises(ValueError):
        dataset_name("***")
    n = save_upload([b"a" * 10, b"b" * 10], tmp_path / "u.csv", max_bytes=25)
    assert n == 20
    with pytest.raises(ValueError, match="larger than"):
        save_upload([b"a" * 20, b"b" * 20], tmp_path / "big.csv", max_bytes=25)
    assert not (tmp_path / "big.csv").exists()


def test_shipped_samples_are_what_the_generator_writes(tmp_path):
    counts = import_samples.write_samples(tmp_path)
    assert counts == {
        "events_sample.csv": 3_000,
        "events_renamed.parquet": 2_000,
        "events_broken.csv": import_samples.BROKEN_ROWS,
        "events_sample.jsonl": 1_500,
    }
    for name in ("events_sample.csv", "events_broken.csv", "events_sample.jsonl"):
        assert (tmp_path / name).read_bytes() == (SAMPLES / name).read_bytes(), name
    shipped = pd.read_parquet(SAMPLES / "events_renamed.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "events_renamed.parquet"), shipped)


def test_import_store_has_the_live_schema(tmp_path):
    result = import_file(
        SAMPLES / "events_broken.csv",
        guess_mapping(file_columns(SAMPLES / "events_broken.csv")),
        tmp_path,
        "b",
        now_ms=NOW_MS,
    )
    with Store(result.db_path) as store:
        ingests = store.ingests_frame()
    assert ingests.iloc[0]["source_name"] == "import:b"
    assert ingests.iloc[0]["rows_read"] == import_samples.BROKEN_ROWS
