"""Streamlit glue of the Learn page: one ``draw_demo`` per demo kind. Each draws a
frame the engine produced (``engine.analysis.lessons`` / ``lesson_demos`` /
``playground``) — no window maths here — and keys its widgets by lesson and step so
every step keeps its own state."""

from __future__ import annotations

from urllib.parse import quote

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from engine.analysis import lesson_demos as demos
from engine.analysis import playground as pg
from engine.analysis import playground_words as words
from engine.analysis.lessons import Lesson, Step, knob_label
from engine.core.timeutil import DAY_MS, HOUR_MS, MINUTE_MS, format_duration_ms
from ui import playfigs
from ui.charts import margin


def show_table(frame: pd.DataFrame, present: bool, config: dict | None = None) -> None:
    """A table: interactive normally (``config``: Streamlit column configs, for widths
    that fit the main column at 1024 px and header help), plain and legible (page
    font) in presenter mode."""
    if present:
        st.table(frame, hide_index=True)
    else:
        st.dataframe(frame, hide_index=True, width="stretch", column_config=config)


BUCKET_SIZES_MS = (15 * MINUTE_MS, 30 * MINUTE_MS, HOUR_MS)
KNOB_NAMES = {
    "watermark_delay_ms": "Watermark delay",
    "idle_ms": "Idle timeout",
    "late_action": "Late action",
    "max_updates": "Max updates per window",
    "allowed_lateness_ms": "Allowed lateness",
}


@st.cache_data(show_spinner="Simulating the blend…")
def _blend(blend: str):
    frame = demos.blend_frame(blend)
    quantiles, capture = demos.lateness_blend(frame)
    return quantiles, capture, demos.requirement_capture(frame)


def draw_demo(lesson: Lesson, step: Step, present: bool) -> None:
    key = f"{lesson.key}_{step.key}"
    kind = step.demo.kind
    if kind == "playground":
        _playground(step, key, present)
    elif kind == "bucketing":
        _bucketing(key, present)
    elif kind == "lateness":
        _lateness(key, present, dict(step.demo.changes).get("blend", "clickstream"))
    elif kind == "patching":
        _patching(present)
    elif kind == "tiers":
        _tiers(key, present)
    elif kind == "ads":
        _ads(present)


def _playground(step: Step, key: str, present: bool) -> None:
    demo = step.demo
    value = None
    if demo.knob and all(isinstance(v, str) for v in demo.knob_values):
        value = st.segmented_control(
            KNOB_NAMES.get(demo.knob, demo.knob),
            list(demo.knob_values),
            default=demo.knob_default(),
            format_func=lambda v: knob_label(demo.knob, v),
            key=f"knob_{key}",
            required=True,
        )
    elif demo.knob:
        values = list(demo.knob_values)
        default = demo.knob_default()
        value = st.select_slider(
            KNOB_NAMES.get(demo.knob, demo.knob),
            options=values,
            value=default if default in values else values[0],
            format_func=lambda v: knob_label(demo.knob, v),
            key=f"knob_{key}",
        )
    run = demo.run(value)
    times = run.times_ms
    t_key = f"t_{key}"
    if st.session_state.get(t_key) not in times:
        st.session_state[t_key] = times[-1]
    t = st.select_slider(
        "Processing time (step through what arrived when)",
        times,
        format_func=pg.clock_text,
        key=t_key,
    )
    snap = run.at(t)
    st.plotly_chart(
        playfigs.playground_figure(run, snap, False, big=present),
        width="stretch",
        key=f"chart_{key}",
    )
    st.caption(
        f"At {pg.clock_text(t)}: watermark {playfigs.watermark_text(snap.watermark_ms)}; "
        f"{len(snap.points)} of {len(run.points)} events arrived; {len(snap.panes)} panes fired."
    )
    counts = snap.counts()
    cols = st.columns(len(pg.POINT_CLASSES))
    for col, klass in zip(cols, pg.POINT_CLASSES, strict=True):
        col.metric(playfigs.POINT_SHORT[klass], counts[klass], help=pg.POINT_LABELS[klass])
    keys = snap.key_table()
    if len(keys):
        st.markdown(
            "**Each key's watermark:** "
            + "; ".join(
                f"{k} {pg.clock_text(w)}" + (" (idle)" if i else "")
                for k, w, i in keys.itertuples(index=False)
            )
            + f" → global {playfigs.watermark_text(snap.watermark_ms)}"
        )
    with st.expander("What happened so far, event by event", expanded=not present):
        lines = words.narrate(run, snap)
        st.markdown("\n".join(f"- {line}" for line in lines) or "Nothing has arrived yet.")
    if not present:
        label = quote(pg.PRESETS[demo.preset].label)
        st.markdown(f"[Open this stream in the Watermark playground](/playground?preset={label})")


