"""The read side of the store: every query the pages, API and jobs use, values as parameters.

Why the queries look the way they do:
- A window is addressed by ``(series, window_start_ms, grp)``; every lookup is a
  prefix of the ``UNIQUE(series, window_start_ms, grp, version)`` index, so
  ``latest``/``final``/``as_of``/``history`` touch only that window's few rows
  (≤ 5 ms with a million version rows; see ``benchmarks/store_queries.py``).
- ``explain`` (``engine.store.explain``) is exact because the store keeps *which
  version first counted each event* (``contributions``): the events behind
  versions (a, b] are exactly the delta, so per-event additive metrics sum to it
  to the cent.
- What an event adds to the additive metrics is defined once, here
  (``event_metrics``), and the batch recompute in ``engine.runtime.finalize`` uses the
  same definition, so streaming and batch numbers agree.
"""

from __future__ import annotations

import sqlite3
import statistics
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from engine.core.events import ORDER_TYPE
from engine.core.timeutil import DAY_MS, HOUR_MS, MINUTE_MS, format_ms
from engine.store.schema import ADDITIVE_COLUMNS, METRIC_COLUMNS, TIER_RANK

# Arrival-delay buckets for explain: (label, upper bound exclusive).
DELAY_BUCKETS: tuple[tuple[str, float], ...] = (
    ("< 1 min", MINUTE_MS),
    ("1–10 min", 10 * MINUTE_MS),
    ("10–60 min", HOUR_MS),
    ("1–6 h", 6 * HOUR_MS),
    ("6–24 h", DAY_MS),
    ("1–7 d", 7 * DAY_MS),
    ("> 7 d", float("inf")),
)
DEFAULT_GROUP = "*"  # the operator's group for "all sources together"
EVENT_COLUMNS = (
    "event_id",
    "source",
    "key",
    "event_type",
    "amount_cents",
    "items",
    "event_time_ms",
    "arrival_time_ms",
)
_INT_EVENT_COLUMNS = ("amount_cents", "items", "event_time_ms", "arrival_time_ms")
VERSION_COLUMNS = (
    "series",
    "window_start_ms",
    "window_end_ms",
    "grp",
    "version",
    "timing",
    "tier",
    "reason",
    "processing_time_ms",
    "watermark_ms",
    *METRIC_COLUMNS,
    "event_count",
    "superseded_by_start_ms",
    "superseded_by_end_ms",
    "job_id",
)
_SELECT_VERSION = "SELECT " + ", ".join(VERSION_COLUMNS) + " FROM versions "
_WINDOW = "series = ? AND window_start_ms = ? AND grp = ? "


def _latest_in_range(series: str, from_ms: int, to_ms: int, grp: str | None) -> tuple[str, list]:
    """The latest version row of every window starting in [from_ms, to_ms)."""
    params: list = [series, from_ms, to_ms]
    grp_sql = ""
    if grp is not None:
        grp_sql = "AND grp = ? "
        params.append(grp)
    sql = (
        _SELECT_VERSION
        + "WHERE id IN (SELECT id FROM versions v WHERE series = ? AND window_start_ms >= ? "
        "AND window_start_ms < ? "
        + grp_sql
        + "AND version = (SELECT max(version) FROM versions w WHERE w.series = v.series "
        "AND w.window_start_ms = v.window_start_ms AND w.grp = v.grp)) "
        "ORDER BY window_start_ms, grp"
    )
    return sql, params


def chunks(items: Sequence, size: int) -> Iterable[Sequence]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def delay_bucket(delay_ms: int | None) -> str:
    if delay_ms is None:
        return "unknown"
    for label, upper in DELAY_BUCKETS:
        if delay_ms < upper:
            return label
    return DELAY_BUCKETS[-1][0]  # pragma: no cover - inf bound


