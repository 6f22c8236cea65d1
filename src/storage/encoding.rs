//! How keys and values are laid out in RocksDB. Pure functions, unit-tested below.
//!
//! ```text
//! key    [db: u8][hash: u64 BE][user key bytes ...]
//! value  [type: u8][expire_at_ms: u64 BE, 0 = never][payload ...]
//! ```
//!
//! * `hash` is [`key_hash`] of the user key: a fixed, documented function (never a
//!   seeded or CPU-dependent one), because it is part of the on-disk order.
//! * Shard `i` of `S` owns the hash range `[ceil(i * 2^64 / S), ceil((i+1) * 2^64 / S))`
//!   ([`shard_of`], [`shard_start`]). A shard's keys of one database are therefore one
//!   contiguous RocksDB range: the expiry sweeper and `FLUSHDB` work on that range,
//!   `SCAN`'s cursor is a position in hash order, and it survives concurrent writes.
//! * All integers are big-endian, so byte order is numeric order.
//! * Type `1` is a string, whose payload is the value itself. Later types keep their
//!   metadata in the payload and their members in records of their own.

use bytes::Bytes;

/// Bytes before the user key in an encoded key.
pub const KEY_HEADER: usize = 9;
/// Bytes before the payload in an encoded value.
pub const VALUE_HEADER: usize = 9;

/// The type tag stored in the first byte of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ValueType {
    /// A Redis string.
    String = 1,
}

impl ValueType {
    fn from_u8(b: u8) -> Option<ValueType> {
        match b {
            1 => Some(ValueType::String),
            _ => None,
        }
    }

    /// The name `TYPE` replies with.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
        }
    }
}

/// The 64-bit hash that places a key in the key space and on a shard.
///
/// Eight bytes at a time (little-endian words), a multiply-rotate mix, then the
/// murmur3 finalizer so that the high bits, which choose the shard, avalanche.
pub fn key_hash(key: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h: u64 = 0x7368_6172_6469_7321 ^ (key.len() as u64).wrapping_mul(K);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h ^ w).wrapping_mul(K).rotate_left(29);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(29);
    }
    fmix64(h)
}

fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The shard (of `shards`) that owns `hash`.
pub fn shard_of(hash: u64, shards: usize) -> usize {
    ((hash as u128 * shards as u128) >> 64) as usize
}

/// The first hash owned by `shard`; `shard == shards` gives `None` (the end).
pub fn shard_start(shard: usize, shards: usize) -> Option<u64> {
    if shard >= shards {
        return None;
    }
    let lo = ((shard as u128) << 64).div_ceil(shards as u128);
    Some(lo as u64)
}

/// Writes the encoded key of `(db, key)` into `out` (cleared first).
pub fn encode_key(out: &mut Vec<u8>, db: u8, key: &[u8]) {
    out.clear();
    out.reserve(KEY_HEADER + key.len());
    out.push(db);
    out.extend_from_slice(&key_hash(key).to_be_bytes());
    out.extend_from_slice(key);
}

/// The encoded position `(db, hash)` with no user key: the start of a range.
pub fn encode_position(db: u8, hash: u64) -> [u8; KEY_HEADER] {
    let mut out = [0u8; KEY_HEADER];
    out[0] = db;
    out[1..].copy_from_slice(&hash.to_be_bytes());
    out
}

/// The key-space range `[start, end)` of one shard within one database.
pub fn shard_range(db: u8, shard: usize, shards: usize) -> (Vec<u8>, Vec<u8>) {
    let start = encode_position(db, shard_start(shard, shards).unwrap_or(0)).to_vec();
    let end = match shard_start(shard + 1, shards) {
        Some(h) => encode_position(db, h).to_vec(),
        None => vec![db.wrapping_add(1)],
    };
    (start, end)
}

/// Splits an encoded key into `(db, hash, user key)`.
pub fn decode_key(enc: &[u8]) -> Option<(u8, u64, &[u8])> {
    if enc.len() < KEY_HEADER {
        return None;
    }
    let mut h = [0u8; 8];
    h.copy_from_slice(&enc[1..KEY_HEADER]);
    Some((enc[0], u64::from_be_bytes(h), &enc[KEY_HEADER..]))
}

