//! Pub/sub on the network side: who listens to which channel, pattern or shard
//! channel, and the delivery of messages into each subscriber's [`Mailbox`].
//!
//! Nothing here touches storage, so no RocksDB flush, compaction or stall can delay a
//! PUBLISH. A publisher encodes the message once per protocol (RESP2 array, RESP3
//! push), appends it to each receiver's mailbox under that mailbox's lock and rings
//! the receiver's doorbell; the receiver's own task writes it to the socket. The
//! registry is read-mostly (a `RwLock` per kind); subscribing takes its write lock.
//!
//! Memory is bounded by `client-output-buffer-limit pubsub` (Redis's default: 32mb
//! hard, 8mb for 60 s soft): a subscriber whose unwritten messages pass the hard
//! limit, or stay past the soft one for its seconds, is disconnected and its messages
//! dropped, instead of growing the server.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use ahash::AHashMap;
use bytes::Bytes;

use super::ClientInfo;
use crate::protocol::Reply;

/// The three kinds of subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SUBSCRIBE: a channel.
    Channel = 0,
    /// PSUBSCRIBE: a glob pattern over channels.
    Pattern = 1,
    /// SSUBSCRIBE: a shard channel (SPUBLISH).
    Shard = 2,
}

type Listeners = AHashMap<Bytes, Vec<Arc<ClientInfo>>>;

/// Every subscription of every client.
#[derive(Default)]
pub struct PubSub {
    kinds: [RwLock<Listeners>; 3],
}

impl PubSub {
    fn read(&self, kind: Kind) -> std::sync::RwLockReadGuard<'_, Listeners> {
        self.kinds[kind as usize]
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self, kind: Kind) -> std::sync::RwLockWriteGuard<'_, Listeners> {
        self.kinds[kind as usize]
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `client` to `name`'s listeners.
    pub fn subscribe(&self, kind: Kind, name: &Bytes, client: &Arc<ClientInfo>) {
        let mut map = self.write(kind);
        let list = map.entry(name.clone()).or_default();
        if !list.iter().any(|c| c.id == client.id) {
            list.push(client.clone());
        }
    }

    /// Removes client `id` from `name`'s listeners.
    pub fn unsubscribe(&self, kind: Kind, name: &[u8], id: u64) {
        let mut map = self.write(kind);
        if let Some(list) = map.get_mut(name) {
            list.retain(|c| c.id != id);
            if list.is_empty() {
                map.remove(name);
            }
        }
    }

    /// PUBLISH (`Kind::Channel`) or SPUBLISH (`Kind::Shard`): delivers `message` to
    /// the channel's listeners (and, for PUBLISH, to every matching pattern's) and
    /// returns how many received it.
    pub fn publish(&self, kind: Kind, channel: &Bytes, message: &Bytes, limits: Limits) -> i64 {
        let mut n = 0;
        let head: &'static str = if kind == Kind::Shard {
            "smessage"
        } else {
            "message"
        };
        if let Some(list) = self.read(kind).get(channel.as_ref()) {
            let frame = Frames::new(Reply::Push(vec![
                Reply::bulk_static(head),
                Reply::Bulk(channel.clone()),
                Reply::Bulk(message.clone()),
            ]));
            for c in list {
                c.mailbox.post(&frame, c, limits);
                n += 1;
            }
        }
        if kind == Kind::Channel {
            for (pattern, list) in self.read(Kind::Pattern).iter() {
                if !crate::glob::matches(pattern, channel, false) {
                    continue;
                }
                let frame = Frames::new(Reply::Push(vec![
                    Reply::bulk_static("pmessage"),
                    Reply::Bulk(pattern.clone()),
                    Reply::Bulk(channel.clone()),
                    Reply::Bulk(message.clone()),
                ]));
                for c in list {
                    c.mailbox.post(&frame, c, limits);
                    n += 1;
                }
            }
        }
        n
    }

    /// The names of `kind` that have listeners, optionally only those matching a glob.
    pub fn names(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let map = self.read(kind);
        map.keys()
            .filter(|n| pattern.is_none_or(|p| crate::glob::matches(p, n, false)))
            .cloned()
            .collect()
    }

    /// How many clients listen to `name`.
    pub fn listeners(&self, kind: Kind, name: &[u8]) -> usize {
        self.read(kind).get(name).map_or(0, Vec::len)
    }

    /// How many patterns have listeners (PUBSUB NUMPAT).
    pub fn patterns(&self) -> usize {
        self.read(Kind::Pattern).len()
    }
}

/// client-output-buffer-limit for one class: hard and soft bytes (0: none) and the
/// soft limit's seconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// Past this many unwritten bytes the client is disconnected.
    pub hard: u64,
    /// Past this many for `soft_secs` seconds, too.
    pub soft: u64,
    /// How long the soft limit may be exceeded.
    pub soft_secs: u64,
}

/// A message encoded for each protocol, once for all its receivers.
pub struct Frames {
    reply: Reply,
    resp2: std::cell::OnceCell<Vec<u8>>,
    resp3: std::cell::OnceCell<Vec<u8>>,
}

impl Frames {
    /// The frames of `reply` (encoded when first asked for).
    pub fn new(reply: Reply) -> Frames {
        Frames {
            reply,
            resp2: Default::default(),
            resp3: Default::default(),
        }
    }

