"""Measured lateness: arrival-delay distributions, capture, cost and recommendations.

Why: one global allowed lateness is either too short for the slow sources or
makes every fast source wait. From the raw log (or any events frame) this
module measures each source's arrival delay (``arrival_time_ms -
event_time_ms``), says what share of events / value a given allowed lateness
captures, what that costs, and recommends a per-source setting for a target
capture. It also flags drift when a source's tail moves.

How: one pass over the data builds a ``LatenessProfile`` — per-source
histograms of count and value (``abs(amount_cents)``) over a log-spaced grid
(~3 % wide bins, HDR-histogram style, computed from the float bits) merged with
the exact points people ask about (capture points and the human steps used for
recommendations). Capture at those points is therefore exact; percentiles are
interpolated inside one bin (error well under 3 %). Everything after the pass
works on the small histograms, so 10 M rows take well under a second.

Capture convention: an event is captured by a delay budget ``L`` when its
arrival delay is ``<= L``. That is the worst case for an event at the very end
of its window (events earlier in the window get extra slack), and it is the
convention of the "30 s captures 90 %" tables. With a bounded-out-of-orderness
watermark of delay ``D`` the window closes at ``end + D + allowed_lateness``, so
the budget is ``D + allowed_lateness``. Events with a negative delay (clock
skew: event time after arrival) count as captured and are reported apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.core.timeutil import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS, format_duration_ms

QUANTILES = (0.5, 0.9, 0.99, 0.999)
CAPTURE_POINTS_MS = (
    5 * SECOND_MS,
    30 * SECOND_MS,
    5 * MINUTE_MS,
    30 * MINUTE_MS,
    HOUR_MS,
    6 * HOUR_MS,
    DAY_MS,
    3 * DAY_MS,
    7 * DAY_MS,
)
# Allowed-lateness values a person would type; recommendations round up to one.
HUMAN_STEPS_MS = tuple(
    int(v)
    for v in (
        *(s * SECOND_MS for s in (1, 2, 5, 10, 15, 30)),
        *(m * MINUTE_MS for m in (1, 2, 5, 10, 15, 30)),
        *(h * HOUR_MS for h in (1, 2, 3, 6, 12)),
        *(d * DAY_MS for d in (1, 2, 3, 5, 7, 10, 14, 21, 28, 35, 60, 90)),
    )
)
ALL = "all"
_SUB_BITS = 5  # 32 sub-bins per power of two -> bins ~3 % wide
_MAX_EXP = 46  # 2**46 ms ~ 2,200 years: everything fits


def _fine_edges() -> np.ndarray:
    """Largest integer delay (ms) in each fine bin; bin 0 is 'delay <= 0'."""
    sub = 1 << _SUB_BITS
    exps = np.arange(-1, _MAX_EXP)
    lows = (2.0 ** exps[:, None]) * (1 + np.arange(sub)[None, :] / sub)
    uppers = np.append(lows.ravel()[1:], 2.0**_MAX_EXP)
    # integer d lives in the bin of x = d - 0.5, i.e. lo <= d - 0.5 < hi
    return np.concatenate([[0], np.ceil(uppers + 0.5).astype(np.int64) - 1])


_FINE = _fine_edges()


def _fine_code(delay_ms: np.ndarray) -> np.ndarray:
    x = delay_ms.astype(np.float64) - 0.5
    bits = np.maximum(x, 0.5).view(np.int64)
    code = (bits >> (52 - _SUB_BITS)) - ((1022) << _SUB_BITS) + 1
    code = np.where(delay_ms <= 0, 0, code)
    return np.minimum(code, _FINE.size - 1)


@dataclass(frozen=True)
class LatenessProfile:
    """Per-source histograms of arrival delay. Bin ``k`` holds delays in
    ``(edges_ms[k-1], edges_ms[k]]``; bin 0 holds delays ``<= 0``."""

    sources: tuple[str, ...]
    edges_ms: np.ndarray
    counts: np.ndarray  # (sources, bins) int64
    values: np.ndarray  # (sources, bins) float, abs(amount_cents)
    max_ms: np.ndarray
    min_ms: np.ndarray
    first_arrival_ms: np.ndarray  # the processing-time span the data covers (for rates)
    last_arrival_ms: np.ndarray

    def rows(self) -> tuple[str, ...]:
        return (*self.sources, ALL)

    def _row(self, source: str, by: str) -> np.ndarray:
        table = {"count": self.counts, "value": self.values}.get(by)
        if table is None:
            raise ValueError(f"weigh by 'count' or 'value', not {by!r}")
        if source == ALL:
            return table.sum(axis=0).astype(float)
        try:
            return table[self.sources.index(source)].astype(float)
        except ValueError:
            raise ValueError(f"no events from source {source!r}") from None

    def _stat(self, source: str, arr: np.ndarray, reduce) -> float:
        if source == ALL:
            present = self.counts.sum(axis=1) > 0
            return float(reduce(arr[present])) if present.any() else float("nan")
        return float(arr[self.sources.index(source)])

    def total(self, source: str = ALL, by: str = "count") -> float:
        return float(self._row(source, by).sum())

    def max_delay_ms(self, source: str = ALL) -> float:
        return self._stat(source, self.max_ms, np.max)

    def capture(self, budget_ms, source: str = ALL, by: str = "count") -> np.ndarray:
        """Share (0..1) with delay <= budget, for each budget. Exact at grid points
        (capture points, human steps, and whatever was passed as ``extra_points_ms``),
        linearly interpolated between them otherwise. NaN when the total is 0."""
        row = self._row(source, by)
        total = row.sum()
        budgets = np.atleast_1d(np.asarray(budget_ms, dtype=float))
        if total <= 0:
            return np.full(budgets.shape, np.nan)
        cum = np.cumsum(row) / total
        return np.interp(budgets, self.edges_ms.astype(float), cum, left=cum[0], right=1.0)

    def quantile(self, q, source: str = ALL, by: str = "count") -> np.ndarray:
        """Delay (ms) below which a share ``q`` of events (or value) arrived;
        log-interpolated inside the bin, never above the measured maximum."""
        row = self._row(source, by)
        total = row.sum()
        qs = np.atleast_1d(np.asarray(q, dtype=float))
        if total <= 0:
            return np.full(qs.shape, np.nan)
        cum = np.cumsum(row)
        k = np.minimum(np.searchsorted(cum, qs * total, side="left"), row.size - 1)
        hi = self.edges_ms[k].astype(float)
        lo = np.where(k > 0, self.edges_ms[np.maximum(k - 1, 0)], 0).astype(float)
        before = np.where(k > 0, cum[np.maximum(k - 1, 0)], 0.0)
        frac = np.clip((qs * total - before) / np.maximum(row[k], 1e-300), 0, 1)
        lo_safe = np.maximum(lo, 1.0)
        est = np.where(k == 0, 0.0, lo_safe * (np.maximum(hi, lo_safe) / lo_safe) ** frac)
        return np.minimum(est, self.max_delay_ms(source))

    def rate_per_ms(self, source: str = ALL) -> float:
        """Events per ms of processing time over the span the data covers."""
        first = self._stat(source, self.first_arrival_ms, np.min)
        last = self._stat(source, self.last_arrival_ms, np.max)
        return self.total(source) / max(last - first, 1.0)

    def curve(self, source: str = ALL, by: str = "count") -> pd.DataFrame:
        """The arrival curve: share arrived within each grid delay (for ECDF charts)."""
        row = self._row(source, by)
        total = row.sum() or np.nan
        return pd.DataFrame({"delay_ms": self.edges_ms, "share": np.cumsum(row) / total})


def _codes(source: pd.Series) -> tuple[np.ndarray, tuple[str, ...]]:
    if isinstance(source.dtype, pd.CategoricalDtype):
        return source.cat.codes.to_numpy().astype(np.int64), tuple(map(str, source.cat.categories))
    codes, uniques = pd.factorize(source, sort=True)
    return codes.astype(np.int64), tuple(map(str, uniques))


def _weights(events: pd.DataFrame) -> np.ndarray | None:
    if "amount_cents" in events:
        return np.abs(events["amount_cents"].to_numpy(dtype=np.float64))
    if "amount" in events:
        return np.abs(events["amount"].to_numpy(dtype=np.float64)) * 100
    return None


def _extremes(delay, codes, merged, counts) -> tuple[np.ndarray, np.ndarray]:
    """Exact per-source max and min delay, looking only at the elements of each
    source's highest and lowest non-empty bin (ufunc.at over all rows is slow)."""
    k = counts.shape[0]
    filled = counts > 0
    top = np.where(filled.any(axis=1), counts.shape[1] - 1 - np.argmax(filled[:, ::-1], axis=1), 0)
    bottom = np.argmax(filled, axis=1)
    mx = np.full(k, np.iinfo(np.int64).min, dtype=np.int64)
    mn = np.full(k, np.iinfo(np.int64).max, dtype=np.int64)
    hi = np.flatnonzero(merged == top[codes])
    lo = np.flatnonzero(merged == bottom[codes])
    np.maximum.at(mx, codes[hi], delay[hi])
    np.minimum.at(mn, codes[lo], delay[lo])
    return mx, mn


