//! The storage side: shards, group commit, and the runtime they run on.
//!
//! ```text
//!  network thread ──ShardMsg::Run──▶ [flume, bounded] ──▶ shard task ──▶ RocksDB
//!   (outbox: one message per shard per turn)                 │
//!        ▲                                                   │
//!        └── inbox: the group's ShardReplies for the thread ◀┘
//! ```
//!
//! In `--runtime dual` every shard is one task on the storage runtime (a multi-thread
//! tokio runtime whose workers are pinned to the storage cores). A shard task waits
//! for the first message, drains whatever else is already queued (up to
//! `batch-max` requests, never waiting for more), executes the group in arrival
//! order, commits its writes in one RocksDB batch (sorted by key, one write per key)
//! and only then sends the replies, one message per network thread ([`outbox`]).
//! One client alone therefore sees exactly one round trip per command.
//!
//! In `--runtime single` the same [`Shard`] code runs inline in the connection task,
//! behind a per-shard async mutex: the baseline the dual design is measured against.
//!
//! Only this side touches RocksDB ([`engine`] is the one module that imports it).
//! The network side talks to it only through [`Backend`].

mod access;
mod blocked;
pub mod cache;
mod channel;
pub mod chunks;
mod cursors;
pub mod encoding;
pub mod engine;
mod hold;
mod linked;
pub mod notify;
pub mod outbox;
pub mod shard;
mod watch;
mod worker;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

pub use crate::clock::now_ms;
use crate::config::Live;
use crate::error::text;
use crate::error::CommandError;
use crate::protocol::Reply;
pub use blocked::{ServeFn, Served, Waiter, Woken};
pub use engine::{Engine, EngineOptions, EngineStats, StorageError};
pub use hold::Held;
use hold::{HeldOp, HeldShard};
pub use linked::{run_program, LinkedJob, LinkedReplies, Op};
pub use notify::{KeyEvent, Listener, Notifier, Touched};
pub use shard::{ExecFn, IsolatedFn, KeyImage, Shard, ShardCounters, ShardReq, Span, Tx};
pub use watch::{WatchCheck, WatchFlag};
pub use worker::start_dual;

/// A message to a shard task.
pub enum ShardMsg {
    /// Run the requests of every part in order; each part's replies go to its sender.
    Run {
        /// One part per connection (several when a network thread's outbox batched them).
        parts: Vec<RunPart>,
    },
    /// Let a coordinator run steps alone on this shard until it drops the sender.
    Hold(oneshot::Sender<flume::Sender<HeldOp>>),
    /// Run one typed step in queue order, then commit what it wrote.
    Call(HeldOp),
    /// Remove some expired keys.
    Sweep,
    /// Commit, then stop the shard.
    Stop(oneshot::Sender<()>),
    /// Fault injection (DEBUG STORAGE-*).
    Debug(DebugOp),
    /// A no-op answered in queue order: the storage health check.
    Ping(oneshot::Sender<()>),
}

/// Faults DEBUG can inject into a shard, to show what the network side does then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DebugOp {
    /// Block the shard's worker thread, as a stuck disk would.
    Stall(Duration),
    /// Make the next n RocksDB writes of the shard fail.
    FailWrites(u32),
    /// Panic the shard's task (it is restarted).
    Panic,
}

/// One connection's requests for one shard.
pub struct RunPart {
    /// The requests, in the order the connection sent them.
    pub reqs: Vec<ShardReq>,
    /// The connection's reply channel.
    pub reply: ReplyTx,
    /// This shard's index, echoed in the reply.
    pub shard: u32,
    /// The connection's batch number, echoed in the reply (late replies are dropped).
    pub seq: u64,
    /// When the connection handed the part over (the queue-wait stage starts here).
    pub sent: std::time::Instant,
}

/// Where a part's time went on the storage side, in microseconds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StageTimes {
    /// From hand-over until the shard started on it.
    pub queue_us: u64,
    /// Executing its requests.
    pub storage_us: u64,
    /// From the end of execution until the reply left: the group's write (and WAL sync).
    pub commit_us: u64,
}

/// The replies of one [`RunPart`].
pub struct ShardReply {
    /// The shard that answered.
    pub shard: u32,
    /// The batch number of the part.
    pub seq: u64,
    /// Where the part's time went.
    pub times: StageTimes,
    /// One reply per request, in order.
    pub replies: Vec<Reply>,
}

