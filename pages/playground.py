"""Watermark playground: the Dataflow model's picture, interactive. A few events
run through the same ``WindowOperator`` as the live pipeline; the page draws what
it did — event time across, processing time down the page, the watermark (and each
key's, in per-key mode), the windows and every pane — and lets a learner move
events, turn every knob (late action, max updates, watermark strategy) and step or
play through processing time. ``?present=1`` is presenter mode.
"""

import pandas as pd
import streamlit as st

from engine.analysis import playground as pg
from engine.analysis import playground_words as words
from engine.core.timeutil import MINUTE_MS, SECOND_MS, format_duration_ms
from ui import playfigs
from ui.present import apply_presenter_style
from ui.router import ensure_router

ensure_router()

SIZES_MS = (MINUTE_MS, 2 * MINUTE_MS, 5 * MINUTE_MS, 10 * MINUTE_MS)
SLIDES_MS = (30 * SECOND_MS, MINUTE_MS, 2 * MINUTE_MS, 5 * MINUTE_MS)
GAPS_MS = (30 * SECOND_MS, MINUTE_MS, 2 * MINUTE_MS)
DELAYS_MS = (0, 10 * SECOND_MS, 30 * SECOND_MS, MINUTE_MS, 2 * MINUTE_MS, 5 * MINUTE_MS)
IDLE_MS = (0, 30 * SECOND_MS, MINUTE_MS, 2 * MINUTE_MS, 5 * MINUTE_MS)
LATENESS_MS = (0, 30 * SECOND_MS, MINUTE_MS, 2 * MINUTE_MS, 5 * MINUTE_MS, 10 * MINUTE_MS)
EARLY_DELAYS_MS = (30 * SECOND_MS, MINUTE_MS, 2 * MINUTE_MS)
MAX_UPDATES = (-1, 0, 1, 2, 3)
NO_LIMIT = {"pg_idle": 0, "pg_max_updates": -1}  # widget value standing for None
SPEEDS = {"slow (2 s a step)": 2.0, "normal (1 s)": 1.0, "fast (0.5 s)": 0.5}
WATERMARK_LABELS = {  # short enough for a half-width box at 1024 px; the help has more
    "drawn": "drawn (records in the table)",
    "perfect": "perfect (knows the future)",
    "bounded": "bounded: max seen − delay",
    "per-key": "per key: min over keys",
    "processing-time": "processing time − delay",
}
EARLY_LABELS = {"none": "none", "after-first": "after the first event", "per-record": "every event"}
ACTION_LABELS = {
    "update": "a late pane per update",
    "side_output": "side output (batch patch)",
    "drop": "drop (counted, logged)",
    "recompute": "recompute (from the raw log)",
}
# widget key -> PlaygroundConfig field, reset from the preset when the preset changes
CONTROL_FIELDS = {
    "pg_window": "window",
    "pg_size": "size_ms",
    "pg_slide": "slide_ms",
    "pg_gap": "gap_ms",
    "pg_watermark": "watermark",
    "pg_delay": "watermark_delay_ms",
    "pg_idle": "idle_ms",
    "pg_lateness": "allowed_lateness_ms",
    "pg_early": "early",
    "pg_early_delay": "early_delay_ms",
    "pg_accumulation": "accumulation",
    "pg_action": "late_action",
    "pg_max_updates": "max_updates",
}


def load_preset() -> None:
    """Preset changed (or reset): every control takes the preset's value, the tables
    reset (a new editor key), the clock goes back to the end."""
    preset = pg.PRESETS[st.session_state.get("preset") or "classic"]
    for key, name in CONTROL_FIELDS.items():
        value = getattr(preset.config, name)
        st.session_state[key] = NO_LIMIT[key] if value is None and key in NO_LIMIT else value
    st.session_state["pg_edits"] = st.session_state.get("pg_edits", 0) + 1
    st.session_state.pop("pg_t", None)
    st.session_state["pg_play"] = False


