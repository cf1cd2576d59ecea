"""Import your own events: upload a CSV or Parquet log, map its columns, name the
time zone of naive timestamps, see every row accounted for, then measure its
lateness and open it in the What-if lab.

Imports go into their own SQLite file per dataset (``data/imports/<name>.db``),
never into the live store: see ``engine.ingest.mapping`` for why.
"""

from pathlib import Path
from zoneinfo import available_timezones

import streamlit as st

from engine.analysis import lateness
from engine.core.events import QUARANTINE_REASONS
from engine.core.timeutil import format_duration_ms
from engine.ingest import mapping as im
from ui import lab
from ui.format import fmt_time
from ui.router import ensure_router
from ui.runtime import get_runtime

ensure_router()

MAX_UPLOAD_MB = 50
SAMPLES_DIR = Path(__file__).resolve().parents[1] / "data" / "samples"
NONE = "— not in the file —"
OFFSET = "— timestamps carry an offset —"
COMMON_ZONES = ("UTC", "America/New_York", "America/Chicago", "America/Los_Angeles")
COMMON_ZONES += ("Europe/London", "Europe/Berlin", "Asia/Tokyo")

rt = get_runtime()
imports_dir = im.imports_dir_for(rt.settings.db_path)
uploads_dir = imports_dir / "uploads"


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
    "never see it — that you can analyse here and replay in the What-if lab."
)

# -- 1. the file -----------------------------------------------------------------------
st.subheader("1. Choose a file")
up, sample_col = st.columns([3, 2])
upload = up.file_uploader(
    f"Upload a CSV, Parquet or JSON-lines file (up to {MAX_UPLOAD_MB} MB)",
    type=["csv", "parquet", "jsonl"],
    max_upload_size=MAX_UPLOAD_MB,
    key="imp_upload",
)
samples = sorted(p.name for p in SAMPLES_DIR.glob("*") if p.suffix in (".csv", ".parquet"))
sample = sample_col.selectbox(
    "…or try a sample shipped with latewatch",
    [None, *samples],
    format_func=lambda s: "—" if s is None else s,
    key="imp_sample",
)
if upload is not None:
    token = f"{upload.file_id}"
    if st.session_state.get("imp_token") != token:
        target = uploads_dir / f"{token}-{Path(upload.name).name}"
        try:
            im.save_upload(iter(lambda: upload.read(1 << 20), b""), target, MAX_UPLOAD_MB * 10**6)
        except ValueError as exc:
            st.error(str(exc))
            st.stop()
        st.session_state.update(imp_token=token, imp_path=str(target), imp_name=upload.name)
elif sample is not None:
    st.session_state.update(
        imp_token=f"sample:{sample}", imp_path=str(SAMPLES_DIR / sample), imp_name=sample
    )
else:
    st.session_state.pop("imp_path", None)

path = st.session_state.get("imp_path")
if path:
    token, name = st.session_state["imp_token"], st.session_state["imp_name"]
    st.markdown(f"**First rows of `{name}`** — as read, before any mapping")
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
        st.warning(p)
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
    dataset = st.text_input("Dataset name", value=im.dataset_name(name), key=f"imp_dataset_{token}")
    if st.button("Import", type="primary", disabled=bool(problems), key="imp_go"):
        with st.status(f"Importing {name}…") as status:
            result = im.import_file(
                path, mapping, imports_dir, dataset, rt.now_ms(), assume_tz, file_label=name
            )
            status.update(label="Imported", state="complete")
        st.session_state["imp_result"] = {
            "dataset": result.dataset,
            "file": name,
            **result.accounting(),
            "by_reason": result.report.quarantined_by_reason,
            "quarantine": result.quarantine[["line", "reason", "detail", "raw"]],
        }

# -- validation report -----------------------------------------------------------------------
report = st.session_state.get("imp_result")
if report:
    st.subheader(f"Validation report — `{report['file']}` → dataset `{report['dataset']}`")
    r1, r2, r3, r4 = st.columns(4)
    r1.metric("Rows read", f"{report['rows']:,}", border=True)
    r2.metric("Accepted", f"{report['accepted']:,}", border=True)
    r3.metric("Duplicates", f"{report['duplicates']:,}", border=True)
    r4.metric("Quarantined", f"{report['quarantined']:,}", border=True)
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
datasets = im.list_datasets(imports_dir)
if datasets.empty:
    st.caption("No datasets yet: import a file above.")
    st.stop()
names = list(datasets["dataset"])
default = report["dataset"] if report and report["dataset"] in names else names[0]
chosen_ds = st.selectbox("Dataset", names, index=names.index(default), key="imp_ds")
row = datasets.set_index("dataset").loc[chosen_ds]
db_path = row["path"]
n_events, summary, capture = load_lateness(db_path, int(row["events"]), int(row["ingests"]))
if n_events == 0:
    st.info("This dataset has no accepted events.")
    st.stop()
ingests = im.dataset_ingests(db_path)
st.caption(
    f"{n_events:,} events from {len(summary) - 1} sources, {len(ingests)} import(s); last "
    f"import at {fmt_time(int(ingests['started_ms'].max()), rt)} (runtime clock)."
)
st.markdown("**Arrival delay per source** (arrival time − event time)")
shown = summary.copy()
for c in [c for c in shown.columns if c.endswith("_ms")]:
    shown[c] = shown[c].map(format_duration_ms)
shown["negative_share"] = shown["negative_share"].map("{:.2%}".format)
shown = shown.rename(columns=lambda c: c.removesuffix("_ms")).rename(
    columns={"value": "value ($)", "negative_share": "arrived before it happened"}
)
st.dataframe(shown, hide_index=True, width="stretch")
st.plotly_chart(lab.capture_figure(capture), width="stretch", key="imp_capture")
b1, b2, _ = st.columns([2, 1, 3])
if b1.button("Open in the What-if lab", type="primary", key="imp_whatif"):
    st.session_state["whatif_dataset"] = chosen_ds
    st.switch_page("pages/whatif.py", query_params={"data": chosen_ds})
if b2.button("Remove this dataset", key="imp_delete"):
    im.delete_dataset(db_path)
    st.session_state.pop("imp_result", None)
    st.rerun()
