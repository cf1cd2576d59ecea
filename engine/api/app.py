"""The HTTP API: the store's numbers for other tools, and an authenticated ingest endpoint.

Why: finance wants the final number, operations the latest, auditors what was
shown at a given time — and none of them runs the Streamlit app. This serves
the same queries (``Store.latest/final/as_of/history/compare/explain``,
``windows_in_range``, engine.analysis.lateness, engine.analysis.completeness) as JSON, with the
tier and label next to every number so a provisional value cannot pass for a
final one. ``POST /events`` goes through the ingest path of the CLI (the same
validation, de-duplication and quarantine) and answers with its accounting.

Build with ``create_app(db_path, clock=…)``; ``python -m engine serve`` runs it
under uvicorn. It may run beside the runtime (pass ``runtime=`` for live
watermarks in ``/healthz``) or alone on a database file. Time is injected: the
app reads only its ``clock``. Endpoint functions are plain ``def``: FastAPI runs
them in worker threads, each with its own SQLite connection (``StorePool``).
"""

# No ``from __future__ import annotations``: FastAPI must see the dependency aliases
# defined inside ``create_app`` as objects, not as strings it cannot resolve.
import sqlite3
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool

from engine.api.observed import ObservedCache
from engine.api.ops import alerts_between, decode_cursor, encode_cursor, runtime_health
from engine.api.params import (
    GRAIN_MS,
    GRAIN_SERIES,
    NAME_PATTERN,
    Grain,
    Metric,
    check_metric_additive,
    check_name,
    parse_range,
    parse_version,
    parse_window,
    unprocessable,
)
from engine.api.sidework import SideWorker
from engine.api.support import (
    DEFAULT_MAX_BODY_BYTES,
    ResultsCache,
    StorePool,
    each_key,
    find_version,
    find_window,
    ingest_body,
    load_api_keys,
    ordered,
    read_body,
    require_key,
)
from engine.api.views import (
    ModelCache,
    completeness_view,
    history_view,
    jsonable,
    lateness_view,
    version_view,
    window_view,
    windows_page,
)
from engine.core.timeutil import DAY_MS, format_ms
from engine.ingest.vocabulary import Vocabulary
from engine.runtime.clock import Clock, SystemClock
from engine.store.db import Store
from engine.views import reconciliation

WINDOW_HELP = "ISO-8601 start ('2026-11-19T05:00:00Z'), 'start/end', or the store key (start ms)"
VERSION_HELP = "latest | final | first | a version number | an ISO-8601 time (as of)"
Series = Annotated[str, Query(pattern=NAME_PATTERN, description="hourly | daily | …")]
Group = Annotated[str, Query(pattern=NAME_PATTERN, description="'*' = all sources, or a source")]
Window = Annotated[str, Query(max_length=120, description=WINDOW_HELP)]


