"""Everything the Lateness page shows, shaped from two events frames in one call.

Why a module: the page must not do window maths or reshape analysis output,
and the same report is what a test compares the page against. This module only
*composes* ``engine.analysis.lateness`` (delay distributions, capture, recommendations,
drift) and ``engine.analysis.completeness`` (the projection backtest); it adds the chart
shaping (log-axis curves, quantile markers) and nothing else.

Which events: the delay analysis uses the events that *arrived* in the chosen
range — selecting by event time would miss the not-yet-arrived slow tail of
recent events and make every source look faster than it is. The backtest uses
the events whose *event time* is in the range, so every window it judges has
all of its arrivals so far.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.analysis import completeness, lateness
from engine.core.timeutil import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    SECOND_MS,
    business_day_bounds,
    business_day_of,
    format_duration_ms,
)

QUANTILE_LABELS = {0.5: "p50", 0.9: "p90", 0.99: "p99", 0.999: "p99.9"}
# Tick marks a person reads on a log axis of delays (seconds).
DELAY_TICKS_MS = (
    SECOND_MS,
    10 * SECOND_MS,
    MINUTE_MS,
    10 * MINUTE_MS,
    HOUR_MS,
    6 * HOUR_MS,
    DAY_MS,
    7 * DAY_MS,
    30 * DAY_MS,
)
AUTO_MATURE_MS = (7 * DAY_MS, 3 * DAY_MS, DAY_MS)
MIN_BACKTEST_WINDOWS = 3
MIN_PLOT_DELAY_MS = 100  # delays <= 0 (clock skew) cannot sit on a log axis; shown from here


@dataclass(frozen=True)
class LatenessReport:
    """Frames for the page. Delays are in ms; ``*_s`` columns are seconds for charts."""

    from_ms: int
    to_ms: int
    by: str
    target: float
    events: int
    sources: tuple[str, ...]
    summary: pd.DataFrame
    curves: pd.DataFrame  # source, delay_ms, delay_s, delay (text), share
    markers: pd.DataFrame  # source, quantile, label, delay_ms, delay_s, share
    capture: pd.DataFrame
    recommendations: pd.DataFrame
    drift: pd.DataFrame
    backtest: pd.DataFrame
    backtest_window: str
    mature: str

    @property
    def empty(self) -> bool:
        return self.events == 0


def delay_ticks() -> tuple[list[float], list[str]]:
    """(tick values in seconds, labels) for a log delay axis."""
    return [t / SECOND_MS for t in DELAY_TICKS_MS], [format_duration_ms(t) for t in DELAY_TICKS_MS]


def _curves(profile: lateness.LatenessProfile, by: str) -> pd.DataFrame:
    """Per source (and 'all'): the ECDF trimmed to where it moves — from the first
    non-empty bin to the first bin that reaches 1 — on positive delays."""
    parts = []
    for src in profile.rows():
        c = profile.curve(src, by)
        share = c["share"].to_numpy()
        if not np.isfinite(share).any():
            continue
        moving = np.flatnonzero(np.diff(share, prepend=0.0) > 0)
        if moving.size == 0:
            continue
        lo, hi = int(moving[0]), int(moving[-1])
        part = c.iloc[lo : hi + 1].copy()
        part["delay_ms"] = np.maximum(part["delay_ms"].to_numpy(), MIN_PLOT_DELAY_MS)
        part["source"] = src
        parts.append(part)
    out = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["delay_ms", "share", "source"])
    )
    out["delay_s"] = out["delay_ms"].astype(float) / SECOND_MS
    out["delay"] = [format_duration_ms(float(d)) for d in out["delay_ms"]]
    return out[["source", "delay_ms", "delay_s", "delay", "share"]]


def _markers(profile: lateness.LatenessProfile, by: str) -> pd.DataFrame:
    rows = []
    for src in profile.rows():
        qs = profile.quantile(list(QUANTILE_LABELS), src, by)
        for q, d in zip(QUANTILE_LABELS, qs, strict=True):
            if not np.isfinite(d):
                continue
            delay = max(float(d), MIN_PLOT_DELAY_MS)
            rows.append(
                {
                    "source": src,
                    "quantile": q,
                    "label": QUANTILE_LABELS[q],
                    "delay_ms": float(d),
                    "delay_s": delay / SECOND_MS,
                    "share": q,
                    "delay": format_duration_ms(float(d)),
                }
            )
    return pd.DataFrame(
        rows, columns=["source", "quantile", "label", "delay_ms", "delay_s", "share", "delay"]
    )


def range_end_ms(now_ms: int, step_ms: int = HOUR_MS) -> int:
    """The end of the analysed range: ``now_ms`` rounded *down* to ``step_ms``, so that
    reruns within a step ask the same question and hit the same cache (at the
    simulator's 60x a minute-rounded end changed every real second; distributions over
    days do not move in an hour) and the range never ends after the clock (it ended at
    the *next* full hour: 12:00 on a page whose clock said 11:01)."""
    return now_ms - now_ms % step_ms


def business_day_offset_ms(now_ms: int, tz: str) -> int:
    """Where business days start within a UTC day (for daily backtest windows)."""
    return business_day_bounds(business_day_of(now_ms, tz), tz)[0] % DAY_MS


def lateness_report(
    arrived: pd.DataFrame,
    happened: pd.DataFrame,
    from_ms: int,
    to_ms: int,
    target: float = 0.99,
    by: str = "value",
    backtest_window_ms: int = DAY_MS,
    tz: str = "UTC",
    mature_ms: int | None = completeness.MATURE_MS,
) -> LatenessReport:
    """``arrived``: events with arrival time in [from_ms, to_ms) (delay analysis and
    drift); ``happened``: events with event time in that range (backtest).

    ``mature_ms``: when the backtest treats a window as final (7 d, the final
    tier, by default). It needs windows that old *plus* a few earlier mature ones
    at each projection age, so with under ~2 weeks of history only a shorter
    horizon gives rows; projection ages at or beyond it are left out (trivial).
    ``None`` picks the longest of ``AUTO_MATURE_MS`` whose backtest has at least
    ``MIN_BACKTEST_WINDOWS`` windows at every age (``report.mature`` says which)."""
    profile = lateness.lateness_profile(arrived)
    range_days = (to_ms - from_ms) / DAY_MS
    if len(arrived) and range_days >= 2:
        drift = lateness.drift(arrived, to_ms, recent_days=1, baseline_days=range_days - 1)
    else:
        drift = pd.DataFrame()
    offset = business_day_offset_ms(to_ms, tz) if backtest_window_ms == DAY_MS else 0

    def run_backtest(mature: int) -> pd.DataFrame:
        if not len(happened):
            return pd.DataFrame()
        return completeness.backtest(
            happened,
            window_ms=backtest_window_ms,
            offset_ms=offset,
            mature_ms=mature,
            ages_ms=tuple(a for a in completeness.BACKTEST_AGES_MS if a < mature),
        )

    if mature_ms is None:  # auto: the longest horizon the history can check
        for mature_ms in AUTO_MATURE_MS:
            backtest = run_backtest(mature_ms)
            if len(backtest) and backtest["windows"].min() >= MIN_BACKTEST_WINDOWS:
                break
    else:
        backtest = run_backtest(mature_ms)
    return LatenessReport(
        from_ms=from_ms,
        to_ms=to_ms,
        by=by,
        target=target,
        events=len(arrived),
        sources=profile.sources,
        summary=lateness.summary(profile, by) if len(arrived) else pd.DataFrame(),
        curves=_curves(profile, by),
        markers=_markers(profile, by),
        capture=lateness.capture_table(profile, by=by) if len(arrived) else pd.DataFrame(),
        recommendations=lateness.recommend(profile, target=target, by=by)
        if len(arrived)
        else pd.DataFrame(),
        drift=drift,
        backtest=backtest,
        backtest_window=format_duration_ms(backtest_window_ms),
        mature=format_duration_ms(mature_ms),
    )
