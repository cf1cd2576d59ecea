"""How complete is a window now, what will its final be, and how good are we at saying so.

Why: a live number without "how complete is it" invites wrong decisions. From
history we know how much of a source's value has usually arrived by a given
age of a window (age = processing time - window end; negative while the window
is still open), so we can say "~95 % complete, projected final $1.07 M ± 1.5 %"
and check that claim against the finals that later arrived.

Model (``CompletenessModel``), fitted at a processing time ``as_of_ms`` from
the trailing ``history_windows`` windows that are *mature* (``end +
mature_ms <= as_of_ms``; their value by ``mature_ms`` counts as final, the T+7
tier):

- the window-level arrival curve of each source, ``c_s(age) = sum observed_s(age)
  / sum final_s`` — it folds in both the delay distribution and how event
  times spread over the window (diurnal traffic), so no traffic model is needed;
- each source's share of the final value;
- a calibrated interval (split-conformal, per age): every past window's projection
  is replayed as it would have been made at ``end + age`` — from a model fitted
  only on windows that were mature by then — and its error against the final it
  later got is kept (``residual_table``). The 90 % interval at an age spans the
  conformal quantiles of those out-of-sample errors (the ⌊(n+1)·5 %⌋-th and
  ⌈(n+1)·95 %⌉-th of n), which holds 90 % coverage whenever the past windows are
  exchangeable with the next one. From 9 to 18 errors the bound is the conformal
  quantile of |error| on both sides; with fewer than 9 no finite calibrated bound
  exists, so the interval is twice the largest error seen or the share still
  missing, whichever is wider, and labelled not calibrated.
  ``coverage`` is what was measured: how often past finals fell inside the
  interval they would have been given at that age.

Projection at age ``a``: sources whose curve has reached ``min_ratio`` are
scaled up, ``observed_s / c_s(a)``; sources that are still mostly missing
(partner files before the morning delivery, manual corrections) are projected
from their usual share relative to the reliable ones. The projection is never
below the observed value (the interval may be: refunds and corrections arriving
later can bring a final below it); at ``age >=
mature_ms`` (or when the curves say everything has arrived) completeness is 1.0.

``backtest`` replays this from an events frame alone: final = what the window holds
at ``end + mature_ms`` (the final tier's number; later arrivals become adjustments);
observed at age ``a`` = events with ``arrival <= end + a``; the model used at that
moment sees only windows mature by then.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.analysis.arrivals import (
    BACKTEST_AGES_MS,
    MATURE_MS,
    WindowArrivals,
    _cents,
    age_grid,
    project_with,
    window_arrivals,
)
from engine.analysis.calibration import (
    SYMMETRIC_MIN,
    ResidualTable,
    bounds,
    measured_coverage,
    residual_table,
)
from engine.analysis.lateness import lateness_profile
from engine.core.timeutil import DAY_MS, format_duration_ms, format_ms

__all__ = [
    "BACKTEST_AGES_MS",
    "MATURE_MS",
    "CompletenessModel",
    "Estimate",
    "WindowArrivals",
    "age_grid",
    "arrival_curves",
    "backtest",
    "backtest_detail",
    "estimate_window",
    "window_arrivals",
]


@dataclass(frozen=True)
class Estimate:
    """A window's completeness now and its projected final (dollars)."""

    window_start_ms: int
    window_end_ms: int
    now_ms: int
    observed: float
    completeness: float
    projected: float
    low: float
    high: float
    # (sources, observed cents, usual completeness, projected cents) per source: the
    # frame ``by_source`` is built only when read (the API's estimate never reads it,
    # and a DataFrame costs more than the whole projection)
    per_source: tuple = field(repr=False)
    errors_n: int = 0  # past out-of-sample errors behind the interval
    coverage: float | None = None  # measured: past finals inside their interval at this age
    coverage_n: int = 0  # past windows behind ``coverage``

    @property
    def by_source(self) -> pd.DataFrame:
        """Per source: observed, usual completeness at this age, projected (dollars)."""
        sources, obs, ratio, projected = self.per_source
        return pd.DataFrame(
            {
                "source": sources,
                "observed": obs / 100,
                "usual_completeness": ratio,
                "projected": projected / 100,
            }
        )

    @property
    def calibrated(self) -> bool:
        """The interval is a calibrated 90 % interval (enough past errors at this age)."""
        return self.errors_n >= SYMMETRIC_MIN

    def interval_note(self) -> str:
        """One honest sentence about the interval, for captions."""
        if self.low == self.high:
            return "final: every event this window will count has arrived"
        if not self.calibrated:
            return (
                f"not calibrated: only {self.errors_n} past windows to learn the error "
                "from, so the range is deliberately wide"
            )
        note = f"90 % interval calibrated on {self.errors_n} past windows"
        if self.coverage is not None and self.coverage_n:
            note += f"; it held {self.coverage:.0%} of {self.coverage_n} past finals"
        return note

    @property
    def age_ms(self) -> int:
        return self.now_ms - self.window_end_ms

    @property
    def half_width_pct(self) -> float:
        return 50 * (self.high - self.low) / self.projected if self.projected else 0.0

    def label(self) -> str:
        return (
            f"{format_ms(self.window_start_ms)}: ${self.observed:,.0f}, "
            f"~{self.completeness:.0%} complete, projected final ${self.projected:,.0f} "
            f"± {self.half_width_pct:.1f}%"
        )


