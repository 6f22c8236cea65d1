//! One typed reading of the server's figures: what INFO and /metrics both render.
//!
//! A [`Snapshot`] is plain data, taken once per INFO call or /metrics scrape by
//! `commands::local::server::snapshot`, which reads from the server's shared state:
//!
//! * the server-wide counters, the size of the clients table, the persistence state
//!   and the live settings INFO shows;
//! * the process's resident memory and CPU time ([`rss_bytes`], [`process_cpu`]);
//! * each network thread's counters and response-time histogram;
//! * each shard's counters, queue depth and execution-time histogram (the storage
//!   side's `ShardCounters`);
//! * the RocksDB figures the storage side's watcher publishes (`EngineStats`);
//! * with [`Parts::commands`], every thread's command statistics merged into one
//!   [`Recorder`] (calls, time, rejected and failed calls, latency HdrHistograms,
//!   stages, errors by code), see [`super::snapshot()`];
//! * with [`Parts::threads`], the CPU time of every thread of the process
//!   ([`thread_cpu`], from `/proc/self/task/*/stat`).
//!
//! All of these are atomics, or locks their owners hold for one batch or one group at
//! most: taking a snapshot never calls RocksDB and never waits for a shard, so the
//! admin server can take one while the storage side is stalled. The two optional
//! parts are the costly ones (merging histograms, reading /proc); INFO asks only for
//! those its sections print, /metrics for everything ([`Parts::ALL`]).
//!
//! INFO formats the figures as its `key:value` lines and [`super::prometheus`] encodes
//! the same struct as Prometheus families, so the two never disagree on a figure.

use hdrhistogram::Histogram;

use super::Recorder;

/// The optional, costlier parts of a snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Parts {
    /// Merge every thread's command statistics (INFO commandstats, latencystats,
    /// errorstats).
    pub commands: bool,
    /// Read every thread's CPU time from /proc (INFO threads, network, storage).
    pub threads: bool,
}

impl Parts {
    /// Everything: what /metrics renders.
    pub const ALL: Parts = Parts {
        commands: true,
        threads: true,
    };
}

/// Every figure of the server at one moment.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// The Redis version the server answers as.
    pub redis_version: &'static str,
    /// `dual` or `single`.
    pub runtime_mode: &'static str,
    /// Seconds since the server started.
    pub uptime_secs: u64,
    /// Connections accepted since start (or CONFIG RESETSTAT).
    pub connections_received: u64,
    /// Commands processed.
    pub commands_processed: u64,
    /// Bytes read from clients.
    pub net_input_bytes: u64,
    /// Bytes written to clients.
    pub net_output_bytes: u64,
    /// Error replies sent.
    pub error_replies: u64,
    /// Clients connected now.
    pub connected_clients: usize,
    /// Most clients allowed (the live `maxclients`).
    pub maxclients: u64,
    /// Resident memory of the process, bytes.
    pub rss_bytes: u64,
    /// User CPU time of the process, seconds.
    pub cpu_user_secs: f64,
    /// System CPU time of the process, seconds.
    pub cpu_sys_secs: f64,
    /// A BGSAVE is running.
    pub bgsave_in_progress: bool,
    /// Unix time of the last successful SAVE/BGSAVE (the start time before any).
    pub last_save_unix: u64,
    /// Directory of the last checkpoint (empty before any).
    pub last_checkpoint: String,
    /// Network threads running and not retiring (dual runtime; 0 in single).
    pub network_threads: usize,
    /// The live `batch-max`.
    pub batch_max: usize,
    /// Every thread of the process, by name then CPU time (empty without
    /// [`Parts::threads`]).
    pub threads: Vec<ThreadCpu>,
    /// Each network thread (the single runtime's threads share one entry).
    pub network: Vec<NetworkThread>,
    /// Each shard, by shard number.
    pub shards: Vec<ShardFigures>,
    /// RocksDB's figures.
    pub engine: EngineFigures,
    /// Command statistics of every thread merged (empty without [`Parts::commands`]).
    pub commands: Recorder,
}

/// CPU time of one thread.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ThreadCpu {
    /// Thread id (threads of one pool share a name).
    pub tid: u64,
    /// Thread name as the kernel keeps it (at most 15 bytes).
    pub name: String,
    /// User and system CPU time, µs.
    pub cpu_usec: u64,
}

/// One network thread's figures.
#[derive(Debug, Default, Clone)]
pub struct NetworkThread {
    /// Thread name (`shardis-net-N`, or `shardis-single`).
    pub name: String,
    /// Core it is pinned to, or `none`.
    pub core: String,
    /// Connections open now.
    pub connections: u64,
    /// Commands answered.
    pub commands: u64,
    /// Bytes read.
    pub bytes_in: u64,
    /// Bytes written.
    pub bytes_out: u64,
    /// Response time of each batch, µs (`None` before the first).
    pub response: Option<Histogram<u64>>,
    /// CPU time of the threads of this name, µs (0 without [`Parts::threads`]).
    pub cpu_usec: u64,
}

