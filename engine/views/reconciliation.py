"""Reconciliation: the streaming number next to the batch ones, and what was booked later.

Why: the speed layer answers in seconds and the batch layer answers right. Teams that
run both (LinkedIn's and Uber's practice) watch how far apart they are, per day and
metric, and which sources the difference came from — a growing gap means a source got
later or a policy is too tight. After a day is final, later events are adjustments
booked to the open period; they must be visible, not only in the CLI.

Per window and group, from its versions (``engine.store.reconciliation``):
- **streaming**: the last streaming pane (early, on time or late) before the first
  batch or patch version — what the live dashboard said before any batch touched it;
- **preliminary**: the last version of the preliminary tier (T+1 recompute and the
  patches after it);
- **final**: the first version of the final tier (T+7).
Differences are later minus earlier, relative to the earlier number.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from engine.core.timeutil import business_day_bounds, business_day_of
from engine.runtime.finalize import STREAMING_REASONS
from engine.store import alerts as store_alerts
from engine.store import reconciliation as reads
from engine.store.db import Store
from engine.store.schema import ADDITIVE_COLUMNS, METRIC_COLUMNS
from engine.views import more_metrics

STAGES = ("streaming", "preliminary", "final")
PAIRS = (("streaming", "preliminary"), ("streaming", "final"), ("preliminary", "final"))
ALL = "*"


def stage_values(versions: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per (window, group): each stage's value and version (NaN where the
    window has not reached that stage), the latest tier, and the differences."""
    if metric not in METRIC_COLUMNS:
        raise ValueError(f"unknown metric {metric!r}; one of {', '.join(METRIC_COLUMNS)}")
    keys = ["window_start_ms", "window_end_ms", "grp"]
    columns = [
        *keys,
        "tier_now",
        "latest",
        *(f"{s}{x}" for s in STAGES for x in ("", "_version")),
    ]
    if versions.empty:
        return _with_differences(pd.DataFrame(columns=columns))
    v = versions.sort_values([*keys, "version"])
    streaming_reason = v["reason"].isin(STREAMING_REASONS)
    first_batch = (
        v["version"].where(~streaming_reason).groupby([v[k] for k in keys]).transform("min")
    )
    picks = {
        "streaming": v[streaming_reason & ~(v["version"] >= first_batch)],
        "preliminary": v[v["tier"] == "preliminary"],
        "final": v[v["tier"] == "final"],
    }
    out = v.groupby(keys, sort=True).agg(tier_now=("tier", "last"), latest=(metric, "last"))
    out = out.reset_index()
    for stage, rows in picks.items():
        take = rows.groupby(keys).head(1) if stage == "final" else rows.groupby(keys).tail(1)
        part = take[[*keys, metric, "version"]].rename(
            columns={metric: stage, "version": f"{stage}_version"}
        )
        out = out.merge(part, on=keys, how="left")
    return _with_differences(out[columns])


