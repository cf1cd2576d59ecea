"""Where alert notices go besides the in-app log: sinks.

The in-app log (the ``alert_log`` table) is always written; it is the record.
A sink delivers a copy of a notice somewhere else. Each sink says which target
a rule has for it (``target(rule)``; None = this rule does not use the sink) and
``send(target, payload)`` raises on any failure. The alert engine records every
attempt in ``alert_deliveries`` and never lets a sink's failure escape into the
scheduled job: a broken webhook must not stop finalization or other alerts.

**Webhooks are requests the server makes on a user's behalf**, so a URL must not
reach the server's own neighbourhood: loopback, private (RFC 1918, fc00::/7),
link-local (169.254.0.0/16 — cloud metadata endpoints live there), carrier-grade
NAT, multicast, reserved and unspecified addresses are refused unless the setting
``LATEWATCH_WEBHOOK_ALLOW_PRIVATE=1`` says this installation wants them (local
receivers, tests). The check runs twice: when a rule is saved (every address the
host name resolves to, for a clear message) and on every send, against the address
the socket actually connected to — so a name that resolves to a public address at
save time and to 127.0.0.1 later (DNS rebinding) is still refused. Redirects are
not followed and proxies from the environment are not used, for the same reason.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import socket
import urllib.error
import urllib.request
from typing import Protocol
from urllib.parse import urlsplit

USER_AGENT = "latewatch-alerts/1"
ALLOW_PRIVATE_ENV = "LATEWATCH_WEBHOOK_ALLOW_PRIVATE"
_TRUE = ("1", "true", "yes", "on")
# Special-purpose blocks (RFC 6890 and successors) refused by name, whatever this
# Python's ``ipaddress`` tables say (they differ between versions).
SPECIAL_NETWORKS = {
    "this network": ("0.0.0.0/8", "::/128"),
    "private": ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"),
    "shared (carrier-grade NAT)": ("100.64.0.0/10",),
    "loopback": ("127.0.0.0/8", "::1/128"),
    "link-local": ("169.254.0.0/16", "fe80::/10"),
    "IETF protocol assignments": ("192.0.0.0/24",),
    "documentation": ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"),
    "benchmarking": ("198.18.0.0/15",),
    "multicast": ("224.0.0.0/4", "ff00::/8"),
    "reserved": ("240.0.0.0/4",),
}
_SPECIAL = [
    (ipaddress.ip_network(net), why) for why, nets in SPECIAL_NETWORKS.items() for net in nets
]


class BlockedAddressError(ValueError):
    """A webhook URL points at an address this installation may not call."""


class Sink(Protocol):
    name: str

    def target(self, rule) -> str | None: ...

    def send(self, target: str, payload: dict) -> None: ...


def private_allowed() -> bool:
    """The installation's setting: may webhooks call loopback/private addresses?"""
    return os.environ.get(ALLOW_PRIVATE_ENV, "").strip().lower() in _TRUE


def blocked_reason(address: str) -> str | None:
    """Why an IP address may not be called (None when it is a public address)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for network, why in _SPECIAL:
        if ip.version == network.version and ip in network:
            return why
    for test, why in (
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_private, "private"),
        (ip.is_multicast, "multicast"),
        (ip.is_reserved, "reserved"),
        (ip.is_unspecified, "unspecified"),
        (ip in ipaddress.ip_network("100.64.0.0/10"), "shared (carrier-grade NAT)"),
        (not ip.is_global, "not globally routable"),
    ):
        if test:
            return why
    return None


def _refusal(url: str, address: str, why: str) -> BlockedAddressError:
    return BlockedAddressError(
        f"webhook URL {url!r} reaches {address}, a {why} address: latewatch does not call "
        f"internal hosts. To allow it (local receivers, tests), set {ALLOW_PRIVATE_ENV}=1."
    )


def check_webhook_url(url: str) -> str:
    """A webhook URL must be absolute http(s) with a host: anything else (file:,
    ftp:, a bare host) would either fail every time or read local files. Syntax only
    (no DNS): this runs whenever a rule is loaded."""
    text = str(url).strip()
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise ValueError(f"webhook URL {text!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(
            f"webhook URL {text!r} must start with http:// or https:// and name a host"
        )
    if parts.username or parts.password:
        raise ValueError(f"webhook URL {text!r} must not carry a user name or password")
    if any(ch.isspace() or ord(ch) < 32 for ch in text):
        raise ValueError(f"webhook URL {text!r} must not contain spaces or control characters")
    return text


def check_webhook_target(url: str, allow_private: bool | None = None) -> str:
    """``check_webhook_url`` plus: every address the host resolves to must be public
    (unless allowed). Raises ValueError (``BlockedAddressError``) saying why."""
    text = check_webhook_url(url)
    if private_allowed() if allow_private is None else allow_private:
        return text
    parts = urlsplit(text)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ValueError(f"webhook host {parts.hostname!r} cannot be resolved ({exc})") from None
    for info in infos:
        address = info[4][0]
        if why := blocked_reason(address):
            raise _refusal(text, address, why)
    return text


def _checked_connection(base, allow_private: bool):
    class Checked(base):
        def connect(self):
            super().connect()
            if allow_private:
                return
            address = self.sock.getpeername()[0]
            if why := blocked_reason(address):
                self.sock.close()
                raise _refusal(f"{self.host}:{self.port}", address, why)

    return Checked


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise urllib.error.HTTPError(
            req.full_url, code, f"redirect to {newurl!r} not followed", headers, fp
        )


def _opener(allow_private: bool) -> urllib.request.OpenerDirector:
    http_conn = _checked_connection(http.client.HTTPConnection, allow_private)
    https_conn = _checked_connection(http.client.HTTPSConnection, allow_private)

    class HTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(http_conn, req)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(https_conn, req, context=self._context)

    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}), HTTPHandler(), HTTPSHandler(), _NoRedirect()
    )


class WebhookSink:
    """HTTP POST of the notice as a JSON body to the rule's webhook URL.

    A short timeout keeps a slow receiver from stalling the jobs thread; any
    non-2xx answer, redirect, timeout, connection error or refused address raises
    (and is recorded). ``allow_private=None`` follows the installation's setting.
    """

    name = "webhook"

    def __init__(self, timeout_s: float = 3.0, allow_private: bool | None = None) -> None:
        self.timeout_s = timeout_s
        self.allow_private = allow_private

    def target(self, rule) -> str | None:
        return rule.webhook_url or None

    def send(self, target: str, payload: dict) -> None:
        allow = private_allowed() if self.allow_private is None else self.allow_private
        body = json.dumps(payload, sort_keys=True).encode()
        request = urllib.request.Request(
            check_webhook_url(target),
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
        )
        try:
            with _opener(allow).open(request, timeout=self.timeout_s) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            note = " (redirects are not followed)" if 300 <= exc.code < 400 else ""
            raise RuntimeError(f"HTTP {exc.code} from {target}{note}") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, BlockedAddressError):
                raise exc.reason from None
            raise
        if not 200 <= status < 300:
            raise RuntimeError(f"HTTP {status} from {target}")


DEFAULT_SINKS: tuple[Sink, ...] = (WebhookSink(),)
