//! The storage side: shards, group commit, and the runtime they run on.
//!
//! ```text
//!  network thread ──ShardMsg::Run──▶ [flume, bounded] ──▶ shard task ──▶ RocksDB
//!        ▲                                                   │
//!        └──────────── ShardReply (per-connection channel) ◀─┘
//! ```
//!
//! In `--runtime dual` every shard is one task on the storage runtime (a multi-thread
//! tokio runtime whose workers are pinned to the storage cores). A shard task waits
//! for the first message, drains whatever else is already queued (up to
//! `batch-max` requests, never waiting for more), executes the group in arrival
//! order, commits its writes in one RocksDB batch and only then sends the replies.
//! One client alone therefore sees exactly one round trip per command.
//!
//! In `--runtime single` the same [`Shard`] code runs inline in the connection task,
//! behind a per-shard async mutex: the baseline the dual design is measured against.
//!
//! Only this side touches RocksDB ([`engine`] is the one module that imports it).
//! The network side talks to it only through [`Backend`].

pub mod cache;
pub mod encoding;
pub mod engine;
pub mod outbox;
pub mod shard;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::config::Live;
use crate::protocol::Reply;
pub use engine::{Engine, EngineOptions, StorageError};
pub use shard::{now_ms, KeyImage, Shard, ShardCounters, ShardReq, Span, Tx};

/// A message to a shard task.
pub enum ShardMsg {
    /// Run the requests of every part in order; each part's replies go to its sender.
    Run {
        /// One part per connection (several when a network thread's outbox batched them).
        parts: Vec<RunPart>,
    },
    /// Let a coordinator run requests alone on this shard until it drops the sender.
    Hold(oneshot::Sender<flume::Sender<HeldOp>>),
    /// Remove some expired keys.
    Sweep,
    /// Commit, then stop the shard.
    Stop(oneshot::Sender<()>),
}

/// One connection's requests for one shard.
pub struct RunPart {
    /// The requests, in the order the connection sent them.
    pub reqs: Vec<ShardReq>,
    /// The connection's reply channel.
    pub reply: ReplyTx,
    /// This shard's index, echoed in the reply.
    pub shard: u32,
}

/// The replies of one [`RunPart`].
pub struct ShardReply {
    /// The shard that answered.
    pub shard: u32,
    /// One reply per request, in order.
    pub replies: Vec<Reply>,
}

/// Where a shard sends the replies of one connection.
pub type ReplyTx = mpsc::UnboundedSender<ShardReply>;

/// One request of a coordinator holding a shard.
pub struct HeldOp {
    req: ShardReq,
    reply: oneshot::Sender<Reply>,
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
    senders: Vec<flume::Sender<ShardMsg>>,
    counters: Vec<Arc<ShardCounters>>,
    engine: Arc<Engine>,
}

/// The single runtime's shards.
pub struct SingleShards {
    shards: Vec<Arc<tokio::sync::Mutex<Shard>>>,
    counters: Vec<Arc<ShardCounters>>,
    engine: Arc<Engine>,
}

/// A connection's end of the shard reply channel (dual runtime).
pub struct ReplyChannel {
    tx: ReplyTx,
    rx: mpsc::UnboundedReceiver<ShardReply>,
}

impl Default for ReplyChannel {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        ReplyChannel { tx, rx }
    }
}

fn unavailable() -> Reply {
    Reply::error("ERR storage unavailable")
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
            outbox::install(&d.senders);
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
                let mut waiting = 0;
                for (s, reqs) in work.iter_mut().enumerate() {
                    if reqs.is_empty() {
                        continue;
                    }
                    let n = reqs.len();
                    let part = RunPart {
                        reqs: std::mem::take(reqs),
                        reply: chan.tx.clone(),
                        shard: s as u32,
                    };
                    // On a network thread the outbox batches it with other connections'.
                    let Err(part) = outbox::submit(s, part) else {
                        waiting += 1;
                        continue;
                    };
                    // A full channel parks this connection only: backpressure.
                    let msg = ShardMsg::Run { parts: vec![part] };
                    if d.senders[s].send_async(msg).await.is_ok() {
                        waiting += 1;
                    } else {
                        results[s] = (0..n).map(|_| unavailable()).collect();
                    }
                }
                while waiting > 0 {
                    match chan.rx.recv().await {
                        Some(r) => {
                            results[r.shard as usize] = r.replies;
                            waiting -= 1;
                        }
                        None => break,
                    }
                }
            }
            Backend::Single(single) => {
                for (s, reqs) in work.iter_mut().enumerate() {
                    if reqs.is_empty() {
                        continue;
                    }
                    let mut shard = single.shards[s].lock().await;
                    let replies = run_group(&mut shard, reqs, &single.counters[s]);
                    reqs.clear();
                    results[s] = replies;
                }
            }
        }
    }

    /// Holds `shards` (ascending, no duplicates) for a coordinated command.
    pub async fn hold(&self, shards: &[usize]) -> Result<Held, Reply> {
        let mut held = Vec::with_capacity(shards.len());
        match self {
            Backend::Dual(d) => {
                for &s in shards {
                    let (tx, rx) = oneshot::channel();
                    d.senders[s]
                        .send_async(ShardMsg::Hold(tx))
                        .await
                        .map_err(|_| unavailable())?;
                    let ops = rx.await.map_err(|_| unavailable())?;
                    held.push((s, HeldShard::Dual(ops)));
                }
            }
            Backend::Single(single) => {
                for &s in shards {
                    let guard = single.shards[s].clone().lock_owned().await;
                    held.push((s, HeldShard::Single(guard)));
                }
            }
        }
        Ok(Held { held })
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

/// Shards held by a coordinator; dropping it releases them.
pub struct Held {
    held: Vec<(usize, HeldShard)>,
}

enum HeldShard {
    Dual(flume::Sender<HeldOp>),
    Single(tokio::sync::OwnedMutexGuard<Shard>),
}

impl Held {
    /// Runs one request on held shard `shard` and commits it.
    pub async fn exec(&mut self, shard: usize, req: ShardReq) -> Reply {
        let Some((_, h)) = self.held.iter_mut().find(|(s, _)| *s == shard) else {
            return Reply::error("ERR internal error: shard not held");
        };
        match h {
            HeldShard::Dual(ops) => {
                let (tx, rx) = oneshot::channel();
                if ops.send_async(HeldOp { req, reply: tx }).await.is_err() {
                    return unavailable();
                }
                rx.await.unwrap_or_else(|_| unavailable())
            }
            HeldShard::Single(guard) => run_one(guard, req),
        }
    }
}

/// Executes and commits one request.
fn run_one(shard: &mut Shard, req: ShardReq) -> Reply {
    let (reply, wrote) = shard.execute(&req, now_ms());
    match shard.commit() {
        Err(e) if wrote => Reply::Error(format!("ERR {e}").into()),
        _ => reply,
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
            replies[i] = Reply::Error(format!("ERR {e}").into());
        }
    }
    counters.record_group(reqs.len() as u64, false);
    replies
}

