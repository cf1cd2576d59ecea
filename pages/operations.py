"""Operations: is the pipeline healthy, what is it holding, what ran, what was rejected —
and the controls to steer the simulator and run jobs by hand."""

from datetime import timedelta

import pandas as pd
import streamlit as st

from engine.core.timeutil import business_day_bounds, business_day_of, format_duration_ms
from engine.runtime.config_apply import effective_config
from engine.sim.simulator import SCENARIOS
from engine.views import dashboard, tables
from engine.views import live as live_view
from ui import charts, guard
from ui.format import fmt_count, fmt_time
from ui.router import ensure_router
from ui.runtime import get_runtime
from ui.text import escape_markdown

ensure_router()

REFRESH_S = 3
SPEEDS = (1, 10, 60, 300, 600, 3600)
DT_FMT = "ddd DD MMM HH:mm:ss"

rt = get_runtime()
tz = rt.settings.tz


@st.cache_data(ttl=REFRESH_S, show_spinner=False, max_entries=8)
def load_listings(db_path: str, stamp) -> dict:
    store = get_runtime().store()
    return {
        "jobs": dashboard.jobs_view(store, limit=200),
        "queue": dashboard.side_output_summary(store),
        "pending": store.late_events_frame(pending_only=True, limit=200),
        "quarantine_counts": store.quarantine_counts(),
        "quarantine": store.quarantine_frame(limit=200),
        "ingest_totals": dashboard.ingest_totals(store),
        "ingests": store.ingests_frame(limit=200),
    }


def local(ms_values) -> list:
    return [
        None if v is None or pd.isna(v) else d
        for v, d in zip(
            ms_values, charts.wall_clock(pd.Series(ms_values).fillna(0), tz), strict=True
        )
    ]


def request(flag: str) -> None:
    """Button callbacks only raise a flag; the job runs in the script body, where its
    ``st.status`` progress is drawn in place."""
    st.session_state[flag] = True


status = rt.status()
locked = guard.locked_reason()

st.title("Operations")
st.caption(
    "The pipeline's health — watermarks, open windows, queued late data — the jobs that ran, "
    f"what was rejected at ingest, and controls for the simulator and for batch jobs. "
    f"Times are in {tz}."
)

# -- controls ----------------------------------------------------------------------------
guard.show_flash()
if status.get("live"):
    st.subheader("Pipeline controls")
    b1, b2 = st.columns([1, 4])
    b1.button(
        "Resume processing" if status["paused"] else "Pause processing",
        icon=":material/play_arrow:" if status["paused"] else ":material/pause:",
        key="ops_live_pause",
        on_click=guard.run_guarded,
        args=(rt.resume if status["paused"] else rt.pause,),
        disabled=locked is not None,
        help=locked,
    )
    b2.caption(
        "Live data on the system clock. Paused: events keep arriving in the raw log and are "
        "processed, in arrival order, on resume."
        if status["paused"]
        else "Live data on the system clock: events are processed as they arrive."
    )
else:
    st.subheader("Simulator controls")
    b1, b2, b3 = st.columns([1.6, 2, 2])  # the button's words fit at 1024 px
    if status["paused"]:
        b1.button(
            "Resume simulator",
            icon=":material/play_arrow:",
            key="ops_resume",
            on_click=guard.run_guarded,
            args=(rt.resume,),
            disabled=locked is not None,
            help=locked,
        )
    else:
        b1.button(
            "Pause simulator",
            icon=":material/pause:",
            key="ops_pause",
            on_click=guard.run_guarded,
            args=(rt.pause,),
            disabled=locked is not None,
            help=locked,
        )
    b1.caption("Paused: the clock stops; nothing arrives." if status["paused"] else "Running.")
    speed_now = float(status["speed"] or 60)
    b2.select_slider(
        "Speed (simulated seconds per real second)",
        options=sorted({*SPEEDS, int(speed_now)}),
        value=int(speed_now),
        format_func=lambda s: f"×{s:,}",
        key="ops_speed",
        on_change=lambda: guard.run_guarded(rt.set_speed, st.session_state["ops_speed"]),
        disabled=locked is not None,
        help=locked,
    )
    b3.selectbox(
        "Scenario (from now on)",
        sorted(SCENARIOS),
        index=sorted(SCENARIOS).index(status["scenario"]) if status["scenario"] in SCENARIOS else 0,
        key="ops_scenario",
        on_change=lambda: guard.run_guarded(rt.set_scenario, st.session_state["ops_scenario"]),
        help=locked
        or "\n".join(f"- **{n}**: {s.description}" for n, s in sorted(SCENARIOS.items())),
        disabled=locked is not None,
    )
    b3.caption(SCENARIOS[status["scenario"]].description if status["scenario"] in SCENARIOS else "")


