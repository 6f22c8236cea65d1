//! The network thread's end of the dual runtime's shard channels.
//!
//! Every connection on a network thread could send its own message to a shard, but
//! then a shard wakes and commits once per connection. Instead each network thread
//! keeps an outbox with one queue per shard: connections drop their work there, and a
//! flusher task per shard sends everything queued as **one** message once the thread
//! has run its other ready tasks (it yields first, so the connections served in the
//! same turn of the event loop join the same message). The shard then executes the
//! whole message as one group: one RocksDB write and one wake-up for many clients,
//! the way Redis answers everything one event-loop pass has read.
//!
//! Order is kept: a connection's work for a shard is queued in order, one flusher per
//! shard sends in order, and a flusher waiting on a full channel only holds back the
//! work queued for that shard; the connections sending elsewhere go on.
//!
//! The outbox is thread-local and used only on network threads of the dual runtime;
//! elsewhere [`submit`] hands the work back for a direct send.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::Notify;

use super::{RunPart, ShardCounters, ShardMsg, ShardReply};
use crate::protocol::Reply;

/// Most parts (one per connection and batch) queued for one shard on one thread.
const MAX_QUEUED_PARTS: usize = 4096;

struct Queue {
    parts: RefCell<Vec<RunPart>>,
    notify: Notify,
}

thread_local! {
    static OUTBOX: RefCell<Option<Rc<Vec<Queue>>>> = const { RefCell::new(None) };
}

/// Sets up this thread's outbox and spawns its flusher tasks. Call from inside the
/// network thread's `LocalRuntime`.
pub fn install(senders: &[flume::Sender<ShardMsg>], counters: &[Arc<ShardCounters>]) {
    let queues: Rc<Vec<Queue>> = Rc::new(
        senders
            .iter()
            .map(|_| Queue {
                parts: RefCell::new(Vec::new()),
                notify: Notify::new(),
            })
            .collect(),
    );
    for (shard, tx) in senders.iter().enumerate() {
        tokio::task::spawn_local(flusher(
            queues.clone(),
            shard,
            tx.clone(),
            counters[shard].clone(),
        ));
    }
    OUTBOX.with(|o| *o.borrow_mut() = Some(queues));
}

/// Queues `part` for `shard` on this thread's outbox, or gives it back if this thread
/// has none.
pub fn submit(shard: usize, part: RunPart) -> Result<(), RunPart> {
    OUTBOX.with(|o| match o.borrow().as_ref() {
        Some(queues) => {
            let q = &queues[shard];
            let mut parts = q.parts.borrow_mut();
            // Bounded: past the cap the caller sends directly and waits on the channel
            // (backpressure), so a stalled shard cannot make this queue grow forever.
            if parts.len() >= MAX_QUEUED_PARTS {
                return Err(part);
            }
            parts.push(part);
            q.notify.notify_one();
            Ok(())
        }
        None => Err(part),
    })
}

async fn flusher(
    queues: Rc<Vec<Queue>>,
    shard: usize,
    tx: flume::Sender<ShardMsg>,
    counters: Arc<ShardCounters>,
) {
    loop {
        queues[shard].notify.notified().await;
        // Let the other connections that are ready in this turn queue their work too.
        tokio::task::yield_now().await;
        let parts = std::mem::take(&mut *queues[shard].parts.borrow_mut());
        if parts.is_empty() {
            continue;
        }
        let msg = match tx.try_send(ShardMsg::Run { parts }) {
            Ok(()) => continue,
            Err(flume::TrySendError::Full(msg)) => {
                counters.backpressure.fetch_add(1, Ordering::Relaxed);
                match tx.send_async(msg).await {
                    Ok(()) => continue,
                    Err(flume::SendError(msg)) => msg,
                }
            }
            Err(flume::TrySendError::Disconnected(msg)) => msg,
        };
        if let ShardMsg::Run { parts } = msg {
            for p in parts {
                let replies = p
                    .reqs
                    .iter()
                    .map(|_| Reply::error("ERR storage unavailable"))
                    .collect();
                let _ = p.reply.send(ShardReply {
                    shard: p.shard,
                    seq: p.seq,
                    times: Default::default(),
                    replies,
                });
            }
        }
    }
}
