"""Source profiles and scenarios for the simulator, kept as data.

Every number the simulator uses lives here, in frozen dataclasses, so a reader
can see (and a test can check) what "realistic lateness" means without reading
the sampling code in ``engine.sim.simulator``.

Arrival delay (``arrival_time - true event time``) of a streaming source is a
mixture of components; each component is either log-normal (a ``median_ms`` and
a log-space ``sigma``) or log-uniform (between ``low_ms`` and ``high_ms``, for
flat tails such as "offline for anywhere from an hour to three days"). A batch
source (partner files) instead delivers a whole day's events at once the next
morning.

Calibration (the case study's clickstream, web + api + mobile in the default
50 : 20 : 30 event mix), computed analytically from the mixtures below and
checked on a 2 M-event sample by ``tests/test_simulator.py``::

    p50 2.0 s   p90 29 s   p99 4.9 min   p99.9 29 min   max ~72 h
    capture  30 s 90.2 %   5 min 99.0 %   30 min 99.90 %   1 h 99.95 %
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.core.timeutil import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS


@dataclass(frozen=True)
class DelayComponent:
    """One mode of a delay mixture. ``kind`` is 'lognormal' (median_ms, sigma) or
    'loguniform' (low_ms, high_ms)."""

    weight: float
    kind: str = "lognormal"
    median_ms: float = 0.0
    sigma: float = 1.0
    low_ms: float = 0.0
    high_ms: float = 0.0

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise ValueError("a mixture weight cannot be negative")
        if self.kind == "lognormal" and (self.median_ms <= 0 or self.sigma < 0):
            raise ValueError("a log-normal delay needs a positive median and sigma >= 0")
        if self.kind == "loguniform" and not 0 < self.low_ms < self.high_ms:
            raise ValueError("a log-uniform delay needs 0 < low_ms < high_ms")
        if self.kind not in ("lognormal", "loguniform"):
            raise ValueError(f"unknown delay kind {self.kind!r}")


def ln(weight: float, median_ms: float, sigma: float) -> DelayComponent:
    return DelayComponent(weight, "lognormal", median_ms=median_ms, sigma=sigma)


def lu(weight: float, low_ms: float, high_ms: float) -> DelayComponent:
    return DelayComponent(weight, "loguniform", low_ms=low_ms, high_ms=high_ms)


@dataclass(frozen=True)
class BatchDelivery:
    """Daily batch files: every event of UTC day D arrives in one file delivered at
    D+1 00:00 + ``deliver_median_ms`` (log-normal jitter ``deliver_sigma`` per file),
    ingested over ``ingest_spread_ms``. So a 23:59 event is ~7 h late and a 00:01
    event ~31 h late."""

    deliver_median_ms: float = 7 * HOUR_MS
    deliver_sigma: float = 0.15
    ingest_spread_ms: float = 20 * MINUTE_MS


@dataclass(frozen=True)
class SourceProfile:
    """How one source produces events.

    ``share`` is the source's relative share of events; ``event_types`` are
    (type, probability); value-bearing types draw a log-normal amount in dollars
    (``amount_median``, ``amount_sigma``); 'order.refunded' amounts are negative.
    Keys are drawn from ``n_keys`` ids with a skew (a few heavy users).
    """

    name: str
    share: float
    delays: tuple[DelayComponent, ...] = ()
    batch: BatchDelivery | None = None
    max_delay_ms: float = 72 * HOUR_MS
    event_types: tuple[tuple[str, float], ...] = (("order.placed", 1.0),)
    amount_median: float = 35.0
    amount_sigma: float = 0.9
    key_prefix: str = "u"
    n_keys: int = 50_000
    diurnal: bool = True
    clickstream: bool = False

    def __post_init__(self) -> None:
        if not self.delays and self.batch is None:
            raise ValueError(f"source {self.name!r} needs delay components or a batch delivery")
        if abs(sum(p for _, p in self.event_types) - 1.0) > 1e-9:
            raise ValueError(f"event type probabilities of {self.name!r} must sum to 1")


VALUE_TYPES = ("order.placed", "payment.confirmed", "order.refunded", "order.adjusted")

# web: browser beacons; ~90 % within seconds (network + client buffering), ~10 %
# held back by batching/retry (median 20 s), a trace of stalled tabs (minutes).
WEB = SourceProfile(
    name="web",
    share=0.45,
    delays=(
        ln(0.905, 1.5 * SECOND_MS, 0.85),
        ln(0.0945, 20 * SECOND_MS, 1.0),
        ln(0.0005, 6 * MINUTE_MS, 0.8),
    ),
    max_delay_ms=2 * HOUR_MS,
    event_types=(("page.view", 0.70), ("cart.add", 0.18), ("order.placed", 0.12)),
    amount_median=35.0,
    amount_sigma=0.9,
    key_prefix="u",
    n_keys=80_000,
    clickstream=True,
)
# api: server-to-server checkout calls; ~1 s, a retry mode around 15 s.
API = SourceProfile(
    name="api",
    share=0.18,
    delays=(ln(0.93, 1.0 * SECOND_MS, 0.8), ln(0.07, 15 * SECOND_MS, 1.0)),
    max_delay_ms=1 * HOUR_MS,
    event_types=(("order.placed", 0.55), ("cart.add", 0.25), ("page.view", 0.20)),
    amount_median=35.0,
    amount_sigma=0.9,
    key_prefix="acct",
    n_keys=20_000,
    clickstream=True,
)
# mobile: 48 % near-real-time (2.5 s), 46 % background-sync batches (25 s),
# 5 % short offline (3.5 min), ~1 % longer offline (15 min, subway/elevator),
# 0.16 % offline for 1 h .. 72 h (airplane, app not reopened) -> the 72 h tail.
MOBILE = SourceProfile(
    name="mobile",
    share=0.27,
    delays=(
        ln(0.48, 2.5 * SECOND_MS, 1.0),
        ln(0.457, 25 * SECOND_MS, 1.0),
        ln(0.052, 3.5 * MINUTE_MS, 0.9),
        ln(0.0094, 15 * MINUTE_MS, 0.6),
        lu(0.0016, 1 * HOUR_MS, 72 * HOUR_MS),
    ),
    max_delay_ms=72 * HOUR_MS,
    event_types=(("page.view", 0.65), ("cart.add", 0.20), ("order.placed", 0.15)),
    amount_median=30.0,
    amount_sigma=0.9,
    key_prefix="dev",
    n_keys=60_000,
    clickstream=True,
)
# payment: asynchronous confirmations; 70 % within minutes (4 min), 25 % hours
# (2 h: bank transfers, 3-D Secure retries), 5 % fraud review (1.5 d), cap 10 d.
PAYMENT = SourceProfile(
    name="payment",
    share=0.05,
    delays=(ln(0.70, 4 * MINUTE_MS, 1.0), ln(0.25, 2 * HOUR_MS, 1.0), ln(0.05, 1.5 * DAY_MS, 0.6)),
    max_delay_ms=10 * DAY_MS,
    event_types=(("payment.confirmed", 1.0),),
    amount_median=45.0,
    amount_sigma=0.8,
    key_prefix="u",
    n_keys=80_000,
)
# partner: marketplace orders in one file per UTC day, delivered ~07:00 next day.
PARTNER = SourceProfile(
    name="partner",
    share=0.012,
    batch=BatchDelivery(),
    max_delay_ms=14 * DAY_MS,
    event_types=(("order.placed", 1.0),),
    amount_median=40.0,
    amount_sigma=0.8,
    key_prefix="p",
    n_keys=5_000,
)
# manual: back-office corrections, days to weeks (median 4 d, cap 35 d);
# 55 % refunds (negative), 45 % positive adjustments.
MANUAL = SourceProfile(
    name="manual",
    share=0.008,
    delays=(ln(1.0, 4 * DAY_MS, 0.7),),
    max_delay_ms=35 * DAY_MS,
    event_types=(("order.refunded", 0.55), ("order.adjusted", 0.45)),
    amount_median=45.0,
    amount_sigma=0.8,
    key_prefix="u",
    n_keys=80_000,
    diurnal=False,
)
# iot: vending kiosks on flaky links; 80 % in seconds, 17 % minutes-hours, 3 % a day.
IOT = SourceProfile(
    name="iot",
    share=0.03,
    delays=(
        ln(0.80, 20 * SECOND_MS, 1.0),
        ln(0.17, 40 * MINUTE_MS, 1.2),
        ln(0.03, 1 * DAY_MS, 0.8),
    ),
    max_delay_ms=7 * DAY_MS,
    event_types=(("order.placed", 1.0),),
    amount_median=4.0,
    amount_sigma=0.5,
    key_prefix="kiosk",
    n_keys=2_000,
    diurnal=False,
)

PROFILES: dict[str, SourceProfile] = {
    p.name: p for p in (WEB, API, MOBILE, PAYMENT, PARTNER, MANUAL, IOT)
}
CLICKSTREAM = ("web", "api", "mobile")
STORE_SOURCES = ("web", "api", "mobile", "payment", "partner", "manual")

# Share of traffic per UTC hour (an EU/US retail blend: quiet 02-06, evening peak
# at 19-21). Normalised by the sampler.
HOURLY_WEIGHTS = (
    0.45, 0.35, 0.28, 0.24, 0.24, 0.30, 0.45, 0.65, 0.85, 0.95, 1.00, 1.05,
    1.10, 1.10, 1.05, 1.05, 1.10, 1.20, 1.35, 1.45, 1.45, 1.30, 1.00, 0.70,
)  # fmt: skip
# Traffic per weekday, Monday first (weekends a little busier for retail).
WEEKDAY_WEIGHTS = (0.95, 0.93, 0.95, 0.98, 1.05, 1.10, 1.04)


@dataclass(frozen=True)
class OfflineSpike:
    """On run day ``day`` (None: the middle day) between ``start_hour`` and
    ``start_hour + hours`` UTC, ``share`` of mobile events are held offline for
    an extra log-normal delay (median ``median_ms``)."""

    day: int | None = None
    start_hour: int = 8
    hours: int = 3
    share: float = 0.35
    median_ms: float = 3 * HOUR_MS
    sigma: float = 0.6


@dataclass(frozen=True)
class ClockSkew:
    """``share`` of web/mobile devices have wrong clocks: half run ahead by 2 min ..
    3 days (log-uniform), half report times 1 h .. 1 year in the past."""

    share: float = 0.01
    sources: tuple[str, ...] = ("web", "mobile")
    future_ms: tuple[float, float] = (2 * MINUTE_MS, 3 * DAY_MS)
    past_ms: tuple[float, float] = (HOUR_MS, 365 * DAY_MS)


@dataclass(frozen=True)
class Retries:
    """``share`` of clickstream deliveries are repeated (same event_id and
    content) after a log-normal retry delay; ``second_share`` of those twice."""

    share: float = 0.04
    second_share: float = 0.1
    median_ms: float = 30 * SECOND_MS
    sigma: float = 1.5
    sources: tuple[str, ...] = CLICKSTREAM


@dataclass(frozen=True)
class Scenario:
    """A named situation: which sources, how much traffic, and what goes wrong.

    ``events_per_day`` is the base rate of an average day. When
    ``peak_value_per_day`` is set, the base rate is derived from the profiles'
    expected value per event so that a peak (weekend) day carries that value.
    """

    name: str
    description: str
    sources: tuple[str, ...] = STORE_SOURCES
    events_per_day: float = 40_000
    weekend_multiplier: float = 1.0
    peak_value_per_day: float | None = None
    partner_late_days: tuple[int, ...] = ()  # run-day offsets (0 = first day)
    partner_extra_delay_ms: float = 0.0
    offline_spike: OfflineSpike | None = None
    clock_skew: ClockSkew | None = None
    retries: Retries | None = None
    profiles: dict[str, SourceProfile] = field(default_factory=lambda: dict(PROFILES))


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("steady", "ordinary weeks: all store sources, diurnal and weekly traffic"),
        Scenario(
            "flash-sale",
            "weekend flash sale: Sat/Sun x3 traffic, ~$1.25 M/day; on-the-day numbers "
            "come out 5-10% below the finals after mobile/payment/partner/manual data land",
            weekend_multiplier=3.0,
            peak_value_per_day=1_250_000.0,
        ),
        Scenario(
            "partner-outage",
            "the partner's daily files for run days 2 and 3 arrive two days late",
            partner_late_days=(2, 3),
            partner_extra_delay_ms=2 * DAY_MS,
        ),
        Scenario(
            "offline-spike",
            "a burst of mobile devices offline for hours (3 h median) one morning",
            offline_spike=OfflineSpike(),
        ),
        Scenario(
            "clock-skew",
            "1% of web/mobile devices report event times in the future or the far past",
            clock_skew=ClockSkew(),
        ),
        Scenario(
            "retries",
            "4% of clickstream deliveries are repeated (same event_id and content)",
            retries=Retries(),
        ),
    )
}