/// One shard's figures.
#[derive(Debug, Default, Clone)]
pub struct ShardFigures {
    /// Messages waiting in its channel now (0 in the single runtime).
    pub queue_depth: u64,
    /// Most messages seen waiting.
    pub queue_peak: u64,
    /// Groups committed.
    pub groups: u64,
    /// Requests executed.
    pub requests: u64,
    /// Largest group.
    pub max_group: u64,
    /// Failed commits.
    pub errors: u64,
    /// Batches whose replies missed storage-timeout-ms.
    pub timeouts: u64,
    /// Panics the shard was restarted after.
    pub restarts: u64,
    /// Sends that found the channel full and waited.
    pub backpressure: u64,
    /// Keys removed because they expired.
    pub expired: u64,
    /// Execution time of each request, µs (`None` before the first).
    pub op_latency: Option<Histogram<u64>>,
}

/// RocksDB's figures, as the storage side last published them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EngineFigures {
    /// Bytes in all memtables.
    pub memtable_bytes: u64,
    /// Entries in the active memtable.
    pub memtable_entries: u64,
    /// SST files in level 0.
    pub l0_files: u64,
    /// Bytes compaction still has to rewrite.
    pub pending_compaction_bytes: u64,
    /// Flushes running now.
    pub running_flushes: u64,
    /// Compactions running now.
    pub running_compactions: u64,
    /// 1 while writes are stopped.
    pub write_stopped: u64,
    /// Bytes/s writes are slowed to (0: not slowed).
    pub delayed_write_rate: u64,
    /// Time writes spent stalled since start, µs.
    pub stall_micros: u64,
    /// Write stalls that slowed writes.
    pub stall_delays: u64,
    /// Write stalls that stopped writes.
    pub stall_stops: u64,
    /// Flushes and compactions finished.
    pub compactions: u64,
    /// Bytes written by flushes.
    pub flushed_bytes: u64,
    /// Bytes of write batches written.
    pub bytes_written: u64,
    /// Block cache bytes in use.
    pub block_cache_bytes: u64,
    /// Bytes of live SST files.
    pub live_sst_bytes: u64,
}

/// Resident memory of the process, bytes (from /proc/self/statm).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// `(user, system)` CPU seconds of the whole process.
pub fn process_cpu() -> (f64, f64) {
    // SAFETY: getrusage writes only into the struct we pass.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_utime), t(ru.ru_stime))
}

/// Every thread of the process with its CPU time, from /proc (no hot-path cost),
/// ordered by name, then CPU time.
pub fn thread_cpu() -> Vec<ThreadCpu> {
    let tick_us = 1_000_000 / clock_ticks();
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let name = stat[stat.find('(').map_or(0, |i| i + 1)..close].to_string();
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let (Some(u), Some(s)) = (fields.get(11), fields.get(12)) else {
            continue;
        };
        let ticks = u.parse::<u64>().unwrap_or(0) + s.parse::<u64>().unwrap_or(0);
        out.push(ThreadCpu {
            tid,
            name,
            cpu_usec: ticks * tick_us,
        });
    }
    out.sort_by(|a, b| (&a.name, a.cpu_usec, a.tid).cmp(&(&b.name, b.cpu_usec, b.tid)));
    out
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_of_this_process_are_read_with_their_ids() {
        let me = std::thread::Builder::new()
            .name("snap-test-thr".into())
            .spawn(|| {
                // Burn a little CPU so the thread is seen with a name and an id.
                let mut x = 0u64;
                for i in 0..2_000_000u64 {
                    x = x.wrapping_mul(31).wrapping_add(i);
                }
                // SAFETY: gettid has no memory effects.
                let tid = unsafe { libc::gettid() } as u64;
                (thread_cpu(), tid, x)
            })
            .unwrap()
            .join()
            .unwrap();
        let (threads, tid, _) = me;
        let t = threads.iter().find(|t| t.tid == tid).expect("own thread");
        assert_eq!(t.name, "snap-test-thr");
        let mut sorted = threads.clone();
        sorted.sort_by(|a, b| (&a.name, a.cpu_usec).cmp(&(&b.name, b.cpu_usec)));
        assert_eq!(
            threads.iter().map(|t| &t.name).collect::<Vec<_>>(),
            sorted.iter().map(|t| &t.name).collect::<Vec<_>>()
        );
    }
}
