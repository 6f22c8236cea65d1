//! Clients blocked on keys (BLPOP, BLMOVE, BZPOPMIN ...), on the storage side.
//!
//! A blocked client is a [`Waiter`]: what to run when one of its keys gets data (a
//! [`ServeFn`] and the command's arguments) and where to send the reply. The
//! connection registers it with the shard of each of its keys, in the shard's queue
//! order and in the same step that found those keys empty, so no write can slip in
//! between the check and the registration. The waiter itself stays with the
//! connection, which also owns its timeout: a timeout or `CLIENT UNBLOCK` needs no
//! storage at all.
//!
//! Serving: every write of a key's value record while someone waits on the key marks
//! it *ready*. Once the command, the transaction or the hold that made it ready is
//! complete, the shard serves the ready keys: for each, its waiters in the order they
//! blocked, each one running its command on the key until the key has nothing left
//! to give. A served BLMOVE pushes to its destination, which may make that key ready
//! in turn: chains are served in the same pass. A group's waiters are served just
//! before the group is written, so their pops join its write (`Shard`'s
//! `commit_with`); after a hold, or when the sync stage releases the group's replies,
//! they get a write of their own, synced under `appendfsync always` (`wake_blocked`).
//! Either way their replies are sent only once their writes are in RocksDB.
//!
//! A waiter on keys of several shards is registered on each; whichever shard serves
//! it first claims it ([`Waiter::claim`], one compare-and-swap), so it is served once.
//! A serve that needs another shard too (BLMOVE to a key of another shard) is not run
//! here: the waiter is woken with [`Woken::Retry`] and the connection runs the move
//! holding both shards.
//!
//! Bounded: entries of waiters that stopped waiting (served elsewhere, timed out,
//! disconnected) are dropped when their key is served, and all of them whenever the
//! registry has doubled since the last prune. A shard that is dropped (a restart)
//! wakes its waiters with [`Woken::Retry`], so they register again with its successor.
//!
//! Hot path: a write on a shard where nobody waits costs one load and one branch.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use ahash::AHashMap;
use bytes::Bytes;
use tokio::sync::oneshot;

use super::shard::Tx;
use crate::error::CommandError;
use crate::protocol::Reply;