/// A connection's own reply channel.
pub type ConnTx = mpsc::UnboundedSender<ShardReply>;

/// Where a shard sends the replies of one connection: straight to the connection, or,
/// when the connection's network thread has an inbox, through that inbox together
/// with the group's other replies for the thread (see [`outbox`]).
#[derive(Clone)]
pub struct ReplyTx {
    conn: ConnTx,
    inbox: Option<outbox::Inbox>,
}

impl ReplyTx {
    /// Sends `reply` to the connection directly, bypassing the inbox.
    pub fn send(&self, reply: ShardReply) {
        let _ = self.conn.send(reply);
    }
}

/// The network side's handle on the storage side.
#[derive(Clone)]
pub enum Backend {
    /// Shard tasks on the storage runtime, reached through channels.
    Dual(Arc<DualShards>),
    /// Shards run inline by the connection, each behind a mutex.
    Single(Arc<SingleShards>),
}

/// The dual runtime's shards: one bounded channel each.
pub struct DualShards {
    senders: Vec<channel::ShardTx>,
    counters: Vec<Arc<ShardCounters>>,
    engine: Arc<Engine>,
    live: Arc<Live>,
    stats: Arc<EngineStats>,
    rt: tokio::runtime::Handle,
    /// The linked commands' sequencer, started on first use.
    sequencer: std::sync::OnceLock<linked::Sequencer>,
}

/// The single runtime's shards.
pub struct SingleShards {
    shards: Vec<Arc<tokio::sync::Mutex<Shard>>>,
    counters: Vec<Arc<ShardCounters>>,
    engine: Arc<Engine>,
    live: Arc<Live>,
    stats: Arc<EngineStats>,
    rt: tokio::runtime::Handle,
    /// The linked commands' sequencer, started on first use.
    sequencer: std::sync::OnceLock<linked::Sequencer>,
}

/// A connection's end of the shard reply channel (dual runtime).
pub struct ReplyChannel {
    tx: ReplyTx,
    rx: mpsc::UnboundedReceiver<ShardReply>,
    seq: u64,
    /// Per shard, where the last batch's part spent its time (dual runtime).
    pub times: Vec<StageTimes>,
}

impl Default for ReplyChannel {
    fn default() -> Self {
        let (conn, rx) = mpsc::unbounded_channel();
        ReplyChannel {
            tx: ReplyTx {
                conn,
                inbox: outbox::inbox(),
            },
            rx,
            seq: 0,
            times: Vec::new(),
        }
    }
}

fn timed_out() -> Reply {
    CommandError::Timeout.into()
}

fn unavailable() -> Reply {
    CommandError::Unavailable.into()
}

impl Backend {
    /// Number of shards.
    pub fn shards(&self) -> usize {
        match self {
            Backend::Dual(d) => d.senders.len(),
            Backend::Single(s) => s.shards.len(),
        }
    }

    /// The engine, for operator commands and INFO.
    pub fn engine(&self) -> &Arc<Engine> {
        match self {
            Backend::Dual(d) => &d.engine,
            Backend::Single(s) => &s.engine,
        }
    }

    /// Sets up the calling network thread's outbox (dual runtime; no-op otherwise).
    pub fn install_outbox(&self) {
        if let Backend::Dual(d) = self {
            outbox::install(&d.senders, &d.counters);
        }
    }

    /// Routes CONFIG SET of RocksDB options to the storage side: they are applied by a
    /// storage thread, never by the network thread that ran CONFIG SET.
    pub fn route_rocksdb_options(&self, live: &Live) {
        let engine = self.engine().clone();
        let rt = match self {
            Backend::Dual(d) => d.rt.clone(),
            Backend::Single(s) => s.rt.clone(),
        };
        live.on_rocksdb_options(Box::new(move |options| {
            let engine = engine.clone();
            rt.spawn_blocking(move || match engine.set_options(&options) {
                Ok(()) => {
                    tracing::info!(target: "shardis::storage", "RocksDB options set: {options:?}")
                }
                Err(e) => {
                    tracing::error!(target: "shardis::storage", "RocksDB options {options:?}: {e}")
                }
            });
        }));
    }

