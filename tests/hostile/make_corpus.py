"""Generate a corpus of hostile event files: every class of bad row issue 12 names, in
CSV, JSONL and Parquet, mixed into files of good rows.

``python tests/hostile/make_corpus.py OUT_DIR`` writes the files and ``manifest.json``;
the tests call ``make_corpus(tmp_dir)``. The generator writes every line itself and
records, per file, how many rows it wrote, the ids of the good rows and, for each bad
row, its line (CSV/JSONL: physical line; Parquet: row number) and the reason it must
be quarantined with — so the tests count rows independently of the readers.

Classes: times outside 1970…2100 (year 1, year 9999, epoch ±1e12…1e17 s, 1e308, a
400-digit epoch, an arrival time in year 9999), overflowing / non-finite / separated /
boolean amounts and items, oversized event_id / key / source and whole rows, lone
surrogates, undecodable bytes, deep nesting (100 000 ``[``), non-text ids (bytes,
structs, lists, floats, booleans), NaN tokens, broken JSON, unterminated CSV quotes,
wrong field counts, Parquet timestamps beyond year 9999, corrupt and truncated Parquet.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

COLUMNS = (
    "event_id",
    "source",
    "event_time",
    "arrival_time",
    "amount",
    "items",
    "event_type",
    "key",
)
EVENT_TIME = "2026-11-20T10:00:00Z"
ARRIVAL = "2026-11-20T10:00:05Z"
NOW = "2026-11-21T00:00:00Z"
ROW_CAP = 1_000_000  # the default LATEWATCH_MAX_ROW_CHARS
GOOD_PER_GAP = 3  # good rows between two bad ones


@dataclass
class FileSpec:
    name: str
    fmt: str
    rows: int = 0
    good_ids: list[str] = field(default_factory=list)
    bad: dict[int, str] = field(default_factory=dict)  # line -> expected reason
    bad_ids: list[str] = field(default_factory=list)  # ids that must never be accepted
    args: list[str] = field(default_factory=list)  # extra `engine ingest` arguments
    fails: bool = False  # the file as a whole is unreadable: exit 1, ingest 'failed'


def good_record(tag: str, i: int) -> dict:
    return {
        "event_id": f"good-{tag}-{i}",
        "source": "web",
        "event_time": EVENT_TIME,
        "arrival_time": ARRIVAL,
        "amount": "12.50",
        "items": "1",
        "event_type": "order.placed",
        "key": f"user-{i}",
    }


# ---------------------------------------------------------------------------- cases
# (name, expected reason, overrides of a good record) — shared by CSV and JSONL as text.
TEXT_CASES: list[tuple[str, str, dict]] = [
    ("year-1", "time_out_of_range", {"event_time": "0001-01-01T00:00:00Z"}),
    ("year-9999", "time_out_of_range", {"event_time": "9999-12-31T23:59:59Z"}),
    ("year-1-offset", "time_out_of_range", {"event_time": "0001-01-01T00:00:00+05:00"}),
    ("year-9999-offset", "time_out_of_range", {"event_time": "9999-12-31T23:00:00-05:00"}),
    ("before-1970", "time_out_of_range", {"event_time": "1969-12-31T23:59:59Z"}),
    ("year-2100", "time_out_of_range", {"event_time": "2100-01-01T00:00:00Z"}),
    (
        "epoch-1e12",
        "time_out_of_range",
        {"event_time": "1000000000000", "arrival_time": "1000000000000"},
    ),
    ("epoch-1e17", "time_out_of_range", {"event_time": "100000000000000000", "arrival_time": ""}),
    ("epoch-neg-1e15", "time_out_of_range", {"event_time": "-1000000000000000"}),
    ("epoch-1e308", "time_out_of_range", {"event_time": "1e308"}),
    ("epoch-400-digits", "time_out_of_range", {"event_time": "1" * 400}),
    ("arrival-9999", "time_out_of_range", {"arrival_time": "9999-01-01T00:00:00Z"}),
    ("arrival-epoch-1e15", "time_out_of_range", {"arrival_time": "1000000000000000"}),
    ("time-inf", "unparseable_timestamp", {"event_time": "inf"}),
    ("time-long-text", "unparseable_timestamp", {"event_time": "x" * 5000}),
    ("amount-400-digits", "invalid_amount", {"amount": "9" * 400}),
    ("amount-5000-digits", "invalid_amount", {"amount": "7" * 5000}),
    ("amount-underscore", "invalid_amount", {"amount": "1_000"}),
    ("amount-true", "invalid_amount", {"amount": "true"}),
    ("amount-inf", "invalid_amount", {"amount": "inf"}),
    ("amount-nan", "invalid_amount", {"amount": "NaN"}),
    ("amount-1e400", "invalid_amount", {"amount": "1e400"}),
    ("amount-hex", "invalid_amount", {"amount": "0x10"}),
    ("items-underscore", "invalid_items", {"items": "1_0"}),
    ("items-true", "invalid_items", {"items": "True"}),
    ("items-5000-digits", "invalid_items", {"items": "3" * 5000}),
    ("id-oversized", "oversized_field", {"event_id": "i" * 300}),
    ("key-oversized", "oversized_field", {"key": "k" * 5000}),
    ("source-oversized", "oversized_field", {"source": "s" * 1000}),
    ("event-type-oversized", "oversized_field", {"event_type": "t" * 1000}),
    ("row-oversized", "oversized_row", {"key": "K" * (ROW_CAP + 1000)}),
    ("source-control-char", "unprintable_name", {"source": "we\x07b"}),
    ("source-nul", "unprintable_name", {"source": "w\x00b"}),
    ("source-bidi-override", "unprintable_name", {"source": "\u202eexe.txt"}),
    ("event-type-newline", "unprintable_name", {"event_type": "order.placed\n"}),
]

# JSON-only cases: (name, expected reason, the line as text — {id} is the row's id)
JSON_LINES: list[tuple[str, str, str]] = [
    ("json-time-1e308", "time_out_of_range", '"event_time": 1e308'),
    ("json-time-neg-1e308", "time_out_of_range", '"event_time": -1e308'),
    ("json-time-400-digit-int", "time_out_of_range", '"event_time": ' + "1" * 400),
    ("json-time-1e17", "time_out_of_range", '"event_time": 1e17, "arrival_time": 1e17'),
    ("json-time-float-1e12", "time_out_of_range", '"event_time": 1000000000000.5'),
    ("json-amount-5000-digit-int", "invalid_amount", '"amount": ' + "9" * 5000),
    ("json-amount-400-digit-int", "invalid_amount", '"amount": ' + "9" * 400),
    ("json-items-400-digit-int", "invalid_items", '"items": ' + "9" * 400),
    ("json-amount-true", "invalid_amount", '"amount": true'),
    ("json-items-true", "invalid_items", '"items": true'),
    ("json-items-fraction", "invalid_items", '"items": 2.5'),
    ("json-source-surrogate", "invalid_unicode", '"source": "\\ud800"'),
    ("json-key-low-surrogate", "invalid_unicode", '"key": "ab\\udfffcd"'),
    ("json-extra-field-surrogate", "invalid_unicode", '"note": "\\udc80"'),
    ("json-surrogate-in-key-name", "invalid_unicode", '"\\ud83d": 1'),
    ("json-source-list", "invalid_type", '"source": ["web", "api"]'),
    ("json-key-object", "invalid_type", '"key": {"nested": 1}'),
    ("json-event-type-number", "invalid_type", '"event_type": 7.5'),
    ("json-deep-extra", "too_deep", '"payload": ' + "[" * 20 + "1" + "]" * 20),
    ("json-deep-object", "too_deep", '"payload": ' + '{"a": ' * 20 + "1" + "}" * 20),
]
# Lines that replace a whole row: (name, reason, line, id or None)
JSON_RAW_LINES: list[tuple[str, str, str]] = [
    ("json-100000-brackets", "too_deep", "[" * 100_000),
    ("json-100000-brackets-closed", "too_deep", "[" * 100_000 + "]" * 100_000),
    ("json-nan-token", "malformed_row", None),  # filled below (needs an id)
    ("json-truncated", "malformed_row", '{"event_id": "trunc", "source": "web", "event_t'),
    ("json-array-line", "malformed_row", '[{"event_id": "in-array"}]'),
    ("json-string-line", "malformed_row", '"just a string"'),
    ("json-float-id", "invalid_type", None),
    ("json-bool-id", "invalid_type", None),
    ("json-5000-digit-id", "oversized_field", None),
]


def _record_line(record: dict) -> str:
    return json.dumps(record)


def _csv_line(record: dict) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([record.get(c, "") for c in COLUMNS])
    return buf.getvalue()[:-1]


class _Writer:
    """Collects lines (text or bytes) and the expectations for one text file."""

    def __init__(self, spec: FileSpec, tag: str) -> None:
        self.spec = spec
        self.tag = tag
        self.lines: list[bytes] = []
        self.physical = 0
        self.n_good = 0

    def line(self, text: str | bytes) -> int:
        """Append one row's text; returns its first physical line number (a quoted
        field holding a newline makes a row span lines)."""
        data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
        self.lines.append(data)
        first = self.physical + 1
        self.physical += 1 + data.count(b"\n")
        return first

    def good(self, render, count: int = GOOD_PER_GAP) -> None:
        for _ in range(count):
            rec = good_record(self.tag, self.n_good)
            self.n_good += 1
            self.line(render(rec))
            self.spec.rows += 1
            self.spec.good_ids.append(rec["event_id"])

    def bad(self, text: str | bytes, reason: str, bad_id: str | None = None) -> None:
        line_no = self.line(text)
        self.spec.rows += 1
        self.spec.bad[line_no] = reason
        if bad_id:
            self.spec.bad_ids.append(bad_id)

    def write(self, path: Path, newline: bytes = b"\n", bom: bool = False) -> None:
        data = newline.join(self.lines) + newline
        path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)


def write_csv(out: Path, name: str, newline: bytes = b"\n", bom: bool = False) -> FileSpec:
    spec = FileSpec(name, "csv")
    w = _Writer(spec, name)
    w.line(",".join(COLUMNS))  # the header is not a row
    w.good(_csv_line)
    for case, reason, over in TEXT_CASES:
        rec = {**good_record(name, 0), "event_id": f"bad-{name}-{case}", **over}
        w.bad(_csv_line(rec), reason, rec["event_id"] if case != "id-oversized" else None)
        w.good(_csv_line)
    # bytes that are not UTF-8 (Latin-1 'é'): quarantined, never replaced silently
    latin = _csv_line({**good_record(name, 0), "event_id": f"bad-{name}-latin1", "source": "cafX"})
    w.bad(latin.encode().replace(b",cafX,", b",caf\xe9,"), "encoding", f"bad-{name}-latin1")
    w.good(_csv_line)
    # wrong number of fields
    w.bad(f"bad-{name}-short,web,{EVENT_TIME}", "malformed_row", f"bad-{name}-short")
    w.good(_csv_line)
    # a legitimate quoted field spanning two lines is one good row (its first line counts)
    rec = good_record(name, 10_000)
    rec["key"] = "first line\nsecond line"
    text = _csv_line(rec)
    w.line(text.split("\n")[0])
    w.line(text.split("\n")[1])
    spec.rows += 1
    spec.good_ids.append(rec["event_id"])
    w.good(_csv_line)
    # a quote never closed: only its own line is quarantined, the rows after it survive
    rec = {**good_record(name, 0), "event_id": f"bad-{name}-unterminated"}
    w.bad(_csv_line(rec)[: -len(rec["key"])] + '"unterminated', "malformed_row")
    w.good(_csv_line, count=20)
    w.write(out / f"{name}.csv", newline=newline, bom=bom)
    return spec


def write_jsonl(out: Path, name: str, bom: bool = False) -> FileSpec:
    spec = FileSpec(name, "jsonl")
    w = _Writer(spec, name)
    w.good(_record_line)  # with a BOM, the first row must survive
    for case, reason, over in TEXT_CASES:
        rec = {**good_record(name, 0), "event_id": f"bad-{name}-{case}", **over}
        w.bad(_record_line(rec), reason, rec["event_id"] if case != "id-oversized" else None)
        w.good(_record_line)
    for case, reason, fragment in JSON_LINES:
        base = {**good_record(name, 0), "event_id": f"bad-{name}-{case}"}
        fields = ", ".join(
            f"{json.dumps(k)}: {json.dumps(v)}" for k, v in base.items() if f'"{k}"' not in fragment
        )
        w.bad("{" + fields + ", " + fragment + "}", reason, base["event_id"])
        w.good(_record_line)
    for case, reason, line in JSON_RAW_LINES:
        eid = f"bad-{name}-{case}"
        base = {k: v for k, v in good_record(name, 0).items() if k != "event_id"}
        rest = _record_line(base)[1:]
        if case == "json-nan-token":
            line = '{"event_id": "' + eid + '", "amount": NaN, ' + rest
        elif case == "json-float-id":
            line = '{"event_id": 1.5, ' + rest
        elif case == "json-bool-id":
            line = '{"event_id": true, ' + rest
        elif case == "json-5000-digit-id":
            line = '{"event_id": ' + "4" * 5000 + ", " + rest
        w.bad(line, reason, eid)
        w.good(_record_line)
    # undecodable bytes
    rec = {**good_record(name, 0), "event_id": f"bad-{name}-latin1", "source": "cafX"}
    w.bad(_record_line(rec).encode().replace(b"cafX", b"caf\xe9"), "encoding", rec["event_id"])
    w.good(_record_line)
    # a surrogate in a row that is quarantined for another reason anyway
    w.bad('{"source": "\\ud800", "event_time": "2026-11-20T10:00:00Z"}', "invalid_unicode")
    w.good(_record_line, count=10)
    w.write(out / f"{name}.jsonl", bom=bom)
    return spec


# --------------------------------------------------------------------------- parquet
def _parquet(
    out: Path, name: str, columns: dict, types: dict, bad: dict[int, str], **kw
) -> FileSpec:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = len(next(iter(columns.values())))
    fields = [pa.field(c, types.get(c, pa.string())) for c in columns]
    table = pa.table(
        {c: pa.array(v, type=types.get(c, pa.string())) for c, v in columns.items()},
        schema=pa.schema(fields),
    )
    pq.write_table(table, out / f"{name}.parquet")
    ids = columns["event_id"]
    good_ids = [ids[i - 1] for i in range(1, n + 1) if i not in bad]
    bad_ids = [ids[i - 1] for i in bad if isinstance(ids[i - 1], str) and len(ids[i - 1]) < 200]
    return FileSpec(name, "parquet", rows=n, good_ids=good_ids, bad=bad, bad_ids=bad_ids, **kw)


def _columns(name: str, n: int) -> dict[str, list]:
    recs = [good_record(name, i) for i in range(n)]
    return {c: [r[c] for r in recs] for c in COLUMNS}


def write_parquets(out: Path) -> list[FileSpec]:
    import pyarrow as pa

    specs = []
    n = 24
    bad_at = [3, 7, 11, 15, 19, 23]

    def with_bad(name, column, values, reason, types=None, **kw):
        cols = _columns(name, n)
        if types:  # a typed column: the good rows leave it empty
            cols[column] = [None] * n
        bad = {}
        for line, value in zip(bad_at, values, strict=False):
            cols[column][line - 1] = value
            cols["event_id"][line - 1] = f"bad-{name}-{line}"
            bad[line] = reason
        return _parquet(out, name, cols, types or {}, bad, **kw)

    specs.append(
        with_bad(
            "pq-times",
            "event_time",
            ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1e308", "1" * 400, "-1e15", "1e12"],
            "time_out_of_range",
        )
    )
    # timestamp columns: values beyond what a Python datetime holds, and ones it holds
    # but that lie outside the sane range
    ts = pa.timestamp("ms", tz="UTC")
    cols = _columns("pq-timestamps", n)
    base_ms = 1_795_000_000_000
    cols["event_time"] = [base_ms] * n
    cols["arrival_time"] = [base_ms + 5000] * n
    bad = {}
    for line, value in zip(
        bad_at,
        [10**17, -(10**17), 253_402_300_799_000, -1_000_000, 4_102_444_800_000, 10**16],
        strict=True,
    ):
        cols["event_time"][line - 1] = value
        cols["event_id"][line - 1] = f"bad-pq-timestamps-{line}"
        bad[line] = "time_out_of_range"
    specs.append(_parquet(out, "pq-timestamps", cols, {"event_time": ts, "arrival_time": ts}, bad))
    # binary source (good rows: null, labelled by --source), struct and list keys
    cols = _columns("pq-binary-source", n)
    cols["source"] = [None] * n
    bad = {}
    for line in bad_at:
        cols["source"][line - 1] = b"mobile" if line % 2 else b"caf\xe9"
        cols["event_id"][line - 1] = f"bad-pq-binary-source-{line}"
        bad[line] = "invalid_type"
    specs.append(
        _parquet(
            out, "pq-binary-source", cols, {"source": pa.binary()}, bad, args=["--source", "web"]
        )
    )
    specs.append(
        with_bad(
            "pq-struct-key",
            "key",
            [{"nested": i} for i in range(6)],
            "invalid_type",
            {"key": pa.struct([("nested", pa.int64())])},
        )
    )
    specs.append(
        with_bad("pq-list-key", "key", [[1, 2]] * 6, "invalid_type", {"key": pa.list_(pa.int64())})
    )
    deep_type = pa.int64()
    for _ in range(12):
        deep_type = pa.list_(deep_type)
    deep_value = 1
    for _ in range(12):
        deep_value = [deep_value]
    cols = _columns("pq-deep", n)
    cols["payload"] = [None] * n
    bad = {}
    for line in bad_at:
        cols["payload"][line - 1] = deep_value
        cols["event_id"][line - 1] = f"bad-pq-deep-{line}"
        bad[line] = "too_deep"
    specs.append(_parquet(out, "pq-deep", cols, {"payload": deep_type}, bad))
    cols = _columns("pq-bool-items", n)
    cols["items"] = [None] * n
    bad = {}
    for line in bad_at:
        cols["items"][line - 1] = True
        cols["event_id"][line - 1] = f"bad-pq-bool-items-{line}"
        bad[line] = "invalid_items"
    specs.append(_parquet(out, "pq-bool-items", cols, {"items": pa.bool_()}, bad))
    specs.append(
        with_bad(
            "pq-amount-text",
            "amount",
            ["1_000", "true", "9" * 400, "inf", "nan", "0x1f"],
            "invalid_amount",
        )
    )
    cols = _columns("pq-amount-float", n)
    cols["amount"] = [12.5] * n
    bad = {}
    for line, value in zip(
        bad_at, [float("inf"), float("-inf"), 1e300, -1e300, 1e10, 5e9], strict=True
    ):
        cols["amount"][line - 1] = value
        cols["event_id"][line - 1] = f"bad-pq-amount-float-{line}"
        bad[line] = "invalid_amount"
    specs.append(_parquet(out, "pq-amount-float", cols, {"amount": pa.float64()}, bad))
    specs.append(with_bad("pq-long-key", "key", ["k" * 5000, "x" * 300] * 3, "oversized_field"))
    # ids as integers are fine; huge integers and floats are not
    cols = _columns("pq-int-ids", n)
    cols["event_id"] = [10_000 + i for i in range(n)]
    specs.append(_parquet(out, "pq-int-ids", cols, {"event_id": pa.int64()}, {}))
    specs[-1].good_ids = [str(10_000 + i) for i in range(n)]
    # a corrupt file and a truncated one: the ingest fails as a whole, cleanly
    (out / "pq-corrupt.parquet").write_bytes(b"PAR1" + bytes(range(256)) * 8 + b"PAR1")
    specs.append(FileSpec("pq-corrupt", "parquet", fails=True))
    whole = (out / "pq-times.parquet").read_bytes()
    (out / "pq-truncated.parquet").write_bytes(whole[: len(whole) // 2])
    specs.append(FileSpec("pq-truncated", "parquet", fails=True))
    return specs


def make_corpus(out: str | Path) -> list[FileSpec]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    specs = [
        write_csv(out, "csv-plain"),
        write_csv(out, "csv-bom-crlf", newline=b"\r\n", bom=True),
        write_jsonl(out, "jsonl-plain"),
        write_jsonl(out, "jsonl-bom", bom=True),
        *write_parquets(out),
    ]
    manifest = {s.name: {**asdict(s), "bad": {str(k): v for k, v in s.bad.items()}} for s in specs}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return specs


def path_of(out: str | Path, spec: FileSpec) -> Path:
    return Path(out) / f"{spec.name}.{spec.fmt}"


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile-corpus")
    for s in make_corpus(target):
        print(f"{path_of(target, s)}: {s.rows} rows, {len(s.bad)} bad")
