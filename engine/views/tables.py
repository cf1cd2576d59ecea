"""The dashboard's numbers as plain tables to download: a day's hours, the recent
days, a window's version history, an Explain breakdown with its events.

Why a module: a downloaded table must say what it holds without the page around it —
human column names with their unit (``revenue_usd``), times as ISO 8601 with the
offset of the business zone, tiers and versions next to every number — and it must
hold the same numbers the store returns (tests compare them). Pages pass these to
``ui.exports.download_buttons`` (formula-safe CSV, Excel, Parquet via
``engine.views.export``). No Streamlit here.
"""

from __future__ import annotations

import pandas as pd

from engine.views.dashboard import local_datetime

MONEY = {
    "revenue_cents": "revenue_usd",
    "avg_order_value_cents": "avg_order_value_usd",
    "median_order_value_cents": "median_order_value_usd",
}


def _iso(ms_values, tz: str) -> list[str | None]:
    return [
        None
        if v is None or pd.isna(v)
        else local_datetime(int(v), tz).isoformat(timespec="seconds")
        for v in ms_values
    ]


def _usd(cents: pd.Series) -> pd.Series:
    return (pd.to_numeric(cents, errors="coerce") / 100).round(2)


def _metrics(frame: pd.DataFrame, out: dict, prefix: str = "") -> None:
    for col in ("revenue_cents", "orders", "items"):
        name = prefix + col
        if name not in frame:
            continue
        if col in MONEY:
            out[prefix + MONEY[col]] = _usd(frame[name])
        else:
            out[name] = frame[name].astype("int64")
    if prefix:
        return
    # the non-additive metrics when the page read them (the chart metric): per row, as read
    for col in ("avg_order_value_cents", "median_order_value_cents", "distinct_users"):
        if col in frame:
            values = pd.to_numeric(frame[col], errors="coerce")
            out[MONEY.get(col, col)] = _usd(values) if col in MONEY else values.astype("Int64")


def day_hours_table(hours: pd.DataFrame, tz: str) -> pd.DataFrame:
    """``dashboard.day_hours`` as a table: one row per hourly window that has fired."""
    out: dict = {
        "hour_start": _iso(hours["window_start_ms"], tz),
        "tier": hours["tier"].astype(str),
        "versions": hours["versions"].astype("int64"),
    }
    _metrics(hours, out)
    return pd.DataFrame(out)


def days_table(days: pd.DataFrame) -> pd.DataFrame:
    """``dashboard.recent_days`` as a table: one row per business day."""
    out: dict = {
        "business_day": [str(d) for d in days["day"]],
        "tier": days["tier"].astype(str),
        "versions": days["versions"].astype("int64"),
    }
    _metrics(days, out)
    return pd.DataFrame(out)


def version_history_table(history: pd.DataFrame, tz: str) -> pd.DataFrame:
    """``Store.history_frame`` as a table: every version with its change."""
    out: dict = {
        "window_start": _iso(history["window_start_ms"], tz),
        "window_end": _iso(history["window_end_ms"], tz),
        "sources": history["grp"].map(lambda g: "all" if g == "*" else g),
        "version": history["version"].astype("int64"),
        "computed_at": _iso(history["processing_time_ms"], tz),
        "tier": history["tier"].astype(str),
        "reason": history["reason"].astype(str),
        "watermark": _iso(history["watermark_ms"], tz),
    }
    _metrics(history, out)
    _delta = {}
    _metrics(history, _delta, prefix="delta_")
    out.update(_delta)
    out["events"] = history["event_count"].astype("int64")
    return pd.DataFrame(out)


def explain_breakdown_table(breakdown: pd.DataFrame) -> pd.DataFrame:
    """An Explain breakdown (by source and arrival-delay bucket) as a table."""
    out: dict = {
        "source": breakdown["source"].astype(str),
        "arrival_delay": breakdown["delay_bucket"].astype(str),
        "events_net": breakdown["n_events"].astype("int64"),
    }
    _metrics(breakdown, out)
    return pd.DataFrame(out)


def explain_events_table(events: pd.DataFrame, tz: str) -> pd.DataFrame:
    """The events behind an Explain change: sign +1 counted, −1 removed by a recompute."""
    return pd.DataFrame(
        {
            "version": events["version"].astype("int64"),
            "sign": events["sign"].astype("int64"),
            "event_id": events["event_id"].astype(str),
            "source": events["source"].astype(str),
            "event_type": events["event_type"].astype(str),
            "amount_usd": _usd(events["amount_cents"]),
            "items": events["items"].astype("int64"),
            "event_time": _iso(events["event_time_ms"], tz),
            "arrival_time": _iso(events["arrival_time_ms"], tz),
            "arrival_delay_s": (events["arrival_time_ms"] - events["event_time_ms"]) / 1000,
        }
    )


# -- job results in words ----------------------------------------------------------------
COUNT_LABELS = {
    "abs_diff_revenue_cents": "revenue differing from streaming",
    "windows_changed_vs_streaming": "windows changed vs streaming",
    "versions_written": "versions written",
    "run_ms": "run time",
    "existing_job": "already done by job",
    "job_id": "job",
    "status": "status",
}


def count_label(key: str) -> str:
    """A job counter's name in words ('abs_diff_revenue_cents' -> 'revenue differing
    from streaming'); unknown names lose their underscores and unit suffix."""
    if key in COUNT_LABELS:
        return COUNT_LABELS[key]
    return key.removesuffix("_cents").removesuffix("_ms").replace("_", " ")


def count_text(key: str, value) -> str:
    """A job counter's value with its unit: cents as dollars, ms as a duration."""
    from engine.core.timeutil import format_duration_ms

    if value is None or (isinstance(value, float) and value != value):
        return "—"
    if key.endswith("_cents"):
        return f"${value / 100:,.2f}"
    if key.endswith("_ms"):
        return format_duration_ms(int(value))
    if key in ("existing_job", "job_id"):
        return f"#{value}"
    return f"{value:,}" if isinstance(value, int | float) else str(value)


def describe_counts(counts: dict) -> str:
    """A job's counters as one line: 'versions written 24, revenue differing from
    streaming $12.40'."""
    return ", ".join(f"{count_label(k)} {count_text(k, v)}" for k, v in counts.items())


def job_results_table(rows: list[dict]) -> pd.DataFrame:
    """Rows of {"Day", "Series", status, job_id, counters…} (Operations' finalize and
    reprocess results) with the counters named and formatted."""
    out = []
    for row in rows:
        fixed = {k: row[k] for k in ("Day", "Series") if k in row}
        rest = {k: v for k, v in row.items() if k not in fixed}
        out.append(
            {**fixed, **{count_label(k).capitalize(): count_text(k, v) for k, v in rest.items()}}
        )
    return pd.DataFrame(out)


__all__ = [
    "count_label",
    "count_text",
    "day_hours_table",
    "describe_counts",
    "job_results_table",
    "days_table",
    "explain_breakdown_table",
    "explain_events_table",
    "version_history_table",
]
