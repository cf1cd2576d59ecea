"""From a validated ``latewatch.toml`` (engine.runtime.config) to what the runtime runs:
settings, pipeline specs per series, the tier schedule and alert rules — and, for
the Operations page, the effective value of every setting with where it came from:
``default``, ``file`` (with its line), ``command line`` / ``environment``, or ``UI``
(a What-if *Apply*, an alert rule added on the Alerts page).

Precedence: a value given explicitly on the command line or in the environment,
then the file, then the default. A series' configuration applied from the UI
stays in force across restarts until the file's declaration of it changes.
"""

from __future__ import annotations

import dataclasses

from engine.core.spec import PipelineSpec, SourcePolicy, WindowSpec
from engine.runtime.config import LatewatchConfig
from engine.runtime.pipelines import default_series, live_series
from engine.runtime.settings import RuntimeSettings
from engine.store.db import Store

ORIGIN_KV = "config_origin"  # {series: origin}
DECLARED_KV = "series_declared"  # {series: spec json as declared by default/file}
FILE_KV = "config_file"  # path and digest of the file the runtime started with
SIM_FIELDS = ("scenario", "speed", "seed", "history_days", "events_per_day")


def apply_settings(
    settings: RuntimeSettings, cfg: LatewatchConfig | None, explicit: set[str] = frozenset()
) -> tuple[RuntimeSettings, dict[str, str]]:
    """``settings`` with the file's values where nothing explicit overrides them.
    ``explicit``: settings given on the command line / environment. Returns the new
    settings and the origin of each runtime setting."""
    origins = {k: ("explicit" if k in explicit else "default") for k in ("tz", "simulator")}
    origins |= {k: ("explicit" if k in explicit else "default") for k in SIM_FIELDS}
    changes: dict = {}
    if cfg is not None:
        if cfg.timezone and "tz" not in explicit:
            changes["tz"] = cfg.timezone
            origins["tz"] = "file"
        sim = cfg.simulator
        if "enabled" in sim and "simulator" not in explicit:
            changes["simulator"] = sim["enabled"]
            origins["simulator"] = "file"
        for key in SIM_FIELDS:
            if key in sim and key not in explicit:
                changes[key] = sim[key]
                origins[key] = "file"
    settings = dataclasses.replace(settings, **changes)
    finalize = dataclasses.replace(settings.finalize, tz=settings.tz)
    origins["tiers.preliminary"] = origins["tiers.final"] = "default"
    if cfg is not None and cfg.tiers:
        if "preliminary" in cfg.tiers:
            finalize = dataclasses.replace(finalize, preliminary_at=cfg.tiers["preliminary"])
            origins["tiers.preliminary"] = "file"
        if "final" in cfg.tiers:
            finalize = dataclasses.replace(finalize, final_at=cfg.tiers["final"])
            origins["tiers.final"] = "file"
    # re-validated as a whole (the order of the tiers in this zone)
    finalize = dataclasses.replace(finalize)
    return dataclasses.replace(settings, finalize=finalize), origins


def _policy_with(spec: PipelineSpec, source: str, **changes) -> tuple[SourcePolicy, ...]:
    out, found = [], False
    for p in spec.sources:
        if p.source == source:
            p = dataclasses.replace(p, **changes)
            found = True
        out.append(p)
    if not found:
        out.append(SourcePolicy(source, **changes))
    return tuple(out)


