"""What-if lab: replay the raw log (or an imported dataset) under a proposed
configuration and compare it with the live one — what it captures, how wrong the
on-time numbers were, how long results wait, how many versions and how much state
— then apply it. Every knob is bound to the URL, so a proposal is a link.
"""

import logging
import threading
from dataclasses import replace

import streamlit as st

from engine.analysis import whatif_effects, whatif_lab
from engine.analysis.whatif import EventArrays, evaluate, tradeoff, vectorized_support
from engine.core.spec import PipelineSpec
from engine.core.timeutil import DAY_MS, HOUR_MS, MINUTE_MS, format_duration_ms
from engine.ingest import mapping as import_mapping
from ui import guard, lab
from ui.format import fmt_time
from ui.replay import wait_for_replay
from ui.router import ensure_router
from ui.runtime import get_runtime
from ui.text import escape_markdown

ensure_router()

SERIES = "hourly"
LIVE = "live"
RANGES = {"6h": 6 * HOUR_MS, "24h": DAY_MS, "3d": 3 * DAY_MS, "7d": 7 * DAY_MS, "all": None}
NOW_BUCKET_MS = 10 * MINUTE_MS  # the snapshot's as-of time moves in steps of this
READY_STEPS = 3  # a snapshot this many steps old is shown while the newest is prepared
BACKGROUND = "latewatch-bg-whatif"  # the thread that prepares a new snapshot

rt = get_runtime()
imports_dir = import_mapping.imports_dir_for(rt.settings.db_path)


@st.cache_data(max_entries=8, show_spinner="Reading events…")
def load_events(data: str, from_ms: int | None, to_ms: int | None, arrived_before_ms: int | None):
    """The events one page run replays: a snapshot of the raw log (event time in
    [from, to), arrived before ``arrived_before_ms``) or an imported dataset. The key
    fixes the contents (the log is append-only and the runtime's clock is past the
    cutoff), so the cache needs no expiry and every number on the page — current,
    proposed, sweep, pinned A — comes from the very same events."""
    if data == LIVE:
        frame = get_runtime().store().events_frame(from_ms, to_ms)
        if arrived_before_ms is not None:
            arrived = frame["arrival_time_ms"].to_numpy() < arrived_before_ms
            frame = frame.loc[arrived].reset_index(drop=True)
        return frame
    return import_mapping.dataset_events(imports_dir / f"{data}.db")


@st.cache_resource(max_entries=4, show_spinner=False)
def load_arrays(data: str, from_ms: int | None, to_ms: int | None, arrived_before_ms: int | None):
    """The snapshot as the replay's arrays, converted once (read-only: shared)."""
    return EventArrays.from_frame(load_events(data, from_ms, to_ms, arrived_before_ms))


@st.cache_data(max_entries=32, show_spinner="Replaying the log under the configuration…")
def run_evaluate(snapshot: tuple, spec_json: str):
    return evaluate(load_arrays(*snapshot), PipelineSpec.from_json(spec_json))


@st.cache_data(max_entries=16, show_spinner="Sweeping allowed lateness…")
def run_tradeoff(snapshot: tuple, spec_json: str, source: str | None):
    spec = PipelineSpec.from_json(spec_json)
    return tradeoff(load_arrays(*snapshot), whatif_lab.SWEEP_MS, spec, source=source)


@st.cache_resource(max_entries=8, show_spinner=False)
def comparison_view(snapshot: tuple, current_json: str, proposed_json: str) -> dict:
    """Current vs proposed on one snapshot: both replays, their summaries, the tables
    and the two figures, built once per (snapshot, current, proposed). A click or a
    refresh that changes none of them rebuilt ~0.1-0.2 s of tables and Plotly figures
    (Plotly validates every property). Shared read-only."""
    res_current = run_evaluate(snapshot, current_json)
    res_proposed = run_evaluate(snapshot, proposed_json)
    outcomes = whatif_lab.outcome_table(res_current, res_proposed)
    not_on_time = outcomes.iloc[1:][["Current events", "Proposed events"]].to_numpy().any()
    return {
        "current": res_current,
        "proposed": res_proposed,
        "summaries": (res_current.summary(), res_proposed.summary()),
        "comparison": whatif_lab.comparison_table(res_current, res_proposed),
        "outcomes": outcomes,
        "outcomes_figure": lab.outcome_figure(outcomes) if not_on_time else None,
        "errors_figure": lab.window_error_figure(
            whatif_lab.window_errors(res_current),
            whatif_lab.window_errors(res_proposed),
            rt.settings.tz,
        ),
    }


