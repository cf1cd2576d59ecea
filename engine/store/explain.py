"""Comparing two versions of a window and explaining the change between them: the
store's answers to "what changed" and "why" (the Versions page, ``/explain``, the
``explain`` command). A mixin of ``engine.store.db.Store``: it reads ``version``,
``latest`` and ``final`` from ``StoreQueries`` and the contributions table."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from engine.store.queries import DELAY_BUCKETS, EVENT_COLUMNS, delay_bucket, event_metrics
from engine.store.schema import ADDITIVE_COLUMNS, METRIC_COLUMNS


@dataclass
class Explanation:
    """The change between versions ``a`` and ``b`` of one window.

    ``delta``: b − a per additive metric, from the version rows.
    ``breakdown``: rows per (source, delay bucket) with the summed metrics.
    ``events``: the events behind the change (``sign`` −1 = removed by a recompute).
    ``unexplained``: delta − sum(breakdown); all zeros when contributions are complete.
    """

    series: str
    window_start_ms: int
    grp: str
    version_a: int
    version_b: int
    delta: dict[str, int]
    breakdown: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    unexplained: dict[str, int] = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        return not any(self.unexplained.values())

    def breakdown_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            self.breakdown,
            columns=["source", "delay_bucket", "n_events", *ADDITIVE_COLUMNS],
        )

    def events_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            self.events, columns=[*EVENT_COLUMNS, "version", "sign", "delay_bucket"]
        )


class VersionComparisons:
    def _resolve(self, series: str, window_start_ms: int, grp: str, ref: int | str) -> dict | None:
        if ref == "latest":
            return self.latest(series, window_start_ms, grp)
        if ref == "final":
            row = self.final(series, window_start_ms, grp)
            return row if row and row["is_final"] else None
        if ref == "first":
            return self.version(series, window_start_ms, grp, 1)
        return self.version(series, window_start_ms, grp, int(ref))

    def compare(
        self,
        series: str,
        window_start_ms: int,
        grp: str,
        a: int | str,
        b: int | str = "latest",
    ) -> dict:
        """Two versions side by side: per metric ``a``, ``b``, ``delta`` and ``pct``.
        ``a``/``b`` are version numbers or 'first' / 'latest' / 'final'."""
        va = self._resolve(series, window_start_ms, grp, a)
        vb = self._resolve(series, window_start_ms, grp, b)
        if va is None or vb is None:
            raise KeyError(f"version {a if va is None else b!r} of that window does not exist")
        metrics = {}
        for col in METRIC_COLUMNS + ("event_count",):
            x, y = va[col], vb[col]
            if x is None and y is None:
                continue
            delta = None if x is None or y is None else y - x
            pct = None if delta is None or not x else 100.0 * delta / abs(x)
            metrics[col] = {"a": x, "b": y, "delta": delta, "pct": pct}
        return {"a": va, "b": vb, "metrics": metrics}

    def explain(self, series: str, window_start_ms: int, grp: str, va: int, vb: int) -> Explanation:
        """Why the window changed from version ``va`` to ``vb`` (``va`` may be 0 =
        nothing): the events first counted in versions (va, vb], grouped by source
        and arrival-delay bucket. Additive metrics sum exactly to the delta."""
        if va > vb:
            raise ValueError("explain needs va <= vb (swap them for the reverse change)")
        row_b = self.version(series, window_start_ms, grp, vb)
        if row_b is None:
            raise KeyError(f"version {vb} of that window does not exist")
        row_a = self.version(series, window_start_ms, grp, va) if va > 0 else None
        if va > 0 and row_a is None:
            raise KeyError(f"version {va} of that window does not exist")
        delta = {c: (row_b[c] or 0) - ((row_a[c] or 0) if row_a else 0) for c in ADDITIVE_COLUMNS}
        cur = self.conn.execute(
            "SELECT r.event_id, r.source, r.key, r.event_type, r.amount_cents, r.items, "
            "r.event_time_ms, r.arrival_time_ms, c.version, c.sign "
            "FROM contributions c JOIN raw_events r ON r.event_id = c.event_id "
            "WHERE c.series = ? AND c.window_start_ms = ? AND c.grp = ? "
            "AND c.version > ? AND c.version <= ? ORDER BY c.version, r.arrival_time_ms",
            (series, window_start_ms, grp, va, vb),
        )
        events = []
        groups: dict[tuple[str, str], dict] = {}
        totals = dict.fromkeys(ADDITIVE_COLUMNS, 0)
        for row in cur:
            ev = dict(zip((*EVENT_COLUMNS, "version", "sign"), row, strict=True))
            bucket = delay_bucket(ev["arrival_time_ms"] - ev["event_time_ms"])
            ev["delay_bucket"] = bucket
            events.append(ev)
            g = groups.setdefault(
                (ev["source"], bucket),
                {"source": ev["source"], "delay_bucket": bucket, "n_events": 0}
                | dict.fromkeys(ADDITIVE_COLUMNS, 0),
            )
            g["n_events"] += ev["sign"]
            for k, v in event_metrics(ev["event_type"], ev["amount_cents"], ev["items"]).items():
                g[k] += ev["sign"] * v
                totals[k] += ev["sign"] * v
        order = {label: i for i, (label, _) in enumerate(DELAY_BUCKETS)}
        breakdown = sorted(
            groups.values(), key=lambda g: (g["source"], order.get(g["delay_bucket"], 99))
        )
        return Explanation(
            series=series,
            window_start_ms=window_start_ms,
            grp=grp,
            version_a=va,
            version_b=vb,
            delta=delta,
            breakdown=breakdown,
            events=events,
            unexplained={c: delta[c] - totals[c] for c in ADDITIVE_COLUMNS},
        )
