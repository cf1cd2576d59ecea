"""What the HTTP API says about a version, a window and a period, built from engine queries.

Why these shapes: a consumer of the API must never mistake a provisional number
for a final one, so every value travels with its tier, label, version,
``computed_at`` and staleness; a window that is not final also carries how
complete it probably is and what its final is projected to be (engine.analysis.completeness).
Times go out twice — ISO-8601 for people, ``*_ms`` for programs — and money stays
integer cents, as in the store. Nothing here reads the clock: ``now_ms`` comes in.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import queue
import threading
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np
import pandas as pd

from engine.analysis import lateness, whatif
from engine.analysis.arrivals import BACKTEST_AGES_MS, age_grid, arrivals_from_histogram
from engine.analysis.completeness import MATURE_MS, CompletenessModel
from engine.analysis.whatif_panes import OUTCOME_NAMES
from engine.api.observed import ObservedCache
from engine.core.spec import PipelineSpec
from engine.core.timeutil import DAY_MS, HOUR_MS, MINUTE_MS, format_ms
from engine.store.db import Store
from engine.store.raw_metrics import arrival_histogram, arrived_value_by_source
from engine.store.schema import METRIC_COLUMNS

VALUE_COLUMNS = (*METRIC_COLUMNS, "event_count")
HISTORY_WINDOWS = 28  # trailing mature windows the completeness model learns from
# The operator replay behind on-time / late / too-late rates is event-at-a-time for
# the live specs (timer triggers); beyond this many events it would take seconds.
REPLAY_MAX_EVENTS = 200_000
_SCALED = ("orders", "items", "events", "event_count")
# Window bounds and version times repeat from request to request (a day of hourly
# windows is 24 starts); formatting one costs ~1.5 us, a cache hit ~0.1 us.
iso = functools.lru_cache(maxsize=65_536)(format_ms)


def jsonable(value):
    """numpy / pandas scalars, NaN and ±inf -> plain JSON values (NaN/inf -> None)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        f = float(value)
        return f if math.isfinite(f) else None
    return value


def records(frame: pd.DataFrame) -> list[dict]:
    return [jsonable(r) for r in frame.to_dict("records")]


def window_view(start_ms: int, end_ms: int) -> dict:
    return {
        "key": str(start_ms),
        "start": iso(start_ms),
        "end": iso(end_ms),
        "start_ms": start_ms,
        "end_ms": end_ms,
    }


def version_view(row: dict, metric: str, now_ms: int) -> dict:
    """One version row: the metric's value with everything needed to judge it."""
    computed = row["processing_time_ms"]
    return {
        "version": row["version"],
        "value": jsonable(row[metric]),
        "tier": row["tier"],
        "is_final": row["tier"] == "final",
        "label": "final" if row["tier"] == "final" else f"{row['tier']} (not final)",
        "timing": row["timing"],
        "reason": row["reason"],
        "computed_at": iso(computed),
        "computed_at_ms": computed,
        "watermark": iso(row["watermark_ms"]),
        "watermark_ms": row["watermark_ms"],
        "event_count": row["event_count"],
        "staleness_ms": None if computed is None else max(0, now_ms - computed),
        "values": {c: jsonable(row[c]) for c in VALUE_COLUMNS},
    }


def history_view(rows: list[dict], metric: str) -> list[dict]:
    """``Store.history`` rows, oldest first, each with its delta for ``metric``."""
    return [
        {
            "version": r["version"],
            "value": jsonable(r[metric]),
            "delta": jsonable(r[f"delta_{metric}"]),
            "tier": r["tier"],
            "timing": r["timing"],
            "reason": r["reason"],
            "computed_at": iso(r["processing_time_ms"]),
            "computed_at_ms": r["processing_time_ms"],
            "event_count": r["event_count"],
        }
        for r in rows
    ]


def _model_window_ms(start_ms: int, end_ms: int) -> int:
    """Calendar days are 23-25 h across DST; the arrival model grids days at 24 h."""
    length = end_ms - start_ms
    return DAY_MS if abs(length - DAY_MS) <= HOUR_MS else length


