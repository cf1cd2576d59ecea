"""Alerts: rules, the log (fired alerts, provisional warnings, contradicted warnings)
and the policy in plain words. Reads and writes only through engine.runtime.alerts."""

import plotly.graph_objects as go
import streamlit as st

from engine.core.timeutil import DAY_MS
from engine.runtime import alerts
from engine.views import alerts as alert_views
from engine.views.dashboard import ALL_SOURCES as DEFAULT_GROUP
from ui import charts, guard
from ui.exports import download_buttons
from ui.format import fmt_time
from ui.replay import wait_for_replay
from ui.router import ensure_router
from ui.runtime import get_runtime
from ui.text import escape_markdown

ensure_router()

TIER_COLORS = {"live": "#f2a93b", "preliminary": "#4c8bd6", "final": "#2e7d32"}
STATE_SYMBOLS = {
    "alert": "x",
    "warning": "triangle-down",
    "within": "circle",
    "in progress": "circle-open",
}
LOG_FILTERS = {
    "All entries": None,
    "Fired alerts": ("alert", "fired"),
    "Provisional warnings": ("warning", "provisional"),
    "Contradicted warnings": ("warning", "contradicted"),
    "Confirmed warnings": ("warning", "confirmed"),
}


def short(name: str, chars: int = 60) -> str:
    """A rule's name for a picker: a long one ends in '…' (the whole name is in the rules
    table), so the picker's text fits its box at 1024 px."""
    return name if len(name) <= chars else name[: chars - 1].rstrip() + "…"


def metric_unit(metric: str) -> str:
    return alerts.unit_of(metric)


@st.cache_data(ttl=300)
def groups_for(db_path: str, series: str, since_ms: int) -> list[str]:
    return alerts.groups(get_runtime().store(), series, since_ms)


@st.cache_data(ttl=300)
def suggested_threshold(db_path: str, now_ms: int, metric: str, series: str, grp: str):
    rule = alerts.suggest_rule(get_runtime().store(), now_ms, metric, series, grp)
    return None if rule is None else alerts.display_value(metric, rule.threshold)


# Actions run as callbacks: before the script reruns, exactly once per click. Each one is
# guarded (a read-only session cannot run it even if a disabled button were clicked) and
# leaves a message through guard.flash, which shows it literally (rule names are user text).
def evaluate_now() -> None:
    rt = get_runtime()
    store = rt.store()
    result = alerts.evaluate_alerts(store, rt.now_ms())
    after = alert_views.log_summary(store)["alerts_fired"]
    seen = st.session_state.get("alerts_fired_seen")  # the counter as the page showed it
    guard.flash("success", alert_views.evaluation_message(result, seen, after))


def toggle_rule() -> None:
    rt = get_runtime()
    rule_id = st.session_state["alerts_toggle_rule"]
    rule = alerts.get_rule(rt.store(), rule_id)
    if rule is None or rule.deleted_ms is not None:
        guard.flash("error", f"Rule #{rule_id} no longer exists.")
        return
    alerts.set_enabled(rt.store(), rule_id, not rule.enabled, rt.now_ms())
    word = "disabled" if rule.enabled else "enabled"
    guard.flash("success", f"Rule #{rule_id} {word}.")


def add_rule() -> None:
    rt = get_runtime()
    ss = st.session_state
    metric, series, grp = ss["rule_metric"], ss["rule_series"], ss["rule_group"]
    try:
        rule = alerts.AlertRule(
            metric=metric,
            series=series,
            grp=grp,
            comparator=ss["rule_comparator"],
            threshold=alerts.stored_value(metric, ss[threshold_key(metric, series, grp)]),
            live_margin=ss["rule_margin"] / 100,
            alert_tier=ss["rule_alert_tier"],
            webhook_url=ss["rule_webhook"].strip() or None,
            name=ss["rule_name"].strip(),
        )
        added = alerts.add_rule(rt.store(), rule, rt.now_ms())
    except ValueError as exc:
        guard.flash("error", f"Rule not added: {exc}")
    else:
        guard.flash(
            "success",
            f"Added rule #{added.id}: {added.name}. It is evaluated with the next jobs run "
            "(or press 'Evaluate rules now').",
        )