def step(direction: int, times: list[int]) -> None:
    now = st.session_state.get("pg_t", times[-1])
    later = [t for t in times if t > now]
    earlier = [t for t in times if t < now]
    if direction > 0 and later:
        st.session_state["pg_t"] = later[0]
    elif direction < 0 and earlier:
        st.session_state["pg_t"] = earlier[-1]


def start_play(times: list[int]) -> None:
    if st.session_state.get("pg_t", times[-1]) >= times[-1]:
        st.session_state["pg_t"] = times[0]  # play from the beginning
    st.session_state["pg_play"] = True
    st.session_state["pg_started"] = True  # show the first instant before stepping on


present = apply_presenter_style()
st.title("Watermark playground")
st.caption(
    "Each dot is an event: **across** is when it happened (event time), **up** is when it "
    "reached the pipeline (processing time). The red line is the watermark — the pipeline's "
    "claim that nothing older is still coming. Shaded columns are windows; diamonds are panes, "
    "drawn at the window's end when they fired, with their value. Everything here is computed "
    "by the same window operator as the live numbers. Terms: see the "
    "[glossary](/learn?lesson=glossary); a guided path: [Learn](/learn)."
)

preset_key = st.segmented_control(
    "Preset",
    list(pg.PRESETS),
    default="classic",
    format_func=lambda k: pg.PRESETS[k].label,
    key="preset",
    bind="query-params",
    on_change=load_preset,
    required=True,
)
preset = pg.PRESETS[preset_key or "classic"]
if "pg_window" not in st.session_state or "pg_action" not in st.session_state:
    load_preset()

# -- knobs -----------------------------------------------------------------------------
# two rows of two: four columns at 1024 px cut the option texts ("drawn (waterm…")
c1, c2 = st.columns(2)
c3, c4 = st.columns(2)
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
wm_mode = c2.selectbox(
    "Watermark",
    pg.WATERMARK_MODES,
    format_func=WATERMARK_LABELS.get,
    key="pg_watermark",
    help="drawn: the watermark records in the events table; perfect: knows every future "
    "event; bounded: the max event time seen minus the delay; per key: the minimum over the "
    "keys' bounded watermarks (idle keys skipped); processing time: now minus the delay.",
)
delay = c2.select_slider(
    "Watermark delay",
    DELAYS_MS,
    format_func=format_duration_ms,
    key="pg_delay",
    disabled=wm_mode not in ("bounded", "per-key", "processing-time"),
)
idle = st.session_state["pg_idle"]
if wm_mode == "per-key":
    idle = c2.select_slider(
        "Idle timeout",
        IDLE_MS,
        format_func=lambda v: "never" if not v else format_duration_ms(v),
        key="pg_idle",
        help="A key silent (in processing time) for longer than this stops holding the "
        "global watermark back.",
    )
lateness = c3.select_slider(
    "Allowed lateness", LATENESS_MS, format_func=format_duration_ms, key="pg_lateness"
)
action = c3.selectbox(
    "Late action", pg.LATE_ACTIONS, format_func=ACTION_LABELS.get, key="pg_action"
)
max_updates = c3.select_slider(
    "Max updates per window",
    MAX_UPDATES,
    format_func=lambda v: "no limit" if v < 0 else str(v),
    key="pg_max_updates",
    disabled=action != "update",
    help="Late panes a window may publish; further late events go to the side output.",
)
early = c4.selectbox("Early firings", pg.EARLY_MODES, format_func=EARLY_LABELS.get, key="pg_early")
early_delay = c4.select_slider(
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
    horizontal=True,
    help="Accumulating panes hold everything so far; discarding panes hold only what is new "
    "since the previous pane (the operator keeps both: values and deltas).",
)

# -- the stream ------------------------------------------------------------------------
edits = st.session_state.get("pg_edits", 0)
if present:  # presenter mode: the preset's stream as published, no editors
    edited = pg.events_table(preset.events)
    marks_edited = pg.watermarks_table(preset.watermarks)
