//! Statistics: what the server counts, and the two views of it (INFO and /metrics).
//!
//! * This module keeps the command statistics: calls, time, rejected and failed calls
//!   and a latency HdrHistogram per command, the stages of keyed commands' time, error
//!   counts per error code (INFO commandstats, latencystats, errorstats, LATENCY
//!   HISTOGRAM), the slow log, and the latency dumps (`--latency-dump`). Every thread
//!   that serves connections records into its own [`Recorder`]; the lock around it is
//!   taken once per pipeline batch by its own thread and, rarely, by a reader or CONFIG
//!   RESETSTAT, which merge ([`snapshot()`]) or clear every thread's recorder. No lock
//!   is shared between threads on the hot path.
//! * [`snapshot`](mod@snapshot) gathers every figure of the server (these statistics, the server,
//!   network-thread, shard and RocksDB counters, CPU time per thread) into one typed
//!   [`Snapshot`], without touching RocksDB or waiting for a shard.
//! * INFO's sections are written from a [`Snapshot`] (`commands::server`), and
//!   [`prometheus`] renders one as the admin server's `/metrics`.

use std::cell::OnceCell;
use std::sync::{Arc, Mutex, OnceLock};

use ahash::AHashMap;
use hdrhistogram::Histogram;

use crate::spec::redis_spec::REDIS_SPECS;
use crate::spec::RedisSpec;

pub mod prometheus;
pub mod snapshot;

pub use snapshot::{Parts, Snapshot};

/// Counters of one command.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CmdStat {
    /// Calls that ran (rejected ones excluded, as in Redis).
    pub calls: u64,
    /// Microseconds spent, from parsing to the reply.
    pub usec: u64,
    /// Calls refused before running (arity, authentication).
    pub rejected: u64,
    /// Calls that ran and replied with an error.
    pub failed: u64,
}

/// One thread's statistics.
#[derive(Debug, Default, Clone)]
pub struct Recorder {
    /// By position in [`REDIS_SPECS`].
    pub commands: Vec<CmdStat>,
    /// Latency distribution (µs) per command, by position; created on first use.
    pub latency: Vec<Option<Histogram<u64>>>,
    /// Per command, the stages of its time (see [`STAGES`]), µs; created on first use.
    pub stages: Vec<Option<Box<[Histogram<u64>; 4]>>>,
    /// By error code (`ERR`, `WRONGTYPE`, ...).
    pub errors: AHashMap<String, u64>,
}

/// The stages a keyed command's time is split into: the network side (parse, route,
/// reply), waiting in the shard's queue, executing on the shard, and the commit (the
/// group's RocksDB write and, with `appendfsync always`, the WAL sync).
pub const STAGES: [&str; 4] = ["network", "queue", "storage", "commit"];

/// A histogram for command latencies: 1 µs to an hour, two significant digits.
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("valid histogram bounds")
}

impl Recorder {
    /// Counts one command; `spec` is its index in [`REDIS_SPECS`] (`None`: unknown).
    pub fn command(&mut self, spec: Option<usize>, rejected: bool, error: Option<&str>, usec: u64) {
        self.command_n(spec, rejected, error, usec, 1);
    }

    /// Counts `n` alike commands at once (a pipelined run of the same command).
    pub fn command_n(
        &mut self,
        spec: Option<usize>,
        rejected: bool,
        error: Option<&str>,
        usec: u64,
        n: u64,
    ) {
        if let Some(i) = spec {
            if self.commands.len() < REDIS_SPECS.len() {
                self.commands.resize(REDIS_SPECS.len(), CmdStat::default());
            }
            let s = &mut self.commands[i];
            if rejected {
                s.rejected += n;
            } else {
                s.calls += n;
                s.usec += usec * n;
                s.failed += error.is_some() as u64 * n;
                if self.latency.len() < REDIS_SPECS.len() {
                    self.latency.resize(REDIS_SPECS.len(), None);
                }
                let _ = self.latency[i]
                    .get_or_insert_with(new_histogram)
                    .record_n(usec.clamp(1, 3_600_000_000), n);
            }
        }
        if let Some(text) = error {
            // Callers pass either a whole error text or just its code.
            let code = text.split(' ').next().unwrap_or("ERR");
            match self.errors.get_mut(code) {
                Some(count) => *count += n,
                None => {
                    self.errors.insert(code.to_string(), n);
                }
            }
        }
    }