/// A decoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// What kind of value this is.
    pub kind: ValueType,
    /// Absolute expiry in Unix milliseconds; 0 means none.
    pub expire_at: u64,
    /// The type-specific payload (for a string: the string).
    pub payload: Bytes,
}

impl Value {
    /// Whether the value has expired at `now_ms`.
    pub fn expired(&self, now_ms: u64) -> bool {
        self.expire_at != 0 && self.expire_at <= now_ms
    }
}

/// Encodes a value.
pub fn encode_value(kind: ValueType, expire_at: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(VALUE_HEADER + payload.len());
    out.push(kind as u8);
    out.extend_from_slice(&expire_at.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Reads only the header of an encoded value: `(type, expire_at)`.
pub fn decode_header(raw: &[u8]) -> Option<(ValueType, u64)> {
    if raw.len() < VALUE_HEADER {
        return None;
    }
    let mut e = [0u8; 8];
    e.copy_from_slice(&raw[1..VALUE_HEADER]);
    Some((ValueType::from_u8(raw[0])?, u64::from_be_bytes(e)))
}

/// Decodes a value; the payload shares `raw`'s allocation.
pub fn decode_value(raw: Bytes) -> Option<Value> {
    let (kind, expire_at) = decode_header(&raw)?;
    Some(Value {
        kind,
        expire_at,
        payload: raw.slice(VALUE_HEADER..),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_fixed() {
        // The on-disk order depends on these values: changing the function breaks
        // existing data. (Cross-checked with an independent Python port.)
        assert_eq!(key_hash(b""), 0x53bd_99a3_77b8_4613);
        assert_eq!(key_hash(b"foo"), 0xf4ab_7c5c_1494_0c99);
        assert_eq!(key_hash(b"user:1000:profile"), 0xe6ba_de8c_e9d9_2d72);
        assert_ne!(key_hash(b"abcdefgh"), key_hash(b"abcdefgh\0"));
    }

    #[test]
    fn shards_partition_the_hash_space() {
        for shards in 1..=7 {
            assert_eq!(shard_start(0, shards), Some(0));
            for s in 0..shards {
                let lo = shard_start(s, shards).unwrap();
                assert_eq!(shard_of(lo, shards), s);
                if s > 0 {
                    assert_eq!(shard_of(lo - 1, shards), s - 1);
                }
            }
            assert_eq!(shard_of(u64::MAX, shards), shards - 1);
        }
    }

    #[test]
    fn keys_round_trip_and_sort_by_db_then_hash() {
        let mut a = Vec::new();
        encode_key(&mut a, 3, b"k\x00ey");
        let (db, h, k) = decode_key(&a).unwrap();
        assert_eq!((db, h, k), (3, key_hash(b"k\x00ey"), &b"k\x00ey"[..]));
        let mut b = Vec::new();
        encode_key(&mut b, 4, b"a");
        assert!(a < b, "db is the first sort key");
        assert!(encode_position(1, 5).as_slice() < encode_position(1, 256).as_slice());
        for s in 0..3 {
            let (lo, hi) = shard_range(2, s, 3);
            assert!(lo < hi);
            let mut k = Vec::new();
            for i in 0..200u32 {
                encode_key(&mut k, 2, &i.to_be_bytes());
                let inside = k.as_slice() >= lo.as_slice() && k.as_slice() < hi.as_slice();
                assert_eq!(inside, shard_of(key_hash(&i.to_be_bytes()), 3) == s);
            }
        }
    }

    #[test]
    fn values_round_trip() {
        let raw = encode_value(ValueType::String, 1234, b"payload");
        let v = decode_value(Bytes::from(raw)).unwrap();
        assert_eq!(v.kind, ValueType::String);
        assert_eq!(v.expire_at, 1234);
        assert_eq!(&v.payload[..], b"payload");
        assert!(v.expired(1234) && !v.expired(1233));
        assert!(decode_value(Bytes::from_static(b"\x01\0\0")).is_none());
        assert!(decode_value(Bytes::from_static(b"\x09\0\0\0\0\0\0\0\0")).is_none());
    }
}
