"""The per-day event generator behind ``Simulator`` and ``LiveFeed``.

Why a day at a time: each run day gets its own
``numpy.random.default_rng([seed, scenario, day])``, so any day can be
generated alone (the live feed does so lazily) and still equal the same day of
a whole-range run. Everything inside a day is vectorised per source: true
times from the diurnal curve, delays from the source's mixture (or its batch
file), types, amounts, keys, then the scenario's faults (offline spike,
partner outage, clock skew, retries).
"""

from __future__ import annotations

import functools
import zlib

import numpy as np
import pandas as pd

from engine.core.events import KNOWN_EVENT_TYPES
from engine.core.timeutil import DAY_MS, HOUR_MS, MINUTE_MS
from engine.sim.profiles import (
    HOURLY_WEIGHTS,
    SCENARIOS,
    VALUE_TYPES,
    WEEKDAY_WEIGHTS,
    Scenario,
    SourceProfile,
)

FRAME_COLUMNS = (
    "event_id",
    "source",
    "key",
    "event_type",
    "amount_cents",
    "amount",
    "items",
    "event_time_ms",
    "arrival_time_ms",
)
_TYPE_CODE = {t: i for i, t in enumerate(KNOWN_EVENT_TYPES)}


def get_scenario(name: str | Scenario) -> Scenario:
    if isinstance(name, Scenario):
        return name
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}: choose one of {sorted(SCENARIOS)}") from None


def expected_value_per_event(profile: SourceProfile) -> float:
    """Mean signed amount (dollars) of one event of this source."""
    mean = profile.amount_median * float(np.exp(profile.amount_sigma**2 / 2))
    value = 0.0
    for event_type, p in profile.event_types:
        if event_type in VALUE_TYPES:
            value += p * (-mean if event_type == "order.refunded" else mean)
    return value


@functools.lru_cache(maxsize=32)
def key_table(prefix: str, n_keys: int) -> np.ndarray:
    """The device ids of a source (read-only, shared by every generator: building
    them is most of the cost of starting a feed)."""
    width = len(str(n_keys - 1))
    table = np.array([f"{prefix}{i:0{width}d}" for i in range(n_keys)], dtype=object)
    table.flags.writeable = False
    return table


