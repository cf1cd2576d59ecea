"""The per-key watermark's one-pass combination agrees with its definition: the
minimum over keys that are not idle (``idle_keys``, per-source timeouts included),
the maximum of all keys when every key is idle."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.spec import PipelineSpec, WatermarkSpec, WindowSpec
from engine.core.watermarks import WatermarkGenerator

KEYS = ("web", "mobile", "partner", "manual")


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
    spec = PipelineSpec(
        window=WindowSpec(kind="tumbling", size_ms=60_000),
        watermark=WatermarkSpec(
            kind="per-key",
            delay_ms=0,
            key_by="source",
            idle_ms=idle_ms,
            source_idle_ms=tuple(source_idle),
        ),
    )
    gen = WatermarkGenerator(spec)
    for source, event_time, seen in observations:
        gen.observe(event_time, source, None, seen)
        assert gen._combined(seen) == reference(gen, seen)
    assert gen._combined(proc_ms) == reference(gen, proc_ms)