def edit_rule(rule_id: int) -> None:
    rt = get_runtime()
    ss = st.session_state
    rule = alerts.get_rule(rt.store(), rule_id)
    if rule is None or rule.deleted_ms is not None:
        guard.flash("error", f"Rule #{rule_id} no longer exists.")
        return
    try:
        edited = alerts.update_rule(
            rt.store(),
            rule_id,
            rt.now_ms(),
            name=ss[f"edit_name_{rule_id}"],
            comparator=ss[f"edit_comparator_{rule_id}"],
            threshold=alerts.stored_value(rule.metric, ss[f"edit_threshold_{rule_id}"]),
            live_margin=ss[f"edit_margin_{rule_id}"] / 100,
            alert_tier=ss[f"edit_tier_{rule_id}"],
            webhook_url=ss[f"edit_webhook_{rule_id}"].strip() or None,
        )
    except ValueError as exc:
        guard.flash("error", f"Rule #{rule_id} not changed: {exc}")
    else:
        if edited == rule:
            guard.flash("info", f"Rule #{rule_id}: nothing to change.")
        else:
            guard.flash("success", f"Rule #{rule_id} saved: {edited.name}.")
        for field in ("name", "comparator", "threshold", "margin", "tier", "webhook"):
            ss.pop(f"edit_{field}_{rule_id}", None)  # the form shows the stored rule again


def delete_rule(rule_id: int) -> None:
    rt = get_runtime()
    if alerts.delete_rule(rt.store(), rule_id, rt.now_ms()):
        guard.flash(
            "success",
            f"Rule #{rule_id} deleted. Its log entries and deliveries stay in the log.",
        )
    else:
        guard.flash("info", f"Rule #{rule_id} was already deleted.")


def test_webhook(rule_id: int) -> None:
    rt = get_runtime()
    rule = alerts.get_rule(rt.store(), rule_id)
    if rule is None or not rule.webhook_url:
        guard.flash("error", f"Rule #{rule_id} has no webhook URL to test.")
        return
    result = alerts.send_test_notice(rt.store(), rule, rt.now_ms())
    if result.ok:
        guard.flash(
            "success",
            f"Test notice delivered to {result.target} (HTTP 2xx). It is marked "
            '"test": true and is not an alert.',
        )
    else:
        guard.flash("error", f"Test notice to {result.target} failed: {result.error}")


def threshold_key(metric: str, series: str, grp: str) -> str:
    return f"rule_threshold_{metric}_{series}_{grp}"


rt = get_runtime()
store = rt.store()
now_ms = rt.now_ms()
day_ms = now_ms - now_ms % DAY_MS  # cache key that changes once a day

st.title("Alerts")
wait_for_replay(rt, "the alert log and the rules' state")
st.caption(
    "Alerts fire on **final** numbers (or preliminary, if a rule says so) — once per rule, "
    "window and tier. Live numbers can only raise a **provisional warning**, and only when "
    "they are clearly beyond the threshold."
)
with st.expander("How alerts work", expanded=False):
    st.markdown(
        """
- **Alerts** evaluate on the rule's alert tier: *final* (T+7, immutable) by default, or
  *preliminary* (T+1 batch recompute). Each fires once per rule, window and tier; running the
  evaluation again never repeats it. A preliminary alert is marked *contradicted* if the final
  number is not beyond the threshold.
- **Warnings** come from numbers below the alert tier (live panes, and preliminary numbers
  under a final-tier rule). They are labelled *provisional* and raised only when the number is
  beyond the threshold by the rule's margin (10 % by default): *below* means under threshold ×
  (1 − margin), *above* means over threshold × (1 + margin). A *below* warning waits until the
  window has ended — a window in progress is below any threshold by construction.
- When the alert-tier number arrives it settles each warning: **confirmed** (it is beyond the
  threshold too, and the alert fires) or **contradicted** (late data lifted it back).
- The scheduled jobs evaluate the rules after every finalization run. Besides this log, a rule
  can POST each notice as JSON to a webhook; failed deliveries are recorded and retried.
- Entries marked *backfill* were found when a rule was added for windows that were already
  settled; they are logged but not sent.
"""
    )

guard.show_flash()
locked = guard.locked_reason()

summary = alert_views.log_summary(store)
rules_df = alert_views.rules_frame(store)
m1, m2, m3, m4 = st.columns(4)
m1.metric("Rules enabled", f"{int(rules_df['enabled'].sum()) if len(rules_df) else 0}")
m2.metric("Alerts fired", f"{summary['alerts_fired']:,}")
st.session_state["alerts_fired_seen"] = summary["alerts_fired"]
m3.metric("Provisional warnings", f"{summary['warnings_provisional']:,}")
m4.metric("Contradicted warnings", f"{summary['warnings_contradicted']:,}")

