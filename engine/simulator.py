"""A seeded, vectorised generator of realistic late-arriving events.

Why: latewatch is about the gap between event time and arrival time, so the
simulator's job is to make that gap realistic per source (profiles and
scenarios as data in ``engine.sim_profiles``) and reproducible: the same
scenario, seed and range give the same events, on any machine, and nothing
touches global random state.

How: time is cut into run days. Each run day is generated in one vectorised
pass by its own ``numpy.random.default_rng([seed, scenario, day])``, so a
``Simulator`` over a range and a ``LiveFeed`` that generates day by day
produce exactly the same events. A day's events are those whose *true* time
falls in it; their arrivals may come weeks later (manual corrections), so a
``Simulator`` frame is the complete log, and ``arrivals_until(t_ms)`` cuts it
at a processing time.

>>> sim = Simulator("steady", seed=7, days=1, events_per_day=1_000)
>>> f = sim.frame()
>>> list(f.columns)[:4], bool((f.arrival_time_ms.diff().dropna() >= 0).all())
(['event_id', 'source', 'key', 'event_type'], True)
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from engine.events import KNOWN_EVENT_TYPES, Event
from engine.sim_profiles import (
    HOURLY_WEIGHTS,
    SCENARIOS,
    VALUE_TYPES,
    WEEKDAY_WEIGHTS,
    Scenario,
    SourceProfile,
)
from engine.timeutil import DAY_MS, HOUR_MS, MINUTE_MS, parse_timestamp_ms

DEFAULT_START_MS = parse_timestamp_ms("2025-06-02T00:00:00Z")  # a Monday
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
RECORD_COLUMNS = (
    "event_id",
    "source",
    "key",
    "event_type",
    "amount",
    "items",
    "event_time",
    "arrival_time",
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


class _DayGenerator:
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
            width = len(str(profile.n_keys - 1))
            table = np.array(
                [f"{profile.key_prefix}{i:0{width}d}" for i in range(profile.n_keys)], dtype=object
            )
            self._keys[profile.name] = table
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


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in FRAME_COLUMNS})
    frame = pd.concat(frames, ignore_index=True)
    order = np.argsort(frame["arrival_time_ms"].to_numpy(), kind="stable")
    return frame.iloc[order].reset_index(drop=True)


class Simulator:
    """Events of ``days`` run days from ``start_ms`` for a scenario and seed.

    ``events`` fixes the total number of generated events (before retry
    duplicates), split over the days by their traffic weights; otherwise each
    day draws a Poisson count around ``events_per_day`` (default: the
    scenario's) times its weekday/scenario weight.
    """

    def __init__(
        self,
        scenario: str | Scenario = "steady",
        seed: int = 0,
        sources: tuple[str, ...] | list[str] | None = None,
        start_ms: int = DEFAULT_START_MS,
        days: int = 7,
        events_per_day: float | None = None,
        events: int | None = None,
    ) -> None:
        if days <= 0:
            raise ValueError("days must be positive")
        self.days = int(days)
        self.gen = _DayGenerator(scenario, seed, sources, start_ms, events_per_day, days)
        self.scenario = self.gen.scenario
        self.start_ms = self.gen.start_ms
        self.end_ms = self.gen.day_start(self.days)
        self._counts: list[int | None] = [None] * self.days
        if events is not None:
            weights = np.array([self.gen.day_weight(d) for d in range(self.days)])
            rng = np.random.default_rng([self.gen.seed, self.gen._tag, 0xDA75])
            self._counts = [int(k) for k in rng.multinomial(int(events), weights / weights.sum())]
        self._frame: pd.DataFrame | None = None
        self._cursor = 0

    def frame(self) -> pd.DataFrame:
        """The whole log (every arrival, even after the range ends), sorted by arrival.
        The returned frame is cached: copy it before mutating."""
        if self._frame is None:
            self._frame = _concat(
                [self.gen.generate_day(d, self._counts[d]) for d in range(self.days)]
            )
        return self._frame

    def arrivals_until(self, t_ms: int) -> pd.DataFrame:
        """Rows that arrived after the previous call and at or before ``t_ms``."""
        frame = self.frame()
        stop = int(np.searchsorted(frame["arrival_time_ms"].to_numpy(), t_ms, side="right"))
        start, self._cursor = self._cursor, max(self._cursor, stop)
        return frame.iloc[start:stop]

    def events(self) -> Iterator[Event]:
        return frame_events(self.frame())

    def record_frame(self) -> pd.DataFrame:
        return to_record_frame(self.frame())

    def records(self) -> Iterator[dict]:
        rec = self.record_frame()
        for row in zip(*(rec[c].tolist() for c in RECORD_COLUMNS), strict=True):
            yield dict(zip(RECORD_COLUMNS, row, strict=True))


class LiveFeed:
    """An unbounded feed for the live runtime: call ``arrivals_until(now_ms)`` as the
    (accelerated) clock advances; days are generated lazily when the clock enters
    them, with the same per-day generator as ``Simulator`` (so both agree)."""

    def __init__(
        self,
        scenario: str | Scenario = "steady",
        seed: int = 0,
        sources: tuple[str, ...] | list[str] | None = None,
        start_ms: int = DEFAULT_START_MS,
        events_per_day: float | None = None,
    ) -> None:
        self.gen = _DayGenerator(scenario, seed, sources, start_ms, events_per_day, None)
        self.start_ms = self.gen.start_ms
        self._next_day = 0
        self._pending = _concat([])
        self._last_ms: int | None = None

    def arrivals_until(self, t_ms: int) -> pd.DataFrame:
        """Events arrived in ``(previous t, t_ms]``, in arrival order."""
        if self._last_ms is not None and t_ms < self._last_ms:
            raise ValueError("processing time cannot go backwards")
        self._last_ms = t_ms
        new = []
        while self.gen.day_start(self._next_day) <= t_ms:
            new.append(self.gen.generate_day(self._next_day))
            self._next_day += 1
        if new:
            self._pending = _concat([self._pending, *new]) if len(self._pending) else _concat(new)
        arrival = self._pending["arrival_time_ms"].to_numpy()
        stop = int(np.searchsorted(arrival, t_ms, side="right"))
        out = self._pending.iloc[:stop].reset_index(drop=True)
        self._pending = self._pending.iloc[stop:].reset_index(drop=True)
        return out

    def events_until(self, t_ms: int) -> list[Event]:
        return list(frame_events(self.arrivals_until(t_ms)))


def frame_events(frame: pd.DataFrame) -> Iterator[Event]:
    """``Event`` objects for the rows of a simulator frame, in row order."""
    cols = (
        "event_id",
        "source",
        "event_time_ms",
        "arrival_time_ms",
        "amount_cents",
        "items",
        "event_type",
        "key",
    )
    lists = [
        frame[c].astype(object).tolist() if c in ("source", "event_type") else frame[c].tolist()
        for c in cols
    ]
    for eid, src, et, at, cents, items, etype, key in zip(*lists, strict=True):
        yield Event(eid, src, int(et), int(at), int(cents), int(items), etype, key)


def _iso(ms: np.ndarray) -> np.ndarray:
    text = np.datetime_as_string(np.asarray(ms, dtype="datetime64[ms]"), unit="ms")
    return np.char.add(text.astype(str), "Z").astype(object)


def to_record_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The records the CLI writes: ISO-8601 UTC times with a 'Z', amount in dollars."""
    return pd.DataFrame(
        {
            "event_id": frame["event_id"].to_numpy(),
            "source": frame["source"].astype(str).to_numpy(),
            "key": frame["key"].to_numpy(),
            "event_type": frame["event_type"].astype(str).to_numpy(),
            "amount": frame["amount_cents"].to_numpy() / 100,
            "items": frame["items"].to_numpy(),
            "event_time": _iso(frame["event_time_ms"].to_numpy()),
            "arrival_time": _iso(frame["arrival_time_ms"].to_numpy()),
        }
    )


def write_records(frame: pd.DataFrame, path: str | Path) -> int:
    """Write a simulator frame as .jsonl, .csv or .parquet; returns the row count."""
    path = Path(path)
    rec = to_record_frame(frame)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        rec.to_json(path, orient="records", lines=True)
    elif suffix == ".csv":
        rec.to_csv(path, index=False)
    elif suffix == ".parquet":
        rec.to_parquet(path, index=False)
    else:
        raise ValueError(f"cannot write {path.name}: use .jsonl, .csv or .parquet")
    return len(rec)


def _ms_column(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(values):
        return np.rint(values.to_numpy(dtype=float) * 1000).astype(np.int64)  # epoch seconds
    text = values.astype(str)
    if not text.str.contains(r"(?:[Zz]|[+-]\d\d:?\d\d)$", regex=True).all():
        raise ValueError("a timestamp has no UTC offset")
    parsed = pd.to_datetime(text, utc=True, format="ISO8601")
    return parsed.dt.as_unit("ms").astype("int64").to_numpy()


def read_events_file(path: str | Path) -> pd.DataFrame:
    """Read a file written by ``write_records`` (or any file with the same record
    columns) into the analysis frame: int64 ms times and amount_cents.

    Times must carry an offset ('Z' or '+hh:mm'); naive times raise ValueError.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        rec = pd.read_json(
            path,
            lines=True,
            dtype={"event_id": str, "key": str, "event_time": str, "arrival_time": str},
        )
    elif suffix == ".csv":
        rec = pd.read_csv(path, dtype={"event_id": str, "key": str})
    elif suffix == ".parquet":
        rec = pd.read_parquet(path)
    else:
        raise ValueError(f"cannot read {path.name}: use .jsonl, .csv or .parquet")
    out = pd.DataFrame(
        {"event_id": rec["event_id"].astype(str), "source": rec["source"].astype("category")}
    )
    for col in ("event_time", "arrival_time"):
        if f"{col}_ms" in rec:
            out[f"{col}_ms"] = rec[f"{col}_ms"].astype("int64")
        else:
            try:
                out[f"{col}_ms"] = _ms_column(rec[col])
            except (ValueError, TypeError) as exc:
                raise ValueError(
                    f"{path.name}: column {col!r} needs ISO-8601 times with an offset"
                ) from exc
    if "amount_cents" in rec:
        out["amount_cents"] = rec["amount_cents"].astype("int64")
    else:
        out["amount_cents"] = np.rint(
            rec.get("amount", pd.Series(0.0, index=rec.index)).fillna(0) * 100
        ).astype("int64")
    out["amount"] = out["amount_cents"] / 100
    out["items"] = rec["items"].fillna(0).astype("int64") if "items" in rec else 0
    out["event_type"] = (
        rec["event_type"].astype("category") if "event_type" in rec else "order.placed"
    )
    out["key"] = rec["key"] if "key" in rec else None
    return out
