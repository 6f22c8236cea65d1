//! Where unfinished HSCAN, SSCAN and ZSCAN iterations resume.
//!
//! A collection's member records are in byte order, so an iteration resumes at the
//! first member it has not returned yet. Redis clients expect an integer cursor, so
//! the shard keeps `cursor → (db, key, collection version, next member)` and hands out
//! the cursor: a number that means nothing outside this table. A cursor that is not
//! here (too old, given for another key, or made before a restart of the shard)
//! starts over from the first member: every member present for the whole iteration is
//! still returned at least once, which is SCAN's guarantee. The table is bounded
//! ([`MAX_CURSORS`] per shard, the oldest forgotten first), so clients that start
//! scans and never finish them cost a fixed amount of memory.

use std::collections::VecDeque;

use ahash::AHashMap;
use bytes::Bytes;

/// The most unfinished iterations a shard remembers.
pub(super) const MAX_CURSORS: usize = 4096;

struct Resume {
    db: u8,
    key: Bytes,
    version: u64,
    next: Bytes,
}

/// The resume points of one shard's unfinished collection scans.
pub(crate) struct Cursors {
    next_id: u64,
    map: AHashMap<u64, Resume>,
    order: VecDeque<u64>,
}

impl Default for Cursors {
    fn default() -> Cursors {
        // Not 0 (which ends an iteration), unlikely to repeat a restarted shard's, and
        // below 2^53 so that clients reading numbers as doubles keep it exact.
        Cursors {
            next_id: crate::rng::random_u64() >> 12 | 1,
            map: AHashMap::new(),
            order: VecDeque::new(),
        }
    }
}

impl Cursors {
    /// Where `cursor` resumes, if it was handed out for this collection.
    pub(crate) fn resume(&self, cursor: u64, db: u8, key: &[u8], version: u64) -> Option<Bytes> {
        self.map
            .get(&cursor)
            .filter(|r| r.db == db && r.version == version && r.key == key)
            .map(|r| r.next.clone())
    }

    /// A new cursor that resumes at member `next` of the collection.
    pub(crate) fn save(&mut self, db: u8, key: &[u8], version: u64, next: Bytes) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        while self.map.len() >= MAX_CURSORS {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
        self.map.insert(
            id,
            Resume {
                db,
                key: Bytes::copy_from_slice(key),
                version,
                next,
            },
        );
        self.order.push_back(id);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_resumes_only_its_own_collection() {
        let mut c = Cursors::default();
        let id = c.save(0, b"h", 7, Bytes::from_static(b"m"));
        assert_ne!(id, 0);
        assert_eq!(c.resume(id, 0, b"h", 7).as_deref(), Some(&b"m"[..]));
        assert_eq!(c.resume(id, 1, b"h", 7), None);
        assert_eq!(c.resume(id, 0, b"g", 7), None);
        // A collection deleted and made again has a new version.
        assert_eq!(c.resume(id, 0, b"h", 8), None);
        assert_eq!(c.resume(id + 1, 0, b"h", 7), None);
    }

    #[test]
    fn the_table_is_bounded_and_forgets_the_oldest() {
        let mut c = Cursors::default();
        let first = c.save(0, b"k", 1, Bytes::from_static(b"a"));
        let mut last = first;
        for _ in 0..MAX_CURSORS {
            last = c.save(0, b"k", 1, Bytes::from_static(b"b"));
        }
        assert_eq!(c.map.len(), MAX_CURSORS);
        assert_eq!(c.resume(first, 0, b"k", 1), None);
        assert!(c.resume(last, 0, b"k", 1).is_some());
    }
}
