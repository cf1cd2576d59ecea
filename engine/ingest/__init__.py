"""The one way in: reading files and records, validating, de-duplicating and
quarantining, column mapping for imports, and the shipped samples.

Writes to the raw log through ``engine.store``; never imports the runtime, views or API.
"""
