"""Version writes: append-only, gap-free numbering, tiers that never go back, with the
contributions that make ``explain`` exact; the late-events side output; adjustments.

Mixed into ``engine.store.db.Store`` (needs ``self.conn`` and ``self.transaction``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain, repeat

from engine.core.results import LateEvent, Version
from engine.store.queries import chunks
from engine.store.schema import METRIC_COLUMNS, TIER_RANK, TIERS

# How an operator's ``Version.values`` keys map onto version columns. Money is
# integer cents in the store; a float ``revenue`` from the operator is in units.
_VALUE_ALIASES = {
    "revenue_cents": ("revenue_cents",),
    "orders": ("orders",),
    "items": ("items",),
    "events": ("events",),
    "avg_order_value_cents": ("avg_order_value_cents",),
    "median_order_value_cents": ("median_order_value_cents",),
    "distinct_users": ("distinct_users",),
}
_MONEY_IN_UNITS = {
    "revenue_cents": "revenue",
    "avg_order_value_cents": "avg_order_value",
    "median_order_value_cents": "median_order_value",
}


class StoreError(ValueError):
    """A write that would break an invariant (append-only, gap-free, final is final)."""


def values_to_columns(values: dict) -> dict:
    """Operator metric values -> version columns (unknown keys are ignored)."""
    out: dict = {}
    for column, names in _VALUE_ALIASES.items():
        for name in names:
            if name in values and values[name] is not None:
                out[column] = values[name]
                break
        else:
            unit_name = _MONEY_IN_UNITS.get(column)
            if unit_name is not None and values.get(unit_name) is not None:
                amount = values[unit_name]
                out[column] = (
                    int(round(amount * 100)) if column == "revenue_cents" else (float(amount) * 100)
                )
    return out


# The keys a ``WindowOperator`` pane carries (engine.core.panes.pane_values).
_OPERATOR_KEYS = frozenset(
    ("revenue", "orders", "items", "events", "avg_order_value", "median_order_value")
    + ("distinct_users",)
)


def metric_row(values: dict) -> tuple:
    """``values_to_columns(values)`` as the tuple of ``METRIC_COLUMNS`` (None where a
    column has no value): a version row's metrics, without a dict per version for an
    operator's pane (the common case, one per firing)."""
    if values.keys() <= _OPERATOR_KEYS:
        get = values.get
        rev, avg, med = get("revenue"), get("avg_order_value"), get("median_order_value")
        return (
            None if rev is None else int(round(rev * 100)),
            get("orders"),
            get("items"),
            get("events"),
            None if avg is None else float(avg) * 100,
            None if med is None else float(med) * 100,
            get("distinct_users"),
        )
    columns = values_to_columns(values)
    return tuple(map(columns.get, METRIC_COLUMNS))


@dataclass
class NewVersion:
    """A version to append. ``version`` is assigned by the store (max + 1).

    ``added_ids`` / ``removed_ids``: events that entered / left the window's
    result in this version; they become ``contributions`` rows, which is what
    makes ``explain`` exact.
    """

    window_start_ms: int
    window_end_ms: int
    grp: str
    values: dict
    event_count: int
    timing: str
    tier: str
    reason: str
    processing_time_ms: int | None
    watermark_ms: int | None
    added_ids: Sequence[str] = ()
    removed_ids: Sequence[str] = ()
    superseded_by: tuple[int, int] | None = None
    job_id: int | None = None
    expected_version: int | None = None  # if set, must equal the number assigned

    @classmethod
    def from_operator(
        cls, v: Version, *, tier: str = "live", reason: str | None = None
    ) -> NewVersion:
        return cls(
            window_start_ms=v.window_start_ms,
            window_end_ms=v.window_end_ms,
            grp=v.group,
            values=values_to_columns(v.values),
            event_count=v.event_count,
            timing=v.timing,
            tier=tier,
            reason=reason or v.reason,
            processing_time_ms=v.processing_time_ms,
            watermark_ms=v.watermark_ms,
            added_ids=tuple(getattr(v, "added_ids", ()) or ()),
            superseded_by=v.superseded_by,
        )