def create_app(
    db_path: str | Path,
    clock: Clock | None = None,
    api_keys: list[str] | None = None,
    read_keys_required: bool = False,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    runtime=None,
    vocabulary: Vocabulary | None = None,
    side_process: bool = False,
) -> FastAPI:
    """The FastAPI app over the store at ``db_path``.

    ``api_keys``: keys accepted by ``POST /events`` (and by reads when
    ``read_keys_required``); ``None`` reads ``LATEWATCH_API_KEYS`` /
    ``LATEWATCH_API_KEYS_FILE``. With no keys at all, ingest answers 401.
    ``vocabulary``: latewatch.toml's ``[orders]`` (field and event-type names).
    ``side_process``: ingest ``POST /events`` and refit the completeness models in a
    worker process (``engine.api.sidework``), so that work never holds the readers'
    GIL; ``python -m engine serve`` does. Otherwise both run in server threads.
    """
    clock = clock or SystemClock()
    vocabulary = vocabulary or Vocabulary()
    pool = StorePool(db_path)
    side = SideWorker(db_path) if side_process else None
    models = ModelCache(refit=None if side is None else side.fit)
    observed = ObservedCache()
    window_pages = ResultsCache()
    keys = each_key(load_api_keys() if api_keys is None else api_keys)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if side is not None:
            side.start()
        yield
        pool.close_all()
        if side is not None:
            side.close()

    app = FastAPI(
        title="latewatch API",
        version="1",
        description="Versioned window results (latest, final, as-of), explanations, "
        "lateness and ingest. Money is integer cents; times are UTC ISO-8601 and epoch ms.",
        lifespan=lifespan,
    )
    app.state.side = side  # the worker process, if any (tests, shutdown)
    # Declared for the OpenAPI docs ("Authorize" button); the check is require_key's.
    Bearer = Annotated[object, Depends(HTTPBearer(auto_error=False, description="API key"))]

    async def reader(request: Request, _: Bearer) -> None:
        """The read endpoints' key check. It must not hand out the store: FastAPI may
        run a sync dependency and its endpoint in two different pool threads, and a
        SQLite connection may only be used in the thread that opened it."""
        if read_keys_required:
            require_key(request, keys)

    Reader = Annotated[None, Depends(reader)]

    def series_ok(store: Store, series: str) -> str:
        if not pool.known_series(store, series, clock.now_ms()):
            raise unprocessable(f"unknown series {series!r}")
        return series

    def window_and(store, series, group, window):
        series_ok(store, check_name(series, "series"))
        return find_window(store, series, group, parse_window(window))

    # -- metrics ------------------------------------------------------------------------
    @app.get("/metrics/{metric}", tags=["metrics"])
    def get_metric(
        metric: Metric,
        _: Reader,
        window: Window,
        version: Annotated[str, Query(max_length=64, description=VERSION_HELP)] = "latest",
        group: Group = "*",
        series: Series = "hourly",
        include_history: bool = False,
    ) -> JSONResponse:
        """One window's value: the version asked for, its tier and label, when it was
        computed and how stale it is; for a window that is not final, how complete
        it probably is and its projected final; the history with deltas on request."""
        store = pool.get()
        now = clock.now_ms()
        latest = window_and(store, series, group, window)
        ref = parse_version(version)
        row = find_version(store, series, group, latest, ref, final_falls_back=True)
        out = {
            "series": series,
            "group": group,
            "metric": metric.value,
            "unit": metric.unit,
            "window": window_view(latest["window_start_ms"], latest["window_end_ms"]),
            "requested_version": ref.describe(),
            **version_view(row, metric.value, now),
            "latest_version": latest["version"],
            "window_tier": latest["tier"],
            "superseded": row["version"] < latest["version"],
            "now": format_ms(now),
            "completeness": None,
        }
        if ref.kind == "final" and latest["tier"] != "final":
            out["note"] = "the window is not final yet; this is its latest version"
        if latest["tier"] != "final":
            out["completeness"] = jsonable(
                completeness_view(
                    store,
                    models,
                    latest["window_start_ms"],
                    latest["window_end_ms"],
                    group,
                    metric.value,
                    latest[metric.value],
                    now,
                    observed,
                )
            )
        if include_history:
            hist = store.history(series, latest["window_start_ms"], group)
            out["history"] = history_view(hist, metric.value)
        return JSONResponse(out)

    @app.get("/metrics/{metric}/compare", tags=["metrics"])
    def compare_metric(
        metric: Metric,
        _: Reader,
        window: Window,
        a: Annotated[str, Query(max_length=64, description=VERSION_HELP)] = "latest",
        b: Annotated[str, Query(max_length=64, description=VERSION_HELP)] = "final",
        group: Group = "*",
        series: Series = "hourly",
    ) -> JSONResponse:
        """Two versions of a window side by side and the change (absolute and %)."""
        store = pool.get()
        now = clock.now_ms()
        latest = window_and(store, series, group, window)
        va = find_version(store, series, group, latest, parse_version(a, "a"))
        vb = find_version(store, series, group, latest, parse_version(b, "b"))
        cmp = store.compare(series, latest["window_start_ms"], group, va["version"], vb["version"])
        return JSONResponse(
            {
                "series": series,
                "group": group,
                "metric": metric.value,
                "unit": metric.unit,
                "window": window_view(latest["window_start_ms"], latest["window_end_ms"]),
                "a": version_view(va, metric.value, now),
                "b": version_view(vb, metric.value, now),
                "change": jsonable(
                    cmp["metrics"].get(
                        metric.value, {"a": None, "b": None, "delta": None, "pct": None}
                    )
                ),
                "metrics": jsonable(cmp["metrics"]),
            }
        )

    @app.get("/metrics/{metric}/explain", tags=["metrics"])
    def explain_metric(
        metric: Metric,
        _: Reader,
        window: Window,
        a: Annotated[str, Query(max_length=64, description=VERSION_HELP + "; 0 = nothing")] = (
            "first"
        ),
        b: Annotated[str, Query(max_length=64, description=VERSION_HELP)] = "latest",
        group: Group = "*",
        series: Series = "hourly",
        events_limit: Annotated[int, Query(ge=0, le=1000)] = 50,
    ) -> JSONResponse:
        """Why a window changed between versions a and b: the events first counted in
        (a, b], by source and arrival-delay bucket; the rows sum to the delta."""
        store = pool.get()
        check_metric_additive(metric)
        now = clock.now_ms()
        latest = window_and(store, series, group, window)
        va = find_version(store, series, group, latest, parse_version(a, "a", allow_zero=True))
        vb = find_version(store, series, group, latest, parse_version(b, "b"))
        ordered(va, vb)
        exp = store.explain(
            series, latest["window_start_ms"], group, va["version"] if va else 0, vb["version"]
        )
        col = metric.value
        return JSONResponse(
            {
                "series": series,
                "group": group,
                "metric": col,
                "unit": metric.unit,
                "window": window_view(latest["window_start_ms"], latest["window_end_ms"]),
                "a": None if va is None else version_view(va, col, now),
                "b": version_view(vb, col, now),
                "delta": exp.delta[col],
                "explained": sum(r[col] for r in exp.breakdown),
                "unexplained": exp.unexplained[col],
                "exact": exp.exact,
                "breakdown": [
                    {
                        "source": r["source"],
                        "delay_bucket": r["delay_bucket"],
                        "n_events": r["n_events"],
                    }
                    | {"value": r[col], "metrics": {k: r[k] for k in exp.delta}}
                    for r in exp.breakdown
                ],
                "deltas": exp.delta,
                "events_total": len(exp.events),
                "events": jsonable(exp.events[:events_limit]),
            }
        )

    # -- ranges ---------------------------------------------------------------------------
    @app.get("/windows", tags=["windows"])
    def list_windows(
        _: Reader,
        from_: Annotated[str, Query(alias="from", max_length=64)],
        to: Annotated[str, Query(max_length=64)],
        grain: Grain = Grain.hour,
        group: Group = "*",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Response:
        """Windows starting in [from, to): latest and final values and tiers, in
        (start, group) order. Page with limit/offset, or pass ``next_cursor`` back as
        ``cursor`` (stable while new windows are written)."""
        store = pool.get()
        lo, hi = parse_range(from_, to, (366 if grain == Grain.hour else 3660) * DAY_MS)
        if cursor is not None and offset:
            raise unprocessable("use either cursor or offset, not both")
        series = GRAIN_SERIES[grain]
        after = decode_cursor(cursor) if cursor else None
        # the answer depends on the request and the version rows only (no clock)
        key = (series, lo, hi, group, limit, offset, after, store.results_stamp())
        body = window_pages.get(key)
        if body is None:
            body = JSONResponse(
                windows_body(store, series, grain, lo, hi, group, limit, offset, after)
            ).body
            window_pages.put(key, body)
        return Response(body, media_type="application/json")

    def windows_body(store, series, grain, lo, hi, group, limit, offset, after) -> dict:
        if after is not None:
            lo = max(lo, after[0])
        rows = store.windows_in_range_rows(series, lo, hi, group)
        if after is not None:
            rows = [r for r in rows if (r["window_start_ms"], r["grp"]) > after]
        page = rows[offset : offset + limit]
        more = len(rows) > offset + limit
        last = page[-1] if page else None
        return {
            "series": series,
            "grain": grain.value,
            "grain_ms": GRAIN_MS[grain],
            "from": format_ms(lo),
            "to": format_ms(hi),
            "group": group,
            "total": len(rows),
            "count": len(page),
            "offset": offset,
            "next_offset": offset + limit if more else None,
            "next_cursor": encode_cursor(int(last["window_start_ms"]), str(last["grp"]))
            if more and last is not None
            else None,
            "windows": windows_page(page),
        }

    @app.get("/reconciliation", tags=["reconciliation"])
    def get_reconciliation(
        _: Reader,
        from_: Annotated[str, Query(alias="from", max_length=64)],
        to: Annotated[str, Query(max_length=64)],
        metric: Metric = Metric.revenue_cents,
        grain: Grain = Grain.day,
        group: Group = "*",
    ) -> JSONResponse:
        """Streaming vs preliminary vs final per window starting in [from, to): each
        stage's value and version, absolute and relative differences (later minus
        earlier), and the adjustments booked for the window after it was final."""
        store = pool.get()
        if metric == Metric.event_count:
            raise unprocessable("reconcile 'events' instead of 'event_count'")
        lo, hi = parse_range(from_, to, (92 if grain == Grain.hour else 3660) * DAY_MS)
        series = GRAIN_SERIES[grain]
        frame = reconciliation.reconciliation(store, series, lo, hi, metric.value, group)
        rows = [
            {"window_start": format_ms(int(r["window_start_ms"])), **r}
            for r in frame.to_dict("records")
        ]
        return JSONResponse(
            jsonable(
                {
                    "series": series,
                    "metric": metric.value,
                    "group": group,
                    "from": format_ms(lo),
                    "to": format_ms(hi),
                    "summary": reconciliation.summary(frame),
                    "windows": rows,
                }
            )
        )

    @app.get("/adjustments", tags=["reconciliation"])
    def get_adjustments(
        _: Reader,
        from_: Annotated[str, Query(alias="from", max_length=64)],
        to: Annotated[str, Query(max_length=64)],
        grain: Grain = Grain.day,
        group: Group = "*",
    ) -> JSONResponse:
        """Adjustments booked to periods starting in [from, to): later events for
        windows that were already final, one row per final window, with the period
        they were booked to (additive metrics, integer cents)."""
        store = pool.get()
        lo, hi = parse_range(from_, to, 3660 * DAY_MS)
        series = GRAIN_SERIES[grain]
        frame = reconciliation.adjustments_booked(store, series, lo, hi, group)
        rows = [
            {
                "window_start": format_ms(int(r["window_start_ms"])),
                "period_start": format_ms(int(r["period_start_ms"])),
                **r,
            }
            for r in frame.to_dict("records")
        ]
        return JSONResponse(
            jsonable(
                {
                    "series": series,
                    "group": group,
                    "from": format_ms(lo),
                    "to": format_ms(hi),
                    "windows": rows,
                }
            )
        )

    @app.get("/data-quality/lateness", tags=["data quality"])
    def data_quality_lateness(
        _: Reader,
        from_: Annotated[str, Query(alias="from", max_length=64)],
        to: Annotated[str, Query(max_length=64)],
        series: Series = "hourly",
        target: Annotated[float, Query(gt=0, le=1)] = 0.99,
    ) -> JSONResponse:
        """Events that arrived in [from, to): on-time / late / too-late rates per
        source (the series' spec replayed), delay percentiles, recommended allowed
        lateness for ``target`` capture by value, and drift of the p99 delay."""
        store = pool.get()
        lo, hi = parse_range(from_, to, 92 * DAY_MS)
        series_ok(store, series)
        now = min(hi, clock.now_ms())
        events = store.events_frame(lo, hi, by="arrival_time")
        drift_events = store.events_frame(now - 15 * DAY_MS, now + 1, by="arrival_time")
        report = lateness_view(events, drift_events, store.config(series), now, target)
        head = {"series": series, "from": format_ms(lo), "to": format_ms(hi)}
        return JSONResponse(head | jsonable(report))

    @app.get("/alerts", tags=["alerts"])
    def list_alerts(
        _: Reader,
        from_: Annotated[str, Query(alias="from", max_length=64)],
        to: Annotated[str, Query(max_length=64)],
    ) -> JSONResponse:
        """Alerts (on final numbers) and provisional warnings raised in [from, to)."""
        store = pool.get()
        lo, hi = parse_range(from_, to, 3660 * DAY_MS)
        found = alerts_between(store, lo, hi)
        return JSONResponse(jsonable({"from": format_ms(lo), "to": format_ms(hi)} | found))

    # -- ingest ---------------------------------------------------------------------------
    @app.post(
        "/events",
        tags=["ingest"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                    "application/x-ndjson": {"schema": {"type": "string"}},
                },
            }
        },
    )
    async def post_events(
        request: Request,
        _: Bearer,
        source: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
    ) -> dict:
        """Ingest a batch (JSON array, or JSON lines) through the CLI's validation,
        de-duplication and quarantine; answers with the accounting. Needs an API key."""
        require_key(request, keys)
        body = await read_body(request, max_body_bytes)
        content_type = request.headers.get("content-type", "")
        if side is not None:  # in the worker process, off the readers' GIL
            return await side.ingest(body, content_type, source, vocabulary, clock)
        # Parsing a 10 MB body takes tens of ms: in a worker thread, not on the event
        # loop that carries every reader's request and response.
        return await run_in_threadpool(
            lambda: ingest_body(pool.get(), body, content_type, source, vocabulary, clock)
        )

    # -- health -----------------------------------------------------------------------------
    @app.get("/healthz", tags=["health"])
    def healthz() -> JSONResponse:
        """Store reachable, the API's clock, and the runtime's checkpoint and watermark lag."""
        now = clock.now_ms()
        out = {"clock": {"now": format_ms(now), "now_ms": now, "describe": clock.describe()}}
        try:
            store = pool.get()
            out["store"] = {"reachable": True, "raw_events": store.raw_event_count()}
            out["runtime"] = runtime_health(store, runtime, now)
        except sqlite3.Error as exc:
            out["store"] = {"reachable": False, "error": str(exc)}
        out["status"] = "ok" if out["store"]["reachable"] else "unavailable"
        return JSONResponse(jsonable(out), status_code=200 if out["status"] == "ok" else 503)

    return app