# -- the log ------------------------------------------------------------------------------------
st.subheader("Log")
left, right = st.columns([3, 1])
choice = left.radio("Show", list(LOG_FILTERS), horizontal=True, key="alerts_log_filter")
right.button(
    "Evaluate rules now",
    key="alerts_evaluate",
    on_click=guard.run_guarded,
    args=(evaluate_now,),
    disabled=locked is not None,
    help=locked,
)

log_df = alert_views.log_frame(store)
wanted = LOG_FILTERS[choice]
if wanted is not None and len(log_df):
    log_df = log_df[(log_df["kind"] == wanted[0]) & (log_df["status"] == wanted[1])]
if log_df.empty:
    if len(rules_df) == 0:
        st.info(
            "No rules yet. Add one below — 'Suggest from data' proposes a threshold from the "
            "median final value. A default daily-revenue rule is added automatically once two "
            "final days exist."
        )
    else:
        st.info(
            "Nothing logged here yet. Alerts need a final number beyond a threshold; warnings "
            "need a live number beyond it by the margin. Finalization runs every few seconds "
            "in the scheduled jobs (days become final 7 days after they end)."
        )
else:
    view = log_df.assign(
        window=[fmt_time(ms, rt) for ms in log_df["window_start_ms"]],
        raised=[fmt_time(ms, rt) for ms in log_df["raised_ms"]],
        number=[f"{t} v{v}" for t, v in zip(log_df["tier"], log_df["version"], strict=True)],
        rule=[f"#{i}" for i in log_df["rule_id"]],
        settled_by=[
            "—" if t is None or t != t else f"{t} v{int(v)}"
            for t, v in zip(log_df["resolved_tier"], log_df["resolved_version"], strict=True)
        ],
        grp=log_df["grp"].map(lambda g: "All sources" if g == "*" else g),
        **{
            col: [
                alert_views.shown_text(m, v)
                for m, v in zip(log_df["metric"], log_df[col], strict=True)
            ]
            for col in ("value", "threshold", "resolved_value")
        },
    )
    st.dataframe(
        view[
            [
                "what",
                "window",
                "series",
                "grp",
                "number",
                "value",
                "threshold",
                "settled_by",
                "resolved_value",
                "raised",
                "rule",
                "backfill",
                "message",
            ]
        ],
        hide_index=True,
        width="stretch",
        column_config={
            "what": "What",
            "rule": st.column_config.TextColumn(
                "Rule", help="The rule's number in the table below"
            ),
            "series": "Grain",
            "grp": "Group",
            "window": f"Window start ({rt.settings.tz})",
            "number": "Number (tier, version)",
            "value": "Value",
            "threshold": "Threshold",
            "settled_by": "Settled by",
            "resolved_value": "Settling value",
            "raised": "Raised at",
            "backfill": st.column_config.CheckboxColumn("Backfill"),
            "message": "Message",
        },
    )
    download_buttons(
        lambda: alert_views.log_table(log_df, rt.settings.tz),
        "latewatch-alert-log",
        key="alerts_dl_log",
        label="Log as",
    )

