"""Rule management (edit, switch, delete, history), delivery status and attempts, the
"test webhook" send, and webhook targets that may not reach internal hosts.

Oracles: the store's own append-only tables read back with plain SQL, a local HTTP
receiver that records what it got, and an independent list of special-purpose
address blocks (RFC 6890) for the address check.
"""

from __future__ import annotations

import ipaddress
import sqlite3

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from engine.core.timeutil import DAY_MS
from engine.runtime import alerts
from engine.runtime.sinks import (
    ALLOW_PRIVATE_ENV,
    BlockedAddressError,
    WebhookSink,
    blocked_reason,
    check_webhook_target,
)
from engine.store.db import Store
from engine.views import alerts as alert_views
from tests.test_alerts import (
    D0,
    T_FINAL,
    T_LIVE,
    THRESHOLD,
    _closed_port,
    _Receiver,
    below,
    build_day,
    entries,
    make_rule,
)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "alerts.db")
    yield s
    s.close()


@pytest.fixture
def receiver(monkeypatch):
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "1")
    r = _Receiver()
    yield r
    r.stop()


def history(store, rule_id):
    return [c["action"] for c in alerts.rule_history(store, rule_id)][::-1]


# -- edit, switch, delete -----------------------------------------------------------------
def test_edit_changes_the_rule_and_keeps_the_history(store):
    rule = make_rule(store)
    assert rule.name == rule.describe()
    edited = alerts.update_rule(store, rule.id, D0, threshold=THRESHOLD * 2, comparator="above")
    assert (edited.threshold, edited.comparator) == (THRESHOLD * 2, "above")
    assert edited.name == edited.describe(), "an automatic name follows the edit"
    renamed = alerts.update_rule(store, rule.id, D0 + 1, name="  Revenue   floor ")
    assert renamed.name == "Revenue floor"
    alerts.update_rule(store, rule.id, D0 + 2, threshold=THRESHOLD * 3)
    assert alerts.get_rule(store, rule.id).name == "Revenue floor", "a chosen name stays"
    changes = alerts.rule_history(store, rule.id)
    assert [c["action"] for c in changes] == ["edited", "edited", "edited", "created"]
    assert changes[-2]["before"]["threshold"] == THRESHOLD
    assert changes[-2]["after"]["threshold"] == THRESHOLD * 2
    rows = store.conn.execute(
        "SELECT count(*) FROM alert_rule_changes WHERE rule_id = ?", (rule.id,)
    ).fetchone()
    assert rows[0] == 4


@pytest.mark.parametrize(
    "changes, why",
    [
        ({"metric": "orders"}, "cannot be changed"),
        ({"series": "hourly"}, "cannot be changed"),
        ({"threshold": -1}, "positive"),
        ({"live_margin": 2}, "between 0 and 1"),
        ({"alert_tier": "live"}, "warning"),
        ({"webhook_url": "ftp://x"}, "http"),
        ({"name": "x" * 201}, "at most"),
    ],
)
def test_invalid_edits_change_nothing(store, changes, why):
    rule = make_rule(store)
    with pytest.raises(ValueError, match=why):
        alerts.update_rule(store, rule.id, D0, **changes)
    assert alerts.get_rule(store, rule.id) == rule
    assert history(store, rule.id) == ["created"]


def test_switching_and_deleting(store):
    build_day(store, early=below(0.1), live=below(0.5), prelim=below(0.6), final=below(0.7))
    rule = make_rule(store)
    keep = make_rule(store, threshold=THRESHOLD * 2)
    assert alerts.set_enabled(store, rule.id, False, D0)
    assert not alerts.set_enabled(store, rule.id, False, D0), "already off"
    assert alerts.set_enabled(store, rule.id, True, D0 + 1)
    alerts.evaluate_alerts(store, T_FINAL, sinks=())
    logged = {e["rule_id"] for e in entries(store)}
    assert logged == {rule.id, keep.id}
    assert alerts.delete_rule(store, rule.id, T_FINAL)
    assert not alerts.delete_rule(store, rule.id, T_FINAL), "already deleted"
    assert [r.id for r in alerts.list_rules(store)] == [keep.id]
    assert alerts.get_rule(store, rule.id).deleted_ms == T_FINAL
    # the log keeps the deleted rule's entries, with its name
    log = alert_views.log_frame(store)
    assert set(log["rule_id"]) == {rule.id, keep.id}
    assert rule.name in set(log["rule_name"])
    assert alerts.evaluate_alerts(store, T_FINAL + 1, sinks=()).rules == 1
    with pytest.raises(ValueError, match="does not exist"):
        alerts.update_rule(store, rule.id, T_FINAL, threshold=1)
    with pytest.raises(KeyError):
        alerts.set_enabled(store, rule.id, True, T_FINAL)
    assert history(store, rule.id) == ["created", "disabled", "enabled", "deleted"]