def _bucketing(key: str, present: bool) -> None:
    size = st.select_slider(
        "Bucket size",
        BUCKET_SIZES_MS,
        value=HOUR_MS,
        format_func=format_duration_ms,
        key=f"bucket_{key}",
    )
    frame, totals = demos.bucket_demo(size)
    st.plotly_chart(
        playfigs.bucketing_figure(totals, big=present), width="stretch", key=f"bars_{key}"
    )
    moved = frame[frame["moved"]]
    st.caption(
        f"{len(moved)} of {len(frame)} orders land in a different bucket by arrival: "
        + (", ".join(moved["event_id"]) or "none")
        + "."
    )
    show_table(
        pd.DataFrame(
            {
                "order": frame["event_id"],
                "happened": frame["event_time_ms"].map(pg.clock_text),
                "arrived": frame["arrival_time_ms"].map(pg.clock_text),
                "value ($)": frame["value"],
                "bucket by event time": frame["event_window_ms"].map(pg.clock_text),
                "bucket by arrival": frame["processing_window_ms"].map(pg.clock_text),
            }
        ),
        present,
        {"bucket by arrival": st.column_config.TextColumn(help="by processing time")},
    )


def _lateness(key: str, present: bool, default: str) -> None:
    blend = st.segmented_control(
        "Sources",
        list(demos.BLENDS),
        default=default,
        format_func=lambda b: demos.BLENDS[b][0],
        key=f"blend_{key}",
        required=True,
    )
    quantiles, capture, req = _blend(blend or default)
    left, right = st.columns(2)
    left.markdown("**Arrival delay quantiles**")
    with left:
        show_table(
            pd.DataFrame(
                {
                    "quantile": quantiles["quantile"],
                    "measured": quantiles["measured_ms"].map(format_duration_ms),
                    "chapter": quantiles["chapter_ms"].map(format_duration_ms),
                }
            ),
            present,
        )
    right.markdown("**Captured within a wait**")
    with right:
        show_table(
            pd.DataFrame(
                {
                    "wait": capture["wait_ms"].map(format_duration_ms),
                    "measured": capture["measured_share"].map(lambda v: f"{v:.2%}"),
                    "chapter": capture["chapter_share"].map(lambda v: f"{v:.2%}"),
                }
            ),
            present,
        )
    st.markdown("**Requirements** — what each wait would capture (set it in the What-if lab)")
    show_table(
        pd.DataFrame(
            {
                "requirement": req["requirement"],
                "source": req["source"],
                "wait": req["wait_ms"].map(format_duration_ms),
                "captured": req["captured"].map(lambda v: f"{v:.2%}"),
                "arrive later": (1 - req["captured"]).map(lambda v: f"{v:.2%}"),
            }
        ),
        present,
    )
    st.caption(
        "A seeded simulator run of 100,000 events over two days, measured with the Lateness "
        "page's functions. Rows for a source appear when the blend has it."
    )


def _patching(present: bool) -> None:
    table = demos.patching()
    show_table(
        pd.DataFrame(
            {
                "metric": table["label"],
                "published": table["published"],
                "late alone": table["late_only"],
                "patched": table["patched"],
                "right?": table["patch_is_right"].map({True: "yes", False: "no"}),
                "recomputed": table["recomputed"],
                "batch": table["batch"],
            }
        ),
        present,
        {
            "published": st.column_config.NumberColumn(help="The on-time pane, published"),
            "late alone": st.column_config.NumberColumn(help="The late orders on their own"),
            "patched": st.column_config.NumberColumn(
                help="The published value combined with the late orders' value"
            ),
            "right?": st.column_config.TextColumn(
                help="Whether the patched value equals the recomputed one"
            ),
            "recomputed": st.column_config.NumberColumn(
                help="The operator's late pane, over all the orders it kept"
            ),
            "batch": st.column_config.NumberColumn(
                help="Batch recompute: a plain recomputation over all five orders"
            ),
        },
    )
    orders = pd.DataFrame(
        [
            {
                "order": o.event_id,
                "user": o.user,
                "amount ($)": o.amount,
                "happened": o.event_time,
                "arrived": o.arrival,
            }
            for o in demos.PATCH_ORDERS
        ]
    )
    show_table(orders, present)
    st.caption(
        "Patched: revenue and orders add the late orders' totals; the average and the median "
        "average the published and the late values; distinct users add the two counts (u1 "
        "is counted twice). Recomputed: the operator's late pane over all orders it kept."
    )