# -- a rule against its numbers ---------------------------------------------------------------------
rules = alerts.list_rules(store)
if rules:
    st.subheader("Rule check")
    by_id = {r.id: r for r in rules}
    rule_id = st.selectbox(
        "Rule",
        list(by_id),
        format_func=lambda i: (
            f"#{i} {short(by_id[i].name)}" + ("" if by_id[i].enabled else " (off)")
        ),
        key="alerts_rule_chart",
    )
    rule = by_id[rule_id]
    timeline = alert_views.rule_timeline(store, rule, now_ms, tz=rt.settings.tz)
    if timeline.empty:
        st.info(
            f"No {rule.series} windows for group {escape_markdown(rule.grp)} in the last "
            "14 days yet."
        )
    else:
        unit = metric_unit(rule.metric)
        fig = go.Figure()
        for tier, color in TIER_COLORS.items():
            part = timeline[timeline["tier"] == tier]
            if part.empty:
                continue
            fig.add_trace(
                go.Scatter(
                    x=part["window_start"],
                    y=part["value"],
                    mode="markers",
                    name=f"{tier} number",
                    marker={
                        "color": color,
                        "size": 10 if rule.series == "daily" else 7,
                        "symbol": [STATE_SYMBOLS[s] for s in part["state"]],
                        "line": {"width": 1, "color": color},
                    },
                    customdata=part[["state", "version"]].to_numpy(),
                    hovertemplate="%{x|%a %d %b %H:%M}<br>%{y:,.2f}<br>"
                    "v%{customdata[1]} — %{customdata[0]}"
                    "<extra></extra>",
                )
            )
        xs = timeline["window_start"].tolist()
        for name, y, dash in (
            ("threshold (alerts)", alerts.display_value(rule.metric, rule.threshold), "solid"),
            (
                f"warning line (±{rule.live_margin:.0%})",
                alerts.display_value(rule.metric, rule.warning_line),
                "dash",
            ),
        ):
            fig.add_trace(
                go.Scatter(
                    x=[xs[0], xs[-1]],
                    y=[y, y],
                    mode="lines",
                    name=name,
                    line={"color": "#c62828", "dash": dash, "width": 2},
                    hoverinfo="skip",
                )
            )
        for state, symbol in STATE_SYMBOLS.items():
            if state in set(timeline["state"]):
                fig.add_trace(
                    go.Scatter(
                        x=[None],
                        y=[None],
                        mode="markers",
                        name=f"marker: {state}",
                        marker={"color": "#777", "symbol": symbol, "size": 9},
                    )
                )
        fig.update_layout(
            height=420,
            margin=charts.margin(t=30, r=185),  # the legend on the right
            xaxis={"title": f"Window start ({rt.settings.tz})", "type": "date"},
            yaxis={"title": f"{rule.metric.capitalize()} ({unit})", "rangemode": "tozero"},
            legend={"title": {"text": "Colour = tier, shape = state"}},
        )
        st.plotly_chart(fig, width="stretch", key="alerts_rule_timeline")
        counts = timeline["state"].value_counts()
        st.caption(
            f"Current number of each {rule.series} window (last 14 days), coloured by tier. "
            f"Now: {counts.get('alert', 0)} beyond the threshold on the alert tier, "
            f"{counts.get('warning', 0)} beyond the warning line while provisional, "
            f"{counts.get('within', 0)} within, {counts.get('in progress', 0)} in progress."
        )