class DayGenerator:
    """Shared by ``Simulator`` and ``LiveFeed``: generates one run day at a time."""

    def __init__(
        self,
        scenario: str | Scenario,
        seed: int,
        sources: tuple[str, ...] | list[str] | None,
        start_ms: int,
        events_per_day: float | None,
        run_days: int | None,
    ) -> None:
        self.scenario = get_scenario(scenario)
        if seed < 0:
            raise ValueError("seed must be a non-negative integer")
        self.seed = int(seed)
        names = tuple(sources) if sources else self.scenario.sources
        unknown = [s for s in names if s not in self.scenario.profiles]
        if unknown:
            raise ValueError(f"unknown sources {unknown}: known {sorted(self.scenario.profiles)}")
        self.profiles = [self.scenario.profiles[s] for s in names]
        self.source_names = tuple(p.name for p in self.profiles)
        shares = np.array([p.share for p in self.profiles], dtype=float)
        self.shares = shares / shares.sum()
        self.start_ms = int(start_ms)
        self.run_days = run_days
        self._tag = zlib.crc32(self.scenario.name.encode())
        self.base_rate = float(events_per_day) if events_per_day else self._default_rate()
        self._keys = {p.name: None for p in self.profiles}
        self._skew = self._make_skew()

    # -- rates ---------------------------------------------------------------
    def _default_rate(self) -> float:
        sc = self.scenario
        if sc.peak_value_per_day is None:
            return sc.events_per_day
        per_event = float(
            sum(
                s * expected_value_per_event(p)
                for s, p in zip(self.shares, self.profiles, strict=True)
            )
        )
        if per_event <= 0:
            return sc.events_per_day
        weekend = (WEEKDAY_WEIGHTS[5] + WEEKDAY_WEIGHTS[6]) / 2 * sc.weekend_multiplier
        return sc.peak_value_per_day / (per_event * weekend)

    def day_start(self, day: int) -> int:
        return self.start_ms + day * DAY_MS

    def day_weight(self, day: int) -> float:
        weekday = int(((self.day_start(day) // DAY_MS) + 3) % 7)  # 1970-01-01 was a Thursday
        weight = WEEKDAY_WEIGHTS[weekday]
        if weekday >= 5:
            weight *= self.scenario.weekend_multiplier
        return weight

    def _rng(self, day: int, stream: int = 0) -> np.random.Generator:
        return np.random.default_rng(
            [self.seed, self._tag, self.day_start(day) // MINUTE_MS & 0xFFFFFFFFFFFF, stream]
        )

    # -- per-device state ------------------------------------------------------
    def _key_table(self, profile: SourceProfile) -> np.ndarray:
        table = self._keys.get(profile.name)
        if table is None:
            table = self._keys[profile.name] = key_table(profile.key_prefix, profile.n_keys)
        return table

    def _make_skew(self) -> dict[str, np.ndarray]:
        skew = self.scenario.clock_skew
        out: dict[str, np.ndarray] = {}
        if skew is None:
            return out
        for i, profile in enumerate(self.profiles):
            if profile.name not in skew.sources:
                continue
            rng = np.random.default_rng([self.seed, self._tag, 7, i])
            offsets = np.zeros(profile.n_keys, dtype=np.int64)
            bad = np.flatnonzero(rng.random(profile.n_keys) < skew.share)
            future = rng.random(bad.size) < 0.5
            lo, hi = (np.log(v) for v in skew.future_ms)
            ahead = np.exp(rng.uniform(lo, hi, bad.size))
            lo, hi = (np.log(v) for v in skew.past_ms)
            behind = -np.exp(rng.uniform(lo, hi, bad.size))
            offsets[bad] = np.where(future, ahead, behind).astype(np.int64)
            out[profile.name] = offsets
        return out

    # -- sampling --------------------------------------------------------------
    def _times(self, rng: np.random.Generator, day: int, n: int, diurnal: bool) -> np.ndarray:
        start = self.day_start(day)
        if diurnal:
            minutes = np.arange(1440)
            hours = ((start + minutes * MINUTE_MS) // HOUR_MS) % 24
            weights = np.asarray(HOURLY_WEIGHTS)[hours]
            cdf = np.cumsum(weights)
            minute = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")
            offset = minute * MINUTE_MS + rng.integers(0, MINUTE_MS, n)
        else:
            offset = rng.integers(0, DAY_MS, n)
        return np.sort(start + offset.astype(np.int64))

    @staticmethod
    def _delays(rng: np.random.Generator, profile: SourceProfile, n: int) -> np.ndarray:
        weights = np.array([c.weight for c in profile.delays])
        comp = rng.choice(len(weights), size=n, p=weights / weights.sum())
        out = np.empty(n, dtype=float)
        for i, c in enumerate(profile.delays):
            idx = np.flatnonzero(comp == i)
            if c.kind == "lognormal":
                out[idx] = c.median_ms * np.exp(c.sigma * rng.standard_normal(idx.size))
            else:
                out[idx] = np.exp(rng.uniform(np.log(c.low_ms), np.log(c.high_ms), idx.size))
        return np.clip(np.rint(out), 1, profile.max_delay_ms).astype(np.int64)

    def _batch_arrivals(
        self, rng: np.random.Generator, profile: SourceProfile, day: int, n: int
    ) -> np.ndarray:
        batch = profile.batch
        assert batch is not None
        deliver = batch.deliver_median_ms * float(
            np.exp(batch.deliver_sigma * rng.standard_normal())
        )
        if day in self.scenario.partner_late_days:
            deliver += self.scenario.partner_extra_delay_ms
        file_ms = self.day_start(day + 1) + int(deliver)
        return file_ms + rng.integers(0, int(batch.ingest_spread_ms) + 1, n).astype(np.int64)

    def _spike_day(self) -> int:
        spike = self.scenario.offline_spike
        if spike is not None and spike.day is not None:
            return spike.day
        return (self.run_days // 2) if self.run_days else 1

    def _source_day(self, rng: np.random.Generator, si: int, day: int, n: int) -> dict:
        profile = self.profiles[si]
        true_ms = self._times(rng, day, n, profile.diurnal)
        if profile.batch is not None:
            arrival = self._batch_arrivals(rng, profile, day, n)
        else:
            arrival = true_ms + self._delays(rng, profile, n)
        spike = self.scenario.offline_spike
        if spike is not None and profile.name == "mobile" and day == self._spike_day():
            hour = (true_ms - self.day_start(day)) // HOUR_MS
            hit = (hour >= spike.start_hour) & (hour < spike.start_hour + spike.hours)
            hit &= rng.random(n) < spike.share
            extra = spike.median_ms * np.exp(spike.sigma * rng.standard_normal(n))
            arrival = arrival + np.where(hit, extra, 0).astype(np.int64)
        types, probs = zip(*profile.event_types, strict=True)
        codes = np.array([_TYPE_CODE[t] for t in types], dtype=np.int8)
        etype = codes[rng.choice(len(types), size=n, p=np.array(probs) / sum(probs))]
        dollars = profile.amount_median * np.exp(profile.amount_sigma * rng.standard_normal(n))
        cents = np.rint(dollars * 100).astype(np.int64)
        valued = np.isin(etype, [_TYPE_CODE[t] for t in VALUE_TYPES])
        cents = np.where(valued, cents, 0)
        cents = np.where(etype == _TYPE_CODE["order.refunded"], -cents, cents)
        items = np.where(valued, 1 + rng.poisson(np.minimum(dollars / 40, 6)), 0)
        items = np.where(etype == _TYPE_CODE["cart.add"], 1, items)
        items = np.where(etype == _TYPE_CODE["order.refunded"], 1, items)
        key_idx = np.minimum(
            (profile.n_keys * rng.random(n) ** 1.6).astype(np.int64), profile.n_keys - 1
        )
        event_ms = true_ms
        if profile.name in self._skew:
            event_ms = true_ms + self._skew[profile.name][key_idx]
        return {
            "source": np.full(n, si, dtype=np.int8),
            "key": self._key_table(profile)[key_idx],
            "event_type": etype,
            "amount_cents": cents,
            "items": items.astype(np.int64),
            "event_time_ms": event_ms.astype(np.int64),
            "arrival_time_ms": arrival.astype(np.int64),
        }

    def day_count(self, day: int) -> int:
        return int(self._rng(day, 1).poisson(self.base_rate * self.day_weight(day)))

    def generate_day(self, day: int, n: int | None = None) -> pd.DataFrame:
        """All events whose true time falls in run day ``day``, sorted by arrival."""
        if n is None:
            n = self.day_count(day)
        rng = self._rng(day)
        per_source = rng.multinomial(n, self.shares)
        parts = [self._source_day(rng, si, day, int(k)) for si, k in enumerate(per_source)]
        cols = {c: np.concatenate([p[c] for p in parts]) for c in parts[0]}
        ids = np.arange(n)
        day_no = self.day_start(day) // DAY_MS
        cols["event_id"] = np.array(
            [f"s{self.seed}-d{day_no}-{i:06d}" for i in ids.tolist()], dtype=object
        )
        retries = self.scenario.retries
        if retries is not None and n:
            cols = self._add_retries(rng, cols, retries)
        order = np.argsort(cols["arrival_time_ms"], kind="stable")
        return self._to_frame({c: v[order] for c, v in cols.items()})

    def _add_retries(self, rng: np.random.Generator, cols: dict, retries) -> dict:
        eligible = np.isin(
            cols["source"], [i for i, s in enumerate(self.source_names) if s in retries.sources]
        )
        first = np.flatnonzero(eligible & (rng.random(eligible.size) < retries.share))
        second = first[rng.random(first.size) < retries.second_share]
        picks = np.concatenate([first, second])
        delay = retries.median_ms * np.exp(retries.sigma * rng.standard_normal(picks.size))
        out = {c: np.concatenate([v, v[picks]]) for c, v in cols.items()}
        out["arrival_time_ms"][-picks.size :] += delay.astype(np.int64) + 1
        return out

    def _to_frame(self, cols: dict) -> pd.DataFrame:
        frame = pd.DataFrame(
            {
                "event_id": cols["event_id"],
                "source": pd.Categorical.from_codes(
                    cols["source"], categories=list(self.source_names)
                ),
                "key": cols["key"],
                "event_type": pd.Categorical.from_codes(
                    cols["event_type"], categories=list(KNOWN_EVENT_TYPES)
                ),
                "amount_cents": cols["amount_cents"],
                "amount": cols["amount_cents"] / 100,
                "items": cols["items"],
                "event_time_ms": cols["event_time_ms"],
                "arrival_time_ms": cols["arrival_time_ms"],
            }
        )
        return frame


def concat_by_arrival(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in FRAME_COLUMNS})
    frame = pd.concat(frames, ignore_index=True)
    order = np.argsort(frame["arrival_time_ms"].to_numpy(), kind="stable")
    return frame.iloc[order].reset_index(drop=True)
