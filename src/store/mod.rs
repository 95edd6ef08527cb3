//! Keeping: the bridge's durable state, an embedded SQLite database under
//! `dataDir` (WAL mode, group commit; `synchronous=FULL` for what the
//! spool promises, see `writer`).
//!
//! Two tables: `deliveries` remembers every delivery that was answered (for
//! redelivery detection and the delivery log) and `actions` is the spool:
//! each Temporal action of a delivery, pending until Temporal accepted it.

mod checkpoint;
mod reader;
mod schema;
mod writer;

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc, LazyLock,
        atomic::{AtomicI64, AtomicU64, Ordering},
        mpsc,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use tokio::sync::oneshot;

use writer::{Call, Job, Pending, Reply};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error (disk full, I/O error, corruption ...).
    #[error("delivery store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The batch transaction did not commit.
    #[error("delivery store: commit failed: {0}")]
    Commit(String),
    /// The data directory could not be prepared.
    #[error("delivery store: {path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The spool holds as many pending actions as it may.
    #[error("spool full: {0} actions pending")]
    Full(i64),
    /// The writer thread is gone, or a lookup's thread failed.
    #[error("delivery store task failed: {0}")]
    Task(String),
}

/// Most log-only entries (refusals, duplicates, rule errors, 503s) kept,
/// newest first, whatever the retention: they cost a row each, and anyone
/// who can reach the bridge can cause some. (Ignored deliveries are log
/// entries too, but kept for the retention.)
pub const LOG_ONLY_KEPT: i64 = 100_000;

/// A delivery that got its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// ADO event id.
    pub event_id: String,
    /// `subscriptionId/notificationId`, when sent.
    pub notification_key: Option<String>,
    /// Correlation id.
    pub correlation_id: String,
    /// Source name.
    pub source: String,
    /// Event type.
    pub event_type: String,
    /// HTTP status answered.
    pub status: u16,
    /// Outcome answered (`accepted`, `queued`, `ignored` ...).
    pub outcome: String,
    /// The JSON response body answered.
    pub response: String,
    /// When it was received (ms since the Unix epoch).
    pub received_at_ms: i64,
    /// Why, as a stable code (`NO_RULE_MATCHED`, `QUEUED` ...).
    pub reason_code: String,
    /// Whether it counts for redelivery detection; `false` for entries
    /// kept only for the log (ignored deliveries, refusals, duplicates,
    /// rule errors, 503s).
    pub remembered: bool,
}

/// An action to spool.
#[derive(Clone, Debug)]
pub struct NewAction {
    /// Workflow id: actions for one id are delivered in order.
    pub workflow_id: String,
    /// Rule name.
    pub rule: String,
    /// `start`, `signal`, `signalWithStart`.
    pub kind: String,
    /// The planned action as JSON.
    pub action: String,
    /// The call context as JSON.
    pub call: String,
    /// Key the request id derives from.
    pub request_key: String,
}

/// What admitting a delivery did.
#[derive(Debug)]
pub enum Admission {
    /// The event or notification was already admitted.
    Duplicate(DeliveryRecord, Vec<ActionRow>),
    /// Stored; one sequence number per action, in order.
    Admitted {
        /// Row id of the delivery.
        delivery_id: i64,
        /// Spool sequence numbers.
        seqs: Vec<i64>,
        /// Per action: no earlier delivery's action for the same workflow
        /// id is pending, so it may go now.
        heads: Vec<bool>,
    },
}

/// A spooled action as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionRow {
    /// Spool sequence number.
    pub seq: i64,
    /// Delivery it belongs to.
    pub delivery_id: i64,
    /// Workflow id.
    pub workflow_id: String,
    /// Rule.
    pub rule: String,
    /// Kind.
    pub kind: String,
    /// `pending`, `done` or `dead`.
    pub state: String,
    /// Attempts so far.
    pub attempts: i64,
    /// Next attempt (ms since the epoch), while pending.
    pub next_attempt_ms: i64,
    /// Last error.
    pub last_error: Option<String>,
    /// Run id, once done.
    pub run_id: Option<String>,
    /// Temporal's answer, once done (`started`, `signaled` ...).
    pub result: Option<String>,
    /// The planned action (JSON).
    #[serde(skip)]
    pub action: String,
    /// The call context (JSON).
    #[serde(skip)]
    pub call: String,
    /// Request key.
    #[serde(skip)]
    pub request_key: String,
}

/// One line of the delivery log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliverySummary {
    /// Row id (used by `show` and `replay`).
    pub id: i64,
    /// Received (ms since the epoch).
    pub received_at_ms: i64,
    /// Source.
    pub source: String,
    /// Event type.
    pub event_type: String,
    /// Event id.
    pub event_id: String,
    /// Correlation id.
    pub correlation_id: String,
    /// HTTP status answered.
    pub status: u16,
    /// Outcome answered.
    pub outcome: String,
    /// Why, now (`NO_RULE_MATCHED`, `QUEUED`, `STARTED`, `DEAD_LETTER` ...).
    pub reason_code: String,
    /// Actions still pending.
    pub pending: i64,
    /// Actions delivered.
    pub done: i64,
    /// Actions dead-lettered.
    pub dead: i64,
}

/// Filters for the delivery log.
#[derive(Clone, Debug, Default)]
pub struct DeliveryFilter {
    /// Only this source.
    pub source: Option<String>,
    /// Only this event type.
    pub event_type: Option<String>,
    /// Only this outcome, or `dead` for deliveries with dead-lettered actions.
    pub outcome: Option<String>,
    /// Only this correlation id.
    pub correlation_id: Option<String>,
    /// Only this reason code.
    pub reason_code: Option<String>,
    /// At most this many, newest first.
    pub limit: usize,
}

