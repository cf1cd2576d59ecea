"""The display time zone (issue 15): viewers switch it in the sidebar (URL ``?tz=``);
every formatted time follows it, business days stay in the business zone."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


def sidebar_text(at) -> str:
    return "\n".join(str(c.value) for c in at.sidebar.caption)


def test_the_sidebar_switches_the_display_zone_and_the_url_keeps_it(app_env):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not at.exception
    assert at.selectbox(key="tz").value == "America/New_York"
    assert " EST**" in sidebar_text(at)  # the seeded clock is in November
    at.selectbox(key="tz").set_value("Asia/Tokyo").run()
    assert not at.exception
    assert " JST**" in sidebar_text(at)
    assert "Business time zone: America/New_York" in sidebar_text(at)
    at.switch_page("pages/versions.py").run()
    assert not at.exception
    assert any("JST" in str(c.value) for c in at.caption)  # "as of … JST"

    fresh = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    fresh.query_params["tz"] = "UTC"
    fresh.run()
    assert fresh.selectbox(key="tz").value == "UTC"
    assert " UTC**" in sidebar_text(fresh)
    fresh2 = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    fresh2.query_params["tz"] = "Not/AZone"
    fresh2.run()
    assert not fresh2.exception and " EST**" in sidebar_text(fresh2)  # not a zone: ignored