def days_text(picked) -> str:
    """'Mon 16 Nov' or 'Mon 16 Nov – Wed 18 Nov (3 days)' for a date_input value."""
    days = list(picked) if isinstance(picked, tuple | list) else [picked]
    if not days:
        return "no day"
    first, last = days[0], days[-1]
    if first == last:
        return f"{first:%a %d %b %Y}"
    return f"{first:%a %d %b} – {last:%a %d %b %Y} ({(last - first).days + 1} days)"


def run_days(picked, title: str, step: str, job, done: str, key: str) -> None:
    """Run ``job(day)`` for each business day of a picked range, with st.status progress,
    then show what each series' job did. ``title``/``done`` may use ``{n}``."""
    days = list(picked) if isinstance(picked, tuple | list) else [picked]
    first, last = days[0], days[-1]
    n = (last - first).days + 1
    with st.status(title.format(n=n), expanded=True) as box:
        bar = st.progress(0.0)
        results = []
        for i in range(n):
            day = first + timedelta(days=i)
            box.write(f"{day:%a %d %b}: {step}")
            for series, res in job(day).items():
                results.append({"Day": str(day), "Series": series, **res})
            bar.progress((i + 1) / n, text=f"{i + 1} of {n} days")
        box.update(label=done.format(n=n), state="complete")
    st.dataframe(tables.job_results_table(results), hide_index=True, width="stretch", key=key)