class ModelCache:
    """Fitted completeness models, reused for a minute of API-clock time.

    Fitting reads weeks of the raw log (tens of ms to seconds). The model learns
    from *mature* windows only (older than ``MATURE_MS``), which new events almost
    never touch, so one fit per (window length, alignment, group, minute) serves
    every request in that minute — keyed on the clock, not on the raw-log size,
    which a writer changes with every post (that key made every reader refit while
    events were being posted: p99 in seconds).

    No stampede: one thread fits a key while the others wait for it — only the
    first time a window shape is asked for. When a new minute starts, the refit
    is queued for ONE background thread (its own connection, lowered CPU
    priority) and every reader, including the one that noticed the new minute,
    answers with the previous minute's model of the same shape until the new one
    is ready (stale for at most one refit): no request waits for a refit, and the
    shapes' refits run one after another instead of all at once on every core at
    the turn of the minute. A refit that fails keeps the previous model for that
    minute; a queued refit overtaken by a newer minute is skipped.
    """

    def __init__(self, size: int = 64, open_store=None, refit=None) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple, CompletenessModel | None] = OrderedDict()
        self._flights: dict[tuple, threading.Event] = {}
        self._previous: dict[tuple, CompletenessModel | None] = {}
        self.size = size
        # a context manager giving a store for a background refit (SQLite
        # connections stay in the thread that opened them)
        self._open_store = open_store or (lambda store: Store.open(store.path))
        # or a function (window_ms, offset_ms, grp, fit_now) -> model that fits
        # elsewhere (engine.api.sidework: in a worker process, off this one's GIL)
        self._refit_elsewhere = refit
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._wanted: dict[tuple, tuple] = {}  # shape -> newest key asked for
        self._worker: threading.Thread | None = None

    def model(self, store: Store, window_ms: int, offset_ms: int, grp: str, now_ms: int):
        shape = (window_ms, offset_ms, grp)
        key = (*shape, now_ms // MINUTE_MS)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            flight = self._flights.get(key)
            if shape in self._previous:
                if flight is None:  # a new minute: refit behind the readers' backs
                    self._flights[key] = threading.Event()
                    self._wanted[shape] = key
                    self._queue.put((store, key))
                    if self._worker is None:
                        self._worker = threading.Thread(
                            target=self._refits, daemon=True, name="model-refit"
                        )
                        self._worker.start()
                return self._previous[shape]
            owner = flight is None
            if owner:
                flight = self._flights[key] = threading.Event()
        if not owner:
            flight.wait()
            with self._lock:
                if key in self._items:
                    return self._items[key]
            # the fitting thread failed: fit here (and raise what it raised)
        try:
            model = self._fit(store, *key[:3], key[3] * MINUTE_MS)
            self._keep(key, model)
            return model
        finally:
            if owner:
                self._land(key)

    def _refits(self) -> None:
        with contextlib.suppress(AttributeError, OSError):  # Linux: per-thread niceness
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        while True:
            store, key = self._queue.get()
            with self._lock:
                overtaken = self._wanted.get(key[:3]) != key
            self._refit(store, key, skip=overtaken)

    def _refit(self, store: Store, key: tuple, skip: bool = False) -> None:
        model = None
        try:
            if skip:
                raise LookupError("a newer minute is queued")
            if self._refit_elsewhere is not None:
                model = self._refit_elsewhere(*key[:3], key[3] * MINUTE_MS)
            else:
                with self._open_store(store) as own:
                    model = self._fit(own, *key[:3], key[3] * MINUTE_MS)
        except Exception:  # noqa: BLE001 - keep answering with the last model
            with self._lock:
                model = self._previous.get(key[:3])
        self._keep(key, model)
        self._land(key)

    def _keep(self, key: tuple, model) -> None:
        with self._lock:
            self._items[key] = model
            self._previous[key[:3]] = model
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def _land(self, key: tuple) -> None:
        with self._lock:
            flight = self._flights.pop(key, None)
        if flight is not None:
            flight.set()

    def wait_refits(self, timeout: float | None = None) -> None:
        """Until the fits in flight now have landed (tests, shutdown)."""
        with self._lock:
            flights = list(self._flights.values())
        for flight in flights:
            flight.wait(timeout)

    @staticmethod
    def _fit(store: Store, window_ms: int, offset_ms: int, grp: str, fit_now: int):
        """The arrival curves binned in SQL (``arrival_histogram``, which bins as
        ``window_arrivals`` does): weeks of events never become Python objects, and
        SQLite sums them without the GIL, so readers of the same process go on."""
        from_ms = fit_now - MATURE_MS - (HISTORY_WINDOWS + 1) * window_ms
        sources = None if grp == "*" else [grp]
        ages = age_grid(window_ms, (*BACKTEST_AGES_MS, MATURE_MS))
        wins, names, rows = arrival_histogram(
            store, window_ms, offset_ms, ages, from_ms, fit_now - MATURE_MS, fit_now, sources
        )
        if not rows:
            return None
        arrivals = arrivals_from_histogram(window_ms, offset_ms, ages, wins, names, rows)
        return CompletenessModel.fit(
            arrivals, fit_now, HISTORY_WINDOWS, MATURE_MS, measure_coverage=True
        )


def completeness_view(
    store: Store,
    models: ModelCache,
    start_ms: int,
    end_ms: int,
    grp: str,
    metric: str,
    latest_value,
    now_ms: int,
    observed_cache: ObservedCache | None = None,
) -> dict:
    """How complete a not-yet-final window is now and its projected final.

    The model (engine.analysis.completeness) learns value arrival curves from the trailing
    mature windows of the raw log, as known at ``now_ms`` (to the minute). Its
    projection is of revenue; other additive metrics are scaled by the same
    completeness (said in ``method``), non-additive ones get no projection.
    """
    window_ms = _model_window_ms(start_ms, end_ms)
    out = {"as_of": format_ms(now_ms), "basis": "revenue arrival curves of the raw log"}
    model = models.model(store, window_ms, start_ms % window_ms, grp, now_ms)
    if model is None or model.history_windows == 0:
        return out | {
            "estimate": None,
            "note": "no mature windows (older than 7 days) to learn arrival curves from",
        }
    if observed_cache is None:
        observed = arrived_value_by_source(
            store, start_ms, end_ms, now_ms, sources=None if grp == "*" else [grp]
        )
    else:
        observed = observed_cache.observed(store, start_ms, end_ms, grp, now_ms)
    est = model.project(observed, start_ms, now_ms)
    projected = None
    method = None
    if metric == "revenue_cents":
        projected, method = round(est.projected * 100), "projected revenue"
    elif metric in _SCALED and latest_value is not None and est.completeness > 0:
        projected = round(latest_value / est.completeness)
        method = "latest value / revenue completeness"
    return out | {
        "estimate": est.completeness,
        "history_windows": model.history_windows,
        "observed_revenue_cents": round(est.observed * 100),
        "projected_revenue_cents": round(est.projected * 100),
        "projected_revenue_low_cents": round(est.low * 100),
        "projected_revenue_high_cents": round(est.high * 100),
        "interval_level": 0.9,
        "interval_calibrated": est.calibrated,
        "interval_errors_n": est.errors_n,
        "interval_measured_coverage": est.coverage,
        "interval_coverage_windows": est.coverage_n,
        "interval_note": est.interval_note(),
        "projected_final": projected,
        "projected_final_method": method,
        "label": est.label(),
    }


def _finite(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value


def windows_page(rows: list[dict]) -> list[dict]:
    """``Store.windows_in_range_rows`` as JSON: window, latest and final values, tier."""
    out = []
    latest_cols = [(c, f"latest_{c}") for c in VALUE_COLUMNS]
    final_cols = [(c, f"final_{c}") for c in VALUE_COLUMNS]
    for r in rows:  # SQLite values: int, str, None, or a float to check (no NaN/inf in JSON)
        start, end = r["window_start_ms"], r["window_end_ms"]
        out.append(
            {
                "window": window_view(start, end),
                "group": r["grp"],
                "versions": r["versions"],
                "label": r["label"],
                "is_final": r["is_final"],
                "latest": {
                    "version": r["latest_version"],
                    "tier": r["latest_tier"],
                    "reason": r["latest_reason"],
                    "computed_at": iso(r["latest_processing_time_ms"]),
                    "values": {c: _finite(r[k]) for c, k in latest_cols},
                },
                "final": None
                if r["final_version"] is None
                else {
                    "version": r["final_version"],
                    "values": {c: _finite(r[k]) for c, k in final_cols},
                },
            }
        )
    return out


def outcome_rates(events: pd.DataFrame, spec: PipelineSpec) -> dict:
    """On-time / late / side-output / dropped / too-late shares per source: the raw
    log in arrival order replayed through the series' spec (engine.analysis.whatif, which
    equals the operator). A replay of a slice starts with a fresh watermark, so
    the first minutes of the range can differ a little from what the live run did."""
    result = whatif.evaluate(events, spec)
    codes = pd.Series(result.record_outcomes, index=events.index)
    names = dict(enumerate(OUTCOME_NAMES))
    rows = {}
    groups = [("all", codes)] + [
        (str(src), codes[events["source"] == src]) for src in sorted(events["source"].unique())
    ]
    for src, part in groups:
        counts = part.map(names).value_counts()
        n = len(part)
        rows[src] = {
            "events": n,
            **{f"{name}_count": int(counts.get(name, 0)) for name in names.values()},
            **{f"{name}_rate": counts.get(name, 0) / n if n else None for name in names.values()},
        }
    return {"method": result.method, "by_source": jsonable(rows)}


def lateness_view(
    events: pd.DataFrame,
    drift_events: pd.DataFrame,
    spec: PipelineSpec | None,
    now_ms: int,
    target: float,
) -> dict:
    """The data-quality report for a period: rates, percentiles, recommendations, drift."""
    if events.empty:
        return {"events": 0, "outcomes": None, "percentiles": [], "recommendations": []} | {
            "drift": records(lateness.drift(drift_events, now_ms)) if len(drift_events) else []
        }
    profile = lateness.lateness_profile(events)
    if spec is None:
        outcomes = {"note": "no pipeline spec stored for this series"}
    elif len(events) > REPLAY_MAX_EVENTS:
        outcomes = {
            "note": f"more than {REPLAY_MAX_EVENTS:,} events: narrow the range for the "
            "on-time / late / too-late replay"
        }
    else:
        outcomes = outcome_rates(events, spec)
    return {
        "events": len(events),
        "outcomes": outcomes,
        "percentiles": records(lateness.summary(profile, "count")),
        "recommendations": records(lateness.recommend(profile, target, "value")),
        "drift": records(lateness.drift(drift_events, now_ms)),
    }