else:
    with st.expander("Events and watermark records — edit to see what changes", expanded=False):
        e1, e2 = st.columns([3, 2])
        edited = e1.data_editor(
            pg.events_table(preset.events),
            num_rows="dynamic",
            hide_index=True,
            key=f"pg_events_{preset.key}_{edits}",
            column_config={
                "id": st.column_config.TextColumn("Event id"),
                "event_time": st.column_config.TextColumn("Event time (HH:MM:SS)"),
                "arrival_time": st.column_config.TextColumn("Arrives at (HH:MM:SS)"),
                "value": st.column_config.NumberColumn("Value"),
                "key": st.column_config.TextColumn("Key (per-key watermark)"),
            },
        )
        marks_edited = e2.data_editor(
            pg.watermarks_table(preset.watermarks),
            num_rows="dynamic",
            hide_index=True,
            key=f"pg_marks_{preset.key}_{edits}",
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
    idle_ms=idle or None,
    allowed_lateness_ms=lateness,
    early=early,
    early_delay_ms=early_delay,
    accumulation=accumulation,
    late_action=action,
    max_updates=None if max_updates < 0 else max_updates,
)
modified = (
    config != preset.config
    or events != list(preset.events)
    or (wm_mode == "drawn" and marks != list(preset.watermarks))
)
if modified:
    m1, m2 = st.columns([5, 1])
    m1.warning(
        f"**Modified from the preset “{preset.label}”.** The preset's explanation no longer "
        "applies; the account below each step is the operator's own, for your settings."
    )
    m2.button("Reset to preset", on_click=load_preset, key="pg_reset", width="stretch")
else:
    st.info(f"**{preset.title}.** {preset.explanation}")
run = pg.run_playground(events, config, marks, preset.ticks_ms)
if st.session_state.get("pg_t") not in run.times_ms:
    st.session_state["pg_t"] = run.times_ms[-1]

# -- walk through processing time ----------------------------------------------------------
p1, p2 = st.columns([1, 3])
playing = st.session_state.get("pg_play", False)
speed = p2.segmented_control(
    "Autoplay speed", list(SPEEDS), default="normal (1 s)", key="pg_speed", required=True
)
if playing:
    p1.button(
        "⏸ pause",
        key="pg_pause",
        width="stretch",
        on_click=st.session_state.update,
        kwargs={"pg_play": False},
    )
else:
    p1.button(
        "▶ play", key="pg_playbtn", width="stretch", on_click=start_play, args=(run.times_ms,)
    )


