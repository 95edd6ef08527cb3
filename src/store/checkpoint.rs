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
//! it. Commits during the thread's checkpoints (at 1,000 deliveries a
//! second, about one every millisecond) keep that from happening: the WAL
//! grows until somebody copies all of it while nothing is committed.
//!
//! That is the writer, which is the only one that commits: once a
//! checkpoint of the thread finds the WAL [`IDLE_PAGES`] long, the writer
//! checkpoints the rest the next time it has nothing to do, after it has
//! answered every job it took, and its next commit starts the WAL over.
//! Only jobs that come during that checkpoint wait for it. At 1,000
//! deliveries a second (about 14 pages each: every table and index a
//! delivery touches is a page of its own in the WAL) that is about every
//! tenth of a second, and it takes 1-3 ms with Temporal busy on the same
//! CPUs. Before, the writer checkpointed only once the WAL was
//! [`WRITER_PAGES`] long, inside a commit, while that commit's callers
//! waited: every eighth of a second, and 40 % of the slowest 1 % of
//! answers. A writer that is never idle (a spool filling as fast as it
//! can) still does that.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc::{self, Receiver, SyncSender},
    },
    time::Duration,
};

use rusqlite::Connection;

/// The least time between two checkpoints of the thread.
pub(super) const INTERVAL: Duration = Duration::from_millis(50);

/// The WAL size, in pages, past which the writer checkpoints when idle.
pub(super) const IDLE_PAGES: i64 = 1_000;

/// The WAL size, in pages, at which the writer checkpoints by itself.
pub(super) const WRITER_PAGES: u32 = 2_000;

/// The writer's handle on the checkpoint thread.
pub(super) struct Checkpointer {
    tx: SyncSender<()>,
    /// Set by the thread when the WAL is [`IDLE_PAGES`] long, cleared by
    /// the writer's next checkpoint that was not busy.
    long: Arc<AtomicBool>,
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
        let long = Arc::new(AtomicBool::new(false));
        let thread_long = Arc::clone(&long);
        std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || run(&conn, &rx, &thread_long))
            .map_err(StartError::Thread)?;
        Ok(Self { tx, long })
    }

    /// Says that a transaction was committed. Costs an atomic operation
    /// when a signal is already waiting, and wakes the thread at most once
    /// per [`INTERVAL`]. A signal already waiting is enough; a thread gone
    /// (it ends only with the handle) leaves the checkpoints to the writer.
    pub(super) fn committed(&self) {
        let _ = self.tx.try_send(());
    }

    /// Called by the writer when it has nothing to do, on its connection:
    /// checkpoints when the thread found the WAL long, so that the next
    /// commit starts it over.
    pub(super) fn idle(&self, conn: &Connection) {
        if !self.long.load(Ordering::Acquire) {
            return;
        }
        // Busy while the thread's checkpoint runs: the next idle moment
        // catches up. Otherwise done, even if a reader's snapshot kept it
        // from copying all (or it failed, logged): the thread says so again
        // if the WAL is still long, instead of every idle moment retrying.
        if !matches!(checkpoint(conn), Some((1, _, _))) {
            self.long.store(false, Ordering::Release);
        }
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

fn run(conn: &Connection, rx: &Receiver<()>, long: &AtomicBool) {
    while rx.recv().is_ok() {
        // Even when it copied all of it: a commit that began meanwhile
        // keeps the WAL from starting over.
        if checkpoint(conn).is_some_and(|(_, wal, _)| wal >= IDLE_PAGES) {
            long.store(true, Ordering::Release);
        }
        // Commits meanwhile leave one signal: the next checkpoint comes
        // right after this pause, with everything they wrote.
        std::thread::sleep(INTERVAL);
    }
}

/// A `PASSIVE` checkpoint (it never waits for the writer): `(busy, pages in
/// the WAL, pages copied)`, `busy` 1 when another checkpoint was running.
/// `None` when it failed (logged).
fn checkpoint(conn: &Connection) -> Option<(i64, i64, i64)> {
    match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    }) {
        Ok((busy, wal, copied)) => {
            tracing::trace!(busy, wal, copied, "checkpoint");
            Some((busy, wal, copied))
        }
        Err(e) => {
            tracing::warn!(error = %e, "WAL checkpoint failed; a later one copies what it did not");
            None
        }
    }
}
