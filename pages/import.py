"""Import your own events: upload a CSV or Parquet log, map its columns, name the
time zone of naive timestamps, see every row accounted for, then measure its
lateness and open it in the What-if lab.

Imports go into their own SQLite file per dataset (``data/imports/<name>.db``),
never into the live store: see ``engine.ingest.mapping`` for why.
"""

import time
from pathlib import Path
from zoneinfo import available_timezones

import streamlit as st

from engine.analysis import lateness
from engine.core.events import QUARANTINE_REASONS
from engine.core.timeutil import format_duration_ms
from engine.ingest import backfill, uploads
from engine.ingest import mapping as im
from engine.ingest.inspect import check_file, scan_file, zone_suggestions
from ui import guard, lab
from ui.format import fmt_time
from ui.router import ensure_router
from ui.runtime import get_runtime
from ui.text import code, escape_markdown

ensure_router()

MAX_UPLOAD_MB = im.UPLOAD_LIMIT_MB  # .streamlit/config.toml's server.maxUploadSize too
SAMPLES_DIR = Path(__file__).resolve().parents[1] / "data" / "samples"
NONE = "— not in the file —"
OFFSET = "— timestamps carry an offset —"
COMMON_ZONES = ("UTC", "America/New_York", "America/Chicago", "America/Los_Angeles")
COMMON_ZONES += ("Europe/London", "Europe/Berlin", "Asia/Tokyo")

rt = get_runtime()
# The page's actions (import, append, open in the What-if lab) are requested by their
# buttons' callbacks and carried out below, in this run: a run that a button's value
# would miss (a deep link's first, bare run of this file before the router takes over,
# ui/router.py) still keeps the request. Taken once, here, so none is left pending.
requested = {k: st.session_state.pop(f"imp_req_{k}", None) for k in ("go", "append", "whatif")}


def request(action: str, value: object = True) -> None:
    st.session_state[f"imp_req_{action}"] = value


imports_dir = im.imports_dir_for(rt.settings.db_path)
uploads_dir = uploads.uploads_dir_for(imports_dir)
locked = guard.locked_reason()


def safe_stem(file_name: str) -> str:
    """A dataset/file name from an uploaded file's name (any text) — never fails."""
    try:
        return im.dataset_name(file_name)
    except ValueError:
        return "upload"


@st.cache_data(max_entries=8, show_spinner="Measuring lateness…")
def load_lateness(db_path: str, events: int, ingests: int):
    """Keyed by the dataset's size, so a new import into it is measured afresh."""
    events = im.dataset_events(db_path)
    profile = lateness.lateness_profile(events)
    return len(events), lateness.summary(profile), lateness.capture_table(profile)


st.title("Import your own events")
st.caption(
    "Bring an event log with an event time and an arrival (received) time per row. Each "
    "import becomes a dataset in its own file next to the live database — the live numbers "
    "do not see it until you *Append it to the live store* — that you can analyse here and "
    "replay in the What-if lab."
)

# -- 1. the file -----------------------------------------------------------------------
st.subheader("1. Choose a file")
up, sample_col = st.columns([3, 2])
upload = up.file_uploader(
    f"Upload a CSV, Parquet or JSON-lines file (up to {MAX_UPLOAD_MB} MB)",
    type=["csv", "parquet", "jsonl"],
    max_upload_size=MAX_UPLOAD_MB,
    key=f"imp_upload_{st.session_state.get('imp_upload_gen', 0)}",
    disabled=locked is not None,
    help=locked,
)
samples = sorted(
    p.name for p in SAMPLES_DIR.glob("*") if p.suffix in (".csv", ".parquet", ".jsonl")
)
sample = sample_col.selectbox(
    "…or try a sample shipped with latewatch",
    [None, *samples],
    format_func=lambda s: "—" if s is None else s,
    key="imp_sample",
)
if st.session_state.get("imp_path") and not Path(st.session_state["imp_path"]).exists():
    st.session_state.pop("imp_token", None)  # removed (failed import, dataset removed)