    /// Makes a checkpoint of the database in `path`, on the storage side's threads.
    pub async fn checkpoint(&self, path: std::path::PathBuf) -> Result<(), StorageError> {
        let engine = self.engine().clone();
        let rt = match self {
            Backend::Dual(d) => d.rt.clone(),
            Backend::Single(s) => s.rt.clone(),
        };
        rt.spawn_blocking(move || engine.checkpoint(&path))
            .await
            .map_err(|e| StorageError(format!("checkpoint task failed: {e}")))?
    }

    /// RocksDB's state, as last sampled by the storage side.
    pub fn engine_stats(&self) -> &EngineStats {
        match self {
            Backend::Dual(d) => &d.stats,
            Backend::Single(s) => &s.stats,
        }
    }

    /// Messages waiting in each shard's channel now (dual runtime; 0 in single).
    pub fn queue_depths(&self) -> Vec<usize> {
        match self {
            Backend::Dual(d) => d.senders.iter().map(|s| s.len()).collect(),
            Backend::Single(s) => vec![0; s.shards.len()],
        }
    }

    /// Per-shard counters.
    pub fn counters(&self) -> &[Arc<ShardCounters>] {
        match self {
            Backend::Dual(d) => &d.counters,
            Backend::Single(s) => &s.counters,
        }
    }

    /// Runs `work[s]` on shard `s` for every shard with work, concurrently across
    /// shards, and puts the replies in `results[s]` in request order.
    pub async fn run(
        &self,
        work: &mut [Vec<ShardReq>],
        results: &mut [Vec<Reply>],
        chan: &mut ReplyChannel,
    ) {
        match self {
            Backend::Dual(d) => {
                chan.seq += 1;
                let seq = chan.seq;
                chan.times.clear();
                chan.times.resize(work.len(), StageTimes::default());
                let mut waiting = vec![0usize; work.len()];
                // One clock read for the parts' send time and the batch's deadline.
                let sent = std::time::Instant::now();
                for (s, reqs) in work.iter_mut().enumerate() {
                    if reqs.is_empty() {
                        continue;
                    }
                    let n = reqs.len();
                    let part = RunPart {
                        reqs: std::mem::take(reqs),
                        reply: chan.tx.clone(),
                        shard: s as u32,
                        seq,
                        sent,
                    };
                    // On a network thread the outbox batches it with other connections'.
                    let part = match outbox::submit(s, part) {
                        Ok(()) => {
                            waiting[s] = n;
                            continue;
                        }
                        Err(part) => part,
                    };
                    let msg = ShardMsg::Run { parts: vec![part] };
                    if d.senders[s].send_counted(msg, &d.counters[s]).await.is_ok() {
                        waiting[s] = n;
                    } else {
                        results[s] = (0..n).map(|_| unavailable()).collect();
                    }
                }
                let mut left = waiting.iter().filter(|&&n| n > 0).count();
                let deadline = tokio::time::Instant::from_std(sent) + d.live.storage_timeout();
                while left > 0 {
                    match tokio::time::timeout_at(deadline, chan.rx.recv()).await {
                        Ok(Some(r)) if r.seq == seq && waiting[r.shard as usize] > 0 => {
                            waiting[r.shard as usize] = 0;
                            results[r.shard as usize] = r.replies;
                            chan.times[r.shard as usize] = r.times;
                            left -= 1;
                        }
                        // A late reply to a batch that already timed out.
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(_) => {
                            for (s, n) in waiting.iter().enumerate() {
                                if *n > 0 {
                                    d.counters[s].timeouts.fetch_add(1, Ordering::Relaxed);
                                    results[s] = (0..*n).map(|_| timed_out()).collect();
                                }
                            }
                            break;
                        }
                    }
                }
            }
            Backend::Single(single) => {
                for (s, reqs) in work.iter_mut().enumerate() {
                    if reqs.is_empty() {
                        continue;
                    }
                    let timeout = single.live.storage_timeout();
                    let Ok(mut shard) =
                        tokio::time::timeout(timeout, single.shards[s].lock()).await
                    else {
                        single.counters[s].timeouts.fetch_add(1, Ordering::Relaxed);
                        results[s] = reqs.drain(..).map(|_| timed_out()).collect();
                        continue;
                    };
                    let replies = run_group(&mut shard, reqs, &single.counters[s]);
                    reqs.clear();
                    results[s] = replies;
                }
            }
        }
    }