    /// Records where one command's time went, in [`STAGES`] order.
    pub fn stages(&mut self, spec: usize, us: [u64; 4]) {
        self.stages_n(spec, us, 1);
    }

    /// Records the stages of `n` alike commands at once.
    pub fn stages_n(&mut self, spec: usize, us: [u64; 4], n: u64) {
        if self.stages.len() < REDIS_SPECS.len() {
            self.stages.resize_with(REDIS_SPECS.len(), || None);
        }
        let h = self.stages[spec].get_or_insert_with(|| {
            Box::new([
                new_histogram(),
                new_histogram(),
                new_histogram(),
                new_histogram(),
            ])
        });
        for (h, v) in h.iter_mut().zip(us) {
            let _ = h.record_n(v.clamp(1, 3_600_000_000), n);
        }
    }

    fn merge(&mut self, other: &Recorder) {
        if self.commands.len() < other.commands.len() {
            self.commands
                .resize(other.commands.len(), CmdStat::default());
        }
        for (a, b) in self.commands.iter_mut().zip(&other.commands) {
            a.calls += b.calls;
            a.usec += b.usec;
            a.rejected += b.rejected;
            a.failed += b.failed;
        }
        if self.stages.len() < other.stages.len() {
            self.stages.resize_with(other.stages.len(), || None);
        }
        for (a, b) in self.stages.iter_mut().zip(&other.stages) {
            if let Some(b) = b {
                let a = a.get_or_insert_with(|| {
                    Box::new([
                        new_histogram(),
                        new_histogram(),
                        new_histogram(),
                        new_histogram(),
                    ])
                });
                for (x, y) in a.iter_mut().zip(b.iter()) {
                    let _ = x.add(y);
                }
            }
        }
        if self.latency.len() < other.latency.len() {
            self.latency.resize(other.latency.len(), None);
        }
        for (a, b) in self.latency.iter_mut().zip(&other.latency) {
            if let Some(b) = b {
                let _ = a.get_or_insert_with(new_histogram).add(b);
            }
        }
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
    }
}

/// One SLOWLOG entry.
#[derive(Debug, Clone)]
pub struct SlowEntry {
    /// Increasing id.
    pub id: u64,
    /// Unix time, seconds.
    pub time: u64,
    /// Execution time, µs.
    pub usec: u64,
    /// The command, shortened like Redis does (32 arguments, 128 bytes each).
    pub args: Vec<bytes::Bytes>,
    /// The client's id (its address and name are looked up when read).
    pub client: u64,
}

#[derive(Default)]
struct SlowLog {
    entries: std::collections::VecDeque<SlowEntry>,
    next_id: u64,
}

fn slowlog() -> &'static Mutex<SlowLog> {
    static LOG: OnceLock<Mutex<SlowLog>> = OnceLock::new();
    LOG.get_or_init(Default::default)
}

/// Logs a command that took `usec` if that reaches `threshold` (µs; negative: off),
/// keeping at most `max_len` entries. Only slow commands take the lock.
pub fn slowlog_maybe(threshold: i64, max_len: u64, usec: u64, args: &[bytes::Bytes], client: u64) {
    if threshold < 0 || (usec as i64) < threshold {
        return;
    }
    const MAX_ARGS: usize = 32;
    const MAX_BYTES: usize = 128;
    let mut kept: Vec<bytes::Bytes> = Vec::with_capacity(args.len().min(MAX_ARGS));
    for (i, a) in args.iter().enumerate() {
        if i == MAX_ARGS - 1 && args.len() > MAX_ARGS {
            let more = args.len() - i;
            kept.push(bytes::Bytes::from(format!("... ({more} more arguments)")));
            break;
        }
        if a.len() > MAX_BYTES {
            let mut s = a.slice(..MAX_BYTES).to_vec();
            s.extend_from_slice(format!("... ({} more bytes)", a.len() - MAX_BYTES).as_bytes());
            kept.push(bytes::Bytes::from(s));
        } else {
            kept.push(a.clone());
        }
    }
    let mut log = slowlog().lock().unwrap_or_else(|e| e.into_inner());
    let id = log.next_id;
    log.next_id += 1;
    log.entries.push_front(SlowEntry {
        id,
        time: crate::clock::now_ms() / 1000,
        usec,
        args: kept,
        client,
    });
    log.entries.truncate(max_len as usize);
}

