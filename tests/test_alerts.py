"""Alerts: fire only on final (or preliminary, if asked) numbers, once per rule, window
and tier; live numbers raise only provisional warnings beyond the margin, which later
numbers confirm or contradict; webhooks get the JSON, and a broken one never crashes
the job. Plus the runtime wiring, the default rule, and the page through app.py.

The timeline of the hand-built day (all versions appended up front; evaluation is a
function of the store and the time, so "replaying" = evaluating at later times):

    day D:      [D ........................ D+1d)
    live  v1    early pane inside the day         (window in progress)
    live  v2    on-time pane after the day ended  (the live dip)
    prelim v3   T+1 batch recompute
    final v4    T+7 finalization
"""

from __future__ import annotations

import json
import socket
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from engine.core.timeutil import DAY_MS, HOUR_MS, parse_timestamp_ms
from engine.runtime import alerts
from engine.runtime.sinks import ALLOW_PRIVATE_ENV, WebhookSink
from engine.store import alerts as sql
from engine.store.db import NewVersion, Store
from engine.views import alerts as alert_views

ROOT = Path(__file__).resolve().parents[1]
D0 = parse_timestamp_ms("2026-03-02T05:00:00Z")  # a business-day start, any will do
THRESHOLD = 100_000  # cents: $1,000 a day
MARGIN = alerts.DEFAULT_LIVE_MARGIN
T_EARLY = D0 + 12 * HOUR_MS
T_LIVE = D0 + DAY_MS + HOUR_MS
T_PRELIM = D0 + 2 * DAY_MS + HOUR_MS
T_FINAL = D0 + 8 * DAY_MS + HOUR_MS


def version(ws: int, cents: int, tier: str, reason: str, timing: str, at_ms: int) -> NewVersion:
    return NewVersion(
        window_start_ms=ws,
        window_end_ms=ws + DAY_MS,
        grp="*",
        values={"revenue_cents": cents, "orders": 1, "items": 1, "events": 1},
        event_count=1,
        timing=timing,
        tier=tier,
        reason=reason,
        processing_time_ms=at_ms,
        watermark_ms=None,
    )


def build_day(store: Store, early: int, live: int, prelim: int, final: int, day: int = 0):
    """One daily window's life: early pane, on-time live pane, preliminary, final."""
    ws = D0 + day * DAY_MS
    shift = day * DAY_MS
    store.append_versions(
        "daily",
        [
            version(ws, early, "live", "early", "early", T_EARLY + shift),
            version(ws, live, "live", "on_time", "on_time", T_LIVE + shift),
            version(ws, prelim, "preliminary", "finalization", "batch", T_PRELIM + shift),
            version(ws, final, "final", "finalization", "batch", T_FINAL + shift),
        ],
    )
    return ws


def make_rule(store: Store, allow_private: bool | None = None, **kw) -> alerts.AlertRule:
    fields = dict(metric="revenue", series="daily", comparator="below", threshold=THRESHOLD)
    rule = alerts.AlertRule(**(fields | kw))
    return alerts.add_rule(store, rule, D0 - DAY_MS, allow_private=allow_private)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "alerts.db")
    yield s
    s.close()


def entries(store: Store) -> list[dict]:
    return sql.log_entries(store, 1000)


def below(fraction: float) -> int:
    return int(THRESHOLD * fraction)