struct Pending {
    reply: ReplyTx,
    shard: u32,
    replies: Vec<Reply>,
    wrote: Vec<u32>,
}

/// The task that owns one shard in the dual runtime.
async fn shard_task(
    mut shard: Shard,
    rx: flume::Receiver<ShardMsg>,
    live: Arc<Live>,
    counters: Arc<ShardCounters>,
) {
    let mut pending: Vec<Pending> = Vec::new();
    while let Ok(first) = rx.recv_async().await {
        let batch_max = live.batch_max().max(1);
        let now = now_ms();
        let mut size = 0usize;
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                ShardMsg::Run { parts } => {
                    for part in parts {
                        let mut replies = Vec::with_capacity(part.reqs.len());
                        let mut wrote = Vec::new();
                        for req in &part.reqs {
                            let (r, w) = shard.execute(req, now);
                            if w {
                                wrote.push(replies.len() as u32);
                            }
                            replies.push(r);
                        }
                        size += part.reqs.len();
                        pending.push(Pending {
                            reply: part.reply,
                            shard: part.shard,
                            replies,
                            wrote,
                        });
                    }
                }
                ShardMsg::Sweep => shard.sweep(now, 256),
                ShardMsg::Hold(granted) => {
                    finish_group(&mut shard, &mut pending, size, &counters);
                    size = 0;
                    serve_hold(&mut shard, granted).await;
                }
                ShardMsg::Stop(done) => {
                    finish_group(&mut shard, &mut pending, size, &counters);
                    let _ = done.send(());
                    return;
                }
            }
            if size < batch_max {
                next = rx.try_recv().ok();
            }
        }
        finish_group(&mut shard, &mut pending, size, &counters);
    }
    let _ = shard.commit();
}

fn finish_group(
    shard: &mut Shard,
    pending: &mut Vec<Pending>,
    size: usize,
    counters: &ShardCounters,
) {
    let result = shard.commit();
    if let Err(e) = &result {
        tracing::error!(target: "shardis::storage", shard = shard.id(), "commit failed: {e}");
    }
    counters.record_group(size as u64, result.is_err());
    for p in pending.drain(..) {
        let mut replies = p.replies;
        if let Err(e) = &result {
            for i in p.wrote {
                replies[i as usize] = Reply::Error(format!("ERR {e}").into());
            }
        }
        let _ = p.reply.send(ShardReply {
            shard: p.shard,
            replies,
        });
    }
}

async fn serve_hold(shard: &mut Shard, granted: oneshot::Sender<flume::Sender<HeldOp>>) {
    let (tx, rx) = flume::unbounded();
    if granted.send(tx).is_err() {
        return;
    }
    while let Ok(op) = rx.recv_async().await {
        let _ = op.reply.send(run_one(shard, op.req));
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
) -> Backend {
    let mut senders = Vec::with_capacity(shards);
    let mut counters = Vec::with_capacity(shards);
    for id in 0..shards {
        let (tx, rx) = flume::bounded(capacity.max(1));
        let c = Arc::new(ShardCounters::default());
        let shard = Shard::new(
            id,
            shards,
            engine.clone(),
            live.clone(),
            c.clone(),
            cache / shards,
        );
        rt.spawn(shard_task(shard, rx, live.clone(), c.clone()));
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
    rt.spawn(wal_syncer(engine.clone(), live));
    Backend::Dual(Arc::new(DualShards {
        senders,
        counters,
        engine,
    }))
}

/// Builds the shards of the single runtime, whose tasks run on `rt`.
pub fn start_single(
    rt: &tokio::runtime::Handle,
    engine: Arc<Engine>,
    live: Arc<Live>,
    shards: usize,
    cache: usize,
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
    rt.spawn(wal_syncer(engine.clone(), live));
    Backend::Single(Arc::new(SingleShards {
        counters,
        shards: list,
        engine,
    }))
}

/// `appendfsync everysec`: makes the WAL durable once a second.
async fn wal_syncer(engine: Arc<Engine>, live: Arc<Live>) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        every.tick().await;
        if live.fsync_everysec() {
            if let Err(e) = engine.flush_wal(true) {
                tracing::error!(target: "shardis::storage", "WAL sync failed: {e}");
            }
        }
    }
}