if upload is not None:
    token = f"{upload.file_id}"
    if st.session_state.get("imp_token") != token:
        previous = st.session_state.get("imp_path")
        if previous:
            uploads.discard_upload(previous, imports_dir)  # replaced, never imported
        target = uploads_dir / f"{token}-{safe_stem(upload.name)}"
        target = target.with_suffix(Path(upload.name).suffix.lower())
        upload.seek(0)
        try:
            im.save_upload(iter(lambda: upload.read(1 << 20), b""), target)
        except ValueError as exc:
            st.error(escape_markdown(str(exc)))
            st.stop()
        st.session_state.update(imp_token=token, imp_path=str(target), imp_name=upload.name)
        uploads.prune_orphans(imports_dir, time.time(), keep=(target,))
elif sample is not None:
    st.session_state.update(
        imp_token=f"sample:{sample}", imp_path=str(SAMPLES_DIR / sample), imp_name=sample
    )
else:
    st.session_state.pop("imp_path", None)


def use_zone(key: str, zone: str) -> None:
    st.session_state[key] = zone


def rename(old: str) -> None:
    try:
        new = im.rename_dataset(imports_dir, old, st.session_state[f"imp_rename_{old}"])
    except ValueError as exc:
        st.session_state["imp_rename_error"] = str(exc)
        return
    st.session_state["imp_ds"] = new
    result = st.session_state.get("imp_result")
    if result and result["dataset"] == old:
        result["dataset"] = new


def append_to_live(name: str, db_path: str) -> None:
    """Backfill the dataset into the live store (engine.ingest.backfill) under a progress
    bar, as the import does; report in a flash."""
    with st.status(f"Appending {escape_markdown(name)} to the live store…") as status:
        bar = st.progress(0.0, text="Reading the dataset…")
        try:
            report = backfill.append_dataset(
                db_path,
                rt.settings.db_path,
                rt.now_ms(),
                name,
                progress=lambda done, total: bar.progress(
                    min(done / total, 1.0) if total else 1.0,
                    text=f"Appended {done:,} of {total:,} events" if total else "Appended",
                ),
            )
        except (OSError, ValueError) as exc:
            status.update(label="Append failed", state="error")
            guard.flash("error", f"Could not append {name}: {exc}")
            return
        bar.progress(1.0, text="Appended every event")
        status.update(label="Appended", state="complete")
    guard.flash(
        "success" if report.accepted else "info",
        f"Appended dataset {name} to the live store (ingest #{report.ingest_id}): "
        f"{report.rows_read:,} rows = {report.accepted:,} accepted + {report.duplicates:,} "
        f"duplicates + {report.quarantined:,} quarantined.",
    )


def remove(name: str, db_path: str) -> None:
    files = uploads.remove_dataset(db_path, imports_dir)
    current = st.session_state.get("imp_path")
    if current and any(Path(current).resolve() == f.resolve() for f in files):
        # the file is gone with its dataset: clear the uploader so it is not saved again
        st.session_state["imp_upload_gen"] = st.session_state.get("imp_upload_gen", 0) + 1
        for k in ("imp_token", "imp_path", "imp_name"):
            st.session_state.pop(k, None)
    guard.flash(
        "success",
        f"Removed dataset {name}" + (f" and its {len(files)} uploaded file(s)." if files else "."),
    )
    st.session_state.pop("imp_ds", None)
    result = st.session_state.get("imp_result")
    if result and result["dataset"] == name:
        st.session_state.pop("imp_result", None)


path = st.session_state.get("imp_path")
check = check_file(path, st.session_state.get("imp_name")) if path else None
if check is not None and not check.ok:
    st.error(escape_markdown(check.message))
    st.caption(
        "latewatch reads CSV with a header row, JSON lines (one object per line) and "
        "Parquet, each row an event with an event time and an arrival time."
    )