def build_series(
    cfg: LatewatchConfig | None, tz: str, live: bool = False
) -> dict[str, PipelineSpec]:
    """The pipeline specs the file declares: today's defaults (``live_series`` in live
    mode) with the file's sources, metrics and series settings laid over them."""
    base = (live_series if live else default_series)(tz)
    if cfg is None:
        return base
    hourly = base["hourly"]
    for name in cfg.series:
        if name not in base:  # a new series: the hourly policies over its own window
            base[name] = hourly
    out = {}
    for name, spec in base.items():
        decl = cfg.series.get(name, {})
        wm = spec.watermark
        default = cfg.sources.get("default", {})
        if "watermark_delay" in default:
            wm = dataclasses.replace(wm, delay_ms=default["watermark_delay"])
        if "idle_timeout" in default:
            wm = dataclasses.replace(wm, idle_ms=default["idle_timeout"])
        changes: dict = {}
        if "allowed_lateness" in default:
            changes["allowed_lateness_ms"] = default["allowed_lateness"]
        if "late_action" in default:
            changes["late_action"] = default["late_action"]
        spec = dataclasses.replace(spec, **changes)
        for src, pol in cfg.sources.items():
            if src == "default":
                continue
            fields = {}
            if "allowed_lateness" in pol:
                fields["allowed_lateness_ms"] = pol["allowed_lateness"]
            if "late_action" in pol:
                fields["late_action"] = pol["late_action"]
            if "watermark_delay" in pol:
                fields["watermark_delay_ms"] = pol["watermark_delay"]
            spec = dataclasses.replace(spec, sources=_policy_with(spec, src, **fields))
            if "idle_timeout" in pol:
                idles = dict(wm.source_idle_ms) | {src: pol["idle_timeout"]}
                wm = dataclasses.replace(wm, source_idle_ms=tuple(sorted(idles.items())))
        spec = dataclasses.replace(spec, watermark=wm)
        if cfg.metrics is not None:
            spec = dataclasses.replace(spec, metrics=cfg.metrics)
        if "window" in decl:
            w = decl["window"]
            window = (
                WindowSpec(kind="tumbling", size_ms=w["size_ms"])
                if w["kind"] == "tumbling"
                else WindowSpec(kind=w["kind"], tz=tz)
            )
            spec = dataclasses.replace(spec, window=window)
        trig = spec.trigger
        if "early" in decl:
            kind, delay = decl["early"]
            trig = dataclasses.replace(trig, early=kind, early_delay_ms=delay)
        if "late_every" in decl:
            trig = dataclasses.replace(trig, late="every", late_every_ms=decl["late_every"])
        spec = dataclasses.replace(spec, trigger=trig)
        if "allowed_lateness" in decl:
            spec = dataclasses.replace(spec, allowed_lateness_ms=decl["allowed_lateness"])
        if "late_action" in decl:
            spec = dataclasses.replace(spec, late_action=decl["late_action"])
        if "max_updates" in decl:
            spec = dataclasses.replace(spec, max_updates_per_window=decl["max_updates"])
        out[name] = PipelineSpec.from_dict(spec.to_dict())  # validated as a whole
    return out


def reconcile_series(
    store: Store, declared: dict[str, PipelineSpec], now_ms: int, from_file: bool
) -> dict[str, PipelineSpec]:
    """The specs to run: the declared one where the declaration changed since the last
    start (or nothing is stored), else what is stored (it may be a UI *Apply*).
    Records each series' origin."""
    last = store.get_kv(DECLARED_KV) or {}
    origins = store.get_kv(ORIGIN_KV) or {}
    out = {}
    with store.transaction():
        for name, spec in declared.items():
            saved = store.config(name)
            text = spec.to_json()
            changed = last.get(name) != text if name in last else from_file
            declared_by = "file" if from_file else "default"
            if saved is None or (changed and saved != spec):
                store.save_config(name, spec, now_ms)
                origins[name] = declared_by
                out[name] = spec
            elif saved == spec:
                origins[name] = declared_by
                out[name] = spec
            else:  # stored by a What-if Apply since the declaration last changed
                origins[name] = origins.get(name, "UI")
                out[name] = saved
            last[name] = text
        store.set_kv(DECLARED_KV, last, now_ms)
        store.set_kv(ORIGIN_KV, origins, now_ms)
    return out


def mark_series_origin(store: Store, series: str, origin: str, now_ms: int) -> None:
    origins = store.get_kv(ORIGIN_KV) or {}
    origins[series] = origin
    store.set_kv(ORIGIN_KV, origins, now_ms)


def configured_sources(spec: PipelineSpec) -> set[str]:
    """Sources with a policy of their own in ``spec`` (the rest get the default)."""
    names = {p.source for p in spec.sources}
    names |= {s for s, _ in spec.watermark.source_delays_ms}
    names |= {s for s, _ in spec.watermark.source_idle_ms}
    return names


