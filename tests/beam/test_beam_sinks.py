"""Sinks: ``WriteVersions`` into the store and ``WriteVersionFiles`` (JSONL, Parquet)
loaded with ``python -m engine load-versions`` hold the same versions as ``replay``."""

from __future__ import annotations

import json

import apache_beam as beam

from engine.beam.sinks import WriteVersionFiles
from engine.beam.teststream import build_stream, run_stream
from engine.commands.cli import main
from engine.core.replay import replay
from engine.core.spec import PipelineSpec, WatermarkSpec, WindowSpec
from engine.core.timeutil import MINUTE_MS, parse_timestamp_ms
from engine.ingest.readers import replay_records as read_records
from engine.store.db import Store
from engine.store.version_files import read_records as read_version_records
from engine.store.version_files import split_records
from tests.beam.test_beam_boundaries import TICKS

SPEC = PipelineSpec(
    window=WindowSpec.parse("tumbling:10m"),
    watermark=WatermarkSpec.parse("punctuated"),
    allowed_lateness_ms=5 * MINUTE_MS,
)


def stored(db, series: str) -> dict:
    with Store(db) as store:
        rows = store.conn.execute(
            "SELECT window_start_ms, grp, version, timing, revenue_cents, event_count "
            "FROM versions WHERE series = ? ORDER BY window_start_ms, grp, version",
            (series,),
        ).fetchall()
        late = store.conn.execute(
            "SELECT event_id, action FROM late_events WHERE series = ?", (series,)
        ).fetchall()
    return {"versions": [tuple(r) for r in rows], "late": sorted(tuple(r) for r in late)}


def expected_rows(result: dict) -> list[tuple]:
    return [
        (
            parse_timestamp_ms(w["window_start"]),
            w["group"],
            v["version"],
            v["timing"],
            round(v["revenue"] * 100),
            v["event_count"],
        )
        for w in result["windows"]
        for v in w["versions"]
    ]


def test_write_versions_and_load_versions_hold_replays_versions(tmp_path):
    path = tmp_path / "ticks.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in TICKS), encoding="utf-8")
    expected = replay(read_records(path), SPEC)
    db = tmp_path / "beam.db"
    run_stream(build_stream(read_records(path), SPEC), SPEC, db_path=str(db), series="beam")
    got = stored(db, "beam")
    assert got["versions"] == expected_rows(expected)
    assert got["late"] == [("too-late-at-end+L", "too_late")]

    # the same run as version files, loaded twice (idempotent) into another store
    files = tmp_path / "files"
    prepared = build_stream(read_records(path), SPEC)
    result, _ = run_stream(prepared, SPEC)
    versions = [
        v for w in result["windows"] for v in w["versions"]
    ]  # the CLI's own read-back of the files matches too
    assert len(versions) == len(expected_rows(expected))
    with beam.Pipeline() as p:
        (p | beam.Create(_versions_of(expected)) | WriteVersionFiles(str(files), fmt="parquet"))
    db2 = tmp_path / "loaded.db"
    for _ in range(2):
        assert main(["load-versions", str(files), "--db", str(db2), "--series", "hourly"]) == 0
    assert stored(db2, "hourly")["versions"] == expected_rows(expected)


def _versions_of(result: dict):
    """replay's output back into Version objects (what a runner's sink receives)."""
    from engine.core.results import Version

    out = []
    for w in result["windows"]:
        for v in w["versions"]:
            out.append(
                Version(
                    window_start_ms=parse_timestamp_ms(w["window_start"]),
                    window_end_ms=parse_timestamp_ms(w["window_end"]),
                    group=w["group"],
                    version=v["version"],
                    timing=v["timing"],
                    processing_time_ms=parse_timestamp_ms(v["processing_time"]),
                    watermark_ms=None,
                    values={k: v[k] for k in ("revenue", "orders", "items", "events")},
                    deltas={k: v[f"delta_{k}"] for k in ("revenue", "orders", "items", "events")},
                    event_count=v["event_count"],
                )
            )
    return out


def test_version_files_round_trip_jsonl(tmp_path):
    from engine.core.results import LateEvent, Version

    v = Version(
        0,
        600_000,
        "*",
        1,
        "on_time",
        5,
        None,
        {"revenue": 1.5, "orders": 1, "items": 2, "events": 1},
        {"revenue": 1.5, "orders": 1, "items": 2, "events": 1},
        1,
        added_ids=("a",),
    )
    le = LateEvent("b", "web", 0, 600_000, "*", "too_late", None, None, None, 5, 100)
    with beam.Pipeline() as p:
        p | beam.Create([v, le]) | WriteVersionFiles(str(tmp_path), fmt="jsonl")
    versions, late, _ = split_records(read_version_records(tmp_path))
    assert versions == [v] and late == [le]
