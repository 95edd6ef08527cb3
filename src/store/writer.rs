//! The store's single writer thread and its group commit.
//!
//! Every operation is a job sent to one thread that owns the SQLite
//! connection. The thread takes all jobs waiting (up to a batch limit), runs
//! each inside its own savepoint of one transaction (a job of one statement,
//! or one that takes out its own writes when it fails, needs none), commits
//! once (one fsync), and only then answers each caller. Concurrent
//! deliveries thus share fsyncs instead of paying one each. A batch in
//! which no job must be on disk before its answer (reads, and writes a
//! power cut may lose harmlessly) commits without the fsync. (SQLite's
//! fsync is `fdatasync`: the bundled SQLite is built with `HAVE_FDATASYNC`,
//! see `.cargo/config.toml`.)
//!
//! A barrier ([`Store::sync`](super::Store::sync)) is a job that must be
//! on disk and writes nothing: its batch, if it wrote nothing either,
//! fsyncs the WAL file when an earlier batch left commits that are not
//! on disk yet, and does nothing when none did.

use std::sync::{
    Arc,
    atomic::{AtomicI64, AtomicU64, Ordering},
    mpsc::{Receiver, TryRecvError},
};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::{StoreError, checkpoint::Checkpointer};

/// The pending-action count as a job sees it, and the change it makes.
/// Changes are applied to the shared count by the writer, after the commit,
/// so the count follows the database even when a caller stops waiting.
#[derive(Debug, Default)]
pub(super) struct Pending {
    /// Pending actions, including changes of earlier jobs in this batch.
    pub now: i64,
    /// This job's change.
    pub delta: i64,
}

/// One unit of work for the writer.
pub(super) trait Job: Send {
    /// Runs inside the batch transaction; `false` if it failed (its
    /// savepoint was rolled back, the batch goes on).
    fn run(&mut self, conn: &Connection, pending: &mut Pending) -> bool;
    /// Called after the batch committed (or failed to).
    fn finish(self: Box<Self>, committed: Result<(), String>);
    /// Whether its commit must be on disk before it is answered. Jobs that
    /// read, or write what a crash may lose harmlessly, say no: a batch of
    /// only such jobs commits without waiting for the disk (it is synced
    /// with the next batch that must be).
    fn must_sync(&self) -> bool;
}

/// Where a job's result goes.
pub(super) enum Reply<T> {
    /// To a caller waiting for it.
    Wait(oneshot::Sender<Result<T, StoreError>>),
    /// To a function, on the writer thread after the commit; nobody waits.
    Then(Box<dyn FnOnce(Result<T, StoreError>) + Send>),
}

/// A closure job and where its result goes.
pub(super) struct Call<T, F> {
    pub f: Option<F>,
    pub out: Option<rusqlite::Result<T>>,
    pub reply: Reply<T>,
    pub sync: bool,
    /// Whether `f` runs in a savepoint of its own, so that its failure
    /// leaves the batch as it was. A job of one statement needs none
    /// (SQLite undoes a failed statement by itself), nor one that takes out
    /// its own writes when it fails.
    pub savepoint: bool,
}

impl<T, F> Job for Call<T, F>
where
    T: Send,
    F: FnOnce(&Connection, &mut Pending) -> rusqlite::Result<T> + Send,
{
    fn run(&mut self, conn: &Connection, pending: &mut Pending) -> bool {
        let Some(f) = self.f.take() else { return false };
        if !self.savepoint {
            let result = f(conn, pending);
            let ok = result.is_ok();
            self.out = Some(result);
            return ok;
        }
        if let Err(e) = exec(conn, "SAVEPOINT job") {
            self.out = Some(Err(e));
            return false;
        }
        let result = f(conn, pending);
        let ok = result.is_ok();
        let end = if ok {
            exec(conn, "RELEASE job")
        } else {
            exec(conn, "ROLLBACK TO job").and_then(|()| exec(conn, "RELEASE job"))
        };
        self.out = Some(match (result, end) {
            (Ok(v), Ok(())) => Ok(v),
            (Err(e), _) | (Ok(_), Err(e)) => Err(e),
        });
        ok
    }

    fn must_sync(&self) -> bool {
        self.sync
    }

    fn finish(self: Box<Self>, committed: Result<(), String>) {
        let Self { out, reply, .. } = *self;
        let result = match (out, committed) {
            (Some(Ok(v)), Ok(())) => Ok(v),
            (Some(Err(e)), _) => Err(StoreError::from(e)),
            (Some(Ok(_)), Err(m)) => Err(StoreError::Commit(m)),
            (None, Err(m)) => Err(StoreError::Task(m)),
            (None, Ok(())) => Err(StoreError::Task("job never ran".into())),
        };
        match reply {
            Reply::Wait(tx) => {
                let _ = tx.send(result);
            }
            // On the writer thread: a panic there would stop the store.
            Reply::Then(then) => {
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| then(result))).is_err()
                {
                    tracing::error!("a store callback panicked");
                }
            }
        }
    }
}

/// Runs one statement of the writer's transaction control, prepared once:
/// these run a few times per job, and parsing them each time showed in
/// profiles.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

