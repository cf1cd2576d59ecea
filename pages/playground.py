"""Watermark playground: the Dataflow model's picture, interactive. A few events
run through the same ``WindowOperator`` as the live pipeline; the page draws what
it did — event time across, processing time down the page, the watermark, the
windows and every pane — and lets a learner move events and turn the knobs.
"""

import pandas as pd
import streamlit as st

from engine.analysis import playground as pg
from engine.core.timeutil import MINUTE_MS, SECOND_MS, format_duration_ms
from ui import lab
from ui.router import ensure_router

ensure_router()

SIZES_MS = (MINUTE_MS, 2 * MINUTE_MS, 5 * MINUTE_MS, 10 * MINUTE_MS)
SLIDES_MS = (30 * SECOND_MS, MINUTE_MS, 2 * MINUTE_MS, 5 * MINUTE_MS)
GAPS_MS = (30 * SECOND_MS, MINUTE_MS, 2 * MINUTE_MS)
DELAYS_MS = (0, 10 * SECOND_MS, 30 * SECOND_MS, MINUTE_MS, 2 * MINUTE_MS, 5 * MINUTE_MS)
LATENESS_MS = (0, 30 * SECOND_MS, MINUTE_MS, 2 * MINUTE_MS, 5 * MINUTE_MS, 10 * MINUTE_MS)
EARLY_DELAYS_MS = (30 * SECOND_MS, MINUTE_MS, 2 * MINUTE_MS)
WATERMARK_LABELS = {
    "drawn": "drawn (watermark records in the table)",
    "perfect": "perfect (knows every future event)",
    "bounded": "heuristic: max event time seen − delay",
}
EARLY_LABELS = {"none": "none", "after-first": "after the first event", "per-record": "every event"}
# widget key -> PlaygroundConfig field, reset from the preset when the preset changes
CONTROL_FIELDS = {
    "pg_window": "window",
    "pg_size": "size_ms",
    "pg_slide": "slide_ms",
    "pg_gap": "gap_ms",
    "pg_watermark": "watermark",
    "pg_delay": "watermark_delay_ms",
    "pg_lateness": "allowed_lateness_ms",
    "pg_early": "early",
    "pg_early_delay": "early_delay_ms",
    "pg_accumulation": "accumulation",
}


def load_preset() -> None:
    """Preset changed: every control takes the preset's value, the tables reset."""
    preset = pg.PRESETS[st.session_state["preset"]]
    for key, name in CONTROL_FIELDS.items():
        st.session_state[key] = getattr(preset.config, name)
    st.session_state.pop("pg_t", None)


def step(direction: int, times: list[int]) -> None:
    now = st.session_state.get("pg_t", times[-1])
    later = [t for t in times if t > now]
    earlier = [t for t in times if t < now]
    if direction > 0 and later:
        st.session_state["pg_t"] = later[0]
    elif direction < 0 and earlier:
        st.session_state["pg_t"] = earlier[-1]


st.title("Watermark playground")
st.caption(
    "Each dot is an event: **across** is when it happened (event time), **up** is when it "
    "reached the pipeline (processing time). The red line is the watermark — the pipeline's "
    "claim that nothing older is still coming. Shaded columns are windows; diamonds are panes, "
    "drawn at the window's end when they fired, with their value. Everything here is computed "
    "by the same window operator as the live numbers."
)

preset_key = st.segmented_control(
    "Preset",
    list(pg.PRESETS),
    default="classic",
    format_func=lambda k: {
        "classic": "Classic 2-minute window",
        "session_bridge": "Sessions merged by a late event",
        "sliding_split": "Sliding: late and on time",
    }[k],
    key="preset",
    bind="query-params",
    on_change=load_preset,
    required=True,
)
preset = pg.PRESETS[preset_key or "classic"]
if "pg_window" not in st.session_state:
    load_preset()
st.info(f"**{preset.title}.** {preset.explanation}")

# -- knobs -----------------------------------------------------------------------------
c1, c2, c3, c4 = st.columns(4)
window = c1.selectbox("Window type", pg.WINDOW_KINDS, key="pg_window")
if window == "session":
    gap = c1.select_slider("Session gap", GAPS_MS, format_func=format_duration_ms, key="pg_gap")
    size, slide = st.session_state["pg_size"], st.session_state["pg_slide"]
else:
    size = c1.select_slider("Window size", SIZES_MS, format_func=format_duration_ms, key="pg_size")
    slide = st.session_state["pg_slide"]
    if window == "sliding":
        slide = c1.select_slider("Slide", SLIDES_MS, format_func=format_duration_ms, key="pg_slide")
    gap = st.session_state["pg_gap"]
wm_mode = c2.radio(
    "Watermark", pg.WATERMARK_MODES, format_func=WATERMARK_LABELS.get, key="pg_watermark"
)
delay = c2.select_slider(
    "Heuristic delay",
    DELAYS_MS,
    format_func=format_duration_ms,
    key="pg_delay",
    disabled=wm_mode != "bounded",
)
lateness = c3.select_slider(
    "Allowed lateness", LATENESS_MS, format_func=format_duration_ms, key="pg_lateness"
)
early = c3.selectbox("Early firings", pg.EARLY_MODES, format_func=EARLY_LABELS.get, key="pg_early")
early_delay = c3.select_slider(
    "Early pane after",
    EARLY_DELAYS_MS,
    format_func=format_duration_ms,
    key="pg_early_delay",
    disabled=early != "after-first",
)
accumulation = c4.radio(
    "Accumulation",
    pg.ACCUMULATION_MODES,
    key="pg_accumulation",
    help="Accumulating panes hold everything so far; discarding panes hold only what is new "
    "since the previous pane (the operator keeps both: values and deltas).",
)

