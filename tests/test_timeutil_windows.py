"""Time parsing and window assignment: pure functions, checked at their edges."""

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.spec import WindowSpec
from engine.core.timeutil import (
    TimestampError,
    datetime_to_ms,
    format_ms,
    parse_duration_ms,
    parse_timestamp_ms,
)
from engine.core.windows import WindowAssigner, calendar_window, sliding_windows, tumbling_window


def ms(text: str) -> int:
    return parse_timestamp_ms(text)


def test_iso_with_offset_z_and_epoch_agree():
    a = ms("2026-11-20T10:00:00Z")
    assert a == ms("2026-11-20T11:00:00+01:00") == ms("1795168800") == ms(1795168800.0)
    assert format_ms(a) == "2026-11-20T10:00:00.000Z"


def test_timestamp_without_offset_is_an_error_unless_zone_named():
    with pytest.raises(TimestampError) as exc:
        ms("2026-11-20T10:00:00")
    assert exc.value.reason == "no_offset"
    assert "offset" in str(exc.value)
    assert parse_timestamp_ms("2026-11-20T05:00:00", assume_tz="America/New_York") == ms(
        "2026-11-20T10:00:00Z"
    )


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01T00:00:00Z", "nan", float("inf")])
def test_unparseable_timestamps_have_a_reason(bad):
    with pytest.raises(TimestampError) as exc:
        parse_timestamp_ms(bad)
    assert exc.value.reason == "unparseable_timestamp"


def test_durations():
    assert parse_duration_ms("250ms") == 250
    assert parse_duration_ms("30s") == 30_000
    assert parse_duration_ms("5m") == 300_000
    assert parse_duration_ms("1.5h") == 5_400_000
    assert parse_duration_ms("7d") == 7 * 86_400_000
    with pytest.raises(ValueError):
        parse_duration_ms("five minutes")


@given(st.integers(-(10**13), 10**13), st.integers(1, 10**8), st.data())
def test_tumbling_is_half_open_and_contains_ts(ts, size, data):
    offset = data.draw(st.integers(0, size - 1))
    start, end = tumbling_window(ts, size, offset)
    assert start <= ts < end and end - start == size
    assert (start - offset) % size == 0


@given(st.integers(-(10**12), 10**12), st.integers(1, 1000), st.integers(1, 10))
def test_sliding_membership_matches_definition(ts, slide, factor):
    size = slide * factor
    wins = sliding_windows(ts, size, slide)
    assert len(wins) == factor  # an event belongs to size/slide windows
    for start, end in wins:
        assert start <= ts < end and start % slide == 0


def test_window_end_belongs_to_next_window():
    assign = WindowAssigner(WindowSpec.parse("tumbling:5m")).assign
    t = ms("2026-11-20T12:05:00Z")
    assert assign(t) == [(t, t + 300_000)]
    assert assign(t - 1) == [(t - 300_000, t)]


def test_new_york_days_across_dst_are_23_and_25_hours():
    spring = calendar_window(ms("2026-03-08T12:00:00Z"), "day", "America/New_York")
    fall = calendar_window(ms("2026-11-01T12:00:00Z"), "day", "America/New_York")
    normal = calendar_window(ms("2026-11-20T12:00:00Z"), "day", "America/New_York")
    assert (spring[1] - spring[0]) / 3_600_000 == 23
    assert (fall[1] - fall[0]) / 3_600_000 == 25
    assert (normal[1] - normal[0]) / 3_600_000 == 24
    assert spring[0] == datetime_to_ms(datetime(2026, 3, 8, 5, tzinfo=UTC))  # EST midnight


def test_calendar_week_and_month():
    week = calendar_window(ms("2026-11-26T12:00:00Z"), "week", "Europe/Berlin")  # a Thursday
    assert format_ms(week[0]) == "2026-11-22T23:00:00.000Z"  # Monday 00:00 CET
    month = calendar_window(ms("2026-03-15T00:00:00Z"), "month", "Europe/Berlin")
    assert (month[1] - month[0]) / 3_600_000 == 31 * 24 - 1  # March loses an hour