/// The writer's way to the disk outside SQLite: the WAL file, for
/// barriers, and a count of the times it waited for the disk.
pub(super) struct Disk {
    /// The database's `-wal` file, open since the store opened; `None`
    /// when SQLite keeps no WAL (a file system it cannot keep one on):
    /// then every commit waits for the disk and a barrier has nothing to do.
    pub wal: Option<std::fs::File>,
    /// Commits that waited for the disk, and barriers that did.
    pub syncs: Arc<AtomicU64>,
    /// The first failed sync. The kernel reports a failed write-back once,
    /// so a later sync that succeeds does not put what failed on disk:
    /// every later barrier fails with it, until the bridge restarts.
    pub failed: Option<String>,
}

impl Disk {
    /// Puts every commit written so far on disk. The WAL holds them all
    /// (commits reach the database file only by a checkpoint, which syncs
    /// the WAL first), and `fdatasync` flushes all of the file, written
    /// through whichever handle.
    fn sync_wal(&mut self) -> Result<(), String> {
        if let Some(failed) = &self.failed {
            return Err(failed.clone());
        }
        let Some(wal) = &self.wal else { return Ok(()) };
        match wal.sync_data() {
            Ok(()) => {
                self.syncs.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                let failed = format!("could not sync the WAL: {e}");
                tracing::error!(error = %e, "could not sync the delivery store's WAL; what needs the disk fails until the bridge restarts");
                self.failed = Some(failed.clone());
                Err(failed)
            }
        }
    }
}

/// Runs jobs until every sender is gone, keeping `pending` in step with
/// what is committed.
pub(super) fn run(
    conn: Connection,
    rx: Receiver<Box<dyn Job>>,
    max_batch: usize,
    pending: Arc<AtomicI64>,
    checkpointer: Option<&Checkpointer>,
    mut disk: Disk,
) {
    // The store opens its connection with `synchronous=FULL`.
    let mut synced = true;
    // Whether a commit since the last sync went without one.
    let mut behind = false;
    loop {
        let first = match rx.try_recv() {
            Ok(job) => job,
            Err(TryRecvError::Disconnected) => return,
            Err(TryRecvError::Empty) => {
                // Nothing to do: the moment for a checkpoint nobody waits
                // for (see `checkpoint`).
                if let Some(c) = checkpointer {
                    c.idle(&conn);
                }
                let Ok(job) = rx.recv() else { return };
                job
            }
        };
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        // WAL mode keeps commits in order: a batch committed without a
        // sync is on disk once any later batch is synced.
        // Without a WAL every commit waits for the disk.
        let sync = disk.wal.is_none() || batch.iter().any(|j| j.must_sync());
        if sync != synced {
            let pragma = if sync {
                "PRAGMA synchronous = FULL"
            } else {
                "PRAGMA synchronous = NORMAL"
            };
            // Not `exec`: SQLite prepares a pragma for one run only.
            match conn.execute_batch(pragma) {
                Ok(()) => synced = sync,
                // Still FULL: merely slower.
                Err(_) if !sync => {}
                Err(e) => {
                    let msg = e.to_string();
                    for job in batch {
                        job.finish(Err(msg.clone()));
                    }
                    continue;
                }
            }
        }
        if let Err(e) = exec(&conn, "BEGIN IMMEDIATE") {
            let msg = e.to_string();
            for job in batch {
                job.finish(Err(msg.clone()));
            }
            continue;
        }
        let changes_before = conn.total_changes();
        let mut batch_delta = 0;
        let mut rolled_back = false;
        for job in &mut batch {
            let mut p = Pending {
                now: pending.load(Ordering::Acquire) + batch_delta,
                delta: 0,
            };
            if job.run(&conn, &mut p) {
                batch_delta += p.delta;
            }
            // After SQLITE_FULL, IOERR or NOMEM, SQLite may have rolled the
            // whole transaction back; nothing more can join it.
            if conn.is_autocommit() {
                rolled_back = true;
                break;
            }
        }
        let mut committed = if rolled_back {
            Err("the transaction was rolled back by the database".to_owned())
        } else {
            exec(&conn, "COMMIT").map_err(|e| e.to_string())
        };
        match &committed {
            Ok(()) => {
                pending.fetch_add(batch_delta, Ordering::AcqRel);
                // Reads commit too, and leave nothing to checkpoint or sync.
                if conn.total_changes() != changes_before {
                    if let Some(c) = checkpointer {
                        c.committed();
                    }
                    // A synced commit syncs the WAL, with every commit
                    // before it.
                    behind = !synced;
                    if synced {
                        disk.syncs.fetch_add(1, Ordering::Relaxed);
                    }
                } else if sync && (behind || disk.failed.is_some()) {
                    // After a failed sync a synced commit leaves nothing
                    // behind, yet what the failed one held may be lost:
                    // the barrier fails with it all the same.
                    match disk.sync_wal() {
                        Ok(()) => behind = false,
                        Err(e) => committed = Err(e),
                    }
                }
            }
            Err(_) => {
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
        for job in batch {
            job.finish(committed.clone());
        }
    }
}