/// Spool counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpoolStats {
    /// Pending actions.
    pub pending: i64,
    /// Dead-lettered actions.
    pub dead: i64,
    /// Creation time of the oldest pending action (ms since the epoch).
    pub oldest_pending_ms: Option<i64>,
}

/// Store settings.
#[derive(Clone, Copy, Debug)]
pub struct StoreOptions {
    /// Commit concurrent operations together (one fsync per batch).
    pub group_commit: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self { group_commit: true }
    }
}

/// Delivery-log entries written after their answer that may wait for the
/// writer at once (a few MiB); past that, writing one waits for room.
const LOG_QUEUE: usize = 4096;

/// The database file in `dataDir` (with its `-wal` and `-shm` files).
const DB_FILE: &str = "bridge.sqlite3";

/// Handle to the embedded store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    tx: mpsc::Sender<Box<dyn Job>>,
    pending: Arc<AtomicI64>,
    /// The writer connection's `PRAGMA data_version` when the pending
    /// actions were last counted: it changes when another connection
    /// commits (a replay from the command line), and then
    /// [`Store::stats`] counts them again.
    counted_at: Arc<AtomicI64>,
    log_room: Arc<tokio::sync::Semaphore>,
    syncs: Arc<AtomicU64>,
    /// Delivery log lookups, off the writer thread.
    reader: Arc<reader::Reader>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

const DELIVERY_COLUMNS: &str = "event_id, notification_key, correlation_id, source, event_type, status, outcome, response, received_at_ms, reason_code, remembered";
const ACTION_COLUMNS: &str = "seq, delivery_id, workflow_id, rule, kind, state, attempts, next_attempt_ms, last_error, run_id, result, action, call, request_key";

fn delivery_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeliveryRecord> {
    delivery_row_at(r, 0)
}

/// A [`DELIVERY_COLUMNS`] row starting at column `i`.
fn delivery_row_at(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<DeliveryRecord> {
    Ok(DeliveryRecord {
        event_id: r.get(i)?,
        notification_key: r.get(i + 1)?,
        correlation_id: r.get(i + 2)?,
        source: r.get(i + 3)?,
        event_type: r.get(i + 4)?,
        status: r.get(i + 5)?,
        outcome: r.get(i + 6)?,
        response: r.get(i + 7)?,
        received_at_ms: r.get(i + 8)?,
        reason_code: r.get(i + 9)?,
        remembered: r.get(i + 10)?,
    })
}

/// The delivery log's query for `filter`, with its arguments. Only the
/// filters given are in it, so that SQLite can use their indexes: a lookup
/// by correlation id or reason code reads its index, and "dead" starts from
/// the dead actions, where a condition for every filter, given or not,
/// read the whole log.
fn list_query(filter: DeliveryFilter) -> (String, Vec<rusqlite::types::Value>) {
    let dead_only = filter.outcome.as_deref() == Some("dead");
    let outcome = filter.outcome.filter(|_| !dead_only);
    let by_correlation = filter.correlation_id.is_some();
    let mut args = Vec::new();
    let mut conditions = Vec::new();
    for (column, value) in [
        ("d.source", filter.source),
        ("d.event_type", filter.event_type),
        ("d.outcome", outcome),
        ("d.correlation_id", filter.correlation_id),
        ("d.reason_code", filter.reason_code),
    ] {
        if let Some(value) = value {
            args.push(rusqlite::types::Value::Text(value));
            // SQLite knows nothing of how selective each index is: with a
            // correlation id, the other conditions are kept off their
            // indexes (`+`), or a common reason code's would be read.
            let off_index = by_correlation && column != "d.correlation_id";
            let plus = if off_index { "+" } else { "" };
            conditions.push(format!("{plus}{column} = ?{}", args.len()));
        }
    }
    if dead_only {
        conditions.push("d.id IN (SELECT delivery_id FROM actions WHERE state = 'dead')".into());
    }
    let limit = i64::try_from(filter.limit.clamp(1, 10_000)).unwrap_or(100);
    args.push(rusqlite::types::Value::Integer(limit));
    let filtered = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT d.id, d.received_at_ms, d.source, d.event_type, d.event_id, d.correlation_id, d.status, d.outcome,
                COALESCE(SUM(a.state = 'pending'), 0), COALESCE(SUM(a.state = 'done'), 0), COALESCE(SUM(a.state = 'dead'), 0),
                d.reason_code
         FROM deliveries d LEFT JOIN actions a ON a.delivery_id = d.id
         {filtered}
         GROUP BY d.id
         ORDER BY d.id DESC LIMIT ?{}",
        args.len()
    );
    (sql, args)
}

// The pruner's statements, every ten minutes on the writer thread: each
// reads only what it may delete (through `deliveries_log_only` and
// `deliveries_received_at`), not every delivery and action kept, which held
// up every delivery behind it.

/// Log-only entries beyond the newest `?1`.
const PRUNE_LOG_ONLY: &str = "DELETE FROM deliveries WHERE remembered = 0 AND outcome <> 'ignored'
       AND id <= (SELECT id FROM deliveries WHERE remembered = 0 AND outcome <> 'ignored'
                  ORDER BY id DESC LIMIT 1 OFFSET ?1)
       AND id NOT IN (SELECT delivery_id FROM actions)";

/// The actions of deliveries received before `?1` once all are done.
const PRUNE_ACTIONS: &str = "DELETE FROM actions WHERE delivery_id IN
       (SELECT d.id FROM deliveries d WHERE d.received_at_ms < ?1
          AND NOT EXISTS (SELECT 1 FROM actions p WHERE p.delivery_id = d.id AND p.state <> 'done'))";

