//! Lookups in the delivery log, off the writer thread.
//!
//! Every delivery waits behind whatever the writer thread is doing, and a
//! lookup in the delivery log may read much of it: a filter on a rare
//! outcome, event type or source (the UI's "what failed?") reads the log
//! until it has found enough: 119-133 ms with 100,000 deliveries kept
//! (`scripts/bench`, backlog), growing with the log, and every delivery
//! waited as long on the writer. So such lookups read through connections
//! of their own, on the runtime's blocking threads: the write-ahead log
//! lets them read while the writer writes, and they see what was committed
//! when they began.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use super::StoreError;

/// SQLite's page cache per connection, KiB: a lookup reads a page or a
/// range once, so a large cache would only hold memory.
const CACHE_KIB: i64 = 512;

/// Lookups that read at once; the others wait. Each may take a CPU for a
/// while (a whole-log read), and holds the WAL from starting over while it
/// reads.
const AT_ONCE: usize = 2;

/// Read-only connections to the store's database, one per lookup: opening
/// one costs about 0.2 ms, and a connection kept between lookups kept
/// the pages and memory of the last (5 MiB more RSS with 100,000 deliveries
/// kept, measured with two kept).
pub(super) struct Reader {
    db: PathBuf,
    at_once: Semaphore,
}

impl Reader {
    pub(super) fn new(db: PathBuf) -> Self {
        Self {
            db,
            at_once: Semaphore::new(AT_ONCE),
        }
    }

    /// Runs `f` on a blocking thread with a connection of its own, in one
    /// read transaction: everything it reads is of one moment.
    pub(super) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let _turn = self
            .at_once
            .acquire()
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?;
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let conn = open(&db)?;
            let tx = conn.unchecked_transaction()?;
            let out = f(&tx)?;
            tx.finish()?;
            Ok(out)
        })
        .await
        .map_err(|e| StoreError::Task(format!("a delivery log lookup failed: {e}")))?
    }
}

/// A read-only connection to `db`.
fn open(db: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // A reader may meet SQLITE_BUSY for a moment: while the WAL starts
    // over, or, where SQLite keeps no WAL, while the writer commits.
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    Ok(conn)
}