# -- rules ---------------------------------------------------------------------------------------
st.subheader("Rules")
if len(rules_df):
    every = st.toggle(
        "Every column",
        key="alerts_rules_every_column",
        help="Off: the rule's number, state, name, what it watches and its alert tier (fits a "
        "narrow screen). On: threshold, margin and warning line, webhook, origin, created.",
    )
    st.dataframe(
        rules_df.assign(
            created=[fmt_time(ms, rt) for ms in rules_df["created_ms"]],
            watches=[r.describe() for r in rules],
        ).drop(columns=["created_ms"]),
        hide_index=True,
        width="stretch",
        column_order=None if every else ["id", "enabled", "name", "watches", "alert_tier"],
        column_config={
            "id": st.column_config.NumberColumn("#", width=40),
            "enabled": st.column_config.CheckboxColumn("On", width=44),
            "name": st.column_config.TextColumn("Name", width=170),
            "watches": st.column_config.TextColumn("Fires when", width=210),
            "metric": "Metric",
            "grain": "Grain",
            "group": "Group",
            "comparator": "Comparator",
            "threshold": st.column_config.NumberColumn("Threshold", format="localized"),
            "live_margin": st.column_config.NumberColumn("Live margin", format="percent"),
            "warning_line": st.column_config.NumberColumn("Warning line", format="localized"),
            "alert_tier": st.column_config.TextColumn("Alert on", width=80),
            "webhook": "Webhook",
            "origin": "Origin",
            "created": "Created",
        },
    )
    st.markdown("#### Manage a rule")
    names = {int(r.id): r for r in rules}
    # the picker on its own row: beside the buttons a rule's name was cut at any width
    toggle_id = st.selectbox(
        "Rule",
        list(names),
        format_func=lambda i: (
            f"#{i} {short(names[i].name)} — {'on' if names[i].enabled else 'off'}"
        ),
        key="alerts_toggle_rule",
    )
    chosen = names[toggle_id]
    t2, t3, t4 = st.columns(3, vertical_alignment="bottom")
    t2.button(
        "Disable rule" if chosen.enabled else "Enable rule",
        key="alerts_toggle",
        on_click=guard.run_guarded,
        args=(toggle_rule,),
        disabled=locked is not None,
        help=locked,
        width="stretch",
    )
    t3.button(
        "Test webhook",
        key="alerts_test_webhook",
        on_click=guard.run_guarded,
        args=(test_webhook, chosen.id),
        disabled=locked is not None or not chosen.webhook_url,
        help=locked
        or (
            "Sends a notice marked as a test to this rule's webhook now and shows the result."
            if chosen.webhook_url
            else "This rule has no webhook URL: add one under 'Edit this rule'."
        ),
        width="stretch",
    )
    guard.confirm_button(
        "Remove rule",
        key="alerts_delete",
        title="Remove this alert rule?",
        message=(
            f"Rule **#{chosen.id}** stops being evaluated and leaves the rule lists. "
            "Its log entries and deliveries stay, with its name; the deletion is kept in "
            "the rule history. There is no undo (add a new rule instead)."
        ),
        details=chosen.name,
        confirm_label="Remove rule",
        on_confirm=delete_rule,
        args=(chosen.id,),
        container=t4,
        width="stretch",
    )
    with st.expander(f"Edit rule #{chosen.id}", expanded=False):
        st.caption(
            "The metric, grain and group are what the rule watches and cannot change (add a "
            "rule to watch another number). A threshold or tier change applies from now on: "
            "windows it already judged keep their log entries; windows it now judges "
            "differently are logged as backfill, not sent."
        )
        unit = metric_unit(chosen.metric)
        with st.form(f"alerts_edit_form_{chosen.id}", border=False):
            e1, e2, e3 = st.columns(3)
            e1.text_input(
                "Name (empty = described automatically)",
                value=chosen.name,
                max_chars=alerts.MAX_NAME_CHARS,
                key=f"edit_name_{chosen.id}",
            )
            e2.selectbox(
                "Fires when the number is",
                alerts.COMPARATORS,
                index=alerts.COMPARATORS.index(chosen.comparator),
                key=f"edit_comparator_{chosen.id}",
            )
            e3.number_input(
                f"Threshold ({unit})",
                min_value=0.0,
                value=float(alerts.display_value(chosen.metric, chosen.threshold)),
                step=100.0 if chosen.metric in alerts.MONEY_METRICS else 1.0,
                key=f"edit_threshold_{chosen.id}",
            )
            f1, f2, f3 = st.columns(3)
            f1.slider(
                "Live margin (%)",
                0,
                99,
                round(chosen.live_margin * 100),
                key=f"edit_margin_{chosen.id}",
            )
            f2.radio(
                "Alert on",
                alerts.ALERT_TIERS,
                index=alerts.ALERT_TIERS.index(chosen.alert_tier),
                horizontal=True,
                key=f"edit_tier_{chosen.id}",
            )
            f3.text_input(
                "Webhook URL (empty = none)",
                value=chosen.webhook_url or "",
                key=f"edit_webhook_{chosen.id}",
            )
            st.form_submit_button(
                "Save changes",
                type="primary",
                on_click=guard.run_guarded,
                args=(edit_rule, chosen.id),
                disabled=locked is not None,
                help=locked,
            )
    history = alert_views.rule_history_frame(store, chosen.id)
    with st.expander(f"History of rule #{chosen.id} ({len(history)} changes)"):
        st.dataframe(
            history.assign(when=[fmt_time(ms, rt) for ms in history["changed_ms"]])[
                ["when", "action", "changes"]
            ],
            hide_index=True,
            width="stretch",
            column_config={"when": "When", "action": "Change", "changes": "What changed"},
        )
        tests = alert_views.attempts_frame(store, limit=20, rule_id=chosen.id, tests_only=True)
        if len(tests):
            st.markdown("**Test notices sent for this rule**")
            st.dataframe(
                tests.assign(when=[fmt_time(ms, rt) for ms in tests["attempted_ms"]])[
                    ["when", "target", "ok", "error"]
                ],
                hide_index=True,
                width="stretch",
                column_config={
                    "when": "Sent at",
                    "target": "Webhook",
                    "ok": st.column_config.CheckboxColumn("Delivered"),
                    "error": "Error",
                },
            )
