"""Memory stays bounded on big hostile files: peak RSS of `engine ingest` (a fresh child
process per file) on a ~100 MB JSON-lines file of good rows with hostile rows mixed in,
on a ~100 MB CSV, and on a file whose single line is 100 MB (quarantined as
`oversized_row`, never accepted).

    python benchmarks/hostile_memory.py [--mb 100] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOW = "2026-11-21T00:00:00Z"


def good(i: int) -> dict:
    return {
        "event_id": f"e{i}",
        "source": ("web", "api", "mobile")[i % 3],
        "event_time": "2026-11-20T10:00:00Z",
        "arrival_time": "2026-11-20T10:00:05Z",
        "amount": "12.50",
        "items": "1",
        "event_type": "order.placed",
        "key": f"user-{i % 5000}",
    }


HOSTILE = [
    '{"event_id": "h%d", "source": "web", "event_time": 1e308}',
    '{"event_id": "h%d", "source": "\\ud800", "event_time": "2026-11-20T10:00:00Z"}',
    "[" * 100_000,
    '{"event_id": "h%d", "source": "web", "event_time": "9999-12-31T23:59:59Z"}',
]


def write_jsonl(path: Path, mb: int) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        while fh.tell() < mb * 1_000_000:
            if n % 1000 == 999:
                line = HOSTILE[(n // 1000) % len(HOSTILE)]
                fh.write((line % n if "%d" in line else line) + "\n")
            else:
                fh.write(json.dumps(good(n)) + "\n")
            n += 1
    return n


def write_csv(path: Path, mb: int) -> int:
    cols = list(good(0))
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        fh.write(",".join(cols) + "\n")
        while fh.tell() < mb * 1_000_000:
            row = good(n)
            if n % 1000 == 999:
                row["amount"] = "1_000"
            fh.write(",".join(str(row[c]) for c in cols) + "\n")
            n += 1
    return n


def write_one_line(path: Path, mb: int) -> int:
    with path.open("w", encoding="utf-8") as fh:
        fh.write(json.dumps(good(0)) + "\n")
        fh.write('{"event_id": "huge", "source": "web", "key": "')
        chunk = "k" * 1_000_000
        for _ in range(mb):
            fh.write(chunk)
        fh.write('", "event_time": "2026-11-20T10:00:00Z"}\n')
        fh.write(json.dumps(good(1)) + "\n")
    return 3


def measure(path: Path, db: Path) -> tuple[float, float, str]:
    script = (
        "import resource, sys\n"
        "from engine.commands.cli import main\n"
        f"rc = main(['ingest', {str(path)!r}, '--db', {str(db)!r}, '--now', {NOW!r}])\n"
        "print('maxrss_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
        "sys.exit(rc)\n"
    )
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    seconds = time.perf_counter() - start
    rss_kb = int(next(x for x in proc.stdout.splitlines() if x.startswith("maxrss_kb")).split()[1])
    summary = next(x for x in proc.stdout.splitlines() if x.startswith("ingest "))
    return rss_kb / 1024, seconds, summary


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--keep", default=None)
    args = ap.parse_args()
    base = Path(args.keep or tempfile.mkdtemp(prefix="latewatch-hostile-"))
    base.mkdir(parents=True, exist_ok=True)
    for name, writer in (
        ("mixed.jsonl", write_jsonl),
        ("mixed.csv", write_csv),
        ("one-line.jsonl", write_one_line),
    ):
        path = base / name
        rows = writer(path, args.mb)
        rss, seconds, summary = measure(path, base / f"{name}.db")
        size = path.stat().st_size / 1e6
        print(
            f"{name}: {size:.0f} MB, {rows:,} rows written -> peak RSS {rss:.0f} MB, {seconds:.0f} s"
        )
        print(f"    {summary}")
    _ = resource  # the child reports its own peak


if __name__ == "__main__":
    main()