@dataclass(frozen=True)
class CompletenessModel:
    """See the module docstring. Build with ``CompletenessModel.fit``."""

    window_ms: int
    mature_ms: int
    as_of_ms: int
    sources: tuple[str, ...]
    ages_ms: np.ndarray  # (g,)
    ratio: np.ndarray  # (s, g) window-level arrival curve per source
    share: np.ndarray  # (s,) share of final value
    err_lo: np.ndarray  # (g,) lower conformal bound of final/projected - 1
    err_hi: np.ndarray  # (g,) upper bound
    history_windows: int
    min_ratio: float = 0.5
    errors_n: np.ndarray | None = None  # (g,) out-of-sample errors behind each bound
    coverage: np.ndarray | None = None  # (g,) measured share of past finals in their interval
    coverage_n: np.ndarray | None = None  # (g,) past windows that measurement used

    @classmethod
    def fit(
        cls,
        arrivals: WindowArrivals,
        as_of_ms: int,
        history_windows: int = 28,
        mature_ms: int = MATURE_MS,
        min_ratio: float = 0.5,
        residuals: ResidualTable | None = None,
        measure_coverage: bool = False,
    ) -> CompletenessModel:
        """``residuals``: a ``residual_table`` of the same arrivals and settings, to
        share between many fits (the backtest); ``measure_coverage`` also replays how
        often past finals fell inside their interval (the dashboard shows it)."""
        ages = arrivals.ages_ms
        gm = int(np.searchsorted(ages, mature_ms))
        if gm >= ages.size or ages[gm] != mature_ms:
            raise ValueError(
                "mature_ms must be one of the measured ages (pass it in extra_ages_ms)"
            )
        mature = np.flatnonzero(arrivals.ends_ms + mature_ms <= as_of_ms)[-history_windows:]
        obs = arrivals.observed[mature][:, :, : gm + 1]  # (h, s, g') known at as_of
        fin = obs[:, :, gm]  # (h, s)
        fin_sum = fin.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(fin_sum[:, None] > 0, obs.sum(axis=0) / fin_sum[:, None], 0.0)
            share = fin_sum / fin_sum.sum() if fin_sum.sum() > 0 else np.zeros_like(fin_sum)
        model = cls(
            window_ms=arrivals.window_ms,
            mature_ms=mature_ms,
            as_of_ms=as_of_ms,
            sources=arrivals.sources,
            ages_ms=ages[: gm + 1],
            ratio=ratio,
            share=share,
            err_lo=np.zeros(gm + 1),
            err_hi=np.zeros(gm + 1),
            history_windows=int(mature.size),
            min_ratio=min_ratio,
        )
        if mature.size == 0:
            return model
        table = residuals or residual_table(arrivals, history_windows, mature_ms, min_ratio)
        missing = 1 - np.clip((model.ratio * model.share[:, None]).sum(axis=0), 0, 1)
        lo, hi, n = bounds(table.errors[mature], missing)
        cov, cov_n = measured_coverage(table, mature, missing) if measure_coverage else (None, None)
        return cls(
            **{
                **model.__dict__,
                "err_lo": lo,
                "err_hi": hi,
                "errors_n": n,
                "coverage": cov,
                "coverage_n": cov_n,
            }
        )

    def _project(self, obs: np.ndarray, gi: int) -> tuple[np.ndarray, np.ndarray]:
        """obs (n, s) cents at grid age index gi -> (projected totals (n,), per source (n, s))."""
        return project_with(self.ratio[:, gi], self.share, self.min_ratio, obs)

    def _age_index(self, age_ms: int) -> int | None:
        """Grid index at or just below ``age_ms`` (conservative); None once mature."""
        if age_ms >= self.mature_ms:
            return None
        return max(int(np.searchsorted(self.ages_ms, age_ms, side="right")) - 1, 0)

    def project(
        self, observed_cents: dict | np.ndarray, window_start_ms: int, now_ms: int
    ) -> Estimate:
        """Estimate for one window from what has arrived by ``now_ms`` per source
        (a mapping source -> cents, or an array aligned with ``self.sources``)."""
        if isinstance(observed_cents, dict):
            unknown = set(observed_cents) - set(self.sources)
            obs = np.array([float(observed_cents.get(s, 0)) for s in self.sources])
            extra = float(sum(observed_cents[s] for s in unknown))
        else:
            obs, extra = np.asarray(observed_cents, dtype=float), 0.0
        end = window_start_ms + self.window_ms
        gi = self._age_index(now_ms - end)
        observed = obs.sum() + extra
        ratio = np.ones(len(self.sources))
        errors_n, coverage, coverage_n = 0, None, 0
        if gi is None or self.history_windows == 0:
            total, per_source, lo_e, hi_e = observed, obs, 0.0, 0.0
        else:
            tot, ps = self._project(obs[None, :], gi)
            total, per_source = float(tot[0]) + extra, ps[0]
            lo_e, hi_e = float(self.err_lo[gi]), float(self.err_hi[gi])
            ratio = self.ratio[:, gi]
            if self.errors_n is not None:
                errors_n = int(self.errors_n[gi])
            if self.coverage is not None and self.coverage_n[gi]:
                coverage, coverage_n = float(self.coverage[gi]), int(self.coverage_n[gi])
        total = max(total, observed)
        # The projection never goes below what has been observed, but the interval
        # may: refunds and corrections arriving later can bring the final below it.
        # The interval always contains the projection itself.
        low = min(total, total * (1 + lo_e))
        high = max(total, total * (1 + hi_e))
        completeness = observed / total if total > 0 else 1.0
        by_source = (self.sources, obs, ratio, np.maximum(per_source, obs))
        return Estimate(
            window_start_ms=window_start_ms,
            window_end_ms=end,
            now_ms=now_ms,
            observed=observed / 100,
            completeness=float(min(completeness, 1.0)),
            projected=total / 100,
            low=low / 100,
            high=high / 100,
            per_source=by_source,
            errors_n=errors_n,
            coverage=coverage,
            coverage_n=coverage_n,
        )


