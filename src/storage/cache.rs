//! A shard's cache of encoded values, keyed by encoded key: write-through and
//! read-through, bounded in bytes.
//!
//! A shard is the only writer of its keys, so what it last wrote or read is what
//! RocksDB holds (or will hold once the group commits): a hit answers without a
//! RocksDB call. The cache also serves as the group's overlay (a read sees the earlier
//! writes of its group), which is why entries are only evicted between groups, never
//! while a group's writes are uncommitted, and why a failed commit clears it.
//! `None` entries remember that a key is absent.
//!
//! Eviction is approximate: when the cache is over its budget after a commit, it drops
//! entries in the map's (random) iteration order until it is below 7/8 of the budget.
//!
//! Some records are only worth keeping for the group that wrote them: list elements
//! are read back by position ranges (LRANGE), which go to RocksDB's iterators, not to
//! this cache, so caching every pushed element would only push out the values point
//! reads use. They enter as *transient* entries: a second, small map that is read
//! first, serves as the group's overlay like the main one, is not charged to the
//! budget (it holds one group's writes at most) and is emptied when the group commits.

use ahash::AHashMap;
use bytes::Bytes;

/// Bytes charged per entry on top of key and value (map slot, allocations).
const ENTRY_OVERHEAD: usize = 64;

/// The value cache of one shard.
pub struct ValueCache {
    map: AHashMap<Vec<u8>, Option<Bytes>>,
    bytes: usize,
    budget: usize,
    /// Transient entries written since the last commit; a key is in one map at most.
    transient: AHashMap<Vec<u8>, Option<Bytes>>,
}

fn cost(key: &[u8], value: &Option<Bytes>) -> usize {
    key.len() + value.as_ref().map_or(0, |v| v.len()) + ENTRY_OVERHEAD
}

impl ValueCache {
    /// An empty cache that keeps at most about `budget` bytes between groups.
    pub fn new(budget: usize) -> ValueCache {
        ValueCache {
            map: AHashMap::new(),
            bytes: 0,
            budget,
            transient: AHashMap::new(),
        }
    }

    /// `Some(entry)` on a hit (the entry itself may say "absent").
    pub fn get(&self, key: &[u8]) -> Option<&Option<Bytes>> {
        if !self.transient.is_empty() {
            if let Some(v) = self.transient.get(key) {
                return Some(v);
            }
        }
        self.map.get(key)
    }

    /// Removes `key` from the main map, keeping the accounting.
    fn forget(&mut self, key: &[u8]) {
        if let Some((k, v)) = self.map.remove_entry(key) {
            self.bytes -= cost(&k, &v);
        }
    }

    /// Records the current value (or absence) of `key`.
    pub fn insert(&mut self, key: Vec<u8>, value: Option<Bytes>) {
        if !self.transient.is_empty() {
            self.transient.remove(key.as_slice());
        }
        let add = cost(&key, &value);
        let new_len = value.as_ref().map_or(0, |v| v.len());
        match self.map.insert(key, value) {
            // The key and the slot are charged once; only the value's share changes.
            Some(old) => self.bytes = self.bytes - old.map_or(0, |v| v.len()) + new_len,
            None => self.bytes += add,
        }
    }

    /// Records the value of `key` for the current group only: the entry is dropped
    /// at the next [`ValueCache::evict`].
    pub fn insert_transient(&mut self, key: Vec<u8>, value: Option<Bytes>) {
        self.forget(&key);
        self.transient.insert(key, value);
    }

    /// Records every cached key in `[from, to)` as absent (a range delete inside a
    /// transaction, whose overlay the cache is). Costs one pass over the cache.
    pub fn absent_range(&mut self, from: &[u8], to: &[u8]) {
        let inside = |k: &Vec<u8>| k.as_slice() >= from && k.as_slice() < to;
        for v in self.transient.iter_mut().filter(|(k, _)| inside(k)) {
            *v.1 = None;
        }
        let keys: Vec<Vec<u8>> = self.map.keys().filter(|k| inside(k)).cloned().collect();
        for k in keys {
            self.insert(k, None);
        }
    }

    /// Forgets everything (after a failed commit, or a range delete).
    pub fn clear(&mut self) {
        self.map.clear();
        self.transient.clear();
        self.bytes = 0;
    }