def _tiers(key: str, present: bool) -> None:
    table = demos.tiers()
    day0 = pg.clock_ms("00:00:00", demos.TIER_DAY)
    moments = [day0 + h * HOUR_MS for h in (12, 24, 26, 30)] + [
        day0 + d * DAY_MS for d in (2, 3, 8, 9, 10)
    ]
    t = st.select_slider(
        "Processing time",
        moments,
        value=day0 + DAY_MS,
        format_func=pg.clock_text,
        key=f"asof_{key}",
    )
    now = demos.as_of(t)
    c1, c2, c3 = st.columns(3)
    c1.metric(f"The day's value as of {pg.clock_text(t)}", f"${now['value']:,.0f}")
    c2.metric("Label", now["tier"])
    c3.metric("% of final", f"{now['share_of_final']:.0%}")
    show_table(
        pd.DataFrame(
            {
                "tier": table["label"],
                "computed at": table["computed_at_ms"].map(pg.clock_text),
                "events included": table["ids"],
                "value ($)": table["value"],
            }
        ),
        present,
    )
    st.caption(
        "Times are after 2026-01-01 00:00 UTC ('+1d' = the next day). The adjustment row is "
        "the change booked after the final tier froze the day."
    )
    if not present:
        events = pd.DataFrame(
            [
                {
                    "event": i,
                    "source": src,
                    "happened": pg.clock_text(pg.clock_ms("00:00:00", demos.TIER_DAY) + et),
                    "arrived": pg.clock_text(pg.clock_ms("00:00:00", demos.TIER_DAY) + at),
                    "value ($)": v,
                }
                for i, src, et, at, v in demos.TIER_EVENTS
            ]
        )
        show_table(events, present)


def _ads(present: bool) -> None:
    frame, panes = demos.ads_billing()
    day = lambda ms: pd.Timestamp(int(ms), unit="ms", tz="UTC").strftime("%b %d")  # noqa: E731
    outcome = {
        "on_time": "on time",
        "late": "late: updates the invoice",
        "too_late": "too late: adjustment",
    }
    show_table(
        pd.DataFrame(
            {
                "conversion": frame["conversion"],
                "click": frame["click_ms"].map(day),
                "arrives": frame["arrived_ms"].map(day),
                "commission ($)": frame["commission"],
                "outcome": frame["outcome"].map(outcome),
            }
        ),
        present,
        {
            "click": st.column_config.TextColumn(help="The ad click: its month is billed"),
            "arrives": st.column_config.TextColumn(help="When the conversion reaches us"),
        },
    )
    st.markdown("**Invoice versions** (one per pane)")
    show_table(
        pd.DataFrame(
            {
                "month": panes["month_start_ms"].map(
                    lambda ms: pd.Timestamp(int(ms), unit="ms").strftime("%B")
                ),
                "version": panes["version"],
                "timing": panes["timing"],
                "cut on": [
                    ("end of input" if e else day(a))
                    for a, e in zip(panes["at_ms"], panes["at_end"], strict=True)
                ],
                "invoice ($)": panes["invoice"],
                "new conversions": panes["added"],
            }
        ),
        present,
    )


def glossary_figure(counts: dict) -> go.Figure:
    """'Behind the watermark' vs 'routed late', side by side."""
    fig = go.Figure(
        go.Bar(
            x=["behind the watermark (chapter's rule)", "routed late (latewatch)"],
            y=[counts["behind_watermark"], counts["routed_late"]],
            marker_color=["#4E79A7", "#F28E2B"],
            text=[counts["behind_watermark"], counts["routed_late"]],
            textposition="outside",
        )
    )
    fig.update_layout(height=300, yaxis_title="Events", margin=margin(l=75, t=20, b=80))
    return fig