if check is not None and check.ok:
    token, name = st.session_state["imp_token"], st.session_state["imp_name"]
    st.markdown(f"**First rows of {code(name)}** — as read, before any mapping")
    st.dataframe(im.read_preview(path, 10), hide_index=True, width="stretch")

    # -- 2. mapping --------------------------------------------------------------------
    st.subheader("2. Map the columns")
    columns = im.file_columns(path)
    guess = im.guess_mapping(columns)
    chosen = {}
    cols = st.columns(4)
    for i, field in enumerate(im.FIELDS):
        options = [NONE, *columns]
        default = getattr(guess, field)
        chosen[field] = cols[i % 4].selectbox(
            im.FIELD_LABELS[field] + (" *" if field in im.REQUIRED else ""),
            options,
            index=options.index(default) if default in options else 0,
            key=f"imp_{field}_{token}",
        )
    d1, d2 = st.columns(2)
    default_source = d1.text_input(
        "Source for rows without one", value=im.DEFAULT_SOURCE, key=f"imp_defsrc_{token}"
    )
    zones = [OFFSET, *COMMON_ZONES, *sorted(available_timezones() - set(COMMON_ZONES))]
    zone = d2.selectbox(
        "Time zone of timestamps written without an offset",
        zones,
        key=f"imp_tz_{token}",
        help="Without a zone, a timestamp like 2026-03-02 11:00:00 is quarantined "
        "(no_offset): latewatch never guesses local time.",
    )
    mapping = im.ColumnMapping(
        **{f: (None if c == NONE else c) for f, c in chosen.items()},
        default_source=default_source,
    )
    assume_tz = None if zone == OFFSET else zone
    problems = mapping.problems(columns)
    for p in problems:
        st.warning(escape_markdown(p))
    outcome = scan_file(path, mapping, assume_tz)
    if not problems and outcome.no_offset and assume_tz is None:
        share = outcome.no_offset / max(outcome.scanned, 1)
        st.warning(
            f"**{share:.0%} of the first {outcome.scanned:,} rows have timestamps without a "
            "UTC offset** (like `2026-03-02 11:00:00`), so they would be quarantined as "
            "`no_offset`. Pick the time zone they were written in above — latewatch never "
            "guesses local time. Servers usually log in UTC; exports made by people are "
            f"usually in the business zone ({rt.settings.tz})."
        )
        zone_cols = st.columns(len(zone_suggestions(rt.settings.tz)) + 2)
        for col, z in zip(zone_cols, zone_suggestions(rt.settings.tz), strict=False):
            col.button(
                f"Read them as {z}",
                key=f"imp_use_{z}",
                on_click=use_zone,
                args=(f"imp_tz_{token}", z),
            )
    st.markdown(
        "**How the rows will be read** — the first ten, then every row of the first 2,000 "
        "that will be quarantined"
    )
    st.dataframe(
        im.mapped_preview(path, mapping, assume_tz, rows=10, scan=2_000),
        hide_index=True,
        width="stretch",
    )

    # -- 3. import ---------------------------------------------------------------------
    st.subheader("3. Import")
    dataset = st.text_input("Dataset name", value=safe_stem(name), key=f"imp_dataset_{token}")
    nothing = outcome.all_quarantined and not problems
    if nothing:
        st.caption(
            f":material/block: Import is off: none of the first {outcome.scanned:,} rows would "
            "be accepted ("
            + ", ".join(f"{k}: {v:,}" for k, v in outcome.by_reason.items())
            + "). Fix the mapping or the time zone first."
        )
    st.button(
        "Import",
        type="primary",
        disabled=bool(problems) or nothing or locked is not None,
        help=locked,
        key="imp_go",
        on_click=request,
        args=("go", token),
    )
    result = None
    if requested["go"] == token and not guard.read_only():
        with st.status(f"Importing {escape_markdown(name)}…") as status:
            bar = st.progress(0.0, text="Reading the file…")
            try:
                result = im.import_file(
                    path,
                    mapping,
                    imports_dir,
                    dataset,
                    rt.now_ms(),
                    assume_tz,
                    file_label=name,
                    progress=lambda done, total: bar.progress(
                        min(done / total, 1.0) if total else 1.0,
                        text=f"Read {done / total:.0%} of the file" if total else "Read",
                    ),
                )
                bar.progress(1.0, text="Read the whole file")
            except (ValueError, OSError) as exc:
                status.update(label="Import failed", state="error")
                uploads.discard_upload(path, imports_dir)  # a failed import keeps no upload
                st.session_state.pop("imp_result", None)
                st.error(f"Import failed: {escape_markdown(' '.join(str(exc).split())[:500])}")
            else:
                status.update(label="Imported", state="complete")
    if result is not None:
        if result.kept:
            st.session_state["imp_ds"] = result.dataset  # analyse the dataset just imported
            uploads.attach_upload(result.db_path, path, imports_dir, rt.now_ms())
        else:
            uploads.discard_upload(path, imports_dir)  # no dataset: the upload goes too
        st.session_state["imp_result"] = {
            "dataset": result.dataset,
            "kept": result.kept,
            "file": name,
            **result.accounting(),
            "by_reason": result.report.quarantined_by_reason,
            "quarantine": result.quarantine[["line", "reason", "detail", "raw"]],
        }

