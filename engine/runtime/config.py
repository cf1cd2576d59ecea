"""`latewatch.toml`: one configuration file, read with ``tomllib`` and validated on load.

The path comes from ``--config`` or ``$LATEWATCH_CONFIG``; every key is optional
and an absent key keeps today's default. A wrong key or value is a ``ConfigError``
that names the key and the line (``latewatch.toml:12: sources.web.late_action:
…``). ``latewatch.example.toml`` shows every key.

This module reads and checks the file into plain values (``LatewatchConfig``);
engine.runtime.config_apply turns them into runtime settings, pipeline specs and
alert rules, and says where each effective value came from.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from engine.core.spec import (
    ADDITIVE_METRICS,
    LATE_ACTIONS,
    NON_ADDITIVE_METRICS,
)
from engine.core.timeutil import get_zone, parse_duration_ms
from engine.runtime.tiers import TierSchedule, check_order
from engine.sim.simulator import SCENARIOS

CONFIG_ENV = "LATEWATCH_CONFIG"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
SERIES_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
SOURCE_KEYS = ("watermark_delay", "allowed_lateness", "late_action", "idle_timeout")
SERIES_KEYS = (
    "window",
    "early",
    "late_every",
    "allowed_lateness",
    "late_action",
    "max_updates",
)
RULE_KEYS = (
    "name",
    "metric",
    "series",
    "group",
    "comparator",
    "threshold",
    "live_margin",
    "alert_tier",
    "webhook_url",
    "enabled",
)
ALL_METRICS = ADDITIVE_METRICS + NON_ADDITIVE_METRICS
TOP_KEYS = ("timezone", "simulator", "sources", "orders", "metrics", "series", "tiers", "alerts")


class ConfigError(ValueError):
    """A configuration problem, naming the file, the line (when known) and the key."""


@dataclass
class LatewatchConfig:
    path: str | None = None
    timezone: str | None = None
    simulator: dict = field(default_factory=dict)  # enabled, scenario, speed, seed, ...
    sources: dict[str, dict] = field(default_factory=dict)  # name -> {key: ms or text}
    orders: dict = field(default_factory=dict)
    metrics: tuple[str, ...] | None = None
    series: dict[str, dict] = field(default_factory=dict)
    tiers: dict[str, str] = field(default_factory=dict)
    alert_rules: list[dict] = field(default_factory=list)
    webhook_url: str | None = None
    lines: dict[str, int] = field(default_factory=dict)  # dotted key -> line

    def where(self, key: str) -> str:
        line = self.lines.get(key)
        name = Path(self.path).name if self.path else "config"
        return f"{name}:{line}" if line else name


# -- locating keys in the text (tomllib reports no positions for valid documents) -----
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'.]+)\s*=")


def key_lines(text: str) -> dict[str, int]:
    """Dotted key -> 1-based line, for tables, array tables (``alerts.rules.0``) and
    plain keys; good enough to point a person at the line."""
    lines: dict[str, int] = {}
    table = ""
    counts: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        m = _HEADER.match(line)
        if m:
            name = ".".join(p.strip().strip("\"'") for p in m.group(2).split("."))
            if m.group(1) == "[[":
                i = counts.get(name, 0)
                counts[name] = i + 1
                name = f"{name}.{i}"
            table = name
            lines.setdefault(table, n)
            continue
        k = _KEY.match(line)
        if k:
            key = ".".join(p.strip().strip("\"'") for p in k.group(1).split("."))
            lines.setdefault(f"{table}.{key}" if table else key, n)
    return lines


class _Checker:
    def __init__(self, path: str | None, lines: dict[str, int]) -> None:
        self.path = path
        self.lines = lines

    def fail(self, key: str, message: str):
        probe, line = key, self.lines.get(key)
        while line is None and "." in probe:
            probe = probe.rsplit(".", 1)[0]
            line = self.lines.get(probe)
        name = Path(self.path).name if self.path else "config"
        where = f"{name}:{line}" if line else name
        raise ConfigError(f"{where}: {key}: {message}")

    def at(self, key: str) -> _Checker:
        return self

    def table(self, value, key: str, allowed: tuple[str, ...] | None = None) -> dict:
        if not isinstance(value, dict):
            self.at(key).fail(key, f"must be a table ([{key}]), not {type(value).__name__}")
        if allowed is not None:
            for k in value:
                if k not in allowed:
                    self.at(f"{key}.{k}").fail(
                        f"{key}.{k}", f"unknown key; expected one of {', '.join(allowed)}"
                    )
        return value

    def duration(self, value, key: str, positive: bool = False) -> int:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.at(key).fail(key, 'must be a duration such as "30s", "15m", "6h" or "2d"')
        try:
            ms = parse_duration_ms(value)
        except ValueError as exc:
            self.at(key).fail(key, str(exc))
        if ms < 0 or (positive and ms == 0):
            self.at(key).fail(key, "must be positive" if positive else "cannot be negative")
        return ms

    def choice(self, value, key: str, choices) -> str:
        if not isinstance(value, str) or value not in choices:
            self.at(key).fail(key, f"{value!r} is not one of {', '.join(map(str, choices))}")
        return value

    def number(self, value, key: str, lo=None, hi=None, integer=False) -> float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if integer:
            ok = isinstance(value, int) and not isinstance(value, bool)
        if not ok or (isinstance(value, float) and not math.isfinite(value)):
            self.at(key).fail(key, f"must be {'an integer' if integer else 'a number'}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            self.at(key).fail(key, f"must be between {lo} and {hi}, not {value}")
        return value

    def text(self, value, key: str, pattern: re.Pattern | None = None) -> str:
        if not isinstance(value, str) or not value.strip():
            self.at(key).fail(key, "must be non-empty text")
        if pattern is not None and not pattern.match(value):
            self.at(key).fail(key, f"{value!r} is not a valid name ({pattern.pattern})")
        return value

    def names(self, value, key: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            self.at(key).fail(key, "must be a non-empty list of names")
        return tuple(self.text(v, key, NAME_RE) for v in value)


def load_config(path: str | os.PathLike) -> LatewatchConfig:
    """Read and validate ``path``; raises ConfigError (a ValueError) naming key and line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: configuration file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read the configuration file ({exc})") from None
    return parse_config(text, str(p))