/// Deliveries received before `?1` without actions left.
const PRUNE_DELIVERIES: &str = "DELETE FROM deliveries WHERE received_at_ms < ?1
       AND id NOT IN (SELECT delivery_id FROM actions)";

/// Dead-lettered actions: a count over the `dead` range of an index.
const STATS_DEAD: &str = "SELECT COUNT(*) FROM actions WHERE state = 'dead'";

/// The pending actions, counted in `actions_pending_created` (named:
/// SQLite would rather read the pending range of another index, and the
/// table with it).
const STATS_PENDING: &str =
    "SELECT COUNT(*) FROM actions INDEXED BY actions_pending_created WHERE state = 'pending'";

/// The creation time of the oldest pending action: the first entry of
/// `actions_pending_created`.
const STATS_OLDEST_PENDING: &str = "SELECT MIN(created_ms) FROM actions INDEXED BY actions_pending_created WHERE state = 'pending'";

/// The connection's `data_version`: it changes when another connection
/// commits, and only then.
fn data_version(c: &Connection) -> rusqlite::Result<i64> {
    c.query_row("PRAGMA data_version", [], |r| r.get(0))
}

/// Brings a delivery's reason code up to date with its actions: a dead
/// letter, still queued, or what Temporal did once all were delivered.
/// Deliveries without spooled actions keep the code they were answered
/// with.
fn refresh_code(c: &Connection, delivery_id: i64) -> rusqlite::Result<()> {
    c.prepare_cached(
        "UPDATE deliveries SET reason_code = (
            SELECT CASE
                WHEN SUM(state = 'dead') > 0 THEN 'DEAD_LETTER'
                WHEN SUM(state = 'pending') > 0 THEN 'QUEUED'
                WHEN SUM(result IN ('started', 'signaledAndStarted')) > 0 THEN 'STARTED'
                WHEN SUM(result = 'signaled') > 0 THEN 'SIGNALED'
                WHEN SUM(result = 'conflict') > 0 THEN 'CONFLICT'
                ELSE 'ALREADY_RUNNING' END
            FROM actions WHERE delivery_id = ?1)
         WHERE id = ?1 AND EXISTS (SELECT 1 FROM actions WHERE delivery_id = ?1)",
    )?
    .execute(params![delivery_id])?;
    Ok(())
}

/// [`refresh_code`] for the delivery an action belongs to.
fn refresh_code_of_action(c: &Connection, seq: i64) -> rusqlite::Result<()> {
    let id: Option<i64> = c
        .prepare_cached("SELECT delivery_id FROM actions WHERE seq = ?1")?
        .query_row(params![seq], |r| r.get(0))
        .optional()?;
    match id {
        Some(id) => refresh_code(c, id),
        None => Ok(()),
    }
}

/// A row of [`list_query`]'s.
fn summary_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeliverySummary> {
    Ok(DeliverySummary {
        id: r.get(0)?,
        received_at_ms: r.get(1)?,
        source: r.get(2)?,
        event_type: r.get(3)?,
        event_id: r.get(4)?,
        correlation_id: r.get(5)?,
        status: r.get(6)?,
        outcome: r.get(7)?,
        pending: r.get(8)?,
        done: r.get(9)?,
        dead: r.get(10)?,
        reason_code: r.get(11)?,
    })
}

fn action_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ActionRow> {
    Ok(ActionRow {
        seq: r.get(0)?,
        delivery_id: r.get(1)?,
        workflow_id: r.get(2)?,
        rule: r.get(3)?,
        kind: r.get(4)?,
        state: r.get(5)?,
        attempts: r.get(6)?,
        next_attempt_ms: r.get(7)?,
        last_error: r.get(8)?,
        run_id: r.get(9)?,
        result: r.get(10)?,
        action: r.get(11)?,
        call: r.get(12)?,
        request_key: r.get(13)?,
    })
}

fn actions_of(c: &Connection, delivery_id: i64) -> rusqlite::Result<Vec<ActionRow>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {ACTION_COLUMNS} FROM actions WHERE delivery_id = ?1 ORDER BY seq"
    ))?;
    let rows = stmt.query_map(params![delivery_id], action_row)?;
    rows.collect()
}

/// An earlier delivery of the same notification, or of the same event
/// through the same source (another source may have rules of its own).
/// The redelivery lookup: the first remembered delivery of the same event
/// (`?1`, from source `?3`) or notification (`?2`). `remembered = 1` is
/// written in both branches: SQLite uses a partial index for a branch of
/// an OR only when that branch implies the index's condition, and scans
/// the whole table otherwise.
static FIND_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT id, {DELIVERY_COLUMNS} FROM deliveries
         WHERE (remembered = 1 AND event_id = ?1 AND source = ?3)
            OR (remembered = 1 AND ?2 IS NOT NULL AND notification_key = ?2)
         ORDER BY id LIMIT 1"
    )
});

fn find_in(
    c: &Connection,
    event_id: &str,
    source: &str,
    key: Option<&str>,
) -> rusqlite::Result<Option<(i64, DeliveryRecord)>> {
    c.prepare_cached(&FIND_SQL)?
        .query_row(params![event_id, key, source], |r| {
            Ok((r.get(0)?, delivery_row_at(r, 1)?))
        })
        .optional()
}