    /// The encoding for a RESP3 client or a RESP2 one.
    pub fn bytes(&self, resp3: bool) -> &[u8] {
        let cell = if resp3 { &self.resp3 } else { &self.resp2 };
        cell.get_or_init(|| {
            let mut out = Vec::new();
            self.reply.encode(&mut out, resp3);
            out
        })
    }
}

/// What other connections have sent a client (messages, invalidations, MONITOR
/// lines) and its task has not written yet.
#[derive(Default)]
pub struct Mailbox {
    queue: Mutex<Vec<u8>>,
    /// Bytes queued plus bytes being written (what the limits count).
    pending: AtomicUsize,
    /// Since when (ms since the Unix epoch) the soft limit has been exceeded; 0: not.
    over_since: AtomicU64,
}

impl Mailbox {
    /// Appends `frames` for `client` and rings its doorbell, unless the client is past
    /// its output limits, in which case it is disconnected instead.
    pub fn post(&self, frames: &Frames, client: &ClientInfo, limits: Limits) {
        if client.doorbell.killed() {
            return;
        }
        let resp3 = client.resp.load(Ordering::Relaxed) == 3;
        let bytes = frames.bytes(resp3);
        let pending = self.pending.fetch_add(bytes.len(), Ordering::AcqRel) + bytes.len();
        if self.over_limits(pending as u64, limits) {
            tracing::warn!(
                target: "shardis::network",
                client = client.id,
                "closing client that passed the client-output-buffer-limit ({pending} bytes)"
            );
            self.queue.lock().unwrap_or_else(|e| e.into_inner()).clear();
            client.doorbell.kill();
            return;
        }
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
        client.doorbell.ring();
    }

    fn over_limits(&self, pending: u64, l: Limits) -> bool {
        if l.hard > 0 && pending > l.hard {
            return true;
        }
        if l.soft == 0 || pending <= l.soft {
            self.over_since.store(0, Ordering::Relaxed);
            return false;
        }
        let now = crate::clock::now_ms();
        match self.over_since.load(Ordering::Relaxed) {
            0 => {
                self.over_since.store(now, Ordering::Relaxed);
                false
            }
            since => now.saturating_sub(since) >= l.soft_secs * 1000,
        }
    }

    /// Whether anything waits to be written.
    pub fn has_mail(&self) -> bool {
        self.pending.load(Ordering::Acquire) > 0
    }

    /// Moves what is queued to the end of `out`; call [`Mailbox::written`] with the
    /// count once it is on the socket.
    pub fn take_into(&self, out: &mut Vec<u8>) -> usize {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let n = q.len();
        out.extend_from_slice(&q);
        q.clear();
        n
    }

    /// `n` bytes taken with [`Mailbox::take_into`] were written.
    pub fn written(&self, n: usize) {
        self.pending.fetch_sub(n, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(id: u64) -> Arc<ClientInfo> {
        let a = "127.0.0.1:1".parse().unwrap();
        Arc::new(ClientInfo::new(id, a, a))
    }

    #[test]
    fn publish_counts_channel_and_pattern_receivers() {
        let ps = PubSub::default();
        let (a, b) = (client(1), client(2));
        let ch = Bytes::from_static(b"news.tech");
        ps.subscribe(Kind::Channel, &ch, &a);
        ps.subscribe(Kind::Channel, &ch, &a);
        ps.subscribe(Kind::Pattern, &Bytes::from_static(b"news.*"), &a);
        ps.subscribe(Kind::Pattern, &Bytes::from_static(b"news.*"), &b);
        ps.subscribe(Kind::Pattern, &Bytes::from_static(b"sport.*"), &b);
        let n = ps.publish(
            Kind::Channel,
            &ch,
            &Bytes::from_static(b"hi"),
            Limits::default(),
        );
        assert_eq!(n, 3);
        let mut out = Vec::new();
        a.mailbox.take_into(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("*3\r\n$7\r\nmessage\r\n$9\r\nnews.tech\r\n$2\r\nhi\r\n"));
        assert!(text.contains("*4\r\n$8\r\npmessage\r\n$6\r\nnews.*\r\n"));
        assert_eq!(ps.patterns(), 2);
        ps.unsubscribe(Kind::Channel, &ch, 1);
        assert_eq!(ps.listeners(Kind::Channel, &ch), 0);
        assert!(ps.names(Kind::Channel, None).is_empty());
        let n = ps.publish(
            Kind::Shard,
            &ch,
            &Bytes::from_static(b"x"),
            Limits::default(),
        );
        assert_eq!(n, 0);
    }

    #[test]
    fn a_subscriber_past_the_hard_limit_is_closed_and_its_mail_dropped() {
        let ps = PubSub::default();
        let a = client(1);
        let ch = Bytes::from_static(b"c");
        ps.subscribe(Kind::Channel, &ch, &a);
        let limits = Limits {
            hard: 1000,
            soft: 0,
            soft_secs: 0,
        };
        let big = Bytes::from(vec![b'x'; 300]);
        for _ in 0..3 {
            ps.publish(Kind::Channel, &ch, &big, limits);
        }
        assert!(!a.doorbell.killed());
        ps.publish(Kind::Channel, &ch, &big, limits);
        assert!(a.doorbell.killed());
        let mut out = Vec::new();
        assert_eq!(a.mailbox.take_into(&mut out), 0);
    }
}
