"""Watermark generators. The watermark W says "no more events with event time < W
are expected"; it only moves forward, and says so (an assertion, as in bytewax).

Strategies (``WatermarkSpec.kind``):
- ``bounded``: W = max event time seen - delay (per-source delays use the largest
  delay of the sources seen, so no source is cut short);
- ``per-key``: one bounded watermark per source (or per event key) with its own
  delay; global W = min over *active* keys. A key whose last event arrived
  more than ``idle_ms`` of processing time ago is idle and stops holding W back;
  when every key is idle, W = max over keys (nothing holds it back);
- ``punctuated``: W moves only on watermark records carried in the input;
- ``processing-time``: W = processing time - delay.

Order of operations (see engine.core.operator): an event is classified against the
watermark as it stood *before* the event, then the generator observes it — an
event can never make itself late (Flink emits the watermark after the element).
"""

from __future__ import annotations

from engine.core.spec import PipelineSpec
from engine.core.timeutil import NEG_INF_MS, POS_INF_MS


class WatermarkGenerator:
    def __init__(self, spec: PipelineSpec) -> None:
        self.spec = spec
        wm = spec.watermark
        self.kind = wm.kind
        self.idle_ms = wm.idle_ms
        if wm.source_idle_ms and wm.key_by == "source":
            # some source has its own timeout: idleness is judged per key
            self.idle_ms = min([wm.idle_ms or 2**62] + [ms for _, ms in wm.source_idle_ms])
        self._idle_for = wm.idle_for if wm.source_idle_ms and wm.key_by == "source" else None
        self.key_by_source = wm.key_by == "source"
        self._current = NEG_INF_MS
        self._max_seen = NEG_INF_MS
        self._per_key_max: dict[str, int] = {}
        self._per_key_seen_at: dict[str, int | None] = {}
        self._delay_cache: dict[str, int] = {}
        self._bounded_delay = wm.delay_ms
        # bounded, and no source has a delay of its own: the delay never changes and
        # which sources were seen does not matter, so they are not looked up
        self.one_delay = (
            self.kind == "bounded"
            and not wm.source_delays_ms
            and not any(p.watermark_delay_ms is not None for p in spec.sources)
        )
        # (combined W, from proc, valid to proc, key holding W): ``_combined`` only changes when a
        # key's mark moves, an idle key wakes up, or an active key's timeout passes
        self._combined_cache: tuple[int, int, int, str] | None = None

    # -- observations ------------------------------------------------------------
    def _delay(self, source: str) -> int:
        delay = self._delay_cache.get(source)
        if delay is None:
            delay = self.spec.watermark_delay_for(source)
            self._delay_cache[source] = delay
            if self.kind == "bounded" and delay > self._bounded_delay:
                self._bounded_delay = delay
        return delay

    def observe(self, event_time_ms: int, source: str, key: str | None, proc_ms: int | None) -> int:
        """Account for one event; returns the (possibly advanced) watermark."""
        kind = self.kind
        if kind == "bounded":
            if not self.one_delay:
                self._delay(source)
            if event_time_ms > self._max_seen:
                self._max_seen = event_time_ms
            return self._advance(self._max_seen - self._bounded_delay)
        if kind == "per-key":
            k = source if self.key_by_source or key is None else key
            mark = event_time_ms - self._delay(source)
            cached = self._combined_cache
            if cached is not None and not (
                proc_ms is not None
                and cached[1] <= proc_ms <= cached[2]
                and self._was_active(k, proc_ms)
                and self._per_key_seen_at[k] <= proc_ms  # its timeout only moves later
                and (k != cached[3] or mark <= self._per_key_max[k])
            ):
                # an idle key wakes (it may hold W back) or the key holding W moves on
                self._combined_cache = None
            if mark > self._per_key_max.get(k, NEG_INF_MS):
                self._per_key_max[k] = mark
            self._per_key_seen_at[k] = proc_ms
            return self._advance(self._combined(proc_ms))
        return self._current

    def observe_bounded(self, event_time_ms: int, source: str) -> int:
        """``observe`` for the bounded strategy, without the dispatch (the hot path)."""
        if not self.one_delay and source not in self._delay_cache:
            self._delay(source)
        if event_time_ms > self._max_seen:
            self._max_seen = event_time_ms
            candidate = event_time_ms - self._bounded_delay
            if candidate > self._current:
                self._current = candidate
        return self._current

    def on_processing_time(self, proc_ms: int) -> int:
        """Processing time moved: processing-time watermarks and idleness react."""
        if self.kind == "processing-time":
            return self._advance(proc_ms - self.spec.watermark.delay_ms)
        if self.kind == "per-key" and self.idle_ms is not None and self._per_key_max:
            return self._advance(self._combined(proc_ms))
        return self._current

    def punctuate(self, watermark_ms: int) -> int:
        """A watermark record from the input (punctuated strategy only)."""
        if self.kind == "punctuated":
            return self._advance(watermark_ms)
        return self._current

    # -- combination ---------------------------------------------------------------
    def idle_keys(self, proc_ms: int | None) -> list[str]:
        if self.idle_ms is None or proc_ms is None:
            return []
        if self._idle_for is not None:
            out = []
            for k, seen in self._per_key_seen_at.items():
                idle = self._idle_for(k)
                if seen is not None and idle is not None and proc_ms - seen > idle:
                    out.append(k)
            return out
        return [
            k
            for k, seen in self._per_key_seen_at.items()
            if seen is not None and proc_ms - seen > self.idle_ms
        ]

    def _was_active(self, k: str, proc_ms: int | None) -> bool:
        """Key ``k`` was observed before and is not idle at ``proc_ms``."""
        seen = self._per_key_seen_at.get(k)
        if seen is None or proc_ms is None or k not in self._per_key_max:
            return False
        idle = self.idle_ms if self._idle_for is None else self._idle_for(k)
        return idle is None or proc_ms - seen <= idle

    def _combined(self, proc_ms: int | None) -> int:
        """min over the keys that are not idle (``idle_keys``' rule, per-source timeouts
        included); the max of all when every key is idle. It runs for every event of a
        per-key pipeline, so the result is kept until processing time passes the first
        active key's timeout; ``observe`` drops it when an idle key wakes or the key that
        holds the minimum moves (another active key moving on cannot change the min)."""
        cached = self._combined_cache
        if cached is not None and proc_ms is not None and cached[1] <= proc_ms <= cached[2]:
            return cached[0]
        check = self.idle_ms is not None and proc_ms is not None
        idle_for = self._idle_for
        default_idle = self.idle_ms
        seen_at = self._per_key_seen_at
        lo = hi = lo_key = None
        until = POS_INF_MS
        for k, m in self._per_key_max.items():
            if hi is None or m > hi:
                hi = m
            if check:
                seen = seen_at.get(k)
                if seen is not None:
                    idle = default_idle if idle_for is None else idle_for(k)
                    if idle is not None:
                        if proc_ms - seen > idle:
                            continue
                        if seen + idle < until:
                            until = seen + idle
                else:
                    until = proc_ms  # a key seen without a processing time: no caching
            if lo is None or m < lo:
                lo, lo_key = m, k
        if hi is None:
            raise ValueError("no key has been observed yet")
        out = hi if lo is None else lo
        # all idle (lo_key None): any key observed again wakes, so the cache goes
        self._combined_cache = (out, proc_ms, until, lo_key) if check and lo_key else None
        return out

    def _advance(self, candidate: int) -> int:
        if candidate > self._current:
            self._current = candidate
        return self._current

    def force(self, watermark_ms: int) -> int:
        """End of input: jump to +inf (or any later point)."""
        return self._advance(watermark_ms)

    @property
    def current(self) -> int:
        return self._current

    def per_key(self) -> dict[str, int]:
        """Each key's own watermark (per-key strategy), for the operations page."""
        return dict(self._per_key_max)
