//! Threads for rule evaluation: a few kept warm, one spawned for a job
//! that finds them all busy.
//!
//! CEL cannot be interrupted, so an evaluation that overruns its deadline
//! is abandoned, not stopped, and must run on a thread nothing else waits
//! for. A fixed pool would queue every delivery behind a few runaway
//! rules; a thread per evaluation costs a `clone` and a fresh stack per
//! delivery (about 7 % of the bridge's CPU at full ingest). So a job goes
//! to a kept thread only when one is idle, reserved before the job is sent
//! (a job never waits behind a busy or stuck thread), and otherwise gets a
//! thread of its own, which stays on as a kept thread when it is done
//! while fewer than the most to keep are. So the pool grows to the
//! concurrency deliveries need and no further. A kept thread whose job
//! overran comes back when the job ends.

use std::{
    panic::AssertUnwindSafe,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
};

type Job = Box<dyn FnOnce() + Send>;

/// A pool of kept threads with a spawn for overflow.
#[derive(Debug)]
pub struct Workers {
    name: String,
    jobs: mpsc::Sender<Job>,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    jobs: Mutex<mpsc::Receiver<Job>>,
    /// Kept threads waiting for a job (and not reserved for one).
    idle: AtomicUsize,
    /// Kept threads, busy or not.
    kept: AtomicUsize,
    /// Most threads kept.
    max_kept: usize,
}

impl Workers {
    /// A pool named `name` keeping at most `max_kept` threads; it starts
    /// empty and keeps the threads that overflow spawns.
    pub fn new(name: &str, max_kept: usize) -> Self {
        let (jobs, rx) = mpsc::channel::<Job>();
        Self {
            name: name.to_owned(),
            jobs,
            shared: Arc::new(Shared {
                jobs: Mutex::new(rx),
                idle: AtomicUsize::new(0),
                kept: AtomicUsize::new(0),
                max_kept,
            }),
        }
    }

    /// Runs `job` now on an idle kept thread, or on a new one. A panic in
    /// the job ends the job only (whatever it was to send is dropped).
    pub fn run(&self, job: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
        let job: Job = Box::new(job);
        let reserved = self
            .shared
            .idle
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok();
        if reserved {
            // A kept thread is waiting (it went idle before it takes the
            // lock to wait), so the job is taken at once.
            return match self.jobs.send(job) {
                Ok(()) => Ok(()),
                // Unreachable while `self` holds the receiver's pool.
                Err(mpsc::SendError(job)) => self.spawn(job, false),
            };
        }
        self.spawn(job, true)
    }

    fn spawn(&self, job: Job, may_stay: bool) -> std::io::Result<()> {
        let shared = Arc::clone(&self.shared);
        std::thread::Builder::new()
            .name(self.name.clone())
            .spawn(move || {
                run_caught(job);
                let stays = may_stay
                    && shared
                        .kept
                        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |k| {
                            (k < shared.max_kept).then_some(k + 1)
                        })
                        .is_ok();
                if stays {
                    shared.idle.fetch_add(1, Ordering::AcqRel);
                    kept_thread(&shared);
                }
            })
            .map(drop)
    }

    /// Kept threads waiting for a job.
    pub fn idle(&self) -> usize {
        self.shared.idle.load(Ordering::Acquire)
    }

    /// Kept threads, busy or not.
    pub fn kept(&self) -> usize {
        self.shared.kept.load(Ordering::Acquire)
    }
}

fn kept_thread(shared: &Shared) {
    loop {
        let job = {
            let rx = shared.jobs.lock().unwrap_or_else(PoisonError::into_inner);
            match rx.recv() {
                Ok(job) => job,
                // The pool is gone.
                Err(_) => return,
            }
        };
        run_caught(job);
        shared.idle.fetch_add(1, Ordering::AcqRel);
    }
}

fn run_caught(job: Job) {
    // The panic is reported by the panic hook; the thread lives on.
    let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{Barrier, mpsc},
        time::{Duration, Instant},
    };

    use super::*;

    const WAIT: Duration = Duration::from_secs(10);

    fn eventually(w: &Workers, idle: usize, kept: usize) {
        let deadline = Instant::now() + WAIT;
        while (w.idle(), w.kept()) != (idle, kept) {
            assert!(
                Instant::now() < deadline,
                "{} idle of {} kept, wanted {idle} of {kept}",
                w.idle(),
                w.kept()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn the_pool_grows_to_what_is_needed_and_no_further() {
        let w = Workers::new("test-grow", 3);
        assert_eq!((w.idle(), w.kept()), (0, 0), "starts empty");
        let (tx, rx) = mpsc::channel();
        for i in 0..200 {
            let tx = tx.clone();
            w.run(move || {
                let _ = tx.send((i, std::thread::current().name().map(str::to_owned)));
            })
            .expect("run");
        }
        let mut seen: Vec<_> = (0..200)
            .map(|_| rx.recv_timeout(WAIT).expect("ran"))
            .collect();
        seen.sort_by_key(|(i, _)| *i);
        assert!(seen.iter().enumerate().all(|(i, (j, _))| i == *j));
        assert!(seen.iter().all(|(_, n)| n.as_deref() == Some("test-grow")));
        let kept = w.kept();
        assert!((1..=3).contains(&kept), "{kept} kept");
        eventually(&w, kept, kept);
    }

    #[test]
    fn a_job_never_waits_behind_busy_threads() {
        let w = Workers::new("test-busy", 2);
        let held = Arc::new(Barrier::new(3));
        let (started, is_started) = mpsc::channel();
        for _ in 0..2 {
            let (held, started) = (Arc::clone(&held), started.clone());
            w.run(move || {
                let _ = started.send(());
                held.wait();
            })
            .expect("run");
        }
        for _ in 0..2 {
            is_started.recv_timeout(WAIT).expect("started");
        }
        // Both are held: the next job gets a thread of its own.
        let (tx, rx) = mpsc::channel();
        w.run(move || {
            let _ = tx.send(());
        })
        .expect("run");
        rx.recv_timeout(WAIT)
            .expect("ran while the others were held");
        held.wait();
        eventually(&w, 2, 2);
    }

    #[test]
    fn a_panicking_job_leaves_its_thread_in_the_pool() {
        let w = Workers::new("test-panic", 1);
        let (tx, rx) = mpsc::channel::<()>();
        w.run(move || {
            let _tx = tx;
            panic!("rule evaluation blew up");
        })
        .expect("run");
        assert!(
            rx.recv_timeout(WAIT).is_err(),
            "the sender was dropped by the panic"
        );
        eventually(&w, 1, 1);
        let (tx, rx) = mpsc::channel();
        w.run(move || {
            let _ = tx.send(std::thread::current().name().map(str::to_owned));
        })
        .expect("run");
        assert_eq!(
            rx.recv_timeout(WAIT).expect("ran").as_deref(),
            Some("test-panic")
        );
        eventually(&w, 1, 1);
    }
}
