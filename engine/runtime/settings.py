"""What a ``Runtime`` is started with, and what one tick reports. Plain data."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.runtime.finalize import FinalizePolicy
from engine.store.db import DEFAULT_DB_PATH

DEFAULT_TZ = "America/New_York"
STATE_KEY = "runtime"
# When the tiers run (engine.runtime.tiers). The preliminary tier at noon on the next
# day: on the default simulator a day's revenue is ~93.7 % in at midnight (partner
# files land the next morning), ~99.5 % at D+1 12:00 (min 98.6 % over 19 days);
# benchmarks/preliminary_schedule.py measures it.
DEFAULT_PRELIMINARY_AT = "D+1 12:00"
DEFAULT_FINAL_AT = "D+7"


@dataclass
class RuntimeSettings:
    db_path: str = DEFAULT_DB_PATH
    scenario: str = "steady"
    seed: int = 7
    speed: float = 60.0  # simulated seconds per real second
    tz: str = DEFAULT_TZ
    history_days: int = 8  # simulated past, run through the real pipeline on first start
    events_per_day: float | None = 20_000
    tick_seconds: float = 1.0
    jobs_seconds: float = 3.0
    simulator: bool = True  # False: live mode (real data, system clock; engine.runtime.live)
    config: object | None = None  # engine.runtime.config.LatewatchConfig (latewatch.toml)
    origins: dict | None = None  # setting -> default / file / explicit (config_apply)
    now_ms: int | None = None  # "now" at first start (None: the clock's); fixes seeded demos
    finalize: FinalizePolicy = field(
        default_factory=lambda: FinalizePolicy(
            tz=DEFAULT_TZ, preliminary_at=DEFAULT_PRELIMINARY_AT, final_at=DEFAULT_FINAL_AT
        )
    )


@dataclass
class TickReport:
    now_ms: int
    arrived: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    versions: int = 0
    late_events: int = 0
    catching_up: bool = False
