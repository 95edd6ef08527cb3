//! The time slice the bridge asks Linux's scheduler for.
//!
//! Since Linux 6.12 a thread of the normal policies may ask the scheduler
//! (EEVDF) for a slice of its own. A thread that wakes with a shorter slice
//! than the thread running on its CPU takes the CPU at once, instead of
//! waiting until the running thread has used its slice (by default 0.7 ms
//! times 1 + log2 of the CPUs, counted up to 8: 1.4 ms on 2 CPUs, 2.8 ms on
//! 8 or more). A request
//! passes between threads a few times before it is answered, and behind a
//! busy neighbour (Temporal on the same node) each of those waits shows in
//! the answer's latency. A thread keeps its slice's worth of CPU time either
//! way; what changes is how soon it gets it.
//!
//! Threads inherit their slice from the thread that starts them, so asking
//! for it once, before any other thread starts, covers the whole process.

use std::{io, time::Duration};

/// The shortest slice Linux grants (it raises shorter ones to this).
pub const MIN_SLICE: Duration = Duration::from_micros(100);
/// The longest slice Linux grants.
pub const MAX_SLICE: Duration = Duration::from_millis(100);

/// Gives thread `tid` (0: the calling thread) the slice `slice`, or the
/// kernel's default with `None`. The thread's policy, nice value and
/// reset-on-fork flag stay as they were; a thread of a real-time policy is
/// refused. Fails with [`io::ErrorKind::Unsupported`] where the kernel does
/// not keep the slice asked for (before 6.12, or outside Linux).
pub fn set_slice(tid: i32, slice: Option<Duration>) -> io::Result<()> {
    let wanted = slice.map_or(0, |s| {
        u64::try_from(s.clamp(MIN_SLICE, MAX_SLICE).as_nanos()).unwrap_or(u64::MAX)
    });
    sys::set_runtime(tid, wanted)
}

/// The slice thread `tid` (0: the calling thread) has, as the kernel
/// reports it.
pub fn slice(tid: i32) -> io::Result<Duration> {
    sys::runtime(tid).map(Duration::from_nanos)
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod sys {
    use std::io;

    /// `sched_attr` as the kernel's first version has it (48 bytes), which
    /// every kernel with `sched_setattr` accepts.
    fn blank() -> libc::sched_attr {
        libc::sched_attr {
            size: size_of::<libc::sched_attr>() as u32,
            sched_policy: 0,
            sched_flags: 0,
            sched_nice: 0,
            sched_priority: 0,
            sched_runtime: 0,
            sched_deadline: 0,
            sched_period: 0,
        }
    }

    fn get(tid: i32) -> io::Result<libc::sched_attr> {
        let mut attr = blank();
        // SAFETY: `attr` is a live, writable `sched_attr`, and the size
        // passed is its size: the kernel writes no more than that.
        let r = unsafe {
            libc::syscall(
                libc::SYS_sched_getattr,
                tid,
                &raw mut attr,
                size_of::<libc::sched_attr>() as u32,
                0u32,
            )
        };
        if r == 0 {
            Ok(attr)
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// For a thread of a normal policy, the kernel reports its slice as
    /// `sched_runtime` (0 before 6.12).
    pub fn runtime(tid: i32) -> io::Result<u64> {
        get(tid).map(|a| a.sched_runtime)
    }

    pub fn set_runtime(tid: i32, runtime: u64) -> io::Result<()> {
        let current = get(tid)?;
        let policy = current.sched_policy as i32;
        if ![libc::SCHED_OTHER, libc::SCHED_BATCH, libc::SCHED_IDLE].contains(&policy) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the thread has scheduling policy {policy}, not a normal one"),
            ));
        }
        let attr = libc::sched_attr {
            sched_policy: current.sched_policy,
            sched_flags: current.sched_flags & libc::SCHED_FLAG_RESET_ON_FORK as u64,
            sched_nice: current.sched_nice,
            sched_runtime: runtime,
            ..blank()
        };
        // SAFETY: `attr` is a live, initialized `sched_attr` whose `size`
        // is its own size; the kernel only reads it.
        let r = unsafe { libc::syscall(libc::SYS_sched_setattr, tid, &raw const attr, 0u32) };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        // A kernel before 6.12 accepts the call and ignores the slice.
        if runtime != 0 && get(tid)?.sched_runtime != runtime {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this kernel does not keep a slice per thread (Linux 6.12 or later does)",
            ));
        }
        Ok(())
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use std::io;

    fn unsupported() -> io::Error {
        io::Error::new(
            io::ErrorKind::Unsupported,
            "only Linux has a slice per thread",
        )
    }

    pub fn runtime(_tid: i32) -> io::Result<u64> {
        Err(unsupported())
    }

    pub fn set_runtime(_tid: i32, _runtime: u64) -> io::Result<()> {
        Err(unsupported())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` on a thread of its own, so the test runner's threads keep
    /// their slice.
    fn on_a_new_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::spawn(f).join().expect("thread")
    }

    /// Linux 6.12 or later, where a thread keeps the slice it asks for.
    fn kernel_keeps_slices() -> bool {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let version: Vec<u32> = release
            .trim()
            .split(['.', '-'])
            .take(2)
            .map_while(|p| p.parse().ok())
            .collect();
        version >= vec![6, 12]
    }

    #[test]
    fn a_slice_is_kept_inherited_and_given_back() {
        let asked = Duration::from_micros(250);
        if !kernel_keeps_slices() {
            let e = on_a_new_thread(move || set_slice(0, Some(asked))).expect_err("unsupported");
            assert_eq!(e.kind(), io::ErrorKind::Unsupported);
            return;
        }
        let (default, mine, child, back) = on_a_new_thread(move || {
            let default = slice(0).expect("read");
            set_slice(0, Some(asked)).expect("set");
            let mine = slice(0).expect("read");
            let child = on_a_new_thread(|| slice(0).expect("read"));
            set_slice(0, None).expect("back to the default");
            (default, mine, child, slice(0).expect("read"))
        });
        assert_eq!(mine, asked);
        assert_eq!(child, asked, "a thread inherits its starter's slice");
        assert_ne!(default, asked);
        assert_eq!(back, default);
    }

    #[test]
    fn a_slice_out_of_bounds_is_what_linux_grants() {
        if !kernel_keeps_slices() {
            return;
        }
        let (short, long) = on_a_new_thread(|| {
            set_slice(0, Some(Duration::from_nanos(1))).expect("set");
            let short = slice(0).expect("read");
            set_slice(0, Some(Duration::from_secs(5))).expect("set");
            (short, slice(0).expect("read"))
        });
        assert_eq!(short, MIN_SLICE);
        assert_eq!(long, MAX_SLICE);
    }
}