@st.cache_resource(max_entries=16, show_spinner=False)
def tradeoff_view(snapshot: tuple, spec_json: str, source: str | None) -> dict:
    """A sweep with its figure and headline rows, built once (see ``comparison_view``)."""
    curve = run_tradeoff(snapshot, spec_json, source)
    return {
        "curve": curve,
        "figure": lab.tradeoff_figure(curve, "Allowed lateness"),
        "headline": whatif_lab.headline(curve),
    }


@st.cache_resource(show_spinner=False)
def snapshot_state() -> dict:
    """Per runtime: for each range, the as-of time of the newest live snapshot whose
    headline is computed (its events read, the live configuration replayed and swept),
    and the ranges whose newest snapshot is being prepared."""
    return {"ready": {}, "preparing": set(), "lock": threading.Lock()}


class _NoContextWarning(logging.Filter):
    """The preparing thread calls the page's cached functions outside a script run;
    Streamlit logs a "missing ScriptRunContext" warning for that, harmless here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != self.name


_context_log = logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context")
if not any(f.name == BACKGROUND for f in _context_log.filters):  # once per process
    _context_log.addFilter(_NoContextWarning(BACKGROUND))


def live_snapshot(range_key: str, as_of_ms: int) -> tuple:
    span = RANGES[range_key]
    return (
        LIVE,
        None if span is None else as_of_ms - span,
        None if span is None else as_of_ms,
        as_of_ms,
    )


def mark_ready(state: dict, range_key: str, as_of_ms: int) -> None:
    with state["lock"]:
        if state["ready"].get(range_key, -1) < as_of_ms:
            state["ready"][range_key] = as_of_ms


def prepare_snapshot(state: dict, range_key: str, as_of_ms: int) -> None:
    """On a background thread: read the snapshot, replay and sweep the live
    configuration and build their tables and figures into the page's caches, then
    mark it ready."""
    snap = live_snapshot(range_key, as_of_ms)
    try:
        if not load_events(*snap).empty:
            live_spec = rt.store().config(SERIES) or rt.series[SERIES]
            comparison_view(snap, live_spec.to_json(), live_spec.to_json())
            if vectorized_support(live_spec) is not None:
                live_spec = whatif_lab.timer_free(live_spec)
            tradeoff_view(snap, whatif_lab.sweep_base(live_spec).to_json(), None)
        mark_ready(state, range_key, as_of_ms)
    except Exception:  # the next page run reads it in the foreground
        logging.getLogger(__name__).exception("preparing the what-if snapshot failed")
    finally:
        with state["lock"]:
            state["preparing"].discard(range_key)


def shown_as_of(range_key: str, newest_ms: int) -> int:
    """The as-of time of the snapshot this run shows: the newest one, unless it is not
    computed yet and one at most ``READY_STEPS`` older is — then that one, while the
    newest is prepared in the background (at the 60x clock a step passes every 10 s,
    and reading and replaying a new snapshot cost the click ~0.7 s)."""
    state = snapshot_state()
    with state["lock"]:
        ready = state["ready"].get(range_key)
        if ready is None or ready >= newest_ms or newest_ms - ready > READY_STEPS * NOW_BUCKET_MS:
            return newest_ms
        start = range_key not in state["preparing"]
        state["preparing"].add(range_key)
    if start:
        threading.Thread(
            target=prepare_snapshot,
            args=(state, range_key, newest_ms),
            name=BACKGROUND,
            daemon=True,
        ).start()
    return ready


def who_and_why() -> tuple[str | None, str | None]:
    ss = st.session_state
    return (ss.get("apply_by") or "").strip() or None, (ss.get("apply_why") or "").strip() or None


def apply_proposal(spec_json: str) -> None:
    """The Apply button's callback: the proposal on screen when it was clicked becomes
    live (a callback, so a rerun of the page cannot swallow the click)."""
    who, why = who_and_why()
    version = rt.apply_config(SERIES, PipelineSpec.from_json(spec_json), who, why)
    st.session_state["whatif_applied"] = {"version": version, "at_ms": rt.now_ms()}


def roll_back(version_id: int, spec_json: str) -> None:
    """Make an earlier configuration version live again (recorded as a new version)."""
    who, why = who_and_why()
    reason = f"roll back to #{version_id}" + (f": {why}" if why else "")
    version = rt.apply_config(SERIES, PipelineSpec.from_json(spec_json), who, reason)
    st.session_state["whatif_applied"] = {"version": version, "at_ms": rt.now_ms()}


def pin_proposal(spec_json: str) -> None:
    st.session_state["whatif_pinned"] = spec_json


def change(diff: float, scale: float, unit: str, digits: int = 2) -> str | None:
    """A metric delta against the current configuration (none when equal)."""
    return None if diff == 0 else f"{diff * scale:+,.{digits}f}{unit} vs current"


st.title("What-if lab")
st.caption(
    "Replay real events under a proposed configuration and compare it with the live one. "
    "Every setting below is part of the page's URL: copy the link to share a proposal."
)

# -- data ------------------------------------------------------------------------
datasets = import_mapping.list_datasets(imports_dir)
choices = [LIVE, *datasets["dataset"]]
if st.session_state.get("whatif_dataset") in choices:  # set by the import page
    st.session_state["data"] = st.session_state.pop("whatif_dataset")
left, right = st.columns([2, 1])
data = left.selectbox(
    "Data: `live` is the raw event log; other names are imported datasets",
    choices,
    key="data",
    bind="query-params",
)
range_key = right.selectbox(
    "Event-time range (the last …)",
    list(RANGES),
    index=1,
    key="range",
    bind="query-params",
    disabled=data != LIVE,
    help="Imported datasets are replayed whole.",
)
now_ms = rt.status()["proc_ms"] or rt.now_ms()
as_of_ms = None
from_ms = to_ms = None
if data == LIVE:
    # One snapshot of the log per page run: what had arrived by the as-of time.
    newest_ms = whatif_lab.snapshot_as_of(now_ms, NOW_BUCKET_MS)
    as_of_ms = shown_as_of(range_key, newest_ms)
    if RANGES[range_key] is not None:
        to_ms = as_of_ms
        from_ms = to_ms - RANGES[range_key]
    wait_for_replay(rt, "the live raw log replayed under your proposal")
snapshot = (data, from_ms, to_ms, as_of_ms)
frame = load_events(*snapshot)
if frame.empty:
    st.info("No events in this range yet: choose a longer range or another dataset.")
    st.stop()
sources = list(frame["source"].value_counts().index)
span = f"{fmt_time(int(frame['event_time_ms'].min()), rt)} – {fmt_time(int(frame['event_time_ms'].max()), rt)}"
st.caption(
    f"{len(frame):,} events from {len(sources)} sources, event times {span}"
    + (
        f"; the log as it stood at {fmt_time(as_of_ms, rt)} (events that arrived later join "
        f"at the next {format_duration_ms(NOW_BUCKET_MS)} step, so every number below "
        "replays the same events)."
        + (
            f" The snapshot as of {fmt_time(newest_ms, rt)} is being prepared; the page "
            "moves to it on its next run."
            if as_of_ms != newest_ms
            else ""
        )
        if as_of_ms is not None
        else "."
    )
)

# -- the proposal ------------------------------------------------------------------
current = rt.store().config(SERIES) or rt.series[SERIES]
live = whatif_lab.knobs_from_spec(current, sources)
st.subheader("Proposed configuration")
st.caption(
    f"Starts as the live `{SERIES}` configuration "
    f"({escape_markdown(current.window.describe())}, "
    f"{escape_markdown(current.watermark.describe())}); change anything."
)
c1, c2, c3, c4 = st.columns(4)
size_ms = c1.select_slider(
    "Window size",
    whatif_lab.with_value(whatif_lab.WINDOW_SIZES_MS, live.window_size_ms),
    value=live.window_size_ms,
    format_func=format_duration_ms,
    key="window",
    bind="query-params",
)
wm_kind = c2.selectbox(
    "Watermark strategy",
    whatif_lab.WATERMARK_CHOICES,
    index=whatif_lab.WATERMARK_CHOICES.index(live.watermark_kind)
    if live.watermark_kind in whatif_lab.WATERMARK_CHOICES
    else 0,
    key="watermark",
    bind="query-params",
    help="per-key: one watermark per source, the slowest active source holds the others back; "
    "bounded: max event time seen − the largest delay; processing-time: now − delay.",
)
early = c3.selectbox(
    "Early firings",
    whatif_lab.EARLY_CHOICES,
    index=whatif_lab.EARLY_CHOICES.index(live.early),
    key="early",
    bind="query-params",
    help="none: only the on-time pane; after-first: one early pane a delay after the first "
    "event of a window; per-record: an early pane on every event.",
)
early_delay = c3.select_slider(
    "Early pane delay",
    whatif_lab.with_value(whatif_lab.TIMER_STEPS_MS, live.early_delay_ms),
    value=live.early_delay_ms,
    format_func=format_duration_ms,
    key="early_delay",
    bind="query-params",
    disabled=early != "after-first",
)
late = c4.selectbox(
    "Late firings",
    whatif_lab.LATE_FIRING_CHOICES,
    index=whatif_lab.LATE_FIRING_CHOICES.index(live.late),
    key="late",
    bind="query-params",
    help="each: a late pane per late event; every: at most one late pane per interval; "
    "none: late events go to the side output.",
)
late_every = c4.select_slider(
    "Late pane interval",
    whatif_lab.with_value(whatif_lab.TIMER_STEPS_MS, live.late_every_ms),
    value=live.late_every_ms,
    format_func=format_duration_ms,
    key="late_every",
    bind="query-params",
    disabled=late != "every",
)

st.markdown(
    "**Per source** — watermark delay decides when windows fire; allowed lateness how "
    "long they accept late updates; the late action what happens to late events."
)


def use_requirement() -> None:
    """A requirement preset sets the allowed lateness of the sources it names."""
    key = st.session_state.get("requirement")
    if key:
        for src, ms in whatif_lab.requirement_lateness(key, sources).items():
            st.session_state[f"lateness_{src}"] = ms


st.selectbox(
    "Start from a requirement",
    list(whatif_lab.REQUIREMENT_PRESETS),
    index=None,
    format_func=lambda k: whatif_lab.REQUIREMENT_PRESETS[k][0],
    placeholder="the chapter's requirements: fraud 30 s, daily reporting 1 h, …",
    key="requirement",
    on_change=use_requirement,
    help="Sets the allowed lateness per source below; see the Learn course, lesson 3 "
    "(/learn?lesson=lateness&step=requirements), for what each captures.",
)
per_source = []
for src in sources:
    k = live.source(src)
    # the source's name on its own line: in a narrow first column (1024 px) names broke
    # mid-word, and the late action's box was too narrow for "side_output"
    st.markdown(f"**{escape_markdown(src)}** · {int((frame['source'] == src).sum()):,} events")
    b, c, d = st.columns([5, 5, 4])
    delay = b.select_slider(
        f"Watermark delay — {escape_markdown(src)}",
        whatif_lab.with_value(whatif_lab.DELAY_STEPS_MS, k.watermark_delay_ms),
        value=k.watermark_delay_ms,
        format_func=format_duration_ms,
        key=f"delay_{src}",
        bind="query-params",
    )
    lateness = c.select_slider(
        f"Allowed lateness — {escape_markdown(src)}",
        whatif_lab.with_value(whatif_lab.LATENESS_STEPS_MS, k.allowed_lateness_ms),
        value=k.allowed_lateness_ms,
        format_func=format_duration_ms,
        key=f"lateness_{src}",
        bind="query-params",
    )
    action = d.selectbox(
        f"Late action — {escape_markdown(src)}",
        whatif_lab.LATE_ACTION_CHOICES,
        index=whatif_lab.LATE_ACTION_CHOICES.index(k.late_action),
        key=f"action_{src}",
        bind="query-params",
        help="update: a late pane (new version); side_output: queued for the batch patch; "
        "recompute: queued, window recomputed from the raw log; drop: counted and logged.",
    )
    per_source.append(whatif_lab.SourceKnobs(src, delay, lateness, action))

knobs = replace(
    live,
    window_size_ms=size_ms,
    watermark_kind=wm_kind,
    early=early,
    early_delay_ms=early_delay,
    late=late,
    late_every_ms=late_every,
    sources=tuple(per_source),
)
proposed = whatif_lab.spec_from_knobs(current, knobs)

# -- results -----------------------------------------------------------------------
view = comparison_view(snapshot, current.to_json(), proposed.to_json())
res_current, res_proposed = view["current"], view["proposed"]
st.subheader("Proposed vs current")
st.caption(
    f"**Current** evaluated by the {whatif_lab.method_note(res_current)}.  \n"
    f"**Proposed** evaluated by the {whatif_lab.method_note(res_proposed)}."
)
sa, sb = view["summaries"]
m1, m2, m3, m4 = st.columns(4)
m1.metric(
    "Captured (events)",
    whatif_lab.fmt_share(sb["captured_count_share"]),
    delta=change(sb["captured_count_share"] - sa["captured_count_share"], 100, " pp"),
    border=True,
)
m2.metric(
    "On-time error, mean",
    whatif_lab.fmt_pct(sb["error_mean_pct"]),
    delta=change(sb["error_mean_pct"] - sa["error_mean_pct"], 1, " pp"),
    delta_color="inverse",
    border=True,
)
m3.metric(
    "Result delay, mean",
    whatif_lab.fmt_duration(sb["wait_mean_ms"]),
    delta=f"current {whatif_lab.fmt_duration(sa['wait_mean_ms'])}",
    delta_color="off",
    delta_arrow="off",
    border=True,
)
m4.metric(
    "Peak state (open windows)",
    f"{sb['peak_open_windows']:,}",
    delta=change(sb["peak_open_windows"] - sa["peak_open_windows"], 1, " windows", 0),
    delta_color="inverse",
    border=True,
)
st.dataframe(view["comparison"], hide_index=True, width="stretch")
proposal_changes = whatif_lab.spec_changes(current, proposed, sources)
if proposal_changes and sa == sb:
    reasons = whatif_effects.no_effect_reasons(
        current, proposed, res_current, res_proposed, frame["source"].to_numpy(), sources
    )
    st.info(
        "**No effect on this data.** The proposal differs from the live configuration ("
        + escape_markdown("; ".join(proposal_changes))
        + "), but every measure above comes out the same"
        + (
            ":\n" + "\n".join(f"- {escape_markdown(r)}" for r in reasons) + "\n\n"
            if reasons
            else ": none of the events in this range reaches the changed settings (for "
            "example no event of that source arrives late enough, or no window fires early). "
        )
        + "Try a longer range or another dataset to see where it would matter."
    )

outcomes = view["outcomes"]
st.markdown("**What happened to each event** — by count and by value")
st.dataframe(outcomes, hide_index=True, width="stretch")
st.caption(whatif_lab.OUTCOME_NOTE)
if view["outcomes_figure"] is not None:
    st.plotly_chart(view["outcomes_figure"], width="stretch", key="outcomes_chart")
else:
    st.caption("Every event was on time under both configurations.")

st.markdown("**How wrong was each on-time number?** — all sources, per window")
st.plotly_chart(view["errors_figure"], width="stretch", key="errors_chart")
st.caption(
    "Error = |on-time value − value with every event of the window| / that value. In this "
    "chart a window without an on-time pane shows as 100 % off; the table above counts such "
    "windows on their own (a partner or manual source whose data all arrives late) and its "
    "mean and worst error cover the on-time numbers that were published. Windows near the "
    "end of the range are compared with what has arrived so far."
)

# -- trade-off -----------------------------------------------------------------------
st.subheader("Trade-off: allowed lateness")
t1, t2 = st.columns([2, 1])
sweep_src = t1.selectbox(
    "Sweep allowed lateness for",
    ["all", *sources],
    key="sweep",
    bind="query-params",
    help="all: every source gets the same allowed lateness; a source: only that one changes.",
)
reason = vectorized_support(proposed)
exact = t2.toggle(
    "Exact sweep",  # short: a longer label is cut off at 1024 px
    value=False,
    key="sweep_exact",
    disabled=reason is None,
    help="The proposal needs the event-at-a-time operator; the exact sweep runs it once per "
    "setting. Off: a timer-free twin of the proposal is swept (vectorized).",
)
sweep_spec = proposed if (reason is None or exact) else whatif_lab.timer_free(proposed)
if sweep_src == "all":
    sweep_spec = whatif_lab.sweep_base(sweep_spec)
sweep = tradeoff_view(snapshot, sweep_spec.to_json(), None if sweep_src == "all" else sweep_src)
curve = sweep["curve"]
if as_of_ms is not None:
    mark_ready(snapshot_state(), range_key, as_of_ms)
g1, g2 = st.columns([2, 1])  # the headline table needs a third at 1024 px
g1.plotly_chart(sweep["figure"], width="stretch", key="tradeoff_chart")
with g2:
    st.markdown("**On your data**")
    st.dataframe(sweep["headline"], hide_index=True, width="stretch")
    st.caption(
        "Share of events counted in a streaming result (on time or as a late update) when "
        + ("every source" if sweep_src == "all" else escape_markdown(sweep_src))
        + " gets that allowed lateness, with the proposal's watermark."
    )
    if reason is not None and not exact:
        st.caption(
            f"Swept without timers ({reason}): captured share, on-time delay and state do not "
            "depend on early/late panes; versions do, and with a max-updates cap one late pane "
            "per event uses it up faster. Turn on the exact sweep for the operator's numbers."
        )
    st.caption(f"Method: {curve['method'].iloc[0]}")

# -- apply -----------------------------------------------------------------------------
st.subheader("Apply")
changes = whatif_lab.spec_changes(current, proposed, sources)
blockers = whatif_lab.apply_blockers(current, proposed)
change_list = "\n".join(f"- {escape_markdown(c)}" for c in changes)
if changes:
    st.markdown("Changes against the live configuration:\n" + change_list)
for b in blockers:
    st.caption(f"Cannot apply: {escape_markdown(b)}.")
w1, w2 = st.columns([1, 2])
w1.text_input("Applied by", key="apply_by", placeholder="your name", max_chars=80)
w2.text_input(
    "Why",
    key="apply_why",
    placeholder="e.g. partner files arrive two days late since March",
    max_chars=300,
    help="Kept with the configuration version, in the history below.",
)
guard.confirm_button(
    f"Apply to the live `{SERIES}` pipeline",
    type="primary",
    disabled=bool(blockers),
    key="apply",
    title="Apply this configuration?",
    message=(
        f"The proposal becomes the live `{SERIES}` configuration from now on (a new "
        "configuration version, kept with who applied it, when and why in the history "
        "below). Results published before stay as they were."
        + (
            f"\n\nChanges:\n{change_list}"
            if changes
            else "\n\nNo setting differs from the live one."
        )
    ),
    confirm_label="Apply",
    on_confirm=apply_proposal,
    args=(proposed.to_json(),),
    width="content",
)
applied = st.session_state.pop("whatif_applied", None)
if applied:
    st.success(
        f"Applied: configuration version {applied['version']} of `{SERIES}` is live from "
        f"{fmt_time(applied['at_ms'], rt)}. Results published before stay as they were; the "
        "Versions page shows which configuration produced which number."
    )

# -- history -----------------------------------------------------------------------------
st.subheader("Applied configurations")
history = rt.store().config_history(SERIES)
rows, specs, prev = [], {}, None
for r in history.itertuples(index=False):
    spec = PipelineSpec.from_json(r.spec_json)
    specs[int(r.id)] = (spec, r.spec_json)
    diff = whatif_lab.spec_changes(prev, spec, sources) if prev is not None else []
    rows.append(
        {
            "Version": f"#{int(r.id)}",
            f"Applied ({rt.settings.tz})": fmt_time(int(r.applied_at_ms), rt),
            "By": r.applied_by if isinstance(r.applied_by, str) else "—",
            "Why": r.reason if isinstance(r.reason, str) else "—",
            "Changes from the one before": "; ".join(diff)
            if prev is not None
            else "the first configuration",
        }
    )
    prev = spec
if not rows:
    st.caption("No configuration recorded yet.")
else:
    st.dataframe(rows[::-1], hide_index=True, width="stretch", key="whatif_history")
    live_id = int(history["id"].iloc[-1])
    earlier = [i for i in specs if i != live_id]
    if earlier:
        r1, r2 = st.columns([2, 3])
        target = r1.selectbox(
            "Roll back to",
            earlier[::-1],
            format_func=lambda i: f"#{i}",
            key="whatif_rollback",
        )
        back = whatif_lab.spec_changes(current, specs[target][0], sources)
        back_list = "\n".join(f"- {escape_markdown(c)}" for c in back)
        guard.confirm_button(
            f"Roll back to #{target}",
            key="rollback",
            title=f"Roll back to configuration #{target}?",
            message=(
                f"Configuration #{target} becomes the live `{SERIES}` configuration again, "
                "recorded as a new version (with the name and reason typed above). Results "
                "published before stay as they were."
                + (f"\n\nChanges:\n{back_list}" if back else "\n\nIt equals the live one.")
            ),
            confirm_label="Roll back",
            on_confirm=roll_back,
            args=(target, specs[target][1]),
            disabled=not back,
            container=r2,
        )
    else:
        st.caption("Only one configuration so far: nothing to roll back to.")

# -- two proposals -------------------------------------------------------------------------
st.subheader("Compare two proposals")
pinned = st.session_state.get("whatif_pinned")
p1, p2 = st.columns([1, 1])
p1.button(
    "Pin this proposal as A",
    key="whatif_pin",
    on_click=pin_proposal,
    args=(proposed.to_json(),),
    help="Keep the proposal on screen as A, change the settings, and see A and B side by side.",
)
if pinned is None:
    st.caption(
        "Pin the proposal on screen as A, then change the settings above: A and the new "
        "proposal (B) are compared here on the same data."
    )
else:
    p2.button(
        "Unpin A", key="whatif_unpin", on_click=st.session_state.pop, args=("whatif_pinned", None)
    )
    spec_a = PipelineSpec.from_json(pinned)
    res_a = run_evaluate(snapshot, pinned)
    a_col, b_col = st.columns(2)
    for col, name, spec in ((a_col, "A (pinned)", spec_a), (b_col, "B (on screen)", proposed)):
        diff = whatif_lab.spec_changes(current, spec, sources)
        col.markdown(
            f"**{name}** — against the live configuration:\n"
            + ("\n".join(f"- {escape_markdown(c)}" for c in diff) or "- no change")
        )
    st.dataframe(
        whatif_lab.comparison_table(res_a, res_proposed).rename(
            columns={"Current": "A (pinned)", "Proposed": "B (on screen)", "Verdict": "B vs A"}
        ),
        hide_index=True,
        width="stretch",
        key="whatif_ab",
    )