def test_history_tables_are_append_only(store, receiver):
    rule = make_rule(store, webhook_url=receiver.url)
    alerts.send_test_notice(store, rule, D0, WebhookSink(timeout_s=2))
    for statement in (
        "UPDATE alert_rule_changes SET action = 'edited'",
        "DELETE FROM alert_rule_changes",
        "DELETE FROM alert_delivery_attempts",
        "UPDATE alert_delivery_attempts SET ok = 1",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            store.conn.execute(statement)
    assert history(store, rule.id) == ["created"]


def test_re_enabled_rule_backfills_what_it_missed(store):
    """Windows decided while a rule was off are logged as backfill, not sent."""
    build_day(store, early=below(0.1), live=below(0.5), prelim=below(0.6), final=below(0.7))
    rule = make_rule(store, webhook_url="http://127.0.0.1:9/", allow_private=True)
    alerts.set_enabled(store, rule.id, False, D0)
    alerts.set_enabled(store, rule.id, True, T_FINAL + 1)
    report = alerts.evaluate_alerts(store, T_FINAL + 2, sinks=())
    assert report.alerts == 1
    assert [e["backfill"] for e in entries(store) if e["kind"] == "alert"] == [1]


# -- deliveries and the test webhook -------------------------------------------------------
def test_delivery_status_and_attempts(store, receiver):
    build_day(store, early=below(0.1), live=below(0.5), prelim=below(0.6), final=below(0.7))
    rule = make_rule(store, webhook_url=receiver.url + "/fail")
    sinks = (WebhookSink(timeout_s=2),)
    alerts.evaluate_alerts(store, T_LIVE, sinks)
    [d] = alert_views.deliveries_frame(store).to_dict("records")
    assert (d["status"], d["attempts"], d["rule_id"]) == ("retrying", 1, rule.id)
    assert "500" in d["error"] and d["last_attempt_ms"] == T_LIVE
    for k in range(alerts.MAX_DELIVERY_ATTEMPTS):
        alerts.deliver_pending(store, sinks, T_LIVE + k + 1)
    [d] = alert_views.deliveries_frame(store).to_dict("records")
    assert (d["status"], d["attempts"]) == ("failed", alerts.MAX_DELIVERY_ATTEMPTS)
    attempts = alert_views.attempts_frame(store)
    assert len(attempts) == alerts.MAX_DELIVERY_ATTEMPTS
    assert not attempts["ok"].any()
    assert alert_views.delivery_summary(store)["failed"] == 1

    alerts.update_rule(store, rule.id, T_LIVE + 10, webhook_url=receiver.url + "/ok")
    alerts.evaluate_alerts(store, T_FINAL, sinks)
    frame = alert_views.deliveries_frame(store)
    assert frame["status"].tolist() == ["sent", "failed"]
    assert frame["target"].tolist() == [receiver.url + "/ok", receiver.url + "/fail"]


def test_test_webhook_sends_a_marked_notice_and_records_it(store, receiver):
    rule = make_rule(store, webhook_url=receiver.url + "/hook")
    result = alerts.send_test_notice(store, rule, D0, WebhookSink(timeout_s=2))
    assert result.ok and result.error is None
    [(path, _, body)] = receiver.received
    assert path == "/hook" and body["test"] is True and body["event"] == "test"
    assert "not an alert" in body["message"] and body["value"] is None
    assert entries(store) == [], "a test is not an alert"

    broken = alerts.update_rule(
        store, rule.id, D0 + 1, webhook_url=f"http://127.0.0.1:{_closed_port()}/"
    )
    result = alerts.send_test_notice(store, broken, D0 + 2, WebhookSink(timeout_s=1))
    assert not result.ok and result.error
    tests = alert_views.attempts_frame(store, tests_only=True)
    assert tests["ok"].tolist() == [False, True]
    assert tests["attempted_ms"].tolist() == [D0 + 2, D0]


def test_test_webhook_needs_a_url(store):
    rule = make_rule(store)
    with pytest.raises(ValueError, match="no webhook"):
        alerts.send_test_notice(store, rule, D0)


# -- internal addresses --------------------------------------------------------------------
SPECIAL = [
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
        "2001:db8::/32",
    )
]


