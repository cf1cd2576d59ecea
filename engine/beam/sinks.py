"""Sinks for ``LatewatchWindows``' results.

- ``WriteVersions(db_path, series="beam")``: into latewatch's SQLite store, for
  local runs (one writer; the dashboard, version timelines and tiers then work on
  the runner's numbers). Idempotent per (series, window, group, version), so a
  retried bundle does not duplicate a version.
- ``WriteVersionFiles(directory, fmt="jsonl"|"parquet")``: one file per bundle
  (``FileSystems``, so any path the runner can write: local, gs://, s3:// with the
  matching extra), loadable with ``python -m engine load-versions DIR``.

Both accept the dict ``LatewatchWindows`` returns (versions, late events and
supersessions) or a PCollection of ``Version`` objects alone.
"""

from __future__ import annotations

import io
import json
import uuid

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from engine.beam.panes import Supersession
from engine.core.results import LateEvent, Version
from engine.store.version_files import late_record, superseded_record, version_record


def to_record(item) -> dict:
    if isinstance(item, Version):
        return version_record(item)
    if isinstance(item, LateEvent):
        return late_record(item)
    if isinstance(item, Supersession):
        return superseded_record(item.group, item.old, item.new)
    raise TypeError(f"cannot write {type(item).__name__}")


def _merged(pcolls, label: str):
    if isinstance(pcolls, dict):
        parts = [pcolls[k] for k in ("versions", "late_events", "superseded") if k in pcolls]
        return parts | f"{label}Flatten" >> beam.Flatten()
    return pcolls


class _WriteFiles(beam.DoFn):
    def __init__(self, directory: str, fmt: str) -> None:
        self.directory = directory.rstrip("/")
        self.fmt = fmt

    def start_bundle(self):
        self.records = []

    def process(self, item):
        self.records.append(to_record(item))

    def finish_bundle(self):
        if not self.records:
            return
        path = f"{self.directory}/versions-{uuid.uuid4().hex}.{self.fmt}"
        if self.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            buf = io.BytesIO()
            pq.write_table(pa.Table.from_pylist(self.records), buf)
            data = buf.getvalue()
        else:
            data = "".join(json.dumps(r) + "\n" for r in self.records).encode("utf-8")
        with FileSystems.create(path) as fh:
            fh.write(data)
        self.records = []


class WriteVersionFiles(beam.PTransform):
    def __init__(self, directory: str, fmt: str = "jsonl") -> None:
        super().__init__()
        if fmt not in ("jsonl", "parquet"):
            raise ValueError("version files are jsonl or parquet")
        self.directory = directory
        self.fmt = fmt

    def expand(self, pcolls):
        if not FileSystems.exists(self.directory):
            FileSystems.mkdirs(self.directory)
        return _merged(pcolls, "Files") | "WriteFiles" >> beam.ParDo(
            _WriteFiles(self.directory, self.fmt)
        )


class _WriteStore(beam.DoFn):
    def __init__(self, db_path: str, series: str, spec_json: str | None) -> None:
        self.db_path = db_path
        self.series = series
        self.spec_json = spec_json

    def setup(self):
        from engine.store.db import Store

        self.store = Store(self.db_path)

    def start_bundle(self):
        self.versions, self.late = [], []

    def process(self, item):
        if isinstance(item, Version):
            self.versions.append(item)
        elif isinstance(item, LateEvent):
            self.late.append(item)

    def finish_bundle(self):
        from engine.store.version_files import load_versions

        if self.versions or self.late:
            load_versions(self.store, self.series, self.versions, self.late)
        self.versions, self.late = [], []

    def teardown(self):
        self.store.close()


class WriteVersions(beam.PTransform):
    """Write versions and late events into the store at ``db_path`` as ``series``."""

    def __init__(self, db_path: str, series: str = "beam") -> None:
        super().__init__()
        self.db_path = str(db_path)
        self.series = series

    def expand(self, pcolls):
        return _merged(pcolls, "Store") | "WriteStore" >> beam.ParDo(
            _WriteStore(self.db_path, self.series, None)
        )
