"""The write guard (ui.guard): confirmation dialogs and operator mode, in AppTest on a
tiny script, plus the upload limit stated once (config.toml == the page's constant)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.ingest.mapping import UPLOAD_LIMIT_BYTES, UPLOAD_LIMIT_MB
from ui import guard
from ui.text import code, escape_markdown

ROOT = Path(__file__).parents[1]


def script():
    import streamlit as st

    from ui import guard

    st.session_state.setdefault("count", 0)

    def act(n):
        st.session_state["count"] += n
        guard.flash("success", "done **bold** [x](http://evil.example)")

    with st.sidebar:
        guard.operator_panel()
    guard.show_flash()
    guard.confirm_button(
        "Delete",
        key="del",
        title="Delete it?",
        message="This **deletes** the dataset:",
        details="**name** =HYPERLINK(1)",
        on_confirm=act,
        args=(2,),
    )


@pytest.fixture
def app(monkeypatch):
    monkeypatch.delenv(guard.ADMIN_ENV, raising=False)
    return AppTest.from_function(script, default_timeout=30)


def test_confirm_runs_the_action_once(app):
    at = app.run()
    assert [b.key for b in at.button] == ["del"]
    at.button(key="del").click().run()
    assert at.session_state["count"] == 0, "a click only asks"
    assert "This **deletes** the dataset:" in [m.value for m in at.markdown]
    assert [t.value for t in at.text] == ["**name** =HYPERLINK(1)"]  # user text, literal
    at.button(key="del__confirm").click().run()
    assert at.session_state["count"] == 2
    assert [b.key for b in at.button] == ["del"], "the dialog closed"
    assert at.success[0].value == escape_markdown("done **bold** [x](http://evil.example)")
    at.run()
    assert at.session_state["count"] == 2 and not at.success


def test_cancel_does_nothing(app):
    at = app.run()
    at.button(key="del").click().run()
    at.button(key="del__cancel").click().run()
    assert at.session_state["count"] == 0
    assert [b.key for b in at.button] == ["del"]


def test_operator_mode_locks_until_unlocked(app, monkeypatch):
    monkeypatch.setenv(guard.ADMIN_ENV, "correct horse")
    monkeypatch.setattr(guard, "FAILED_UNLOCK_DELAY_S", 0)
    at = app.run()
    delete = at.button(key="del")
    assert delete.disabled and "Read-only" in delete.help
    at.sidebar.text_input(key="lw_operator_password").input("wrong")
    at.sidebar.button[0].click().run()  # the form's Unlock
    assert at.button(key="del").disabled
    assert "Wrong password" in at.sidebar.error[0].value
    at.sidebar.text_input(key="lw_operator_password").input("correct horse")
    at.sidebar.button[0].click().run()
    assert not at.button(key="del").disabled
    at.button(key="del").click().run()
    at.button(key="del__confirm").click().run()
    assert at.session_state["count"] == 2
    at.sidebar.button(key="lw_operator_lock").click().run()
    assert at.button(key="del").disabled


def test_a_locked_session_cannot_run_the_action_even_if_asked(app, monkeypatch):
    """A disabled button is a hint to the browser; the callback re-checks the lock."""
    monkeypatch.setenv(guard.ADMIN_ENV, "pw")
    at = app.run()
    at.session_state[guard.PENDING_KEY] = "del"
    at.run()
    assert at.session_state["count"] == 0
    assert guard.PENDING_KEY not in at.session_state


def test_password_compare():
    assert not guard.check_password("anything")  # unset: nothing unlocks
    import os

    os.environ[guard.ADMIN_ENV] = "s3cret"
    try:
        assert guard.check_password("s3cret")
        assert not guard.check_password("s3cret ")
        assert not guard.check_password("\ud800")
    finally:
        del os.environ[guard.ADMIN_ENV]


def test_upload_limit_is_stated_once():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == UPLOAD_LIMIT_MB
    assert UPLOAD_LIMIT_BYTES == UPLOAD_LIMIT_MB * 1024 * 1024  # Streamlit's MB
    assert config["client"]["disableDataExport"] is True


def test_inline_code_cannot_be_closed_early():
    assert code("a`b") == "``a`b``"
    assert code("`x`") == "`` `x` ``"
    assert "\n" not in code("a\nb")
