"""latewatch.toml: every key optional, validated on load with errors naming the key
and its line; the runtime started with a file runs its sources, policies, series,
tiers and alert rules, and says where each effective value came from."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest

from engine.core.timeutil import DAY_MS, HOUR_MS, MINUTE_MS, parse_timestamp_ms
from engine.runtime.clock import FakeClock
from engine.runtime.config import ConfigError, load_config, parse_config
from engine.runtime.config_apply import (
    apply_settings,
    build_series,
    configured_sources,
    effective_config,
    settings_from_env,
)
from engine.runtime.pipelines import default_series
from engine.runtime.runtime import Runtime, RuntimeSettings

ROOT = Path(__file__).resolve().parents[1]
T0 = parse_timestamp_ms("2026-11-20T15:20:00Z")


def test_the_example_file_loads_and_means_what_it_says():
    cfg = load_config(ROOT / "latewatch.example.toml")
    settings, origins = apply_settings(RuntimeSettings(), cfg)
    assert settings.tz == "America/New_York" and origins["tz"] == "file"
    assert settings.finalize.schedule("preliminary").text == "D+1 12:00"
    series = build_series(cfg, settings.tz)
    assert set(series) == {"hourly", "daily", "quarter_hour"}
    assert series["quarter_hour"].window.size_ms == 15 * MINUTE_MS
    assert series["hourly"].watermark_delay_for("web") == 30_000
    assert series["hourly"].lateness_for("payment") == 2 * DAY_MS
    assert cfg.alert_rules[0]["metric"] == "revenue"


def test_an_empty_file_is_todays_defaults():
    cfg = parse_config("", "latewatch.toml")
    settings, origins = apply_settings(RuntimeSettings(), cfg)
    assert build_series(cfg, settings.tz) == default_series(settings.tz)
    assert settings.finalize == RuntimeSettings().finalize
    assert set(origins.values()) == {"default"}


BAD = [
    ('colour = "blue"', "colour", 1),
    ('timezone = "Mars/Olympus"', "timezone", 1),
    ("timezone = 5", "timezone", 1),
    ("[simulator]\nenabled = 'yes'", "simulator.enabled", 2),
    ('[simulator]\nscenario = "sunny"', "simulator.scenario", 2),
    ("[simulator]\nspeed = -1", "simulator.speed", 2),
    ("[simulator]\nseed = 1.5", "simulator.seed", 2),
    ("[simulator]\nhistory_days = 400", "simulator.history_days", 2),
    ("[simulator]\nevents_per_day = 0", "simulator.events_per_day", 2),
    ("[simulator]\nturbo = true", "simulator.turbo", 2),
    ('[sources.web]\nwatermark_delay = "soon"', "sources.web.watermark_delay", 2),
    ('[sources.web]\nallowed_lateness = "-5m"', "sources.web.allowed_lateness", 2),
    ('[sources.web]\nlate_action = "ignore"', "sources.web.late_action", 2),
    ('[sources.web]\nidle_timeout = "0s"', "sources.web.idle_timeout", 2),
    ("[sources.web]\ncolour = 1", "sources.web.colour", 2),
    ('[sources."bad name!"]\nlate_action = "drop"', "sources.bad name!", 1),
    ("[orders]\norder_types = []", "orders.order_types", 2),
    ('[orders]\norder_types = ["a"]\nrefund_types = ["a"]', "orders.refund_types", 3),
    ('[orders]\namount_field = ""', "orders.amount_field", 2),
    ("[orders]\nitems_field = 3", "orders.items_field", 2),
    ('metrics = ["revenue", "profit"]', "metrics", 1),
    ('[series.hourly]\nwindow = "7m"', "series.hourly.window", 2),
    ('[series.q]\nearly = "1m"', "series.q", 1),
    ('[series.hourly]\nearly = "later"', "series.hourly.early", 2),
    ('[series.hourly]\nlate_every = "0s"', "series.hourly.late_every", 2),
    ('[series.hourly]\nallowed_lateness = "x"', "series.hourly.allowed_lateness", 2),
    ('[series.hourly]\nlate_action = "keep"', "series.hourly.late_action", 2),
    ("[series.hourly]\nmax_updates = -1", "series.hourly.max_updates", 2),
    ('[series.Bad]\nwindow = "1h"', "series.Bad", 1),
    ('[tiers]\npreliminary = "tomorrow"', "tiers.preliminary", 2),
    ('[tiers]\nfinal = "D+0"', "tiers.final", 2),
    ('[tiers]\npreliminary = "D+3"\nfinal = "D+2"', "tiers.final", 3),
    ('[alerts]\nwebhook_url = "ftp://x"', "alerts.webhook_url", 2),
    (
        "[[alerts.rules]]\nmetric = 'revenue'\nseries = 'daily'\ncomparator = 'below'",
        "alerts.rules.0.threshold",
        1,
    ),
    (
        "[[alerts.rules]]\nmetric = 'profit'\nseries = 'daily'\ncomparator = 'below'\nthreshold = 1",
        "alerts.rules.0.metric",
        2,
    ),
    (
        "[[alerts.rules]]\nmetric = 'orders'\nseries = 'daily'\ncomparator = 'under'\nthreshold = 1",
        "alerts.rules.0.comparator",
        4,
    ),
    (
        "[[alerts.rules]]\nmetric = 'orders'\nseries = 'daily'\ncomparator = 'below'\nthreshold = 0",
        "alerts.rules.0.threshold",
        5,
    ),
    (
        "[[alerts.rules]]\nmetric = 'orders'\nseries = 'daily'\ncomparator = 'below'\nthreshold = 1\nalert_tier = 'live'",
        "alerts.rules.0.alert_tier",
        6,
    ),
    (
        "[[alerts.rules]]\nmetric = 'orders'\nseries = 'daily'\ncomparator = 'below'\nthreshold = 1\nlive_margin = 2",
        "alerts.rules.0.live_margin",
        6,
    ),
    (
        "[[alerts.rules]]\nmetric = 'orders'\nseries = 'daily'\ncomparator = 'below'\nthreshold = 1\nenabled = 1",
        "alerts.rules.0.enabled",
        6,
    ),
    (
        "[[alerts.rules]]\nmetric = 'orders'\nseries = 'daily'\ncomparator = 'below'\nthreshold = 1\nurl = 'x'",
        "alerts.rules.0.url",
        6,
    ),
]


@pytest.mark.parametrize(("text", "key", "line"), BAD, ids=[b[1] for b in BAD])
def test_an_invalid_value_names_the_key_and_the_line(text, key, line):
    with pytest.raises(ConfigError) as err:
        parse_config(text, "/etc/latewatch.toml")
    message = str(err.value)
    assert message.startswith(f"latewatch.toml:{line}: {key}:"), message


def test_toml_syntax_errors_say_where():
    with pytest.raises(ConfigError, match=r"latewatch.toml: not valid TOML: .*line 2"):
        parse_config('timezone = "UTC"\n[tiers\n', "latewatch.toml")


def test_a_missing_file_is_an_error_not_defaults(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_command_line_and_environment_win_over_the_file(tmp_path):
    path = tmp_path / "latewatch.toml"
    path.write_text('timezone = "Europe/Berlin"\n[simulator]\nspeed = 5\nscenario = "retries"\n')
    env = {"LATEWATCH_CONFIG": str(path), "LATEWATCH_SPEED": "30", "LATEWATCH_DB": "x.db"}
    s = settings_from_env(env)
    assert (s.tz, s.speed, s.scenario) == ("Europe/Berlin", 30.0, "retries")
    assert s.origins["speed"] == "explicit" and s.origins["scenario"] == "file"


CONFIG = """
timezone = "UTC"
[simulator]
enabled = false
[sources.default]
watermark_delay = "1m"
[sources.web]
allowed_lateness = "1h"
late_action = "drop"
idle_timeout = "5m"
[series.hourly]
early = "2s"
[series.quarter_hour]
window = "15m"
[tiers]
preliminary = "+36h"
final = "D+3"
[[alerts.rules]]
name = "few orders"
metric = "orders"
series = "daily"
comparator = "below"
threshold = 3
"""


def _runtime(db, path, clock):
    settings = settings_from_env({"LATEWATCH_CONFIG": str(path), "LATEWATCH_DB": str(db)})
    return Runtime(settings, clock=clock).start(scheduler=False)


def test_the_runtime_started_with_a_file_runs_its_policies(tmp_path):
    from engine.runtime import alert_rules

    path = tmp_path / "latewatch.toml"
    path.write_text(CONFIG)
    db = tmp_path / "live.db"
    clock = FakeClock(T0)
    rt = _runtime(db, path, clock)
    try:
        assert rt.live and set(rt.series) == {"hourly", "daily", "quarter_hour"}
        hourly = rt.series["hourly"]
        assert hourly.trigger.early_delay_ms == 2_000
        assert hourly.watermark.delay_ms == 60_000
        assert hourly.lateness_for("web") == HOUR_MS
        assert hourly.action_for("web") == "drop"
        assert hourly.watermark.idle_for("web") == 5 * MINUTE_MS
        assert "web" in configured_sources(hourly) and "iot" not in configured_sources(hourly)
        due = rt.settings.finalize.due_ms(date(2026, 11, 19), "preliminary")
        assert due == parse_timestamp_ms("2026-11-21T12:00:00Z")  # +36h after the day ends
        rules = [r for r in alert_rules.list_rules(rt.store()) if r.origin == "file"]
        assert [(r.name, r.metric, r.threshold) for r in rules] == [("few orders", "orders", 3.0)]
        rows = {r["key"]: r for r in effective_config(rt)}
        assert rows["tiers.preliminary"]["value"] == "+36h"
        assert rows["tiers.preliminary"]["origin"].startswith("file (latewatch.toml:")
        assert rows["series.hourly.early"]["origin"].startswith("file")
        # a What-if Apply is the UI's, and it outlives a restart while the file is unchanged
        applied = dataclasses.replace(hourly, allowed_lateness_ms=2 * HOUR_MS)
        assert rt.apply_config("hourly", applied) > 0
    finally:
        rt.shutdown()
    rt = _runtime(db, path, clock)
    try:
        assert rt.series["hourly"].allowed_lateness_ms == 2 * HOUR_MS
        rows = {r["key"]: r for r in effective_config(rt)}
        assert rows["series.hourly.allowed_lateness"]["origin"] == "UI (What-if Apply)"
    finally:
        rt.shutdown()
    # the file changes: its declaration wins again; its rules follow it
    path.write_text(
        CONFIG.replace('early = "2s"', 'early = "3s"').replace("threshold = 3", "threshold = 4")
    )
    rt = _runtime(db, path, clock)
    try:
        assert rt.series["hourly"].trigger.early_delay_ms == 3_000
        assert rt.series["hourly"].allowed_lateness_ms == 6 * HOUR_MS
        rules = [r for r in alert_rules.list_rules(rt.store()) if r.origin == "file"]
        assert [r.threshold for r in rules] == [4.0]
    finally:
        rt.shutdown()