def sync_file_rules(store: Store, cfg: LatewatchConfig | None, now_ms: int) -> dict:
    """Make the alert rules marked ``origin='file'`` match the file: add new ones,
    update changed ones, delete those no longer in it. Rules added in the UI are
    never touched."""
    from engine.runtime import alert_rules as ar

    wanted = {}
    for r in cfg.alert_rules if cfg is not None else []:
        fields = {k: v for k, v in r.items() if k != "line"}
        if "webhook_url" not in fields and cfg.webhook_url:
            fields["webhook_url"] = cfg.webhook_url
        if fields.get("metric") in ar.MONEY_METRICS:  # dollars in the file, cents stored
            fields["threshold"] = ar.stored_value(fields["metric"], fields["threshold"])
        rule = ar.AlertRule(origin="file", **fields)
        wanted[rule.name or rule.describe()] = rule
    existing = {(r.name or r.describe()): r for r in ar.list_rules(store) if r.origin == "file"}
    report = {"added": 0, "updated": 0, "deleted": 0}
    for key, rule in wanted.items():
        have = existing.pop(key, None)
        if have is None:
            ar.add_rule(store, rule, now_ms, known_series=())
            report["added"] += 1
            continue
        editable = {
            k: getattr(rule, k)
            for k in ("comparator", "threshold", "live_margin", "alert_tier", "webhook_url")
        }
        if any(getattr(have, k) != v for k, v in editable.items()) or (
            have.metric,
            have.series,
            have.grp,
        ) != (rule.metric, rule.series, rule.grp):
            if (have.metric, have.series, have.grp) != (rule.metric, rule.series, rule.grp):
                ar.delete_rule(store, have.id, now_ms)
                ar.add_rule(store, rule, now_ms, known_series=())
            else:
                ar.update_rule(store, have.id, now_ms, name=rule.name, **editable)
            report["updated"] += 1
        if have.enabled != rule.enabled:
            ar.set_enabled(store, have.id, rule.enabled, now_ms)
    for rule in existing.values():
        ar.delete_rule(store, rule.id, now_ms)
        report["deleted"] += 1
    return report


def _fmt(value) -> str:
    from engine.core.timeutil import format_duration_ms

    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1000:
        return format_duration_ms(value)
    return str(value)