# -- live pipeline state ---------------------------------------------------------------
@st.fragment(run_every=REFRESH_S)
def pipeline_panel() -> None:
    status = rt.status()
    st.subheader("Pipeline now")
    state = "Paused — the clock is stopped" if status["paused"] else "Live"
    st.caption(f"{state} • updates every {REFRESH_S} s • {status['clock']}")
    progress = dashboard.catch_up_progress(status, rt.settings.history_days, tz)
    if progress is not None:
        st.session_state["ops_caught_up_rerun"] = True
        at = fmt_time(status["proc_ms"], rt) if status["proc_ms"] else "the start"
        st.info(
            "**Catching up**: replaying the simulated past week through the real pipeline "
            f"(at {at}); jobs run as their due times pass."
        )
        st.progress(progress, text=f"Replay {progress:.0%} done")
    elif st.session_state.pop("ops_caught_up_rerun", False):
        st.rerun(scope="app")  # redraw the sidebar and the listings drawn mid-replay
    proc = status["proc_ms"]
    hourly = status["operators"].get("hourly") or {}
    wm = hourly.get("watermark_ms")
    queue = load_listings(rt.settings.db_path, proc)["queue"]
    tick = status.get("last_tick") or {}
    # two rows of three: five bordered metrics side by side cut their labels mid-word at
    # 1024 px ("waterm|ark")
    m1, m2, m3 = st.columns(3)
    m4, m5, _ = st.columns(3)
    known = wm is not None and proc is not None and wm > -(2**61)
    m1.metric(
        "Processed up to",
        f"{dashboard.local_datetime(proc, tz):%H:%M}" if proc else "—",
        delta=fmt_time(proc, rt, "%a %d %b"),
        delta_color="off",
        delta_arrow="off",
        border=True,
    )
    m2.metric(
        "Global watermark",
        f"{dashboard.local_datetime(wm, tz):%H:%M}" if known else "—",
        delta=f"{format_duration_ms(proc - wm)} behind" if known else None,
        delta_color="off",
        delta_arrow="off",
        border=True,
        help="The hourly series' watermark: the slowest active source's, minus its delay.",
    )
    m3.metric(
        "Open windows (hourly)",
        fmt_count((hourly.get("state") or {}).get("open_windows")),
        border=True,
    )
    m4.metric(
        "Side-output queue",
        fmt_count(int(queue["events"].sum()) if len(queue) else 0),
        delta="waiting for a patch",
        delta_color="off",
        delta_arrow="off",
        border=True,
    )
    if tick:
        m5.metric(
            "Events in the last tick",
            fmt_count(tick.get("accepted")),
            delta=f"{fmt_count(tick.get('versions'))} versions",
            delta_color="off",
            delta_arrow="off",
            border=True,
        )
    else:
        m5.metric(
            "Last tick",
            "none yet",
            delta="the scheduler has not ticked",
            border=True,
            delta_color="off",
            delta_arrow="off",
        )
    if status.get("last_error"):
        st.error(f"Last error in the pipeline: {escape_markdown(status['last_error'])}")

    st.markdown("**Watermarks per source** (per-key watermark, global = slowest active source)")
    wmf = dashboard.watermark_frame(status, "hourly")
    if wmf.empty:
        st.info("No watermarks yet: a source gets one with its first event.")
    else:
        # one above the other: side by side, the table's half-width scrolled at 1024 px
        st.plotly_chart(charts.watermark_lags(wmf), width="stretch", key="ops_wm_chart")
        st.dataframe(
            pd.DataFrame(
                {
                    "Source": wmf["source"],
                    f"Watermark ({tz})": local(wmf["watermark_ms"]),
                    "Lag": [format_duration_ms(v) for v in wmf["lag_ms"]],
                    "State": wmf["state"],
                }
            ),
            hide_index=True,
            width="stretch",
            column_config={
                "Source": st.column_config.TextColumn("Source", width=80),
                f"Watermark ({tz})": st.column_config.DatetimeColumn(
                    "Watermark", format="ddd DD MMM HH:mm", width=120, help=f"In {tz}"
                ),
                "Lag": st.column_config.TextColumn("Lag", width=70),
                "State": st.column_config.TextColumn("State", width=270),
            },
            key="ops_wm_table",
        )
        unconfigured = live_view.unconfigured_sources(rt.series.get("hourly"), list(wmf["source"]))
        if unconfigured:
            st.caption(
                ":material/help: **Unconfigured** (the default policy, no `[sources.<name>]` in "
                f"latewatch.toml): {escape_markdown(', '.join(unconfigured))}."
            )
        idle = [s for s, i in zip(wmf["source"], wmf["idle"], strict=True) if i]
        st.caption(
            "Idle keys (no event for 15 min of processing time, so they no longer hold the "
            f"watermark back): {escape_markdown(', '.join(idle)) if idle else 'none'}."
        )

    st.markdown("**Open window state and outcomes per series**")
    rows = []
    for name, op in status["operators"].items():
        state = op.get("state") or {}
        outcomes = op.get("outcomes") or {}
        rows.append(
            {
                "Series": name,
                "Open windows": state.get("open_windows"),
                "Buffered events": state.get("buffered_events"),
                "Pending timers": state.get("pending_timers"),
                **{
                    k.replace("_", " ").capitalize(): v
                    for k, v in outcomes.items()
                    if isinstance(v, int | float)
                },
            }
        )
    # one column per series, one row per measure: a row per series was 900 px wide
    state_table = pd.DataFrame(rows).set_index("Series").T.rename_axis("Measure").reset_index()
    st.dataframe(
        state_table,
        hide_index=True,
        width="stretch",
        column_config={"Measure": st.column_config.TextColumn("Measure", width=200)},
        key="ops_state",
    )


pipeline_panel()

# -- listings ------------------------------------------------------------------------------
data = load_listings(rt.settings.db_path, status["proc_ms"])
tab_jobs, tab_queue, tab_quar, tab_ingest, tab_run = st.tabs(
    ["Jobs", "Side-output queue", "Quarantine", "Ingest accounting", "Run a job"]
)

