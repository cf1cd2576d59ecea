"""Shared fixtures: a seeded database built once per test session by running the
real runtime (simulator → ingest → operators → store → jobs) over a simulated
past week, and per-test copies of it so tests never see each other's writes."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from engine.core.timeutil import parse_timestamp_ms
from engine.runtime.finalize import FinalizePolicy
from engine.runtime.runtime import Runtime, RuntimeSettings

# Two hypothesis profiles. "ci" (the default, what `.ci/run` and the README's test
# command use) is derandomized with no example database, so every run gives the same
# answer. "explore" draws fresh random examples, many of them, and is what developers
# run before they finish (`HYPOTHESIS_PROFILE=explore .venv/bin/python -m pytest`);
# whatever it finds is kept as an @example on the property. No per-example deadlines:
# on a loaded 2-core box a GC pause is not a bug.
_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", derandomize=True, database=None, **_COMMON)
settings.register_profile("explore", derandomize=False, max_examples=500, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(items) -> None:
    """Under "explore", a property's own ``@settings(max_examples=N)`` (kept small so
    the suite stays fast) would otherwise still cap it at N: explore draws ten times
    as many, at least the profile's 500 when N*10 reaches it."""
    if os.environ.get("HYPOTHESIS_PROFILE", "ci") != "explore":
        return
    ceiling = settings.get_profile("explore").max_examples
    for item in items:
        test = getattr(item, "obj", None)
        own = getattr(test, "_hypothesis_internal_use_settings", None)
        if own is not None and own.max_examples < ceiling:
            test._hypothesis_internal_use_settings = settings(
                own, max_examples=min(ceiling, own.max_examples * 10)
            )


# A fixed "now" makes the seeded history (and every number in it) reproducible.
SEED_NOW_MS = parse_timestamp_ms("2026-11-20T15:30:00Z")
SEED_SETTINGS = dict(
    history_days=8,
    events_per_day=1_500,
    seed=7,
    scenario="steady",
    tz="America/New_York",
    now_ms=SEED_NOW_MS,
    # the seed's "now" is 10:30 local: with the runtime's default preliminary tier
    # (D+1 12:00) yesterday would still be live; the seeded history keeps the tiers
    # at midnight so every tier exists for yesterday (the page tests rely on it)
    finalize=FinalizePolicy(tz="America/New_York", preliminary_at="D+1", final_at="D+7"),
)


# The same tier schedule for the app run on the seeded store (latewatch.toml).
SEED_CONFIG = '[tiers]\npreliminary = "D+1"\nfinal = "D+7"\n'


def seed_config(directory: Path) -> Path:
    path = Path(directory) / "latewatch-seed.toml"
    if not path.exists():
        path.write_text(SEED_CONFIG)
    return path


def build_seeded_db(path: Path, **overrides) -> Path:
    settings = RuntimeSettings(db_path=str(path), **{**SEED_SETTINGS, **overrides})
    rt = Runtime(settings).start(scheduler=False)
    try:
        while rt.catching_up:
            rt.tick(budget_ms=60_000)
        rt.run_due_jobs()
    finally:
        rt.shutdown()
    return path


@pytest.fixture(scope="session")
def seeded_db_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("seeded") / "latewatch.db"
    build_seeded_db(path)
    # fold the WAL into the main file so a plain file copy is complete
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return path


@pytest.fixture
def seeded_db(seeded_db_template, tmp_path) -> Path:
    """A private copy of the seeded database for one test."""
    target = tmp_path / "latewatch.db"
    shutil.copy(seeded_db_template, target)
    return target


@pytest.fixture(autouse=True)
def fresh_streamlit_caches():
    """Each test gets its own runtime (st.cache_resource) and no cached frames: the
    caches outlive AppTest instances within one pytest process."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def app_env(seeded_db, monkeypatch) -> Path:
    """Environment for AppTest runs of app.py: a private seeded database, no scheduler."""
    monkeypatch.setenv("LATEWATCH_DB", str(seeded_db))
    monkeypatch.setenv("LATEWATCH_SCHEDULER", "off")
    monkeypatch.setenv("LATEWATCH_CONFIG", str(seed_config(Path(seeded_db).parent)))
    return seeded_db