@given(st.ip_addresses())
@example(ipaddress.ip_address("169.254.169.254"))
@example(ipaddress.ip_address("::ffff:127.0.0.1"))
@example(ipaddress.ip_address("::ffff:10.1.2.3"))
def test_special_purpose_addresses_are_blocked(ip):
    mapped = ip.ipv4_mapped if ip.version == 6 else None
    judged = mapped or ip
    if any(judged in net for net in SPECIAL if net.version == judged.version):
        assert blocked_reason(str(ip)) is not None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.0.0.7/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "https://192.168.1.1/",
        "http://100.64.0.1/",
        "http://2130706433/",  # 127.0.0.1 as one number
        "http://0x7f.1/",
    ],
)
def test_internal_webhook_targets_are_refused_with_a_clear_message(url, monkeypatch):
    monkeypatch.delenv(ALLOW_PRIVATE_ENV, raising=False)
    with pytest.raises(ValueError) as info:
        check_webhook_target(url)
    if isinstance(info.value, BlockedAddressError):
        assert ALLOW_PRIVATE_ENV in str(info.value)
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "1")
    try:
        check_webhook_target(url)
    except BlockedAddressError:  # pragma: no cover - the setting must allow it
        pytest.fail("the setting did not allow an internal target")
    except ValueError:
        pass  # an unresolvable spelling is refused for that reason, not for its address


def test_public_literal_is_allowed(monkeypatch):
    monkeypatch.delenv(ALLOW_PRIVATE_ENV, raising=False)
    assert check_webhook_target("https://93.184.216.34/hook") == "https://93.184.216.34/hook"


def test_add_rule_refuses_an_internal_webhook(store, monkeypatch):
    monkeypatch.delenv(ALLOW_PRIVATE_ENV, raising=False)
    with pytest.raises(BlockedAddressError, match="loopback"):
        make_rule(store, webhook_url="http://127.0.0.1:9/")
    assert alerts.list_rules(store) == []
    rule = make_rule(store)
    with pytest.raises(BlockedAddressError, match="link-local"):
        alerts.update_rule(store, rule.id, D0, webhook_url="http://169.254.169.254/")
    assert alerts.get_rule(store, rule.id).webhook_url is None


def test_send_checks_the_address_it_connects_to(monkeypatch):
    """Even a URL saved while allowed (or a name that now resolves elsewhere) is
    refused at send time: the check is on the connected socket's peer address."""
    monkeypatch.delenv(ALLOW_PRIVATE_ENV, raising=False)
    r = _Receiver()
    try:
        with pytest.raises(BlockedAddressError, match="loopback"):
            WebhookSink(timeout_s=2).send(r.url + "/hook", {"event": "x"})
        assert r.received == []
        WebhookSink(timeout_s=2, allow_private=True).send(r.url + "/hook", {"event": "x"})
        assert len(r.received) == 1
    finally:
        r.stop()


# -- the Alerts page (AppTest through app.py) -----------------------------------------------
HOSTILE_NAME = '**x** =HYPERLINK("http://evil.example","click")'


def plain(markdown: str) -> str:
    """What a reader sees of an escaped message (escapes and joiners removed)."""
    return markdown.replace("\\", "").replace("\u200d", "")


def alerts_page():
    from tests.test_alerts import _alerts_page

    return _alerts_page()


def page_rule(app_env, created_days_ago: int = 0, **kw) -> tuple[Store, alerts.AlertRule]:
    store = Store.open(app_env)
    created = store.get_kv("runtime")["proc_ms"] - created_days_ago * DAY_MS
    fields = dict(metric="revenue", series="daily", comparator="below", threshold=1e12)
    rule = alerts.AlertRule(**(fields | kw))
    rule = alerts.add_rule(store, rule, created, allow_private=True)
    return store, rule


def test_page_edits_a_rule(app_env):
    store, rule = page_rule(app_env, name=HOSTILE_NAME)
    at = alerts_page()
    at.selectbox(key="alerts_toggle_rule").set_value(rule.id).run()
    # the name is an option label, shown as typed
    options = at.selectbox(key="alerts_toggle_rule").options
    assert f"#{rule.id} {HOSTILE_NAME} — on" in options
    at.number_input(key=f"edit_threshold_{rule.id}").set_value(1234.5)
    at.selectbox(key=f"edit_comparator_{rule.id}").set_value("above")
    at.slider(key=f"edit_margin_{rule.id}").set_value(25)
    submit = next(b for b in at.button if b.label == "Save changes")
    submit.click().run()
    assert not at.exception
    stored = alerts.get_rule(store, rule.id)
    assert (stored.threshold, stored.comparator, stored.live_margin) == (123450, "above", 0.25)
    assert stored.name == HOSTILE_NAME
    assert any("saved" in s.value for s in at.success)
    assert HOSTILE_NAME in plain(at.success[0].value)
    assert "**x**" not in at.success[0].value, "the flash escapes the rule name"
    history = alert_views.rule_history_frame(store, rule.id)
    assert history["action"].tolist() == ["edited", "created"]
    shown = next(df.value for df in at.dataframe if "changes" in df.value.columns)
    assert shown["changes"].tolist() == history["changes"].tolist()
    assert "threshold: $10,000,000,000.00 → $1,234.50" in shown["changes"].iloc[0]


