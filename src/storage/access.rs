//! When keys were last used, for OBJECT IDLETIME.
//!
//! Each shard keeps a fixed table of 65,536 slots (768 KB), indexed by the low bits of
//! the key's hash; a read or write of a live key stores the full hash and the second
//! in its slot: one store on the command path, no allocation. OBJECT IDLETIME answers
//! from the key's slot: exact when the slot still holds the key; when another key has
//! taken the slot since, the key was last used before that key was, and the answer is
//! that lower bound; a key not used since the shard started is idle since then (as a
//! Redis restart makes every key's idle time start at load). Redis keeps the time
//! in every key's object; a disk-based server keeps it for the keys in use.

/// Slots per shard.
const SLOTS: usize = 1 << 16;

/// The table of one shard.
pub(crate) struct AccessClock {
    slots: Box<[(u64, u32)]>,
    since: u32,
}

impl AccessClock {
    /// An empty table; `now` is the shard's start, Unix seconds.
    pub(crate) fn new(now: u32) -> AccessClock {
        AccessClock {
            slots: vec![(0, 0); SLOTS].into_boxed_slice(),
            since: now,
        }
    }

    /// Records a use of the key with hash `hash` at `now` (Unix seconds).
    pub(crate) fn record(&mut self, hash: u64, now: u32) {
        self.slots[hash as usize & (SLOTS - 1)] = (hash, now);
    }

    /// Seconds since the key with hash `hash` was last used (see the module docs).
    pub(crate) fn idle(&self, hash: u64, now: u32) -> u64 {
        let (_, at) = self.slots[hash as usize & (SLOTS - 1)];
        let last = if at == 0 { self.since } else { at };
        now.saturating_sub(last) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_for_the_slot_owner_a_lower_bound_after_a_collision() {
        let mut c = AccessClock::new(100);
        assert_eq!(c.idle(7, 160), 60, "unused since the start");
        c.record(7, 150);
        assert_eq!(c.idle(7, 160), 10);
        c.record(7 + SLOTS as u64, 155);
        assert_eq!(c.idle(7, 160), 5, "used before the other key's 155");
    }
}
