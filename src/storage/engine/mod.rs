//! The RocksDB engine: **the only module in shardis that imports `rocksdb`.**
//!
//! Everything else sees [`Engine`], [`Batch`] and [`StorageError`]. The engine is
//! opened by the storage side, from a thread pinned to the storage cores, so the
//! flush and compaction threads RocksDB starts inherit that placement and never run on
//! a network core. Only shards (storage side) call into it.
//!
//! Beside it, in files of their own: the write batch ([`Batch`]), the compaction
//! filter that drops dead member records (`dead_members`), and RocksDB's figures for
//! INFO ([`EngineStats`]).
//!
//! One RocksDB instance holds every shard's keys: shards own disjoint key ranges (see
//! [`super::encoding`]), so they never write the same key, and RocksDB's own write
//! grouping lets commits of different shards share one WAL write.

use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

mod batch;
mod dead_members;
mod stats;

pub use crate::error::StorageError;
pub use batch::{Batch, BatchMark, Overlay};
use bytes::Bytes;
use dead_members::DeadMembers;
use rocksdb::{
    BlockBasedOptions, Cache, DBCompressionType, Options, ReadOptions, WriteOptions, DB,
};
pub use stats::EngineStats;
use stats::StatsText;

impl From<rocksdb::Error> for StorageError {
    fn from(e: rocksdb::Error) -> Self {
        StorageError(e.into_string())
    }
}

/// RocksDB tuning the engine is opened with.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Memtable size in bytes.
    pub write_buffer_size: usize,
    /// Block cache size in bytes.
    pub block_cache_size: usize,
    /// Flush and compaction threads.
    pub background_jobs: i32,
    /// Number of L0 files that triggers a compaction.
    pub l0_compaction_trigger: i32,
    /// Number of L0 files at which writes slow down.
    pub l0_slowdown_trigger: i32,
    /// Number of L0 files at which writes stop.
    pub l0_stop_trigger: i32,
    /// Bytes per second flushes and compactions may write (0: unlimited).
    pub rate_limit: i64,
    /// Obsolete WAL files kept for reuse.
    pub recycle_wal_files: usize,
    /// Entries after which the active memtable is ended early (0: only its size ends it).
    pub memtable_max_entries: u64,
    /// Flush and compaction threads at the lowest CPU priority (nice 19).
    pub low_priority_background: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            write_buffer_size: 16 << 20,
            block_cache_size: 256 << 20,
            background_jobs: 2,
            l0_compaction_trigger: 8,
            l0_slowdown_trigger: 20,
            l0_stop_trigger: 36,
            rate_limit: 0,
            recycle_wal_files: 4,
            memtable_max_entries: 0,
            low_priority_background: false,
        }
    }
}

/// An open RocksDB database.
pub struct Engine {
    db: Arc<DB>,
    sync_write: WriteOptions,
    async_write: WriteOptions,
    /// `--rocksdb-memtable-max-entries` (0: off).
    memtable_max_entries: u64,
    /// Bytes of the write batches given to RocksDB (what its `rocksdb.bytes.written`
    /// ticker counts), for INFO's `rocksdb_bytes_written`.
    bytes_written: AtomicU64,
    /// Operations written so far; every quarter of `memtable_max_entries` the writer
    /// wakes the memtable watcher.
    written: AtomicU64,
    /// Wakes the memtable watcher (see [`Engine::end_full_memtable`]), once started.
    memtable_check: OnceLock<std::sync::mpsc::SyncSender<()>>,
}

