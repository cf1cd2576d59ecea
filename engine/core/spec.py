"""The pipeline specification, in Beam's vocabulary, free of in-process details.

A ``PipelineSpec`` says *what* to compute (windowing, watermark strategy,
triggers, allowed lateness, late actions per source, grouping, metrics); the
operator in ``engine.core.operator`` is one runner for it. Specs are frozen and
validated on construction; messages say why a value is refused.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

from engine.core.timeutil import format_duration_ms, get_zone, parse_duration_ms

WINDOW_KINDS = ("tumbling", "sliding", "session", "global", "day", "week", "month")
WATERMARK_KINDS = ("bounded", "per-key", "punctuated", "processing-time")
LATE_ACTIONS = ("update", "side_output", "drop", "recompute")
EARLY_KINDS = ("none", "after-first", "per-record")
LATE_KINDS = ("none", "each", "every")
GROUP_BYS = ("none", "source", "key", "all+source")
ADDITIVE_METRICS = ("revenue", "orders", "items", "events")
NON_ADDITIVE_METRICS = ("avg_order_value", "median_order_value", "distinct_users")


@dataclass(frozen=True)
class WindowSpec:
    kind: str = "tumbling"
    size_ms: int = 3_600_000
    slide_ms: int | None = None
    offset_ms: int = 0
    gap_ms: int | None = None
    tz: str = "UTC"

    def __post_init__(self) -> None:
        if self.kind not in WINDOW_KINDS:
            raise ValueError(f"window kind {self.kind!r} is not one of {WINDOW_KINDS}")
        if self.kind in ("tumbling", "sliding") and self.size_ms <= 0:
            raise ValueError("window size must be positive")
        if self.kind == "sliding":
            if not self.slide_ms or self.slide_ms <= 0:
                raise ValueError("sliding windows need a positive slide")
            if self.slide_ms > self.size_ms:
                raise ValueError("a slide longer than the size would leave gaps between windows")
        if self.kind == "tumbling" and abs(self.offset_ms) >= self.size_ms:
            raise ValueError("offset must be shorter than the window size")
        if self.kind == "session" and (not self.gap_ms or self.gap_ms <= 0):
            raise ValueError("session windows need a positive gap")
        if self.kind in ("day", "week", "month"):
            get_zone(self.tz)

    @classmethod
    def parse(cls, text: str) -> WindowSpec:
        """'tumbling:5m', 'tumbling:1h+15m' (offset), 'sliding:1h/15m', 'session:30m',
        'global', 'day@Europe/Berlin', 'week@UTC', 'month@America/New_York'."""
        text = text.strip()
        if text == "global":
            return cls(kind="global")
        if "@" in text:
            kind, tz = text.split("@", 1)
            return cls(kind=kind, tz=tz)
        kind, _, arg = text.partition(":")
        if kind == "tumbling":
            size, _, offset = arg.partition("+")
            return cls(
                kind="tumbling",
                size_ms=parse_duration_ms(size),
                offset_ms=parse_duration_ms(offset) if offset else 0,
            )
        if kind == "sliding":
            size, _, slide = arg.partition("/")
            return cls(
                kind="sliding", size_ms=parse_duration_ms(size), slide_ms=parse_duration_ms(slide)
            )
        if kind == "session":
            return cls(kind="session", gap_ms=parse_duration_ms(arg), size_ms=0)
        if kind in ("day", "week", "month"):
            return cls(kind=kind)
        raise ValueError(
            f"cannot read window {text!r}: use tumbling:5m, sliding:1h/15m, "
            "session:30m, global or day@Europe/Berlin"
        )

    def describe(self) -> str:
        if self.kind == "tumbling":
            off = f"+{format_duration_ms(self.offset_ms)}" if self.offset_ms else ""
            return f"tumbling:{format_duration_ms(self.size_ms)}{off}"
        if self.kind == "sliding":
            return f"sliding:{format_duration_ms(self.size_ms)}/{format_duration_ms(self.slide_ms)}"
        if self.kind == "session":
            return f"session:{format_duration_ms(self.gap_ms)}"
        if self.kind == "global":
            return "global"
        return f"{self.kind}@{self.tz}"


@dataclass(frozen=True)
class WatermarkSpec:
    """``delay_ms`` is the out-of-orderness bound; ``source_delays_ms`` overrides it per
    source (per-key strategy keyed by source). ``idle_ms``: a key silent for this long
    (processing time) stops holding the global watermark back."""

    kind: str = "bounded"
    delay_ms: int = 0
    key_by: str = "source"
    idle_ms: int | None = None
    source_delays_ms: tuple[tuple[str, int], ...] = ()
    # per-source idle timeouts (per-key strategy keyed by source); others use idle_ms
    source_idle_ms: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in WATERMARK_KINDS:
            raise ValueError(f"watermark kind {self.kind!r} is not one of {WATERMARK_KINDS}")
        if self.delay_ms < 0:
            raise ValueError("a negative watermark delay would run ahead of the data")
        if self.key_by not in ("source", "key"):
            raise ValueError("per-key watermarks are keyed by 'source' or 'key'")
        if self.idle_ms is not None and self.idle_ms <= 0:
            raise ValueError("idle timeout must be positive")
        if any(ms <= 0 for _, ms in self.source_idle_ms):
            raise ValueError("idle timeout must be positive")

    def delay_for(self, source: str) -> int:
        for name, delay in self.source_delays_ms:
            if name == source:
                return delay
        return self.delay_ms

    def idle_for(self, key: str) -> int | None:
        for name, idle in self.source_idle_ms:
            if name == key:
                return idle
        return self.idle_ms

    @classmethod
    def parse(cls, text: str) -> WatermarkSpec:
        """'bounded:10s', 'per-key:10s,idle=5m,by=key', 'punctuated', 'processing-time:10s'."""
        text = text.strip()
        kind, _, arg = text.partition(":")
        if kind == "punctuated":
            return cls(kind="punctuated")
        parts = [p.strip() for p in arg.split(",") if p.strip()]
        delay = parse_duration_ms(parts[0]) if parts and "=" not in parts[0] else 0
        opts = dict(p.split("=", 1) for p in parts if "=" in p)
        return cls(
            kind=kind,
            delay_ms=delay,
            idle_ms=parse_duration_ms(opts["idle"]) if "idle" in opts else None,
            key_by=opts.get("by", "source"),
        )

    def describe(self) -> str:
        if self.kind == "punctuated":
            return "punctuated"
        text = f"{self.kind}:{format_duration_ms(self.delay_ms)}"
        if self.kind == "per-key":
            if self.idle_ms:
                text += f",idle={format_duration_ms(self.idle_ms)}"
            if self.key_by != "source":
                text += f",by={self.key_by}"
        return text


@dataclass(frozen=True)
class TriggerSpec:
    """Beam's ``AfterWatermark(early=..., late=...)``: the on-time pane always fires;
    early panes fire ``early_delay_ms`` of processing time after the first element of a
    pane (``after-first``) or after every element (``per-record``); late panes fire per
    late element (``each``) or at most once per ``late_every_ms`` (``every``)."""

    early: str = "none"
    early_delay_ms: int = 0
    late: str = "each"
    late_every_ms: int = 0

    def __post_init__(self) -> None:
        if self.early not in EARLY_KINDS:
            raise ValueError(f"early trigger {self.early!r} is not one of {EARLY_KINDS}")
        if self.late not in LATE_KINDS:
            raise ValueError(f"late trigger {self.late!r} is not one of {LATE_KINDS}")
        if self.early == "after-first" and self.early_delay_ms <= 0:
            raise ValueError("after-first early firings need a positive delay")
        if self.late == "every" and self.late_every_ms <= 0:
            raise ValueError("'every' late firings need a positive interval")

    @staticmethod
    def parse_early(text: str) -> tuple[str, int]:
        kind, _, arg = text.strip().partition(":")
        return kind, parse_duration_ms(arg) if arg else 0

    @staticmethod
    def parse_late(text: str) -> tuple[str, int]:
        kind, _, arg = text.strip().partition(":")
        return kind, parse_duration_ms(arg) if arg else 0


@dataclass(frozen=True)
class SourcePolicy:
    """Per-source overrides of allowed lateness and late action (None = pipeline default)."""

    source: str
    allowed_lateness_ms: int | None = None
    late_action: str | None = None
    watermark_delay_ms: int | None = None

    def __post_init__(self) -> None:
        if self.late_action is not None and self.late_action not in LATE_ACTIONS:
            raise ValueError(f"late action {self.late_action!r} is not one of {LATE_ACTIONS}")
        if self.allowed_lateness_ms is not None and self.allowed_lateness_ms < 0:
            raise ValueError("allowed lateness cannot be negative")


@dataclass(frozen=True)
class PipelineSpec:
    window: WindowSpec = field(default_factory=WindowSpec)
    watermark: WatermarkSpec = field(default_factory=WatermarkSpec)
    trigger: TriggerSpec = field(default_factory=TriggerSpec)
    allowed_lateness_ms: int = 0
    late_action: str = "update"
    max_updates_per_window: int | None = None
    group_by: str = "none"
    metrics: tuple[str, ...] = ADDITIVE_METRICS
    sources: tuple[SourcePolicy, ...] = ()

    def __post_init__(self) -> None:
        if self.allowed_lateness_ms < 0:
            raise ValueError("allowed lateness cannot be negative")
        if self.late_action not in LATE_ACTIONS:
            raise ValueError(f"late action {self.late_action!r} is not one of {LATE_ACTIONS}")
        if self.group_by not in GROUP_BYS:
            raise ValueError(f"group_by {self.group_by!r} is not one of {GROUP_BYS}")
        if self.max_updates_per_window is not None and self.max_updates_per_window < 0:
            raise ValueError("max_updates_per_window cannot be negative")
        unknown = set(self.metrics) - set(ADDITIVE_METRICS) - set(NON_ADDITIVE_METRICS)
        if unknown:
            raise ValueError(f"unknown metrics {sorted(unknown)}")
        if self.window.kind == "global" and self.allowed_lateness_ms:
            raise ValueError("the global window never closes, so allowed lateness has no meaning")

    # -- per-source resolution -------------------------------------------------
    def _policy(self, source: str) -> SourcePolicy | None:
        for policy in self.sources:
            if policy.source == source:
                return policy
        return None

    def lateness_for(self, source: str) -> int:
        policy = self._policy(source)
        if policy is not None and policy.allowed_lateness_ms is not None:
            return policy.allowed_lateness_ms
        return self.allowed_lateness_ms

    def action_for(self, source: str) -> str:
        policy = self._policy(source)
        if policy is not None and policy.late_action is not None:
            return policy.late_action
        return self.late_action

    def max_lateness_ms(self) -> int:
        values = [self.allowed_lateness_ms]
        values += [p.allowed_lateness_ms for p in self.sources if p.allowed_lateness_ms is not None]
        return max(values)

    def watermark_delay_for(self, source: str) -> int:
        policy = self._policy(source)
        if policy is not None and policy.watermark_delay_ms is not None:
            return policy.watermark_delay_ms
        return self.watermark.delay_for(source)

    def with_changes(self, **changes) -> PipelineSpec:
        return replace(self, **changes)

    # -- serialisation ---------------------------------------------------------
    def to_dict(self) -> dict:
        data = asdict(self)
        data["describe"] = {
            "window": self.window.describe(),
            "watermark": self.watermark.describe(),
        }
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> PipelineSpec:
        data = {k: v for k, v in data.items() if k != "describe"}
        wm = dict(data.get("watermark", {}))
        wm["source_delays_ms"] = tuple(tuple(x) for x in wm.get("source_delays_ms", ()))
        wm["source_idle_ms"] = tuple(tuple(x) for x in wm.get("source_idle_ms", ()))
        return cls(
            window=WindowSpec(**data.get("window", {})),
            watermark=WatermarkSpec(**wm),
            trigger=TriggerSpec(**data.get("trigger", {})),
            allowed_lateness_ms=data.get("allowed_lateness_ms", 0),
            late_action=data.get("late_action", "update"),
            max_updates_per_window=data.get("max_updates_per_window"),
            group_by=data.get("group_by", "none"),
            metrics=tuple(data.get("metrics", ADDITIVE_METRICS)),
            sources=tuple(SourcePolicy(**p) for p in data.get("sources", ())),
        )

    @classmethod
    def from_json(cls, text: str) -> PipelineSpec:
        return cls.from_dict(json.loads(text))