# -- the policy ----------------------------------------------------------------------------
def test_live_dip_beyond_margin_that_recovers_by_final_is_a_contradicted_warning(store):
    build_day(store, early=below(0.2), live=below(1 - 2 * MARGIN), prelim=below(1.05),
              final=below(1.1))  # fmt: skip
    make_rule(store)

    in_progress = alerts.evaluate_alerts(store, T_EARLY, sinks=())
    assert in_progress.warnings == 0  # a day in progress is below any threshold

    live = alerts.evaluate_alerts(store, T_LIVE, sinks=())
    assert (live.alerts, live.warnings) == (0, 1)
    [warning] = entries(store)
    assert (warning["kind"], warning["status"], warning["tier"]) == (
        "warning",
        "provisional",
        "live",
    )

    prelim = alerts.evaluate_alerts(store, T_PRELIM, sinks=())
    assert (prelim.alerts, prelim.warnings, prelim.contradicted) == (0, 0, 0)
    assert entries(store)[0]["status"] == "provisional"  # only the final tier settles it

    final = alerts.evaluate_alerts(store, T_FINAL, sinks=())
    assert (final.alerts, final.contradicted) == (0, 1)
    [warning] = entries(store)
    assert warning["status"] == "contradicted"
    assert (warning["resolved_tier"], warning["resolved_version"]) == ("final", 4)
    assert warning["resolved_value"] == below(1.1)

    again = alerts.evaluate_alerts(store, T_FINAL + HOUR_MS, sinks=())
    assert not again.changed
    assert [e["kind"] for e in entries(store)] == ["warning"]


def test_live_dip_within_the_margin_raises_nothing(store):
    build_day(store, early=below(0.2), live=below(1 - MARGIN / 2), prelim=below(1.02),
              final=below(1.03))  # fmt: skip
    make_rule(store)
    for t in (T_EARLY, T_LIVE, T_PRELIM, T_FINAL):
        report = alerts.evaluate_alerts(store, t, sinks=())
        assert (report.alerts, report.warnings) == (0, 0)
    assert entries(store) == []


def test_truly_low_day_fires_exactly_one_alert_on_final(store):
    build_day(store, early=below(0.1), live=below(0.5), prelim=below(0.6), final=below(0.7))
    make_rule(store)
    fired = [alerts.evaluate_alerts(store, t, sinks=()) for t in (T_LIVE, T_PRELIM, T_FINAL)]
    assert [r.alerts for r in fired] == [0, 0, 1]
    assert fired[2].confirmed == 1
    for _ in range(3):
        assert alerts.evaluate_alerts(store, T_FINAL + DAY_MS, sinks=()).alerts == 0
    log = entries(store)
    alerts_logged = [e for e in log if e["kind"] == "alert"]
    assert len(alerts_logged) == 1
    assert (alerts_logged[0]["tier"], alerts_logged[0]["value"]) == ("final", below(0.7))
    assert [e["status"] for e in log if e["kind"] == "warning"] == ["confirmed"]
    # the schema holds it too: a second insert of the same (rule, window, tier) is ignored
    assert sql.insert_log(store, {**alerts_logged[0], "raised_ms": T_FINAL + 2 * DAY_MS}) is None


def test_preliminary_tier_rule_alerts_per_tier_and_final_can_contradict(store):
    build_day(store, early=below(0.1), live=below(0.95), prelim=below(0.8), final=below(1.2))
    build_day(store, early=below(0.1), live=below(0.95), prelim=below(0.8), final=below(0.9),
              day=1)  # fmt: skip
    rule = make_rule(store, alert_tier="preliminary")
    r1 = alerts.evaluate_alerts(store, T_PRELIM + DAY_MS, sinks=())
    assert r1.alerts == 2  # the preliminary numbers of both days
    alerts.evaluate_alerts(store, T_FINAL + DAY_MS, sinks=())
    log = [e for e in entries(store) if e["rule_id"] == rule.id and e["kind"] == "alert"]
    by_day = {(e["window_start_ms"], e["tier"]): e["status"] for e in log}
    assert by_day == {
        (D0, "preliminary"): "contradicted",  # the final lifted day 0 above the threshold
        (D0 + DAY_MS, "preliminary"): "fired",
        (D0 + DAY_MS, "final"): "fired",  # once per tier: the final fires on its own
    }


def test_above_rule_warns_from_an_open_window_and_respects_the_margin(store):
    build_day(store, early=below(1.3), live=below(1.3), prelim=below(1.3), final=below(1.3))
    make_rule(store, comparator="above", threshold=THRESHOLD, live_margin=0.2)
    report = alerts.evaluate_alerts(store, T_EARLY, sinks=())
    assert report.warnings == 1  # 30 % above, beyond the 20 % margin, while open
    assert alerts.evaluate_alerts(store, T_FINAL, sinks=()).alerts == 1


