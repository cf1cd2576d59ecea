"""The per-key watermark's one-pass combination agrees with its definition: the
minimum over keys that are not idle (``idle_keys``, per-source timeouts included),
the maximum of all keys when every key is idle."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.spec import PipelineSpec, WatermarkSpec, WindowSpec
from engine.core.timeutil import NEG_INF_MS as NEG
from engine.core.watermarks import WatermarkGenerator

KEYS = ("web", "mobile", "partner", "manual")


def per_key_generator(idle_ms, source_idle) -> WatermarkGenerator:
    return WatermarkGenerator(
        PipelineSpec(
            window=WindowSpec(kind="tumbling", size_ms=60_000),
            watermark=WatermarkSpec(
                kind="per-key",
                delay_ms=0,
                key_by="source",
                idle_ms=idle_ms,
                source_idle_ms=tuple(source_idle),
            ),
        )
    )


def reference(gen: WatermarkGenerator, proc_ms: int | None) -> int:
    idle = set(gen.idle_keys(proc_ms))
    active = [m for k, m in gen._per_key_max.items() if k not in idle]
    return min(active) if active else max(gen._per_key_max.values())


@settings(max_examples=300, deadline=None)
@given(
    idle_ms=st.sampled_from([None, 1_000, 60_000]),
    source_idle=st.lists(
        st.tuples(st.sampled_from(KEYS), st.integers(1, 100_000)),
        max_size=2,
        unique_by=lambda t: t[0],
    ),
    observations=st.lists(
        st.tuples(st.sampled_from(KEYS), st.integers(0, 10**6), st.integers(0, 10**6)),
        min_size=1,
        max_size=30,
    ),
    proc_ms=st.one_of(st.none(), st.integers(0, 2 * 10**6)),
)
def test_combined_equals_the_definition(idle_ms, source_idle, observations, proc_ms):
    gen = per_key_generator(idle_ms, source_idle)
    for source, event_time, seen in observations:
        gen.observe(event_time, source, None, seen)
        assert gen._combined(seen) == reference(gen, seen)
        for later in (seen + 500, seen + 1_500, seen + 70_000):  # the cached result ages
            assert gen._combined(later) == reference(gen, later)
    assert gen._combined(proc_ms) == reference(gen, proc_ms)


@settings(max_examples=300, deadline=None)
@given(
    idle_ms=st.sampled_from([1_000, 60_000]),
    source_idle=st.lists(
        st.tuples(st.sampled_from(KEYS), st.integers(1, 100_000)),
        max_size=2,
        unique_by=lambda t: t[0],
    ),
    steps=st.lists(
        st.tuples(st.sampled_from(KEYS), st.integers(-5_000, 5_000), st.integers(0, 90_000)),
        min_size=1,
        max_size=60,
    ),
)
def test_observe_in_processing_order_equals_the_definition(idle_ms, source_idle, steps):
    """As the operator drives it: processing time only moves forward, event times
    mostly so; every watermark ``observe`` returns is the definition's (the result
    is cached between observations, so a stale cache would show here)."""
    gen = per_key_generator(idle_ms, source_idle)
    proc = 0
    best = NEG
    for source, jitter, gap in steps:
        proc += gap
        out = gen.observe(proc + jitter, source, None, proc)
        best = max(best, reference(gen, proc))
        assert out == best  # the watermark never goes back
        after = gen.on_processing_time(proc + gap)
        best = max(best, reference(gen, proc + gap))
        assert after == best