with tab_jobs:
    jobs = data["jobs"]
    if jobs.empty:
        st.info(
            "No jobs yet. Side-output patches run every few seconds when late events are "
            "queued; the T+1 preliminary and T+7 final jobs run at the start of each business day."
        )
    else:
        counts = jobs["status"].value_counts()
        st.caption(
            f"The latest {len(jobs)} jobs: "
            + ", ".join(f"{n} {s}" for s, n in counts.items())
            + ". Times are processing (simulated) time; a job runs in one transaction."
        )
        every = st.toggle(
            "Every column",
            key="ops_jobs_every_column",
            help="Off: the job, what it did, its status, start and duration (fits a narrow "
            "screen). On: kind, series and tier apart, finish time, result and error.",
        )
        what = [
            f"{k} {s}: {lbl}" + ("" if t is None or t != t else f" → {t}")
            for k, s, lbl, t in zip(
                jobs["kind"], jobs["series"], jobs["label"], jobs["tier"], strict=True
            )
        ]
        st.dataframe(
            pd.DataFrame(
                {
                    "Job": jobs["id"],
                    "Job done": what,
                    "Kind": jobs["kind"],
                    "Series": jobs["series"],
                    "What": jobs["label"],
                    "Tier": jobs["tier"].map(lambda t: "—" if t is None or t != t else t),
                    "Status": jobs["status"],
                    f"Started ({tz})": local(jobs["started_ms"]),
                    f"Finished ({tz})": local(jobs["finished_ms"]),
                    "Duration": [
                        "—" if pd.isna(d) else format_duration_ms(int(d))
                        for d in jobs["duration_ms"]
                    ],
                    "Result": jobs["summary"],
                    "Error": jobs["error"].map(lambda e: "" if e is None or e != e else e),
                }
            ),
            hide_index=True,
            width="stretch",
            column_order=None
            if every
            else ["Job", "Job done", "Status", f"Started ({tz})", "Duration"],
            column_config={
                "Job": st.column_config.NumberColumn("Job", width=52),
                "Job done": st.column_config.TextColumn(
                    "What", width=230, help="Kind, series: what it covered → the tier it wrote"
                ),
                "Status": st.column_config.TextColumn("Status", width=88),
                f"Started ({tz})": st.column_config.DatetimeColumn(
                    "Started", format=DT_FMT, width=120, help=f"Processing time, in {tz}"
                ),
                f"Finished ({tz})": st.column_config.DatetimeColumn(
                    "Finished", format=DT_FMT, help=f"Processing time, in {tz}"
                ),
                "Duration": st.column_config.TextColumn("Took", width=60),
            },
            key="ops_jobs",
        )

with tab_queue:
    queue, pending = data["queue"], data["pending"]
    if queue.empty:
        st.success(
            "The side-output queue is empty: every late event routed to it so far has been "
            "absorbed by a patch job."
        )
    else:
        st.dataframe(
            queue.assign(amount=queue["amount_cents"] / 100, oldest=local(queue["oldest_ms"])).drop(
                columns=["amount_cents", "oldest_ms"]
            ),
            hide_index=True,
            width="stretch",
            column_config={
                "amount": st.column_config.NumberColumn("Amount (USD)", format="dollar"),
                "oldest": st.column_config.DatetimeColumn(f"Oldest queued ({tz})", format=DT_FMT),
                "events": "Events",
            },
            key="ops_queue",
        )
        st.caption(f"The newest {len(pending)} queued events:")
        st.dataframe(pending, hide_index=True, width="stretch", key="ops_pending")

with tab_quar:
    qc = data["quarantine_counts"]
    if not qc:
        st.success(
            "Nothing quarantined: every input row so far parsed and validated. Rows with a "
            "missing field, a timestamp without a UTC offset, an unreadable value or a time too "
            "far in the future land here with their reason (try the clock-skew scenario, or "
            "import a file)."
        )
    else:
        st.plotly_chart(
            charts.counts_bar(
                list(qc),
                list(qc.values()),
                "Reason",
                "Rows quarantined",
                "Quarantine reasons",
                color="#E15759",
            ),
            width="stretch",
            key="ops_quar_chart",
        )
        q = data["quarantine"]
        st.dataframe(
            q.assign(at=local(q["at_ms"])).drop(columns=["at_ms"]),
            hide_index=True,
            width="stretch",
            column_config={"at": st.column_config.DatetimeColumn(f"At ({tz})", format=DT_FMT)},
            key="ops_quar_table",
        )

