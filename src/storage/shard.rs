//! One shard: the state that executes commands for the keys it owns, and group commit.
//!
//! A shard runs a *group* of requests at a time: [`Shard::execute`] runs each request
//! in order against a [`Tx`], collecting writes in one [`Batch`] and keeping an
//! [`ValueCache`] of them so a later read in the same group sees an earlier write; then
//! [`Shard::commit`] writes the batch to RocksDB once. Replies are released only after
//! the commit, so an acknowledged write is always in RocksDB (and, with
//! `appendfsync always`, on disk).
//!
//! Hot path: executing a request costs one key encoding into a reused buffer, one
//! cache lookup and, on a miss, one RocksDB point read. No lock, no logging.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, UNIX_EPOCH};

use bytes::Bytes;

use super::blocked::{Blocked, Served, Waiter, Woken};
use super::cache::ValueCache;
use super::cursors::Cursors;
use super::encoding::{self, CollectionMeta, Space, Value, ValueType};
use super::engine::{Batch, Engine, StorageError};
use super::notify::{KeyEvent, Notes, Notifier};
use super::watch::{WatchFlag, Watches};
use crate::config::{notify, Live};
use crate::error::text;
use crate::error::CommandError;
use crate::protocol::Reply;

/// A storage-side command handler: runs on the owning shard, args\[0\] is the name.
pub type ExecFn = fn(&mut Tx<'_>, &[Bytes]) -> Result<Reply, CommandError>;

/// A closure that runs alone on its shard, within the group, with writes that can be
/// dropped ([`Shard::run_isolated`]): a script on one shard.
pub type IsolatedFn = Arc<dyn Fn(&mut Tx<'_>) -> Result<Reply, CommandError> + Send + Sync>;

/// One command on its way to a shard.
pub struct ShardReq {
    /// The database selected when the command was sent.
    pub db: u8,
    /// What to run (unless `isolated` is set).
    pub exec: ExecFn,
    /// Runs instead of `exec`, isolated: a script. An error drops its writes.
    pub isolated: Option<IsolatedFn>,
    /// The arguments, args\[0\] being the command name.
    pub args: Vec<Bytes>,
    /// The id of the client that sent it (0: the server itself), for SLOWLOG.
    pub client: u64,
}

/// Counters a shard publishes for INFO: written by the shard with relaxed atomics,
/// read by anyone, never locked.
#[derive(Default)]
pub struct ShardCounters {
    /// Groups committed.
    pub groups: AtomicU64,
    /// Requests executed.
    pub requests: AtomicU64,
    /// Largest group.
    pub max_group: AtomicU64,
    /// Failed commits.
    pub errors: AtomicU64,
    /// Keys removed because they expired (on access or by the sweeper).
    pub expired: AtomicU64,
    /// Batches whose replies did not come within storage-timeout-ms (counted by the
    /// network side).
    pub timeouts: AtomicU64,
    /// Times the shard task panicked and was restarted.
    pub restarts: AtomicU64,
    /// Sends that found the shard's channel full and had to wait.
    pub backpressure: AtomicU64,
    /// Most messages seen waiting in the shard's channel.
    pub queue_peak: AtomicU64,
    /// Execution time of each request, µs (locked once per group by the shard).
    pub op_latency: std::sync::Mutex<Option<hdrhistogram::Histogram<u64>>>,
}

impl ShardCounters {
    /// Adds execution times (µs) of a group's requests to the shard's histogram.
    pub(super) fn record_ops(&self, us: &[u64]) {
        if us.is_empty() {
            return;
        }
        let mut h = self.op_latency.lock().unwrap_or_else(|e| e.into_inner());
        let h = h.get_or_insert_with(|| {
            hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("valid bounds")
        });
        for &v in us {
            h.saturating_record(v.max(1));
        }
    }

    pub(super) fn record_group(&self, size: u64, failed: bool) {
        self.groups.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(size, Ordering::Relaxed);
        self.max_group.fetch_max(size, Ordering::Relaxed);
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The execution state of one shard.
pub struct Shard {
    id: usize,
    shards: usize,
    engine: Arc<Engine>,
    live: Arc<Live>,
    batch: Batch,
    cache: ValueCache,
    scratch: Vec<u8>,
    sweep_cursor: Vec<Option<Vec<u8>>>,
    failed: Option<StorageError>,
    counters: Arc<ShardCounters>,
    last_version: u64,
    fail_writes: u32,
    committed_ops: u64,
    pending_ranges: Vec<(Vec<u8>, Vec<u8>)>,
    /// Execution times of the current group's requests, µs.
    op_times: Vec<u64>,
    /// [`Shard::writes`] when the current hold began.
    hold_mark: u64,
    /// Inside a hold or a transaction: nothing may be written before the end, so
    /// range reads merge the batch over RocksDB instead of committing early.
    atomic: bool,
    /// Who watches which keys of this shard (WATCH).
    watches: Watches,
    /// How many times the shard had been restarted when this state was made (a
    /// restart loses the watches, so a watch made before it is void).
    generation: u64,
    /// Clients blocked on this shard's keys (BLPOP ...).
    blocked: Blocked,
    /// Where keyspace events and touched keys go after a commit.
    notifier: Arc<Notifier>,
    /// Keyspace events and touched keys of writes not yet committed.
    notes: Notes,
    /// The client whose request runs now (0: the server), for touched keys.
    client: u64,
    /// The rank of the hold step that runs now ([`super::Held::set_rank`]).
    rank: u64,
    /// Where unfinished HSCAN / SSCAN / ZSCAN iterations resume.
    cursors: Cursors,
    /// When keys were last used (OBJECT IDLETIME).
    access: super::access::AccessClock,
}

impl Shard {
    /// A shard `id` of `shards` over `engine`.
    pub fn new(
        id: usize,
        shards: usize,
        engine: Arc<Engine>,
        live: Arc<Live>,
        counters: Arc<ShardCounters>,
        cache_budget: usize,
        notifier: Arc<Notifier>,
    ) -> Shard {
        let dbs = live.databases as usize;
        let generation = counters.restarts.load(Ordering::Relaxed);
        Shard {
            id,
            shards,
            engine,
            live,
            batch: Batch::default(),
            cache: ValueCache::new(cache_budget),
            access: super::access::AccessClock::new((crate::storage::now_ms() / 1000) as u32),
            scratch: Vec::with_capacity(64),
            sweep_cursor: vec![None; dbs],
            failed: None,
            counters,
            last_version: 0,
            fail_writes: 0,
            committed_ops: 0,
            pending_ranges: Vec::new(),
            op_times: Vec::new(),
            hold_mark: 0,
            atomic: false,
            watches: Watches::default(),
            generation,
            blocked: Blocked::default(),
            notifier,
            notes: Notes::default(),
            client: 0,
            rank: 0,
            cursors: Cursors::default(),
        }
    }

    /// This shard's index.
    pub fn id(&self) -> usize {
        self.id
    }

    /// Runs one request of the current group and returns its reply. Whether it wrote
    /// is returned too, so a failed commit can turn exactly those replies into errors.
    pub fn execute(&mut self, req: &ShardReq, now_ms: u64) -> (Reply, bool) {
        let (reply, wrote, _) = self.execute_from(req, now_ms, Instant::now());
        (reply, wrote)
    }

    /// [`Shard::execute`] for a request that started at `started` (when the one before
    /// it ended, so that a group reads the clock once per request); also returns when
    /// it ended.
    pub fn execute_from(
        &mut self,
        req: &ShardReq,
        now_ms: u64,
        started: Instant,
    ) -> (Reply, bool, Instant) {
        let before = self.writes();
        self.client = req.client;
        let result = match &req.isolated {
            Some(f) => self.run_isolated(req.db, now_ms, |tx| f(tx)),
            None => {
                let mut tx = Tx {
                    shard: self,
                    db: req.db,
                    now_ms,
                };
                (req.exec)(&mut tx, &req.args)
            }
        };
        let reply = result.unwrap_or_else(Reply::Error);
        let ended = Instant::now();
        let usec = ended.saturating_duration_since(started).as_micros() as u64;
        self.op_times.push(usec);
        let (threshold, max_len) = self.live.slowlog();
        if threshold >= 0 {
            crate::metrics::slowlog_maybe(threshold, max_len, usec, &req.args, req.client);
        }
        (reply, self.writes() != before, ended)
    }

    /// Marks `key` as written: WATCH flags, and CLIENT TRACKING if anyone tracks.
    fn touch(&mut self, db: u8, key: &[u8]) {
        self.watches.touch(db, key);
        if self.notifier.tracking() {
            self.notes.touch(db, key, self.client);
        }
    }

    /// Records keyspace event `event` of class `class` on `key`, if
    /// `notify-keyspace-events` asks for that class.
    fn event(&mut self, db: u8, class: u32, event: &'static str, key: &[u8]) {
        let flags = self.live.notify_flags();
        if flags & class != 0 && flags & (notify::KEYSPACE | notify::KEYEVENT) != 0 {
            self.notes.events.push(KeyEvent {
                rank: self.rank,
                seq: self.notifier.next_seq(),
                db,
                event,
                key: Bytes::copy_from_slice(key),
            });
        }
    }

    /// Sends the committed writes' events and touched keys on (or drops them if the
    /// write failed).
    fn settle_notes(&mut self, committed: bool) {
        if committed {
            self.notes.deliver(&self.notifier);
        } else {
            self.notes.clear();
        }
    }

    /// The committed group's events and touched keys, for the sync stage to publish
    /// once the WAL is synced.
    pub(crate) fn take_notes(&mut self) -> Notes {
        std::mem::take(&mut self.notes)
    }

    /// Write operations issued since the shard started: committed ones plus the batch.
    /// It only grows, so comparing it before and after a command says whether the
    /// command wrote, even if an early commit emptied the batch in between.
    fn writes(&self) -> u64 {
        self.committed_ops + self.batch.len() as u64
    }

    /// Writes the batch, unless an injected failure is due.
    fn write_batch(&mut self, sync: bool) -> Result<(), StorageError> {
        if let Some(e) = self.injected_failure() {
            return Err(e);
        }
        self.engine.write(&mut self.batch, sync)
    }

    /// Consumes one failure that DEBUG STORAGE-ERROR asked for, if any is due.
    fn injected_failure(&mut self) -> Option<StorageError> {
        (self.fail_writes > 0).then(|| {
            self.fail_writes -= 1;
            StorageError("injected write failure (DEBUG STORAGE-ERROR)".into())
        })
    }

    /// Empties the batch once it is written (or given up), counting its operations;
    /// its buffers stay for the next group.
    fn retire_batch(&mut self) {
        self.committed_ops += self.batch.len() as u64;
        self.pending_ranges.clear();
        self.batch.clear();
    }

    /// Commits the group's batch. On error the group's writes are gone and the error
    /// is returned for the caller to put in the replies of the writing commands.
    pub fn commit(&mut self) -> Result<(), StorageError> {
        self.commit_with(self.live.fsync_always())
    }

    /// Like [`Shard::commit`] but never syncs the WAL: the caller syncs it before it
    /// releases the replies (the dual runtime's sync stage).
    pub fn commit_unsynced(&mut self) -> Result<(), StorageError> {
        self.commit_with(false)
    }

    /// Whether groups leave their WAL sync to the sync stage: `appendfsync always`
    /// with `--always-sync stage`.
    pub fn sync_in_stage(&self) -> bool {
        self.live.fsync_always() && self.live.sync_stage
    }

    fn commit_with(&mut self, sync: bool) -> Result<(), StorageError> {
        self.counters.record_ops(&self.op_times);
        self.op_times.clear();
        // The waiters this group fed are served in the group's own write, so a wake-up
        // costs no second write; not when the sync stage releases the group's replies
        // (then a separate synced write serves them, after the commit).
        let staged = !sync && self.live.fsync_always();
        let woken = if self.blocked.any_ready() && !staged && !self.atomic && self.failed.is_none()
        {
            self.serve_ready()
        } else {
            Vec::new()
        };
        let result = match self.failed.take() {
            // An early commit of this group failed: the rest of the group is not
            // written either, so every write of the group fails together.
            Some(e) => Err(e),
            None if self.batch.is_empty() => Ok(()),
            None => self.write_batch(sync),
        };
        self.retire_batch();
        if result.is_err() {
            // The cache may hold writes that never reached RocksDB.
            self.cache.clear();
            self.blocked.clear_ready();
        } else {
            self.cache.evict();
        }
        // Under the sync stage the events wait for the WAL sync, as the replies do
        // (the stage takes them, `take_notes`): nobody hears of a write that a crash
        // could still undo.
        if (!self.atomic && !staged) || result.is_err() {
            self.settle_notes(result.is_ok());
        }
        Self::deliver_woken(woken, result.as_ref().err());
        if result.is_ok() {
            self.wake_blocked();
        }
        result
    }

    /// Serves the clients blocked on keys that committed writes made ready (see
    /// [`super::blocked`]) in a write of their own: each ready key's waiters in the
    /// order they blocked, then the serves' writes as one batch, then their replies.
    /// Not inside a hold or a transaction: those call it when they end.
    fn wake_blocked(&mut self) {
        if !self.blocked.any_ready() || self.atomic {
            return;
        }
        let woken = self.serve_ready();
        let result = if self.batch.is_empty() {
            Ok(())
        } else {
            self.write_batch(self.live.fsync_always())
        };
        self.retire_batch();
        match &result {
            Ok(()) => self.cache.evict(),
            Err(e) => {
                self.cache.clear();
                tracing::error!(target: "shardis::storage", shard = self.id, "commit failed: {e}");
            }
        }
        self.settle_notes(result.is_ok());
        Self::deliver_woken(woken, result.as_ref().err());
    }

    /// Runs the waiters of every ready key, chains included; their writes join the
    /// batch. Returns what each served waiter is owed, to deliver once it is written.
    fn serve_ready(&mut self) -> Vec<(Arc<Waiter>, Woken)> {
        let now_ms = crate::clock::now_ms();
        let mut woken: Vec<(Arc<Waiter>, Woken)> = Vec::new();
        while let Some((db, key)) = self.blocked.next_ready() {
            while let Some(w) = self.blocked.first(db, &key) {
                let serve = w.serve;
                let args = w.args.clone();
                let mut tx = Tx {
                    shard: self,
                    db,
                    now_ms,
                };
                let result = serve(&mut tx, &key, &args, &mut || w.claim());
                let claimed = !w.waiting();
                let outcome = match result {
                    Ok(Served::Reply(r)) => Woken::Reply(r),
                    Ok(Served::Retry) => Woken::Retry,
                    // Claimed and failed: the error is its reply.
                    Err(e) if claimed => Woken::Reply(Reply::Error(e)),
                    // Lost to another shard: the next waiter may take it.
                    Ok(Served::Not) if claimed => {
                        self.blocked.pop_first(db, &key);
                        continue;
                    }
                    // The key has nothing (more) for its waiters.
                    Ok(Served::Not) | Err(_) => break,
                };
                self.blocked.pop_first(db, &key);
                let retry = matches!(outcome, Woken::Retry);
                woken.push((w, outcome));
                if retry {
                    // Its move (holding both shards) takes the data: the waiters behind
                    // it keep their turn for the next write.
                    break;
                }
            }
        }
        woken
    }

    /// Sends served waiters their replies, or the commit's error if their writes failed.
    fn deliver_woken(mut woken: Vec<(Arc<Waiter>, Woken)>, failed: Option<&StorageError>) {
        if let Some(e) = failed {
            for (_, outcome) in &mut woken {
                if let Woken::Reply(r) = outcome {
                    *r = CommandError::commit_failed(&e.to_string()).into();
                }
            }
        }
        Blocked::deliver(woken);
    }

    /// Runs `f` against this shard in database `db` at time `now_ms`: one step of a
    /// hold (see [`super::hold`]). Its writes join the batch; nothing is committed.
    pub(crate) fn run_step<T>(
        &mut self,
        db: u8,
        now_ms: u64,
        f: impl FnOnce(&mut Tx<'_>) -> T,
    ) -> T {
        let mut tx = Tx {
            shard: self,
            db,
            now_ms,
        };
        f(&mut tx)
    }

    /// Hands the hold's writes over to the shard that commits the hold for every
    /// shard; fails if an early commit of the hold already failed.
    /// Its keyspace events and touched keys go along, for the committing shard to
    /// publish in the order the steps made them.
    pub(crate) fn take_batch(&mut self) -> Result<(Batch, Notes), StorageError> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        if !self.batch.is_empty() {
            // This shard's part of the one write fails, so the whole write does.
            if let Some(e) = self.injected_failure() {
                return Err(e);
            }
        }
        self.committed_ops += self.batch.len() as u64;
        let notes = std::mem::take(&mut self.notes);
        Ok((std::mem::take(&mut self.batch), notes))
    }

    /// Commits this shard's writes together with `others` (taken from the other held
    /// shards by [`Shard::take_batch`]) as one RocksDB write.
    pub(crate) fn commit_with_others(
        &mut self,
        taken: Vec<(Batch, Notes)>,
    ) -> Result<(), StorageError> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        let mut others = Vec::with_capacity(taken.len());
        for (batch, notes) in taken {
            others.push(batch);
            self.notes.absorb(notes);
        }
        let sync = self.live.fsync_always();
        let result = if others.iter().all(Batch::is_empty) {
            if self.batch.is_empty() {
                Ok(())
            } else {
                self.write_batch(sync)
            }
        } else if let Some(e) = self.injected_failure() {
            Err(e)
        } else {
            others.push(std::mem::take(&mut self.batch));
            let result = self.engine.write_all(&mut others, sync);
            self.batch = others.pop().unwrap_or_default();
            result
        };
        self.retire_batch();
        // Published here, before the coordinator hears that the hold committed (the
        // hold's end reaches the shards later), so they precede its replies.
        self.settle_notes(result.is_ok());
        result
    }

    /// Starts a hold: remembers how much the shard had written, so that
    /// [`Shard::end_hold`] knows whether the hold wrote anything.
    pub(crate) fn begin_hold(&mut self) {
        self.rank = 0;
        self.hold_mark = self.writes();
        self.atomic = true;
    }

    /// Ends a hold: what it wrote is committed (`committed`) or dropped. Either way
    /// the batch is empty afterwards, and a dropped hold leaves no trace in the cache
    /// (the cache is the overlay of uncommitted writes).
    pub(crate) fn end_hold(&mut self, committed: bool) {
        self.atomic = false;
        let wrote = self.writes() != self.hold_mark || self.failed.is_some();
        self.failed = None;
        self.retire_batch();
        if wrote && !committed {
            self.cache.clear();
            self.blocked.clear_ready();
        } else {
            self.cache.evict();
        }
        self.settle_notes(committed);
        self.hold_mark = self.writes();
        self.wake_blocked();
    }

    /// Runs `f` as one atomic unit in queue order (a transaction on one shard): its
    /// range reads see its own writes without writing them early, and its writes are
    /// committed as one batch before the result is returned. If `f` fails, or the
    /// commit does, nothing of it is written.
    pub(crate) fn run_atomic<T>(
        &mut self,
        db: u8,
        now_ms: u64,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, CommandError>,
    ) -> Result<T, CommandError> {
        // The group before this call has been committed: the batch is this call's.
        self.begin_hold();
        let result = match self.run_step(db, now_ms, f) {
            Ok(v) => self.commit().map(|()| v).map_err(CommandError::from),
            Err(e) => Err(e),
        };
        self.end_hold(result.is_ok());
        result
    }

    /// Runs `f` within the current group as if alone, with writes that can be
    /// dropped: `f` runs in atomic mode (range reads merge the batch instead of
    /// writing it early, so nothing of `f` is written before the group is). If `f`
    /// succeeds its writes commit with the group. If it fails they are cut from the
    /// batch; the group's earlier writes are then written (between two commands, so
    /// each stays whole) and the cache's overlay is dropped, as all that is left of
    /// it is in RocksDB.
    pub(crate) fn run_isolated<T>(
        &mut self,
        db: u8,
        now_ms: u64,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, CommandError>,
    ) -> Result<T, CommandError> {
        let mark = self.batch.mark();
        let notes = self.notes.mark();
        let (writes, ranges) = (self.writes(), self.pending_ranges.len());
        let was_atomic = self.atomic;
        self.atomic = true;
        let result = self.run_step(db, now_ms, f);
        self.atomic = was_atomic;
        if result.is_err() {
            self.notes.truncate(notes);
        }
        if result.is_err() && self.writes() != writes && self.failed.is_none() {
            let dropped = self.writes() - writes;
            self.batch.truncate(mark);
            self.pending_ranges.truncate(ranges);
            // `writes()` only grows: the dropped writes count as issued.
            self.committed_ops += dropped;
            self.commit_early();
            self.cache.clear();
        }
        result
    }

    /// Makes the next `n` RocksDB writes fail (DEBUG STORAGE-ERROR).
    pub fn fail_next_writes(&mut self, n: u32) {
        self.fail_writes = n;
    }

    /// Ranks the events of the hold step about to run.
    pub(crate) fn set_rank(&mut self, rank: u64) {
        self.rank = rank;
    }

    /// Writes what the group has so far, so a range read sees it.
    fn commit_early(&mut self) {
        if self.batch.is_empty() || self.failed.is_some() || self.atomic {
            return;
        }
        let result = self.write_batch(self.live.fsync_always());
        self.retire_batch();
        if let Err(e) = result {
            self.failed = Some(e);
            self.cache.clear();
        }
    }

    /// Whether `key` lies in a range deleted earlier in this (uncommitted) group.
    fn in_deleted_range(&self, key: &[u8]) -> bool {
        self.pending_ranges
            .iter()
            .any(|(a, b)| key >= a.as_slice() && key < b.as_slice())
    }

    /// Deletes `[start, end)` as part of the group. Until the group commits, point
    /// reads of keys in the range answer "absent" and range reads commit first.
    ///
    /// The cache cannot tell which of its entries fall in the range, so it is emptied;
    /// since it is also the overlay of the group's uncommitted writes, those are
    /// committed first (they belong to earlier, complete commands, or to earlier range
    /// deletes of this one, which need no overlay).
    fn delete_range(&mut self, start: Vec<u8>, end: Vec<u8>) {
        if self.atomic {
            // Nothing may be written early: the cache stays the overlay, with the
            // range's keys marked absent.
            self.batch.delete_range(&start, &end);
            self.cache.absent_range(&start, &end);
            self.pending_ranges.push((start, end));
            return;
        }
        if self.batch.len() > self.pending_ranges.len() {
            self.commit_early();
        }
        self.batch.delete_range(&start, &end);
        self.cache.clear();
        self.pending_ranges.push((start, end));
    }

    /// Visits the records in `[from, to)` in key order (or reverse order with `rev`)
    /// as the group sees them. Outside a hold the group's writes so far are written
    /// first; inside one they are merged over RocksDB's records.
    fn range_read(
        &mut self,
        from: &[u8],
        to: &[u8],
        rev: bool,
        visit: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        if self.atomic && !self.batch.is_empty() {
            let overlay = self.batch.overlay(from, to);
            return self.engine.scan_over(&overlay, from, to, rev, visit);
        }
        self.commit_early();
        if rev {
            self.engine.scan_rev(from, to, visit)
        } else {
            self.engine.scan(from, to, visit)
        }
    }

    /// Reads `key` through the cache (the group's overlay) and pending range deletes.
    fn read(&mut self, key: &[u8]) -> Result<Option<Bytes>, StorageError> {
        if let Some(v) = self.cache.get(key) {
            return Ok(v.clone());
        }
        let v = if self.in_deleted_range(key) {
            None
        } else {
            self.engine.get(key)?
        };
        self.cache.insert(key.to_vec(), v.clone());
        Ok(v)
    }

    /// Removes up to `budget` expired keys from this shard's ranges, resuming where the
    /// last call stopped; the deletes join the current group.
    pub fn sweep(&mut self, now_ms: u64, budget: usize) {
        for db in 0..self.sweep_cursor.len() {
            let (start, end) = encoding::shard_range(db as u8, self.id, self.shards);
            let from = self.sweep_cursor[db].take().unwrap_or(start);
            let mut seen = 0;
            let mut next = None;
            let mut dead = Vec::new();
            let _ = self.engine.scan(&from, &end, |k, v| {
                if seen == budget {
                    next = Some(k.to_vec());
                    return false;
                }
                seen += 1;
                if let Some((_, at)) = encoding::decode_header(v) {
                    if at != 0 && at <= now_ms {
                        dead.push(k.to_vec());
                    }
                }
                true
            });
            for k in dead {
                // RocksDB's view may be older than the group's: decide on the current value.
                let current = self.read(&k).ok().flatten();
                let still_expired = current
                    .as_deref()
                    .and_then(encoding::decode_header)
                    .is_some_and(|(_, at)| at != 0 && at <= now_ms);
                if still_expired {
                    if let Some((db, _, user_key)) = encoding::decode_key(&k) {
                        let user_key = user_key.to_vec();
                        self.client = 0;
                        self.touch(db, &user_key);
                        self.event(db, notify::EXPIRED, "expired", &user_key);
                    }
                    self.batch.delete(&k);
                    self.cache.insert(k, None);
                    self.counters.expired.fetch_add(1, Ordering::Relaxed);
                }
            }
            self.sweep_cursor[db] = next;
        }
    }
}

/// A key's whole stored value, as [`Tx::export`] reads it and [`Tx::import`] writes it.
#[derive(Debug, Clone)]
pub struct KeyImage {
    /// The value's type.
    pub kind: ValueType,
    /// Expiry, Unix ms (0: none).
    pub expire_at: u64,
    /// The string, or the collection's meta payload.
    pub payload: Bytes,
    /// A collection's member and score records: `(space, suffix, value)`.
    pub records: Vec<(Space, Bytes, Bytes)>,
}

/// Which member records of a collection to visit: suffixes in `[from, to)` (`None`:
/// unbounded), in suffix order, or in reverse order with `rev`.
#[derive(Debug, Clone, Copy)]
pub struct Span<'a> {
    /// Smallest suffix visited.
    pub from: Option<&'a [u8]>,
    /// Suffixes from here on are not visited.
    pub to: Option<&'a [u8]>,
    /// Visit from the end.
    pub rev: bool,
}

impl Span<'_> {
    /// Every record, in order.
    pub const ALL: Span<'static> = Span {
        from: None,
        to: None,
        rev: false,
    };
}