_INSERT_VERSION = (
    "INSERT INTO versions (series, window_start_ms, window_end_ms, grp, version, timing, "
    "tier, reason, processing_time_ms, watermark_ms, "
    + ", ".join(METRIC_COLUMNS)
    + ", event_count, superseded_by_start_ms, superseded_by_end_ms, job_id) VALUES ("
    + ", ".join("?" * (10 + len(METRIC_COLUMNS) + 4))
    + ")"
)


_INSERT_CONTRIBUTION = (
    "INSERT INTO contributions (series, window_start_ms, grp, version, event_id, sign) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)


def version_row(series: str, nv: NewVersion, number: int) -> tuple:
    """The ``_INSERT_VERSION`` parameters of ``nv`` numbered ``number``."""
    sup = nv.superseded_by or (None, None)
    values = nv.values
    return (
        series,
        nv.window_start_ms,
        nv.window_end_ms,
        nv.grp,
        number,
        nv.timing,
        nv.tier,
        nv.reason,
        nv.processing_time_ms,
        nv.watermark_ms,
        *map(values.get, METRIC_COLUMNS),
        nv.event_count,
        sup[0],
        sup[1],
        nv.job_id,
    )


# Names of a version row's parameters, in order (what ``row_dict`` gives back).
VERSION_ROW_FIELDS = (
    ("series", "window_start_ms", "window_end_ms", "grp", "version", "timing", "tier", "reason")
    + ("processing_time_ms", "watermark_ms")
    + METRIC_COLUMNS
    + ("event_count", "superseded_by_start_ms", "superseded_by_end_ms", "job_id")
)


def row_dict(row: tuple) -> dict:
    """A version row's parameters by column name (as ``Store.latest`` would read it)."""
    return dict(zip(VERSION_ROW_FIELDS, row, strict=True))


def contribution_rows(head: tuple, event_ids: Sequence[str], sign: int):
    """``contributions`` rows of ``event_ids`` for the version ``head`` = (series,
    window_start_ms, grp, version): built by ``zip`` in C, one tuple per event."""
    ids = event_ids if isinstance(event_ids, list | tuple) else tuple(event_ids)
    n = len(ids)
    if n < 8:  # a late pane adds one event: a tuple is cheaper than a zip of repeats
        return [(*head, eid, sign) for eid in ids]
    return zip(*(repeat(x, n) for x in head), ids, repeat(sign, n), strict=True)


class VersionBuffer:
    """Numbered version rows waiting to be written in one batch (see
    ``VersionWrites.append_version_in_txn``). ``flush()`` writes them in order: one
    ``executemany`` for the versions, one for their contributions."""

    def __init__(self, store: VersionWrites, series: str) -> None:
        self.store = store
        self.series = series
        self.rows: list[tuple] = []  # ``_INSERT_VERSION`` parameters
        self.contributions: list[Iterable[tuple]] = []  # batches of contribution rows
        self.keys: set[tuple[int, str]] = set()  # windows with rows in the buffer

    def add(self, nv: NewVersion, number: int) -> tuple:
        """Buffer ``nv`` numbered ``number`` (and its contributions); its row."""
        row = version_row(self.series, nv, number)
        self.rows.append(row)
        self.keys.add((nv.window_start_ms, nv.grp))
        head = (self.series, nv.window_start_ms, nv.grp, number)
        if nv.added_ids:
            self.contributions.append(contribution_rows(head, nv.added_ids, 1))
        if nv.removed_ids:
            self.contributions.append(contribution_rows(head, nv.removed_ids, -1))
        return row

    def add_pane(self, v: Version, number: int, tier: str) -> tuple:
        """``add(NewVersion.from_operator(v, tier=tier), number)`` without building the
        ``NewVersion`` and its column dict: the streaming path, one call per firing."""
        ws, grp, series = v.window_start_ms, v.group, self.series
        sup = v.superseded_by or (None, None)
        row = (
            series,
            ws,
            v.window_end_ms,
            grp,
            number,
            v.timing,
            tier,
            v.reason,
            v.processing_time_ms,
            v.watermark_ms,
            *metric_row(v.values),
            v.event_count,
            sup[0],
            sup[1],
            None,
        )
        self.rows.append(row)
        self.keys.add((ws, grp))
        if v.added_ids:
            self.contributions.append(contribution_rows((series, ws, grp, number), v.added_ids, 1))
        return row

    def flush(self) -> None:
        rows, self.rows = self.rows, []
        contributions, self.contributions = self.contributions, []
        self.keys = set()
        if rows:
            conn = self.store.conn
            conn.executemany(_INSERT_VERSION, rows)
            if contributions:
                conn.executemany(_INSERT_CONTRIBUTION, chain.from_iterable(contributions))


class VersionWrites:
    """Appending versions and contributions, the side output and adjustments."""

    def _current(self, series: str, window_start_ms: int, grp: str) -> tuple[int, str | None]:
        """(last version number, tier) of a window; tiers never go back, so the last
        version's tier is the window's tier."""
        row = self.conn.execute(
            "SELECT version, tier FROM versions WHERE series = ? AND window_start_ms = ? "
            "AND grp = ? ORDER BY version DESC LIMIT 1",
            (series, window_start_ms, grp),
        ).fetchone()
        return (0, None) if row is None else (row[0], row[1])

    def append_versions(
        self,
        series: str,
        versions: Iterable[NewVersion],
        current: dict[tuple[int, str], tuple[int, str | None]] | None = None,
    ) -> list[int]:
        """Append versions in order, numbering each window's versions max + 1.

        Refuses (``StoreError``) a tier that goes backwards, a non-adjustment
        version after a final one, and an ``expected_version`` that does not match.
        All rows, and their contributions, go in one transaction. ``current`` is an
        optional cache of (last number, tier) per (window_start_ms, grp) that a caller
        inside a longer transaction keeps to save a lookup per version.
        """
        assigned: list[int] = []
        with self.transaction():
            state = {} if current is None else current
            for nv in versions:
                assigned.append(self.append_version_in_txn(series, nv, state))
        return assigned

    def append_version_in_txn(
        self,
        series: str,
        nv: NewVersion,
        state: dict[tuple[int, str], tuple[int, str | None]],
        buffer: VersionBuffer | None = None,
    ) -> int:
        """One version, inside a transaction the caller holds (no savepoint of its
        own: a caller appending thousands of panes in one transaction saves two
        statements per pane). Same checks as ``append_versions``; returns the number.

        With ``buffer`` the rows are only numbered and checked now and written by
        ``buffer.flush()`` (one ``executemany`` for all versions, one for all their
        contributions); the caller flushes before it reads those windows back."""
        if not self.conn.in_transaction:
            raise StoreError("append_version_in_txn needs an open transaction")
        if nv.tier not in TIERS:
            raise StoreError(f"tier {nv.tier!r} is not one of {TIERS}")
        key = (nv.window_start_ms, nv.grp)
        if key not in state:
            if buffer is not None and key in buffer.keys:
                buffer.flush()  # the lookup must see what is buffered
            state[key] = self._current(series, nv.window_start_ms, nv.grp)
        last, tier = state[key]
        if tier == "final" and nv.reason != "adjustment":
            raise StoreError(
                f"window {nv.window_start_ms}/{nv.grp} of {series!r} is final; "
                "later changes are adjustments"
            )
        if tier is not None and TIER_RANK[nv.tier] < TIER_RANK[tier]:
            raise StoreError(f"tier cannot go back from {tier} to {nv.tier}")
        number = last + 1
        if nv.expected_version is not None and nv.expected_version != number:
            raise StoreError(f"expected version {nv.expected_version} but the next is {number}")
        if buffer is None:
            self._write_versions(series, [(nv, number)])
        else:
            buffer.add(nv, number)
        state[key] = (number, tier if tier == "final" else nv.tier)
        return number

    def _insert_version(self, series: str, nv: NewVersion, number: int) -> None:
        self._write_versions(series, [(nv, number)])

    def _write_versions(self, series: str, numbered: Sequence[tuple[NewVersion, int]]) -> None:
        """Version rows and their contributions, two ``executemany`` in all."""
        buffer = VersionBuffer(self, series)
        for nv, number in numbered:
            buffer.add(nv, number)
        buffer.flush()

    def contributed_ids(self, series: str, window_start_ms: int, grp: str) -> set[str]:
        """Events counted in the window's latest version (net of removals). Summed in
        SQLite: a day window holds tens of thousands of contributions."""
        return {
            eid
            for (eid,) in self.conn.execute(
                "SELECT event_id FROM contributions WHERE series = ? AND window_start_ms = ? "
                "AND grp = ? GROUP BY event_id HAVING sum(sign) > 0",
                (series, window_start_ms, grp),
            )
        }

    def counted_among(
        self, series: str, window_start_ms: int, grp: str, event_ids: Iterable[str]
    ) -> set[str]:
        """Which of ``event_ids`` the window's latest version counts (net of removals):
        ``contributed_ids(...) & set(event_ids)`` without reading the whole window."""
        out: set[str] = set()
        for part in chunks(sorted(set(event_ids)), 5000):
            marks = ",".join("?" * len(part))
            out.update(
                eid
                for (eid,) in self.conn.execute(
                    "SELECT event_id FROM contributions WHERE series = ? AND window_start_ms = ? "
                    f"AND grp = ? AND event_id IN ({marks}) GROUP BY event_id "
                    "HAVING sum(sign) > 0",
                    (series, window_start_ms, grp, *part),
                )
            )
        return out

    # -- late events side output ------------------------------------------------
    def record_late_events(self, series: str, late: Iterable[LateEvent]) -> int:
        rows = [
            (
                series,
                le.event_id,
                le.source,
                le.window_start_ms,
                le.window_end_ms,
                le.group,
                le.action,
                le.late_by_ms,
                le.watermark_ms,
                le.processing_time_ms,
                le.event_time_ms,
                le.amount_cents,
            )
            for le in late
        ]
        if rows:
            with self.transaction():
                self.conn.executemany(
                    "INSERT INTO late_events (series, event_id, source, window_start_ms, "
                    "window_end_ms, grp, action, late_by_ms, watermark_ms, processing_time_ms, "
                    "event_time_ms, amount_cents) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
        return len(rows)

    def mark_late_absorbed(self, late_ids: Sequence[int], job_id: int) -> None:
        for part in chunks(list(late_ids), 5000):
            marks = ",".join("?" * len(part))
            self.conn.execute(
                f"UPDATE late_events SET absorbed_by_job = ? WHERE id IN ({marks})",
                [job_id, *part],
            )

    # -- adjustments ------------------------------------------------------------
    def insert_adjustments(self, series: str, rows: Iterable[dict]) -> int:
        """Book adjustments (call inside a transaction). An event is booked against a
        window at most once (UNIQUE), so re-running a job cannot book it twice."""
        n = 0
        for r in rows:
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO adjustments (series, window_start_ms, window_end_ms, grp, "
                "final_version, event_id, revenue_cents, orders, items, events, "
                "period_start_ms, period_end_ms, booked_at_ms, reason, job_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    series,
                    r["window_start_ms"],
                    r["window_end_ms"],
                    r["grp"],
                    r["final_version"],
                    r.get("event_id"),
                    r.get("revenue_cents", 0),
                    r.get("orders", 0),
                    r.get("items", 0),
                    r.get("events", 0),
                    r["period_start_ms"],
                    r["period_end_ms"],
                    r["booked_at_ms"],
                    r["reason"],
                    r.get("job_id"),
                ),
            )
            n += cur.rowcount
        return n
