"""Seeded arrival-ordered event streams for comparing ``engine replay`` with ``engine beam``.

``make_stream(seed, n, ...)`` writes JSONL records in arrival order: events with an
event time, an arrival time (delays: mostly seconds, some minutes, a tail of late
ones), a few groups' sources, optional punctuated watermark records and the odd
record to quarantine or repeat. Times sit on whole seconds around a fixed start.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

START_MS = int(datetime(2026, 11, 20, 10, 0, tzinfo=UTC).timestamp() * 1000)
SOURCES = ("web", "api", "mobile")


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def make_records(
    seed: int,
    n: int = 200,
    span_ms: int = 40 * 60_000,
    late_share: float = 0.15,
    max_late_ms: int = 15 * 60_000,
    punctuate_every: int = 0,
    punctuate_lag_ms: int = 60_000,
    junk: bool = True,
    start_ms: int = START_MS,
) -> list[dict]:
    rng = random.Random(seed)
    events = []
    for i in range(n):
        et = start_ms + rng.randrange(0, span_ms // 1000) * 1000
        if rng.random() < late_share:
            delay = rng.randrange(30, max_late_ms // 1000 + 1) * 1000
        else:
            delay = rng.randrange(0, 20) * 1000
        events.append(
            {
                "event_id": f"e{i}",
                "source": rng.choice(SOURCES),
                "amount": round(rng.uniform(-5, 120), 2) if rng.random() < 0.9 else 0,
                "items": rng.randrange(0, 4),
                "event_type": "order.placed" if rng.random() < 0.8 else "page.view",
                "user_id": f"u{rng.randrange(20)}",
                "event_time": iso(et),
                "arrival_time": iso(et + delay),
                "_arrival": et + delay,
            }
        )
    events.sort(key=lambda r: r["_arrival"])
    out: list[dict] = []
    max_seen = None
    for k, rec in enumerate(events):
        arrival = rec.pop("_arrival")
        out.append(rec)
        et = int(
            datetime.fromisoformat(rec["event_time"].replace("Z", "+00:00")).timestamp() * 1000
        )
        max_seen = et if max_seen is None else max(max_seen, et)
        if punctuate_every and k % punctuate_every == punctuate_every - 1:
            out.append(
                {"watermark": iso(max_seen - punctuate_lag_ms), "arrival_time": iso(arrival)}
            )
        if junk and k in (n // 3, 2 * n // 3):
            out.append(dict(rec))  # an exact repeat: duplicate
    if junk:
        out.append({"event_id": "bad", "source": "web", "amount": 1, "event_time": "soon"})
    return out


def write_stream(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path
