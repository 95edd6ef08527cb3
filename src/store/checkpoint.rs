//! Checkpoints of the write-ahead log, off the writer thread.
//!
//! SQLite copies the WAL back into the database file (a checkpoint: page
//! writes and an fsync of the database) in the connection that commits once
//! the WAL passes `wal_autocheckpoint` pages. Done by the writer, every
//! caller whose job waited behind that commit waited for the checkpoint
//! too: at 1,000 spooled deliveries a second that was a checkpoint every
//! tenth of a second, and about a fifth of the answers' p99.
//!
//! So a thread of its own, with its own connection, checkpoints soon after
//! commits (at most once per [`INTERVAL`], and not at all while nothing is
//! written) in `PASSIVE` mode, which never blocks the writer. The WAL
//! starts over only when a write begins after a checkpoint copied all of
//! it; a stream of writes that never leaves a gap (a spool filling at
//! thousands of deliveries a second) keeps that from happening, and the
//! writer checkpoints by itself once the WAL is [`WRITER_PAGES`] long.
//! Those checkpoints are rare but longer: they copy what the thread did
//! not yet (up to [`INTERVAL`] of writes) and let the WAL start over.

use std::{
    path::Path,
    sync::mpsc::{self, Receiver, SyncSender},
    time::Duration,
};

use rusqlite::Connection;

/// The least time between two checkpoints of the thread.
pub(super) const INTERVAL: Duration = Duration::from_millis(50);

/// The WAL size, in pages, at which the writer checkpoints by itself.
pub(super) const WRITER_PAGES: u32 = 2_000;

/// The writer's handle on the checkpoint thread.
pub(super) struct Checkpointer {
    tx: SyncSender<()>,
}

impl Checkpointer {
    /// Opens a second connection to `db` and starts the thread. It ends
    /// when the handle is dropped.
    pub(super) fn start(db: &Path) -> Result<Self, StartError> {
        let conn = Connection::open(db).map_err(StartError::Open)?;
        // As the writer: a checkpoint syncs the WAL before it copies it.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(StartError::Open)?;
        // One signal waiting is enough: it says "written since".
        let (tx, rx) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || run(&conn, &rx))
            .map_err(StartError::Thread)?;
        Ok(Self { tx })
    }

    /// Says that a transaction was committed. Costs an atomic operation
    /// when a signal is already waiting, and wakes the thread at most once
    /// per [`INTERVAL`]. A signal already waiting is enough; a thread gone
    /// (it ends only with the handle) leaves the checkpoints to the writer.
    pub(super) fn committed(&self) {
        let _ = self.tx.try_send(());
    }
}

/// Why the checkpoint thread did not start.
#[derive(Debug, thiserror::Error)]
pub(super) enum StartError {
    #[error("checkpoint connection: {0}")]
    Open(rusqlite::Error),
    #[error("checkpoint thread: {0}")]
    Thread(std::io::Error),
}

fn run(conn: &Connection, rx: &Receiver<()>) {
    while rx.recv().is_ok() {
        checkpoint(conn);
        // Commits meanwhile leave one signal: the next checkpoint comes
        // right after this pause, with everything they wrote.
        std::thread::sleep(INTERVAL);
    }
}

fn checkpoint(conn: &Connection) {
    // (busy, pages in the WAL, pages copied). `busy` is 1 when another
    // checkpoint (the writer's) was running: the next one catches up.
    match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    }) {
        Ok((busy, wal, copied)) => tracing::trace!(busy, wal, copied, "checkpoint"),
        Err(e) => {
            tracing::warn!(error = %e, "WAL checkpoint failed; the writer checkpoints by itself")
        }
    }
}