/// Runs a blocked command on one of its keys that may have data: `Served::Not` (and
/// nothing written) if the key cannot serve it, else the reply. It calls `claim`
/// after it has checked the key and before it writes; if `claim` returns false the
/// waiter was served elsewhere and it returns `Served::Not`.
pub type ServeFn =
    fn(&mut Tx<'_>, &[u8], &[Bytes], &mut dyn FnMut() -> bool) -> Result<Served, CommandError>;

/// What a [`ServeFn`] did.
#[derive(Debug)]
pub enum Served {
    /// The key cannot serve the command now (empty, absent, or another type).
    Not,
    /// Served: the command's reply.
    Reply(Reply),
    /// Claimed, but the command needs another shard as well: the connection runs it.
    Retry,
}

/// How a blocked client's wait ended, as its connection learns it.
#[derive(Debug)]
pub enum Woken {
    /// Served: the reply (its writes are committed).
    Reply(Reply),
    /// Run the command again (it needs another shard, or its shard restarted).
    Retry,
}

const WAITING: u8 = 0;
const CLAIMED: u8 = 1;
const CANCELLED: u8 = 2;

/// One blocked command, shared by the connection and the shards of its keys.
pub struct Waiter {
    state: AtomicU8,
    /// The database of its keys.
    pub db: u8,
    /// What to run when a key has data.
    pub serve: ServeFn,
    /// The command's arguments.
    pub args: Arc<[Bytes]>,
    done: Mutex<Option<oneshot::Sender<Woken>>>,
}

impl Waiter {
    /// A new waiter and the receiver its connection waits on.
    pub fn new(
        db: u8,
        serve: ServeFn,
        args: Arc<[Bytes]>,
    ) -> (Arc<Waiter>, oneshot::Receiver<Woken>) {
        let (tx, rx) = oneshot::channel();
        let w = Waiter {
            state: AtomicU8::new(WAITING),
            db,
            serve,
            args,
            done: Mutex::new(Some(tx)),
        };
        (Arc::new(w), rx)
    }

    /// Whether it still waits (not served, not cancelled).
    pub fn waiting(&self) -> bool {
        self.state.load(Ordering::Acquire) == WAITING
    }

    /// Takes the waiter for serving; false if it was served or cancelled already.
    pub fn claim(&self) -> bool {
        self.state
            .compare_exchange(WAITING, CLAIMED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Stops the wait (timeout, CLIENT UNBLOCK, disconnect); false if a shard has
    /// claimed it already, in which case its reply is on the way.
    pub fn cancel(&self) -> bool {
        self.state
            .compare_exchange(WAITING, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    fn deliver(&self, woken: Woken) {
        let tx = self.done.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(tx) = tx {
            let _ = tx.send(woken);
        }
    }
}

/// The waiters of one shard, per database and key, and the keys made ready.
#[derive(Default)]
pub(crate) struct Blocked {
    dbs: Vec<AHashMap<Bytes, VecDeque<Arc<Waiter>>>>,
    /// Registered entries, over every key.
    entries: usize,
    /// Prune when `entries` reaches this.
    prune_at: usize,
    /// Keys with waiters written since they were last served, in the order written.
    ready: Vec<(u8, Bytes)>,
}

impl Blocked {
    /// Registers `waiter` on `key` in `db`, behind the key's earlier waiters.
    pub(crate) fn add(&mut self, db: u8, key: &[u8], waiter: &Arc<Waiter>) {
        let db = db as usize;
        if self.dbs.len() <= db {
            self.dbs.resize_with(db + 1, AHashMap::new);
        }
        self.dbs[db]
            .entry(Bytes::copy_from_slice(key))
            .or_default()
            .push_back(waiter.clone());
        self.entries += 1;
        if self.entries >= self.prune_at {
            self.prune();
            self.prune_at = (self.entries * 2).max(64);
        }
    }

    /// `key` in `db` was written: if someone waits on it, it is ready.
    #[inline]
    pub(crate) fn touch(&mut self, db: u8, key: &[u8]) {
        if self.entries == 0 {
            return;
        }
        self.touch_slow(db, key);
    }

    fn touch_slow(&mut self, db: u8, key: &[u8]) {
        let waited = self
            .dbs
            .get(db as usize)
            .is_some_and(|m| m.contains_key(key));
        if waited && !self.ready.iter().any(|(d, k)| *d == db && k == key) {
            self.ready.push((db, Bytes::copy_from_slice(key)));
        }
    }

    /// Whether a key is ready to be served.
    pub(crate) fn any_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Forgets the ready keys (their writes were dropped).
    pub(crate) fn clear_ready(&mut self) {
        self.ready.clear();
    }

    /// The next ready key, in the order the keys were made ready.
    pub(crate) fn next_ready(&mut self) -> Option<(u8, Bytes)> {
        if self.ready.is_empty() {
            None
        } else {
            Some(self.ready.remove(0))
        }
    }

    /// The first waiter of `key` that still waits; entries before it are dropped.
    pub(crate) fn first(&mut self, db: u8, key: &[u8]) -> Option<Arc<Waiter>> {
        let map = self.dbs.get_mut(db as usize)?;
        let queue = map.get_mut(key)?;
        while let Some(w) = queue.front() {
            if w.waiting() {
                return Some(w.clone());
            }
            queue.pop_front();
            self.entries -= 1;
        }
        map.remove(key);
        None
    }

    /// Removes `waiter` from the front of `key`'s queue (it was served or lost).
    pub(crate) fn pop_first(&mut self, db: u8, key: &[u8]) {
        let Some(map) = self.dbs.get_mut(db as usize) else {
            return;
        };
        if let Some(queue) = map.get_mut(key) {
            if queue.pop_front().is_some() {
                self.entries -= 1;
            }
            if queue.is_empty() {
                map.remove(key);
            }
        }
    }

    /// Drops the entries of waiters that no longer wait.
    fn prune(&mut self) {
        let mut entries = 0;
        for map in &mut self.dbs {
            map.retain(|_, queue| {
                queue.retain(|w| w.waiting());
                entries += queue.len();
                !queue.is_empty()
            });
        }
        self.entries = entries;
    }

    /// Delivers what the serves of one pass produced.
    pub(crate) fn deliver(woken: Vec<(Arc<Waiter>, Woken)>) {
        for (w, r) in woken {
            w.deliver(r);
        }
    }
}

impl Drop for Blocked {
    /// The shard is gone (a restart): its waiters register again with the new one.
    fn drop(&mut self) {
        for map in &mut self.dbs {
            for (_, queue) in map.drain() {
                for w in queue {
                    if w.claim() {
                        w.deliver(Woken::Retry);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_nothing(
        _: &mut Tx<'_>,
        _: &[u8],
        _: &[Bytes],
        _: &mut dyn FnMut() -> bool,
    ) -> Result<Served, CommandError> {
        Ok(Served::Not)
    }

    #[test]
    fn a_waiter_is_claimed_once_and_cancel_loses_to_claim() {
        let (w, _rx) = Waiter::new(0, serve_nothing, Arc::from(Vec::new()));
        assert!(w.waiting());
        assert!(w.claim());
        assert!(!w.claim());
        assert!(!w.cancel());
        let (w, _rx) = Waiter::new(0, serve_nothing, Arc::from(Vec::new()));
        assert!(w.cancel());
        assert!(!w.claim());
    }

    #[test]
    fn ready_keys_come_in_order_once_and_only_with_waiters() {
        let mut b = Blocked::default();
        b.touch(0, b"a");
        assert!(!b.any_ready());
        let (w, _rx) = Waiter::new(0, serve_nothing, Arc::from(Vec::new()));
        b.add(0, b"a", &w);
        b.add(0, b"b", &w);
        b.touch(0, b"b");
        b.touch(0, b"a");
        b.touch(0, b"b");
        b.touch(1, b"a");
        assert_eq!(b.next_ready(), Some((0, Bytes::from_static(b"b"))));
        assert_eq!(b.next_ready(), Some((0, Bytes::from_static(b"a"))));
        assert_eq!(b.next_ready(), None);
    }

    #[test]
    fn stopped_waiters_are_pruned_and_a_dropped_registry_wakes_the_rest() {
        let mut b = Blocked::default();
        let mut rxs = Vec::new();
        for i in 0..200u32 {
            let (w, rx) = Waiter::new(0, serve_nothing, Arc::from(Vec::new()));
            b.add(0, &i.to_be_bytes(), &w);
            if i % 2 == 0 {
                w.cancel();
            } else {
                rxs.push(rx);
            }
        }
        assert!(b.entries <= 200);
        b.prune();
        assert_eq!(b.entries, 100);
        assert!(b.first(0, &0u32.to_be_bytes()).is_none());
        assert!(b.first(0, &1u32.to_be_bytes()).is_some());
        drop(b);
        for mut rx in rxs {
            assert!(matches!(rx.try_recv(), Ok(Woken::Retry)));
        }
    }
}
