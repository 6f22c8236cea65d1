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
//! The way back is batched too. Waking a task of a network thread from the storage
//! side costs a system call (an eventfd write to the thread's event loop), and tokio
//! does not merge them, so sending each connection its replies directly would cost one
//! per connection and group. Instead each network thread has an **inbox**: a shard
//! gathers a group's replies per network thread ([`Deliveries`]) and sends each thread
//! one message, and the thread's inbox task hands the replies to the connections, which
//! wakes them locally, without a system call.
//!
//! The outbox and the inbox are thread-local and used only on network threads of the
//! dual runtime; elsewhere [`submit`] hands the work back for a direct send and replies
//! go straight to the connection.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use tokio::sync::Notify;

use tokio::sync::mpsc;

use super::channel::ShardTx;
use super::{ConnTx, ReplyTx, RunPart, ShardCounters, ShardMsg, ShardReply};

/// Most parts (one per connection and batch) queued for one shard on one thread.
const MAX_QUEUED_PARTS: usize = 4096;

struct Queue {
    parts: RefCell<Vec<RunPart>>,
    notify: Notify,
}

/// Replies for the connections of one network thread.
type Delivery = Vec<(ConnTx, ShardReply)>;

/// A network thread's inbox: where shards send the replies for its connections.
pub type Inbox = mpsc::UnboundedSender<Delivery>;

thread_local! {
    static OUTBOX: RefCell<Option<Rc<Vec<Queue>>>> = const { RefCell::new(None) };
    static INBOX: RefCell<Option<Inbox>> = const { RefCell::new(None) };
}

/// This thread's inbox, if it has one.
pub fn inbox() -> Option<Inbox> {
    INBOX.with(|i| i.borrow().clone())
}

/// The inbox task: hands each reply to its connection (a local wake-up).
async fn deliver(mut rx: mpsc::UnboundedReceiver<Delivery>) {
    while let Some(batch) = rx.recv().await {
        for (conn, reply) in batch {
            let _ = conn.send(reply);
        }
    }
}

/// Replies gathered by a shard during a group, one batch per network thread.
#[derive(Default)]
pub struct Deliveries {
    batches: Vec<(Inbox, Delivery)>,
}

impl Deliveries {
    /// Adds a reply; connections without an inbox get it at once.
    pub fn add(&mut self, to: ReplyTx, reply: ShardReply) {
        let Some(inbox) = to.inbox else {
            let _ = to.conn.send(reply);
            return;
        };
        match self
            .batches
            .iter_mut()
            .find(|(i, _)| i.same_channel(&inbox))
        {
            Some((_, batch)) => batch.push((to.conn, reply)),
            None => self.batches.push((inbox, vec![(to.conn, reply)])),
        }
    }

    /// Sends every network thread its batch.
    pub fn flush(&mut self) {
        for (inbox, batch) in self.batches.drain(..) {
            if let Err(mpsc::error::SendError(batch)) = inbox.send(batch) {
                // The thread's inbox task is gone (it is shutting down): try directly.
                for (conn, reply) in batch {
                    let _ = conn.send(reply);
                }
            }
        }
    }
}

/// Sets up this thread's outbox and spawns its flusher tasks. Call from inside the
/// network thread's `LocalRuntime`.
pub(crate) fn install(senders: &[ShardTx], counters: &[Arc<ShardCounters>]) {
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
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::task::spawn_local(deliver(rx));
    INBOX.with(|i| *i.borrow_mut() = Some(tx));
    tokio::task::spawn_local(timer_anchor());
}

/// Keeps a timer pending on this thread that is always due within [`ANCHOR_TICK`].
///
/// Every batch a connection sends to the shards arms a storage timeout, and tokio
/// wakes the event loop with a system call (an eventfd write) whenever a timer is armed
/// that is due before every other pending timer, even when the loop is the one arming
/// it. With this timer pending, a timeout of more than [`ANCHOR_TICK`] is never the
/// earliest, so arming it costs no system call (measured: one eventfd write per
/// request at pipelining 1 before, none after).
async fn timer_anchor() {
    loop {
        tokio::time::sleep(ANCHOR_TICK).await;
    }
}

/// Period of [`timer_anchor`].
const ANCHOR_TICK: std::time::Duration = std::time::Duration::from_millis(50);

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

async fn flusher(queues: Rc<Vec<Queue>>, shard: usize, tx: ShardTx, counters: Arc<ShardCounters>) {
    loop {
        queues[shard].notify.notified().await;
        // Let the other connections that are ready in this turn queue their work too.
        tokio::task::yield_now().await;
        let parts = std::mem::take(&mut *queues[shard].parts.borrow_mut());
        if parts.is_empty() {
            continue;
        }
        let Err(msg) = tx.send_counted(ShardMsg::Run { parts }, &counters).await else {
            continue;
        };
        if let ShardMsg::Run { parts } = msg {
            for p in parts {
                let replies = p
                    .reqs
                    .iter()
                    .map(|_| crate::error::CommandError::Unavailable.into())
                    .collect();
                p.reply.send(ShardReply {
                    shard: p.shard,
                    seq: p.seq,
                    times: Default::default(),
                    replies,
                });
            }
        }
    }
}
