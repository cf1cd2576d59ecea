"""Snapshots of a ``WindowOperator``'s open state, so a restart does not replay history.

A snapshot holds everything the operator would otherwise rebuild by replaying the
raw log: open windows (values, trigger state, pending contributions), sessions,
watermarks per key, pending processing-time timers, cleanup and firing queues,
outcome counters and the recompute flags. Derived fields (the window assigner,
the group function, caches) are rebuilt from the spec on restore.

A snapshot is only valid for the exact code that wrote it: ``FORMAT`` is a hash of
the source of the modules whose classes it holds, so a changed operator never
restores a stale layout — the caller falls back to a full replay instead.
"""

from __future__ import annotations

import hashlib
import itertools
import pickle
import zlib
from pathlib import Path

from engine.core.operator import WindowOperator
from engine.core.spec import PipelineSpec

_CORE = Path(__file__).resolve().parent
_STATE_MODULES = (
    "operator.py",
    "window_state.py",
    "watermarks.py",
    "windows.py",
    "results.py",
    "events.py",
    "spec.py",
    "snapshot.py",
)


def _format() -> str:
    digest = hashlib.sha256()
    for name in _STATE_MODULES:
        path = _CORE / name
        digest.update(name.encode())
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()[:16]


FORMAT = _format()


class SnapshotMismatch(ValueError):
    """The snapshot was written by other code or for another spec; replay instead."""


def _state(op: WindowOperator) -> dict:
    """The operator's attributes minus what ``__init__`` derives from the spec."""
    out = {}
    for name, value in vars(op).items():
        if callable(value) and not isinstance(value, type):
            continue  # the assigner's bound methods, the group function
        if name in ("assigner", "spec"):
            continue
        if isinstance(value, itertools.count):
            value = ("__count__", next(value))
            # ``next`` consumed a number: put an equivalent counter back
            setattr(op, name, itertools.count(value[1]))
        out[name] = value
    return out


def snapshot(op: WindowOperator) -> bytes:
    """The operator's full state after ``drain()``: pending emissions are not kept."""
    if op._versions or op._late or op._supersessions:
        raise ValueError("drain the operator before taking a snapshot")
    state = _state(op)
    payload = {
        "format": FORMAT,
        "spec": op.spec.to_json(),
        "track": op.track,
        "collect_lateness": op.collect_lateness,
        "state": state,
    }
    return zlib.compress(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL), 1)


def restore(spec: PipelineSpec, blob: bytes) -> WindowOperator:
    """A ``WindowOperator`` for ``spec`` in the state ``blob`` holds.

    Raises ``SnapshotMismatch`` when the blob comes from other code or another spec.
    Blobs are the runtime's own (its SQLite file), never user input."""
    try:
        payload = pickle.loads(zlib.decompress(blob))  # noqa: S301 - our own checkpoint
    except Exception as exc:
        raise SnapshotMismatch(f"unreadable snapshot: {type(exc).__name__}: {exc}") from exc
    if payload.get("format") != FORMAT:
        raise SnapshotMismatch("snapshot written by another version of the operator")
    if payload.get("spec") != spec.to_json():
        raise SnapshotMismatch("snapshot written for another pipeline spec")
    op = WindowOperator(
        spec,
        track_contributions=payload["track"],
        collect_lateness=payload["collect_lateness"],
    )
    fresh = set(vars(op))
    state = payload["state"]
    if not set(state) <= fresh:
        raise SnapshotMismatch("snapshot holds fields this operator does not have")
    for name, value in state.items():
        if isinstance(value, tuple) and len(value) == 2 and value[0] == "__count__":
            value = itertools.count(value[1])
        setattr(op, name, value)
    return op


__all__ = ["FORMAT", "SnapshotMismatch", "restore", "snapshot"]