with tab_ingest:
    t = data["ingest_totals"]
    i1, i2, i3, i4 = st.columns(4)
    i1.metric("Rows read", fmt_count(t["rows_read"]), border=True)
    i2.metric("Accepted (raw log)", fmt_count(t["accepted"]), border=True)
    i3.metric("Duplicates", fmt_count(t["duplicates"]), border=True)
    i4.metric("Quarantined", fmt_count(t["quarantined"]), border=True)
    if t["balanced"]:
        st.success(
            f"Nothing lost: rows read = accepted + duplicates + quarantined over all "
            f"{t['ingests']:,} ingests."
        )
    else:
        st.error(
            "The ingest counts do not add up — rows read ≠ accepted + duplicates + quarantined."
        )
    ing = data["ingests"]
    if not ing.empty:
        unfinished = ing["status"].value_counts().drop(["completed", "running"], errors="ignore")
        if len(unfinished):
            st.warning(
                "Ingests that did not complete (their committed rows stay counted): "
                + ", ".join(f"{n} {status}" for status, n in unfinished.items())
                + ". 'failed': the file could not be read (see error); 'interrupted': the "
                "ingesting process ended before it finished."
            )
        st.dataframe(
            ing.assign(started=local(ing["started_ms"]), finished=local(ing["finished_ms"])).drop(
                columns=["started_ms", "finished_ms", "owner"], errors="ignore"
            ),
            hide_index=True,
            width="stretch",
            column_config={
                "started": st.column_config.DatetimeColumn(f"Started ({tz})", format=DT_FMT),
                "finished": st.column_config.DatetimeColumn(f"Finished ({tz})", format=DT_FMT),
            },
            key="ops_ingests",
        )

with tab_run:
    now = status["proc_ms"] or status["now_ms"]
    today = business_day_of(now, tz)
    st.markdown("**Finalize business days** (recompute from the raw log and write a tier)")
    f1, f2 = st.columns([2, 1])
    f_days = f1.date_input(
        f"Days ({tz})",
        value=(today - timedelta(days=1), today - timedelta(days=1)),
        max_value=today - timedelta(days=1),
        key="ops_fin_days",
    )
    f_tier = f2.selectbox("Tier", ["preliminary", "final"], key="ops_fin_tier")
    if f_tier == "final":
        st.caption("⚠ A final number never changes again; later data becomes adjustments.")
    fin_span = days_text(f_days)
    guard.confirm_button(
        "Run finalization",
        key="ops_fin_run",
        icon=":material/task_alt:",
        title="Finalize these days?",
        message=(
            f"Recompute **{fin_span}** from the raw log and write it as **{f_tier}**. "
            + (
                "A final number never changes again: data arriving later for these days is "
                "booked as an adjustment in the current period. This cannot be undone."
                if f_tier == "final"
                else "A preliminary number can still be replaced by later jobs."
            )
        ),
        confirm_label=f"Finalize as {f_tier}",
        on_confirm=request,
        args=("ops_fin_request",),
    )
    if st.session_state.pop("ops_fin_request", False):
        run_days(
            f_days,
            f"Finalizing {{n}} day(s) as {f_tier}…",
            "recomputing every window…",
            lambda day: rt.finalize(day, f_tier),
            f"Finalization done: {{n}} day(s) as {f_tier}",
            "ops_fin_res",
        )

    st.markdown("**Reprocess a range** (recompute windows from the whole raw log; finals stay)")
    r1, r2 = st.columns([2, 1])
    r_days = r1.date_input(
        f"Days ({tz})",
        value=(today - timedelta(days=2), today - timedelta(days=1)),
        max_value=today,
        key="ops_rep_days",
    )
    reason = r2.text_input("Reason", value="manual reprocessing", key="ops_rep_reason")
    guard.confirm_button(
        "Run reprocessing",
        key="ops_rep_run",
        icon=":material/replay:",
        title="Reprocess these days?",
        message=(
            f"Recompute every window of **{days_text(r_days)}** from the whole raw log. "
            "Windows whose numbers change get a new version (reason: reprocessing) that "
            "everyone sees; final windows stay as they are. The reason recorded:"
        ),
        details=reason,
        confirm_label="Reprocess",
        on_confirm=request,
        args=("ops_rep_request",),
    )
    if st.session_state.pop("ops_rep_request", False):
        run_days(
            r_days,
            "Reprocessing {n} day(s)…",
            "recomputing from the raw log…",
            lambda day: rt.reprocess(*business_day_bounds(day, tz), reason),
            "Reprocessing done: {n} day(s)",
            "ops_rep_res",
        )

# -- configuration -------------------------------------------------------------------------
st.subheader("Effective configuration")
st.caption(
    "Every setting the runtime runs with and where it came from: the default, latewatch.toml "
    "(with its line), the command line / environment, or the UI (a What-if *Apply*)."
)
st.dataframe(
    pd.DataFrame(effective_config(rt)).rename(
        columns={"key": "Setting", "value": "Value", "origin": "From"}
    ),
    hide_index=True,
    width="stretch",
    key="ops_config",
)
