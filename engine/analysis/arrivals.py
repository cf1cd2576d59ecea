"""Window arrivals: per window and source, how much value had arrived by each age.

The raw material of completeness (``engine.analysis.completeness``) and of its
calibration (``engine.analysis.calibration``): a (windows × sources × ages) cube of
cents built in one pass with numpy, and the projection of a window's final from what
has arrived, given the usual arrival ratios.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.core.timeutil import DAY_MS, HOUR_MS, MINUTE_MS

BACKTEST_AGES_MS = (HOUR_MS, 6 * HOUR_MS, DAY_MS, 3 * DAY_MS)
MATURE_MS = 7 * DAY_MS
_POSITIVE_AGES_MS = (
    0,
    MINUTE_MS,
    5 * MINUTE_MS,
    15 * MINUTE_MS,
    30 * MINUTE_MS,
    HOUR_MS,
    2 * HOUR_MS,
    3 * HOUR_MS,
    6 * HOUR_MS,
    9 * HOUR_MS,
    12 * HOUR_MS,
    18 * HOUR_MS,
    DAY_MS,
    30 * HOUR_MS,
    36 * HOUR_MS,
    2 * DAY_MS,
    3 * DAY_MS,
    4 * DAY_MS,
    5 * DAY_MS,
    7 * DAY_MS,
    10 * DAY_MS,
    14 * DAY_MS,
    21 * DAY_MS,
    28 * DAY_MS,
    35 * DAY_MS,
)


def age_grid(window_ms: int, extra_ms=()) -> np.ndarray:
    """Ages at which curves are measured: 24 steps through the open window
    (negative ages), then 0 .. 35 d, plus any ``extra_ms``."""
    open_part = [-window_ms * k // 24 for k in range(24, 0, -1)]
    return np.unique(np.asarray([*open_part, *_POSITIVE_AGES_MS, *extra_ms], dtype=np.int64))


@dataclass(frozen=True)
class WindowArrivals:
    """Per window and source: value (cents) arrived by each age, and the final
    (every event of the window in the frame)."""

    window_ms: int
    offset_ms: int
    starts_ms: np.ndarray  # (w,)
    sources: tuple[str, ...]
    ages_ms: np.ndarray  # (g,)
    observed: np.ndarray  # (w, s, g)
    final: np.ndarray  # (w, s)

    @property
    def ends_ms(self) -> np.ndarray:
        return self.starts_ms + self.window_ms


def window_arrivals(
    events: pd.DataFrame, window_ms: int = DAY_MS, offset_ms: int = 0, extra_ages_ms=()
) -> WindowArrivals:
    """Tumbling windows ``[start, start + window_ms)`` aligned to ``offset_ms``;
    columns used: source, amount_cents (or amount), event_time_ms, arrival_time_ms."""
    codes, names = _source_codes(events["source"])
    ages = age_grid(window_ms, (*BACKTEST_AGES_MS, MATURE_MS, *extra_ages_ms))
    event_ms = events["event_time_ms"].to_numpy(dtype=np.int64)
    win = (event_ms - offset_ms) // window_ms
    uniq, w_idx = np.unique(win, return_inverse=True)
    end = (win + 1) * window_ms + offset_ms
    age = events["arrival_time_ms"].to_numpy(dtype=np.int64) - end
    g_idx = np.searchsorted(ages, age, side="left")  # counted from the first age >= its own
    cents = _cents(events)
    w, s, g = uniq.size, len(names), ages.size
    flat = (w_idx * s + codes) * (g + 1) + g_idx
    hist = np.bincount(flat, weights=cents, minlength=w * s * (g + 1)).reshape(w, s, g + 1)
    return WindowArrivals(
        window_ms=window_ms,
        offset_ms=offset_ms,
        starts_ms=uniq * window_ms + offset_ms,
        sources=names,
        ages_ms=ages,
        observed=np.cumsum(hist, axis=2)[:, :, :g],
        final=hist.sum(axis=2),
    )


def arrivals_from_histogram(
    window_ms: int,
    offset_ms: int,
    ages_ms: np.ndarray,
    windows: list[int],
    sources: list[str],
    rows: list[tuple[int, int, int, int]],
) -> WindowArrivals:
    """``WindowArrivals`` from value already binned per (window index, source, age
    bucket) — ``engine.store.raw_metrics.arrival_histogram``, which sums in SQL what
    ``window_arrivals`` bins from a frame (same windows, sources and buckets)."""
    ages = np.asarray(ages_ms, np.int64)
    w, s, g = len(windows), len(sources), ages.size
    hist = np.zeros((w, s, g + 1), np.float64)
    if rows:
        arr = np.asarray(rows, np.int64)
        np.add.at(hist, (arr[:, 0], arr[:, 1], arr[:, 2]), arr[:, 3].astype(np.float64))
    return WindowArrivals(
        window_ms=window_ms,
        offset_ms=offset_ms,
        starts_ms=np.asarray(windows, np.int64) * window_ms + offset_ms,
        sources=tuple(sources),
        ages_ms=ages,
        observed=np.cumsum(hist, axis=2)[:, :, :g],
        final=hist.sum(axis=2),
    )


def _source_codes(source: pd.Series) -> tuple[np.ndarray, tuple[str, ...]]:
    codes, uniques = pd.factorize(source.astype(str), sort=True)
    return codes.astype(np.int64), tuple(uniques)


def _cents(events: pd.DataFrame) -> np.ndarray:
    if "amount_cents" in events:
        return events["amount_cents"].to_numpy(dtype=np.float64)
    return np.rint(events["amount"].to_numpy(dtype=np.float64) * 100)


def project_with(
    c: np.ndarray, share: np.ndarray, min_ratio: float, obs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Project observed cents ``obs`` (n, s) with arrival ratios ``c`` (s,) at one age:
    reliable sources scaled up, the rest from their usual share of the reliable ones."""
    reliable = (c >= min_ratio) & (share > 0)
    per_source = obs.astype(float).copy()
    if reliable.any():
        per_source[:, reliable] = obs[:, reliable] / c[reliable]
        rho_r = share[reliable].sum()
        proj_r = per_source[:, reliable].sum(axis=1)
        for si in np.flatnonzero(~reliable):
            per_source[:, si] = proj_r * share[si] / rho_r
    else:
        c_all = float((c * share).sum())
        if c_all > 0:
            per_source = np.outer(obs.sum(axis=1) / c_all, share)
    total = np.maximum(per_source.sum(axis=1), obs.sum(axis=1))
    return total, per_source