def lateness_profile(
    events: pd.DataFrame, extra_points_ms=(), dedup: bool = False
) -> LatenessProfile:
    """Measure ``events`` (columns source, event_time_ms, arrival_time_ms and
    optionally amount_cents/amount, event_id). ``dedup`` keeps the first arrival of
    each event_id (raw simulator output with retries); the store's log is
    already de-duplicated. ``extra_points_ms`` become exact capture points."""
    if dedup and "event_id" in events:
        events = events.loc[~events["event_id"].duplicated(keep="first")]
    codes, names = _codes(events["source"])
    event_ms = events["event_time_ms"].to_numpy(dtype=np.int64)
    delay = events["arrival_time_ms"].to_numpy(dtype=np.int64) - event_ms
    points = np.asarray([*CAPTURE_POINTS_MS, *HUMAN_STEPS_MS, *extra_points_ms], dtype=np.int64)
    edges = np.unique(np.concatenate([_FINE, points[points > 0]]))
    # fine bin -> first merged edge that can hold it, then step over exact points
    fine = _fine_code(delay)
    lut = np.searchsorted(edges, np.concatenate([[0], _FINE[:-1] + 1]), side="left")
    per_fine = np.diff(np.searchsorted(edges, _FINE, side="right"), prepend=0)
    merged = lut[fine]
    for _ in range(int(per_fine.max()) - 1):
        merged += delay > edges[np.minimum(merged, edges.size - 1)]
    merged = np.minimum(merged, edges.size - 1)
    k, nb = len(names), edges.size
    flat = codes * nb + merged
    counts = np.bincount(flat, minlength=k * nb).reshape(k, nb)
    weights = _weights(events)
    values = (
        np.bincount(flat, weights=weights, minlength=k * nb).reshape(k, nb)
        if weights is not None
        else np.zeros((k, nb))
    )
    mx, mn = _extremes(delay, codes, merged, counts)
    arrival_span = (
        (int(event_ms.min() + delay.min()), int(event_ms.max() + delay.max()))
        if delay.size
        else (0, 0)
    )
    first = np.full(k, arrival_span[0], dtype=np.int64)
    last = np.full(k, arrival_span[1], dtype=np.int64)
    keep = counts.sum(axis=1) > 0
    return LatenessProfile(
        sources=tuple(n for n, ok in zip(names, keep, strict=True) if ok),
        edges_ms=edges,
        counts=counts[keep],
        values=values[keep],
        max_ms=mx[keep],
        min_ms=mn[keep],
        first_arrival_ms=first[keep],
        last_arrival_ms=last[keep],
    )


