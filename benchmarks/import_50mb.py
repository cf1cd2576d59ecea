"""Import of a ~50 MB CSV (~500 K rows) through the function the Import page calls
(``engine.ingest.mapping.import_file``), then "Append to the live store"
(``engine.ingest.backfill.append_dataset``): seconds and peak RSS growth of each.

The file is the shape of ``data/samples/events_sample.csv`` (the simulator's record
columns, ISO-8601 'Z' times), seeded, with a few hostile rows mixed in (a bad amount,
an unclosed quote, invalid UTF-8, a year-9999 timestamp, a resend) so the fallbacks
are on the measured path too.

    python benchmarks/import_50mb.py [--rows 500000] [--keep FILE]

Prints wall-clock and CPU seconds (on a shared machine the CPU figure is the steadier
one; the sampler thread adds a little); no test asserts on them.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.core.timeutil import parse_timestamp_ms  # noqa: E402
from engine.ingest import backfill  # noqa: E402
from engine.ingest.mapping import file_columns, guess_mapping, import_file  # noqa: E402

NOW_MS = parse_timestamp_ms("2026-03-20T00:00:00Z")
HOSTILE = (
    b"bad-amount-{i},web,u1,order.placed,abc,1,2026-03-02T11:01:00.000Z,2026-03-02T11:01:05.000Z\n",
    b'unclosed-{i},web,"u1,order.placed,5,1,2026-03-02T11:01:00.000Z,2026-03-02T11:01:05.000Z\n',
    b"bad-utf8-{i},web,u\xff\xfe,order.placed,5,1,2026-03-02T11:01:00.000Z,2026-03-02T11:01:05Z\n",
    b"far-{i},web,u1,order.placed,5,1,9999-01-01T00:00:00.000Z,2026-03-02T11:01:05.000Z\n",
)


def write_file(path: Path, rows: int, seed: int = 5) -> int:
    """Simulated events in the sample's columns; every 50,000th row a hostile one."""
    from engine.sim.simulator import Simulator

    days = max(1, rows // 60_000)
    sim = Simulator("steady", seed=seed, days=days, events=rows)
    rec = sim.record_frame()
    with path.open("wb") as fh:
        for start in range(0, len(rec), 50_000):
            part = rec.iloc[start : start + 50_000]
            fh.write(part.to_csv(index=False, header=start == 0).encode())
            fh.write(HOSTILE[(start // 50_000) % len(HOSTILE)].replace(b"{i}", b"%d" % start))
    return len(rec) + -(-len(rec) // 50_000)


class PeakRss:
    """Samples this process's RSS every 20 ms (VmRSS), so a phase's peak is its own."""

    def __init__(self) -> None:
        self.peak = self.start = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def delta_mb(self) -> float:
        return (self.peak - self.start) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--keep", help="write the CSV here (and reuse it if it exists)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.keep) if args.keep else Path(tmp) / "events_50mb.csv"
        if not path.exists():
            write_file(path, args.rows)
        size_mb = path.stat().st_size / 2**20
        mapping = guess_mapping(file_columns(path))
        ticks = []
        with PeakRss() as mem:
            t0, c0 = time.perf_counter(), time.process_time()
            result = import_file(
                path,
                mapping,
                Path(tmp) / "imports",
                "big",
                NOW_MS,
                progress=lambda done, total: ticks.append(done),
            )
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        r = result.report
        print(
            f"import {size_mb:.1f} MB, {r.rows_read:,} rows: {elapsed:.2f} s ({cpu:.2f} s CPU) "
            f"({r.rows_read / elapsed:,.0f} rows/s), peak RSS +{mem.delta_mb:.0f} MB, "
            f"{len(ticks)} progress updates; accepted {r.accepted:,}, duplicates "
            f"{r.duplicates:,}, quarantined {r.quarantined:,} {r.quarantined_by_reason}"
        )
        live = os.path.join(tmp, "live.db")
        with PeakRss() as mem:
            t0, c0 = time.perf_counter(), time.process_time()
            rep = backfill.append_dataset(result.db_path, live, NOW_MS, "big")
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(
            f"append to the live store, {rep.rows_read:,} rows: {elapsed:.2f} s ({cpu:.2f} s CPU) "
            f"({rep.rows_read / elapsed:,.0f} rows/s), peak RSS +{mem.delta_mb:.0f} MB; "
            f"accepted {rep.accepted:,}, duplicates {rep.duplicates:,}, "
            f"quarantined {rep.quarantined:,}"
        )


if __name__ == "__main__":
    main()
