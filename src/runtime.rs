//! Thread placement: which thread runs on which core, and how each runtime is built.
//!
//! Placement is data ([`Placement`]); every pinned thread is bootstrapped the same
//! way: named, pinned, then its runtime is built inside it. A failed pin is a warning,
//! not a crash (the thread runs unpinned).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::config::CoreList;

/// Where a thread may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Wherever the OS likes.
    Floating,
    /// On this one core.
    Fixed(usize),
}

impl Placement {
    /// The placement of thread `i` of a group pinned to `cores` (round robin).
    pub fn nth(cores: Option<&CoreList>, i: usize) -> Placement {
        match cores {
            Some(list) if !list.0.is_empty() => Placement::Fixed(list.0[i % list.0.len()]),
            _ => Placement::Floating,
        }
    }

    /// Applies this placement to the calling thread.
    pub fn apply(self, who: &str) {
        if let Placement::Fixed(core) = self {
            if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
                tracing::warn!("{who}: could not pin to core {core}; running unpinned");
            }
        }
    }
}

/// Pins the calling thread to every core of `cores` (RocksDB's threads, started from
/// it, inherit the set). Without a list this does nothing.
pub fn pin_to_set(cores: Option<&CoreList>) {
    let Some(list) = cores else { return };
    // SAFETY: cpu_set_t is plain data; CPU_ZERO/CPU_SET write inside it, and
    // sched_setaffinity(0, ...) changes only the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        for &c in &list.0 {
            if c < libc::CPU_SETSIZE as usize {
                libc::CPU_SET(c, &mut set);
            }
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            tracing::warn!("could not pin the storage side to cores {list}");
        }
    }
}

/// Raises the calling thread's nice value to `nice` (a lower CPU priority). Threads it
/// starts afterwards inherit it. 0 leaves the thread alone.
pub fn set_nice(nice: i32) {
    if nice == 0 {
        return;
    }
    // SAFETY: gettid and setpriority take plain integers and change only this thread.
    let rc = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, nice)
    };
    if rc != 0 {
        tracing::warn!("could not set nice {nice} on a storage thread");
    }
}

/// Builds the storage runtime: `threads` workers, worker `i` pinned to `cores[i]`,
/// each at nice value `nice`.
pub fn storage_runtime(
    threads: usize,
    cores: Option<CoreList>,
    nice: i32,
) -> std::io::Result<tokio::runtime::Runtime> {
    let next = Arc::new(AtomicUsize::new(0));
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("shardis-storage")
        .on_thread_start(move || {
            let i = next.fetch_add(1, Ordering::Relaxed);
            Placement::nth(cores.as_ref(), i).apply("storage thread");
            set_nice(nice);
        })
        .enable_all()
        .build()
}

/// CPU time the calling thread has used, in microseconds.
pub fn thread_cpu_micros() -> u64 {
    // SAFETY: clock_gettime writes only into the timespec we pass.
    unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        if libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) != 0 {
            return 0;
        }
        ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
    }
}