def summary(profile: LatenessProfile, by: str = "count") -> pd.DataFrame:
    """Per source and overall: events, value, p50/p90/p99/p99.9/max delay (ms),
    weighted by count or value, and the share with a negative delay (clock skew)."""
    rows = []
    for src in profile.rows():
        qs = profile.quantile(QUANTILES, src, by)
        row = {
            "source": src,
            "events": int(profile.total(src, "count")),
            "value": profile.total(src, "value") / 100,
            **{f"p{q * 100:g}_ms": v for q, v in zip(QUANTILES, qs, strict=True)},
            "max_ms": profile.max_delay_ms(src),
            "negative_share": float(profile._row(src, "count")[0] / max(profile.total(src), 1)),
        }
        rows.append(row)
    return pd.DataFrame(rows)


def capture_table(
    profile: LatenessProfile, budgets_ms=CAPTURE_POINTS_MS, by: str = "count"
) -> pd.DataFrame:
    """Rows: sources + 'all'; columns: one per budget (labelled '30s', '5m', ...),
    the share of events (or value) whose delay is within it."""
    labels = [format_duration_ms(b) for b in budgets_ms]
    data = {src: profile.capture(budgets_ms, src, by) for src in profile.rows()}
    return pd.DataFrame.from_dict(data, orient="index", columns=labels).rename_axis("source")


def cost(
    profile: LatenessProfile,
    allowed_lateness_ms: float,
    window_ms: float = HOUR_MS,
    watermark_delay_ms: float = 0.0,
    source: str = ALL,
) -> dict:
    """What an allowed lateness costs for tumbling windows of ``window_ms``.

    - ``result_wait_ms``: the on-time result of a window is emitted when the
      watermark passes its end, i.e. ``watermark_delay_ms`` after the end (the
      allowed lateness adds later *updates*, it does not delay the first result);
    - ``final_after_ms``: the window's state is dropped (result final for the
      streaming path) ``watermark_delay_ms + allowed_lateness_ms`` after its end;
    - ``windows_open``: windows per group whose state is held at once,
      ``ceil((window + delay + lateness) / window)``;
    - ``events_in_state``: windows open x events per window (measured rate) —
      the state held if windows keep their events (non-additive metrics,
      recompute); additive aggregates hold one accumulator per window instead.
    """
    held = window_ms + watermark_delay_ms + allowed_lateness_ms
    windows_open = int(np.ceil(held / window_ms))
    per_window = profile.rate_per_ms(source) * window_ms
    return {
        "result_wait_ms": float(watermark_delay_ms),
        "final_after_ms": float(watermark_delay_ms + allowed_lateness_ms),
        "windows_open": windows_open,
        "events_per_window": per_window,
        "events_in_state": windows_open * per_window,
    }