def estimate_window(
    events: pd.DataFrame,
    window_start_ms: int,
    now_ms: int,
    window_ms: int = DAY_MS,
    history_windows: int = 28,
    mature_ms: int = MATURE_MS,
) -> Estimate:
    """One call for the dashboard: fit on ``events`` as known at ``now_ms``
    (arrivals after ``now_ms`` are ignored) and estimate the window."""
    known = events.loc[events["arrival_time_ms"].to_numpy() <= now_ms]
    arrivals = window_arrivals(known, window_ms, offset_ms=window_start_ms % window_ms)
    model = CompletenessModel.fit(
        arrivals, now_ms, history_windows, mature_ms, measure_coverage=True
    )
    in_window = (known["event_time_ms"] >= window_start_ms) & (
        known["event_time_ms"] < window_start_ms + window_ms
    )
    cents = pd.Series(_cents(known.loc[in_window]), index=known.index[in_window])
    observed = cents.groupby(known.loc[in_window, "source"].astype(str)).sum().to_dict()
    return model.project(observed, window_start_ms, now_ms)


def arrival_curves(events: pd.DataFrame, by: str = "value") -> pd.DataFrame:
    """Event-level arrival curves for charts: per source, the share of value (or
    count) that arrived within each delay. Long form: source, delay_ms, share."""
    profile = lateness_profile(events)
    parts = [profile.curve(src, by).assign(source=src) for src in profile.rows()]
    return pd.concat(parts, ignore_index=True)[["source", "delay_ms", "share"]]