    /// Injects a fault into `shard`, or into every shard; returns at once.
    pub async fn debug(&self, op: DebugOp, shard: Option<usize>) -> Result<(), Reply> {
        let targets: Vec<usize> = match shard {
            Some(s) if s < self.shards() => vec![s],
            Some(_) => return Err(Reply::error(text::NO_SUCH_SHARD)),
            None => (0..self.shards()).collect(),
        };
        match self {
            Backend::Dual(d) => {
                for s in targets {
                    d.senders[s]
                        .send_async(ShardMsg::Debug(op))
                        .await
                        .map_err(|_| unavailable())?;
                }
            }
            Backend::Single(single) => {
                for s in targets {
                    let shard = single.shards[s].clone();
                    match op {
                        // A stuck disk blocks whoever holds the shard: here a runtime worker.
                        DebugOp::Stall(d) => {
                            tokio::spawn(async move {
                                let _guard = shard.lock().await;
                                std::thread::sleep(d);
                            });
                        }
                        DebugOp::FailWrites(n) => shard.lock().await.fail_next_writes(n),
                        DebugOp::Panic => return Err(Reply::error(text::PANIC_NEEDS_DUAL)),
                    }
                }
            }
        }
        Ok(())
    }

    /// Sends a no-op through `shard` and waits at most `timeout` for it: how long the
    /// shard takes to get through its queue. `Err` says why it is unhealthy.
    pub async fn ping(&self, shard: usize, timeout: Duration) -> Result<Duration, String> {
        let started = tokio::time::Instant::now();
        match self {
            Backend::Dual(d) => {
                let (tx, rx) = oneshot::channel();
                match d.senders[shard].try_send(ShardMsg::Ping(tx)) {
                    Ok(()) => {}
                    Err(flume::TrySendError::Full(_)) => return Err("channel full".into()),
                    Err(flume::TrySendError::Disconnected(_)) => return Err("gone".into()),
                }
                match tokio::time::timeout(timeout, rx).await {
                    Ok(Ok(())) => Ok(started.elapsed()),
                    Ok(Err(_)) => Err("gone".into()),
                    Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
                }
            }
            Backend::Single(single) => {
                match tokio::time::timeout(timeout, single.shards[shard].lock()).await {
                    Ok(_) => Ok(started.elapsed()),
                    Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
                }
            }
        }
    }

    /// Holds `shards` (ascending, no duplicates): see [`Held`].
    ///
    /// Each grant and each step on a held shard is bounded by storage-timeout-ms;
    /// when it runs out, what was held is released and the caller gets the error.
    pub async fn hold(&self, shards: &[usize]) -> Result<Held, CommandError> {
        let mut held = Held {
            held: Vec::with_capacity(shards.len()),
            timeout: self.live().storage_timeout(),
            now_ms: now_ms(),
            rank: 0,
        };
        match self {
            Backend::Dual(d) => {
                for &s in shards {
                    let (tx, rx) = oneshot::channel();
                    d.senders[s]
                        .send_async(ShardMsg::Hold(tx))
                        .await
                        .map_err(|_| CommandError::Unavailable)?;
                    // A late grant finds the receiver gone and the shard moves on.
                    let ops = match tokio::time::timeout(held.timeout, rx).await {
                        Ok(Ok(ops)) => ops,
                        Ok(Err(_)) => return Err(CommandError::Unavailable),
                        Err(_) => {
                            d.counters[s].timeouts.fetch_add(1, Ordering::Relaxed);
                            return Err(CommandError::Timeout);
                        }
                    };
                    held.held.push((s, HeldShard::Dual(ops)));
                }
            }
            Backend::Single(single) => {
                for &s in shards {
                    let lock = single.shards[s].clone().lock_owned();
                    let Ok(mut guard) = tokio::time::timeout(held.timeout, lock).await else {
                        single.counters[s].timeouts.fetch_add(1, Ordering::Relaxed);
                        return Err(CommandError::Timeout);
                    };
                    guard.begin_hold();
                    held.held.push((s, HeldShard::Single(guard)));
                }
            }
        }
        Ok(held)
    }

    /// How many times shard `shard` has been restarted (its watches with it).
    pub fn generation(&self, shard: usize) -> u64 {
        self.counters()
            .get(shard)
            .map_or(0, |c| c.restarts.load(Ordering::Relaxed))
    }

