//! WATCH on the storage side: which keys of a shard connections watch, and the flag
//! that a change of one of them raises.
//!
//! A connection that runs `WATCH k` registers one [`WatchFlag`] (shared by all the
//! keys it watches) with the shard that owns `k`, by a call in the shard's queue
//! order. From then on every write of `k` on that shard (a put, a delete, a member
//! record, an expiry, a flush of a database in which `k` exists) raises the flag,
//! whoever wrote it. EXEC reads the flag while it holds the shards of the watched
//! keys, so no write can slip in between the check and the transaction.
//!
//! A raised flag needs no more news, so the entries of a key are dropped when it is
//! written. Connections that stop watching (EXEC, DISCARD, UNWATCH, disconnect) drop
//! their handle on the flag; entries nobody else holds are pruned whenever the
//! registry has doubled since the last prune, so the registry stays proportional to
//! the watches alive.
//!
//! Hot path: a write on a shard nobody watches costs one load and one branch.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ahash::AHashMap;
use bytes::Bytes;

/// Raised when a watched key changes.
#[derive(Debug, Default)]
pub struct WatchFlag(AtomicBool);

impl WatchFlag {
    /// A new, lowered flag.
    pub fn new() -> Arc<WatchFlag> {
        Arc::new(WatchFlag::default())
    }

    /// Whether a watched key changed since the flag was made.
    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    fn raise(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// What a connection's WATCH registered, and what EXEC checks: the flag, when each
/// watched key expires as watched, and each watched shard's generation then.
#[derive(Debug, Clone)]
pub struct WatchCheck {
    /// Raised by any write of a watched key.
    pub flag: Arc<WatchFlag>,
    /// When each watched key expires as watched (0: never, or absent): an expiry
    /// before EXEC counts as a change.
    pub expiries: Vec<u64>,
    /// Each shard with watched keys and its generation (restart count) then: a
    /// restart loses the shard's watches, so it counts as a change too.
    pub generations: Vec<(usize, u64)>,
}

impl WatchCheck {
    /// Whether EXEC may run at `now_ms`, given each shard's current generation.
    pub fn passes(&self, now_ms: u64, generation: impl Fn(usize) -> u64) -> bool {
        !self.flag.is_raised()
            && !self.expiries.iter().any(|&at| at != 0 && at <= now_ms)
            && self.generations.iter().all(|&(s, g)| generation(s) == g)
    }
}

/// The watched keys of one shard, per database.
#[derive(Default)]
pub(crate) struct Watches {
    dbs: Vec<AHashMap<Bytes, Vec<Arc<WatchFlag>>>>,
    /// Registered entries (flag handles), over every key.
    entries: usize,
    /// Prune when `entries` reaches this.
    prune_at: usize,
}

impl Watches {
    /// Registers `flag` for `key` in `db`.
    pub(crate) fn add(&mut self, db: u8, key: &[u8], flag: &Arc<WatchFlag>) {
        let db = db as usize;
        if self.dbs.len() <= db {
            self.dbs.resize_with(db + 1, AHashMap::new);
        }
        let flags = self.dbs[db].entry(Bytes::copy_from_slice(key)).or_default();
        if !flags.iter().any(|f| Arc::ptr_eq(f, flag)) {
            flags.push(flag.clone());
            self.entries += 1;
        }
        if self.entries >= self.prune_at {
            self.prune();
            self.prune_at = (self.entries * 2).max(64);
        }
    }

    /// `key` in `db` changed: raises every flag watching it.
    #[inline]
    pub(crate) fn touch(&mut self, db: u8, key: &[u8]) {
        if self.entries == 0 {
            return;
        }
        self.touch_slow(db, key);
    }

    fn touch_slow(&mut self, db: u8, key: &[u8]) {
        let Some(map) = self.dbs.get_mut(db as usize) else {
            return;
        };
        if let Some(flags) = map.remove(key) {
            self.entries -= flags.len();
            for f in flags {
                f.raise();
            }
        }
    }

    /// The keys watched in `db` (a flush raises those that exist).
    pub(crate) fn keys_in(&self, db: u8) -> Vec<Bytes> {
        if self.entries == 0 {
            return Vec::new();
        }
        self.dbs
            .get(db as usize)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Drops the entries of connections that no longer watch.
    fn prune(&mut self) {
        let mut entries = 0;
        for map in &mut self.dbs {
            map.retain(|_, flags| {
                flags.retain(|f| Arc::strong_count(f) > 1 && !f.is_raised());
                entries += flags.len();
                !flags.is_empty()
            });
        }
        self.entries = entries;
    }

    /// Registered entries (tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_raises_the_flags_of_its_key_only() {
        let mut w = Watches::default();
        let (a, b) = (WatchFlag::new(), WatchFlag::new());
        w.add(0, b"k", &a);
        w.add(0, b"k", &b);
        w.add(1, b"k", &b);
        w.add(0, b"k", &a);
        assert_eq!(w.len(), 3, "one entry per flag and key");
        w.touch(0, b"other");
        w.touch(2, b"k");
        assert!(!a.is_raised() && !b.is_raised());
        w.touch(0, b"k");
        assert!(a.is_raised() && b.is_raised());
        assert_eq!(w.len(), 1, "the raised entries are gone; db 1 stays");
        assert_eq!(w.keys_in(1), vec![Bytes::from_static(b"k")]);
    }

    #[test]
    fn entries_of_dropped_flags_are_pruned() {
        let mut w = Watches::default();
        let kept = WatchFlag::new();
        w.add(0, b"kept", &kept);
        for i in 0..10_000u32 {
            let gone = WatchFlag::new();
            w.add(0, &i.to_be_bytes(), &gone);
        }
        assert!(w.len() < 200, "registry grew to {}", w.len());
        w.touch(0, b"kept");
        assert!(kept.is_raised());
    }
}