def event_metrics(event_type: str, amount_cents: int, items: int) -> dict[str, int]:
    """What one event adds to the additive metrics of a window."""
    return {
        "revenue_cents": int(amount_cents),
        "orders": 1 if event_type == ORDER_TYPE else 0,
        "items": int(items),
        "events": 1,
    }


def aggregate(rows: Iterable[dict], metrics: Sequence[str] | None = None) -> dict:
    """Window values from event rows (dicts with event_type, amount_cents, items, key).

    Non-additive metrics (average/median order value in cents, distinct users)
    are filled only when ``metrics`` names them; otherwise they stay ``None``.
    """
    out = dict.fromkeys(ADDITIVE_COLUMNS, 0)
    order_amounts: list[int] = []
    users: set[str] = set()
    revenue = orders = items = events = 0
    for r in rows:  # event_metrics(), inlined: this runs over whole days of events
        amount = int(r["amount_cents"])
        revenue += amount
        items += int(r["items"])
        events += 1
        if r["event_type"] == ORDER_TYPE:
            orders += 1
            order_amounts.append(amount)
        key = r.get("key")
        if key is not None:
            users.add(key)
    out.update(revenue_cents=revenue, orders=orders, items=items, events=events)
    wanted = set(metrics or ())
    out["avg_order_value_cents"] = (
        (sum(order_amounts) / len(order_amounts) if order_amounts else None)
        if "avg_order_value" in wanted
        else None
    )
    out["median_order_value_cents"] = (
        (float(statistics.median(order_amounts)) if order_amounts else None)
        if "median_order_value" in wanted
        else None
    )
    out["distinct_users"] = len(users) if "distinct_users" in wanted else None
    return out