# -- validation report -----------------------------------------------------------------------
report = st.session_state.get("imp_result")
if report:
    st.subheader(f"Validation report — {code(report['file'])} → dataset {code(report['dataset'])}")
    r1, r2, r3, r4 = st.columns(4)
    r1.metric("Rows read", f"{report['rows']:,}", border=True)
    r2.metric("Accepted", f"{report['accepted']:,}", border=True)
    r3.metric("Duplicates", f"{report['duplicates']:,}", border=True)
    r4.metric("Quarantined", f"{report['quarantined']:,}", border=True)
    if not report.get("kept", True):
        st.warning(
            f"No row was accepted, so no dataset {code(report['dataset'])} was created. The "
            "reasons are below."
        )
    verdict = "✓" if report["balanced"] else "✗ does not add up"
    st.caption(
        f"{report['accepted']:,} accepted + {report['duplicates']:,} duplicates + "
        f"{report['quarantined']:,} quarantined = {report['rows']:,} rows {verdict}. "
        "Duplicates are rows whose id was already accepted with the same content."
    )
    if report["by_reason"]:
        st.dataframe(
            [
                {"reason": k, "rows": v, "meaning": QUARANTINE_REASONS.get(k, "")}
                for k, v in sorted(report["by_reason"].items())
            ],
            hide_index=True,
            width="stretch",
        )
        st.markdown("**Quarantined rows** — line in the file, reason and the row as read")
        st.dataframe(report["quarantine"], hide_index=True, width="stretch")

# -- datasets: lateness and the what-if lab ----------------------------------------------------
st.subheader("Imported datasets")
guard.show_flash()
datasets = im.list_datasets(imports_dir)
if datasets.empty:
    st.caption("No datasets yet: import a file above.")
    st.stop()
names = list(datasets["dataset"])
if st.session_state.get("imp_ds") not in names:
    st.session_state.pop("imp_ds", None)
if "imp_ds" not in st.session_state:
    st.session_state["imp_ds"] = (
        report["dataset"] if report and report["dataset"] in names else names[0]
    )
chosen_ds = st.selectbox("Dataset", names, key="imp_ds")
row = datasets.set_index("dataset").loc[chosen_ds]
db_path = row["path"]
n_events, summary, capture = load_lateness(db_path, int(row["events"]), int(row["ingests"]))
b1, b2, b3 = st.columns([2, 2, 2])
b1.button(
    "Open in the What-if lab",
    type="primary",
    key="imp_whatif",
    on_click=request,
    args=("whatif", chosen_ds),
)
if requested["whatif"] == chosen_ds:
    st.session_state["whatif_dataset"] = chosen_ds
    st.switch_page("pages/whatif.py", query_params={"data": chosen_ds})