    /// Runs `f` on shard `shard` in database `db` as one atomic unit, in the shard's
    /// queue order: its writes are committed as one batch (and synced, with
    /// `appendfsync always`) before its result comes back; if `f` fails nothing of it
    /// is written. A transaction on one shard costs this one trip.
    pub async fn atomic<T, F>(&self, shard: usize, db: u8, f: F) -> Result<T, CommandError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T, CommandError> + Send + 'static,
    {
        let now = now_ms();
        let timeout = self.live().storage_timeout();
        match self {
            Backend::Dual(d) => {
                let (done, wait) = oneshot::channel();
                let op: HeldOp = Box::new(move |s: &mut Shard| {
                    let _ = done.send(s.run_atomic(db, now, f));
                });
                d.senders[shard]
                    .send_async(ShardMsg::Call(op))
                    .await
                    .map_err(|_| CommandError::Unavailable)?;
                match tokio::time::timeout(timeout, wait).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(_)) => Err(CommandError::Unavailable),
                    Err(_) => {
                        d.counters[shard].timeouts.fetch_add(1, Ordering::Relaxed);
                        Err(CommandError::Timeout)
                    }
                }
            }
            Backend::Single(single) => {
                let lock = single.shards[shard].lock();
                let Ok(mut guard) = tokio::time::timeout(timeout, lock).await else {
                    single.counters[shard]
                        .timeouts
                        .fetch_add(1, Ordering::Relaxed);
                    return Err(CommandError::Timeout);
                };
                guard.run_atomic(db, now, f)
            }
        }
    }

    /// Runs `f` on every shard (concurrently in the dual runtime, each in its queue
    /// order) and returns each shard's result, in shard order. Not atomic across
    /// shards: for figures such as INFO keyspace and for operator commands.
    pub async fn each<T, F>(&self, db: u8, f: F) -> Vec<Result<T, CommandError>>
    where
        T: Send + 'static,
        F: Fn(&mut Tx<'_>) -> Result<T, CommandError> + Clone + Send + 'static,
    {
        let now = now_ms();
        match self {
            Backend::Dual(d) => {
                let mut waits = Vec::with_capacity(d.senders.len());
                for tx in &d.senders {
                    let (done, wait) = oneshot::channel();
                    let f = f.clone();
                    let op: HeldOp = Box::new(move |s: &mut Shard| {
                        let _ = done.send(s.run_step(db, now, f));
                    });
                    let sent = tx.send_async(ShardMsg::Call(op)).await.is_ok();
                    waits.push(sent.then_some(wait));
                }
                let deadline = tokio::time::Instant::now() + d.live.storage_timeout();
                let mut out = Vec::with_capacity(waits.len());
                for (s, wait) in waits.into_iter().enumerate() {
                    out.push(match wait {
                        None => Err(CommandError::Unavailable),
                        Some(wait) => match tokio::time::timeout_at(deadline, wait).await {
                            Ok(Ok(r)) => r,
                            Ok(Err(_)) => Err(CommandError::Unavailable),
                            Err(_) => {
                                d.counters[s].timeouts.fetch_add(1, Ordering::Relaxed);
                                Err(CommandError::Timeout)
                            }
                        },
                    });
                }
                out
            }
            Backend::Single(single) => {
                let timeout = single.live.storage_timeout();
                let mut out = Vec::with_capacity(single.shards.len());
                for (s, shard) in single.shards.iter().enumerate() {
                    let Ok(mut shard) = tokio::time::timeout(timeout, shard.lock()).await else {
                        single.counters[s].timeouts.fetch_add(1, Ordering::Relaxed);
                        out.push(Err(CommandError::Timeout));
                        continue;
                    };
                    let r = shard.run_step(db, now, f.clone());
                    out.push(match shard.commit() {
                        Err(e) => Err(e.into()),
                        Ok(()) => r,
                    });
                }
                out
            }
        }
    }

    fn live(&self) -> &Live {
        match self {
            Backend::Dual(d) => &d.live,
            Backend::Single(s) => &s.live,
        }
    }

    /// Commits and stops every shard, then makes the WAL durable and flushes memtables.
    pub async fn shutdown(&self) {
        match self {
            Backend::Dual(d) => {
                for tx in &d.senders {
                    let (done, wait) = oneshot::channel();
                    if tx.send_async(ShardMsg::Stop(done)).await.is_ok() {
                        let _ = wait.await;
                    }
                }
            }
            Backend::Single(single) => {
                for s in &single.shards {
                    let _ = s.lock().await.commit();
                }
            }
        }
        let engine = self.engine();
        if let Err(e) = engine.flush_wal(true).and_then(|_| engine.flush()) {
            tracing::error!(target: "shardis::storage", "flush at shutdown failed: {e}");
        }
    }
}