impl Engine {
    /// Opens (creating if needed) the database in `dir`.
    pub fn open(dir: &Path, tuning: &EngineOptions) -> Result<Engine, StorageError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_max_background_jobs(tuning.background_jobs);
        opts.set_write_buffer_size(tuning.write_buffer_size);
        opts.set_max_write_buffer_number(4);
        opts.set_level_zero_file_num_compaction_trigger(tuning.l0_compaction_trigger);
        opts.set_level_zero_slowdown_writes_trigger(tuning.l0_slowdown_trigger);
        opts.set_level_zero_stop_writes_trigger(tuning.l0_stop_trigger);
        opts.set_level_compaction_dynamic_level_bytes(true);
        opts.set_compression_type(DBCompressionType::Lz4);
        opts.set_bytes_per_sync(1 << 20);
        // Start the WAL's writeback every MB, so that the sync of `everysec` or `always`
        // finds little left to write.
        opts.set_wal_bytes_per_sync(1 << 20);
        opts.set_enable_pipelined_write(true);
        opts.set_recycle_log_file_num(tuning.recycle_wal_files);
        if tuning.low_priority_background {
            let mut env = rocksdb::Env::new()?;
            env.lower_thread_pool_cpu_priority();
            env.lower_high_priority_thread_pool_cpu_priority();
            opts.set_env(&env);
        }
        if tuning.rate_limit > 0 {
            // Auto-tuned: RocksDB lowers the rate when there is little to write.
            opts.set_auto_tuned_ratelimiter(tuning.rate_limit, 100_000, 10);
        }
        // A whole-key bloom filter in the memtable: reads of absent keys skip the skiplist.
        opts.set_memtable_whole_key_filtering(true);
        opts.set_memtable_prefix_bloom_ratio(0.1);

        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&Cache::new_lru_cache(tuning.block_cache_size));
        table.set_bloom_filter(10.0, false);
        table.set_cache_index_and_filter_blocks(true);
        table.set_pin_l0_filter_and_index_blocks_in_cache(true);
        table.set_data_block_index_type(rocksdb::DataBlockIndexType::BinaryAndHash);
        opts.set_block_based_table_factory(&table);

        // Member records of deleted, replaced or expired collections are dropped when
        // compaction meets them (see [`DeadMembers`]).
        let handle: Arc<OnceLock<Weak<DB>>> = Arc::new(OnceLock::new());
        opts.set_compaction_filter_factory(DeadMembers { db: handle.clone() });

        let db = Arc::new(DB::open(&opts, dir)?);
        let _ = handle.set(Arc::downgrade(&db));
        let mut sync_write = WriteOptions::default();
        sync_write.set_sync(true);
        Ok(Engine {
            db,
            sync_write,
            async_write: WriteOptions::default(),
            memtable_max_entries: tuning.memtable_max_entries,
            written: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            memtable_check: OnceLock::new(),
        })
    }

    /// Reads one key.
    pub fn get(&self, key: &[u8]) -> Result<Option<Bytes>, StorageError> {
        Ok(self.db.get_pinned(key)?.map(|v| Bytes::copy_from_slice(&v)))
    }

    /// Applies a batch atomically; with `sync` the WAL is on disk before it returns.
    /// The batch is left as it was (the caller clears it to reuse its buffers).
    pub fn write(&self, batch: &mut Batch, sync: bool) -> Result<(), StorageError> {
        let n = batch.len() as u64;
        self.write_built(batch.build(), n, sync)
    }

    /// Writes several batches (of different shards: their keys never overlap) as one
    /// RocksDB write, so that a crash keeps all of them or none.
    pub fn write_all(&self, batches: &mut [Batch], sync: bool) -> Result<(), StorageError> {
        let bytes: usize = batches
            .iter()
            .map(|b| b.data.len() + 16 * b.ops.len())
            .sum();
        let mut wb = rocksdb::WriteBatch::with_capacity_bytes(bytes);
        for b in batches.iter_mut() {
            b.append_to(&mut wb);
        }
        let n = batches.iter().map(|b| b.len() as u64).sum();
        self.write_built(wb, n, sync)
    }

    fn write_built(&self, wb: rocksdb::WriteBatch, n: u64, sync: bool) -> Result<(), StorageError> {
        let opts = if sync {
            &self.sync_write
        } else {
            &self.async_write
        };
        let size = wb.size_in_bytes() as u64;
        self.db.write_opt(wb, opts)?;
        self.bytes_written.fetch_add(size, Ordering::Relaxed);
        if let Some(check) = self.memtable_check.get() {
            let step = (self.memtable_max_entries / 4).max(1);
            let before = self.written.fetch_add(n, Ordering::Relaxed);
            if (before + n) / step != before / step {
                // A wake-up already pending covers this one too.
                let _ = check.try_send(());
            }
        }
        Ok(())
    }

    /// With `--rocksdb-memtable-max-entries`, the loop that ends full memtables: it
    /// waits until writes wake it, calls [`Engine::end_full_memtable`], and returns
    /// once the engine is dropped. `None` when the option is off or a loop exists.
    pub fn memtable_watcher(self: &Arc<Self>) -> Option<impl FnOnce() + Send + 'static> {
        if self.memtable_max_entries == 0 {
            return None;
        }
        let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
        self.memtable_check.set(tx).ok()?;
        let engine = Arc::downgrade(self);
        Some(move || {
            while rx.recv().is_ok() {
                let Some(engine) = engine.upgrade() else {
                    return;
                };
                if let Err(e) = engine.end_full_memtable() {
                    tracing::warn!(target: "shardis::storage", "ending a full memtable failed: {e}");
                }
            }
        })
    }

    /// Ends the active memtable (RocksDB flushes it in the background) if it holds
    /// `--rocksdb-memtable-max-entries` entries or more.
    ///
    /// RocksDB ends a memtable by size only. Small entries make a memtable of many
    /// entries, and every insert searches its skiplist with a cache miss per level; a
    /// memtable ended by count stays small and fast for small values, while large
    /// values still reach the size limit first. Runs on a blocking thread of the
    /// storage side, never a shard: RocksDB holds a manual flush back while it would
    /// stall writes.
    pub fn end_full_memtable(&self) -> Result<(), StorageError> {
        let entries = self
            .property("rocksdb.num-entries-active-mem-table")
            .unwrap_or(0);
        if self.memtable_max_entries == 0 || entries < self.memtable_max_entries {
            return Ok(());
        }
        let mut opts = rocksdb::FlushOptions::default();
        opts.set_wait(false);
        Ok(self.db.flush_opt(&opts)?)
    }

    /// Calls `visit(key, value)` for keys in `[from, to)` in order until it returns false.
    pub fn scan(
        &self,
        from: &[u8],
        to: &[u8],
        mut visit: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(to.to_vec());
        let mut it = self.db.raw_iterator_opt(ro);
        it.seek(from);
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if !visit(k, v) {
                return Ok(());
            }
            it.next();
        }
        it.status()?;
        Ok(())
    }

    /// Like [`Engine::scan`], from the last key below `to` down to `from`.
    pub fn scan_rev(
        &self,
        from: &[u8],
        to: &[u8],
        mut visit: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        let mut ro = ReadOptions::default();
        ro.set_iterate_lower_bound(from.to_vec());
        ro.set_iterate_upper_bound(to.to_vec());
        let mut it = self.db.raw_iterator_opt(ro);
        it.seek_to_last();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if !visit(k, v) {
                return Ok(());
            }
            it.prev();
        }
        it.status()?;
        Ok(())
    }

    /// Like [`Engine::scan`] (or [`Engine::scan_rev`] with `rev`), but as if the
    /// batch that `overlay` was taken from had been written: the batch's values
    /// replace RocksDB's, its deletes and range deletes hide them, its new keys
    /// appear in order.
    pub fn scan_over(
        &self,
        overlay: &Overlay,
        from: &[u8],
        to: &[u8],
        rev: bool,
        mut visit: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        let range = overlay
            .writes
            .range::<[u8], _>((Bound::Included(from), Bound::Excluded(to)));
        // The overlay's keys, in visiting order, that the scan has not passed yet.
        let mut pending: Box<dyn Iterator<Item = _>> = if rev {
            Box::new(range.rev())
        } else {
            Box::new(range)
        };
        let mut next = pending.next();
        let before = |a: &[u8], b: &[u8]| if rev { a > b } else { a < b };
        let mut stopped = false;
        let mut merged = |k: &[u8], v: &[u8]| {
            while let Some((ok, ov)) = next.filter(|(ok, _)| before(ok.as_slice(), k)) {
                next = pending.next();
                if let Some(ov) = ov {
                    if !visit(ok, ov) {
                        stopped = true;
                        return false;
                    }
                }
            }
            let value = match next {
                Some((ok, ov)) if ok.as_slice() == k => {
                    next = pending.next();
                    ov.as_deref()
                }
                _ if overlay.cleared(k) => None,
                _ => Some(v),
            };
            if let Some(value) = value {
                if !visit(k, value) {
                    stopped = true;
                    return false;
                }
            }
            true
        };
        if rev {
            self.scan_rev(from, to, &mut merged)?;
        } else {
            self.scan(from, to, &mut merged)?;
        }
        if stopped {
            return Ok(());
        }
        while let Some((ok, ov)) = next {
            next = pending.next();
            if let Some(ov) = ov {
                if !visit(ok, ov) {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Number of records in `[from, to)` (tests and DEBUG).
    pub fn count(&self, from: &[u8], to: &[u8]) -> Result<u64, StorageError> {
        let mut n = 0;
        self.scan(from, to, |_, _| {
            n += 1;
            true
        })?;
        Ok(n)
    }

    /// Writes the WAL to the OS and, with `sync`, to disk.
    pub fn flush_wal(&self, sync: bool) -> Result<(), StorageError> {
        Ok(self.db.flush_wal(sync)?)
    }

    /// Flushes memtables to SST files (used at shutdown for a fast restart).
    pub fn flush(&self) -> Result<(), StorageError> {
        Ok(self.db.flush()?)
    }

    /// Compacts the whole key space (tests and operators).
    pub fn compact_all(&self) {
        self.db.compact_range::<&[u8], &[u8]>(None, None);
    }

    /// Compacts the keys in `[from, to)`.
    pub fn compact_range(&self, from: &[u8], to: &[u8]) {
        self.db.compact_range(Some(from), Some(to));
    }

    /// Refreshes `stats` from RocksDB's properties (called by the storage side's sampler,
    /// so that INFO never has to call RocksDB from a network thread).
    pub fn sample(&self, stats: &EngineStats) {
        let int = |name: &str| self.property(name).unwrap_or(0);
        let set = |a: &AtomicU64, v: u64| a.store(v, Ordering::Relaxed);
        set(
            &stats.memtable_bytes,
            int("rocksdb.cur-size-all-mem-tables"),
        );
        set(
            &stats.memtable_entries,
            int("rocksdb.num-entries-active-mem-table"),
        );
        set(&stats.l0_files, int("rocksdb.num-files-at-level0"));
        set(
            &stats.pending_compaction_bytes,
            int("rocksdb.estimate-pending-compaction-bytes"),
        );
        set(&stats.running_flushes, int("rocksdb.num-running-flushes"));
        set(
            &stats.running_compactions,
            int("rocksdb.num-running-compactions"),
        );
        set(&stats.write_stopped, int("rocksdb.is-write-stopped"));
        set(
            &stats.delayed_write_rate,
            int("rocksdb.actual-delayed-write-rate"),
        );
        set(&stats.block_cache_bytes, int("rocksdb.block-cache-usage"));
        set(&stats.live_sst_bytes, int("rocksdb.live-sst-files-size"));
        set(
            &stats.bytes_written,
            self.bytes_written.load(Ordering::Relaxed),
        );
        if let Ok(Some(text)) = self.db.property_value("rocksdb.stats") {
            let parsed = StatsText::parse(&text);
            set(&stats.stall_micros, parsed.stall_micros);
            set(&stats.stall_delays, parsed.delays);
            set(&stats.stall_stops, parsed.stops);
            set(&stats.compactions, parsed.compactions);
            set(&stats.flushed_bytes, parsed.flushed_bytes);
        }
    }

    /// Writes a consistent copy of the database to `path` (a new directory): hard links
    /// to the SST files plus what the memtables hold. `path` can be served as `--dir`.
    pub fn checkpoint(&self, path: &Path) -> Result<(), StorageError> {
        let cp = rocksdb::checkpoint::Checkpoint::new(&self.db)?;
        cp.create_checkpoint(path)?;
        Ok(())
    }

    /// Changes mutable options of the running database (RocksDB's SetOptions).
    pub fn set_options(&self, options: &[(String, String)]) -> Result<(), StorageError> {
        let pairs: Vec<(&str, &str)> = options
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        Ok(self.db.set_options(&pairs)?)
    }

    /// An integer RocksDB property such as `rocksdb.num-running-compactions`.
    pub fn property(&self, name: &str) -> Option<u64> {
        self.db.property_int_value(name).ok().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::batch::OpKind;
    use super::{Batch, StatsText};

    /// The batch's write plan as (kind, key, value) triples.
    fn planned(mut b: Batch) -> Vec<(OpKind, Vec<u8>, Vec<u8>)> {
        b.sort();
        b.to_write()
            .map(|op| {
                (
                    op.kind,
                    op.key(&b.data).to_vec(),
                    op.value(&b.data).to_vec(),
                )
            })
            .collect()
    }

    #[test]
    fn point_writes_are_sorted_and_the_last_write_of_a_key_wins() {
        let mut b = Batch::default();
        b.put(b"m", b"1");
        b.put(b"c", b"2");
        b.delete(b"m");
        b.put(b"a", b"3");
        b.put(b"c", b"4");
        b.put(b"m", b"5");
        assert_eq!(b.len(), 6, "len counts the operations issued");
        assert_eq!(
            planned(b),
            vec![
                (OpKind::Put, b"a".to_vec(), b"3".to_vec()),
                (OpKind::Put, b"c".to_vec(), b"4".to_vec()),
                (OpKind::Put, b"m".to_vec(), b"5".to_vec()),
            ]
        );
        let mut b = Batch::default();
        b.put(b"k", b"1");
        b.delete(b"k");
        assert_eq!(planned(b), vec![(OpKind::Delete, b"k".to_vec(), vec![])]);
    }

    #[test]
    fn a_cleared_batch_starts_over() {
        let mut b = Batch::default();
        b.delete_range(b"a", b"c");
        b.put(b"b", b"1");
        b.clear();
        assert!(b.is_empty());
        b.put(b"z", b"2");
        b.put(b"y", b"3");
        assert_eq!(
            planned(b),
            vec![
                (OpKind::Put, b"y".to_vec(), b"3".to_vec()),
                (OpKind::Put, b"z".to_vec(), b"2".to_vec()),
            ],
            "sorted again: the range delete's order barrier is gone"
        );
        let mut big = Batch::default();
        big.put(b"k", &vec![0; super::batch::BATCH_KEEP_BYTES + 1]);
        big.clear();
        assert_eq!(big.data.capacity(), 0, "a large buffer is let go");
    }

    #[test]
    fn range_deletes_and_what_precedes_them_keep_their_order() {
        let mut b = Batch::default();
        b.put(b"z", b"1");
        b.delete_range(b"a", b"y");
        b.put(b"q", b"2");
        b.put(b"b", b"3");
        assert_eq!(
            planned(b),
            vec![
                (OpKind::Put, b"z".to_vec(), b"1".to_vec()),
                (OpKind::DeleteRange, b"a".to_vec(), b"y".to_vec()),
                (OpKind::Put, b"b".to_vec(), b"3".to_vec()),
                (OpKind::Put, b"q".to_vec(), b"2".to_vec()),
            ]
        );
        assert!(planned(Batch::default()).is_empty());
    }

    #[test]
    fn compaction_drops_the_records_of_dead_collections_only() {
        use super::super::encoding::{self, CollectionMeta, Space, ValueType};
        use super::{Engine, EngineOptions};

        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path(), &EngineOptions::default()).unwrap();
        let meta_key = |k: &[u8]| {
            let mut v = Vec::new();
            encoding::encode_key(&mut v, 0, k);
            v
        };
        let record = |k: &[u8], version: u64, i: u32| {
            let mut v = Vec::new();
            encoding::encode_member_prefix(&mut v, Space::Member, 0, k, version);
            v.extend_from_slice(&i.to_be_bytes());
            v
        };
        let meta = |version: u64, expire_at: u64| {
            let m = CollectionMeta {
                version,
                size: 100,
                head: encoding::LIST_ORIGIN,
                tail: encoding::LIST_ORIGIN,
            };
            encoding::encode_value(ValueType::Hash, expire_at, &m.encode(ValueType::Hash))
        };
        // "live" is at version 2 (version 1 was replaced), "gone" has no meta record,
        // "old" expired: the filter meets four runs of records, one per collection.
        let mut b = Batch::default();
        b.put(&meta_key(b"live"), &meta(2, 0));
        b.put(&meta_key(b"old"), &meta(9, 1));
        for i in 0..100 {
            b.put(&record(b"live", 1, i), b"replaced");
            b.put(&record(b"live", 2, i), b"current");
            b.put(&record(b"gone", 5, i), b"deleted");
            b.put(&record(b"old", 9, i), b"expired");
        }
        engine.write(&mut b, false).unwrap();
        engine.flush().unwrap();
        engine.compact_all();

        let mut left = std::collections::BTreeMap::new();
        engine
            .scan(&[0x40], &[0xff], |_, v| {
                *left.entry(v.to_vec()).or_insert(0) += 1;
                true
            })
            .unwrap();
        assert_eq!(
            left.into_iter().collect::<Vec<_>>(),
            vec![(b"current".to_vec(), 100)]
        );
        assert!(engine.get(&meta_key(b"live")).unwrap().is_some());
    }

    #[test]
    fn parses_the_stats_text() {
        let text = "\
Cumulative stall: 00:01:2.500 H:M:S, 3.1 percent
Level    Files   Size     Score Read(GB)  Rn(GB) Rnp1(GB) Write(GB) WPreComp(GB) Wnew(GB) Moved(GB) W-Amp Rd(MB/s) Wr(MB/s) Comp(sec) CompMergeCPU(sec) Comp(cnt) Avg(sec) KeyIn KeyDrop Rblob(GB) Wblob(GB)
 Sum      3/0      1.50 MB   0.0      0.0     0.0      0.0       0.1       0.1      0.0       0.0   1.0      0.0      9.1      0.01              0.01        17    0.001       0      0       0.0       0.0
Flush(GB): cumulative 0.500, interval 0.000
Write Stall (count): cf-l0-file-count-limit-delays-with-ongoing-compaction: 0, l0-file-count-limit-delays: 4, total-delays: 5, total-stops: 2
";
        let s = StatsText::parse(text);
        assert_eq!(s.stall_micros, 62_500_000);
        assert_eq!(s.compactions, 17);
        assert_eq!((s.delays, s.stops), (5, 2));
        assert_eq!(s.flushed_bytes, 536_870_912);
    }
}