def _with_counted(store: Store, series: str, versions: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``versions`` with a non-additive ``metric`` filled in for the versions the stages
    pick (streaming, preliminary, final, latest) where the row does not hold it: over the
    events each of those versions counted (``more_metrics.window_metrics``)."""
    if metric in ADDITIVE_COLUMNS or metric not in METRIC_COLUMNS or versions.empty:
        return versions  # an unknown metric is refused by stage_values
    picked = stage_values(versions, "events")
    keys = ["window_start_ms", "grp"]
    latest = versions.groupby(keys)["version"].max().rename("latest_version").reset_index()
    picked = picked.merge(latest, on=keys, how="left")
    wanted = set()
    for col in ("streaming_version", "preliminary_version", "final_version", "latest_version"):
        for ws, g, v in zip(picked["window_start_ms"], picked["grp"], picked[col], strict=True):
            if not pd.isna(v):
                wanted.add((int(ws), g, int(v)))
    out = versions.copy()
    out[metric] = pd.to_numeric(out[metric], errors="coerce").astype("float64")
    hit = np.array(
        [
            (int(w), g, int(v)) in wanted
            for w, g, v in zip(out["window_start_ms"], out["grp"], out["version"], strict=True)
        ],
        dtype=bool,
    )
    for g in sorted({g for _, g, _ in wanted}):
        rows = out[hit & (out["grp"] == g).to_numpy()]
        filled = more_metrics.window_metrics(store, series, g, rows, [metric])
        out.loc[filled.index, metric] = filled[metric]
    return out


def _with_differences(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for a, b in PAIRS:
        va = pd.to_numeric(frame[a], errors="coerce").astype(float)
        vb = pd.to_numeric(frame[b], errors="coerce").astype(float)
        frame[f"diff_{a}_{b}"] = vb - va
        with np.errstate(divide="ignore", invalid="ignore"):
            frame[f"pct_{a}_{b}"] = np.where(va != 0, (vb - va) / va.abs(), np.nan)
    return frame


def reconciliation(
    store: Store, series: str, from_ms: int, to_ms: int, metric: str, grp: str = ALL
) -> pd.DataFrame:
    """Per window starting in [from_ms, to_ms) (one group): streaming vs preliminary vs
    final, with absolute and relative differences and the adjustments booked for it
    after it was final (additive metrics; NaN for the others)."""
    versions = reads.versions_in_range(store, series, from_ms, to_ms, grp)
    frame = stage_values(_with_counted(store, series, versions, metric), metric)
    adj = reads.adjustments_between(store, series, grp=grp)
    adj = adj[(adj["window_start_ms"] >= from_ms) & (adj["window_start_ms"] < to_ms)]
    per_window = adj.groupby("window_start_ms").agg(
        adjustment_events=("events", "sum"),
        adjustment_value=(metric, "sum") if metric in ADDITIVE_COLUMNS else ("events", "size"),
    )
    if metric not in ADDITIVE_COLUMNS:
        per_window["adjustment_value"] = np.nan
    frame = frame.merge(per_window, left_on="window_start_ms", right_index=True, how="left")
    frame["adjustment_events"] = frame["adjustment_events"].fillna(0).astype(int)
    return frame.reset_index(drop=True)


def by_source(store: Store, series: str, window_start_ms: int, metric: str) -> pd.DataFrame:
    """Which sources a window's differences came from: each source group's stages and
    differences from its streaming number to its latest one (0 streamed when it showed
    nothing live), and its share of the all-sources difference."""
    versions = reads.versions_in_range(store, series, window_start_ms, window_start_ms + 1)
    frame = stage_values(_with_counted(store, series, versions, metric), metric)
    total = frame[frame["grp"] == ALL]
    sources = frame[frame["grp"] != ALL].copy()
    # A source that showed nothing live (its first version came from a batch or patch
    # job, e.g. a partner file) streamed 0: all of its value is difference.
    streamed = pd.to_numeric(sources["streaming"], errors="coerce").fillna(0.0)
    sources["diff_streaming_latest"] = pd.to_numeric(sources["latest"]) - streamed
    if not total.empty:
        t = total.iloc[0]
        streamed_all = 0.0 if _missing(t["streaming"]) else t["streaming"]
        whole = t["latest"] - streamed_all if not _missing(t["latest"]) else math.nan
        with np.errstate(divide="ignore", invalid="ignore"):
            sources["share_of_difference"] = (
                sources["diff_streaming_latest"] / whole
                if whole and not _missing(whole)
                else np.nan
            )
    else:
        sources["share_of_difference"] = np.nan
    if metric not in ADDITIVE_COLUMNS:  # averages and distinct counts do not add up
        sources["share_of_difference"] = np.nan
    return sources.sort_values("diff_streaming_latest", key=lambda s: -s.abs()).reset_index(
        drop=True
    )


def groups(store: Store, series: str, since_ms: int) -> list[str]:
    """The groups (all sources, each source) with windows since ``since_ms``."""
    return store_alerts.groups(store, series, since_ms)


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x)) or pd.isna(x)


def summary(frame: pd.DataFrame) -> dict:
    """Headline figures of a reconciliation frame: how many windows reached each stage
    and the largest and median absolute relative streaming → final difference."""
    pct = frame["pct_streaming_final"].abs().dropna()
    worst = frame.loc[pct.idxmax()] if len(pct) else None
    return {
        "windows": len(frame),
        "with_preliminary": int(frame["preliminary"].notna().sum()),
        "with_final": int(frame["final"].notna().sum()),
        "median_abs_pct_streaming_final": float(pct.median()) if len(pct) else None,
        "max_abs_pct_streaming_final": float(pct.max()) if len(pct) else None,
        "worst_window_start_ms": int(worst["window_start_ms"]) if worst is not None else None,
        "adjustment_events": int(frame["adjustment_events"].sum()) if len(frame) else 0,
    }


# -- adjustments ----------------------------------------------------------------------
def adjustments_booked(
    store: Store, series: str, period_from_ms: int, period_to_ms: int, grp: str = ALL
) -> pd.DataFrame:
    """Adjustments booked to periods in [from, to), one row per final window they
    belong to: events, additive values, the period and when they were booked."""
    adj = reads.adjustments_between(
        store, series, period_from_ms=period_from_ms, period_to_ms=period_to_ms, grp=grp
    )
    cols = ["window_start_ms", "window_end_ms", "period_start_ms", "final_version"]
    if adj.empty:
        return pd.DataFrame(
            columns=[*cols, *ADDITIVE_COLUMNS, "first_booked_ms", "last_booked_ms", "reasons"]
        )
    return (
        adj.groupby(cols)
        .agg(
            **{c: (c, "sum") for c in ADDITIVE_COLUMNS},
            first_booked_ms=("booked_at_ms", "min"),
            last_booked_ms=("booked_at_ms", "max"),
            reasons=("reason", lambda r: ", ".join(sorted(set(r)))),
        )
        .reset_index()
        .sort_values("window_start_ms")
        .reset_index(drop=True)
    )


def window_adjustments(store: Store, series: str, window_start_ms: int, grp: str = ALL) -> dict:
    """What was booked for one final window after it was final: event count, additive
    totals and the periods it was booked to (empty when nothing came later)."""
    adj = reads.adjustments_between(store, series, window_start_ms=window_start_ms, grp=grp)
    return {
        "events": int(adj["events"].sum()) if len(adj) else 0,
        **{c: int(adj[c].sum()) if len(adj) else 0 for c in ADDITIVE_COLUMNS if c != "events"},
        "periods_ms": sorted(int(p) for p in adj["period_start_ms"].unique()) if len(adj) else [],
    }


def booked_today(store: Store, series: str, now_ms: int, tz: str, grp: str = ALL) -> dict:
    """Adjustments booked to the open period (the business day holding ``now_ms``) for
    earlier final windows: totals and the windows they belong to."""
    start, end = business_day_bounds(business_day_of(now_ms, tz), tz)
    # The totals and windows of ``adjustments_booked`` without its per-window groupby
    # (Today reads this on every run, keyed on the moving clock; the keys are NOT NULL,
    # so one row per distinct window is what the groupby makes).
    adj = reads.adjustments_between(store, series, period_from_ms=start, period_to_ms=end, grp=grp)
    if adj.empty:
        return {"events": 0, "revenue_cents": 0, "windows_ms": []}
    windows = adj[["window_start_ms", "window_end_ms", "period_start_ms", "final_version"]]
    return {
        "events": int(adj["events"].sum()),
        "revenue_cents": int(adj["revenue_cents"].sum()),
        "windows_ms": sorted(int(w) for w in windows.drop_duplicates()["window_start_ms"]),
    }