/// Executes a group and commits it; replies of writes are errors if the commit fails.
fn run_group(shard: &mut Shard, reqs: &[ShardReq], counters: &ShardCounters) -> Vec<Reply> {
    let now = now_ms();
    let mut replies = Vec::with_capacity(reqs.len());
    let mut wrote = Vec::new();
    for (i, req) in reqs.iter().enumerate() {
        let (reply, w) = shard.execute(req, now);
        if w {
            wrote.push(i);
        }
        replies.push(reply);
    }
    if let Err(e) = shard.commit() {
        for i in wrote {
            replies[i] = Reply::Error(CommandError::Storage(e.0.clone()));
        }
    }
    counters.record_group(reqs.len() as u64, false);
    replies
}

/// Builds the shards of the single runtime, whose tasks run on `rt`.
pub fn start_single(
    rt: &tokio::runtime::Handle,
    engine: Arc<Engine>,
    live: Arc<Live>,
    shards: usize,
    cache: usize,
    notifier: Arc<Notifier>,
) -> Backend {
    let counters: Vec<Arc<ShardCounters>> = (0..shards).map(|_| Default::default()).collect();
    let list: Vec<_> = (0..shards)
        .map(|id| {
            let shard = Shard::new(
                id,
                shards,
                engine.clone(),
                live.clone(),
                counters[id].clone(),
                cache / shards,
                notifier.clone(),
            );
            Arc::new(tokio::sync::Mutex::new(shard))
        })
        .collect();
    let sweep = list.clone();
    rt.spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(100));
        loop {
            every.tick().await;
            for s in &sweep {
                let mut shard = s.lock().await;
                shard.sweep(now_ms(), 256);
                let _ = shard.commit();
            }
        }
    });
    rt.spawn(wal_syncer(engine.clone(), live.clone()));
    start_memtable_watcher(rt, &engine);
    let stats = Arc::new(EngineStats::default());
    rt.spawn(sampler(engine.clone(), stats.clone()));
    Backend::Single(Arc::new(SingleShards {
        counters,
        shards: list,
        engine,
        live,
        stats,
        rt: rt.clone(),
        sequencer: Default::default(),
    }))
}

/// Samples RocksDB's properties twice a second for INFO (storage side).
pub(crate) async fn sampler(engine: Arc<Engine>, stats: Arc<EngineStats>) {
    let mut every = tokio::time::interval(Duration::from_millis(500));
    loop {
        every.tick().await;
        engine.sample(&stats);
    }
}

/// Starts the thread that ends memtables at `--rocksdb-memtable-max-entries` entries
/// (see [`Engine::end_full_memtable`]), from a thread of the storage runtime so that it
/// runs on the storage cores.
pub(crate) fn start_memtable_watcher(rt: &tokio::runtime::Handle, engine: &Arc<Engine>) {
    let Some(watcher) = engine.memtable_watcher() else {
        return;
    };
    // A thread of its own (the loop never ends while the server runs), started by a
    // thread of the storage runtime so that it inherits the storage cores.
    rt.spawn_blocking(move || {
        let started = std::thread::Builder::new()
            .name("shardis-storage".into())
            .spawn(watcher);
        if let Err(e) = started {
            tracing::warn!(target: "shardis::storage", "no memtable watcher: {e}");
        }
    });
}

/// `appendfsync everysec`: makes the WAL durable once a second.
///
/// The sync runs on the storage runtime's blocking pool, not on a worker: a worker
/// blocked in `fdatasync` would hold up every shard it serves for as long as the disk
/// takes.
pub(crate) async fn wal_syncer(engine: Arc<Engine>, live: Arc<Live>) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        every.tick().await;
        if live.fsync_everysec() {
            let engine = engine.clone();
            let synced = tokio::task::spawn_blocking(move || engine.flush_wal(true)).await;
            if let Ok(Err(e)) = synced {
                tracing::error!(target: "shardis::storage", "WAL sync failed: {e}");
            }
        }
    }
}
