//! The dual runtime's shard tasks: group commit, holds, fault injection, supervision.
//!
//! A shard task waits for its first message, then drains what is already queued (it
//! never waits for more) and executes it in order. Every `batch-max` requests, and when
//! it stops draining (the queue is empty, or it took `batch-max` requests since it woke
//! and lets the other shards on its thread run), it commits what it executed in one
//! RocksDB write (a group), and only then sends the group's replies. A group may end
//! inside one connection's pipeline; that part's replies then wait for the commit of
//! its last request.
//!
//! Every reply that is owed travels in a [`Pending`] that answers with an error if it
//! is dropped unsent, so a shard that panics mid-group still answers everyone: its
//! supervisor logs the panic and starts a fresh shard on the same channel. What the
//! panicked group had not committed was never acknowledged.
//!
//! With `appendfsync always` a shard does not wait for the fsync itself: it writes the
//! group without sync and hands the group's replies to the [`SyncStage`], a thread
//! that syncs the WAL once for everything handed to it meanwhile (by every shard) and
//! only then releases those replies. The shard goes on with its next group while the
//! disk syncs, and one fsync covers the groups of all shards that arrived together.
//! Reads go through the stage too, so no client is told about data before it is on
//! disk.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::channel::{self, ShardRx};
use super::notify::{Notes, Notifier};
use super::outbox::Deliveries;
use super::{
    hold, now_ms, sampler, start_memtable_watcher, wal_syncer, Backend, DebugOp, DualShards,
    Engine, EngineStats, ReplyTx, Shard, ShardCounters, ShardMsg, ShardReply, StageTimes,
};
use crate::config::Live;
use crate::error::text;
use crate::protocol::Reply;

/// Replies owed to one connection for one part; answers with an error if dropped
/// before [`Pending::send`] (a panic unwinding through the group).
struct Pending {
    reply: Option<ReplyTx>,
    shard: u32,
    seq: u64,
    replies: Vec<Reply>,
    wrote: Vec<u32>,
    /// Queue wait and execution; the commit stage runs until the reply is sent.
    times: StageTimes,
    executed: std::time::Instant,
}

impl Pending {
    /// Turns the replies of the writes executed so far into errors: their commit
    /// failed.
    fn fail_writes(&mut self, e: &str) {
        for i in self.wrote.drain(..) {
            self.replies[i as usize] = crate::error::CommandError::commit_failed(e).into();
        }
    }

    /// Hands the replies to `out` (sent when the caller flushes it).
    fn send(mut self, failed: Option<&str>, out: &mut Deliveries) {
        if let Some(e) = failed {
            self.fail_writes(e);
        }
        let replies = std::mem::take(&mut self.replies);
        if let Some(tx) = self.reply.take() {
            let mut times = self.times;
            times.commit_us = self.executed.elapsed().as_micros() as u64;
            out.add(
                tx,
                ShardReply {
                    shard: self.shard,
                    seq: self.seq,
                    times,
                    replies,
                },
            );
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(tx) = self.reply.take() {
            let n = self.replies.len();
            tx.send(ShardReply {
                shard: self.shard,
                seq: self.seq,
                times: self.times,
                replies: (0..n).map(|_| Reply::error(text::SHARD_FAILED)).collect(),
            });
        }
    }
}

/// The thread that syncs the WAL for groups committed without sync and then releases
/// their replies (`appendfsync always`).
#[derive(Clone)]
struct SyncStage {
    tx: flume::Sender<(Vec<Pending>, Notes)>,
}

impl SyncStage {
    /// Starts the stage on a blocking thread of the storage runtime (so it inherits
    /// the storage side's placement).
    fn start(
        rt: &tokio::runtime::Handle,
        engine: Arc<Engine>,
        notifier: Arc<Notifier>,
    ) -> SyncStage {
        let (tx, rx) = flume::unbounded::<(Vec<Pending>, Notes)>();
        rt.spawn_blocking(move || {
            while let Ok(first) = rx.recv() {
                let mut groups = vec![first];
                groups.extend(rx.try_iter());
                let failed = engine
                    .flush_wal(true)
                    .err()
                    .map(|e| format!("WAL sync failed: {e}"));
                if let Some(e) = &failed {
                    tracing::error!(target: "shardis::storage", "{e}");
                }
                let mut out = Deliveries::default();
                for (pending, mut notes) in groups {
                    // Keyspace events and invalidations first, then the replies.
                    if failed.is_none() {
                        notes.deliver(&notifier);
                    }
                    for p in pending {
                        p.send(failed.as_deref(), &mut out);
                    }
                }
                out.flush();
            }
        });
        SyncStage { tx }
    }

