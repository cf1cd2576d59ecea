"""The default live pipelines ("series") the runtime runs, declared as specs.

Two series share one input: ``hourly`` (tumbling 1 h) and ``daily`` (calendar
day in the business time zone), both grouped by ``all+source`` so every window
exists for all sources together (group ``*``) and for each source.

Per-source policy, from what the simulator's profiles (and real sources) do:
- web/api arrive within seconds: a 30 s watermark delay is enough;
- mobile has an offline tail: the 2 min default delay, late panes for 6 h;
- payment confirmations trail by hours to days: 2 days of allowed lateness;
- partner files and manual corrections come days to weeks later: their late
  data goes to the side output and is patched in batch (``side_output``).
Watermarks are per source with a 15 min idle timeout, so a source that only
delivers a file each morning does not hold the others back all day.

Live mode (real data on the system clock) keeps these policies but fires the
early (provisional) panes sooner: at 60x the simulator's 10 min / 30 min early
delays are 10 s / 30 s of real time; on the wall clock they would leave the
current hour blank for 10 minutes, so live panes fire 5 s / 30 s after new data.
"""

from __future__ import annotations

from dataclasses import replace

from engine.core.spec import PipelineSpec, SourcePolicy, TriggerSpec, WatermarkSpec, WindowSpec
from engine.core.timeutil import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS

SOURCE_POLICIES = (
    SourcePolicy("payment", allowed_lateness_ms=2 * DAY_MS),
    SourcePolicy("partner", late_action="side_output"),
    SourcePolicy("manual", late_action="side_output"),
)

WATERMARK = WatermarkSpec(
    kind="per-key",
    delay_ms=2 * MINUTE_MS,
    key_by="source",
    idle_ms=15 * MINUTE_MS,
    source_delays_ms=(("web", 30 * SECOND_MS), ("api", 30 * SECOND_MS)),
)


def default_series(tz: str) -> dict[str, PipelineSpec]:
    hourly = PipelineSpec(
        window=WindowSpec(kind="tumbling", size_ms=HOUR_MS),
        watermark=WATERMARK,
        trigger=TriggerSpec(
            early="after-first",
            early_delay_ms=10 * MINUTE_MS,
            late="every",
            late_every_ms=15 * MINUTE_MS,
        ),
        allowed_lateness_ms=6 * HOUR_MS,
        late_action="update",
        max_updates_per_window=12,
        group_by="all+source",
        sources=SOURCE_POLICIES,
    )
    daily = PipelineSpec(
        window=WindowSpec(kind="day", tz=tz),
        watermark=WATERMARK,
        trigger=TriggerSpec(
            early="after-first", early_delay_ms=30 * MINUTE_MS, late="every", late_every_ms=HOUR_MS
        ),
        allowed_lateness_ms=DAY_MS,
        late_action="update",
        max_updates_per_window=24,
        group_by="all+source",
        sources=SOURCE_POLICIES,
    )
    return {"hourly": hourly, "daily": daily}


LIVE_EARLY_DELAY_MS = {"hourly": 5 * SECOND_MS, "daily": 30 * SECOND_MS}


def live_series(tz: str) -> dict[str, PipelineSpec]:
    """The default series for live data: the same policies, early panes in seconds."""
    out = {}
    for name, spec in default_series(tz).items():
        delay = LIVE_EARLY_DELAY_MS.get(name)
        if delay is not None:
            spec = replace(spec, trigger=replace(spec.trigger, early_delay_ms=delay))
        out[name] = spec
    return out
