"""The app on live data (LATEWATCH_SIMULATOR=off, a latewatch.toml): every page runs on
real data — empty states say how to send data, the sidebar says "Live data" with the
last event received and the events/min, Operations shows the effective configuration
and the unconfigured sources. AppTest through the entry point, no scheduler."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.core.timeutil import format_ms
from engine.ingest.ingestor import IngestOptions, Ingestor
from engine.runtime.clock import wall_ms
from engine.store.db import Store
from tests.test_pages import texts

ROOT = Path(__file__).parents[1]
PAGES = [
    "pages/today.py",
    "pages/versions.py",
    "pages/operations.py",
    "pages/whatif.py",
    "pages/lateness.py",
    "pages/alerts.py",
    "pages/reconciliation.py",
    "pages/import.py",
]


@pytest.fixture
def live_env(tmp_path, monkeypatch):
    cfg = tmp_path / "latewatch.toml"
    cfg.write_text('[sources.web]\nwatermark_delay = "20s"\n[tiers]\npreliminary = "+30h"\n')
    monkeypatch.setenv("LATEWATCH_DB", str(tmp_path / "live.db"))
    monkeypatch.setenv("LATEWATCH_SCHEDULER", "off")
    monkeypatch.setenv("LATEWATCH_SIMULATOR", "off")
    monkeypatch.setenv("LATEWATCH_CONFIG", str(cfg))
    return tmp_path / "live.db"


@pytest.mark.parametrize("page", PAGES)
def test_pages_on_an_empty_live_store_say_how_to_send_data(page, live_env):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    at.switch_page(page).run()
    assert not at.exception
    text = texts(at)
    assert "Catching up" not in text and "simulated past" not in text
    assert "Live data" in text
    if page in ("pages/today.py", "pages/lateness.py"):
        assert "POST /events" in text and "ingest - --follow" in text


def test_sidebar_and_operations_on_live_data(live_env):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    store = Store.open(live_env)
    now = wall_ms()
    rows = [
        {"event_id": f"e{i}", "event_time": format_ms(now - 2000), "source": src, "amount": 5}
        for i, src in enumerate(["web", "web", "kiosk"])
    ]
    Ingestor(store, IngestOptions(), clock=wall_ms).ingest_records(rows)
    at.switch_page("pages/operations.py").run()
    # the runtime ticks on the scheduler; here by hand through the cached handle
    from ui.runtime import get_runtime

    get_runtime().tick()
    at.run()
    assert not at.exception
    text = texts(at)
    assert "Last event received" in text and "3 events/min" in text and "kiosk" in text
    assert "Unconfigured" in text and "kiosk" in text.split("Unconfigured", 1)[1]
    config = next(df.value for df in at.dataframe if "Setting" in df.value.columns)
    by_key = dict(zip(config["Setting"], config["From"], strict=True))
    assert by_key["tiers.preliminary"].startswith("file (latewatch.toml:")
    assert by_key["tiers.final"] == "default"
    assert by_key["simulator.enabled"] == "command line / environment"
    assert "Simulator controls" not in text and "Pipeline controls" in text


def test_import_page_appends_a_dataset_to_the_live_store(live_env):
    from engine.ingest import mapping as im

    imports = im.imports_dir_for(str(live_env))
    imports.mkdir(parents=True, exist_ok=True)
    now = wall_ms()
    with Store(im.dataset_path(imports, "backfill")) as ds:
        Ingestor(ds, IngestOptions(), clock=lambda: now).ingest_records(
            [
                {
                    "event_id": f"imp{i}",
                    "event_time": format_ms(now - 3_600_000),
                    "arrival_time": format_ms(now - 60_000),
                    "source": "partner",
                    "amount": 7,
                }
                for i in range(3)
            ]
        )
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    at.switch_page("pages/import.py").run()
    at.button(key="imp_append").click().run()
    assert not at.exception
    assert "3 accepted \\+ 0 duplicates" in texts(at)  # escaped: shown literally
    # under a progress bar, as the import: full once every event went through
    bars = [b.proto for b in at.get("progress")]
    assert [(b.value, b.text) for b in bars] == [(100, "Appended every event")]
    at.button(key="imp_append").click().run()
    assert "0 accepted \\+ 3 duplicates" in texts(at)
    with Store(live_env) as store:
        assert store.raw_event_count() == 3
