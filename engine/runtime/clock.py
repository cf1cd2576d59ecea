"""Injected clocks. The only place in the engine that reads the wall clock.

- ``SystemClock``: real time.
- ``SimulatedClock``: simulated time that runs ``speed`` times faster than the
  wall clock from a chosen start (e.g. one simulated hour per real second with
  ``speed=3600``); it can be paused, resumed and re-speeded without jumping.
- ``FakeClock``: for tests; moves only when told, and refuses to go back.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class Clock:
    def now_ms(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.now_ms() / 1000, tz=UTC)

    @property
    def simulated(self) -> bool:
        return False

    def describe(self) -> str:
        return "system clock"


class SystemClock(Clock):
    def now_ms(self) -> int:
        return wall_ms()


class FakeClock(Clock):
    def __init__(self, start_ms: int) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def advance(self, ms: int) -> int:
        if ms < 0:
            raise ValueError("a clock does not go back")
        self._now += ms
        return self._now

    def set(self, t_ms: int) -> int:
        if t_ms < self._now:
            raise ValueError("a clock does not go back")
        self._now = t_ms
        return self._now

    def jump_to(self, t_ms: int) -> int:
        """Move forward to ``t_ms`` if it is later (catch-up); never back."""
        self._now = max(self._now, t_ms)
        return self._now

    @property
    def simulated(self) -> bool:
        return True

    def describe(self) -> str:
        return "fake clock"


class SimulatedClock(Clock):
    """Simulated time = anchor + (wall - wall_anchor) * speed, while running."""

    def __init__(self, start_ms: int, speed: float = 3600.0, wall=wall_ms) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._wall = wall
        self._lock = threading.Lock()
        self._anchor_sim = start_ms
        self._anchor_wall = wall()
        self._speed = float(speed)
        self._paused = False
        self._last = start_ms

    def now_ms(self) -> int:
        with self._lock:
            if self._paused:
                return self._last
            now = self._anchor_sim + int((self._wall() - self._anchor_wall) * self._speed)
            if now > self._last:
                self._last = now
            return self._last

    def _rebase(self) -> None:
        self._anchor_sim = self._last
        self._anchor_wall = self._wall()

    def pause(self) -> None:
        self.now_ms()
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        with self._lock:
            if self._paused:
                self._paused = False
                self._rebase()

    def set_speed(self, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.now_ms()
        with self._lock:
            self._rebase()
            self._speed = float(speed)

    def jump_to(self, t_ms: int) -> None:
        """Move simulated time forward (catch-up); never back."""
        self.now_ms()
        with self._lock:
            if t_ms > self._last:
                self._last = t_ms
            self._rebase()

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def simulated(self) -> bool:
        return True

    def describe(self) -> str:
        state = "paused" if self._paused else f"×{self._speed:g}"
        return f"simulated clock ({state})"