# -- the stream ------------------------------------------------------------------------
with st.expander("Events and watermark records — edit to see what changes", expanded=False):
    e1, e2 = st.columns([3, 2])
    edited = e1.data_editor(
        pg.events_table(preset.events),
        num_rows="dynamic",
        hide_index=True,
        key=f"pg_events_{preset.key}",
        column_config={
            "id": st.column_config.TextColumn("Event id"),
            "event_time": st.column_config.TextColumn("Event time (HH:MM:SS)"),
            "arrival_time": st.column_config.TextColumn("Arrives at (HH:MM:SS)"),
            "value": st.column_config.NumberColumn("Value"),
        },
    )
    marks_edited = e2.data_editor(
        pg.watermarks_table(preset.watermarks),
        num_rows="dynamic",
        hide_index=True,
        key=f"pg_marks_{preset.key}",
        disabled=wm_mode != "drawn",
        column_config={
            "at": st.column_config.TextColumn("At (HH:MM:SS)"),
            "watermark": st.column_config.TextColumn("Watermark becomes"),
        },
    )
    e2.caption("Used by the *drawn* watermark only.")
events, problems = pg.events_from_table(pd.DataFrame(edited))
marks, mark_problems = pg.watermarks_from_table(pd.DataFrame(marks_edited))
for p in problems + mark_problems:
    st.warning(p)
if not events:
    st.info("Add at least one event to the table.")
    st.stop()

config = pg.PlaygroundConfig(
    window=window,
    size_ms=size,
    slide_ms=min(slide, size),
    gap_ms=gap,
    watermark=wm_mode,
    watermark_delay_ms=delay,
    allowed_lateness_ms=lateness,
    early=early,
    early_delay_ms=early_delay,
    accumulation=accumulation,
)
run = pg.run_playground(events, config, marks, preset.ticks_ms)

# -- walk through processing time ----------------------------------------------------------
s1, s2, s3 = st.columns([1, 8, 1])
if st.session_state.get("pg_t") not in run.times_ms:
    st.session_state["pg_t"] = run.times_ms[-1]
s1.button("◀ step", on_click=step, args=(-1, run.times_ms), key="pg_back", width="stretch")
t_ms = s2.select_slider(
    "Processing time",
    run.times_ms,
    format_func=pg.clock_text,
    key="pg_t",
    label_visibility="collapsed",
)
s3.button("step ▶", on_click=step, args=(1, run.times_ms), key="pg_next", width="stretch")
snap = run.at(t_ms)
st.plotly_chart(
    lab.playground_figure(run, snap, accumulation == "discarding"),
    width="stretch",
    key="playground_chart",
)
w_text = "—" if snap.watermark_ms is None else pg.clock_text(snap.watermark_ms)
st.caption(
    f"At {pg.clock_text(t_ms)}: watermark {w_text}; {len(snap.points)} of {len(run.points)} "
    f"events arrived; {len(snap.panes)} panes fired."
    + (
        " Panes marked *at end* fired when the input ended (the watermark jumped to +∞)."
        if snap.panes["at_end"].any()
        else ""
    )
)

# -- what the operator said ---------------------------------------------------------------
m = st.columns(len(pg.POINT_CLASSES))
counts = run.points["klass"].value_counts()
for col, klass in zip(m, pg.POINT_CLASSES, strict=True):
    col.metric(
        lab.POINT_SHORT[klass],
        int(counts.get(klass, 0)),
        help=pg.POINT_LABELS[klass],
        border=True,
    )
left, right = st.container(), st.container()
left.markdown("**Panes** (each is a kept version)")
panes = run.panes.assign(
    window=[
        f"[{pg.clock_text(a)}, {pg.clock_text(b)})"
        for a, b in zip(run.panes["window_start_ms"], run.panes["window_end_ms"], strict=True)
    ],
    fired=[pg.clock_text(t) for t in run.panes["processing_time_ms"]],
    shown=run.panes["delta"] if accumulation == "discarding" else run.panes["value"],
)
left.dataframe(
    panes[
        ["window", "version", "timing", "fired", "shown", "event_count", "added_ids", "superseded"]
    ],
    hide_index=True,
    width="stretch",
    column_config={
        "shown": st.column_config.NumberColumn(
            "delta" if accumulation == "discarding" else "value"
        ),
        "added_ids": st.column_config.TextColumn("new events"),
    },
)
right.markdown("**Events, as the operator routed them**")
right.dataframe(
    run.points.assign(klass=run.points["klass"].map(pg.POINT_LABELS))[
        ["event_id", "klass", "detail"]
    ],
    hide_index=True,
    width="stretch",
    column_config={"klass": "what happened", "detail": "per window"},
)
