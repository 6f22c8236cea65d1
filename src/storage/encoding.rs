//! How keys and values are laid out in RocksDB. Pure functions, unit-tested below.
//!
//! ```text
//! meta key    [db][hash: u64 BE][user key ...]
//! meta value  [type: u8][expire_at_ms: u64 BE, 0 = never][payload ...]
//!               string:      payload = the string
//!               collections: payload = [version: u64 BE][size: u64 BE]
//!                            lists add [head: u64 BE][tail: u64 BE]
//! member key  [0x40|db][hash][key len: u32 BE][user key][version: u64 BE][member ...]
//!               hash: value = field value; set: value empty; list: member = position
//!               (u64 BE), value = element; zset: value = score (f64 bits)
//! score key   [0x80|db][hash][key len: u32 BE][user key][version][score: 8 bytes][member]
//!               zset only, value empty: the (score, member) order for range queries
//! chunk key   [0x40|db][hash][key len][user key][version][chunk index: u64 BE]
//!               a chunked string (type 6): its meta payload is [version][length];
//!               chunk i holds bytes [i * 4096, (i + 1) * 4096), a missing chunk is zeros
//! ```
//!
//! * A collection's members live in records of their own, so one field costs one
//!   point read or write. Deleting, overwriting or expiring a collection replaces only
//!   its meta record: the member records of the old `version` are dead, and the
//!   compaction filter (`engine.rs`, deciding with [`member_is_dead`]) drops them later.
//!   Versions come from a per-shard clock that never goes back ([`next_version`]).
//! * A score is stored so that byte order is numeric order ([`score_bytes`]): flip the
//!   sign bit of positives, all bits of negatives; -inf < negatives < 0 < positives < +inf.
//!
//! * `hash` is [`key_hash`] of the user key: a fixed, documented function (never a
//!   seeded or CPU-dependent one), because it is part of the on-disk order.
//! * Shard `i` of `S` owns the hash range `[ceil(i * 2^64 / S), ceil((i+1) * 2^64 / S))`
//!   ([`shard_of`], [`shard_start`]). A shard's keys of one database are therefore one
//!   contiguous RocksDB range: the expiry sweeper and `FLUSHDB` work on that range,
//!   `SCAN`'s cursor is a position in hash order, and it survives concurrent writes.
//! * All integers are big-endian, so byte order is numeric order.
//! * Type `1` is a string, whose payload is the value itself. Later types keep their
//!   metadata in the payload and their members in records of their own. A string that
//!   a partial write (SETBIT, SETRANGE, APPEND ...) makes longer than 16 KB becomes
//!   type `6`, chunked, so that the next partial write rewrites one 4 KB chunk, not
//!   the whole string ([`super::chunks`]).

use bytes::Bytes;

/// Bytes before the user key in an encoded key.
pub const KEY_HEADER: usize = 9;
/// Bytes before the payload in an encoded value.
pub const VALUE_HEADER: usize = 9;

/// Most databases: the database number shares its byte with the key space tag.
pub const MAX_DATABASES: u8 = 64;

/// The first byte of the server's own records (function libraries): outside every
/// database's key space, so FLUSHALL and the compaction filter leave them alone.
pub const SYSTEM_TAG: u8 = 0xc0;

/// The key of the server's own record `name` (`[SYSTEM_TAG][name]`).
pub fn system_key(name: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + name.len());
    k.push(SYSTEM_TAG);
    k.extend_from_slice(name);
    k
}

/// Which key space a record belongs to (the high bits of its first byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Space {
    /// One record per user key: its type, expiry and value or collection metadata.
    Meta = 0x00,
    /// One record per collection member.
    Member = 0x40,
    /// The (score, member) index of sorted sets.
    Score = 0x80,
}

impl Space {
    /// Whether records of this space are ever read by key. Score records are read only
    /// by range, through RocksDB's iterators, so the value cache does not keep them.
    pub fn point_read(self) -> bool {
        self != Space::Score
    }
}

/// The type tag stored in the first byte of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ValueType {
    /// A Redis string.
    String = 1,
    /// A hash.
    Hash = 2,
    /// A list.
    List = 3,
    /// A set.
    Set = 4,
    /// A sorted set.
    ZSet = 5,
    /// A string stored in chunks (see [`super::chunks`]): a string to every command,
    /// a collection of chunk records to the storage.
    Chunked = 6,
}

