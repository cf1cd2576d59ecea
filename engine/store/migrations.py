"""The store's schema as named ``sqlite_utils`` migrations, in the order they apply.

Each step is recorded in the same transaction as its changes, so a half-applied
schema cannot exist; a step, once released, is never edited — a change is a new
step (``engine.store.schema`` explains the tables' rules and opens connections).
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from engine.store.schema import ADDITIVE_COLUMNS, METRIC_COLUMNS

migrations = Migrations("latewatch.store")


@migrations()
def m001_raw_log(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE raw_events (
            seq INTEGER PRIMARY KEY,
            event_id TEXT NOT NULL UNIQUE,
            event_time_ms INTEGER NOT NULL,
            arrival_time_ms INTEGER NOT NULL,
            source TEXT NOT NULL,
            key TEXT,
            event_type TEXT NOT NULL,
            amount_cents INTEGER NOT NULL,
            items INTEGER NOT NULL,
            ingest_id INTEGER
        )"""
    )
    db.execute("CREATE INDEX raw_events_event_time ON raw_events (event_time_ms)")
    db.execute("CREATE INDEX raw_events_arrival ON raw_events (arrival_time_ms)")
    for op in ("UPDATE", "DELETE"):
        db.execute(
            f"""CREATE TRIGGER raw_events_no_{op.lower()} BEFORE {op} ON raw_events
            BEGIN SELECT RAISE(ABORT, 'raw_events is append-only'); END"""
        )
    db.execute(
        """
        CREATE TABLE ingests (
            id INTEGER PRIMARY KEY,
            source_name TEXT,
            file TEXT,
            started_ms INTEGER,
            finished_ms INTEGER,
            rows_read INTEGER NOT NULL DEFAULT 0,
            accepted INTEGER NOT NULL DEFAULT 0,
            duplicates INTEGER NOT NULL DEFAULT 0,
            quarantined INTEGER NOT NULL DEFAULT 0,
            quarantined_by_reason TEXT NOT NULL DEFAULT '{}',
            status TEXT NOT NULL DEFAULT 'running'
        )"""
    )
    db.execute(
        """
        CREATE TABLE quarantine (
            id INTEGER PRIMARY KEY,
            ingest_id INTEGER,
            line INTEGER,
            event_id TEXT,
            reason TEXT NOT NULL,
            detail TEXT,
            raw TEXT,
            at_ms INTEGER NOT NULL
        )"""
    )
    db.execute("CREATE INDEX quarantine_at ON quarantine (at_ms)")
    db.execute("CREATE INDEX quarantine_reason ON quarantine (reason, at_ms)")