/// The newest `count` entries (all with `None`).
pub fn slowlog_get(count: Option<usize>) -> Vec<SlowEntry> {
    let log = slowlog().lock().unwrap_or_else(|e| e.into_inner());
    log.entries
        .iter()
        .take(count.unwrap_or(usize::MAX))
        .cloned()
        .collect()
}

/// Number of entries.
pub fn slowlog_len() -> usize {
    slowlog()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entries
        .len()
}

/// Empties the slow log.
pub fn slowlog_reset() {
    slowlog()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entries
        .clear();
}

fn registry() -> &'static Mutex<Vec<Arc<Mutex<Recorder>>>> {
    static REGISTRY: OnceLock<Mutex<Vec<Arc<Mutex<Recorder>>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

thread_local! {
    static LOCAL: OnceCell<Arc<Mutex<Recorder>>> = const { OnceCell::new() };
}

/// Runs `f` on the calling thread's recorder (created and registered on first use).
pub fn with_recorder(f: impl FnOnce(&mut Recorder)) {
    LOCAL.with(|cell| {
        let rec = cell.get_or_init(|| {
            let rec = Arc::new(Mutex::new(Recorder::default()));
            registry()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(rec.clone());
            rec
        });
        f(&mut rec.lock().unwrap_or_else(|e| e.into_inner()));
    });
}

/// `(upper bound µs, cumulative count)` at powers of two, where the count grows: the
/// `histogram_usec` of LATENCY HISTOGRAM.
pub fn power_of_two_buckets(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut last = 0;
    let mut bound = 1u64;
    while last < h.len() {
        let cumulative = h.count_between(0, bound);
        if cumulative > last {
            out.push((bound, cumulative));
            last = cumulative;
        }
        if bound > h.max() {
            break;
        }
        bound = bound.saturating_mul(2);
    }
    out
}

/// A histogram of microseconds as an HdrHistogram percentile distribution (`.hgrm`,
/// values in milliseconds), the text the standard HdrHistogram plotter reads.
pub fn percentile_distribution(h: &Histogram<u64>) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    for v in h.iter_quantiles(5) {
        let q = v.quantile_iterated_to();
        let inv = if q < 1.0 {
            format!("{:>14.2}", 1.0 / (1.0 - q))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{:>12.3} {:>14.12} {:>10} {}",
            v.value_iterated_to() as f64 / 1000.0,
            q,
            v.count_since_last_iteration(),
            inv
        );
    }
    let (mean, sd) = (h.mean() / 1000.0, h.stdev() / 1000.0);
    let _ = writeln!(
        out,
        "#[Mean    = {mean:>12.3}, StdDeviation   = {sd:>12.3}]"
    );
    let (max, n) = (h.max() as f64 / 1000.0, h.len());
    let _ = writeln!(out, "#[Max     = {max:>12.3}, Total count    = {n:>12}]");
    let (b, sb) = (h.buckets(), h.distinct_values());
    let _ = writeln!(out, "#[Buckets = {b:>12}, SubBuckets     = {sb:>12}]");
    out
}

/// Writes latency dumps: one `.hgrm` per command per dump, and one HdrHistogram
/// interval log per run with each command's histogram of every interval.
pub struct Dumper {
    dir: std::path::PathBuf,
    run: u64,
    seq: u64,
    last: Recorder,
    last_at: std::time::SystemTime,
    started: std::time::SystemTime,
}

impl Dumper {
    /// A dumper writing into `dir`; file names carry the run's start time.
    pub fn new(dir: std::path::PathBuf) -> Dumper {
        let now = std::time::SystemTime::now();
        Dumper {
            dir,
            run: crate::clock::now_ms(),
            seq: 0,
            last: Recorder::default(),
            last_at: now,
            started: now,
        }
    }