def test_page_refuses_a_bad_edit(app_env):
    store, rule = page_rule(app_env)
    at = alerts_page()
    at.selectbox(key="alerts_toggle_rule").set_value(rule.id).run()
    at.text_input(key=f"edit_webhook_{rule.id}").input("http://169.254.169.254/latest")
    next(b for b in at.button if b.label == "Save changes").click().run()
    assert any("link-local" in plain(e.value) for e in at.error)
    assert alerts.get_rule(store, rule.id).webhook_url is None


def test_page_deletes_a_rule_after_confirmation(app_env):
    store, rule = page_rule(app_env)
    at = alerts_page()
    at.selectbox(key="alerts_toggle_rule").set_value(rule.id).run()
    at.button(key="alerts_delete").click().run()
    assert rule.id in [r.id for r in alerts.list_rules(store)], "a click only asks"
    assert any("stops being evaluated" in m.value for m in at.markdown)
    at.button(key="alerts_delete__cancel").click().run()
    assert rule.id in [r.id for r in alerts.list_rules(store)]
    at.button(key="alerts_delete").click().run()
    at.button(key="alerts_delete__confirm").click().run()
    assert not at.exception
    assert rule.id not in [r.id for r in alerts.list_rules(store)]
    assert alerts.get_rule(store, rule.id).deleted_ms is not None
    assert any("deleted" in s.value for s in at.success)
    assert rule.id not in at.selectbox(key="alerts_toggle_rule").options


def test_page_tests_a_webhook_and_lists_deliveries(app_env, receiver):
    store, rule = page_rule(app_env, created_days_ago=40, webhook_url=receiver.url + "/hook")
    alerts.evaluate_alerts(store, store.get_kv("runtime")["proc_ms"], (WebhookSink(2),))
    at = alerts_page()
    at.selectbox(key="alerts_toggle_rule").set_value(rule.id).run()
    at.button(key="alerts_test_webhook").click().run()
    assert not at.exception
    assert any("Test notice delivered" in s.value for s in at.success)
    tests = [b for _, _, b in receiver.received if b["event"] == "test"]
    assert len(tests) == 1 and tests[0]["rule"]["id"] == rule.id
    expected = alert_views.deliveries_frame(store)
    assert len(expected) > 0
    shown = next(df.value for df in at.dataframe if "status_label" in df.value.columns)
    assert shown["status_label"].tolist() == expected["status_label"].tolist()
    assert set(expected["status"]) == {"sent"}


def test_page_is_read_only_in_operator_mode(app_env, monkeypatch):
    from ui.guard import ADMIN_ENV

    monkeypatch.setenv(ADMIN_ENV, "pw")
    store, rule = page_rule(app_env)
    at = alerts_page()
    for key in ("alerts_toggle", "alerts_delete", "rule_add", "alerts_evaluate"):
        assert at.button(key=key).disabled, key
        assert "Read-only" in at.button(key=key).help
    at.sidebar.text_input(key="lw_operator_password").input("pw")
    next(b for b in at.sidebar.button if b.label == "Unlock").click().run()
    at.selectbox(key="alerts_toggle_rule").set_value(rule.id).run()
    assert not at.button(key="alerts_toggle").disabled
    at.button(key="alerts_toggle").click().run()
    assert not alerts.get_rule(store, rule.id).enabled


def test_evaluate_now_squares_its_count_with_the_counter(app_env):
    """The scheduled alert job logs alerts between the page's drawing and the click: the
    button's own run finds nothing new, and its message says who moved the counter."""
    store, _ = page_rule(app_env, created_days_ago=40)
    at = alerts_page()
    before = alert_views.log_summary(store)["alerts_fired"]
    assert at.metric[1].label == "Alerts fired" and at.metric[1].value == f"{before:,}"
    job = alerts.evaluate_alerts(store, store.get_kv("runtime")["proc_ms"])  # the job's run
    assert job.alerts > 0
    at.button(key="alerts_evaluate").click().run()
    assert not at.exception
    after = alert_views.log_summary(store)["alerts_fired"]
    assert after == before + job.alerts and at.metric[1].value == f"{after:,}"
    message = plain(next(s.value for s in at.success if "This run evaluated" in s.value))
    assert "0 new alerts" in message
    assert f"went from {before:,} to {after:,}: 0 by this run, {job.alerts:,} by the " in message