def test_disabled_rules_are_not_evaluated(store):
    build_day(store, early=below(0.1), live=below(0.5), prelim=below(0.6), final=below(0.7))
    rule = make_rule(store)
    alerts.set_enabled(store, rule.id, False, D0)
    assert alerts.evaluate_alerts(store, T_FINAL, sinks=()).rules == 0
    assert entries(store) == []


@pytest.mark.parametrize(
    "kw, why",
    [
        ({"threshold": 0}, "positive"),
        ({"alert_tier": "live"}, "warning"),
        ({"live_margin": 1.5}, "between 0 and 1"),
        ({"webhook_url": "file:///etc/passwd"}, "http"),
        ({"metric": "profit"}, "metric"),
    ],
)
def test_rule_validation_says_why(kw, why):
    fields = dict(metric="revenue", series="daily", comparator="below", threshold=THRESHOLD)
    with pytest.raises(ValueError, match=why):
        alerts.AlertRule(**(fields | kw))


def test_unknown_series_is_refused(store):
    build_day(store, early=1, live=1, prelim=1, final=1)
    with pytest.raises(ValueError, match="unknown series"):
        make_rule(store, series="weekly")


def test_backfilled_entries_are_logged_but_not_sent(store):
    build_day(store, early=below(0.1), live=below(0.5), prelim=below(0.6), final=below(0.7))
    rule = alerts.AlertRule(metric="revenue", series="daily", comparator="below",
                            threshold=THRESHOLD, webhook_url="http://127.0.0.1:9/")  # fmt: skip
    alerts.add_rule(store, rule, T_FINAL + DAY_MS, allow_private=True)  # after the final
    sent = []

    class Recorder:
        name = "webhook"

        def target(self, rule):
            return rule.webhook_url

        def send(self, target, payload):
            sent.append(payload)

    report = alerts.evaluate_alerts(store, T_FINAL + 2 * DAY_MS, sinks=(Recorder(),))
    assert report.alerts == 1 and sent == []
    assert entries(store)[0]["backfill"] == 1


# -- webhooks ------------------------------------------------------------------------------
class _Receiver:
    """A local HTTP server on an ephemeral port that records POSTed JSON bodies and
    answers 500 on /fail. It serves from a thread that stops by itself after
    ``lifetime_s`` even if a test forgets to stop it."""

    def __init__(self, lifetime_s: float = 20.0) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.path, self.headers["Content-Type"], json.loads(body)))
                self.send_response(500 if self.path == "/fail" else 204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.server.timeout = 0.1
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._stop = threading.Event()
        deadline = time.monotonic() + lifetime_s

        def serve():
            while not self._stop.is_set() and time.monotonic() < deadline:
                self.server.handle_request()
            self.server.server_close()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=2)


@pytest.fixture
def receiver(monkeypatch):
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "1")  # the receiver is on 127.0.0.1
    r = _Receiver()
    yield r
    r.stop()


def test_webhook_receives_the_json_notices(store, receiver):
    build_day(store, early=below(0.1), live=below(0.5), prelim=below(0.6), final=below(0.7))
    rule = make_rule(store, webhook_url=receiver.url + "/hook")
    sinks = (WebhookSink(timeout_s=2),)
    live = alerts.evaluate_alerts(store, T_LIVE, sinks)
    final = alerts.evaluate_alerts(store, T_FINAL, sinks)
    assert (live.delivered, final.delivered) == (1, 1)
    paths = {p for p, _, _ in receiver.received}
    assert paths == {"/hook"}
    assert {ct for _, ct, _ in receiver.received} == {"application/json"}
    bodies = {b["event"]: b for _, _, b in receiver.received}
    assert set(bodies) == {"warning_raised", "alert_fired"}
    assert bodies["warning_raised"]["provisional"] is True
    fired = bodies["alert_fired"]
    assert fired["provisional"] is False
    assert (fired["tier"], fired["value"], fired["rule"]["id"]) == ("final", below(0.7), rule.id)
    assert fired["window"]["start_ms"] == D0
    assert sql.deliveries_frame(store)["status"].tolist() == ["sent", "sent"]