@migrations()
def m002_versions(db: Database) -> None:
    metric_cols = ",\n".join(
        f"{c} INTEGER" if c in ADDITIVE_COLUMNS or c == "distinct_users" else f"{c} REAL"
        for c in METRIC_COLUMNS
    )
    db.execute(
        f"""
        CREATE TABLE versions (
            id INTEGER PRIMARY KEY,
            series TEXT NOT NULL,
            window_start_ms INTEGER NOT NULL,
            window_end_ms INTEGER NOT NULL,
            grp TEXT NOT NULL,
            version INTEGER NOT NULL CHECK (version >= 1),
            timing TEXT NOT NULL,
            tier TEXT NOT NULL CHECK (tier IN ('live', 'preliminary', 'final')),
            reason TEXT NOT NULL,
            processing_time_ms INTEGER,
            watermark_ms INTEGER,
            {metric_cols},
            event_count INTEGER NOT NULL,
            superseded_by_start_ms INTEGER,
            superseded_by_end_ms INTEGER,
            job_id INTEGER,
            UNIQUE (series, window_start_ms, grp, version)
        )"""
    )
    # as_of: newest version of a window at processing time t.
    db.execute(
        "CREATE INDEX versions_as_of ON versions (series, window_start_ms, grp, processing_time_ms)"
    )
    for op in ("UPDATE", "DELETE"):
        db.execute(
            f"""CREATE TRIGGER versions_no_{op.lower()} BEFORE {op} ON versions
            BEGIN SELECT RAISE(ABORT, 'versions are append-only'); END"""
        )
    db.execute(
        """CREATE TRIGGER versions_gap_free BEFORE INSERT ON versions
        WHEN NEW.version != 1 + coalesce((SELECT max(version) FROM versions
             WHERE series = NEW.series AND window_start_ms = NEW.window_start_ms
               AND grp = NEW.grp), 0)
        BEGIN SELECT RAISE(ABORT, 'version numbers must be gap-free'); END"""
    )
    db.execute(
        """CREATE TRIGGER versions_final_is_final BEFORE INSERT ON versions
        WHEN NEW.reason != 'adjustment' AND EXISTS (SELECT 1 FROM versions
             WHERE series = NEW.series AND window_start_ms = NEW.window_start_ms
               AND grp = NEW.grp AND tier = 'final')
        BEGIN SELECT RAISE(ABORT, 'window is final: only adjustments may follow'); END"""
    )
    db.execute(
        """
        CREATE TABLE contributions (
            series TEXT NOT NULL,
            window_start_ms INTEGER NOT NULL,
            grp TEXT NOT NULL,
            version INTEGER NOT NULL,
            event_id TEXT NOT NULL,
            sign INTEGER NOT NULL DEFAULT 1 CHECK (sign IN (-1, 1))
        )"""
    )
    db.execute(
        "CREATE INDEX contributions_window ON contributions (series, window_start_ms, grp, version)"
    )
    db.execute(
        """
        CREATE TABLE late_events (
            id INTEGER PRIMARY KEY,
            series TEXT NOT NULL,
            event_id TEXT NOT NULL,
            source TEXT,
            window_start_ms INTEGER NOT NULL,
            window_end_ms INTEGER NOT NULL,
            grp TEXT NOT NULL,
            action TEXT NOT NULL,
            late_by_ms INTEGER,
            watermark_ms INTEGER,
            processing_time_ms INTEGER,
            event_time_ms INTEGER,
            amount_cents INTEGER,
            absorbed_by_job INTEGER
        )"""
    )
    db.execute("CREATE INDEX late_events_pending ON late_events (series, absorbed_by_job)")
    db.execute("CREATE INDEX late_events_time ON late_events (processing_time_ms)")


@migrations()
def m003_jobs_and_adjustments(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            series TEXT,
            range_start_ms INTEGER,
            range_end_ms INTEGER,
            label TEXT,
            tier TEXT,
            reason TEXT,
            status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed')),
            idempotency_key TEXT UNIQUE,
            requested_key TEXT,
            cutoff_ms INTEGER,
            counts TEXT NOT NULL DEFAULT '{}',
            error TEXT,
            created_ms INTEGER,
            started_ms INTEGER,
            finished_ms INTEGER
        )"""
    )
    db.execute("CREATE INDEX jobs_created ON jobs (created_ms)")
    db.execute(
        """
        CREATE TABLE job_diffs (
            job_id INTEGER NOT NULL,
            series TEXT NOT NULL,
            window_start_ms INTEGER NOT NULL,
            grp TEXT NOT NULL,
            streaming_version INTEGER,
            streaming_revenue_cents INTEGER,
            streaming_events INTEGER,
            batch_revenue_cents INTEGER,
            batch_events INTEGER,
            diff_revenue_cents INTEGER,
            diff_events INTEGER,
            written_version INTEGER
        )"""
    )
    db.execute("CREATE INDEX job_diffs_job ON job_diffs (job_id)")
    db.execute("CREATE INDEX job_diffs_window ON job_diffs (series, window_start_ms, grp)")
    db.execute(
        """
        CREATE TABLE adjustments (
            id INTEGER PRIMARY KEY,
            series TEXT NOT NULL,
            window_start_ms INTEGER NOT NULL,
            window_end_ms INTEGER NOT NULL,
            grp TEXT NOT NULL,
            final_version INTEGER NOT NULL,
            event_id TEXT,
            revenue_cents INTEGER NOT NULL DEFAULT 0,
            orders INTEGER NOT NULL DEFAULT 0,
            items INTEGER NOT NULL DEFAULT 0,
            events INTEGER NOT NULL DEFAULT 0,
            period_start_ms INTEGER NOT NULL,
            period_end_ms INTEGER NOT NULL,
            booked_at_ms INTEGER NOT NULL,
            reason TEXT NOT NULL,
            job_id INTEGER,
            UNIQUE (series, window_start_ms, grp, event_id)
        )"""
    )
    db.execute("CREATE INDEX adjustments_period ON adjustments (series, period_start_ms)")


@migrations()
def m004_config_and_checkpoints(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE config_versions (
            id INTEGER PRIMARY KEY,
            series TEXT NOT NULL,
            spec_json TEXT NOT NULL,
            applied_at_ms INTEGER NOT NULL
        )"""
    )
    db.execute("CREATE INDEX config_versions_series ON config_versions (series, id)")
    db.execute(
        """
        CREATE TABLE kv (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_ms INTEGER
        )"""
    )