def recommend(
    profile: LatenessProfile,
    target: float = 0.99,
    by: str = "value",
    window_ms: float = HOUR_MS,
    watermark_delay_ms: float = 0.0,
    steps_ms=HUMAN_STEPS_MS,
) -> pd.DataFrame:
    """Per source (and 'all', the single global setting): the smallest human step
    whose capture reaches ``target``, weighted ``by`` value or count.

    ``delay_budget_ms`` is that step; ``allowed_lateness_ms`` is what to
    configure on top of a watermark delay (budget - delay, not below 0). If no
    step reaches the target, the largest step is returned with ``reached`` False.
    Sources without any value fall back to count weighting (``weighted_by``).
    """
    if not 0 < target <= 1:
        raise ValueError("target capture must be in (0, 1]")
    steps = np.asarray(sorted(steps_ms), dtype=float)
    rows = []
    for src in profile.rows():
        weigh = by if by == "count" or profile.total(src, "value") > 0 else "count"
        cap = profile.capture(steps, src, weigh)
        ok = np.flatnonzero(cap >= target - 1e-12)
        i = int(ok[0]) if ok.size else steps.size - 1
        budget = float(steps[i])
        lateness = max(0.0, budget - watermark_delay_ms)
        c = cost(profile, lateness, window_ms, watermark_delay_ms, src)
        rows.append(
            {
                "source": src,
                "weighted_by": weigh,
                "target": target,
                "delay_budget_ms": budget,
                "allowed_lateness_ms": lateness,
                "allowed_lateness": format_duration_ms(lateness),
                "reached": bool(ok.size),
                "capture_count": float(profile.capture(budget, src, "count")[0]),
                "capture_value": float(profile.capture(budget, src, "value")[0]),
                "p99_ms": float(profile.quantile(0.99, src, weigh)[0]),
                "windows_open": c["windows_open"],
                "events_in_state": c["events_in_state"],
            }
        )
    return pd.DataFrame(rows)


def drift(
    events: pd.DataFrame,
    now_ms: int,
    recent_days: float = 1,
    baseline_days: float = 14,
    factor: float = 2.0,
    q: float = 0.99,
    by: str = "count",
    min_events: int = 200,
) -> pd.DataFrame:
    """Compare each source's delay quantile ``q`` over the last ``recent_days``
    with the ``baseline_days`` before them; flag a move by more than ``factor``
    either way.

    Periods are selected by *arrival* time, not event time: selecting recent
    events by event time would miss their not-yet-arrived slow tail and always
    make the recent period look faster than it is.
    """
    arrival = events["arrival_time_ms"].to_numpy()
    cut = now_ms - recent_days * DAY_MS
    base_from = cut - baseline_days * DAY_MS
    recent = events.loc[(arrival > cut) & (arrival <= now_ms)]
    base = events.loc[(arrival > base_from) & (arrival <= cut)]
    prof_r, prof_b = lateness_profile(recent), lateness_profile(base)
    rows = []
    for src in sorted(set(prof_r.sources) | set(prof_b.sources)):
        n_r = prof_r.total(src) if src in prof_r.sources else 0
        n_b = prof_b.total(src) if src in prof_b.sources else 0
        p_r = prof_r.quantile(q, src, by)[0] if n_r else np.nan
        p_b = prof_b.quantile(q, src, by)[0] if n_b else np.nan
        ratio = p_r / p_b if n_r and n_b and p_b > 0 else np.nan
        enough = n_r >= min_events and n_b >= min_events
        flagged = bool(enough and np.isfinite(ratio) and (ratio > factor or ratio < 1 / factor))
        rows.append(
            {
                "source": src,
                "recent_events": int(n_r),
                "baseline_events": int(n_b),
                f"recent_p{q * 100:g}_ms": p_r,
                f"baseline_p{q * 100:g}_ms": p_b,
                "ratio": ratio,
                "flagged": flagged,
                "direction": ("slower" if ratio > 1 else "faster") if flagged else "",
            }
        )
    return pd.DataFrame(rows)
