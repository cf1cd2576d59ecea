"""Simulator frames in and out: ``Event`` objects, the record files the CLI
writes (.jsonl/.csv/.parquet with ISO-8601 'Z' times) and reading them back
into the analysis frame (int64 ms times, integer cents) that
``engine.analysis.lateness`` and ``engine.analysis.completeness`` take.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from engine.core.events import Event
from engine.core.text import formula_safe

RECORD_COLUMNS = (
    "event_id",
    "source",
    "key",
    "event_type",
    "amount",
    "items",
    "event_time",
    "arrival_time",
)


def frame_events(frame: pd.DataFrame) -> Iterator[Event]:
    """``Event`` objects for the rows of a simulator frame, in row order."""
    cols = (
        "event_id",
        "source",
        "event_time_ms",
        "arrival_time_ms",
        "amount_cents",
        "items",
        "event_type",
        "key",
    )
    lists = [
        frame[c].astype(object).tolist() if c in ("source", "event_type") else frame[c].tolist()
        for c in cols
    ]
    for eid, src, et, at, cents, items, etype, key in zip(*lists, strict=True):
        yield Event(eid, src, int(et), int(at), int(cents), int(items), etype, key)


def _iso(ms: np.ndarray) -> np.ndarray:
    text = np.datetime_as_string(np.asarray(ms, dtype="datetime64[ms]"), unit="ms", timezone="UTC")
    return text.astype(object)


def to_record_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The records the CLI writes: ISO-8601 UTC times with a 'Z', amount in dollars."""
    return pd.DataFrame(
        {
            "event_id": frame["event_id"].to_numpy(),
            "source": frame["source"].astype(str).to_numpy(),
            "key": frame["key"].to_numpy(),
            "event_type": frame["event_type"].astype(str).to_numpy(),
            "amount": frame["amount_cents"].to_numpy() / 100,
            "items": frame["items"].to_numpy(),
            "event_time": _iso(frame["event_time_ms"].to_numpy()),
            "arrival_time": _iso(frame["arrival_time_ms"].to_numpy()),
        }
    )


def write_records(frame: pd.DataFrame, path: str | Path) -> int:
    """Write a simulator frame as .jsonl, .csv or .parquet; returns the row count."""
    path = Path(path)
    rec = to_record_frame(frame)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        rec.to_json(path, orient="records", lines=True)
    elif suffix == ".csv":
        # a CSV is opened in spreadsheets: text that starts like a formula gets a
        # leading ' (engine.core.text); numbers (negative refunds too) stay numbers
        text_cols = [c for c in rec.columns if not pd.api.types.is_numeric_dtype(rec[c])]
        safe = rec.assign(
            **{c: [formula_safe(v) for v in rec[c].astype(object)] for c in text_cols}
        )
        safe.to_csv(path, index=False)
    elif suffix == ".parquet":
        rec.to_parquet(path, index=False)
    else:
        raise ValueError(f"cannot write {path.name}: use .jsonl, .csv or .parquet")
    return len(rec)


def _ms_column(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(values):
        return np.rint(values.to_numpy(dtype=float) * 1000).astype(np.int64)  # epoch seconds
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").dt.as_unit("ms").astype("int64").to_numpy()
    if pd.api.types.is_datetime64_dtype(values):
        raise ValueError("a timestamp has no UTC offset")
    text = values.astype(str)
    if not text.str.contains(r"(?:[Zz]|[+-]\d\d:?\d\d)$", regex=True).all():
        raise ValueError("a timestamp has no UTC offset")
    parsed = pd.to_datetime(text, utc=True, format="ISO8601")
    return parsed.dt.as_unit("ms").astype("int64").to_numpy()


def read_events_file(path: str | Path) -> pd.DataFrame:
    """Read a file written by ``write_records`` (or any file with the same record
    columns) into the analysis frame: int64 ms times and amount_cents.

    Times must carry an offset ('Z' or '+hh:mm'); naive times raise ValueError.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        import pyarrow.json as pj  # pyarrow's reader is ~10x faster than pandas' here

        rec = pj.read_json(path).to_pandas()
    elif suffix == ".csv":
        rec = pd.read_csv(path, dtype={"event_id": str, "key": str})
    elif suffix == ".parquet":
        rec = pd.read_parquet(path)
    else:
        raise ValueError(f"cannot read {path.name}: use .jsonl, .csv or .parquet")
    out = pd.DataFrame(
        {"event_id": rec["event_id"].astype(str), "source": rec["source"].astype("category")}
    )
    for col in ("event_time", "arrival_time"):
        if f"{col}_ms" in rec:
            out[f"{col}_ms"] = rec[f"{col}_ms"].astype("int64")
        else:
            try:
                out[f"{col}_ms"] = _ms_column(rec[col])
            except (ValueError, TypeError) as exc:
                raise ValueError(
                    f"{path.name}: column {col!r} needs ISO-8601 times with an offset"
                ) from exc
    if "amount_cents" in rec:
        out["amount_cents"] = rec["amount_cents"].astype("int64")
    else:
        out["amount_cents"] = np.rint(
            rec.get("amount", pd.Series(0.0, index=rec.index)).fillna(0) * 100
        ).astype("int64")
    out["amount"] = out["amount_cents"] / 100
    out["items"] = rec["items"].fillna(0).astype("int64") if "items" in rec else 0
    out["event_type"] = (
        rec["event_type"].astype("category") if "event_type" in rec else "order.placed"
    )
    out["key"] = rec.get("key", None)
    return out