impl ValueType {
    /// The type with tag `b`.
    pub fn from_u8(b: u8) -> Option<ValueType> {
        match b {
            1 => Some(ValueType::String),
            2 => Some(ValueType::Hash),
            3 => Some(ValueType::List),
            4 => Some(ValueType::Set),
            5 => Some(ValueType::ZSet),
            6 => Some(ValueType::Chunked),
            _ => None,
        }
    }

    /// The name `TYPE` replies with.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String | ValueType::Chunked => "string",
            ValueType::Hash => "hash",
            ValueType::List => "list",
            ValueType::Set => "set",
            ValueType::ZSet => "zset",
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
    space_range(Space::Meta, db, shard, shards)
}

/// The range `[start, end)` of one shard's records of `space` within one database.
pub fn space_range(space: Space, db: u8, shard: usize, shards: usize) -> (Vec<u8>, Vec<u8>) {
    let tag = space as u8 | db;
    let start = encode_position(tag, shard_start(shard, shards).unwrap_or(0)).to_vec();
    let end = match shard_start(shard + 1, shards) {
        Some(h) => encode_position(tag, h).to_vec(),
        None => vec![tag + 1],
    };
    (start, end)
}

/// The prefix shared by every record of one collection version in `space`:
/// `[space|db][hash][key len][key][version]`.
pub fn encode_member_prefix(out: &mut Vec<u8>, space: Space, db: u8, key: &[u8], version: u64) {
    out.clear();
    out.reserve(KEY_HEADER + 4 + key.len() + 8 + 16);
    out.push(space as u8 | db);
    out.extend_from_slice(&key_hash(key).to_be_bytes());
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&version.to_be_bytes());
}

/// Splits a member or score record key into `(db, user key, version, suffix)`.
pub fn decode_member_key(enc: &[u8]) -> Option<(u8, &[u8], u64, &[u8])> {
    if enc.len() < KEY_HEADER + 4 {
        return None;
    }
    let db = enc[0] & 0x3f;
    let klen = u32::from_be_bytes([enc[9], enc[10], enc[11], enc[12]]) as usize;
    let key_end = KEY_HEADER + 4 + klen;
    if enc.len() < key_end + 8 {
        return None;
    }
    let mut v = [0u8; 8];
    v.copy_from_slice(&enc[key_end..key_end + 8]);
    Some((
        db,
        &enc[KEY_HEADER + 4..key_end],
        u64::from_be_bytes(v),
        &enc[key_end + 8..],
    ))
}

/// The smallest byte string greater than every string starting with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0xff; prefix.len() + 1]
}

/// Whether a member or score record is garbage: its collection is gone, was
/// replaced by a newer version, or expired. `meta` is the current meta value of the
/// record's key, if any. Meta records themselves are never garbage here.
pub fn member_is_dead(record_key: &[u8], meta: Option<&[u8]>, now_ms: u64) -> bool {
    if record_key
        .first()
        .is_none_or(|b| b & 0xc0 == Space::Meta as u8 || *b == SYSTEM_TAG)
    {
        return false;
    }
    let Some((_, _, version, _)) = decode_member_key(record_key) else {
        return false;
    };
    let Some(meta) = meta else { return true };
    match (decode_header(meta), CollectionMeta::decode(meta)) {
        (Some((ValueType::String, _)), _) => true,
        (Some((_, at)), Some(m)) => m.version != version || (at != 0 && at <= now_ms),
        _ => true,
    }
}

/// The bytes of a score whose byte order is numeric order.
pub fn score_bytes(score: f64) -> [u8; 8] {
    let score = if score == 0.0 { 0.0 } else { score };
    let bits = score.to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    ordered.to_be_bytes()
}

/// Inverse of [`score_bytes`].
pub fn score_from_bytes(b: &[u8]) -> f64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    let ordered = u64::from_be_bytes(a);
    let bits = if ordered >> 63 == 1 {
        ordered & !(1 << 63)
    } else {
        !ordered
    };
    f64::from_bits(bits)
}

/// The position of a list's first element when it is created (the middle of u64).
pub const LIST_ORIGIN: u64 = 1 << 63;

/// Metadata of a hash, list, set or sorted set (the payload of its meta value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectionMeta {
    /// Distinguishes this incarnation's member records from dead ones.
    pub version: u64,
    /// Number of members (elements for a list).
    pub size: u64,
    /// List: position of the first element.
    pub head: u64,
    /// List: position one past the last element.
    pub tail: u64,
}

