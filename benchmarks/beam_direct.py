"""``engine beam`` on the DirectRunner against ``engine replay``, same seeded stream.

    .venv-beam/bin/python benchmarks/beam_direct.py [--events 300] [--window tumbling:5m]

Prints the TestStream's size (events, watermark and processing-time advances), the
seconds and events per second of both paths (Beam: pipeline construction and run,
not the import of apache_beam), and whether their versions agree.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.beam.teststream import build_stream, run_stream  # noqa: E402
from engine.core.replay import replay  # noqa: E402
from engine.core.spec import PipelineSpec, WatermarkSpec, WindowSpec  # noqa: E402
from engine.core.timeutil import MINUTE_MS  # noqa: E402
from engine.ingest.readers import replay_records as read_records  # noqa: E402
from tests.beam.compare import versions_by_window  # noqa: E402
from tests.beam.streams import make_records, write_stream  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=300)
    ap.add_argument("--window", default="tumbling:5m")
    args = ap.parse_args()
    spec = PipelineSpec(
        window=WindowSpec.parse(args.window),
        watermark=WatermarkSpec.parse("bounded:30s"),
        allowed_lateness_ms=6 * MINUTE_MS,
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = write_stream(Path(tmp) / "events.jsonl", make_records(11, n=args.events))
        t0 = time.perf_counter()
        expected = replay(read_records(path), spec)
        t_replay = time.perf_counter() - t0
        prepared = build_stream(read_records(path), spec)
        kinds = Counter(type(e).__name__ for e in prepared.stream._events)
        got, t_beam = run_stream(prepared, spec)
    n = len(prepared.events)
    print(f"{n} events, window {args.window}; TestStream events: {dict(kinds)}")
    print(f"replay: {t_replay:.3f} s ({n / t_replay:,.0f} events/s)")
    print(f"beam (DirectRunner): {t_beam:.1f} s ({n / t_beam:,.1f} events/s)")
    same = versions_by_window(expected) == versions_by_window(got)
    print(f"versions agree: {same}; outcomes agree: {expected['outcomes'] == got['outcomes']}")


if __name__ == "__main__":
    main()