def test_contradiction_is_sent_too(store, receiver):
    build_day(store, early=below(0.1), live=below(0.5), prelim=below(1.2), final=below(1.2))
    make_rule(store, webhook_url=receiver.url)
    for t in (T_LIVE, T_FINAL):
        alerts.evaluate_alerts(store, t, (WebhookSink(timeout_s=2),))
    events = [b["event"] for _, _, b in receiver.received]
    assert events == ["warning_raised", "warning_contradicted"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("where", ["refused", "http500"])
def test_failing_webhook_is_logged_retried_and_never_raised(store, receiver, where):
    build_day(store, early=below(0.1), live=below(0.5), prelim=below(0.6), final=below(0.7))
    url = f"http://127.0.0.1:{_closed_port()}/" if where == "refused" else receiver.url + "/fail"
    make_rule(store, webhook_url=url)
    sinks = (WebhookSink(timeout_s=1),)
    report = alerts.evaluate_alerts(store, T_FINAL, sinks)  # must not raise
    assert report.alerts == 1 and report.delivery_failures == 1
    [delivery] = sql.deliveries_frame(store).to_dict("records")
    assert delivery["status"] == "failed" and delivery["attempts"] == 1
    assert ("500" in delivery["error"]) if where == "http500" else delivery["error"]
    for _ in range(alerts.MAX_DELIVERY_ATTEMPTS + 2):
        alerts.evaluate_alerts(store, T_FINAL, sinks)
    [delivery] = sql.deliveries_frame(store).to_dict("records")
    assert delivery["attempts"] == alerts.MAX_DELIVERY_ATTEMPTS  # bounded retries
    assert len([e for e in entries(store) if e["kind"] == "alert"]) == 1


# -- on the real pipeline's data --------------------------------------------------------------
def test_seeded_store_has_the_default_rule_derived_from_final_days(seeded_db):
    store = Store.open(seeded_db)
    [rule] = alerts.list_rules(store)
    assert (rule.origin, rule.metric, rule.series, rule.grp, rule.comparator) == (
        "default",
        "revenue",
        "daily",
        "*",
        "below",
    )
    frame = store.windows_in_range("daily", 0, rule.created_ms + 1, "*")
    finals = frame.loc[frame["is_final"], "final_revenue_cents"].astype(float).tolist()
    assert len(finals) >= 2
    target = 0.75 * statistics.median(finals)
    assert 0.9 * target <= rule.threshold <= target  # rounded down to two digits
    assert alerts.ensure_default_rules(store, rule.created_ms + DAY_MS) == []  # only once


def test_rule_on_seeded_data_fires_once_per_final_window_below(seeded_db):
    store = Store.open(seeded_db)
    now = store.get_kv("runtime")["proc_ms"]
    frame = store.windows_in_range("hourly", now - 30 * DAY_MS, now, "web")
    finals = frame.loc[frame["is_final"], "final_revenue_cents"].astype(float)
    threshold = float(finals.median())
    alerts.add_rule(
        store,
        alerts.AlertRule(
            metric="revenue", series="hourly", grp="web", comparator="below", threshold=threshold
        ),  # fmt: skip
        now,
    )
    first = alerts.evaluate_alerts(store, now, sinks=())
    assert first.alerts == int((finals < threshold).sum()) > 0
    assert alerts.evaluate_alerts(store, now, sinks=()).alerts == 0


def test_runtime_jobs_run_the_alert_evaluation(seeded_db):
    from engine.runtime.runtime import Runtime, RuntimeSettings
    from tests.conftest import SEED_SETTINGS

    store = Store.open(seeded_db)
    now = store.get_kv("runtime")["proc_ms"]
    frame = store.windows_in_range("daily", now - 30 * DAY_MS, now, "*")
    top = float(frame.loc[frame["is_final"], "final_revenue_cents"].max())
    alerts.add_rule(
        store, alerts.AlertRule("revenue", "daily", "below", threshold=top + 1), now - DAY_MS
    )
    rt = Runtime(RuntimeSettings(db_path=str(seeded_db), **SEED_SETTINGS)).start(scheduler=False)
    try:
        done = rt.run_due_jobs()
    finally:
        rt.shutdown()
    [job] = [d for d in done if d["kind"] == "alerts"]
    assert job["alerts"] == int(frame["is_final"].sum())


# -- the page, through the entry point -------------------------------------------------------
def _alerts_page():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.run()
    at.switch_page("pages/alerts.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_alerts_page_shows_rules_log_and_counts_from_the_store(app_env):
    store = Store.open(app_env)
    now = store.get_kv("runtime")["proc_ms"]
    frame = store.windows_in_range("hourly", now - 30 * DAY_MS, now, "*")
    finals = frame.loc[frame["is_final"], "final_revenue_cents"].astype(float)
    alerts.add_rule(
        store,
        alerts.AlertRule("revenue", "hourly", "below", threshold=float(finals.median())),
        now,
    )
    alerts.evaluate_alerts(store, now, sinks=())
    summary = alert_views.log_summary(store)
    log = alert_views.log_frame(store)
    assert summary["alerts_fired"] > 0

    at = _alerts_page()
    assert at.title[0].value == "Alerts"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {
        "Rules enabled": "2",
        "Alerts fired": f"{summary['alerts_fired']:,}",
        "Provisional warnings": f"{summary['warnings_provisional']:,}",
        "Contradicted warnings": f"{summary['warnings_contradicted']:,}",
    }
    assert [s.value for s in at.subheader] == ["Log", "Rule check", "Rules"]
    shown_log = at.dataframe[0].value
    assert len(shown_log) == len(log)
    assert shown_log["what"].tolist() == log["what"].tolist()
    # money with its currency, never a literal "None"
    revenue = log["metric"] == "revenue"
    assert shown_log.loc[revenue.to_numpy(), "value"].str.startswith("$").all()
    assert shown_log["value"].tolist()[0] == f"${log['value'].iloc[0]:,.2f}"
    assert not shown_log.astype(str).isin(["None", "nan"]).any().any()
    assert "alerts_dl_log_csv" in {b.key for b in at.download_button}
    exported = alert_views.log_table(log, "America/New_York")
    assert exported["value"].tolist() == log["value"].tolist()
    assert set(exported["unit"]) == {"usd"}
    assert at.dataframe[1].value["name"].tolist() == alert_views.rules_frame(store)["name"].tolist()
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = {t.get("name") for t in chart["data"]}
    assert {"threshold (alerts)", "final number"} <= names
    assert chart["layout"]["yaxis"]["title"]["text"] == "Revenue ($)"

    at.radio(key="alerts_log_filter").set_value("Fired alerts").run()
    assert len(at.dataframe[0].value) == summary["alerts_fired"]


def test_alerts_page_adds_and_validates_rules(app_env):
    at = _alerts_page()
    store = Store.open(app_env)
    before = len(alerts.list_rules(store))
    at.text_input(key="rule_webhook").input("ftp://example.com/hook")
    at.button(key="rule_add").click().run()
    assert any("must start with http" in e.value for e in at.error)
    assert len(alerts.list_rules(store)) == before

    at.text_input(key="rule_webhook").input("")
    at.selectbox(key="rule_comparator").set_value("above")
    at.number_input(key="rule_threshold_revenue_daily_*").set_value(50_000.0)
    at.button(key="rule_add").click().run()
    assert not at.exception
    rules = alerts.list_rules(store)
    assert len(rules) == before + 1
    assert (rules[-1].comparator, rules[-1].threshold) == ("above", 5_000_000)
    assert any("Added rule" in s.value for s in at.success)

    at.selectbox(key="alerts_toggle_rule").set_value(rules[-1].id)
    at.button(key="alerts_toggle").click().run()
    assert not alerts.list_rules(store)[-1].enabled
