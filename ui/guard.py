"""Controls that change data: a confirmation dialog, and the operator mode.

**Confirmation.** Finalizing a day is irreversible; reprocessing, applying a
configuration and deleting a dataset or rule change what everyone sees. Such a
control is a ``confirm_button``: the click opens an ``st.dialog`` that says what will
happen (user text in it shown literally), and only *Confirm* runs the action — as a
callback, exactly once. The pending confirmation lives in session state, so the
dialog survives reruns (and AppTest, where a click in a dialog reruns the whole
script); dismissing it (X, Esc, a click outside) forgets it.

**Operator mode.** When ``LATEWATCH_ADMIN_PASSWORD`` is set the dashboard is read-only
until someone unlocks it for their session in the sidebar (the password is compared
with ``hmac.compare_digest``, in constant time). Locked, every write control is
drawn disabled with a tooltip saying why, and the actions re-check the lock when
they run (a disabled button is a hint to the browser, not a guarantee). Unset, the
dashboard behaves as a single local user's tool: everything is enabled.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable

import streamlit as st

from ui.text import escape_markdown

ADMIN_ENV = "LATEWATCH_ADMIN_PASSWORD"
UNLOCKED_KEY = "lw_operator_unlocked"
PENDING_KEY = "lw_confirm_pending"
FLASH_KEY = "lw_flash"
FAILED_UNLOCK_DELAY_S = 1.0  # slows guessing down; the right password is never delayed
LOCKED_REASON = (
    "Read-only: this dashboard is shared. An operator can unlock changes for their "
    "session in the sidebar (Operator mode)."
)


def _secret() -> str:
    return os.environ.get(ADMIN_ENV, "")


def operator_mode_enabled() -> bool:
    """Is the dashboard protected by an operator password?"""
    return bool(_secret())


def check_password(candidate: str) -> bool:
    """Constant-time comparison with ``LATEWATCH_ADMIN_PASSWORD`` (False when unset)."""
    secret = _secret()
    if not secret:
        return False
    return hmac.compare_digest(candidate.encode("utf-8", "surrogatepass"), secret.encode())


def read_only() -> bool:
    """True while write controls must stay disabled for this session."""
    return operator_mode_enabled() and not st.session_state.get(UNLOCKED_KEY, False)


def locked_reason() -> str | None:
    """Why write controls are disabled (for ``help=``), or None when they are not."""
    return LOCKED_REASON if read_only() else None


def flash(kind: str, text: str) -> None:
    """A message for the next run of the page ("success", "info", "warning", "error")."""
    st.session_state[FLASH_KEY] = (kind, text)


def show_flash() -> None:
    """Show (once) the message an action left, literally (it may quote user text)."""
    message = st.session_state.pop(FLASH_KEY, None)
    if message:
        kind, text = message
        box = {"success": st.success, "warning": st.warning, "error": st.error}.get(kind, st.info)
        box(escape_markdown(text))


def run_guarded(action: Callable, *args, **kwargs):
    """Run a write action unless the session is read-only (then flash why). For
    ``on_click`` callbacks of write controls that need no confirmation."""
    if read_only():
        flash("error", LOCKED_REASON)
        return None
    return action(*args, **kwargs)


# -- operator mode panel -----------------------------------------------------------------
def _unlock() -> None:
    candidate = st.session_state.get("lw_operator_password", "")
    st.session_state["lw_operator_password"] = ""
    if check_password(candidate):
        st.session_state[UNLOCKED_KEY] = True
        st.session_state.pop("lw_operator_error", None)
    else:
        time.sleep(FAILED_UNLOCK_DELAY_S)
        st.session_state["lw_operator_error"] = "Wrong password: the dashboard stays read-only."


def _lock() -> None:
    st.session_state[UNLOCKED_KEY] = False
    st.session_state.pop(PENDING_KEY, None)


def operator_panel() -> None:
    """The sidebar's operator-mode block; draws nothing when no password is set."""
    if not operator_mode_enabled():
        return
    st.markdown("**Operator mode**")
    if st.session_state.get(UNLOCKED_KEY):
        st.caption(":material/lock_open: Unlocked for this session: changes are allowed.")
        st.button("Lock", key="lw_operator_lock", on_click=_lock, icon=":material/lock:")
        return
    st.caption(
        ":material/lock: Read-only. Pausing, finalizing, reprocessing, applying a "
        "configuration, importing and editing rules need the operator password."
    )
    with st.form("lw_operator_form", clear_on_submit=False, border=False):
        st.text_input("Operator password", type="password", key="lw_operator_password")
        st.form_submit_button("Unlock", on_click=_unlock)
    if error := st.session_state.pop("lw_operator_error", None):
        st.error(error)


# -- confirmations -----------------------------------------------------------------------
def _ask(key: str) -> None:
    st.session_state[PENDING_KEY] = key


def _dismiss() -> None:
    st.session_state.pop(PENDING_KEY, None)


def _confirmed(key: str, on_confirm: Callable, args: tuple, kwargs: dict) -> None:
    if st.session_state.get(PENDING_KEY) != key:
        return  # a second click on a stale dialog: the action already ran
    st.session_state.pop(PENDING_KEY, None)
    run_guarded(on_confirm, *args, **kwargs)


def _dialog_body(
    key: str,
    message: str,
    details: str | None,
    confirm_label: str,
    on_confirm: Callable,
    args: tuple,
    kwargs: dict,
) -> None:
    if st.session_state.get(PENDING_KEY) != key:
        st.rerun()  # confirmed or cancelled in a callback: close the dialog
    st.markdown(message)
    if details:
        st.text(details)
    c1, c2 = st.columns(2)
    c1.button(
        confirm_label,
        type="primary",
        key=f"{key}__confirm",
        on_click=_confirmed,
        args=(key, on_confirm, args, kwargs),
        width="stretch",
    )
    c2.button("Cancel", key=f"{key}__cancel", on_click=_dismiss, width="stretch")


def confirm_button(
    label: str,
    *,
    key: str,
    title: str,
    message: str,
    on_confirm: Callable,
    args: tuple = (),
    kwargs: dict | None = None,
    details: str | None = None,
    confirm_label: str = "Confirm",
    container=None,
    disabled: bool = False,
    help: str | None = None,
    icon: str | None = None,
    type: str = "secondary",
    width: str = "content",
) -> None:
    """A button that changes data after a confirmation dialog.

    ``message`` is app-written Markdown saying what will happen; ``details`` is user
    text (a dataset or rule name) shown literally. ``on_confirm(*args, **kwargs)`` runs
    once, as a callback, only after *Confirm* and only if the session may write.
    Disabled (saying why) while the dashboard is read-only."""
    target = container if container is not None else st
    reason = locked_reason()
    target.button(
        label,
        key=key,
        on_click=_ask,
        args=(key,),
        disabled=disabled or reason is not None,
        help=reason or help,
        icon=icon,
        type=type,
        width=width,
    )
    if st.session_state.get(PENDING_KEY) == key:
        if reason is not None:
            _dismiss()
            return
        dialog = st.dialog(title, on_dismiss=_dismiss)(_dialog_body)
        dialog(key, message, details, confirm_label, on_confirm, args, kwargs or {})