impl CollectionMeta {
    /// Encodes the payload (after the value header).
    pub fn encode(&self, kind: ValueType) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.size.to_be_bytes());
        if kind == ValueType::List {
            out.extend_from_slice(&self.head.to_be_bytes());
            out.extend_from_slice(&self.tail.to_be_bytes());
        }
        out
    }

    /// Decodes a whole meta value (header included); `None` for strings.
    pub fn decode(raw: &[u8]) -> Option<CollectionMeta> {
        Self::decode_payload(raw.get(VALUE_HEADER..)?)
    }

    /// Decodes a meta payload.
    pub fn decode_payload(p: &[u8]) -> Option<CollectionMeta> {
        let word = |i: usize| -> Option<u64> {
            let mut a = [0u8; 8];
            a.copy_from_slice(p.get(i * 8..i * 8 + 8)?);
            Some(u64::from_be_bytes(a))
        };
        Some(CollectionMeta {
            version: word(0)?,
            size: word(1)?,
            head: word(2).unwrap_or(LIST_ORIGIN),
            tail: word(3).unwrap_or(LIST_ORIGIN),
        })
    }
}

/// The next collection version after `last`: the clock in microseconds, or one more
/// than `last` if the clock has not moved on (or went back).
pub fn next_version(last: u64, now_us: u64) -> u64 {
    now_us.max(last + 1)
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
    fn scores_sort_numerically() {
        let scores = [
            f64::NEG_INFINITY,
            -1e300,
            -2.5,
            -1.0,
            -1e-300,
            0.0,
            1e-300,
            1.0,
            2.5,
            1e300,
            f64::INFINITY,
        ];
        for w in scores.windows(2) {
            assert!(score_bytes(w[0]) < score_bytes(w[1]), "{} < {}", w[0], w[1]);
        }
        for s in scores {
            assert_eq!(score_from_bytes(&score_bytes(s)), s);
        }
        assert_eq!(score_bytes(-0.0), score_bytes(0.0));
    }

    #[test]
    fn member_keys_round_trip_and_group_by_version() {
        let mut p = Vec::new();
        encode_member_prefix(&mut p, Space::Member, 5, b"my\x00key", 42);
        let mut k = p.clone();
        k.extend_from_slice(b"field");
        assert_eq!(
            decode_member_key(&k),
            Some((5, &b"my\x00key"[..], 42, &b"field"[..]))
        );
        assert!(k.as_slice() >= p.as_slice() && k.as_slice() < prefix_end(&p).as_slice());
        let mut newer = Vec::new();
        encode_member_prefix(&mut newer, Space::Member, 5, b"my\x00key", 43);
        assert!(prefix_end(&p) <= newer);
        assert_eq!(prefix_end(&[1, 0xff]), vec![2]);
    }

    #[test]
    fn dead_members_follow_the_meta_record() {
        let mut k = Vec::new();
        encode_member_prefix(&mut k, Space::Member, 0, b"h", 7);
        k.extend_from_slice(b"f");
        let meta = |version, at| {
            let m = CollectionMeta {
                version,
                size: 1,
                head: 0,
                tail: 0,
            };
            encode_value(ValueType::Hash, at, &m.encode(ValueType::Hash))
        };
        assert!(!member_is_dead(&k, Some(&meta(7, 0)), 1000));
        assert!(member_is_dead(&k, Some(&meta(8, 0)), 1000), "replaced");
        assert!(member_is_dead(&k, Some(&meta(7, 999)), 1000), "expired");
        assert!(!member_is_dead(&k, Some(&meta(7, 1001)), 1000));
        assert!(member_is_dead(&k, None, 1000), "deleted");
        let string = encode_value(ValueType::String, 0, b"x");
        assert!(
            member_is_dead(&k, Some(&string), 1000),
            "overwritten by a string"
        );
        let mut meta_key = Vec::new();
        encode_key(&mut meta_key, 0, b"h");
        assert!(
            !member_is_dead(&meta_key, None, 1000),
            "meta records are kept"
        );
    }

    #[test]
    fn collection_meta_round_trips() {
        let m = CollectionMeta {
            version: 9,
            size: 3,
            head: LIST_ORIGIN - 1,
            tail: LIST_ORIGIN + 2,
        };
        let raw = encode_value(ValueType::List, 0, &m.encode(ValueType::List));
        assert_eq!(CollectionMeta::decode(&raw), Some(m));
        let h = CollectionMeta {
            version: 9,
            size: 3,
            head: LIST_ORIGIN,
            tail: LIST_ORIGIN,
        };
        let raw = encode_value(ValueType::Hash, 0, &h.encode(ValueType::Hash));
        assert_eq!(CollectionMeta::decode(&raw), Some(h));
        assert_eq!(next_version(10, 5), 11);
        assert_eq!(next_version(10, 50), 50);
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
