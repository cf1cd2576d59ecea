"""Plumbing of the HTTP API: per-thread stores, API keys, request bodies, window lookup.

Why it is apart from ``engine.api.app``: these are the parts with security or
concurrency consequences, and each is small enough to be read on its own.
- SQLite connections must stay in the thread that opened them and opening one
  costs a migrations check, so each server worker thread keeps one ``Store``.
- API keys are compared in constant time (``hmac.compare_digest`` over every
  configured key, no early exit), so response timing does not leak a prefix.
- Request bodies are read incrementally and cut off at the limit, so a client
  cannot make the server buffer more than ``max_body_bytes``.
"""

from __future__ import annotations

import contextlib
import hmac
import io
import json
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

from fastapi import HTTPException, Request

from engine.api.params import VersionRef, WindowRef, not_found, unprocessable
from engine.api.views import jsonable
from engine.core.events import ParseOptions, raw_text
from engine.core.limits import escaped_bytes, storable
from engine.core.timeutil import format_ms
from engine.ingest.ingestor import IngestOptions, Ingestor
from engine.ingest.readers import MalformedRow, loads_record, read_jsonl
from engine.ingest.vocabulary import Vocabulary
from engine.runtime.clock import Clock
from engine.store.db import Store

API_KEYS_ENV = "LATEWATCH_API_KEYS"
API_KEYS_FILE_ENV = "LATEWATCH_API_KEYS_FILE"
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
SERIES_REFRESH_MS = 10_000


class StorePool:
    """One ``Store`` per thread for the server's worker threads (reused across requests)."""

    def __init__(self, db_path: str | Path) -> None:
        self.db_path = str(db_path)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._stores: list[Store] = []
        self._series: frozenset[str] = frozenset()
        self._series_at_ms: int | None = None

    def get(self) -> Store:
        store = getattr(self._local, "store", None)
        if store is None:
            store = Store.open(self.db_path)
            self._local.store = store
            with self._lock:
                self._stores.append(store)
        return store

    def close_all(self) -> None:
        """Close what can be closed from this thread; the rest close with the process."""
        with self._lock:
            stores, self._stores = self._stores, []
        for store in stores:
            with contextlib.suppress(sqlite3.ProgrammingError):  # opened in a pool thread
                store.close()

    def known_series(self, store: Store, name: str, now_ms: int) -> bool:
        """Whether ``name`` is a series of the store. Listing series scans the version
        index, so the list is cached and re-read on a miss at most every 10 s."""
        if name in self._series:
            return True
        if self._series_at_ms is None or now_ms - self._series_at_ms >= SERIES_REFRESH_MS:
            self._series = frozenset(store.series_names())
            self._series_at_ms = now_ms
        return name in self._series


class ResultsCache:
    """Response bodies that depend only on the request and the version rows, keyed on
    both and on ``Store.results_stamp`` (the newest version id; ``versions`` is
    append-only, so the stamp moves with every result written): a repeated request
    costs one index probe instead of the query, the page and the JSON, and can
    never be stale. A bounded LRU, thread-safe."""

    def __init__(self, size: int = 128) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple, bytes] = OrderedDict()
        self.size = size

    def get(self, key: tuple) -> bytes | None:
        with self._lock:
            body = self._items.get(key)
            if body is not None:
                self._items.move_to_end(key)
            return body

    def put(self, key: tuple, body: bytes) -> None:
        with self._lock:
            self._items[key] = body
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


