"""The versioned SQLite store: schema and migrations, the append-only raw log and
version writes, the queries (latest, final, as-of, history, explain), the alert tables.

Owns all SQL. Imports ``engine.core`` only; never the runtime, ingest, views or API.
"""
