"""Per-source idle timeouts ([sources.<name>] idle_timeout): a source silent longer than
its own timeout stops holding the per-key watermark back; sources without one never
go idle (no global timeout) — checked on the event-at-a-time operator."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.core.events import Event
from engine.core.operator import WindowOperator
from engine.core.spec import PipelineSpec, WatermarkSpec, WindowSpec

MIN = 60_000


def spec(idle_partner_ms: int) -> PipelineSpec:
    return PipelineSpec(
        window=WindowSpec(kind="tumbling", size_ms=3_600_000),
        watermark=WatermarkSpec(
            kind="per-key", delay_ms=0, source_idle_ms=(("partner", idle_partner_ms),)
        ),
    )


def ev(i: int, source: str, t: int, arrival: int) -> Event:
    return Event(f"e{i}", source, t, arrival, 100)


@given(
    idle=st.integers(1, 30).map(lambda m: m * MIN),
    web_steps=st.lists(st.integers(1, 10 * MIN), min_size=1, max_size=20),
)
def test_a_silent_source_stops_holding_the_watermark_after_its_own_timeout(idle, web_steps):
    op = WindowOperator(spec(idle))
    op.process(ev(0, "partner", 0, 0))  # partner's mark: 0
    t = 0
    for i, step in enumerate(web_steps, start=1):
        t += step
        op.process(ev(i, "web", t, t))  # web arrives on time; its mark is t
        expected = t if t > idle else 0  # partner idle once silent longer than its timeout
        assert op.watermark_ms == expected, (t, idle)
    # web has no timeout of its own and there is no global one: it never goes idle
    op.advance_processing_time(t + 100 * idle)
    assert op.watermark_ms == t