def effective_config(rt) -> list[dict]:
    """Every effective setting of a running runtime: key, value, origin (default / file
    with line / command line or environment / UI)."""
    cfg: LatewatchConfig | None = rt.settings.config
    origins = dict(rt.settings.origins or {})
    store = rt.store()
    series_origins = store.get_kv(ORIGIN_KV) or {}

    def origin(kind: str, key: str) -> str:
        if kind == "file" and cfg is not None:
            return f"file ({cfg.where(key)})"
        return {"explicit": "command line / environment"}.get(kind, kind)

    s = rt.settings
    rows = [
        {"key": "config file", "value": cfg.path if cfg else "none", "origin": ""},
        {
            "key": "timezone",
            "value": s.tz,
            "origin": origin(origins.get("tz", "default"), "timezone"),
        },
        {
            "key": "simulator.enabled",
            "value": _fmt(s.simulator),
            "origin": origin(origins.get("simulator", "default"), "simulator.enabled"),
        },
    ]
    if s.simulator:
        for key in SIM_FIELDS:
            rows.append(
                {
                    "key": f"simulator.{key}",
                    "value": str(getattr(s, key)),
                    "origin": origin(origins.get(key, "default"), f"simulator.{key}"),
                }
            )
    for tier in ("preliminary", "final"):
        rows.append(
            {
                "key": f"tiers.{tier}",
                "value": s.finalize.schedule(tier).text,
                "origin": origin(origins.get(f"tiers.{tier}", "default"), f"tiers.{tier}"),
            }
        )
    for name, spec in rt.series.items():
        so = series_origins.get(name, "default")
        decl = cfg.series.get(name, {}) if cfg is not None else {}
        default_src = cfg.sources.get("default", {}) if cfg is not None else {}

        def src(key, via_default=(), _so=so, _decl=decl, _dsrc=default_src, _name=name):
            """Where a series setting came from: the UI, its own key, sources.default."""
            if _so == "UI":
                return "UI (What-if Apply)"
            if _so == "file" and key in _decl:
                return origin("file", f"series.{_name}.{key}")
            for k in via_default:
                if _so == "file" and k in _dsrc:
                    return origin("file", f"sources.default.{k}")
            return "default"

        d = spec.to_dict()["describe"]
        rows.append({"key": f"series.{name}.window", "value": d["window"], "origin": src("window")})
        rows.append(
            {
                "key": f"series.{name}.watermark",
                "value": d["watermark"],
                "origin": src("watermark", ("watermark_delay", "idle_timeout")),
            }
        )
        trig = spec.trigger
        early = f"{trig.early} {_fmt(trig.early_delay_ms)}" if trig.early_delay_ms else trig.early
        rows.append({"key": f"series.{name}.early", "value": early, "origin": src("early")})
        rows.append(
            {
                "key": f"series.{name}.allowed_lateness",
                "value": _fmt(spec.allowed_lateness_ms),
                "origin": src("allowed_lateness", ("allowed_lateness",)),
            }
        )
        rows.append(
            {
                "key": f"series.{name}.late_action",
                "value": spec.late_action,
                "origin": src("late_action", ("late_action",)),
            }
        )
        metrics_src = (
            origin("file", "metrics")
            if so == "file" and cfg is not None and cfg.metrics
            else src("metrics")
        )
        rows.append(
            {
                "key": f"series.{name}.metrics",
                "value": ", ".join(spec.metrics),
                "origin": metrics_src,
            }
        )
        for p in spec.sources:
            parts = []
            if p.allowed_lateness_ms is not None:
                parts.append(f"allowed lateness {_fmt(p.allowed_lateness_ms)}")
            if p.late_action is not None:
                parts.append(f"late action {p.late_action}")
            if p.watermark_delay_ms is not None:
                parts.append(f"watermark delay {_fmt(p.watermark_delay_ms)}")
            in_file = cfg is not None and p.source in cfg.sources
            rows.append(
                {
                    "key": f"series.{name}.sources.{p.source}",
                    "value": "; ".join(parts) or "default policy",
                    "origin": origin("file", f"sources.{p.source}")
                    if in_file and so != "UI"
                    else src("sources"),
                }
            )
    if cfg is not None and cfg.orders:
        for key, value in cfg.orders.items():
            shown = ", ".join(value) if isinstance(value, tuple) else value
            rows.append(
                {"key": f"orders.{key}", "value": shown, "origin": origin("file", f"orders.{key}")}
            )
    return rows


ENV_SETTINGS = {
    "LATEWATCH_SCENARIO": ("scenario", str),
    "LATEWATCH_SEED": ("seed", int),
    "LATEWATCH_SPEED": ("speed", float),
    "LATEWATCH_TZ": ("tz", str),
    "LATEWATCH_HISTORY_DAYS": ("history_days", int),
    "LATEWATCH_EVENTS_PER_DAY": ("events_per_day", float),
    "LATEWATCH_SIMULATOR": (
        "simulator",
        lambda v: v.strip().lower() not in ("off", "0", "false", "no"),
    ),
}


def settings_from_env(env: dict) -> RuntimeSettings:
    """The app's settings: ``LATEWATCH_*`` variables win over ``$LATEWATCH_CONFIG``'s
    file, which wins over the defaults (the README's table)."""
    from engine.runtime.config import config_path, load_config

    given = {}
    for var, (key, conv) in ENV_SETTINGS.items():
        raw = env.get(var)
        if raw is not None and raw.strip():
            try:
                given[key] = conv(raw)
            except ValueError:
                raise ValueError(f"{var}={raw!r} is not a valid {key}") from None
    base = RuntimeSettings(db_path=env.get("LATEWATCH_DB", "data/latewatch.db"), **given)
    path = config_path(None, env)
    cfg = load_config(path) if path else None
    settings, origins = apply_settings(base, cfg, explicit=set(given))
    return dataclasses.replace(settings, config=cfg, origins=origins)
