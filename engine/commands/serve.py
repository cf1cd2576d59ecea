"""`python -m engine serve [--db PATH] [--host 127.0.0.1] [--port 8000]`: the HTTP API.

Serves ``engine.api.app`` under uvicorn on a database file, beside (or without) a
running ``python -m engine run``. The command line is the edge, so the wall
clock is chosen here (``SystemClock``). API keys for ``POST /events`` come from
``--api-keys-file`` and/or ``LATEWATCH_API_KEYS``; it binds to localhost unless
told otherwise, since read endpoints are open unless ``--read-keys-required``.

Readers and a writer in one process would share its GIL: while ``POST /events``
validates a batch in Python, a reader that released the GIL (a socket read, an
SQLite step) waits for the interpreter's switch interval to get it back, several
times per request. So the ingest of ``POST /events`` and the completeness refits
run in one worker process (``engine.api.sidework``; ``--no-worker-process`` keeps
them in server threads). What GIL-heavy work is left in the server runs with a
1 ms switch interval instead of 5 ms (``SWITCH_INTERVAL_S``). And the objects of the imported libraries (pandas, numpy, FastAPI: over
a million) are frozen out of the cyclic garbage collector once the app is built:
otherwise every full collection — frequent while a writer allocates batches —
walks them all and stops every request of the process for 70-150 ms. See
``benchmarks/api.py``.
"""

from __future__ import annotations

import gc
import sys

from engine.commands.ingest import db_path, vocabulary_from_args

SWITCH_INTERVAL_S = 0.001
# Every `python -m engine …` builds the whole parser: FastAPI (most of a second to
# import) is loaded only when the server is actually started.


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="serve the store over HTTP (FastAPI; docs at /docs)")
    p.add_argument("--db", default=None, help="SQLite store (default $LATEWATCH_DB or data/)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--api-keys-file",
        default=None,
        help="file with one API key per line (also: $LATEWATCH_API_KEYS, comma-separated)",
    )
    p.add_argument(
        "--read-keys-required",
        action="store_true",
        help="require an API key for the read endpoints too",
    )
    p.add_argument(
        "--max-body-bytes",
        type=int,
        default=None,
        help="largest POST /events body accepted (larger: 413; default 10 MiB)",
    )
    p.add_argument(
        "--no-worker-process",
        action="store_true",
        help="ingest POST /events and refit completeness models in server threads "
        "instead of one worker process (saves its memory, ~130 MB; reads under a "
        "writer get slower)",
    )
    p.add_argument("--log-level", default="info", help="uvicorn log level")
    p.add_argument(
        "--config",
        default=None,
        help="latewatch.toml whose [orders] names your fields and event types "
        "(default $LATEWATCH_CONFIG)",
    )
    p.set_defaults(run=run)


def run(args) -> int:
    import uvicorn

    from engine.api.app import create_app
    from engine.api.support import DEFAULT_MAX_BODY_BYTES, load_api_keys
    from engine.runtime.clock import SystemClock

    keys = load_api_keys(args.api_keys_file)
    if not keys:
        print("note: no API keys configured; POST /events will answer 401", file=sys.stderr)
    app = create_app(
        db_path(args),
        clock=SystemClock(),
        api_keys=keys,
        read_keys_required=args.read_keys_required,
        max_body_bytes=(
            DEFAULT_MAX_BODY_BYTES if args.max_body_bytes is None else args.max_body_bytes
        ),
        vocabulary=vocabulary_from_args(args),
        side_process=not args.no_worker_process,
    )
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