@migrations()
def m005_tier_triggers_use_the_latest_version(db: Database) -> None:
    """The final check scanned every version of a window (a window with thousands of
    late panes made each insert slow); the latest version's tier says it all once
    tiers can never go back, which this migration also enforces."""
    latest_tier = (
        "(SELECT tier FROM versions WHERE series = NEW.series "
        "AND window_start_ms = NEW.window_start_ms AND grp = NEW.grp "
        "ORDER BY version DESC LIMIT 1)"
    )
    rank = "CASE {} WHEN 'live' THEN 0 WHEN 'preliminary' THEN 1 WHEN 'final' THEN 2 END"
    db.execute("DROP TRIGGER IF EXISTS versions_final_is_final")
    db.execute(
        f"""CREATE TRIGGER versions_final_is_final BEFORE INSERT ON versions
        WHEN NEW.reason != 'adjustment' AND {latest_tier} = 'final'
        BEGIN SELECT RAISE(ABORT, 'window is final: only adjustments may follow'); END"""
    )
    db.execute(
        f"""CREATE TRIGGER versions_tier_never_goes_back BEFORE INSERT ON versions
        WHEN {rank.format("NEW.tier")} < coalesce({rank.format(latest_tier)}, 0)
        BEGIN SELECT RAISE(ABORT, 'a window''s tier never goes back'); END"""
    )


@migrations()
def m006_alerts(db: Database) -> None:
    """Alert rules and the alert log (engine.runtime.alerts, engine.store.alerts).

    ``alert_log`` holds one row per fired alert (once per rule, window and tier)
    and one per provisional warning (once per rule and window): the UNIQUE key is
    what makes re-running the evaluation change nothing. A warning's ``status``
    moves from 'provisional' to 'confirmed' or 'contradicted' when the number the
    rule alerts on arrives. ``alert_deliveries`` records each sink's attempt to
    deliver a notice (webhook POSTs), failures included.
    """
    db.execute(
        """
        CREATE TABLE alert_rules (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            metric TEXT NOT NULL CHECK (metric IN ('revenue', 'orders', 'items', 'events')),
            series TEXT NOT NULL,
            grp TEXT NOT NULL DEFAULT '*',
            comparator TEXT NOT NULL CHECK (comparator IN ('below', 'above')),
            threshold REAL NOT NULL,
            live_margin REAL NOT NULL DEFAULT 0.1 CHECK (live_margin >= 0 AND live_margin < 1),
            alert_tier TEXT NOT NULL DEFAULT 'final'
                CHECK (alert_tier IN ('preliminary', 'final')),
            webhook_url TEXT,
            enabled INTEGER NOT NULL DEFAULT 1,
            origin TEXT NOT NULL DEFAULT 'user',
            created_ms INTEGER NOT NULL,
            updated_ms INTEGER
        )"""
    )
    db.execute(
        """
        CREATE TABLE alert_log (
            id INTEGER PRIMARY KEY,
            rule_id INTEGER NOT NULL REFERENCES alert_rules (id),
            kind TEXT NOT NULL CHECK (kind IN ('alert', 'warning')),
            once_per TEXT NOT NULL,
            series TEXT NOT NULL,
            window_start_ms INTEGER NOT NULL,
            window_end_ms INTEGER NOT NULL,
            grp TEXT NOT NULL,
            tier TEXT NOT NULL,
            version INTEGER NOT NULL,
            version_processing_ms INTEGER,
            metric TEXT NOT NULL,
            value REAL,
            threshold REAL NOT NULL,
            comparator TEXT NOT NULL,
            margin REAL NOT NULL,
            status TEXT NOT NULL
                CHECK (status IN ('fired', 'provisional', 'confirmed', 'contradicted')),
            backfill INTEGER NOT NULL DEFAULT 0,
            raised_ms INTEGER NOT NULL,
            resolved_ms INTEGER,
            resolved_tier TEXT,
            resolved_version INTEGER,
            resolved_value REAL,
            message TEXT NOT NULL,
            UNIQUE (rule_id, window_start_ms, kind, once_per)
        )"""
    )
    db.execute("CREATE INDEX alert_log_raised ON alert_log (raised_ms)")
    db.execute("CREATE INDEX alert_log_open ON alert_log (rule_id, status)")
    db.execute(
        """
        CREATE TABLE alert_deliveries (
            id INTEGER PRIMARY KEY,
            log_id INTEGER NOT NULL REFERENCES alert_log (id),
            sink TEXT NOT NULL,
            event TEXT NOT NULL,
            target TEXT,
            status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            payload TEXT NOT NULL,
            created_ms INTEGER NOT NULL,
            last_attempt_ms INTEGER,
            UNIQUE (log_id, sink, event)
        )"""
    )
    db.execute("CREATE INDEX alert_deliveries_status ON alert_deliveries (status)")


