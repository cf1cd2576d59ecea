"""The same ``PipelineSpec`` on Apache Beam — an OPTIONAL part.

Needs the extra in ``requirements-beam.txt`` (apache-beam, in its own virtualenv);
nothing else in latewatch imports this package, so the app, the store and the
in-process operator run without apache-beam installed. Only the ``beam`` command
imports it, lazily, and says how to install the extra when it is missing.

- ``engine.beam.translate``: spec -> Beam windowing (WindowFn, trigger, allowed
  lateness with the boundary tick translated), calendar windows as a WindowFn.
- ``engine.beam.transform``: ``LatewatchWindows(spec)``, the PTransform that turns
  events into latewatch versions (one per published pane), late-event records and
  quarantine rows.
- ``engine.beam.sinks``: ``WriteVersions(db_path)`` into latewatch's store and
  ``WriteVersionFiles(directory)`` (JSONL / Parquet, for ``load-versions``).
- ``engine.beam.teststream``: a file in arrival order as a ``TestStream`` (the
  watermark exactly as the in-process strategy produces it), run and shaped like
  ``engine replay``'s output.

This part reads ``engine.core`` and writes through ``engine.store``; it never
imports the runtime, views, api, ingest, sim, analysis or any Streamlit code.
"""
