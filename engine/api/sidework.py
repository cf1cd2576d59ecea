"""The API's heavy Python work — ``POST /events`` and the completeness refits — in a
worker process, off the readers' interpreter lock.

Why: readers and a writer in one process share one GIL. An ingest batch is Python
from end to end (JSON parsing, validation of every row, de-duplication, the
raw-log append: ~0.2 s per 2,000 events) and a completeness refit is numpy and
Python for tens to hundreds of ms. While either runs, every reader thread that
gives the GIL up — each socket read and write, each SQLite step, each hand-off
between the event loop and a worker thread — waits up to the switch interval to
get it back, a dozen times per request: reads under a writer were 1.5-3x slower
at p99 than without. In a worker process, that work uses another core's time and
never the readers' GIL; the server process only reads the body and hands the
bytes over (the pipe is written with the GIL released).

The worker runs at a lower CPU priority (``WORKER_NICE``): on a busy machine the
readers get the cores first and a batch takes longer, which is the trade a
dashboard's API wants (reads are what people wait on; a writer's batch is
acknowledged only once committed either way).

One worker process (``max_workers=1``): ingests run one after another, as they
did in practice (each batch's lookup and append is one SQLite write transaction);
a refit queues behind an ingest in flight (readers keep answering with the
previous model meanwhile). It is started with ``spawn`` (no fork of a threaded
server) when the app starts and warmed up, so the first POST does not pay the
imports. If the process dies, the request in flight answers 503 and the next one
starts a new process.

Time stays injected: the app's clock object is sent with each task (a
``SystemClock`` reads the same wall clock there; a ``FakeClock`` arrives as it
stands at that moment).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import threading
from concurrent.futures import BrokenExecutor, Future, ProcessPoolExecutor
from pathlib import Path

from fastapi import HTTPException

from engine.runtime.clock import Clock

_STORES: dict[str, object] = {}  # in the worker: one open Store per database path


def _store(db_path: str):
    from engine.store.db import Store

    store = _STORES.get(db_path)
    if store is None:
        store = _STORES[db_path] = Store.open(db_path)
    return store


WORKER_NICE = 5  # CPU priority below the server's readers (Linux/Unix niceness)


def _lower_priority(nice: int) -> None:
    with contextlib.suppress(AttributeError, OSError):
        os.nice(nice)


def _warm() -> bool:
    """Import what the tasks need, so the first real task does not wait for it."""
    import engine.api.views  # noqa: F401
    import engine.ingest.ingestor  # noqa: F401

    return True


def ingest_task(
    db_path: str, body: bytes, content_type: str, source: str | None, vocabulary, clock: Clock
) -> tuple[int, object]:
    """``(200, report)`` or ``(status, detail)`` for an HTTP error (an ``HTTPException``
    does not pickle back reliably)."""
    from engine.api.support import ingest_body

    try:
        return 200, ingest_body(_store(db_path), body, content_type, source, vocabulary, clock)
    except HTTPException as exc:
        return exc.status_code, exc.detail


def fit_task(db_path: str, window_ms: int, offset_ms: int, grp: str, fit_now: int):
    """``ModelCache._fit`` on the worker's own connection (the model pickles back)."""
    from engine.api.views import ModelCache

    return ModelCache._fit(_store(db_path), window_ms, offset_ms, grp, fit_now)


class SideWorker:
    """A one-process pool for the API's GIL-heavy work, restarted if it breaks."""

    def __init__(self, db_path: str | Path, nice: int = WORKER_NICE) -> None:
        self.db_path = str(db_path)
        self.nice = nice
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_lower_priority,
                    initargs=(self.nice,),
                )
            return self._pool

    def _submit(self, fn, *args) -> Future:
        pool = self._executor()
        try:
            return pool.submit(fn, *args)
        except BrokenExecutor:
            self._drop(pool)
            return self._executor().submit(fn, *args)

    def _drop(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    def start(self) -> Future:
        """Start the process and import the tasks' modules in it (not waited for)."""
        return self._submit(_warm)

    async def ingest(
        self, body: bytes, content_type: str, source: str | None, vocabulary, clock: Clock
    ) -> dict:
        pool = self._executor()
        future = self._submit(
            ingest_task, self.db_path, body, content_type, source, vocabulary, clock
        )
        try:
            status, out = await asyncio.wrap_future(future)
        except BrokenExecutor as exc:
            self._drop(pool)
            raise HTTPException(
                status_code=503,
                detail="the ingest worker process stopped; nothing of this batch is "
                "confirmed — send it again (resends are de-duplicated)",
            ) from exc
        if status != 200:
            raise HTTPException(status_code=status, detail=out)
        return out

    def fit(self, window_ms: int, offset_ms: int, grp: str, fit_now: int):
        """A completeness model fitted in the worker (blocks the calling thread, which
        holds no GIL meanwhile)."""
        pool = self._executor()
        try:
            return self._submit(fit_task, self.db_path, window_ms, offset_ms, grp, fit_now).result()
        except BrokenExecutor:
            self._drop(pool)
            raise

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            with contextlib.suppress(Exception):
                pool.shutdown(wait=True, cancel_futures=True)
