"""Event-time semantics: events, time, windows, watermarks, window state, the operator
(when windows fire and where events go), panes (what a firing publishes), the
pipeline spec, results and replay.

Pure and dependency-free: imports nothing else of the project (no store, no runtime,
no pandas-shaped views) and never reads the wall clock — time is an argument.
"""
