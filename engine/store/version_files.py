"""Version files: panes computed elsewhere (a Beam runner, another machine) as
JSONL or Parquet, and loading them into the store (``python -m engine load-versions``).

One flat record per line / row, told apart by ``kind``:

- ``version``: ``window_start_ms``, ``window_end_ms``, ``group``, ``version``,
  ``timing``, ``reason``, ``processing_time_ms``, ``watermark_ms`` (null where the
  runner does not give them), the metric values (``revenue``, ``orders``, ``items``,
  ``events``, optionally ``avg_order_value``, ``median_order_value``,
  ``distinct_users``), their deltas (``delta_revenue`` …), ``event_count``,
  ``is_first``, ``is_last``, ``added_ids`` (event ids that entered in this version)
  and the same times as ISO-8601 for people (``window_start``, ``processing_time`` …);
- ``late_event``: a late-events side-output record (``LateEvent`` fields, ms);
- ``superseded``: session ``old_*`` was merged into ``new_*``.

Loading is idempotent per (series, window, group, version): files written by
retried bundles may repeat a record, and a version already stored is skipped. A
version that would leave a gap is refused (``StoreError``), never renumbered.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from engine.core.results import LateEvent, Version
from engine.core.timeutil import format_ms

VALUE_KEYS = (
    "revenue",
    "orders",
    "items",
    "events",
    "avg_order_value",
    "median_order_value",
    "distinct_users",
)
DELTA_KEYS = ("revenue", "orders", "items", "events")
LATE_FIELDS = (
    "event_id",
    "source",
    "window_start_ms",
    "window_end_ms",
    "group",
    "action",
    "late_by_ms",
    "watermark_ms",
    "processing_time_ms",
    "event_time_ms",
    "amount_cents",
)


def version_record(v: Version) -> dict:
    rec = {
        "kind": "version",
        "window_start_ms": v.window_start_ms,
        "window_end_ms": v.window_end_ms,
        "window_start": format_ms(v.window_start_ms),
        "window_end": format_ms(v.window_end_ms),
        "group": v.group,
        "version": v.version,
        "timing": v.timing,
        "reason": v.reason,
        "processing_time_ms": v.processing_time_ms,
        "processing_time": format_ms(v.processing_time_ms),
        "watermark_ms": v.watermark_ms,
        "watermark": format_ms(v.watermark_ms),
        "event_count": v.event_count,
        "is_first": v.is_first,
        "is_last": v.is_last,
        "added_ids": list(v.added_ids),
    }
    rec.update({k: v.values[k] for k in VALUE_KEYS if k in v.values})
    rec.update({f"delta_{k}": v.deltas[k] for k in DELTA_KEYS if k in v.deltas})
    return rec


def late_record(le: LateEvent) -> dict:
    rec = {"kind": "late_event", **{f: getattr(le, f) for f in LATE_FIELDS}}
    rec["window_start"] = format_ms(le.window_start_ms)
    rec["window_end"] = format_ms(le.window_end_ms)
    return rec


def superseded_record(group: str, old: tuple[int, int], new: tuple[int, int]) -> dict:
    return {
        "kind": "superseded",
        "group": group,
        "old_start_ms": old[0],
        "old_end_ms": old[1],
        "new_start_ms": new[0],
        "new_end_ms": new[1],
    }


def version_from_record(rec: dict) -> Version:
    values = {k: rec[k] for k in VALUE_KEYS if rec.get(k) is not None}
    deltas = {k: rec[f"delta_{k}"] for k in DELTA_KEYS if rec.get(f"delta_{k}") is not None}
    return Version(
        window_start_ms=int(rec["window_start_ms"]),
        window_end_ms=int(rec["window_end_ms"]),
        group=str(rec["group"]),
        version=int(rec["version"]),
        timing=str(rec["timing"]),
        processing_time_ms=_int_or_none(rec.get("processing_time_ms")),
        watermark_ms=_int_or_none(rec.get("watermark_ms")),
        values=values,
        deltas=deltas,
        event_count=int(rec["event_count"]),
        is_first=bool(rec.get("is_first")),
        is_last=bool(rec.get("is_last")),
        added_ids=tuple(rec.get("added_ids") or ()),
    )


def late_from_record(rec: dict) -> LateEvent:
    return LateEvent(
        **{
            f: (_int_or_none(rec.get(f)) if f.endswith("_ms") or f == "amount_cents" else rec[f])
            for f in LATE_FIELDS
        }
    )


def _int_or_none(value) -> int | None:
    if value is None or value != value:  # None or NaN (Parquet nulls via pandas)
        return None
    return int(value)


def write_records(path: str | Path, records: list[dict]) -> None:
    """One file: ``.jsonl`` or ``.parquet`` by suffix."""
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(records), path)
    else:
        with path.open("w", encoding="utf-8") as fh:
            for rec in records:
                fh.write(json.dumps(rec) + "\n")


def read_records(path: str | Path) -> Iterator[dict]:
    """Records of a ``.jsonl`` / ``.parquet`` file, or of every such file in a folder
    (sorted by name)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".jsonl", ".parquet"))
        if not files:
            raise ValueError(f"{path} holds no .jsonl or .parquet files")
        for file in files:
            yield from read_records(file)
        return
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for rec in pq.read_table(path).to_pylist():
            yield {k: v for k, v in rec.items() if v is not None}
    elif path.suffix in (".jsonl", ".ndjson", ".json"):
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, start=1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise ValueError(f"{path.name}:{n}: invalid JSON ({exc.msg})") from exc
    else:
        raise ValueError(f"cannot read {path.name}: use .jsonl or .parquet")


def split_records(
    records: Iterable[dict],
) -> tuple[list[Version], list[LateEvent], list[dict]]:
    versions, late, superseded = [], [], []
    for rec in records:
        kind = rec.get("kind", "version")
        if kind == "version":
            versions.append(version_from_record(rec))
        elif kind == "late_event":
            late.append(late_from_record(rec))
        elif kind == "superseded":
            superseded.append(rec)
        else:
            raise ValueError(f"unknown record kind {kind!r}")
    return versions, late, superseded


def load_versions(store, series: str, versions: Iterable[Version], late: Iterable[LateEvent] = ()):
    """Append versions (in window, group, version order) and late events to ``store``.
    Returns (versions appended, versions already there, late events recorded)."""
    from engine.store.db import NewVersion

    appended = skipped = 0
    ordered = sorted(versions, key=lambda v: (v.window_start_ms, v.group, v.version))
    state: dict = {}
    with store.transaction():
        for v in ordered:
            key = (v.window_start_ms, v.group)
            if key not in state:
                state[key] = store._current(series, v.window_start_ms, v.group)
            if v.version <= state[key][0]:
                skipped += 1
                continue
            nv = NewVersion.from_operator(v)
            nv.expected_version = v.version
            store.append_version_in_txn(series, nv, state)
            appended += 1
    recorded = store.record_late_events(series, list(late))
    return appended, skipped, recorded
