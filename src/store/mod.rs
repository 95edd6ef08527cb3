//! Keeping: the bridge's own durable state, an embedded SQLite database
//! under `dataDir` (WAL mode, synced on commit).
//!
//! It remembers every delivery that reached a final answer, so an ADO
//! redelivery (same `subscriptionId` + `notificationId`, or the same event
//! `id` from another subscription) is recognised even after a restart.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use rusqlite::{Connection, OptionalExtension, params};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("delivery store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The data directory could not be prepared.
    #[error("delivery store: {path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A blocking task failed.
    #[error("delivery store task failed: {0}")]
    Task(String),
}

/// A delivery that got its final answer.
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
    /// The JSON response body answered.
    pub response: String,
    /// When it was received (ms since the Unix epoch).
    pub received_at_ms: i64,
}

/// The embedded delivery store.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS deliveries (
    id               INTEGER PRIMARY KEY,
    event_id         TEXT NOT NULL,
    notification_key TEXT,
    correlation_id   TEXT NOT NULL,
    source           TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    status           INTEGER NOT NULL,
    response         TEXT NOT NULL,
    received_at_ms   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_event_id ON deliveries(event_id);
CREATE INDEX IF NOT EXISTS deliveries_notification_key ON deliveries(notification_key);
CREATE INDEX IF NOT EXISTS deliveries_received_at ON deliveries(received_at_ms);
";

impl Store {
    /// Opens (creating if needed) the store in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
            path: data_dir.to_owned(),
            source,
        })?;
        let conn = Connection::open(data_dir.join("bridge.sqlite3"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a transaction is on disk before the call returns, so an
        // answered delivery is never forgotten by a crash.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let guard = conn
                .lock()
                .map_err(|_| StoreError::Task("store lock poisoned".into()))?;
            f(&guard).map_err(StoreError::from)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// The earlier final answer to this delivery or event, if any.
    pub async fn find(
        &self,
        event_id: &str,
        notification_key: Option<&str>,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        let event_id = event_id.to_owned();
        let key = notification_key.map(str::to_owned);
        self.with(move |c| {
            c.query_row(
                "SELECT event_id, notification_key, correlation_id, source, event_type, status, response, received_at_ms
                 FROM deliveries WHERE event_id = ?1 OR (?2 IS NOT NULL AND notification_key = ?2)
                 ORDER BY id LIMIT 1",
                params![event_id, key],
                |r| {
                    Ok(DeliveryRecord {
                        event_id: r.get(0)?,
                        notification_key: r.get(1)?,
                        correlation_id: r.get(2)?,
                        source: r.get(3)?,
                        event_type: r.get(4)?,
                        status: r.get(5)?,
                        response: r.get(6)?,
                        received_at_ms: r.get(7)?,
                    })
                },
            )
            .optional()
        })
        .await
    }

    /// Records a final answer durably.
    pub async fn record(&self, rec: DeliveryRecord) -> Result<(), StoreError> {
        self.with(move |c| {
            c.execute(
                "INSERT INTO deliveries (event_id, notification_key, correlation_id, source, event_type, status, response, received_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    rec.event_id,
                    rec.notification_key,
                    rec.correlation_id,
                    rec.source,
                    rec.event_type,
                    rec.status,
                    rec.response,
                    rec.received_at_ms
                ],
            )
            .map(|_| ())
        })
        .await
    }

    /// Forgets deliveries received before `cutoff`; returns how many.
    pub async fn prune(&self, cutoff: SystemTime) -> Result<usize, StoreError> {
        let ms = unix_ms(cutoff);
        self.with(move |c| c.execute("DELETE FROM deliveries WHERE received_at_ms < ?1", params![ms]))
            .await
    }

    /// Number of remembered deliveries.
    pub async fn count(&self) -> Result<u64, StoreError> {
        self.with(|c| c.query_row("SELECT COUNT(*) FROM deliveries", [], |r| r.get(0)))
            .await
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(event: &str, key: Option<&str>, at: i64) -> DeliveryRecord {
        DeliveryRecord {
            event_id: event.into(),
            notification_key: key.map(str::to_owned),
            correlation_id: format!("c-{event}"),
            source: "s".into(),
            event_type: "git.push".into(),
            status: 200,
            response: "{}".into(),
            received_at_ms: at,
        }
    }

    #[tokio::test]
    async fn remembers_across_reopen_and_matches_either_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let s = Store::open(dir.path()).expect("open");
            s.record(rec("e1", Some("sub/1"), 10)).await.expect("record");
        }
        let s = Store::open(dir.path()).expect("reopen");
        assert_eq!(s.find("e1", None).await.expect("find").map(|r| r.correlation_id), Some("c-e1".into()));
        assert!(s.find("other", Some("sub/1")).await.expect("find").is_some());
        assert!(s.find("other", Some("sub/2")).await.expect("find").is_none());
        assert!(s.find("other", None).await.expect("find").is_none());
    }

    #[tokio::test]
    async fn prunes_old_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(dir.path()).expect("open");
        s.record(rec("old", None, 1_000)).await.expect("record");
        s.record(rec("new", None, 5_000)).await.expect("record");
        let cutoff = UNIX_EPOCH + Duration::from_millis(2_000);
        assert_eq!(s.prune(cutoff).await.expect("prune"), 1);
        assert_eq!(s.count().await.expect("count"), 1);
        assert!(s.find("old", None).await.expect("find").is_none());
    }
}
