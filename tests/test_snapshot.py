"""Operator snapshots: a restored operator continues exactly like one never stopped,
and a runtime start restores them instead of replaying the raw log."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core import snapshot as snapshots
from engine.core.operator import WindowOperator
from engine.core.spec import PipelineSpec, WindowSpec
from engine.runtime.runtime import Runtime, RuntimeSettings
from engine.store.db import Store
from tests.conftest import SEED_SETTINGS
from tests.test_operator import specs, streams


def _run(op: WindowOperator, events) -> tuple[list, list]:
    for e in events:
        op.process(e)
    return op.drain()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), specs(), st.floats(0, 1))
def test_restored_operator_continues_like_the_uninterrupted_one(events, spec, cut):
    k = int(len(events) * cut)
    whole = WindowOperator(spec, track_contributions=True)
    first = _run(whole, events[:k])
    whole.drain_supersessions()

    part = WindowOperator(spec, track_contributions=True)
    assert _run(part, events[:k]) == first
    part.drain_supersessions()
    blob = snapshots.snapshot(part)
    restored = snapshots.restore(spec, blob)

    rest_whole = _run(whole, events[k:])
    rest_restored = _run(restored, events[k:])
    assert rest_restored == rest_whole
    whole.finish()
    restored.finish()
    assert restored.drain() == whole.drain()
    assert restored.metrics() == whole.metrics()
    assert restored.watermark_ms == whole.watermark_ms


def test_snapshot_of_another_spec_or_other_bytes_is_refused():
    spec = PipelineSpec(window=WindowSpec(kind="tumbling", size_ms=60_000))
    other = PipelineSpec(window=WindowSpec(kind="tumbling", size_ms=120_000))
    blob = snapshots.snapshot(WindowOperator(spec))
    assert isinstance(snapshots.restore(spec, blob), WindowOperator)
    with pytest.raises(snapshots.SnapshotMismatch):
        snapshots.restore(other, blob)
    with pytest.raises(snapshots.SnapshotMismatch):
        snapshots.restore(spec, b"not a snapshot")


def test_snapshot_refuses_undrained_emissions():
    from tests.test_operator import ev

    op = WindowOperator(PipelineSpec(window=WindowSpec(kind="tumbling", size_ms=1_000)))
    op.process(ev(1, 10, arrival=10))
    op.finish()
    with pytest.raises(ValueError, match="drain"):
        snapshots.snapshot(op)


def _operators_after_start(db) -> dict:
    rt = Runtime(RuntimeSettings(db_path=str(db), **SEED_SETTINGS)).start(scheduler=False)
    try:
        return {
            name: (snapshots.snapshot(op), op.metrics(), op.watermark_ms)
            for name, op in rt.operators.items()
        }
    finally:
        rt.shutdown()


def test_start_restores_the_snapshot_written_with_the_checkpoint(seeded_db, tmp_path):
    store = Store.open(seeded_db)
    checkpoint = store.get_kv("runtime")["processed_seq"]
    rows = store.conn.execute(
        "SELECT series, seq, format FROM operator_snapshots WHERE series != '~simulator-feed'"
    ).fetchall()
    store.close()
    assert {r[0] for r in rows} == {"hourly", "daily"}
    assert all(seq == checkpoint and fmt == snapshots.FORMAT for _, seq, fmt in rows)

    restored = _operators_after_start(seeded_db)
    # The same start without snapshots replays the whole raw log: same open state.
    con = sqlite3.connect(seeded_db)
    con.execute("DELETE FROM operator_snapshots")
    con.commit()
    con.close()
    replayed = _operators_after_start(seeded_db)
    for name in ("hourly", "daily"):
        assert restored[name][1] == replayed[name][1]  # outcomes, state sizes, watermarks
        assert restored[name][2] == replayed[name][2]
