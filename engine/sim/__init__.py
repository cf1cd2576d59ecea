"""The seeded simulator: source profiles (web, mobile, partner, payment, manual),
scenarios, whole simulated days, and event files.

Seeded generators over data (never global random state); imports ``engine.core`` only.
"""