with b2.popover("Rename this dataset", icon=":material/edit:", disabled=locked is not None):
    st.text_input("New name", value=chosen_ds, key=f"imp_rename_{chosen_ds}")
    st.button(
        "Rename",
        key="imp_rename_go",
        on_click=guard.run_guarded,
        args=(rename, chosen_ds),
        disabled=locked is not None,
    )
    if st.session_state.get("imp_rename_error"):
        st.error(escape_markdown(st.session_state.pop("imp_rename_error")))
upload_files = uploads.dataset_uploads(db_path, imports_dir)
guard.confirm_button(
    "Remove this dataset",
    key="imp_delete",
    icon=":material/delete:",
    title="Remove this dataset?",
    message=(
        f"The dataset's file ({n_events:,} events, {int(row['ingests'])} import(s))"
        + (
            f" and the {len(upload_files)} uploaded file(s) it was imported from"
            if upload_files
            else ""
        )
        + " are deleted for good. This cannot be undone; the live numbers are not affected."
    ),
    details=chosen_ds,
    confirm_label="Remove",
    on_confirm=remove,
    args=(chosen_ds, db_path),
    container=b3,
)
if n_events == 0:
    st.info("This dataset has no accepted events: remove it, or import a file into it.")
    st.stop()
live_target = "the live store" if rt.live else "the store the simulator feeds"
a1, a2 = st.columns([2, 4])
a1.button(
    "Append to the live store",
    icon=":material/cloud_upload:",
    key="imp_append",
    on_click=request,
    args=("append", chosen_ds),
    disabled=locked is not None,
    help=locked
    or f"Send this dataset's events into {live_target} ({rt.settings.db_path}) through the "
    "ingest path: validated again, de-duplicated by event_id, with an ingest record of its own.",
)
a2.caption(
    f"Backfill: this dataset's events join {live_target} and its numbers (late windows get "
    "late versions, final days adjustments). Appending twice is harmless: repeated event_ids "
    "count as duplicates."
)
if requested["append"] == chosen_ds:
    guard.run_guarded(append_to_live, chosen_ds, db_path)
    guard.show_flash()  # the append's report, under its progress bar
ingests = im.dataset_ingests(db_path)
st.caption(
    f"{n_events:,} events from {len(summary) - 1} sources, {len(ingests)} import(s); last "
    f"import at {fmt_time(int(ingests['started_ms'].max()), rt)} (runtime clock)."
)
st.markdown("**Arrival delay per source** (arrival time − event time)")
shown = summary.copy()
for c in [c for c in shown.columns if c.endswith("_ms")]:
    shown[c] = shown[c].map(format_duration_ms)
# widths that fit 1024 px; with clock skew in the data its share replaces p99.9
skew = "negative_share" in shown and bool((summary["negative_share"] > 0).any())
delay_cols = ["p50_ms", "p90_ms", "p99_ms"] + ([] if skew else ["p99.9_ms"])
st.dataframe(
    shown,
    hide_index=True,
    width="stretch",
    column_order=["source", "events", "value", *delay_cols, "max_ms"]
    + (["negative_share"] if skew else []),
    column_config={
        "source": st.column_config.TextColumn("Source", width=72),
        "events": st.column_config.NumberColumn("Events", format="localized", width=62),
        "value": st.column_config.NumberColumn("Value", format="dollar", width=92),
        **{
            c: st.column_config.TextColumn(c.removesuffix("_ms"), width=58, help="Delay")
            for c in ("p50_ms", "p90_ms", "p99_ms", "p99.9_ms")
        },
        "max_ms": st.column_config.TextColumn("Max", width=62, help="Longest delay"),
        "negative_share": st.column_config.NumberColumn(
            "Skew",
            format="percent",
            width=70,
            help="Share of events that arrived before they happened (clock skew)",
        ),
    },
)
st.plotly_chart(lab.capture_figure(capture), width="stretch", key="imp_capture")
