"""One processing runtime per store: a lease in the store's kv table.

Two runtimes feeding operators from the same raw log would both write versions
for the same windows. A runtime claims the lease when it starts (``host:pid``
and a heartbeat on the wall clock, renewed while it ticks) and releases it on
shutdown. A second runtime (``python -m engine run`` beside the dashboard, two
dashboards on one file) is refused with a message naming the holder. A lease
whose holder has ended (same host, no such process) or whose heartbeat is older
than ``STALE_MS`` (a crashed process, another host) is taken over.

The wall clock here says only whether a process is alive; it decides nothing
about the data.
"""

from __future__ import annotations

import os
import socket

from engine.runtime.clock import wall_ms
from engine.store.db import Store

LEASE_KEY = "runtime_lease"
STALE_MS = 60_000
HEARTBEAT_MS = 10_000


class StoreBusy(ValueError):
    """Another live process is running the pipeline on this store."""


def this_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _gone(owner: str) -> bool:
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another host: only the heartbeat can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: alive, someone else's
        return False
    try:  # a zombie (ended, not yet reaped) is gone too
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def claim(store: Store, db_path: str, owner: str | None = None) -> None:
    """Take the lease or raise StoreBusy naming the process that holds it."""
    owner = owner or this_owner()
    now = wall_ms()
    with store.transaction():
        held = store.get_kv(LEASE_KEY)
        if held and held.get("owner") not in (None, owner) and held.get("heartbeat_ms"):
            fresh = now - int(held["heartbeat_ms"]) <= STALE_MS
            if fresh and not _gone(str(held["owner"])):
                raise StoreBusy(
                    f"{db_path} is already being processed by another latewatch process "
                    f"({held['owner']}, {held.get('what', 'a runtime')}); run one processing "
                    "process per store — the dashboard runs the pipeline itself, so use "
                    "either it or `python -m engine run` (`python -m engine serve` can run "
                    "beside either) — or stop that process"
                )
        store.set_kv(LEASE_KEY, {"owner": owner, "heartbeat_ms": now, "what": _what()}, now)


def heartbeat(store: Store, last_ms: int, owner: str | None = None) -> int:
    """Renew the lease at most every HEARTBEAT_MS; returns the time of the last renewal."""
    now = wall_ms()
    if now - last_ms < HEARTBEAT_MS:
        return last_ms
    owner = owner or this_owner()
    store.set_kv(LEASE_KEY, {"owner": owner, "heartbeat_ms": now, "what": _what()}, now)
    return now


def release(store: Store, owner: str | None = None) -> None:
    owner = owner or this_owner()
    with store.transaction():
        held = store.get_kv(LEASE_KEY)
        if held and held.get("owner") == owner:
            store.set_kv(LEASE_KEY, {"owner": owner, "heartbeat_ms": 0, "what": "released"})


def _what() -> str:
    import sys

    argv = " ".join(os.path.basename(a) for a in sys.argv[:3])
    return argv or "python"
