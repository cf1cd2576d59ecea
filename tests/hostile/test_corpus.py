"""The generated hostile corpus through `engine ingest` and `POST /events`.

For each file: exit code 0 (1 with a one-line error and an ingest marked 'failed' for
a corrupt or truncated Parquet file), no traceback, accepted + duplicates +
quarantined = the rows the generator wrote, every good row in the raw log, no bad row
in it, every bad row quarantined with the expected reason at its line, raw copies and
details bounded, and ``PRAGMA integrity_check`` ok.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from engine.api.app import create_app
from engine.commands.cli import main
from engine.core.timeutil import parse_timestamp_ms
from engine.runtime.clock import FakeClock
from tests.hostile.make_corpus import NOW, make_corpus, path_of

ROOT = Path(__file__).resolve().parents[2]
CORPUS: dict = {}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile")
    specs = make_corpus(out)
    return out, {s.name: s for s in specs}


def _names() -> list[str]:
    if not CORPUS:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            CORPUS.update({s.name: s.fails for s in make_corpus(tmp)})
    return sorted(CORPUS)


@pytest.mark.parametrize("name", _names())
def test_cli_ingest_accounts_for_every_row(corpus, name, tmp_path, capsys):
    out, specs = corpus
    spec = specs[name]
    db = tmp_path / "h.db"
    rc = main(["ingest", str(path_of(out, spec)), "--db", str(db), "--now", NOW, *spec.args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ingest = conn.execute(
            "SELECT rows_read, accepted, duplicates, quarantined, status, error FROM ingests"
        ).fetchall()
        assert len(ingest) == 1
        rows_read, accepted, duplicates, quarantined, status, error = ingest[0]
        if spec.fails:
            assert rc == 1
            assert status == "failed" and error
            errors = [line for line in captured.err.splitlines() if line.strip()]
            assert len(errors) == 1 and errors[0].startswith("error: ")
            return
        assert rc == 0
        assert status == "completed"
        assert rows_read == spec.rows  # counted by the generator, not by the reader
        assert accepted + duplicates + quarantined == spec.rows
        raw_ids = {r[0] for r in conn.execute("SELECT event_id FROM raw_events")}
        assert set(spec.good_ids) <= raw_ids, sorted(set(spec.good_ids) - raw_ids)[:5]
        assert not raw_ids & set(spec.bad_ids)
        assert accepted == len(spec.good_ids)
        got = {
            line: reason
            for line, reason in conn.execute("SELECT line, reason FROM quarantine ORDER BY line")
        }
        assert got == spec.bad
        longest_raw, longest_detail = conn.execute(
            "SELECT max(length(raw)), max(length(detail)) FROM quarantine"
        ).fetchone()
        assert (longest_raw or 0) <= 4000 and (longest_detail or 0) <= 500
    finally:
        conn.close()


def test_cli_in_a_subprocess_prints_no_traceback(corpus, tmp_path):
    """The real command line, once per format: exit code and stderr as a user sees them."""
    out, specs = corpus
    for name in ("csv-bom-crlf", "jsonl-plain", "pq-timestamps", "pq-truncated"):
        spec = specs[name]
        proc = subprocess.run(
            [sys.executable, "-m", "engine", "ingest", str(path_of(out, spec))]
            + ["--db", str(tmp_path / f"{name}.db"), "--now", NOW, *spec.args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert proc.returncode == (1 if spec.fails else 0), proc.stderr[-2000:]


def test_post_events_never_answers_5xx(corpus, tmp_path):
    out, specs = corpus
    db = tmp_path / "api.db"
    key = "hostile-key"
    clock = FakeClock(parse_timestamp_ms(NOW))
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(db, clock=clock, api_keys=[key])) as client:
        for name, spec in sorted(specs.items()):
            body = path_of(out, spec).read_bytes()
            for ctype in ("application/x-ndjson", "application/json"):
                if len(body) > 10 * 1024 * 1024:
                    continue
                r = client.post("/events", content=body, headers={**auth, "content-type": ctype})
                assert r.status_code < 500, (name, ctype, r.text[:500])
                if r.status_code == 200:
                    doc = r.json()
                    assert doc["balanced"]
                    assert all(len(q["detail"] or "") <= 500 for q in doc["quarantined_rows"])
            if spec.fmt == "jsonl":
                r = client.post(
                    "/events",
                    content=body,
                    headers={**auth, "content-type": "application/x-ndjson"},
                )
                doc = r.json()
                assert r.status_code == 200
                assert doc["rows_read"] == spec.rows
                reasons = {q["line"]: q["reason"] for q in doc["quarantined_rows"]}
                assert reasons == spec.bad  # the same reasons as the CLI, line for line
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
