//! What a shard tells the network side after a commit: keyspace events and touched keys.
//!
//! Handlers name their events as they write (`Tx::notify`, with Redis 7.0's event
//! names and classes); every write of a key (the same points that raise WATCH flags)
//! also records the key as touched while some client uses CLIENT TRACKING. Both wait
//! in the shard until the group's RocksDB write succeeds, then go to the [`Listener`]
//! the server installed (the pub/sub registry and the tracking table) before the
//! group's replies leave, so a subscriber has the event before the writer has its
//! reply. A failed write, or a script whose writes are dropped, drops them too.
//!
//! While `notify-keyspace-events` is empty and nobody tracks, a write costs one relaxed
//! load per check and nothing is recorded.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use bytes::Bytes;

/// One keyspace event: `event` happened to `key` in `db`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEvent {
    /// Its command's position in a hold (a transaction's, a round of linked commands'):
    /// a hold's events are published in this order ...
    pub rank: u64,
    /// ... then in the order they happened, across shards.
    pub seq: u64,
    /// The database.
    pub db: u8,
    /// Redis's event name (`set`, `lpush`, `expired` ...).
    pub event: &'static str,
    /// The key.
    pub key: Bytes,
}

/// A key some command wrote (or that expired), for CLIENT TRACKING.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touched {
    /// The database.
    pub db: u8,
    /// The key.
    pub key: Bytes,
    /// The client whose command wrote it (0: the server, as for expiry), for NOLOOP.
    pub client: u64,
}

/// Receives what committed groups did; runs on the shard's thread, so it must be quick
/// (it appends to mailboxes and rings doorbells).
pub trait Listener: Send + Sync {
    /// Keyspace events of one commit, in the order the commands made them.
    fn events(&self, events: &[KeyEvent]);
    /// Keys one commit wrote.
    fn touched(&self, keys: &[Touched]);
}

/// Shared by every shard: whether keys must be recorded as touched, and the listener.
#[derive(Default)]
pub struct Notifier {
    trackers: AtomicUsize,
    seq: AtomicU64,
    listener: OnceLock<Box<dyn Listener>>,
}

impl Notifier {
    /// Installs the listener (once, at start-up).
    pub fn listen(&self, listener: Box<dyn Listener>) {
        let _ = self.listener.set(listener);
    }

    /// Sets how many clients use CLIENT TRACKING (0 stops recording touched keys).
    pub fn set_trackers(&self, n: usize) {
        self.trackers.store(n, Ordering::Relaxed);
    }

    /// The next event's sequence number.
    pub fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether touched keys are recorded.
    pub fn tracking(&self) -> bool {
        self.trackers.load(Ordering::Relaxed) > 0
    }
}

/// A shard's events and touched keys not yet committed.
#[derive(Default)]
pub(crate) struct Notes {
    pub(crate) events: Vec<KeyEvent>,
    pub(crate) touched: Vec<Touched>,
}

impl Notes {
    /// Whether nothing is buffered.
    pub(crate) fn is_empty(&self) -> bool {
        self.events.is_empty() && self.touched.is_empty()
    }

    /// How many of each are buffered: a mark to [`Notes::truncate`] to.
    pub(crate) fn mark(&self) -> (usize, usize) {
        (self.events.len(), self.touched.len())
    }

    /// Forgets what was recorded after `mark` (writes that were dropped).
    pub(crate) fn truncate(&mut self, mark: (usize, usize)) {
        self.events.truncate(mark.0);
        self.touched.truncate(mark.1);
    }

    /// Takes over another held shard's notes, keeping events in the order they happened.
    pub(crate) fn absorb(&mut self, other: Notes) {
        if !other.events.is_empty() {
            self.events.extend(other.events);
            self.events.sort_by_key(|e| (e.rank, e.seq));
        }
        self.touched.extend(other.touched);
    }

    /// Records that `key` was written, unless it was the last key recorded.
    pub(crate) fn touch(&mut self, db: u8, key: &[u8], client: u64) {
        if let Some(last) = self.touched.last() {
            if last.db == db && last.client == client && last.key == key {
                return;
            }
        }
        self.touched.push(Touched {
            db,
            key: Bytes::copy_from_slice(key),
            client,
        });
    }

    /// Hands everything to the listener (the group's write succeeded).
    pub(crate) fn deliver(&mut self, notifier: &Notifier) {
        if self.events.is_empty() && self.touched.is_empty() {
            return;
        }
        if let Some(l) = notifier.listener.get() {
            if !self.events.is_empty() {
                l.events(&self.events);
            }
            if !self.touched.is_empty() {
                l.touched(&self.touched);
            }
        }
        self.clear();
    }

    /// Drops everything (the group's write failed).
    pub(crate) fn clear(&mut self) {
        self.events.clear();
        self.touched.clear();
    }
}
