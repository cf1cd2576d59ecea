"""A seeded, vectorised generator of realistic late-arriving events.

Why: latewatch is about the gap between event time and arrival time, so the
simulator's job is to make that gap realistic per source (profiles and
scenarios as data in ``engine.sim.profiles``) and reproducible: the same
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

from collections.abc import Iterator

import numpy as np
import pandas as pd

from engine.core.events import Event
from engine.core.timeutil import parse_timestamp_ms
from engine.sim.days import FRAME_COLUMNS, DayGenerator, concat_by_arrival, get_scenario
from engine.sim.files import (
    RECORD_COLUMNS,
    frame_events,
    read_events_file,
    to_record_frame,
    write_records,
)
from engine.sim.profiles import SCENARIOS, Scenario

__all__ = [
    "DEFAULT_START_MS",
    "FRAME_COLUMNS",
    "RECORD_COLUMNS",
    "SCENARIOS",
    "LiveFeed",
    "Simulator",
    "frame_events",
    "get_scenario",
    "read_events_file",
    "to_record_frame",
    "write_records",
]

DEFAULT_START_MS = parse_timestamp_ms("2025-06-02T00:00:00Z")  # a Monday


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
        self.gen = DayGenerator(scenario, seed, sources, start_ms, events_per_day, days)
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
            self._frame = concat_by_arrival(
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
        self.gen = DayGenerator(scenario, seed, sources, start_ms, events_per_day, None)
        self.start_ms = self.gen.start_ms
        self._next_day = 0
        self._pending = concat_by_arrival([])
        self._last_ms: int | None = None
        self._last_arrival: dict[int, int] = {}  # generated day -> its last arrival time

    def first_needed_day(self) -> int:
        """The first run day with events still to deliver: every day before it has
        arrived completely. Days are generated independently (one seeded generator
        per day), so a feed re-positioned with ``skip_to_day`` delivers exactly
        what this one still would."""
        last = self._last_ms
        for day in sorted(self._last_arrival):
            if last is None or self._last_arrival[day] > last:
                return day
        return self._next_day

    def position(self) -> dict:
        """Where the feed stands: the generated-but-undelivered events and the next
        day to generate. ``resume(position)`` on a fresh feed with the same
        arguments continues exactly where this one is, without generating a day."""
        return {
            "next_day": self._next_day,
            "last_ms": self._last_ms,
            "last_arrival": dict(self._last_arrival),
            "pending": self._pending.copy(),
        }

    def resume(self, position: dict) -> None:
        if self._last_ms is not None or self._next_day:
            raise ValueError("resume positions a fresh feed")
        pending = position["pending"]
        if list(pending.columns) != list(self._pending.columns):
            raise ValueError("the saved feed position has other columns")
        self._next_day = int(position["next_day"])
        self._last_ms = position["last_ms"]
        self._last_arrival = dict(position["last_arrival"])
        self._pending = pending.reset_index(drop=True)

    def skip_to_day(self, day: int) -> None:
        """Never generate the run days before ``day`` (they have all arrived)."""
        if self._last_ms is not None or self._next_day:
            raise ValueError("skip_to_day positions a fresh feed")
        self._next_day = day

    def arrivals_until(self, t_ms: int) -> pd.DataFrame:
        """Events arrived in ``(previous t, t_ms]``, in arrival order."""
        if self._last_ms is not None and t_ms < self._last_ms:
            raise ValueError("processing time cannot go backwards")
        self._last_ms = t_ms
        new = []
        while self.gen.day_start(self._next_day) <= t_ms:
            day = self.gen.generate_day(self._next_day)
            if len(day):
                self._last_arrival[self._next_day] = int(day["arrival_time_ms"].iloc[-1])
            new.append(day)
            self._next_day += 1
        if self._last_arrival:  # forget days that have arrived completely
            for done in [d for d, a in self._last_arrival.items() if a <= t_ms]:
                del self._last_arrival[done]
        if new:
            self._pending = (
                concat_by_arrival([self._pending, *new])
                if len(self._pending)
                else concat_by_arrival(new)
            )
        arrival = self._pending["arrival_time_ms"].to_numpy()
        stop = int(np.searchsorted(arrival, t_ms, side="right"))
        out = self._pending.iloc[:stop].reset_index(drop=True)
        self._pending = self._pending.iloc[stop:].reset_index(drop=True)
        return out

    def events_until(self, t_ms: int) -> list[Event]:
        return list(frame_events(self.arrivals_until(t_ms)))
