"""A slow read keyed on a clock step, shown up to one bound old while the current
step is computed in the background.

Why: some of Today's figures are learned from weeks of the raw log (the completeness
estimate: 0.3-0.5 s of SQL on a 2-core box) and are keyed on a clock step (15
simulated minutes). At the default 60x clock a step passes every 15 real seconds, so
whoever opened the page after a step paid for the recompute in the click. These
figures name the time they were computed at ("estimated at 10:30"), so showing the
previous step's value for a moment is honest; the current step is computed on a
background thread and the page's next refresh shows it. A value older than the bound
(or none at all) is computed in the request, as before.

No Streamlit here: the page keeps one ``Recent`` per runtime (``st.cache_resource``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from typing import Any

log = logging.getLogger(__name__)


class Recent:
    """``get(args, at_ms)`` returns ``compute(*args, at_ms)``: exactly when that was
    computed already; else the newest value computed for ``args`` at most
    ``max_age_ms`` before ``at_ms`` while ``at_ms`` is computed on a thread (one at a
    time per ``args``); else computed now. Only the newest value per ``args`` is kept."""

    def __init__(self, compute: Callable[..., Any], max_age_ms: int, name: str = "recent"):
        self._compute = compute
        self._max_age_ms = int(max_age_ms)
        self._name = name
        self._lock = threading.Lock()
        self._values: dict[Hashable, tuple[int, Any]] = {}
        self._running: dict[Hashable, threading.Thread] = {}

    def get(self, args: tuple, at_ms: int) -> tuple[int, Any]:
        """``(the step the value was computed for, value)``."""
        at_ms = int(at_ms)
        with self._lock:
            held = self._values.get(args)
        if held is not None and held[0] == at_ms:
            return held
        if held is not None and 0 < at_ms - held[0] <= self._max_age_ms:
            self._refresh(args, at_ms)
            return held
        value = self._compute(*args, at_ms)
        self._keep(args, at_ms, value)
        return at_ms, value

    def wait(self, timeout: float | None = None) -> None:
        """Until the background computations started so far are done (tests)."""
        with self._lock:
            threads = list(self._running.values())
        for t in threads:
            t.join(timeout)

    def _keep(self, args: tuple, at_ms: int, value: Any) -> None:
        with self._lock:
            held = self._values.get(args)
            if held is None or held[0] <= at_ms:  # never replace a newer step
                self._values[args] = (at_ms, value)

    def _refresh(self, args: tuple, at_ms: int) -> None:
        with self._lock:
            if args in self._running:
                return

            def run() -> None:
                try:
                    self._keep(args, at_ms, self._compute(*args, at_ms))
                except Exception:  # the next request computes it in the foreground
                    log.exception("%s: background computation for %r failed", self._name, args)
                finally:
                    with self._lock:
                        self._running.pop(args, None)

            thread = threading.Thread(target=run, name=f"{self._name}-refresh", daemon=True)
            self._running[args] = thread
        thread.start()
