"""Calibrated intervals for completeness projections (split-conformal, per age).

Every past window's projection is replayed as it would have been made at ``end + age``
from a model fitted only on the windows mature by then (``residual_table``); the
interval at an age spans conformal quantiles of those out-of-sample errors
(``bounds``), and ``measured_coverage`` replays how often such intervals held the
finals that later arrived. See ``engine.analysis.completeness`` for the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.analysis.arrivals import WindowArrivals, project_with

INTERVAL_LEVEL = 0.90
CALIBRATED_MIN = 19  # errors for signed 90 % conformal bounds: ceil(0.95 (n+1)) <= n
SYMMETRIC_MIN = 9  # errors for a 90 % conformal bound on |error|: ceil(0.9 (n+1)) <= n
MIN_FIT_WINDOWS = 2  # a replayed past projection needs at least this many mature windows


@dataclass(frozen=True)
class ResidualTable:
    """Every window's projection replayed at every age (see the module docstring):
    ``fit_lo``/``fit_hi`` are the windows [lo, hi) the replayed model was fitted on."""

    projected: np.ndarray  # (w, g) cents; NaN where too few windows were mature
    errors: np.ndarray  # (w, g) final / projected - 1
    observed: np.ndarray  # (w, g) cents
    final: np.ndarray  # (w,) cents by mature age
    fit_lo: np.ndarray  # (w, g)
    fit_hi: np.ndarray  # (w, g)


def residual_table(
    arrivals: WindowArrivals, history_windows: int, mature_ms: int, min_ratio: float = 0.5
) -> ResidualTable:
    """Out-of-sample projection errors: window j at age a is projected by a model
    fitted at ``end_j + a`` on the trailing ``history_windows`` windows mature then."""
    ages = arrivals.ages_ms
    gm = int(np.searchsorted(ages, mature_ms))
    obs = arrivals.observed[:, :, : gm + 1].astype(float)  # (w, s, g)
    fin = obs[:, :, gm]  # (w, s)
    w, _, g = obs.shape
    cum_obs = np.concatenate([np.zeros((1, *obs.shape[1:])), np.cumsum(obs, axis=0)])
    cum_fin = np.concatenate([np.zeros((1, fin.shape[1])), np.cumsum(fin, axis=0)])
    ends = arrivals.ends_ms
    when = ends[:, None] + ages[None, : gm + 1]  # (w, g) when each projection is made
    hi = np.minimum(np.searchsorted(ends + mature_ms, when, side="right"), np.arange(w)[:, None])
    lo = np.maximum(hi - history_windows, 0)
    projected = np.full((w, g), np.nan)
    fitted: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    for j in range(w):
        for gi in range(g):
            a, b = int(lo[j, gi]), int(hi[j, gi])
            if b - a < MIN_FIT_WINDOWS:
                continue
            if (a, b) not in fitted:
                f = cum_fin[b] - cum_fin[a]
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratio = np.where(f[:, None] > 0, (cum_obs[b] - cum_obs[a]) / f[:, None], 0.0)
                fitted[(a, b)] = (ratio, f / f.sum() if f.sum() > 0 else np.zeros_like(f))
            ratio, share = fitted[(a, b)]
            total, _ = project_with(ratio[:, gi], share, min_ratio, obs[j : j + 1, :, gi])
            projected[j, gi] = max(float(total[0]), float(obs[j, :, gi].sum()))
    final = fin.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        errors = np.where(projected > 0, final[:, None] / projected - 1, np.nan)
    errors[(projected == 0) & (final[:, None] == 0)] = 0.0
    return ResidualTable(projected, errors, obs.sum(axis=1), final, lo, hi)


def bounds(errors: np.ndarray, missing: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per age, 90 % bounds from n out-of-sample errors (m, g):
    n >= ``CALIBRATED_MIN``: the signed conformal quantiles (keeps a known bias);
    n >= ``SYMMETRIC_MIN``: the conformal quantile of |error|, both sides;
    fewer: no finite calibrated bound exists — twice the largest |error| or the share
    still missing, whichever is wider (labelled not calibrated)."""
    g = errors.shape[1]
    lo, hi, n = np.zeros(g), np.zeros(g), np.zeros(g, dtype=np.int64)
    tail = (1 - INTERVAL_LEVEL) / 2
    for gi in range(g):
        r = np.sort(errors[:, gi][np.isfinite(errors[:, gi])])
        k = n[gi] = r.size
        if k >= CALIBRATED_MIN:
            lo[gi] = r[max(int(np.floor((k + 1) * tail)), 1) - 1]
            hi[gi] = r[min(int(np.ceil((k + 1) * (1 - tail))), k) - 1]
        elif k >= SYMMETRIC_MIN:
            q = np.sort(np.abs(r))[min(int(np.ceil((k + 1) * INTERVAL_LEVEL)), k) - 1]
            lo[gi], hi[gi] = -q, q
        else:
            widest = max(2 * float(np.abs(r).max()) if k else 0.0, float(missing[gi]))
            lo[gi], hi[gi] = -widest, widest
    return lo, hi, n


def measured_coverage(
    table: ResidualTable, windows: np.ndarray, missing: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per age: the share of ``windows`` whose final fell inside the interval they
    would have been given then (bounds from the errors known at that moment)."""
    g = table.errors.shape[1]
    hits, counts = np.zeros(g), np.zeros(g, dtype=np.int64)
    for j in windows:
        for gi in range(g):
            proj = table.projected[j, gi]
            if not np.isfinite(proj):
                continue
            known = table.errors[table.fit_lo[j, gi] : table.fit_hi[j, gi], gi : gi + 1]
            lo, hi, _ = bounds(known, missing[gi : gi + 1])
            low, high = min(proj, proj * (1 + lo[0])), max(proj, proj * (1 + hi[0]))
            counts[gi] += 1
            hits[gi] += low - 0.5 <= table.final[j] <= high + 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(counts > 0, hits / counts, np.nan), counts