def _masked(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``values`` where ``keep``, NaN elsewhere — ``Series.where`` without pandas'
    per-call overhead: numbers become float64 (unless every row is kept, as ``where``
    does), other columns stay object."""
    if keep.all():
        return values.copy()
    if values.dtype.kind in "iuf":
        return np.where(keep, values, np.nan)
    out = values.astype(object)
    out[~keep] = np.nan
    return out


class StoreQueries:
    """Mixed into ``engine.store.db.Store``; needs ``self.conn`` (a sqlite3 connection)."""

    conn: sqlite3.Connection

    # -- single window ----------------------------------------------------------
    def _versions(self, where: str, params: Sequence) -> list[dict]:
        cur = self.conn.execute(_SELECT_VERSION + where, params)
        return [dict(zip(VERSION_COLUMNS, row, strict=True)) for row in cur]

    def _one(self, where: str, params: Sequence) -> dict | None:
        rows = self._versions(where, params)
        return rows[0] if rows else None

    def version(self, series: str, window_start_ms: int, grp: str, version: int) -> dict | None:
        return self._one(
            "WHERE " + _WINDOW + "AND version = ?", (series, window_start_ms, grp, version)
        )

    def latest(self, series: str, window_start_ms: int, grp: str = DEFAULT_GROUP) -> dict | None:
        """The newest version of a window (any tier), or None if it never fired."""
        return self._one(
            "WHERE " + _WINDOW + "ORDER BY version DESC LIMIT 1", (series, window_start_ms, grp)
        )

    def window_tier(self, series: str, window_start_ms: int) -> str | None:
        """The highest tier any group of the window reached (None: nothing stored): what
        a group appearing only now inherits — a day's tier belongs to all its groups."""
        tiers = {
            t
            for (t,) in self.conn.execute(
                "SELECT DISTINCT tier FROM versions WHERE series = ? AND window_start_ms = ?",
                (series, window_start_ms),
            )
        }
        return max(tiers, key=TIER_RANK.__getitem__) if tiers else None

    def final(self, series: str, window_start_ms: int, grp: str = DEFAULT_GROUP) -> dict | None:
        """The final version if there is one, else the latest — with ``is_final`` and a
        ``label`` saying which, so no page can show a provisional number as final.

        Tiers never go back and only adjustments may follow a final version, so the
        window is final exactly when its latest version's tier is 'final'.
        """
        row = self.latest(series, window_start_ms, grp)
        if row is None:
            return None
        if row["tier"] == "final":
            return {**row, "is_final": True, "label": "final"}
        return {**row, "is_final": False, "label": f"{row['tier']} (not final)"}

    def as_of(self, series: str, window_start_ms: int, grp: str, t_ms: int) -> dict | None:
        """What a dashboard showed at processing time ``t_ms``: the newest version
        whose processing time is ≤ t (None if the window had not fired yet)."""
        return self._one(
            "WHERE " + _WINDOW + "AND processing_time_ms <= ? ORDER BY version DESC LIMIT 1",
            (series, window_start_ms, grp, t_ms),
        )

    def history(self, series: str, window_start_ms: int, grp: str = DEFAULT_GROUP) -> list[dict]:
        """All versions, oldest first, each with ``delta_<metric>`` against the previous
        version (the first version's deltas are its values)."""
        rows = self._versions(
            "WHERE " + _WINDOW + "ORDER BY version", (series, window_start_ms, grp)
        )
        prev: dict | None = None
        for row in rows:
            for col in METRIC_COLUMNS + ("event_count",):
                cur_v = row[col]
                prev_v = prev[col] if prev is not None else 0
                row[f"delta_{col}"] = None if cur_v is None or prev_v is None else cur_v - prev_v
            prev = row
        return rows

    def history_frame(
        self, series: str, window_start_ms: int, grp: str = DEFAULT_GROUP
    ) -> pd.DataFrame:
        return pd.DataFrame(self.history(series, window_start_ms, grp))

    # -- ranges for pages -------------------------------------------------------
    def windows_in_range(
        self, series: str, from_ms: int, to_ms: int, grp: str | None = None
    ) -> pd.DataFrame:
        """Every window starting in [from_ms, to_ms): latest and final values and tiers.

        Columns: window_start_ms, window_end_ms, grp, versions, latest_version,
        latest_tier, latest_reason, latest_<metric>…, final_version (NA if not final),
        final_<metric>…, is_final, label.
        """
        sql, params = _latest_in_range(series, from_ms, to_ms, grp)
        latest = pd.read_sql_query(sql, self.conn, params=params)
        metric_cols = [*METRIC_COLUMNS, "event_count"]
        # Tiers never go back, so a final window's latest version is its final one.
        is_final = latest["tier"] == "final"
        final_version = latest["version"].where(is_final).astype("Int64")
        # One constructor call: a column inserted at a time costs ~0.5 ms each (the
        # API's /windows and the pages read this often).
        mask = is_final.to_numpy(dtype=bool)
        columns = {
            "window_start_ms": latest["window_start_ms"],
            "window_end_ms": latest["window_end_ms"],
            "grp": latest["grp"],
            "versions": latest["version"],
            "latest_version": latest["version"],
            "latest_tier": latest["tier"],
            "latest_reason": latest["reason"],
            "latest_processing_time_ms": latest["processing_time_ms"],
            **{f"latest_{c}": latest[c] for c in metric_cols},
            "final_version": final_version,
            # the finals masked in numpy: Series.where per column cost more pandas time
            **{f"final_{c}": _masked(latest[c].to_numpy(), mask) for c in metric_cols},
            "is_final": final_version.notna(),
            "label": [
                "final" if fin else f"{tier} (not final)"
                for fin, tier in zip(final_version.notna(), latest["tier"], strict=True)
            ],
        }
        return pd.DataFrame(columns, index=latest.index)

    def windows_in_range_rows(
        self, series: str, from_ms: int, to_ms: int, grp: str | None = None
    ) -> list[dict]:
        """``windows_in_range`` as plain dicts (same keys and order; SQL NULL and a
        value that is not final are None, integers stay ``int``), without pandas:
        the API's ``/windows`` turns the rows straight into JSON."""
        sql, params = _latest_in_range(series, from_ms, to_ms, grp)
        metric_cols = (*METRIC_COLUMNS, "event_count")
        out = []
        for values in self.conn.execute(sql, params):
            r = dict(zip(VERSION_COLUMNS, values, strict=True))
            final = r["tier"] == "final"
            out.append(
                {
                    "window_start_ms": r["window_start_ms"],
                    "window_end_ms": r["window_end_ms"],
                    "grp": r["grp"],
                    "versions": r["version"],
                    "latest_version": r["version"],
                    "latest_tier": r["tier"],
                    "latest_reason": r["reason"],
                    "latest_processing_time_ms": r["processing_time_ms"],
                    **{f"latest_{c}": r[c] for c in metric_cols},
                    "final_version": r["version"] if final else None,
                    **{f"final_{c}": r[c] if final else None for c in metric_cols},
                    "is_final": final,
                    "label": "final" if final else f"{r['tier']} (not final)",
                }
            )
        return out

    def results_stamp(self) -> int:
        """The id of the newest version row (0 when there is none). ``versions`` is
        append-only, so this moves whenever any result is written: a page read keyed
        on it is reused until a result changes, and never stale. One index probe."""
        return int(self.conn.execute("SELECT coalesce(max(id), 0) FROM versions").fetchone()[0])

    def newest_watermark(
        self, series: str, from_ms: int, to_ms: int, grp: str = DEFAULT_GROUP, last: int = 6
    ) -> int | None:
        """The largest watermark stored with the latest version of the ``last``
        windows of ``grp`` starting in [from_ms, to_ms) (None if none has one): the
        newest watermark a version of the series was written under, in index probes."""
        row = self.conn.execute(
            "SELECT max(v.watermark_ms) FROM (SELECT DISTINCT window_start_ms AS ws "
            "FROM versions WHERE series = ? AND window_start_ms >= ? AND window_start_ms < ? "
            "AND grp = ? ORDER BY window_start_ms DESC LIMIT ?) w JOIN versions v "
            "ON v.series = ? AND v.window_start_ms = w.ws AND v.grp = ? "
            "AND v.version = (SELECT max(version) FROM versions x WHERE x.series = ? "
            "AND x.window_start_ms = w.ws AND x.grp = ?)",
            (series, from_ms, to_ms, grp, last, series, grp, series, grp),
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def events_frame(
        self,
        from_ms: int | None = None,
        to_ms: int | None = None,
        sources: Sequence[str] | None = None,
        by: str = "event_time",
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Raw events with ``by`` ('event_time' or 'arrival_time') in [from_ms, to_ms).

        Columns exactly: event_id, source, key, event_type, amount_cents, items,
        event_time_ms, arrival_time_ms (the last four int64). Lateness analysis and
        what-if replays rely on this shape. ``columns`` reads only those (in that
        order): rows come out of SQLite as Python objects, so a wide read of weeks of
        events costs seconds that a read of the four columns an analysis uses halves.
        """
        cols = tuple(columns) if columns is not None else EVENT_COLUMNS
        unknown = set(cols) - set(EVENT_COLUMNS)
        if unknown:
            raise ValueError(f"not raw event columns: {sorted(unknown)}")
        col = {"event_time": "event_time_ms", "arrival_time": "arrival_time_ms"}[by]
        where, params = [], []
        if from_ms is not None:
            where.append(f"{col} >= ?")
            params.append(from_ms)
        if to_ms is not None:
            where.append(f"{col} < ?")
            params.append(to_ms)
        if sources:
            where.append(f"source IN ({','.join('?' * len(sources))})")
            params.extend(sources)
        sql = "SELECT " + ", ".join(cols) + " FROM raw_events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq"
        df = pd.read_sql_query(sql, self.conn, params=params)
        return df.astype({c: "int64" for c in _INT_EVENT_COLUMNS if c in cols})

    # -- operations page listings -----------------------------------------------
    def _frame(self, sql: str, params: Sequence = ()) -> pd.DataFrame:
        return pd.read_sql_query(sql, self.conn, params=list(params))

    def quarantine_frame(
        self, limit: int = 1000, reason: str | None = None, ingest_id: int | None = None
    ) -> pd.DataFrame:
        where, params = [], []
        if reason is not None:
            where.append("reason = ?")
            params.append(reason)
        if ingest_id is not None:
            where.append("ingest_id = ?")
            params.append(ingest_id)
        sql = "SELECT * FROM quarantine" + (" WHERE " + " AND ".join(where) if where else "")
        return self._frame(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])

    def quarantine_counts(self) -> dict[str, int]:
        return dict(self.conn.execute("SELECT reason, count(*) FROM quarantine GROUP BY reason"))

    def late_events_frame(
        self, series: str | None = None, pending_only: bool = False, limit: int = 1000
    ) -> pd.DataFrame:
        where, params = [], []
        if series is not None:
            where.append("series = ?")
            params.append(series)
        if pending_only:
            where.append("absorbed_by_job IS NULL")
        sql = "SELECT * FROM late_events" + (" WHERE " + " AND ".join(where) if where else "")
        return self._frame(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])

    def jobs_frame(self, limit: int = 200, kind: str | None = None) -> pd.DataFrame:
        if kind is None:
            return self._frame("SELECT * FROM jobs ORDER BY id DESC LIMIT ?", [limit])
        return self._frame(
            "SELECT * FROM jobs WHERE kind = ? ORDER BY id DESC LIMIT ?", [kind, limit]
        )

    def job_diffs_frame(self, job_id: int) -> pd.DataFrame:
        return self._frame(
            "SELECT * FROM job_diffs WHERE job_id = ? ORDER BY window_start_ms, grp", [job_id]
        )

    def ingests_frame(self, limit: int = 200) -> pd.DataFrame:
        return self._frame("SELECT * FROM ingests ORDER BY id DESC LIMIT ?", [limit])

    def adjustments_frame(
        self, series: str | None = None, window_start_ms: int | None = None, limit: int = 1000
    ) -> pd.DataFrame:
        where, params = [], []
        if series is not None:
            where.append("series = ?")
            params.append(series)
        if window_start_ms is not None:
            where.append("window_start_ms = ?")
            params.append(window_start_ms)
        sql = "SELECT * FROM adjustments" + (" WHERE " + " AND ".join(where) if where else "")
        return self._frame(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])

    def series_names(self) -> list[str]:
        """Every series with a configuration or a version, sorted. The versions side
        hops from one series to the next along the version index (one probe per
        series) instead of reading the whole index: /healthz lists series."""
        return [
            r[0]
            for r in self.conn.execute(
                "WITH RECURSIVE s(name) AS (SELECT min(series) FROM versions "
                "UNION ALL SELECT (SELECT min(series) FROM versions WHERE series > s.name) "
                "FROM s WHERE s.name IS NOT NULL) "
                "SELECT name FROM s WHERE name IS NOT NULL "
                "UNION SELECT DISTINCT series FROM config_versions ORDER BY 1"
            )
        ]

    @staticmethod
    def _job_row(row: sqlite3.Row | tuple) -> dict:
        names = (
            "id",
            "kind",
            "series",
            "range_start_ms",
            "range_end_ms",
            "label",
            "tier",
            "reason",
            "status",
            "idempotency_key",
            "requested_key",
            "cutoff_ms",
            "counts",
            "error",
            "created_ms",
            "started_ms",
            "finished_ms",
        )
        return dict(zip(names, row, strict=True))

    def job(self, job_id: int) -> dict | None:
        row = self.conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return self._job_row(row) if row else None


def describe_window(window_start_ms: int, window_end_ms: int) -> str:
    return f"[{format_ms(window_start_ms)}, {format_ms(window_end_ms)})"