def backtest_detail(
    events: pd.DataFrame,
    window_ms: int = DAY_MS,
    ages_ms=BACKTEST_AGES_MS,
    history_windows: int = 28,
    mature_ms: int = MATURE_MS,
    min_history: int = 3,
    offset_ms: int = 0,
) -> pd.DataFrame:
    """One row per (window, age): the projection made at ``end + age`` with only
    what was known then, against the final (what the window holds at ``end +
    mature_ms``, the final tier's number). Windows are used when their final is
    known: ``end + mature_ms <= last arrival``."""
    arrivals = window_arrivals(events, window_ms, offset_ms, extra_ages_ms=(*ages_ms, mature_ms))
    last_arrival = int(events["arrival_time_ms"].max()) if len(events) else 0
    gm = int(np.searchsorted(arrivals.ages_ms, mature_ms))
    finals = arrivals.observed[:, :, gm].sum(axis=1)  # the final tier's number
    table = residual_table(arrivals, history_windows, mature_ms)
    rows = []
    for age in ages_ms:
        gi_all = int(np.searchsorted(arrivals.ages_ms, age))
        for wi, end in enumerate(arrivals.ends_ms):
            if end + mature_ms > last_arrival:
                continue
            model = CompletenessModel.fit(
                arrivals, int(end + age), history_windows, mature_ms, residuals=table
            )
            if model.history_windows < min_history:
                continue
            est = model.project(
                arrivals.observed[wi, :, gi_all], int(end - window_ms), int(end + age)
            )
            final = finals[wi] / 100
            rows.append(
                {
                    "window_start_ms": int(end - window_ms),
                    "age_ms": int(age),
                    "history_windows": model.history_windows,
                    "observed": est.observed,
                    "completeness": est.completeness,
                    "true_completeness": est.observed / final if final else np.nan,
                    "projected": est.projected,
                    "low": est.low,
                    "high": est.high,
                    "final": final,
                    "abs_pct_error": abs(est.projected / final - 1) * 100 if final else np.nan,
                    "observed_pct_error": abs(est.observed / final - 1) * 100 if final else np.nan,
                    "in_interval": bool(est.low <= final <= est.high),
                    "calibrated": est.calibrated,
                    "final_below_observed": bool(final < est.observed),
                }
            )
    return pd.DataFrame(rows)


def backtest(events: pd.DataFrame, **kwargs) -> pd.DataFrame:
    """The table the dashboard shows: per age, how far projections landed from
    the finals (median and p90 absolute % error), next to the naive error of
    reading the observed number as final, the share within 2 % and how often
    the interval held the final. ``final_below_observed`` is the share of windows
    whose final came out below what was already observed (net refunds arriving
    later) — the projection never goes below the observed value, the interval can.
    Arguments as ``backtest_detail``."""
    detail = backtest_detail(events, **kwargs)
    columns = [
        "age",
        "age_ms",
        "windows",
        "median_abs_pct_error",
        "p90_abs_pct_error",
        "within_2pct",
        "interval_coverage",
        "final_below_observed",
        "median_observed_pct_error",
        "median_completeness",
    ]
    if detail.empty:
        return pd.DataFrame(columns=columns)
    out = (
        detail.groupby("age_ms")
        .agg(
            windows=("final", "size"),
            median_abs_pct_error=("abs_pct_error", "median"),
            p90_abs_pct_error=("abs_pct_error", lambda s: s.quantile(0.9)),
            within_2pct=("abs_pct_error", lambda s: (s <= 2).mean()),
            interval_coverage=("in_interval", "mean"),
            final_below_observed=("final_below_observed", "mean"),
            median_observed_pct_error=("observed_pct_error", "median"),
            median_completeness=("completeness", "median"),
        )
        .reset_index()
    )
    out.insert(0, "age", out["age_ms"].map(format_duration_ms))
    return out[columns]