/// The job that marks action `seq` delivered; its result says whether a
/// later action of the same workflow id waits for it.
fn completion(
    seq: i64,
    result: &str,
    run_id: Option<String>,
) -> impl FnOnce(&Connection, &mut Pending) -> rusqlite::Result<bool> + Send + 'static {
    let result = result.to_owned();
    let now = unix_ms(SystemTime::now());
    move |c, pending| {
        let changed = c
            .prepare_cached(
                "UPDATE actions SET state = 'done', result = ?2, run_id = ?3, attempts = attempts + 1,
                 last_error = NULL, updated_ms = ?4 WHERE seq = ?1 AND state = 'pending'",
            )?
            .execute(params![seq, result, run_id, now])?;
        pending.delta = -i64::try_from(changed).unwrap_or(0);
        if changed > 0 {
            refresh_code_of_action(c, seq)?;
        }
        c.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM actions b, actions a
                            WHERE a.seq = ?1 AND b.state = 'pending'
                              AND b.workflow_id = a.workflow_id AND b.seq > a.seq)",
        )?
        .query_row(params![seq], |r| r.get(0))
    }
}

/// One-off changes to what earlier versions stored, each run once
/// (counted in SQLite's `user_version`).
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version < 1 {
        // Ignored deliveries became log entries: once the rules change, a
        // redelivery of an event no rule matched is evaluated again.
        conn.execute_batch(
            "BEGIN;
             UPDATE deliveries SET remembered = 0 WHERE remembered = 1 AND outcome = 'ignored';
             PRAGMA user_version = 1;
             COMMIT;",
        )?;
    }
    if version < 2 {
        // The redelivery indexes became partial (`schema::ADDED_INDEXES`).
        conn.execute_batch(
            "BEGIN;
             DROP INDEX IF EXISTS deliveries_event_id;
             DROP INDEX IF EXISTS deliveries_notification_key;
             PRAGMA user_version = 2;
             COMMIT;",
        )?;
    }
    Ok(())
}