    /// Bytes currently charged.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len() + self.transient.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty() && self.transient.is_empty()
    }

    /// Drops the transient entries and brings the cache under its budget; call
    /// between groups only, once the group's writes are in RocksDB.
    pub fn evict(&mut self) {
        self.transient.clear();
        if self.bytes <= self.budget {
            return;
        }
        let target = self.budget / 8 * 7;
        let mut freed = 0;
        let over = self.bytes - target;
        let victims: Vec<Vec<u8>> = self
            .map
            .iter()
            .take_while(|(k, v)| {
                let go = freed < over;
                freed += cost(k, v);
                go
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in victims {
            self.forget(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_misses_and_absent_entries() {
        let mut c = ValueCache::new(1 << 20);
        assert!(c.get(b"k").is_none());
        c.insert(b"k".to_vec(), Some(Bytes::from_static(b"v")));
        assert_eq!(c.get(b"k"), Some(&Some(Bytes::from_static(b"v"))));
        c.insert(b"k".to_vec(), None);
        assert_eq!(c.get(b"k"), Some(&None));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn accounting_follows_replacements() {
        let mut c = ValueCache::new(1 << 20);
        c.insert(b"k".to_vec(), Some(Bytes::from(vec![0u8; 100])));
        assert_eq!(c.bytes(), 1 + 100 + ENTRY_OVERHEAD);
        c.insert(b"k".to_vec(), Some(Bytes::from(vec![0u8; 10])));
        assert_eq!(c.bytes(), 1 + 10 + ENTRY_OVERHEAD);
        c.insert(b"k".to_vec(), None);
        assert_eq!(c.bytes(), 1 + ENTRY_OVERHEAD);
        c.clear();
        assert_eq!((c.bytes(), c.len()), (0, 0));
    }

    #[test]
    fn transient_entries_last_until_the_group_commits() {
        let mut c = ValueCache::new(1 << 20);
        c.insert(b"kept".to_vec(), Some(Bytes::from_static(b"v")));
        c.insert_transient(b"elem".to_vec(), Some(Bytes::from_static(b"e")));
        c.insert_transient(b"elem".to_vec(), None);
        assert_eq!(c.get(b"elem"), Some(&None), "the group's overlay");
        c.evict();
        assert!(c.get(b"elem").is_none(), "gone after the commit");
        assert!(c.get(b"kept").is_some());
        assert_eq!((c.len(), c.bytes()), (1, 4 + 1 + ENTRY_OVERHEAD));
    }

    #[test]
    fn a_range_becomes_absent() {
        let mut c = ValueCache::new(1 << 20);
        for k in [b"a", b"b", b"c"] {
            c.insert(k.to_vec(), Some(Bytes::from_static(b"v")));
        }
        c.insert_transient(b"bb".to_vec(), Some(Bytes::from_static(b"e")));
        c.absent_range(b"b", b"c");
        assert_eq!(c.get(b"a"), Some(&Some(Bytes::from_static(b"v"))));
        assert_eq!(c.get(b"b"), Some(&None));
        assert_eq!(c.get(b"bb"), Some(&None));
        assert_eq!(c.get(b"c"), Some(&Some(Bytes::from_static(b"v"))));
        assert_eq!(
            c.bytes(),
            3 * (1 + ENTRY_OVERHEAD) + 2,
            "a and c keep their value"
        );
    }

    #[test]
    fn eviction_respects_the_budget() {
        let budget = 100 * (8 + 100 + ENTRY_OVERHEAD);
        let mut c = ValueCache::new(budget);
        for i in 0..1000u64 {
            c.insert(i.to_be_bytes().to_vec(), Some(Bytes::from(vec![1u8; 100])));
        }
        assert!(c.bytes() > budget, "no eviction while inserting");
        c.evict();
        assert!(c.bytes() <= budget, "{} > {budget}", c.bytes());
        assert!(
            c.len() >= 80,
            "evicts down to 7/8, not to nothing: {}",
            c.len()
        );
        let zero = &mut ValueCache::new(0);
        zero.insert(b"a".to_vec(), None);
        zero.evict();
        assert!(zero.is_empty());
    }
}