@st.fragment(run_every=SPEEDS[speed or "normal (1 s)"] if playing else None)
def stepper() -> None:
    times = run.times_ms
    if st.session_state.pop("pg_started", False):
        pass  # the run that started playing shows where it starts
    elif st.session_state.get("pg_play") and st.session_state.get("pg_t", times[-1]) < times[-1]:
        step(1, times)
    if st.session_state.get("pg_t", times[-1]) >= times[-1] and st.session_state.get("pg_play"):
        st.session_state["pg_play"] = False
        st.rerun()  # the whole page: the button goes back to "play", the timer stops
    s1, s2, s3 = st.columns([1.5, 7, 1.5], vertical_alignment="center")
    s1.button("◀ step", on_click=step, args=(-1, times), key="pg_back", width="stretch")
    t_ms = s2.select_slider(
        "Processing time",
        times,
        format_func=pg.clock_text,
        key="pg_t",
        label_visibility="collapsed",
    )
    s3.button("step ▶", on_click=step, args=(1, times), key="pg_next", width="stretch")
    snap = run.at(t_ms)
    st.plotly_chart(
        playfigs.playground_figure(run, snap, accumulation == "discarding", big=present),
        width="stretch",
        key="playground_chart",
    )
    w_text = playfigs.watermark_text(snap.watermark_ms)
    st.caption(
        f"At {pg.clock_text(t_ms)}: watermark {w_text}; {len(snap.points)} of "
        f"{len(run.points)} events arrived; {len(snap.panes)} panes fired."
        + (
            " Panes marked *at end* fired when the input ended (the watermark jumped to +∞)."
            if snap.panes["at_end"].astype(bool).any()
            else ""
        )
    )
    counts = snap.counts()
    # rows of three: five bordered counters side by side cut "updated" mid-word at 1024 px
    cols = [c for _ in range(0, len(pg.POINT_CLASSES), 3) for c in st.columns(3)]
    for col, klass in zip(cols[: len(pg.POINT_CLASSES)], pg.POINT_CLASSES, strict=True):
        col.metric(
            playfigs.POINT_SHORT[klass], counts[klass], help=pg.POINT_LABELS[klass], border=True
        )
    if wm_mode == "per-key":
        keys = snap.key_table()
        st.markdown(
            "**Each key's watermark** — the global watermark is the minimum over keys that are "
            "not idle: "
            + "; ".join(
                f"{k}: {pg.clock_text(w)}" + (" (idle, not counted)" if i else "")
                for k, w, i in keys.itertuples(index=False)
            )
            + f" → global {w_text}."
            if len(keys)
            else "**Each key's watermark**: no key has sent an event yet."
        )
    with st.expander("What happened so far, event by event", expanded=not present):
        lines = words.narrate(run, snap)
        st.markdown("\n".join(f"- {line}" for line in lines) or "Nothing has arrived yet.")
    if present:
        return
    left, right = st.container(), st.container()
    left.markdown("**Panes** (each is a kept version)")
    panes = snap.panes
    panes = panes.assign(
        window=[
            f"[{pg.clock_text(a)}, {pg.clock_text(b)})"
            for a, b in zip(panes["window_start_ms"], panes["window_end_ms"], strict=True)
        ],
        fired=[pg.clock_text(t) for t in panes["processing_time_ms"]],
        shown=panes["delta"] if accumulation == "discarding" else panes["value"],
    )
    left.dataframe(
        panes[
            [
                "window",
                "version",
                "timing",
                "fired",
                "shown",
                "event_count",
                "added_ids",
                "superseded",
            ]
        ],
        hide_index=True,
        width="stretch",
        column_config={  # widths that fit 1024 px without a sideways scroll
            "window": st.column_config.TextColumn("window", width=118),
            "version": st.column_config.NumberColumn("v", width=40, help="Version"),
            "timing": st.column_config.TextColumn("timing", width=70),
            "fired": st.column_config.TextColumn("fired", width=65),
            "shown": st.column_config.NumberColumn(
                "delta" if accumulation == "discarding" else "value", width=55
            ),
            "event_count": st.column_config.NumberColumn("events", width=55),
            "added_ids": st.column_config.TextColumn("new events", width=80),
            "superseded": st.column_config.CheckboxColumn("superseded", width=75),
        },
    )
    right.markdown("**Events, as the operator routed them**")
    right.dataframe(
        snap.points.assign(klass=snap.points["klass"].map(pg.POINT_LABELS))[
            ["event_id", "klass", "detail"]
        ],
        hide_index=True,
        width="stretch",
        column_config={"klass": "what happened", "detail": "per window"},
    )


stepper()


@st.fragment
def bucketing_panel(events: list, size: int) -> None:
    """The same events bucketed by event time and by processing time, drawn only while
    the expander is open (a closed one still drew its chart in the browser, ~0.1 s of
    every page load); opening it reruns this fragment, not the page."""
    box = st.expander(
        "Event time vs processing time: the same events bucketed both ways",
        key="pg_bucket_open",
        on_change="rerun",
    )
    if not box.open:
        return
    with box:
        size_b = st.select_slider(
            "Bucket size",
            SIZES_MS,
            value=size if size in SIZES_MS else MINUTE_MS,
            format_func=format_duration_ms,
            key="pg_bucket",
        )
        frame = words.bucketing(events, size_b)
        st.plotly_chart(
            playfigs.bucketing_figure(words.bucket_totals(frame)),
            width="stretch",
            key="pg_bucket_chart",
        )
        moved = frame[frame["moved"]]
        st.caption(
            f"{len(moved)} of {len(frame)} events land in a different bucket when bucketed by "
            "arrival (processing time): " + (", ".join(moved["event_id"]) or "none") + "."
        )


if not present:
    bucketing_panel(events, size)