/// Inserts a delivery; returns its row id.
fn insert_delivery(c: &Connection, rec: &DeliveryRecord) -> rusqlite::Result<i64> {
    static INSERT: LazyLock<String> = LazyLock::new(|| {
        format!(
            "INSERT INTO deliveries ({DELIVERY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        )
    });
    c.prepare_cached(&INSERT)?.execute(params![
        rec.event_id,
        rec.notification_key,
        rec.correlation_id,
        rec.source,
        rec.event_type,
        rec.status,
        rec.outcome,
        rec.response,
        rec.received_at_ms,
        rec.reason_code,
        rec.remembered
    ])?;
    Ok(c.last_insert_rowid())
}

/// Spools a delivery's actions; returns their seqs and whether each is the
/// first pending one of its workflow id.
fn spool_actions(
    c: &Connection,
    delivery_id: i64,
    actions: &[NewAction],
    created_ms: i64,
    first_attempt_ms: i64,
) -> rusqlite::Result<(Vec<i64>, Vec<bool>)> {
    let mut busy = c.prepare_cached(
        "SELECT NOT EXISTS (SELECT 1 FROM actions WHERE state IN ('pending', 'dead') AND workflow_id = ?1)",
    )?;
    let heads = actions
        .iter()
        .map(|a| busy.query_row(params![a.workflow_id], |r| r.get::<_, bool>(0)))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut stmt = c.prepare_cached(
        "INSERT INTO actions (delivery_id, workflow_id, rule, kind, action, call, request_key, state, next_attempt_ms, created_ms, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?9, ?8, ?8)",
    )?;
    let mut seqs = Vec::with_capacity(actions.len());
    for a in actions {
        stmt.execute(params![
            delivery_id,
            a.workflow_id,
            a.rule,
            a.kind,
            a.action,
            a.call,
            a.request_key,
            created_ms,
            first_attempt_ms
        ])?;
        seqs.push(c.last_insert_rowid());
    }
    Ok((seqs, heads))
}

/// Takes out a delivery and its actions.
fn unspool(c: &Connection, delivery_id: i64) -> rusqlite::Result<()> {
    c.prepare_cached("DELETE FROM actions WHERE delivery_id = ?1")?
        .execute(params![delivery_id])?;
    c.prepare_cached("DELETE FROM deliveries WHERE id = ?1")?
        .execute(params![delivery_id])?;
    Ok(())
}

/// Adds the columns newer versions introduced to a store created by an
/// older one.
fn add_missing_columns(conn: &Connection) -> rusqlite::Result<()> {
    for (table, column, decl) in schema::ADDED_COLUMNS {
        let exists: bool = conn.query_row(
            &format!("SELECT COUNT(*) > 0 FROM pragma_table_info('{table}') WHERE name = ?1"),
            params![column],
            |r| r.get(0),
        )?;
        if !exists {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
        }
    }
    conn.execute_batch(schema::ADDED_INDEXES)
}

impl Store {
    /// Opens (creating if needed) the store in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(data_dir, StoreOptions::default())
    }

    /// Opens with explicit options.
    pub fn open_with(data_dir: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
            path: data_dir.to_owned(),
            source,
        })?;
        let conn = Connection::open(data_dir.join(DB_FILE))?;
        let journal: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        // FULL: a transaction is on disk before the commit returns, so an
        // answered delivery is never lost by a crash or power cut.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(Duration::from_secs(5))?;
        // Every statement the writer runs stays prepared (rusqlite keeps 16).
        conn.set_prepared_statement_cache_capacity(64);
        conn.execute_batch(schema::SCHEMA)?;
        add_missing_columns(&conn)?;
        migrate(&conn)?;
        // Read before the count: a commit in between makes the first stats
        // count again.
        let counted_at = Arc::new(AtomicI64::new(data_version(&conn)?));
        let pending: i64 = conn.query_row(STATS_PENDING, [], |r| r.get(0))?;
        // WAL checkpoints go to a thread of their own, so that commits do
        // not wait for them; without it SQLite's default stays.
        let checkpointer = match checkpoint::Checkpointer::start(&data_dir.join(DB_FILE)) {
            Ok(c) => {
                conn.pragma_update(None, "wal_autocheckpoint", checkpoint::WRITER_PAGES)?;
                Some(c)
            }
            Err(e) => {
                tracing::warn!(error = %e, "checkpoints stay on the writer");
                None
            }
        };
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        let max_batch = if options.group_commit { 512 } else { 1 };
        let pending = Arc::new(AtomicI64::new(pending));
        let counter = Arc::clone(&pending);
        let syncs = Arc::new(AtomicU64::new(0));
        // Opened once: a handle opened after a failed write-back would not
        // hear of it. (The reads above made SQLite create the file.)
        let wal_path = data_dir.join(format!("{DB_FILE}-wal"));
        let wal = journal
            .eq_ignore_ascii_case("wal")
            .then(|| std::fs::File::open(&wal_path))
            .transpose()
            .map_err(|source| StoreError::Io {
                path: wal_path,
                source,
            })?;
        if wal.is_none() {
            tracing::warn!(journal_mode = %journal, "SQLite keeps no WAL here; every commit waits for the disk");
        }
        let disk = writer::Disk {
            wal,
            syncs: Arc::clone(&syncs),
            failed: None,
        };
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || {
                writer::run(conn, rx, max_batch, counter, checkpointer.as_ref(), disk);
            })
            .map_err(|source| StoreError::Io {
                path: data_dir.to_owned(),
                source,
            })?;
        Ok(Self {
            tx,
            pending,
            counted_at,
            log_room: Arc::new(tokio::sync::Semaphore::new(LOG_QUEUE)),
            syncs,
            reader: Arc::new(reader::Reader::new(data_dir.join(DB_FILE))),
        })
    }

    /// Runs `f` in the writer's next transaction, on disk when it returns;
    /// `f` may change the number of pending actions.
    async fn call_counted<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut Pending) -> rusqlite::Result<T> + Send + 'static,
    {
        self.submit(true, true, f).await
    }

    /// Like `call_counted` for reads, and for writes a power cut may lose
    /// harmlessly: a lost delivery record makes the dispatcher send the
    /// action again with the same request id, which Temporal recognises; a
    /// lost log line or prune is redone. Committed without waiting for the
    /// disk (see `writer`).
    async fn call_relaxed<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.submit(false, true, move |c, _| f(c)).await
    }

    /// [`Store::call_relaxed`] that changes the number of pending actions.
    async fn call_counted_relaxed<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut Pending) -> rusqlite::Result<T> + Send + 'static,
    {
        self.submit(false, true, f).await
    }

    async fn submit<T, F>(&self, sync: bool, savepoint: bool, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut Pending) -> rusqlite::Result<T> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        self.send(Call {
            f: Some(f),
            out: None,
            reply: Reply::Wait(reply),
            sync,
            savepoint,
        });
        rx.await
            .map_err(|_| StoreError::Task("store writer dropped a job".into()))?
    }

    /// Runs `f` in the writer's next transaction without waiting for it;
    /// `then` gets its result on the writer thread once it is committed
    /// (without waiting for the disk, as [`Store::call_relaxed`]), or
    /// failed. It is queued before this returns, so every later store call
    /// sees it.
    /// `savepoint`: whether `f` runs in a savepoint of its own (see
    /// `writer::Call`).
    fn submit_then<T, F>(
        &self,
        savepoint: bool,
        f: F,
        then: impl FnOnce(Result<T, StoreError>) + Send + 'static,
    ) where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut Pending) -> rusqlite::Result<T> + Send + 'static,
    {
        self.send(Call {
            f: Some(f),
            out: None,
            reply: Reply::Then(Box::new(then)),
            sync: false,
            savepoint,
        });
    }

    /// Queues a job; a writer that stopped fails it at once.
    fn send(&self, job: impl Job + 'static) {
        if let Err(mpsc::SendError(job)) = self.tx.send(Box::new(job)) {
            job.finish(Err("store writer stopped".into()));
        }
    }

    /// Writes a delivery-log entry (`rec.remembered` false: it never makes
    /// a later delivery a duplicate) without waiting for it. It is queued
    /// before this returns, so every later store call sees it; it is on
    /// disk with the writer's next commit. Gives the entry back when the
    /// queue of such writes is full (see [`Store::log_when_room`]).
    pub fn log(&self, rec: DeliveryRecord) -> Result<(), Box<DeliveryRecord>> {
        match Arc::clone(&self.log_room).try_acquire_owned() {
            Ok(room) => {
                self.log_with(rec, room);
                Ok(())
            }
            Err(_) => Err(Box::new(rec)),
        }
    }

    /// [`Store::log`], first waiting for room in the queue: a writer that
    /// falls behind slows its callers down instead of growing the queue.
    pub async fn log_when_room(&self, rec: DeliveryRecord) {
        if let Ok(room) = Arc::clone(&self.log_room).acquire_owned().await {
            self.log_with(rec, room);
        }
    }

    fn log_with(&self, rec: DeliveryRecord, room: tokio::sync::OwnedSemaphorePermit) {
        // One statement: no savepoint needed.
        self.submit_then(
            false,
            move |c, _| {
                let _room = room;
                insert_delivery(
                    c,
                    &DeliveryRecord {
                        remembered: false,
                        ..rec
                    },
                )
                .map(drop)
            },
            |r| {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "could not write the delivery log");
                }
            },
        );
    }

    /// Pending actions right now, kept in memory by the writer. Actions
    /// another process changed (a replay from the command line) count from
    /// the next [`Store::stats`], which every readiness probe asks for.
    pub fn pending(&self) -> i64 {
        self.pending.load(Ordering::Acquire)
    }

    /// The earlier answer to this delivery or event, with its actions.
    pub async fn find(
        &self,
        event_id: &str,
        source: &str,
        notification_key: Option<&str>,
    ) -> Result<Option<(DeliveryRecord, Vec<ActionRow>)>, StoreError> {
        let event_id = event_id.to_owned();
        let source = source.to_owned();
        let key = notification_key.map(str::to_owned);
        self.call_relaxed(
            move |c| match find_in(c, &event_id, &source, key.as_deref())? {
                Some((id, rec)) => Ok(Some((rec, actions_of(c, id)?))),
                None => Ok(None),
            },
        )
        .await
    }

    /// Atomically: unless the event or notification is known, records the
    /// delivery and spools its actions. (Entries that are not `remembered`
    /// are only logged, never found as duplicates.) Refuses with [`StoreError::Full`]
    /// when `max_pending` actions are already waiting.
    /// `first_attempt_ms` is when the dispatcher may first try the actions
    /// (the fast path owns them until then).
    pub async fn admit(
        &self,
        rec: DeliveryRecord,
        actions: Vec<NewAction>,
        max_pending: Option<i64>,
        first_attempt_ms: i64,
    ) -> Result<Admission, StoreError> {
        self.admit_with(true, rec, actions, max_pending, first_attempt_ms)
            .await
    }

    /// Returns once every commit so far is on disk: at once when each
    /// was synced already, else after one fsync of the WAL.
    pub async fn sync(&self) -> Result<(), StoreError> {
        self.submit(true, false, |_, _| Ok(())).await
    }

    /// How many times the store waited for the disk: synced commits, and
    /// syncs of [`Store::sync`].
    pub fn disk_syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    /// [`Store::admit`] of a delivery whose actions went to Temporal
    /// already (direct mode), committed without waiting for the disk: a
    /// power cut that loses the record loses only its use as redelivery
    /// memory, and a redelivery's calls carry the same request ids, which
    /// Temporal recognises.
    pub async fn remember(&self, rec: DeliveryRecord) -> Result<Admission, StoreError> {
        self.admit_with(false, rec, vec![], None, 0).await
    }

    /// [`Store::admit`], committed on disk before it returns only when
    /// `sync`. Unsynced suits a delivery that goes to Temporal at once
    /// (the fast path): once Temporal accepted its actions, the answer
    /// needs nothing of the spool, and a power cut that loses the record
    /// loses what a lost [`Store::remember`] does. An answer that relies on
    /// the spool (a 202) must wait for [`Store::sync`] first. A crash of the
    /// bridge alone loses nothing: the commit is in the WAL.
    pub async fn admit_with(
        &self,
        sync: bool,
        rec: DeliveryRecord,
        actions: Vec<NewAction>,
        max_pending: Option<i64>,
        first_attempt_ms: i64,
    ) -> Result<Admission, StoreError> {
        let n = i64::try_from(actions.len()).unwrap_or(i64::MAX);
        // Without a savepoint of its own: the copies of every page it
        // changes cost 9 % of a spooled delivery's CPU. A failure after the
        // delivery's row went in takes out what this job wrote instead.
        let admission = self
            .submit(sync, false, move |c, pending| {
                // A log-only entry is written whatever came before it.
                let earlier = if rec.remembered {
                    find_in(
                        c,
                        &rec.event_id,
                        &rec.source,
                        rec.notification_key.as_deref(),
                    )?
                } else {
                    None
                };
                if let Some((id, earlier)) = earlier {
                    let rows = actions_of(c, id)?;
                    return Ok(Err(Admission::Duplicate(earlier, rows)));
                }
                if let Some(max) = max_pending
                    && n > 0
                    && pending.now + n > max
                {
                    return Ok(Ok(Err(pending.now)));
                }
                let mut rec = rec;
                if n > 0 {
                    // What `refresh_code` makes of actions all pending.
                    "QUEUED".clone_into(&mut rec.reason_code);
                }
                let delivery_id = insert_delivery(c, &rec)?;
                match spool_actions(
                    c,
                    delivery_id,
                    &actions,
                    rec.received_at_ms,
                    first_attempt_ms,
                ) {
                    Ok((seqs, heads)) => {
                        pending.delta = n;
                        Ok(Ok(Ok(Admission::Admitted {
                            delivery_id,
                            seqs,
                            heads,
                        })))
                    }
                    Err(e) => {
                        // After an I/O error SQLite may have rolled the
                        // whole batch back already: nothing to take out.
                        // If taking out fails, the whole batch goes (its
                        // callers are told), so nothing half-written stays.
                        if !c.is_autocommit() && unspool(c, delivery_id).is_err() {
                            let _ = c.execute_batch("ROLLBACK");
                        }
                        Err(e)
                    }
                }
            })
            .await?;
        match admission {
            Err(dup) => Ok(dup),
            Ok(Err(now_pending)) => Err(StoreError::Full(now_pending)),
            Ok(Ok(admitted)) => Ok(admitted),
        }
    }

    /// Pending actions that may go now: the oldest pending action of each
    /// workflow id, if its next attempt is due and no older action of that
    /// workflow id is dead-lettered (a signal must not overtake the start it
    /// follows; replaying the dead letter unblocks the rest). At most `limit`.
    pub async fn due(&self, now_ms: i64, limit: usize) -> Result<Vec<ActionRow>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call_relaxed(move |c| {
            // The limit is written into the statement: SQLite plans with a
            // bound LIMIT's value, so rebinding it re-prepares the
            // statement on every call. (Callers keep to a few limits.)
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {ACTION_COLUMNS} FROM actions a
                 WHERE a.state = 'pending' AND a.next_attempt_ms <= ?1
                   AND NOT EXISTS (SELECT 1 FROM actions b
                                   WHERE b.state IN ('pending', 'dead') AND b.workflow_id = a.workflow_id AND b.seq < a.seq)
                 ORDER BY a.next_attempt_ms, a.seq LIMIT {limit}"
            ))?;
            let rows = stmt.query_map(params![now_ms], action_row)?;
            rows.collect()
        })
        .await
    }

    /// Whether `seq` is the oldest pending action of its workflow id. The
    /// bridge itself learns this from [`Store::admit`] and [`Store::due`];
    /// this is for checking the ordering rule in tests.
    #[cfg(test)]
    pub async fn is_head(&self, seq: i64) -> Result<bool, StoreError> {
        self.call_relaxed(move |c| {
            c.prepare_cached(
                "SELECT NOT EXISTS (SELECT 1 FROM actions b, actions a
                                    WHERE a.seq = ?1 AND b.state IN ('pending', 'dead')
                                      AND b.workflow_id = a.workflow_id AND b.seq < a.seq)",
            )?
            .query_row(params![seq], |r| r.get(0))
        })
        .await
    }

    /// Marks an action delivered. Returns whether a later action of the
    /// same workflow id waits for it (and can go now).
    pub async fn complete(
        &self,
        seq: i64,
        result: &str,
        run_id: Option<String>,
    ) -> Result<bool, StoreError> {
        self.call_counted_relaxed(completion(seq, result, run_id))
            .await
    }

    /// [`Store::complete`] without waiting for it: `then` gets its result
    /// on the writer thread, after the commit.
    pub fn complete_then(
        &self,
        seq: i64,
        result: &str,
        run_id: Option<String>,
        then: impl FnOnce(Result<bool, StoreError>) + Send + 'static,
    ) {
        self.submit_then(true, completion(seq, result, run_id), then);
    }

    /// Records a failed attempt; the action goes again at `next_attempt_ms`,
    /// or is dead-lettered when `dead` is set.
    pub async fn fail(
        &self,
        seq: i64,
        error: String,
        next_attempt_ms: i64,
        dead: bool,
    ) -> Result<(), StoreError> {
        let now = unix_ms(SystemTime::now());
        let state = if dead { "dead" } else { "pending" };
        self.call_counted_relaxed(move |c, pending| {
            let changed = c
                .prepare_cached(
                    "UPDATE actions SET state = ?2, attempts = attempts + 1, last_error = ?3,
                     next_attempt_ms = ?4, updated_ms = ?5 WHERE seq = ?1 AND state = 'pending'",
                )?
                .execute(params![seq, state, error, next_attempt_ms, now])?;
            if dead {
                pending.delta = -i64::try_from(changed).unwrap_or(0);
                if changed > 0 {
                    refresh_code_of_action(c, seq)?;
                }
            }
            Ok(())
        })
        .await
    }

    /// Makes every pending action due now (after Temporal came back).
    pub async fn wake_all(&self) -> Result<usize, StoreError> {
        self.call_relaxed(|c| {
            c.execute(
                "UPDATE actions SET next_attempt_ms = 0 WHERE state = 'pending' AND attempts > 0 AND next_attempt_ms > 0",
                [],
            )
        })
        .await
    }

    /// Puts a delivery's dead-lettered actions back in the spool; returns how many.
    pub async fn replay(&self, delivery_id: i64) -> Result<usize, StoreError> {
        let now = unix_ms(SystemTime::now());
        self.call_counted(move |c, pending| {
            let n = c.execute(
                "UPDATE actions SET state = 'pending', attempts = 0, next_attempt_ms = 0, updated_ms = ?2
                 WHERE delivery_id = ?1 AND state = 'dead'",
                params![delivery_id, now],
            )?;
            pending.delta = i64::try_from(n).unwrap_or(0);
            refresh_code(c, delivery_id)?;
            Ok(n)
        })
        .await
    }

    /// The delivery log, newest first; read as [`Store::lookup`] reads.
    pub async fn list(&self, filter: DeliveryFilter) -> Result<Vec<DeliverySummary>, StoreError> {
        self.lookup(move |c| {
            let (sql, args) = list_query(filter);
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(args), summary_row)?;
            rows.collect()
        })
        .await
    }

    /// One delivery with its response and actions; read as
    /// [`Store::lookup`] reads.
    pub async fn show(
        &self,
        id: i64,
    ) -> Result<Option<(DeliveryRecord, Vec<ActionRow>)>, StoreError> {
        self.lookup(move |c| {
            let rec = c
                .prepare(&format!(
                    "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = ?1"
                ))?
                .query_row(params![id], delivery_row)
                .optional()?;
            match rec {
                Some(rec) => Ok(Some((rec, actions_of(c, id)?))),
                None => Ok(None),
            }
        })
        .await
    }

    /// Runs the delivery log lookup `f` off the writer thread (see
    /// `reader`), once every write queued before this call is committed
    /// (not necessarily on disk): an empty job first, which costs the
    /// writer an empty transaction, so that the other connection sees them.
    async fn lookup<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.submit(false, false, |_, _| Ok(())).await?;
        self.reader.read(f).await
    }

    /// Spool counters. Readiness probes and metrics scrapes ask for them,
    /// on the writer thread, so they cost the same however many actions
    /// are kept: the pending count is the one the writer keeps, and the
    /// dead count and the oldest pending action are lookups in indexes
    /// ([`STATS_DEAD`], [`STATS_OLDEST_PENDING`]). (A scan of the table read
    /// every action ever kept, payloads and all, and held up every delivery
    /// behind it.) When another connection has committed since the pending
    /// actions were last counted (a replay from the command line), they are
    /// counted again ([`STATS_PENDING`], which reads the pending actions'
    /// index) and the writer's count is set to it.
    pub async fn stats(&self) -> Result<SpoolStats, StoreError> {
        let counted_at = self.counted_at.load(Ordering::Relaxed);
        let (stats, counted) = self
            .submit(false, false, move |c, pending| {
                let version = data_version(c)?;
                let counted = version != counted_at;
                if counted {
                    let count: i64 = c
                        .prepare_cached(STATS_PENDING)?
                        .query_row([], |r| r.get(0))?;
                    pending.delta = count - pending.now;
                }
                let stats = SpoolStats {
                    pending: pending.now + pending.delta,
                    dead: c.prepare_cached(STATS_DEAD)?.query_row([], |r| r.get(0))?,
                    oldest_pending_ms: c
                        .prepare_cached(STATS_OLDEST_PENDING)?
                        .query_row([], |r| r.get(0))?,
                };
                Ok((stats, counted.then_some(version)))
            })
            .await?;
        // Only once the count is applied (the job and its batch went
        // through): otherwise the next call counts again.
        if let Some(version) = counted {
            self.counted_at.store(version, Ordering::Relaxed);
        }
        Ok(stats)
    }

    /// Forgets deliveries received before `cutoff` whose actions are all
    /// done, and log-only entries beyond the newest `log_only_kept`
    /// ([`LOG_ONLY_KEPT`] in the bridge); pending and dead-lettered work is
    /// never pruned. Returns how many deliveries were forgotten.
    pub async fn prune(&self, cutoff: SystemTime, log_only_kept: i64) -> Result<usize, StoreError> {
        let ms = unix_ms(cutoff);
        self.call_relaxed(move |c| {
            // Ignored deliveries are real traffic, kept for the retention
            // like the deliveries that acted.
            let excess = c.execute(PRUNE_LOG_ONLY, params![log_only_kept])?;
            c.execute(PRUNE_ACTIONS, params![ms])?;
            let old = c.execute(PRUNE_DELIVERIES, params![ms])?;
            Ok(excess + old)
        })
        .await
    }

    /// Replaces the stored answer of a delivery (after its fast path),
    /// without waiting for it (a failure is logged). A power cut may lose
    /// it, as [`Store::call_relaxed`] writes.
    pub fn set_answer(&self, delivery_id: i64, status: u16, outcome: String, response: String) {
        self.submit_then(
            false,
            move |c, _| {
                c.prepare_cached(
                    "UPDATE deliveries SET status = ?2, outcome = ?3, response = ?4 WHERE id = ?1",
                )?
                .execute(params![delivery_id, status, outcome, response])
                .map(drop)
            },
            move |r| {
                if let Err(e) = r {
                    tracing::warn!(delivery_id, error = %e, "could not store the answer");
                }
            },
        );
    }

    /// Up to `limit` deliveries recorded before reason codes existed:
    /// `(id, status, response)`. Those with spooled actions get theirs from
    /// the actions first.
    pub async fn without_reason_code(
        &self,
        limit: usize,
    ) -> Result<Vec<(i64, u16, String)>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call_relaxed(move |c| {
            let ids: Vec<i64> = c
                .prepare("SELECT DISTINCT d.id FROM deliveries d JOIN actions a ON a.delivery_id = d.id WHERE d.reason_code = ''")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for id in ids {
                refresh_code(c, id)?;
            }
            let mut stmt = c.prepare(
                "SELECT id, status, response FROM deliveries WHERE reason_code = '' ORDER BY id LIMIT ?1",
            )?;
            let rows = stmt.query_map(params![limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })
        .await
    }

    /// Sets reason codes (for [`Store::without_reason_code`]).
    pub async fn set_reason_codes(&self, codes: Vec<(i64, String)>) -> Result<(), StoreError> {
        self.call_relaxed(move |c| {
            let mut stmt =
                c.prepare_cached("UPDATE deliveries SET reason_code = ?2 WHERE id = ?1")?;
            for (id, code) in &codes {
                stmt.execute(params![id, code])?;
            }
            Ok(())
        })
        .await
    }

    /// Number of remembered deliveries.
    pub async fn count(&self) -> Result<u64, StoreError> {
        self.call_relaxed(|c| c.query_row("SELECT COUNT(*) FROM deliveries", [], |r| r.get(0)))
            .await
    }
}

/// A delivery with its actions as JSON (admin API and `deliveries show`).
/// `link` gives an action's Temporal Web UI link, when there is one.
pub fn detail(
    id: i64,
    rec: &DeliveryRecord,
    actions: &[ActionRow],
    link: impl Fn(&ActionRow) -> Option<String>,
) -> serde_json::Value {
    let actions: Vec<serde_json::Value> = actions
        .iter()
        .map(|row| {
            let mut value = serde_json::to_value(row).unwrap_or_default();
            if let Some(link) = link(row) {
                value["link"] = serde_json::Value::String(link);
            }
            value
        })
        .collect();
    serde_json::json!({
        "id": id,
        "receivedAtMs": rec.received_at_ms,
        "source": rec.source,
        "eventType": rec.event_type,
        "eventId": rec.event_id,
        "correlationId": rec.correlation_id,
        "status": rec.status,
        "outcome": rec.outcome,
        "reasonCode": rec.reason_code,
        "remembered": rec.remembered,
        "response": serde_json::from_str::<serde_json::Value>(&rec.response).unwrap_or_default(),
        "actions": actions,
    })
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod tests;
