"""Where alert notices go besides the in-app log: sinks.

The in-app log (the ``alert_log`` table) is always written; it is the record.
A sink delivers a copy of a notice somewhere else. Each sink says which target
a rule has for it (``target(rule)``; None = this rule does not use the sink) and
``send(target, payload)`` raises on any failure. The alert engine records every
attempt in ``alert_deliveries`` and never lets a sink's failure escape into the
scheduled job: a broken webhook must not stop finalization or other alerts.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Protocol
from urllib.parse import urlsplit

USER_AGENT = "latewatch-alerts/1"


class Sink(Protocol):
    name: str

    def target(self, rule) -> str | None: ...

    def send(self, target: str, payload: dict) -> None: ...


def check_webhook_url(url: str) -> str:
    """A webhook URL must be absolute http(s) with a host: anything else (file:,
    ftp:, a bare host) would either fail every time or read local files."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"webhook URL {url!r} must start with http:// or https:// and name a host")
    return url.strip()


class WebhookSink:
    """HTTP POST of the notice as a JSON body to the rule's webhook URL.

    A short timeout keeps a slow receiver from stalling the jobs thread; any
    non-2xx answer, timeout or connection error raises (and is recorded).
    """

    name = "webhook"

    def __init__(self, timeout_s: float = 3.0) -> None:
        self.timeout_s = timeout_s

    def target(self, rule) -> str | None:
        return rule.webhook_url or None

    def send(self, target: str, payload: dict) -> None:
        body = json.dumps(payload, sort_keys=True).encode()
        request = urllib.request.Request(
            check_webhook_url(target),
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"HTTP {exc.code} from {target}") from exc
        if not 200 <= status < 300:
            raise RuntimeError(f"HTTP {status} from {target}")


DEFAULT_SINKS: tuple[Sink, ...] = (WebhookSink(),)