@migrations()
def m007_alert_rule_management(db: Database) -> None:
    """Rules can be edited, switched and deleted; deliveries keep every attempt.

    A deleted rule keeps its row (``deleted_ms`` set; the log refers to it) and
    disappears from the lists. ``alert_rule_changes`` is the append-only history of
    every rule (created / edited / enabled / disabled / deleted, with the fields
    before and after). ``alert_delivery_attempts`` is the append-only record of each
    attempt to deliver a notice, and of each "test webhook" send (``event = 'test'``,
    no delivery row), with its time and error.
    """
    db.execute("ALTER TABLE alert_rules ADD COLUMN deleted_ms INTEGER")
    db.execute(
        """
        CREATE TABLE alert_rule_changes (
            id INTEGER PRIMARY KEY,
            rule_id INTEGER NOT NULL REFERENCES alert_rules (id),
            changed_ms INTEGER NOT NULL,
            action TEXT NOT NULL
                CHECK (action IN ('created', 'edited', 'enabled', 'disabled', 'deleted')),
            before TEXT,
            after TEXT
        )"""
    )
    db.execute("CREATE INDEX alert_rule_changes_rule ON alert_rule_changes (rule_id, id)")
    db.execute(
        """
        CREATE TABLE alert_delivery_attempts (
            id INTEGER PRIMARY KEY,
            delivery_id INTEGER REFERENCES alert_deliveries (id),
            rule_id INTEGER NOT NULL REFERENCES alert_rules (id),
            sink TEXT NOT NULL,
            event TEXT NOT NULL,
            target TEXT,
            attempted_ms INTEGER NOT NULL,
            ok INTEGER NOT NULL,
            error TEXT
        )"""
    )
    db.execute("CREATE INDEX alert_delivery_attempts_rule ON alert_delivery_attempts (rule_id)")
    for table in ("alert_rule_changes", "alert_delivery_attempts"):
        for op in ("UPDATE", "DELETE"):
            db.execute(
                f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )
    db.execute(
        "INSERT INTO alert_rule_changes (rule_id, changed_ms, action, after) "
        "SELECT id, created_ms, 'created', json_object('name', name, 'threshold', threshold, "
        "'comparator', comparator, 'live_margin', live_margin, 'alert_tier', alert_tier, "
        "'webhook_url', webhook_url, 'enabled', enabled) FROM alert_rules ORDER BY id"
    )


@migrations()
def m008_ingest_owner_and_error(db: Database) -> None:
    """Who runs an ingest (host:pid), so one left 'running' by a crash can be told from
    one still running elsewhere and marked 'interrupted'; and why an ingest failed."""
    db.execute("ALTER TABLE ingests ADD COLUMN owner TEXT")
    db.execute("ALTER TABLE ingests ADD COLUMN error TEXT")
    db.execute("CREATE INDEX ingests_running ON ingests (status) WHERE status = 'running'")