def parse_config(text: str, path: str | None = None) -> LatewatchConfig:
    name = Path(path).name if path else "config"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: not valid TOML: {exc}") from None
    lines = key_lines(text)
    c = _Checker(path, lines)
    cfg = LatewatchConfig(path=path, lines=lines)
    for key in data:
        if key not in TOP_KEYS:
            c.at(key).fail(key, f"unknown key; expected one of {', '.join(TOP_KEYS)}")

    if "timezone" in data:
        tz = c.text(data["timezone"], "timezone")
        try:
            get_zone(tz)
        except Exception:  # noqa: BLE001 - any zone lookup failure is the same user error
            c.at("timezone").fail("timezone", f"{tz!r} is not an IANA time zone")
        cfg.timezone = tz

    if "simulator" in data:
        sim = c.table(
            data["simulator"],
            "simulator",
            ("enabled", "scenario", "speed", "seed", "history_days", "events_per_day"),
        )
        out = {}
        if "enabled" in sim:
            if not isinstance(sim["enabled"], bool):
                c.at("simulator.enabled").fail("simulator.enabled", "must be true or false")
            out["enabled"] = sim["enabled"]
        if "scenario" in sim:
            out["scenario"] = c.choice(sim["scenario"], "simulator.scenario", sorted(SCENARIOS))
        if "speed" in sim:
            out["speed"] = float(c.number(sim["speed"], "simulator.speed", 0.001, 1_000_000))
        if "seed" in sim:
            out["seed"] = int(c.number(sim["seed"], "simulator.seed", 0, 2**31, integer=True))
        if "history_days" in sim:
            out["history_days"] = int(
                c.number(sim["history_days"], "simulator.history_days", 0, 60, integer=True)
            )
        if "events_per_day" in sim:
            out["events_per_day"] = float(
                c.number(sim["events_per_day"], "simulator.events_per_day", 1, 10_000_000)
            )
        cfg.simulator = out

    if "sources" in data:
        for src, pol in c.table(data["sources"], "sources").items():
            base = f"sources.{src}"
            if src != "default":
                c.text(src, base, NAME_RE)
            pol = c.table(pol, base, SOURCE_KEYS)
            out = {}
            for key in ("watermark_delay", "allowed_lateness"):
                if key in pol:
                    out[key] = c.duration(pol[key], f"{base}.{key}")
            if "idle_timeout" in pol:
                out["idle_timeout"] = c.duration(
                    pol["idle_timeout"], f"{base}.idle_timeout", positive=True
                )
            if "late_action" in pol:
                out["late_action"] = c.choice(
                    pol["late_action"], f"{base}.late_action", LATE_ACTIONS
                )
            cfg.sources[src] = out

    if "orders" in data:
        o = c.table(
            data["orders"], "orders", ("order_types", "refund_types", "amount_field", "items_field")
        )
        out = {}
        for key in ("order_types", "refund_types"):
            if key in o:
                out[key] = c.names(o[key], f"orders.{key}")
        for key in ("amount_field", "items_field"):
            if key in o:
                out[key] = c.text(o[key], f"orders.{key}", NAME_RE)
        overlap = set(out.get("order_types", ())) & set(out.get("refund_types", ()))
        if overlap:
            c.at("orders.refund_types").fail(
                "orders.refund_types", f"{sorted(overlap)} are also order_types"
            )
        cfg.orders = out

    if "metrics" in data:
        if not isinstance(data["metrics"], list) or not data["metrics"]:
            c.at("metrics").fail("metrics", f"must be a list from {', '.join(ALL_METRICS)}")
        cfg.metrics = tuple(c.choice(m, "metrics", ALL_METRICS) for m in data["metrics"])

    if "series" in data:
        for sname, sp in c.table(data["series"], "series").items():
            base = f"series.{sname}"
            c.text(sname, base, SERIES_RE)
            sp = c.table(sp, base, SERIES_KEYS)
            out = {}
            if "window" in sp:
                out["window"] = _window(c, sp["window"], f"{base}.window")
            elif sname not in ("hourly", "daily"):
                c.at(base).fail(base, 'a new series needs a window, e.g. window = "15m"')
            if "early" in sp:
                early = sp["early"]
                if early in ("none", "per-record"):
                    out["early"] = (early, 0)
                else:
                    out["early"] = ("after-first", c.duration(early, f"{base}.early", True))
            if "late_every" in sp:
                out["late_every"] = c.duration(sp["late_every"], f"{base}.late_every", True)
            if "allowed_lateness" in sp:
                out["allowed_lateness"] = c.duration(
                    sp["allowed_lateness"], f"{base}.allowed_lateness"
                )
            if "late_action" in sp:
                out["late_action"] = c.choice(
                    sp["late_action"], f"{base}.late_action", LATE_ACTIONS
                )
            if "max_updates" in sp:
                out["max_updates"] = int(
                    c.number(sp["max_updates"], f"{base}.max_updates", 0, 10_000, integer=True)
                )
            cfg.series[sname] = out

    if "tiers" in data:
        t = c.table(data["tiers"], "tiers", ("preliminary", "final"))
        parsed = {}
        for key in ("preliminary", "final"):
            if key in t:
                try:
                    parsed[key] = TierSchedule.parse(t[key])
                except ValueError as exc:
                    c.at(f"tiers.{key}").fail(f"tiers.{key}", str(exc))
                cfg.tiers[key] = t[key].strip()
        if len(parsed) == 2:
            try:
                check_order(parsed["preliminary"], parsed["final"], cfg.timezone or "UTC")
            except ValueError as exc:
                c.at("tiers.final").fail("tiers.final", str(exc))

    if "alerts" in data:
        a = c.table(data["alerts"], "alerts", ("rules", "webhook_url"))
        if "webhook_url" in a:
            cfg.webhook_url = _url(c, a["webhook_url"], "alerts.webhook_url")
        rules = a.get("rules", [])
        if not isinstance(rules, list):
            c.at("alerts.rules").fail("alerts.rules", "must be [[alerts.rules]] tables")
        seen = set()
        for i, rule in enumerate(rules):
            base = f"alerts.rules.{i}"
            rule = c.table(rule, base, RULE_KEYS)
            for key in ("metric", "series", "comparator", "threshold"):
                if key not in rule:
                    c.at(f"{base}.{key}").fail(f"{base}.{key}", "is required in an alert rule")
            out = {
                "metric": c.choice(rule["metric"], f"{base}.metric", ADDITIVE_METRICS),
                "series": c.text(rule["series"], f"{base}.series", SERIES_RE),
                "comparator": c.choice(
                    rule["comparator"], f"{base}.comparator", ("below", "above")
                ),
                "threshold": float(c.number(rule["threshold"], f"{base}.threshold", 1e-9, None)),
            }
            if "name" in rule:
                out["name"] = c.text(rule["name"], f"{base}.name")
            if "group" in rule:
                out["grp"] = c.text(rule["group"], f"{base}.group")
            if "live_margin" in rule:
                out["live_margin"] = float(
                    c.number(rule["live_margin"], f"{base}.live_margin", 0, 0.99)
                )
            if "alert_tier" in rule:
                out["alert_tier"] = c.choice(
                    rule["alert_tier"], f"{base}.alert_tier", ("preliminary", "final")
                )
            if "webhook_url" in rule:
                out["webhook_url"] = _url(c, rule["webhook_url"], f"{base}.webhook_url")
            if "enabled" in rule:
                if not isinstance(rule["enabled"], bool):
                    c.at(f"{base}.enabled").fail(f"{base}.enabled", "must be true or false")
                out["enabled"] = rule["enabled"]
            ident = out.get("name") or (out["metric"], out["series"], out.get("grp", "*"))
            if ident in seen:
                c.at(f"{base}.name").fail(f"{base}.name", "two rules in the file share this name")
            seen.add(ident)
            out["line"] = lines.get(base)
            cfg.alert_rules.append(out)
    return cfg


def _window(c: _Checker, value, key: str) -> dict:
    if not isinstance(value, str) or not value.strip():
        c.at(key).fail(key, 'must be "day", "week", "month" or a duration such as "15m"')
    text = value.strip().lower()
    if text in ("day", "week", "month"):
        return {"kind": text}
    try:
        size = parse_duration_ms(text)
    except ValueError:
        c.at(key).fail(key, f'{value!r}: use "day", "week", "month" or a duration such as "15m"')
    if size < 60_000 or 86_400_000 % size != 0:
        c.at(key).fail(key, f"{value!r}: a fixed window must divide a day (1m … 1d)")
    return {"kind": "tumbling", "size_ms": size}


def _url(c: _Checker, value, key: str) -> str:
    from engine.runtime.sinks import check_webhook_url

    text = c.text(value, key)
    try:
        return check_webhook_url(text)
    except ValueError as exc:
        c.at(key).fail(key, str(exc))


def config_path(arg: str | None, env: dict | None = None) -> str | None:
    """``--config`` if given, else ``$LATEWATCH_CONFIG``, else None (defaults only)."""
    env = os.environ if env is None else env
    return arg or env.get(CONFIG_ENV) or None
