//! The one random generator of shardis and its tests: splitmix64 (Steele, Lea and
//! Flood, "Fast splittable pseudorandom number generators", 2014). Small, fast,
//! seedable; not for secrets. Pure: it imports nothing from the rest of shardis.

use std::cell::Cell;
use std::hash::BuildHasher;

/// A splitmix64 generator.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator that always yields the same sequence for `seed` (tests).
    pub const fn seeded(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A generator seeded from std's randomly keyed hasher and the clock.
    pub fn from_entropy() -> Rng {
        let seed =
            std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now());
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// A number in `[0, n)` (0 when `n` is 0), by multiply-and-shift: no modulo bias
    /// worth speaking of and no division.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// splitmix64's output function.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

thread_local! {
    static THREAD_RNG: Cell<u64> = Cell::new(Rng::from_entropy().0);
}

/// 64 random bits from this thread's generator.
pub fn random_u64() -> u64 {
    THREAD_RNG.with(|s| {
        let mut rng = Rng(s.get());
        let v = rng.next_u64();
        s.set(rng.0);
        v
    })
}

/// A random number in `[0, n)` from this thread's generator (0 when `n` is 0).
pub fn random_below(n: u64) -> u64 {
    ((u128::from(random_u64()) * u128::from(n)) >> 64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_sequence() {
        // The first outputs of the reference splitmix64 seeded with 1234567.
        let mut r = Rng::seeded(1234567);
        let got: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(
            got,
            [
                6457827717110365317,
                3203168211198807973,
                9817491932198370423
            ]
        );
    }

    #[test]
    fn below_stays_below() {
        let mut r = Rng::seeded(7);
        assert_eq!(r.below(0), 0);
        for n in [1u64, 2, 3, 10, 1 << 40] {
            for _ in 0..1000 {
                assert!(r.below(n) < n);
            }
        }
    }
}