# -- API keys --------------------------------------------------------------------------
def load_api_keys(path: str | Path | None = None, env: dict | None = None) -> list[str]:
    """Keys from a file (one per line, '#' comments) and/or ``LATEWATCH_API_KEYS``
    (comma- or whitespace-separated); ``LATEWATCH_API_KEYS_FILE`` names a file too."""
    env = os.environ if env is None else env
    keys: list[str] = []
    for file in (path, env.get(API_KEYS_FILE_ENV)):
        if file:
            for line in Path(file).read_text(encoding="utf-8").splitlines():
                line = line.split("#", 1)[0].strip()
                if line:
                    keys.append(line)
    keys += env.get(API_KEYS_ENV, "").replace(",", " ").split()
    return keys


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def require_key(request: Request, keys: Iterable[bytes]) -> None:
    """401 unless the request carries ``Authorization: Bearer <a configured key>``."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("an API key is required: Authorization: Bearer <key>")
    # Starlette decodes header bytes as latin-1; encoding back gives the bytes sent,
    # which for a UTF-8 key are the key's UTF-8 bytes.
    given = token.strip().encode("latin-1", "replace")
    ok = False
    for key in keys:  # every key, no early exit: the time taken does not depend on which
        ok |= hmac.compare_digest(given, key)
    if not ok:
        raise unauthorized("the API key is not valid")


# -- request bodies ----------------------------------------------------------------------
async def read_body(request: Request, limit: int) -> bytes:
    """The body, or 413 as soon as it exceeds ``limit`` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(status_code=413, detail=f"request body is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(
                status_code=413, detail=f"request body is larger than {limit} bytes"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def bad_request(detail: str) -> HTTPException:
    return HTTPException(status_code=400, detail=detail)


def parse_events_body(body: bytes, content_type: str) -> list[tuple[int, object]]:
    """(line or position, record) pairs for the ingestor, from a JSON array or JSONL.

    A JSON array that does not parse is refused as a whole (400 with the reason);
    in JSONL, as in ``python -m engine ingest``, each line stands alone and a bad
    line is quarantined as ``malformed_row`` while the others go in.
    """
    # Bytes that are not UTF-8 stay escaped: in JSON lines they quarantine their own
    # line (reason 'encoding', as in the CLI); a JSON array holding them is refused.
    text = body.decode("utf-8", "surrogateescape")
    content_type = content_type.lower()
    stripped = text.lstrip("\ufeff \t\r\n")
    as_lines = any(t in content_type for t in ("ndjson", "jsonl", "json-seq", "text/plain"))
    if not stripped:
        raise bad_request("the body is empty: send a JSON array of events or JSON lines")
    if not as_lines and (stripped.startswith("[") or "json" in content_type):
        if escaped_bytes(stripped):
            raise bad_request("the body is not UTF-8: send UTF-8 JSON")
        try:
            data = loads_record(stripped)
        except json.JSONDecodeError as exc:
            raise bad_request(
                f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            ) from exc
        except RecursionError as exc:
            raise bad_request("invalid JSON: nested too deeply") from exc
        except ValueError as exc:  # NaN/Infinity, which JSON does not have
            raise bad_request(f"invalid JSON: {storable(str(exc))[:200]}") from exc
        if not isinstance(data, list):
            raise bad_request("expected a JSON array of event objects (or JSON lines)")
        return [
            (i, item)
            if isinstance(item, dict)
            else (i, MalformedRow(raw=raw_text(item), detail="an event must be an object"))
            for i, item in enumerate(data, start=1)
        ]
    try:  # line numbers count from the top of the body, as in a file
        return list(read_jsonl(io.StringIO(text.removeprefix("\ufeff"))))
    except RecursionError as exc:
        raise bad_request("invalid JSON: nested too deeply") from exc


def ingest_body(
    store: Store,
    body: bytes,
    content_type: str,
    source: str | None,
    vocabulary: Vocabulary,
    clock: Clock,
) -> dict:
    """``POST /events``: the body through the CLI's ingest path; the accounting and
    the quarantined rows (at most 1,000) as the response. Runs in the server's
    worker process (``engine.api.sidework``) or, without one, in a server thread."""
    rows = parse_events_body(body, content_type)
    options = IngestOptions(
        parse=ParseOptions(default_source=source),
        keep_events=False,
        source_name=f"api:{source}" if source else "api",
    )
    report = Ingestor(store, options, clock=clock.now_ms).ingest_records(
        vocabulary.map_records(rows)
    )
    quarantined = store.quarantine_frame(limit=1000, ingest_id=report.ingest_id)
    return {
        "ingest_id": report.ingest_id,
        "rows_read": report.rows_read,
        "accepted": report.accepted,
        "duplicates": report.duplicates,
        "quarantined": report.quarantined,
        "quarantined_by_reason": report.quarantined_by_reason,
        "balanced": report.balanced,
        "quarantined_rows": jsonable(
            quarantined[["line", "event_id", "reason", "detail"]]
            .sort_values("line")
            .to_dict("records")
        ),
    }


# -- windows and versions ------------------------------------------------------------------
def find_window(store: Store, series: str, grp: str, ref: WindowRef) -> dict:
    """The window's latest version row, or 404 naming what was looked for."""
    row = store.latest(series, ref.start_ms, grp)
    if row is None:
        raise not_found(
            f"no window of series {series!r}, group {grp!r} starts at {format_ms(ref.start_ms)}"
        )
    if ref.end_ms is not None and ref.end_ms != row["window_end_ms"]:
        raise not_found(
            f"the window starting {format_ms(ref.start_ms)} ends at "
            f"{format_ms(row['window_end_ms'])}, not {format_ms(ref.end_ms)}"
        )
    return row


def find_version(
    store: Store,
    series: str,
    grp: str,
    latest: dict,
    ref: VersionRef,
    final_falls_back: bool = False,
) -> dict | None:
    """The version row ``ref`` names (404 if it does not exist).

    ``final`` is the final version; with ``final_falls_back`` a window that is not
    final yet answers with its latest version (labelled not final) instead of 404.
    ``None`` only for version 0 ("nothing", the start of an explain).
    """
    start = latest["window_start_ms"]
    if ref.kind == "latest":
        return latest
    if ref.kind == "final":
        if latest["tier"] == "final" or final_falls_back:
            return latest
        raise not_found(
            f"the window is not final yet (latest is version {latest['version']}, {latest['tier']})"
        )
    if ref.kind == "first":
        return store.version(series, start, grp, 1)
    if ref.kind == "number":
        if ref.number == 0:
            return None
        row = store.version(series, start, grp, ref.number)
        if row is None:
            raise not_found(f"the window has versions 1..{latest['version']}, not {ref.number}")
        return row
    row = store.as_of(series, start, grp, ref.at_ms)
    if row is None:
        raise not_found(f"the window had not fired by {format_ms(ref.at_ms)}")
    return row


def ordered(a: dict | None, b: dict) -> None:
    if a is not None and a["version"] > b["version"]:
        raise unprocessable(
            f"a (version {a['version']}) must not be later than b (version {b['version']}); "
            "swap them for the reverse change"
        )


def each_key(keys: Iterable[str]) -> list[bytes]:
    return [k.encode("utf-8") for k in keys if k]
