"""Batched version writes change nothing: a simulated history written with the
batched path (numbered panes written in one executemany; an operator's pane turned
into its row directly, ``VersionBuffer.add_pane``) and with one INSERT per pane
through ``NewVersion`` and every check of ``append_version_in_txn`` gives the same
store, row for row, apart from wall-clock job timings."""

from __future__ import annotations

import sqlite3

from hypothesis import given
from hypothesis import strategies as st

from engine.core.results import Version
from engine.runtime.runtime import Runtime, RuntimeSettings
from engine.store import versions as version_writes
from engine.store.schema import METRIC_COLUMNS, TIERS
from engine.store.version_files import VALUE_KEYS
from engine.store.versions import (
    NewVersion,
    VersionBuffer,
    metric_row,
    row_dict,
    values_to_columns,
)
from tests.conftest import SEED_NOW_MS

TABLES = {
    "versions": "SELECT * FROM versions ORDER BY id",
    "contributions": "SELECT * FROM contributions ORDER BY series, window_start_ms, grp, event_id, version, sign",
    "late_events": "SELECT * FROM late_events ORDER BY id",
    "adjustments": "SELECT * FROM adjustments ORDER BY id",
    "raw_events": "SELECT * FROM raw_events ORDER BY seq",
    "jobs": "SELECT id, kind, series, label, tier, reason, status, cutoff_ms FROM jobs ORDER BY id",
}


def build(path) -> dict:
    settings = RuntimeSettings(
        db_path=str(path),
        history_days=3,
        events_per_day=1_200,
        seed=5,
        scenario="flash-sale",
        now_ms=SEED_NOW_MS,
    )
    rt = Runtime(settings).start(scheduler=False)
    try:
        while rt.catching_up:
            rt.tick(budget_ms=60_000)
        rt.run_due_jobs()
    finally:
        rt.shutdown()
    con = sqlite3.connect(path)
    try:
        return {name: con.execute(sql).fetchall() for name, sql in TABLES.items()}
    finally:
        con.close()


def test_batched_and_per_pane_writes_give_the_same_store(tmp_path, monkeypatch):
    batched = build(tmp_path / "batched.db")
    original = version_writes.VersionWrites.append_version_in_txn

    def one_by_one(self, series, nv, state, buffer=None):
        return original(self, series, nv, state, None)  # every pane its own INSERT

    def pane_one_by_one(self, v, number, tier):
        nv = version_writes.NewVersion.from_operator(v, tier=tier)
        # numbered again from the store (nothing is buffered), checked, written now
        assert original(self.store, self.series, nv, {}, None) == number
        return version_writes.version_row(self.series, nv, number)

    monkeypatch.setattr(version_writes.VersionWrites, "append_version_in_txn", one_by_one)
    monkeypatch.setattr(version_writes.VersionBuffer, "add_pane", pane_one_by_one)
    single = build(tmp_path / "single.db")
    assert len(batched["versions"]) > 100 and len(batched["contributions"]) > 1000
    for name in TABLES:
        assert batched[name] == single[name], name


_NUMBER = st.one_of(
    st.none(),
    st.integers(-(10**12), 10**12),
    st.floats(-1e9, 1e9, allow_nan=False),
)
_KEYS = (
    *VALUE_KEYS,  # what the operator emits
    *METRIC_COLUMNS,  # not what the operator emits: the general path
)


@given(st.dictionaries(st.sampled_from(_KEYS), _NUMBER))
def test_metric_row_is_values_to_columns_in_column_order(values):
    columns = values_to_columns(values)
    assert metric_row(values) == tuple(columns.get(c) for c in METRIC_COLUMNS)


@given(
    st.dictionaries(st.sampled_from(VALUE_KEYS), _NUMBER),
    st.sampled_from(("early", "on_time", "late")),
    st.sampled_from(TIERS),
    st.one_of(st.none(), st.tuples(st.integers(0, 10**13), st.integers(0, 10**13))),
    st.lists(st.text(max_size=5), max_size=4),
    st.integers(1, 50),
)
def test_a_pane_buffers_the_row_and_contributions_of_its_new_version(
    values, timing, tier, superseded_by, added, number
):
    v = Version(
        window_start_ms=3_600_000,
        window_end_ms=7_200_000,
        group="web",
        version=number,
        timing=timing,
        processing_time_ms=9_000_000,
        watermark_ms=8_000_000,
        values=values,
        deltas={},
        event_count=len(added),
        superseded_by=superseded_by,
        added_ids=tuple(added),
    )
    fast, general = VersionBuffer(None, "hourly"), VersionBuffer(None, "hourly")
    row = fast.add_pane(v, number, tier)
    assert row == general.add(NewVersion.from_operator(v, tier=tier), number)
    assert fast.rows == general.rows == [row] and fast.keys == general.keys
    assert [list(c) for c in fast.contributions] == [list(c) for c in general.contributions]
    assert row_dict(row)["tier"] == tier and row_dict(row)["version"] == number
