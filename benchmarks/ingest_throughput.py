"""End-to-end ingest throughput: 1 M events through validate, dedup, raw log, operator
and versions, with an injected (simulated) clock.

Prints events/s for the ingest path alone and for the whole pipeline.

    python benchmarks/ingest_throughput.py [--events 1000000] [--batch 20000]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.core.operator import WindowOperator  # noqa: E402
from engine.core.spec import PipelineSpec, WatermarkSpec, WindowSpec  # noqa: E402
from engine.ingest.ingestor import IngestOptions, Ingestor  # noqa: E402
from engine.runtime.emissions import record_emissions  # noqa: E402
from engine.store.db import Store  # noqa: E402

BASE_S = 1_795_132_800  # 2026-11-20T00:00Z
SOURCES = ("web", "mobile", "partner", "api")


def records(n: int, seed: int = 1):
    """Records in arrival order: one every 10 ms of arrival time, small random delays,
    1% duplicates (resends) to exercise the dedup path."""
    rng = random.Random(seed)
    for i in range(n):
        arrival = BASE_S + i * 0.01
        delay = rng.choice((0.5, 2.0, 30.0, 600.0))
        eid = f"e{i - 1}" if i and rng.random() < 0.01 else f"e{i}"
        yield {
            "event_id": eid,
            "source": SOURCES[i % 4] if eid == f"e{i}" else SOURCES[(i - 1) % 4],
            "event_time": round(arrival - delay, 3) if eid == f"e{i}" else None,
            "arrival_time": arrival,
            "amount": (i % 997) / 10,
            "items": i % 3,
            "event_type": "order.placed",
        }


def fix_duplicates(gen):
    """A resend repeats the previous record's content with a new arrival time."""
    prev = None
    for rec in gen:
        if rec["event_time"] is None and prev is not None:
            rec = {**prev, "arrival_time": rec["arrival_time"]}
        prev = rec
        yield rec


def records_frame(n: int):
    """The same records as a typed frame (int ms times, cents): what the simulator and
    typed Parquet give the vectorized ``Ingestor.ingest_frame`` path."""
    import pandas as pd

    df = pd.DataFrame(fix_duplicates(records(n)))
    df["event_time_ms"] = (df.pop("event_time") * 1000).round().astype("int64")
    df["arrival_time_ms"] = (df.pop("arrival_time") * 1000).round().astype("int64")
    df["amount_cents"] = (df.pop("amount") * 100).round().astype("int64")
    return df


def run(n: int, batch: int, with_operator: bool, path: str, frame=None) -> tuple[float, int, int]:
    spec = PipelineSpec(
        window=WindowSpec.parse("tumbling:5m"),
        watermark=WatermarkSpec.parse("bounded:1m"),
        allowed_lateness_ms=600_000,
    )
    store = Store(path)
    op = WindowOperator(spec, track_contributions=True, collect_lateness=False)
    now = [BASE_S * 1000]
    versions = [0]

    def feed(events):
        now[0] = events[-1].arrival_time_ms
        op.process_all(events)  # the runtime's entry point (engine.runtime.poison)
        v, late = op.drain()
        versions[0] += len(v)
        record_emissions(store, "bench", v, late, now[0], metrics=spec.metrics)

    ing = Ingestor(
        store,
        IngestOptions(batch_size=batch, keep_events=False),
        clock=lambda: now[0],
        on_events=feed if with_operator else None,
    )
    t0 = time.perf_counter()
    if frame is not None:
        report = ing.ingest_frame(frame, chunk_rows=batch)
    else:
        report = ing.ingest_records(fix_duplicates(records(n)))
    if with_operator:
        op.finish()
        v, late = op.drain()
        versions[0] += len(v)
        record_emissions(store, "bench", v, late, now[0], metrics=spec.metrics)
    elapsed = time.perf_counter() - t0
    assert report.balanced and report.rows_read == n
    store.close()
    return elapsed, report.accepted, versions[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=20_000)
    args = ap.parse_args()
    frame = records_frame(args.events)  # built before timing, like the records generator
    with tempfile.TemporaryDirectory() as tmp:
        for label, with_op, typed in (
            ("records: ingest only (parse, dedup, log)", False, None),
            ("records: end to end (+ operator, versions)", True, None),
            ("frame: ingest only (vectorized checks)", False, frame),
            ("frame: end to end (+ operator, versions)", True, frame),
        ):
            path = os.path.join(tmp, f"{with_op}-{typed is not None}.db")
            elapsed, accepted, nver = run(args.events, args.batch, with_op, path, typed)
            print(
                f"{label:<44} {args.events:,} rows in {elapsed:6.1f} s = "
                f"{args.events / elapsed:,.0f} rows/s ({accepted:,} accepted, "
                f"{nver:,} versions)"
            )


if __name__ == "__main__":
    main()