    /// Hands over a committed group's replies; they go out after the next WAL sync.
    fn submit(&self, pending: Vec<Pending>, notes: Notes) {
        // If the stage is gone the Pendings are dropped, which answers with errors.
        let _ = self.tx.send((pending, notes));
    }
}

/// Starts the shard tasks of the dual runtime on `rt` and returns the backend.
pub fn start_dual(
    rt: &tokio::runtime::Handle,
    engine: Arc<Engine>,
    live: Arc<Live>,
    shards: usize,
    capacity: usize,
    cache: usize,
    notifier: Arc<Notifier>,
) -> Backend {
    let mut senders = Vec::with_capacity(shards);
    let mut counters = Vec::with_capacity(shards);
    let stage = SyncStage::start(rt, engine.clone(), notifier.clone());
    for id in 0..shards {
        let (tx, rx) = channel::bounded(capacity.max(1));
        let c = Arc::new(ShardCounters::default());
        let (engine, live, c2, rt2) = (engine.clone(), live.clone(), c.clone(), rt.clone());
        let (stage, notifier) = (stage.clone(), notifier.clone());
        rt.spawn(async move {
            let shard_cache = cache / shards;
            supervise(
                rt2,
                id,
                shards,
                engine,
                live,
                c2,
                rx,
                shard_cache,
                stage,
                notifier,
            )
            .await;
        });
        senders.push(tx);
        counters.push(c);
    }
    let ticks = senders.clone();
    rt.spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(100));
        loop {
            every.tick().await;
            for tx in &ticks {
                // Skipped when the shard is busy: the sweep can wait.
                let _ = tx.try_send(ShardMsg::Sweep);
            }
        }
    });
    rt.spawn(wal_syncer(engine.clone(), live.clone()));
    start_memtable_watcher(rt, &engine);
    let stats = Arc::new(EngineStats::default());
    rt.spawn(sampler(engine.clone(), stats.clone()));
    Backend::Dual(Arc::new(DualShards {
        senders,
        counters,
        engine,
        live,
        stats,
        rt: rt.clone(),
        sequencer: Default::default(),
    }))
}

/// Runs shard `id`, and starts it again (fresh state, same channel) if it panics.
#[allow(clippy::too_many_arguments)]
async fn supervise(
    rt: tokio::runtime::Handle,
    id: usize,
    shards: usize,
    engine: Arc<Engine>,
    live: Arc<Live>,
    counters: Arc<ShardCounters>,
    rx: ShardRx,
    cache: usize,
    stage: SyncStage,
    notifier: Arc<Notifier>,
) {
    loop {
        let shard = Shard::new(
            id,
            shards,
            engine.clone(),
            live.clone(),
            counters.clone(),
            cache,
            notifier.clone(),
        );
        let task = rt.spawn(shard_task(
            shard,
            rx.clone(),
            live.clone(),
            counters.clone(),
            stage.clone(),
        ));
        match task.await {
            Err(e) if e.is_panic() => {
                counters.restarts.fetch_add(1, Ordering::Relaxed);
                tracing::error!(target: "shardis::storage", shard = id, "shard panicked; restarting it");
            }
            _ => return,
        }
    }
}

