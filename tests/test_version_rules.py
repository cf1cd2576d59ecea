"""The versions table's insert rule (migration m015, one trigger) refuses and accepts
exactly what the three triggers it replaced did (m002's gap-free numbering, m005's
final-is-final and tiers-never-go-back), with the same message: drawn sequences of
raw INSERTs, bypassing the Python checks, go to a store with each. And ``as_of``
still reads an index after m016 dropped ``versions_as_of``."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from engine.store.db import Store

_LATEST_TIER = (
    "(SELECT tier FROM versions WHERE series = NEW.series "
    "AND window_start_ms = NEW.window_start_ms AND grp = NEW.grp "
    "ORDER BY version DESC LIMIT 1)"
)
_RANK = "CASE {} WHEN 'live' THEN 0 WHEN 'preliminary' THEN 1 WHEN 'final' THEN 2 END"
# The triggers as m002 and m005 created them, in that order (SQLite runs the newest first).
OLD_TRIGGERS = (
    """CREATE TRIGGER versions_gap_free BEFORE INSERT ON versions
    WHEN NEW.version != 1 + coalesce((SELECT max(version) FROM versions
         WHERE series = NEW.series AND window_start_ms = NEW.window_start_ms
           AND grp = NEW.grp), 0)
    BEGIN SELECT RAISE(ABORT, 'version numbers must be gap-free'); END""",
    f"""CREATE TRIGGER versions_final_is_final BEFORE INSERT ON versions
    WHEN NEW.reason != 'adjustment' AND {_LATEST_TIER} = 'final'
    BEGIN SELECT RAISE(ABORT, 'window is final: only adjustments may follow'); END""",
    f"""CREATE TRIGGER versions_tier_never_goes_back BEFORE INSERT ON versions
    WHEN {_RANK.format("NEW.tier")} < coalesce({_RANK.format(_LATEST_TIER)}, 0)
    BEGIN SELECT RAISE(ABORT, 'a window''s tier never goes back'); END""",
)


@pytest.fixture(scope="module")
def stores():
    new, old = Store(":memory:"), Store(":memory:")
    old.conn.execute("DROP TRIGGER versions_insert_rules")
    for sql in OLD_TRIGGERS:
        old.conn.execute(sql)
    yield new, old
    new.close()
    old.close()


def _outcome(conn: sqlite3.Connection, row: tuple) -> str:
    try:
        conn.execute(
            "INSERT INTO versions (series, window_start_ms, window_end_ms, grp, version, "
            "timing, tier, reason, event_count) VALUES ('s', ?, 1, ?, ?, 'x', ?, ?, 0)",
            row,
        )
    except sqlite3.IntegrityError as exc:
        return str(exc)
    return "ok"


# the version number relative to the window's next one (mostly the next: a valid insert)
_STEPS = {"next": 1, "again": 0, "skip": 2, "zero": None, "null": None}
_INSERT = st.tuples(
    st.sampled_from((0, 3_600_000)),  # window
    st.sampled_from(("*", "web")),  # group
    st.sampled_from(("next",) * 5 + tuple(_STEPS)),
    st.sampled_from(("live", "preliminary", "final", "bogus")),
    st.sampled_from(("on_time", "late_data", "patch", "adjustment")),
)


@example(
    [
        (0, "*", "next", "final", "on_time"),
        (0, "*", "skip", "live", "on_time"),
        (0, "*", "next", "final", "patch"),
        (0, "*", "next", "live", "adjustment"),
        (0, "*", "next", "final", "adjustment"),
        (0, "*", "skip", "bogus", "patch"),
        (0, "*", "zero", "final", "adjustment"),
    ]
)
@given(st.lists(_INSERT, max_size=25))
def test_one_insert_rule_decides_as_the_three_triggers_did(stores, inserts):
    new, old = stores
    for store in (new, old):
        store.conn.execute("BEGIN")
    try:
        for ws, grp, step, tier, reason in inserts:
            (last,) = new.conn.execute(
                "SELECT coalesce(max(version), 0) FROM versions WHERE window_start_ms = ? "
                "AND grp = ?",
                (ws, grp),
            ).fetchone()
            version = {"zero": 0, "null": None}.get(step, last + (_STEPS[step] or 0))
            row = (ws, grp, version, tier, reason)
            assert _outcome(new.conn, row) == _outcome(old.conn, row), row
    finally:
        for store in (new, old):
            store.conn.execute("ROLLBACK")


def test_as_of_walks_the_window_newest_first_on_the_unique_index(stores):
    """m016 dropped versions_as_of: the query ``Store.as_of`` sends must read the unique
    index newest first (no sort of the window's versions, no scan)."""
    new, _ = stores
    sent: list[str] = []
    new.conn.set_trace_callback(sent.append)
    try:
        assert new.as_of("s", 0, "*", 1) is None
    finally:
        new.conn.set_trace_callback(None)
    (query,) = [q for q in sent if "processing_time_ms <=" in q]
    plan = " ".join(str(row) for row in new.conn.execute("EXPLAIN QUERY PLAN " + query))
    assert "sqlite_autoindex_versions_1" in plan and "TEMP B-TREE" not in plan, plan