    /// Writes the current histograms; returns the number of files written.
    pub fn dump(&mut self) -> std::io::Result<usize> {
        use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
        use hdrhistogram::serialization::V2DeflateSerializer;
        std::fs::create_dir_all(&self.dir)?;
        let snap = snapshot();
        self.seq += 1;
        let now = std::time::SystemTime::now();
        let mut written = 0;
        let log_path = self.dir.join(format!("shardis-{}.hlog", self.run));
        let fresh = !log_path.exists();
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let mut serializer = V2DeflateSerializer::new();
        let mut builder = IntervalLogWriterBuilder::new();
        if fresh {
            builder.add_comment("shardis per-command latency, microseconds");
            builder.with_start_time(self.started);
        }
        let mut writer = builder
            .begin_log_with(&mut log, &mut serializer)
            .map_err(std::io::Error::other)?;
        let since = self
            .last_at
            .duration_since(self.started)
            .unwrap_or_default();
        let length = now.duration_since(self.last_at).unwrap_or_default();
        for (i, h) in snap.latency.iter().enumerate() {
            let Some(h) = h.as_ref().filter(|h| !h.is_empty()) else {
                continue;
            };
            let name = REDIS_SPECS[i].name;
            let path = self
                .dir
                .join(format!("shardis-{}-{:04}-{name}.hgrm", self.run, self.seq));
            write_whole(&path, &percentile_distribution(h))?;
            written += 1;
            let mut interval = h.clone();
            if let Some(Some(prev)) = self.last.latency.get(i) {
                // After CONFIG RESETSTAT the previous counts are larger: the interval is
                // everything since the reset.
                if prev.len() > h.len() || interval.subtract(prev).is_err() {
                    interval = h.clone();
                }
            }
            if !interval.is_empty() {
                writer
                    .write_histogram(&interval, since, length, Tag::new(name))
                    .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
            }
        }
        for (i, stages) in snap.stages.iter().enumerate() {
            let Some(stages) = stages else { continue };
            let name = REDIS_SPECS[i].name;
            for (stage, h) in STAGES.iter().zip(stages.iter()) {
                if h.is_empty() {
                    continue;
                }
                let file = format!("shardis-{}-{:04}-{name}-{stage}.hgrm", self.run, self.seq);
                write_whole(&self.dir.join(file), &percentile_distribution(h))?;
                written += 1;
            }
        }
        self.last = snap;
        self.last_at = now;
        Ok(written)
    }
}

/// Writes `text` to `path` so that a reader never sees the file half-written: into a
/// temporary file first, then renamed into place.
fn write_whole(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("hgrm.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// Every thread's statistics added up.
pub fn snapshot() -> Recorder {
    let mut total = Recorder::default();
    for rec in registry().lock().unwrap_or_else(|e| e.into_inner()).iter() {
        total.merge(&rec.lock().unwrap_or_else(|e| e.into_inner()));
    }
    total
}

/// Clears every thread's statistics (CONFIG RESETSTAT).
pub fn reset() {
    for rec in registry().lock().unwrap_or_else(|e| e.into_inner()).iter() {
        *rec.lock().unwrap_or_else(|e| e.into_inner()) = Recorder::default();
    }
}

/// The position of a top-level command's spec in [`REDIS_SPECS`].
pub fn spec_index(spec: &'static RedisSpec) -> Option<usize> {
    let base = REDIS_SPECS.as_ptr() as usize;
    let at = (spec as *const RedisSpec as usize).checked_sub(base)?;
    let i = at / std::mem::size_of::<RedisSpec>();
    (i < REDIS_SPECS.len()).then_some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_merge_and_reset() {
        let get = spec_index(REDIS_SPECS.iter().find(|s| s.name == "get").unwrap()).unwrap();
        assert_eq!(REDIS_SPECS[get].name, "get");
        let mut a = Recorder::default();
        a.command(Some(get), false, None, 10);
        a.command(Some(get), false, Some("WRONGTYPE Operation"), 5);
        a.command(Some(get), true, Some("ERR wrong number of arguments"), 0);
        a.command(None, false, Some("ERR unknown command"), 0);
        let mut total = Recorder::default();
        total.merge(&a);
        total.merge(&a);
        assert_eq!(
            total.commands[get],
            CmdStat {
                calls: 4,
                usec: 30,
                rejected: 2,
                failed: 2
            }
        );
        assert_eq!(total.errors["ERR"], 4);
        assert_eq!(total.errors["WRONGTYPE"], 2);
        let h = total.latency[get].as_ref().unwrap();
        assert_eq!(h.len(), 4);
        assert_eq!(power_of_two_buckets(h), vec![(8, 2), (16, 4)]);
    }
}