/// The task that owns one shard.
async fn shard_task(
    mut shard: Shard,
    rx: ShardRx,
    live: Arc<Live>,
    counters: Arc<ShardCounters>,
    stage: SyncStage,
) {
    let mut pending: Vec<Pending> = Vec::new();
    while let Some(first) = rx.recv().await {
        counters
            .queue_peak
            .fetch_max(rx.len() as u64 + 1, Ordering::Relaxed);
        let batch_max = live.batch_max().max(1);
        let mut now = now_ms();
        // Requests in the group not yet committed, and requests taken since the wake.
        let mut size = 0usize;
        let mut drained = 0usize;
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                ShardMsg::Run { parts } => {
                    // One clock read per request: each part starts when the one before
                    // it ended, each request when the one before it ended.
                    let mut clock = std::time::Instant::now();
                    for part in parts {
                        let started = clock;
                        let mut p = Pending {
                            reply: Some(part.reply),
                            shard: part.shard,
                            seq: part.seq,
                            replies: Vec::with_capacity(part.reqs.len()),
                            wrote: Vec::new(),
                            times: StageTimes {
                                queue_us: started.saturating_duration_since(part.sent).as_micros()
                                    as u64,
                                ..Default::default()
                            },
                            executed: started,
                        };
                        for req in &part.reqs {
                            let (r, w, ended) = shard.execute_from(req, now, clock);
                            clock = ended;
                            if w {
                                p.wrote.push(p.replies.len() as u32);
                            }
                            p.replies.push(r);
                            size += 1;
                            if size >= batch_max {
                                // A full group inside a part: commit it now. The part's
                                // replies wait for the commit of its last request.
                                let result =
                                    finish_group(&mut shard, &mut pending, size, &counters, &stage);
                                if let Err(e) = result {
                                    p.fail_writes(&e);
                                }
                                size = 0;
                            }
                        }
                        p.executed = clock;
                        p.times.storage_us = clock.duration_since(started).as_micros() as u64;
                        drained += part.reqs.len();
                        pending.push(p);
                    }
                }
                ShardMsg::Sweep => {
                    // Between groups, with a fresh clock.
                    let _ = finish_group(&mut shard, &mut pending, size, &counters, &stage);
                    size = 0;
                    now = now_ms();
                    shard.sweep(now, 256);
                }
                ShardMsg::Hold(granted) => {
                    let _ = finish_group(&mut shard, &mut pending, size, &counters, &stage);
                    size = 0;
                    hold::serve(&mut shard, granted).await;
                    now = now_ms();
                }
                ShardMsg::Call(op) => {
                    let _ = finish_group(&mut shard, &mut pending, size, &counters, &stage);
                    size = 0;
                    op(&mut shard);
                    if let Err(e) = shard.commit() {
                        tracing::error!(target: "shardis::storage", shard = shard.id(), "commit failed: {e}");
                    }
                    now = now_ms();
                }
                ShardMsg::Stop(done) => {
                    let _ = finish_group(&mut shard, &mut pending, size, &counters, &stage);
                    let _ = done.send(());
                    return;
                }
                ShardMsg::Ping(done) => {
                    let _ = done.send(());
                }
                ShardMsg::Debug(op) => {
                    let _ = finish_group(&mut shard, &mut pending, size, &counters, &stage);
                    size = 0;
                    match op {
                        DebugOp::Stall(d) => {
                            tracing::warn!(target: "shardis::storage", shard = shard.id(), "DEBUG: stalling for {d:?}");
                            // Deliberately blocks the worker thread, as a stuck disk would.
                            std::thread::sleep(d);
                        }
                        DebugOp::FailWrites(n) => shard.fail_next_writes(n),
                        DebugOp::Panic => panic!("DEBUG STORAGE-PANIC on shard {}", shard.id()),
                    }
                    now = now_ms();
                }
            }
            if drained < batch_max {
                next = rx.try_recv();
            }
        }
        let _ = finish_group(&mut shard, &mut pending, size, &counters, &stage);
    }
    let _ = shard.commit();
}

/// Commits the shard's open write batch as one group and releases (or stages) the
/// replies of `pending`. Returns the commit's error, if any, for a part that is still
/// executing and had writes in this group.
fn finish_group(
    shard: &mut Shard,
    pending: &mut Vec<Pending>,
    size: usize,
    counters: &ShardCounters,
    stage: &SyncStage,
) -> Result<(), String> {
    let staged = shard.sync_in_stage();
    let result = if staged {
        shard.commit_unsynced()
    } else {
        shard.commit()
    };
    if let Err(e) = &result {
        tracing::error!(target: "shardis::storage", shard = shard.id(), "commit failed: {e}");
    }
    if size > 0 || result.is_err() {
        counters.record_group(size as u64, result.is_err());
    }
    if staged && result.is_ok() {
        let notes = shard.take_notes();
        if !pending.is_empty() || !notes.is_empty() {
            stage.submit(std::mem::take(pending), notes);
        }
        return Ok(());
    }
    let failed = result.err().map(|e| e.to_string());
    let mut out = Deliveries::default();
    for p in pending.drain(..) {
        p.send(failed.as_deref(), &mut out);
    }
    out.flush();
    failed.map_or(Ok(()), Err)
}
