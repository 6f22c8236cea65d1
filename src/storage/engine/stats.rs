//! RocksDB's figures for INFO: the sampled gauges and counters, and the parser of
//! RocksDB's `rocksdb.stats` text.

use std::sync::atomic::AtomicU64;

/// RocksDB's state as INFO shows it, refreshed by [`Engine::sample`].
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Bytes in all memtables.
    pub memtable_bytes: AtomicU64,
    /// Entries in the active memtable.
    pub memtable_entries: AtomicU64,
    /// SST files in level 0.
    pub l0_files: AtomicU64,
    /// Bytes compaction still has to rewrite.
    pub pending_compaction_bytes: AtomicU64,
    /// Flushes running now.
    pub running_flushes: AtomicU64,
    /// Compactions running now.
    pub running_compactions: AtomicU64,
    /// 1 while writes are stopped.
    pub write_stopped: AtomicU64,
    /// Bytes/s writes are slowed to (0: not slowed).
    pub delayed_write_rate: AtomicU64,
    /// Block cache bytes in use.
    pub block_cache_bytes: AtomicU64,
    /// Bytes of live SST files.
    pub live_sst_bytes: AtomicU64,
    /// Time writes spent stalled since start, µs.
    pub stall_micros: AtomicU64,
    /// Write stalls that slowed writes, since start.
    pub stall_delays: AtomicU64,
    /// Write stalls that stopped writes, since start.
    pub stall_stops: AtomicU64,
    /// Flushes and compactions finished since start.
    pub compactions: AtomicU64,
    /// Bytes written by flushes since start.
    pub flushed_bytes: AtomicU64,
    /// Bytes of write batches written since start (RocksDB's `rocksdb.bytes.written`).
    pub bytes_written: AtomicU64,
}

/// The cumulative figures of RocksDB's `rocksdb.stats` text.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct StatsText {
    pub(super) stall_micros: u64,
    pub(super) delays: u64,
    pub(super) stops: u64,
    pub(super) compactions: u64,
    pub(super) flushed_bytes: u64,
}

impl StatsText {
    pub(super) fn parse(text: &str) -> StatsText {
        let mut out = StatsText::default();
        let mut comp_col = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("Cumulative stall: ") {
                // "00:00:1.234 H:M:S, ..."
                let hms = rest.split_whitespace().next().unwrap_or("");
                let parts: Vec<f64> = hms.split(':').filter_map(|p| p.parse().ok()).collect();
                if let [h, m, s] = parts[..] {
                    out.stall_micros = ((h * 3600.0 + m * 60.0 + s) * 1e6) as u64;
                }
            } else if line.starts_with("Write Stall (count): cf-") || line.contains("total-delays:")
            {
                for item in line.split([',', ':']).collect::<Vec<_>>().windows(2) {
                    let value = item[1].trim().parse().unwrap_or(0);
                    match item[0].trim() {
                        "total-delays" => out.delays = value,
                        "total-stops" => out.stops = value,
                        _ => {}
                    }
                }
            } else if line.starts_with("Level ") && comp_col.is_none() {
                comp_col = line.split_whitespace().position(|c| c == "Comp(cnt)");
            } else if line.trim_start().starts_with("Sum ") {
                // "Sum 0/0 0.00 KB ...": the size takes two fields, the header one.
                if let Some(col) = comp_col {
                    out.compactions = line
                        .split_whitespace()
                        .nth(col + 1)
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                }
            } else if let Some(rest) = line.strip_prefix("Flush(GB): cumulative ") {
                let gb: f64 = rest
                    .split(',')
                    .next()
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0.0);
                out.flushed_bytes = (gb * 1073741824.0) as u64;
            }
        }
        out
    }
}