/// What a command handler sees of its shard: reads that see the group's earlier
/// writes, and writes that join the group's batch.
pub struct Tx<'a> {
    shard: &'a mut Shard,
    /// The selected database.
    pub db: u8,
    /// The time this group started, Unix ms; expiry is judged against it.
    pub now_ms: u64,
}

impl Tx<'_> {
    /// The live configuration (limits such as `proto-max-bulk-len`).
    pub fn live(&self) -> &Live {
        &self.shard.live
    }

    /// Reads a live (not expired) value. An expired one is deleted on the way.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Value>, CommandError> {
        self.get_in(self.db, key)
    }

    /// [`Tx::get`] in another database of the same shard.
    pub fn get_in(&mut self, db: u8, key: &[u8]) -> Result<Option<Value>, CommandError> {
        self.read_in(db, key, true)
    }

    /// [`Tx::get`] that does not count as a use of the key (OBJECT, as Redis's
    /// `LOOKUP_NOTOUCH`).
    pub fn get_untouched(&mut self, key: &[u8]) -> Result<Option<Value>, CommandError> {
        self.read_in(self.db, key, false)
    }

    /// Seconds since `key` was last read or written (see [`super::access`]).
    pub fn idle_seconds(&self, key: &[u8]) -> u64 {
        let now = (self.now_ms / 1000) as u32;
        self.shard.access.idle(encoding::key_hash(key), now)
    }

    fn read_in(&mut self, db: u8, key: &[u8], touch: bool) -> Result<Option<Value>, CommandError> {
        let shard = &mut *self.shard;
        encoding::encode_key(&mut shard.scratch, db, key);
        let key_bytes = std::mem::take(&mut shard.scratch);
        let raw = shard.read(&key_bytes);
        shard.scratch = key_bytes;
        let raw = raw?;
        let Some(raw) = raw else { return Ok(None) };
        let Some(value) = encoding::decode_value(raw) else {
            return Err(CommandError::other(text::CORRUPT_VALUE));
        };
        if value.expired(self.now_ms) {
            shard.touch(db, key);
            shard.event(db, notify::EXPIRED, "expired", key);
            let k = shard.scratch.clone();
            shard.counters.expired.fetch_add(1, Ordering::Relaxed);
            shard.batch.delete(&k);
            shard.cache.insert(k, None);
            return Ok(None);
        }
        if touch {
            // The encoded key (still in `scratch`) carries the hash.
            if let Some(h) = shard.scratch.get(1..9) {
                let hash = u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
                shard.access.record(hash, (self.now_ms / 1000) as u32);
            }
        }
        Ok(Some(value))
    }

    /// Reads a string, or fails with WRONGTYPE if the key holds another type.
    /// A chunked string is read whole ([`super::chunks`]).
    pub fn get_string(&mut self, key: &[u8]) -> Result<Option<Value>, CommandError> {
        match self.get(key)? {
            Some(v) if v.kind == ValueType::Chunked => self.inline(key, v).map(Some),
            Some(v) if v.kind != ValueType::String => Err(CommandError::WrongType),
            other => Ok(other),
        }
    }

    /// Where collection scan `cursor` of `key` (at `version`) resumes: the next member
    /// to visit, or `None` to start from the first (see [`super::cursors`]).
    pub fn scan_resume(&self, cursor: u64, key: &[u8], version: u64) -> Option<Bytes> {
        self.shard.cursors.resume(cursor, self.db, key, version)
    }

    /// A cursor for the next page of a collection scan of `key`, resuming at `next`.
    pub fn scan_save(&mut self, key: &[u8], version: u64, next: Bytes) -> u64 {
        self.shard.cursors.save(self.db, key, version, next)
    }

    /// Ranks the events of what follows (a hold's step; see [`super::Held::set_rank`]).
    pub fn set_rank(&mut self, rank: u64) {
        self.shard.rank = rank;
    }

    /// Records keyspace event `event` (of class `class`, a [`notify`] bit) on `key`,
    /// if `notify-keyspace-events` asks for it; it is published once the write commits.
    pub fn notify(&mut self, class: u32, event: &'static str, key: &[u8]) {
        self.shard.event(self.db, class, event, key);
    }

    /// [`Tx::notify`] for a key in another database of the same shard.
    pub fn notify_in(&mut self, db: u8, class: u32, event: &'static str, key: &[u8]) {
        self.shard.event(db, class, event, key);
    }

    /// Stores a value (replacing whatever the key held).
    pub fn put(&mut self, key: &[u8], kind: ValueType, expire_at: u64, payload: &[u8]) {
        self.put_in(self.db, key, kind, expire_at, payload)
    }

    /// [`Tx::put`] in another database of the same shard.
    pub fn put_in(&mut self, db: u8, key: &[u8], kind: ValueType, expire_at: u64, payload: &[u8]) {
        self.shard.touch(db, key);
        self.shard.blocked.touch(db, key);
        let mut k = Vec::new();
        encoding::encode_key(&mut k, db, key);
        let hash = u64::from_be_bytes([k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8]]);
        self.shard.access.record(hash, (self.now_ms / 1000) as u32);
        let v = encoding::encode_value(kind, expire_at, payload);
        self.shard.batch.put(&k, &v);
        self.shard.cache.insert(k, Some(Bytes::from(v)));
    }

    /// Writes one of the server's own records (`encoding::system_key`) with the
    /// transaction. They are read only at startup (`Engine::scan`), never cached.
    pub fn put_system(&mut self, name: &[u8], value: &[u8]) {
        self.shard.batch.put(&encoding::system_key(name), value);
    }

    /// Deletes one of the server's own records with the transaction.
    pub fn delete_system(&mut self, name: &[u8]) {
        self.shard.batch.delete(&encoding::system_key(name));
    }

    /// Deletes a key; true if it existed (and had not expired).
    pub fn delete(&mut self, key: &[u8]) -> Result<bool, CommandError> {
        let existed = self.get(key)?.is_some();
        if existed {
            self.remove(key);
        }
        Ok(existed)
    }

    /// Removes a key without reading it first.
    pub fn remove(&mut self, key: &[u8]) {
        self.remove_in(self.db, key);
    }

    /// [`Tx::remove`] in another database of the same shard.
    pub fn remove_in(&mut self, db: u8, key: &[u8]) {
        self.shard.touch(db, key);
        let mut k = Vec::new();
        encoding::encode_key(&mut k, db, key);
        self.shard.batch.delete(&k);
        self.shard.cache.insert(k, None);
    }

    /// SWAPDB's part on this shard: the records of databases `a` and `b`, in every
    /// space, trade places within the group's batch. The watched keys of both are
    /// touched and their waiters checked after the commit, as Redis does. It reads and
    /// rewrites every record of both: O(keys + members), where Redis swaps two pointers.
    pub fn swap_databases(&mut self, a: u8, b: u8) -> Result<(), CommandError> {
        if a == b {
            return Ok(());
        }
        let (id, shards) = (self.shard.id, self.shard.shards);
        // (space, the database they go to, their records)
        type Records = Vec<(Vec<u8>, Vec<u8>)>;
        let mut moved: Vec<(Space, u8, Records)> = Vec::new();
        for space in [Space::Meta, Space::Member, Space::Score] {
            for (from, to) in [(a, b), (b, a)] {
                let (start, end) = encoding::space_range(space, from, id, shards);
                let mut records = Vec::new();
                self.shard.range_read(&start, &end, false, |k, v| {
                    records.push((k.to_vec(), v.to_vec()));
                    true
                })?;
                moved.push((space, to, records));
            }
        }
        for space in [Space::Meta, Space::Member, Space::Score] {
            for db in [a, b] {
                let (start, end) = encoding::space_range(space, db, id, shards);
                self.shard.delete_range(start, end);
            }
        }
        for (space, to, records) in moved {
            for (mut k, v) in records {
                k[0] = space as u8 | to;
                if space == Space::Meta {
                    if let Some((_, _, user_key)) = encoding::decode_key(&k) {
                        let user_key = user_key.to_vec();
                        for db in [a, b] {
                            self.shard.touch(db, &user_key);
                        }
                        self.shard.blocked.touch(to, &user_key);
                    }
                }
                self.shard.batch.put(&k, &v);
                if space.point_read() {
                    self.shard.cache.insert(k, Some(Bytes::from(v)));
                }
            }
        }
        Ok(())
    }

    /// Removes every key this shard owns in `db`.
    pub fn flush_db(&mut self, db: u8) {
        // Redis raises the watches of the keys a flush removes, not of absent ones.
        for key in self.shard.watches.keys_in(db) {
            if !matches!(self.get_in(db, &key), Ok(None)) {
                self.shard.watches.touch(db, &key);
            }
        }
        for space in [Space::Meta, Space::Member, Space::Score] {
            let (start, end) = encoding::space_range(space, db, self.shard.id, self.shard.shards);
            self.shard.delete_range(start, end);
        }
    }

    /// Visits this shard's live keys in `db` in hash order, starting at hash `from`,
    /// until `visit(key, value)` returns false. Returns the hash position where the
    /// visit stopped (the next key's), or `None` if the range was exhausted.
    pub fn scan(
        &mut self,
        from: u64,
        mut visit: impl FnMut(&[u8], &Value) -> bool,
    ) -> Result<Option<u64>, CommandError> {
        let (start, end) = encoding::shard_range(self.db, self.shard.id, self.shard.shards);
        let from_key = encoding::encode_position(self.db, from);
        let from_key = if from_key.as_slice() > start.as_slice() {
            from_key.to_vec()
        } else {
            start
        };
        let now = self.now_ms;
        // Keys that share a hash are visited together, so a cursor never splits them.
        let mut enough_at: Option<u64> = None;
        let mut next = None;
        self.shard.range_read(&from_key, &end, false, |k, v| {
            let Some((_, hash, user_key)) = encoding::decode_key(k) else {
                return true;
            };
            if enough_at.is_some_and(|h| h != hash) {
                next = Some(hash);
                return false;
            }
            let Some(value) = encoding::decode_value(Bytes::copy_from_slice(v)) else {
                return true;
            };
            if !value.expired(now) && !visit(user_key, &value) && enough_at.is_none() {
                enough_at = Some(hash);
            }
            true
        })?;
        Ok(next)
    }

    /// Reads the meta record of a collection of type `kind`: `None` if the key does not
    /// exist, WRONGTYPE if it holds another type. Returns the metadata and expiry.
    pub fn meta(
        &mut self,
        key: &[u8],
        kind: ValueType,
    ) -> Result<Option<(CollectionMeta, u64)>, CommandError> {
        match self.get(key)? {
            None => Ok(None),
            Some(v) if v.kind != kind => Err(CommandError::WrongType),
            Some(v) => CollectionMeta::decode_payload(&v.payload)
                .map(|m| Some((m, v.expire_at)))
                .ok_or_else(|| CommandError::other(text::CORRUPT_META)),
        }
    }

    /// Metadata for a new, empty collection with a fresh version.
    pub fn new_collection(&mut self) -> CollectionMeta {
        let now_us = std::time::SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let version = encoding::next_version(self.shard.last_version, now_us);
        self.shard.last_version = version;
        CollectionMeta {
            version,
            size: 0,
            head: encoding::LIST_ORIGIN,
            tail: encoding::LIST_ORIGIN,
        }
    }

    /// Writes a collection's meta record, or deletes the key if it is now empty
    /// (an emptied collection disappears, as in Redis).
    pub fn put_meta(&mut self, key: &[u8], kind: ValueType, meta: &CollectionMeta, expire_at: u64) {
        if meta.size == 0 {
            self.remove(key);
        } else {
            self.put(key, kind, expire_at, &meta.encode(kind));
        }
    }

    fn record_key(&self, space: Space, key: &[u8], version: u64, suffix: &[u8]) -> Vec<u8> {
        let mut k = Vec::new();
        encoding::encode_member_prefix(&mut k, space, self.db, key, version);
        k.extend_from_slice(suffix);
        k
    }

    /// Reads one member record (`suffix` is the member, or the position for lists).
    pub fn record_get(
        &mut self,
        space: Space,
        key: &[u8],
        version: u64,
        suffix: &[u8],
    ) -> Result<Option<Bytes>, CommandError> {
        let k = self.record_key(space, key, version, suffix);
        Ok(self.shard.read(&k)?)
    }

    /// Writes one member record.
    pub fn record_put(
        &mut self,
        space: Space,
        key: &[u8],
        version: u64,
        suffix: &[u8],
        value: &[u8],
    ) {
        self.record_put_with(space, key, version, suffix, value, false);
    }

    /// Writes one member record that the value cache keeps for this group only (list
    /// elements; see the cache's docs).
    pub fn record_put_transient(
        &mut self,
        space: Space,
        key: &[u8],
        version: u64,
        suffix: &[u8],
        value: &[u8],
    ) {
        self.record_put_with(space, key, version, suffix, value, true);
    }

    fn record_put_with(
        &mut self,
        space: Space,
        key: &[u8],
        version: u64,
        suffix: &[u8],
        value: &[u8],
        transient: bool,
    ) {
        self.shard.touch(self.db, key);
        let k = self.record_key(space, key, version, suffix);
        self.shard.batch.put(&k, value);
        if !space.point_read() {
            return;
        }
        let v = Some(Bytes::copy_from_slice(value));
        if transient {
            self.shard.cache.insert_transient(k, v);
        } else {
            self.shard.cache.insert(k, v);
        }
    }

    /// Deletes one member record.
    pub fn record_del(&mut self, space: Space, key: &[u8], version: u64, suffix: &[u8]) {
        self.shard.touch(self.db, key);
        let k = self.record_key(space, key, version, suffix);
        self.shard.batch.delete(&k);
        if space.point_read() {
            self.shard.cache.insert(k, None);
        }
    }

    /// Deletes the member records with suffixes in `[from, to)` (`to = None`: to the
    /// end of the collection). Cached entries of the collection are dropped too.
    pub fn record_del_range(
        &mut self,
        space: Space,
        key: &[u8],
        version: u64,
        from: &[u8],
        to: Option<&[u8]>,
    ) {
        self.shard.touch(self.db, key);
        let prefix = self.record_key(space, key, version, b"");
        let mut start = prefix.clone();
        start.extend_from_slice(from);
        let end = match to {
            Some(t) => [prefix.as_slice(), t].concat(),
            None => encoding::prefix_end(&prefix),
        };
        self.shard.delete_range(start, end);
    }

    /// Visits the member records of one collection with suffix in `span`, until
    /// `visit(suffix, value)` returns false. Sees every earlier write of the group.
    pub fn records(
        &mut self,
        space: Space,
        key: &[u8],
        version: u64,
        span: Span<'_>,
        mut visit: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), CommandError> {
        let Span { from, to, rev } = span;
        let prefix = self.record_key(space, key, version, b"");
        let start = match from {
            Some(f) => [prefix.as_slice(), f].concat(),
            None => prefix.clone(),
        };
        let end = match to {
            Some(t) => [prefix.as_slice(), t].concat(),
            None => encoding::prefix_end(&prefix),
        };
        let n = prefix.len();
        let f = |k: &[u8], v: &[u8]| visit(&k[n..], v);
        self.shard.range_read(&start, &end, rev, f)?;
        Ok(())
    }

    /// Collects every `(suffix, value)` of one collection's records in `space`.
    pub fn all_records(
        &mut self,
        space: Space,
        key: &[u8],
        version: u64,
    ) -> Result<Vec<(Bytes, Bytes)>, CommandError> {
        let mut out = Vec::new();
        self.records(space, key, version, Span::ALL, |k, v| {
            out.push((Bytes::copy_from_slice(k), Bytes::copy_from_slice(v)));
            true
        })?;
        Ok(out)
    }

    /// Everything stored under `key` (RENAME moves it): `None` if it does not exist.
    pub fn export(&mut self, key: &[u8]) -> Result<Option<KeyImage>, CommandError> {
        let Some(v) = self.get(key)? else {
            return Ok(None);
        };
        let mut records = Vec::new();
        if v.kind != ValueType::String {
            let meta = CollectionMeta::decode_payload(&v.payload)
                .ok_or_else(|| CommandError::other(text::CORRUPT_META))?;
            for space in [Space::Member, Space::Score] {
                for (suffix, value) in self.all_records(space, key, meta.version)? {
                    records.push((space, suffix, value));
                }
            }
        }
        Ok(Some(KeyImage {
            kind: v.kind,
            expire_at: v.expire_at,
            payload: v.payload,
            records,
        }))
    }

    /// Stores `image` under `key`, replacing whatever it held; a collection gets a new
    /// version, so records of an old value under this name are dead.
    pub fn import(&mut self, key: &[u8], image: &KeyImage) -> Result<(), CommandError> {
        if image.kind == ValueType::String {
            self.put(key, image.kind, image.expire_at, &image.payload);
            return Ok(());
        }
        let mut meta = CollectionMeta::decode_payload(&image.payload)
            .ok_or_else(|| CommandError::other(text::CORRUPT_META))?;
        meta.version = self.new_collection().version;
        for (space, suffix, value) in &image.records {
            self.record_put(*space, key, meta.version, suffix, value);
        }
        self.put_meta(key, image.kind, &meta, image.expire_at);
        Ok(())
    }

    /// Compacts every range this shard owns (DEBUG COMPACT).
    pub fn compact_own_ranges(&mut self) {
        self.shard.commit_early();
        for db in 0..self.shard.live.databases {
            for space in [Space::Meta, Space::Member, Space::Score] {
                let (a, b) = encoding::space_range(space, db, self.shard.id, self.shard.shards);
                self.shard.engine.compact_range(&a, &b);
            }
        }
    }

    /// Counts the raw records in every range this shard owns (DEBUG RECORDS).
    pub fn count_own_records(&mut self) -> Result<u64, CommandError> {
        self.shard.commit_early();
        let mut n = 0;
        for db in 0..self.shard.live.databases {
            for space in [Space::Meta, Space::Member, Space::Score] {
                let (a, b) = encoding::space_range(space, db, self.shard.id, self.shard.shards);
                n += self.shard.engine.count(&a, &b)?;
            }
        }
        Ok(n)
    }

    /// Watches `key` for `flag` (WATCH): every later write of the key on this shard
    /// raises the flag. Returns when the key expires as it stands (0: never, or it
    /// does not exist), since an expiry before EXEC counts as a change.
    pub fn watch(&mut self, key: &[u8], flag: &Arc<WatchFlag>) -> Result<u64, CommandError> {
        let expire_at = self.get(key)?.map_or(0, |v| v.expire_at);
        self.shard.watches.add(self.db, key, flag);
        Ok(expire_at)
    }

    /// Blocks `waiter` on `key` (BLPOP ...): it is served when a committed write
    /// gives the key data (see [`super::blocked`]).
    pub fn block(&mut self, key: &[u8], waiter: &Arc<Waiter>) {
        self.shard.blocked.add(self.db, key, waiter);
    }

    /// How many times the shard had been restarted when its current state was made.
    pub fn generation(&self) -> u64 {
        self.shard.generation
    }

    /// The shard's index and the shard count.
    pub fn shard_id(&self) -> (usize, usize) {
        (self.shard.id, self.shard.shards)
    }
}
