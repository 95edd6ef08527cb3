//! The database schema. Every statement is idempotent, so opening an
//! existing store is the same as creating one.

/// Tables and indexes.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS deliveries (
    id               INTEGER PRIMARY KEY,
    event_id         TEXT NOT NULL,
    notification_key TEXT,
    correlation_id   TEXT NOT NULL,
    source           TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    status           INTEGER NOT NULL,
    outcome          TEXT NOT NULL DEFAULT '',
    response         TEXT NOT NULL,
    received_at_ms   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_received_at ON deliveries(received_at_ms);
CREATE INDEX IF NOT EXISTS deliveries_correlation_id ON deliveries(correlation_id);

-- The spool: one row per action, delivered in `seq` order per workflow id.
CREATE TABLE IF NOT EXISTS actions (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id     INTEGER NOT NULL REFERENCES deliveries(id),
    workflow_id     TEXT NOT NULL,
    rule            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    action          TEXT NOT NULL,
    call            TEXT NOT NULL,
    request_key     TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'done', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    run_id          TEXT,
    result          TEXT,
    created_ms      INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS actions_pending ON actions(state, workflow_id, seq);
CREATE INDEX IF NOT EXISTS actions_due ON actions(state, next_attempt_ms, seq);
CREATE INDEX IF NOT EXISTS actions_delivery ON actions(delivery_id);
";

/// Columns added after the first release, each with its default, for
/// stores created before they existed. (SQLite has no `ADD COLUMN IF NOT
/// EXISTS`; the store adds whichever are missing.)
pub const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    // Why, as a stable code (`NO_RULE_MATCHED`, `DEAD_LETTER` ...); kept
    // current as the spool delivers.
    ("deliveries", "reason_code", "TEXT NOT NULL DEFAULT ''"),
    // 1: counts for redelivery detection. 0: a log entry only (refusals,
    // duplicates, rule errors, 503s), so a redelivery is processed again.
    ("deliveries", "remembered", "INTEGER NOT NULL DEFAULT 1"),
];

/// Indexes over added columns.
pub const ADDED_INDEXES: &str = "
CREATE INDEX IF NOT EXISTS deliveries_reason_code ON deliveries(reason_code);
-- Redelivery lookups only ever ask for remembered deliveries: log-only rows
-- (ignored deliveries above all, the bulk of the traffic) stay out of these
-- two indexes, whose random keys cost a page write each per insert.
CREATE INDEX IF NOT EXISTS deliveries_remembered_event_id
    ON deliveries(event_id) WHERE remembered = 1;
CREATE INDEX IF NOT EXISTS deliveries_remembered_notification_key
    ON deliveries(notification_key) WHERE remembered = 1;
-- Log-only entries that are not ignored deliveries (refusals, duplicates,
-- rule errors, 503s), for the pruner's cap on them.
CREATE INDEX IF NOT EXISTS deliveries_log_only
    ON deliveries(id) WHERE remembered = 0 AND outcome <> 'ignored';
-- The spool's stats (readiness, metrics) count the pending actions and
-- find the oldest here, without reading every action kept: only pending
-- ones are in it. (`state` too, so that every SQLite version reads the
-- index alone.)
CREATE INDEX IF NOT EXISTS actions_pending_created
    ON actions(state, created_ms) WHERE state = 'pending';
";