@migrations()
def m009_live_sources(db: Database) -> None:
    """Live mode (issue 13): when each raw row was appended, and the watched files.

    ``raw_events.appended_ms`` is the wall-clock (processing) time at which the row
    was committed — what a live runtime processes it at, so a restart replays the
    same decisions; rows from before this migration read it as their arrival time.
    ``watched_files`` records each file ``python -m engine ingest --watch`` picked
    up (once per path, size and modification time) with the ingest that read it.
    """
    db.execute("ALTER TABLE raw_events ADD COLUMN appended_ms INTEGER")
    db.execute("CREATE INDEX raw_events_appended ON raw_events (appended_ms)")
    db.execute(
        """
        CREATE TABLE watched_files (
            id INTEGER PRIMARY KEY,
            directory TEXT NOT NULL,
            name TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            ingest_id INTEGER,
            status TEXT NOT NULL,
            detail TEXT,
            seen_ms INTEGER NOT NULL,
            UNIQUE (directory, name, size, mtime_ns)
        )"""
    )


def _widen_alert_rules_check(db: Database, old: str, new: str) -> None:
    """Replace alert_rules' CHECK ``old`` by the wider ``new`` (every stored row still
    passes): SQLite's documented way to relax a constraint — rewrite the table's SQL
    under ``writable_schema``, bump ``schema_version``, check integrity."""
    (sql,) = db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'alert_rules'"
    ).fetchone()
    if old not in sql:
        raise RuntimeError("alert_rules has an unexpected metric CHECK; not rewriting it")
    (version,) = db.execute("PRAGMA schema_version").fetchone()
    db.execute("PRAGMA writable_schema = ON")
    try:
        db.execute(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'alert_rules'",
            [sql.replace(old, new)],
        )
        db.execute(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        db.execute("PRAGMA writable_schema = OFF")
    (ok,) = db.execute("PRAGMA integrity_check").fetchone()
    if ok != "ok":
        raise RuntimeError(f"integrity check after widening alert_rules: {ok}")


@migrations()
def m010_alert_rules_gap_metrics(db: Database) -> None:
    """Alert rules may watch the streaming-vs-batch gap (``revenue_gap``, ``orders_gap``).
    SQLite cannot alter a CHECK constraint; widening one (every stored row still passes)
    is done as SQLite's documentation describes for relaxing constraints: rewrite the
    table's SQL under ``writable_schema``, bump ``schema_version``, check integrity."""
    old = "CHECK (metric IN ('revenue', 'orders', 'items', 'events'))"
    new = "CHECK (metric IN ('revenue', 'orders', 'items', 'events', 'revenue_gap', 'orders_gap'))"
    _widen_alert_rules_check(db, old, new)


@migrations()
def m011_operator_snapshots(db: Database) -> None:
    """The runtime's operators' open state, written in the checkpoint's transaction, so
    a restart restores it instead of replaying the whole raw log."""
    db.execute(
        """
        CREATE TABLE operator_snapshots (
            series TEXT PRIMARY KEY,
            seq INTEGER NOT NULL,
            processing_time_ms INTEGER,
            format TEXT NOT NULL,
            state BLOB NOT NULL,
            taken_ms INTEGER
        )"""
    )


@migrations()
def m012_config_versions_who_and_why(db: Database) -> None:
    """Who applied a configuration version and why (the What-if lab's history)."""
    db.execute("ALTER TABLE config_versions ADD COLUMN applied_by TEXT")
    db.execute("ALTER TABLE config_versions ADD COLUMN reason TEXT")


@migrations()
def m013_alert_rules_non_additive_metrics(db: Database) -> None:
    """Alert rules may watch average and median order value and distinct users. The
    CHECK is widened the way ``m010`` widened it (every stored row still passes)."""
    old = "CHECK (metric IN ('revenue', 'orders', 'items', 'events', 'revenue_gap', 'orders_gap'))"
    new = (
        "CHECK (metric IN ('revenue', 'orders', 'items', 'events', 'revenue_gap', "
        "'orders_gap', 'avg_order_value', 'median_order_value', 'distinct_users'))"
    )
    _widen_alert_rules_check(db, old, new)


@migrations()
def m014_contributions_by_event(db: Database) -> None:
    """Contributions keyed by event within a window, in one B-tree (WITHOUT ROWID; the
    key is the whole row): "which of these events does the window already count" —
    asked for every rebased late pane and every patch — becomes lookups instead of a
    scan of the window's rows, a window's counted ids come out in key order, and each
    insert writes one tree instead of a table and its index. Explain's version range
    reads the window's slice of the same tree."""
    db.execute(
        """
        CREATE TABLE contributions_by_event (
            series TEXT NOT NULL,
            window_start_ms INTEGER NOT NULL,
            grp TEXT NOT NULL,
            event_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            sign INTEGER NOT NULL DEFAULT 1 CHECK (sign IN (-1, 1)),
            PRIMARY KEY (series, window_start_ms, grp, event_id, version, sign)
        ) WITHOUT ROWID"""
    )
    db.execute(
        "INSERT INTO contributions_by_event "
        "SELECT series, window_start_ms, grp, event_id, version, sign FROM contributions"
    )
    db.execute("DROP TABLE contributions")
    db.execute("ALTER TABLE contributions_by_event RENAME TO contributions")


@migrations()
def m015_versions_one_insert_rule(db: Database) -> None:
    """The three BEFORE INSERT triggers on ``versions`` (gap-free numbering, final is
    final, tiers never go back) become one, whose WHEN reads the window's latest
    version once: each trigger cost a sub-program run and a lookup per inserted
    version, about 40% of a version insert (engine.store.versions writes tens of
    thousands per ingest). The same rules, the same messages, checked in the same
    order when one fails: only a failing insert runs the body, which tells them apart.

    The latest version packs as ``version * 4 + tier rank`` (no row: 0, i.e. version 0
    live); the insert passes when that is ``(NEW.version - 1) * 4 + r`` with
    ``r <= NEW.tier's rank`` and ``r <= 1`` unless NEW is an adjustment (after a final
    version only adjustments may follow)."""
    rank = "CASE {} WHEN 'live' THEN 0 WHEN 'preliminary' THEN 1 WHEN 'final' THEN 2 END"
    window = (
        "FROM versions WHERE series = NEW.series AND window_start_ms = NEW.window_start_ms "
        "AND grp = NEW.grp ORDER BY version DESC LIMIT 1"
    )
    packed = f"(SELECT version * 4 + {rank.format('tier')} {window})"
    latest_tier = f"(SELECT tier {window})"
    allowed = (
        f"min({rank.format('NEW.tier')}, CASE WHEN NEW.reason = 'adjustment' THEN 2 ELSE 1 END)"
    )
    for name in ("gap_free", "final_is_final", "tier_never_goes_back"):
        db.execute(f"DROP TRIGGER IF EXISTS versions_{name}")
    db.execute(
        f"""CREATE TRIGGER versions_insert_rules BEFORE INSERT ON versions
        WHEN NOT coalesce(coalesce({packed}, 0) BETWEEN (NEW.version - 1) * 4
                          AND (NEW.version - 1) * 4 + {allowed}, 0)
        BEGIN
            SELECT RAISE(ABORT, 'a window''s tier never goes back')
            WHERE {rank.format("NEW.tier")} < coalesce({rank.format(latest_tier)}, 0);
            SELECT RAISE(ABORT, 'window is final: only adjustments may follow')
            WHERE NEW.reason != 'adjustment' AND {latest_tier} = 'final';
            SELECT RAISE(ABORT, 'version numbers must be gap-free')
            WHERE NEW.version != 1 + coalesce((SELECT max(version) FROM versions
                WHERE series = NEW.series AND window_start_ms = NEW.window_start_ms
                  AND grp = NEW.grp), 0);
        END"""
    )


@migrations()
def m016_drop_versions_as_of(db: Database) -> None:
    """``versions_as_of`` (series, window_start_ms, grp, processing_time_ms) did not earn
    its keep: every version insert paid for it (15-20% of the insert), and its one
    reader, ``as_of`` (the newest version at or before t), ran slower with it — SQLite
    took it, fetched every version up to t and sorted them by number (a temp B-tree),
    where the unique (series, window_start_ms, grp, version) index walks the window's
    versions newest first and stops at the first at or before t. On an 8-day store
    (16,621 versions, up to 138 per daily window): 587 -> 99 us per as_of at load 6;
    the alert rules' range read uses the unique index either way (31 -> 24 ms)."""
    db.execute("DROP INDEX IF EXISTS versions_as_of")