else:
    st.caption("No rules yet.")

# -- deliveries ---------------------------------------------------------------------------------
deliveries = alert_views.deliveries_frame(store)
if len(deliveries) or any(r.webhook_url for r in rules):
    st.subheader("Webhook deliveries")
    counts = alert_views.delivery_summary(store)
    st.caption(
        f"{counts['sent']:,} sent, {counts['pending']:,} pending, {counts['retrying']:,} "
        f"failed and will retry, {counts['failed']:,} failed for good (after "
        f"{alerts.MAX_DELIVERY_ATTEMPTS} attempts). Deliveries run after each evaluation; "
        "the newest 200 are listed."
    )
    if len(deliveries):
        st.dataframe(
            deliveries.assign(
                created=[fmt_time(ms, rt) for ms in deliveries["created_ms"]],
                last_attempt=[
                    "—" if ms is None or ms != ms else fmt_time(int(ms), rt)
                    for ms in deliveries["last_attempt_ms"]
                ],
                rule=[f"#{i}" for i in deliveries["rule_id"]],
                window=[fmt_time(ms, rt) for ms in deliveries["window_start_ms"]],
            )[
                [
                    "status_label",
                    "event",
                    "rule",
                    "rule_name",
                    "window",
                    "target",
                    "attempts",
                    "last_attempt",
                    "error",
                    "created",
                ]
            ],
            hide_index=True,
            width="stretch",
            column_config={
                "status_label": "Status",
                "event": "Notice",
                "rule": "Rule",
                "rule_name": "Rule name",
                "window": f"Window start ({rt.settings.tz})",
                "target": "Webhook",
                "attempts": st.column_config.NumberColumn("Attempts", format="%d"),
                "last_attempt": "Last attempt",
                "error": "Last error",
                "created": "Queued at",
            },
            key="alerts_deliveries",
        )

st.markdown("#### Add a rule")
a1, a2, a3, a4 = st.columns(4)
metric = a1.selectbox(
    "Metric",
    list(alerts.METRICS),
    format_func=lambda m: alerts.METRIC_LABELS.get(m, m).capitalize(),
    key="rule_metric",
    help="Average and median order value and distinct users are judged per window on the "
    "events each number counted — never summed over hours or sources.",
)
series = a2.selectbox(
    "Grain", list(alerts.GRAINS), index=1, format_func=alerts.GRAINS.get, key="rule_series"
)
group_options = [DEFAULT_GROUP, *groups_for(rt.settings.db_path, series, day_ms - 35 * DAY_MS)]
grp = a3.selectbox(
    "Group",
    list(dict.fromkeys(group_options)),
    format_func=lambda g: "all sources" if g == DEFAULT_GROUP else g,
    key="rule_group",
)
comparator = a4.selectbox("Fires when the number is", alerts.COMPARATORS, key="rule_comparator")
suggestion = suggested_threshold(rt.settings.db_path, day_ms, metric, series, grp)
# two rows of two: in a quarter of 1024 px the threshold box showed "15000.(" and no more
b1, b2 = st.columns(2)
b3, b4 = st.columns(2)
threshold = b1.number_input(
    f"Threshold ({metric_unit(metric)})",
    min_value=0.0,
    value=float(suggestion) if suggestion else 0.0,
    step=100.0 if metric in alerts.MONEY_METRICS else 1.0,
    key=threshold_key(metric, series, grp),
    help="Prefilled with 75 % of the median final value of recent windows, when known.",
)
margin_pct = b2.slider(
    "Live margin (%)",
    0,
    50,
    int(alerts.DEFAULT_LIVE_MARGIN * 100),
    key="rule_margin",
    help="How far beyond the threshold a provisional number must be to raise a warning.",
)
alert_tier = b3.radio(
    "Alert on", alerts.ALERT_TIERS, index=1, horizontal=True, key="rule_alert_tier"
)
webhook = b4.text_input("Webhook URL (optional)", key="rule_webhook", placeholder="https://…")
name = st.text_input("Name (optional)", key="rule_name", placeholder="described automatically")
if suggestion is None:
    st.caption("No suggested threshold: fewer than two final windows for this grain and group.")
st.button(
    "Add rule",
    type="primary",
    key="rule_add",
    on_click=guard.run_guarded,
    args=(add_rule,),
    disabled=locked is not None,
    help=locked,
)
