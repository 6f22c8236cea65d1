//! DUMP and RESTORE. Storage side: each runs on the shard that owns its key.
//!
//! DUMP reads the whole value (a chunked string whole, a collection's member
//! records) and serializes it as Redis 7.0 does ([`crate::rdb::dump`]: RDB 10,
//! CRC64, the encodings Redis would choose with its default limits). Its bytes
//! are Redis's for strings, lists, intsets, and sorted sets and hashes small
//! enough for a listpack, but for a hash's fields, which shardis keeps in byte
//! order where Redis keeps them in insertion order; a large set or hash is a hash
//! table in Redis, whose order is its own.
//!
//! RESTORE key ttl serialized-value \[REPLACE\] \[ABSTTL\] \[IDLETIME seconds\]
//! \[FREQ frequency\] follows Redis 7.0's `restoreCommand` step by step:
//! 1. the options, left to right: an unknown word, IDLETIME or FREQ without a
//!    value, or IDLETIME and FREQ together is a syntax error; a value that is
//!    not an integer, a negative IDLETIME or a FREQ outside 0..=255 fails;
//! 2. without REPLACE, an existing key is BUSYKEY;
//! 3. the ttl must be an integer >= 0;
//! 4. the payload's footer (version, checksum), then the value: any value
//!    Redis 7.0 loads for the five basic types (every encoding, old ones
//!    included, see [`crate::rdb`]); anything else, empty collections, duplicate
//!    members and NaN scores included, is "Bad data format". As in Redis, the
//!    value is read from the whole payload, so a damaged one may read into the
//!    footer, and bytes after the value are ignored. (Duplicate fields of a
//!    hash below 512 entries and duplicate members of a sorted set's listpack
//!    are refused only with `sanitize-dump-payload yes` in Redis 7.0, which
//!    otherwise stores a corrupt value; shardis always refuses them);
//! 5. REPLACE deletes the old value, of any type;
//! 6. ttl 0 means no expiry, with or without ABSTTL; otherwise the expiry is
//!    now + ttl ms, or the Unix ms time ttl with ABSTTL. An expiry in the past
//!    (an overflowing now + ttl included, as Redis's signed sum wraps) creates
//!    nothing and still replies OK; if REPLACE deleted a key, that sends `del`
//!    (a key that had expired but was not yet removed counts as deleted in
//!    Redis; here it is expired on access, which sends `expired` instead);
//! 7. the value is stored as its type is stored natively (a string inline; a
//!    list, set, sorted set or hash as its meta record and member records,
//!    written by the families' own functions, a hash's as HSET writes a new
//!    one), then `restore` is sent.
//!
//! IDLETIME and FREQ are checked as Redis checks them and have no other effect:
//! shardis keeps no LRU or LFU data.
//!
//! Memory: a payload is at most `proto-max-bulk-len` bytes, and LZF decoding
//! never outgrows the length the payload claims nor a fixed multiple of its input
//! ([`crate::rdb::lzf_decompress`]); the decoded value is held once (its
//! elements become `Bytes` without a copy) while its records are written. DUMP
//! holds the value and its payload.

use bytes::Bytes;

use super::{lists, sets, zsets};
use crate::commands::table::Kind;
use crate::commands::{arg_i64, is, CommandError, Tx};
use crate::config::notify;
use crate::error::text;
use crate::protocol::Reply;
use crate::rdb::{self, Object};
use crate::storage::encoding::{score_from_bytes, Space, Value, ValueType};
use crate::storage::Span;

type Result<T> = std::result::Result<T, CommandError>;

/// DUMP key: the serialized value, or nil if the key does not exist.
pub fn dump(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let key = &args[1];
    let Some(value) = tx.get(key)? else {
        return Ok(Reply::Nil);
    };
    let obj = read_object(tx, key, &value)?;
    Ok(Reply::Bulk(Bytes::from(rdb::dump(&obj))))
}

/// The value at `key` (which holds `value`) as a DUMP object.
fn read_object(tx: &mut Tx<'_>, key: &[u8], value: &Value) -> Result<Object> {
    let owned = |items: Vec<Bytes>| items.into_iter().map(Vec::from).collect::<Vec<_>>();
    Ok(match value.kind {
        ValueType::String => Object::String(value.payload.to_vec()),
        ValueType::Chunked => {
            let whole = tx.get_string(key)?.map(|v| v.payload).unwrap_or_default();
            Object::String(whole.to_vec())
        }
        ValueType::List => Object::List(owned(lists::elements(tx, key)?.unwrap_or_default())),
        ValueType::Set => Object::Set(owned(sets::member_list(tx, key)?.unwrap_or_default())),
        ValueType::ZSet => {
            let mut entries = Vec::new();
            if let Some((meta, _)) = tx.meta(key, ValueType::ZSet)? {
                entries.reserve(meta.size.min(1 << 20) as usize);
                // Score records: suffix = score bytes + member, in (score, member) order.
                tx.records(Space::Score, key, meta.version, Span::ALL, |suffix, _| {
                    if let (Some(score), Some(member)) = (suffix.get(..8), suffix.get(8..)) {
                        entries.push((member.to_vec(), score_from_bytes(score)));
                    }
                    true
                })?;
            }
            Object::ZSet(entries)
        }
        ValueType::Hash => {
            let mut pairs = Vec::new();
            if let Some((meta, _)) = tx.meta(key, ValueType::Hash)? {
                pairs.reserve(meta.size.min(1 << 20) as usize);
                tx.records(
                    Space::Member,
                    key,
                    meta.version,
                    Span::ALL,
                    |field, value| {
                        pairs.push((field.to_vec(), value.to_vec()));
                        true
                    },
                )?;
            }
            Object::Hash(pairs)
        }
    })
}

/// RESTORE's options after the payload.
#[derive(Default)]
struct Options {
    replace: bool,
    absttl: bool,
}

/// Parses the options as `restoreCommand` does: left to right, each error as
/// soon as it is met.
fn parse_options(opts: &[Bytes]) -> Result<Options> {
    let mut o = Options::default();
    let (mut idletime, mut freq) = (false, false);
    let mut i = 0;
    while i < opts.len() {
        let has_value = i + 1 < opts.len();
        if is(&opts[i], "replace") {
            o.replace = true;
        } else if is(&opts[i], "absttl") {
            o.absttl = true;
        } else if is(&opts[i], "idletime") && has_value && !freq {
            if arg_i64(&opts[i + 1])? < 0 {
                return Err(CommandError::other(text::RESTORE_IDLETIME));
            }
            idletime = true;
            i += 1;
        } else if is(&opts[i], "freq") && has_value && !idletime {
            if !(0..=255).contains(&arg_i64(&opts[i + 1])?) {
                return Err(CommandError::other(text::RESTORE_FREQ));
            }
            freq = true;
            i += 1;
        } else {
            return Err(CommandError::Syntax);
        }
        i += 1;
    }
    Ok(o)
}

/// RESTORE key ttl serialized-value \[REPLACE\] \[ABSTTL\] \[IDLETIME seconds\]
/// \[FREQ frequency\] (see the module documentation for the order of checks).
pub fn restore(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let key = &args[1];
    let opts = parse_options(&args[4..])?;
    if !opts.replace && tx.get(key)?.is_some() {
        return Err(CommandError::other(text::BUSYKEY));
    }
    let ttl = arg_i64(&args[2])?;
    if ttl < 0 {
        return Err(CommandError::other(text::RESTORE_TTL_NEGATIVE));
    }
    let obj = read_payload(&args[3])?;
    let now = tx.now_ms as i64;
    let expire_at = match ttl {
        0 => 0,
        _ if opts.absttl => ttl,
        // Redis adds in a signed 64-bit sum that wraps; a wrapped one is in the past.
        _ => ttl.wrapping_add(now),
    };
    if expire_at != 0 && expire_at <= now {
        if opts.replace && tx.delete(key)? {
            tx.notify(notify::GENERIC, "del", key);
        }
        return Ok(Reply::Ok);
    }
    if opts.replace {
        // Whatever it holds, unread (Redis's dbDelete sends no event).
        tx.remove(key);
    }
    store(tx, key, obj, expire_at as u64)?;
    tx.notify(notify::GENERIC, "restore", key);
    Ok(Reply::Ok)
}

/// The value of a RESTORE payload. Like Redis, which reads the value from the
/// whole argument once the footer checks out, the value may run into the footer's
/// 10 bytes ([`rdb::restore`] stops at the footer).
fn read_payload(payload: &[u8]) -> Result<Object> {
    if rdb::open(payload).is_err() {
        return Err(CommandError::other(text::FUNCTION_PAYLOAD));
    }
    rdb::Reader::new(payload)
        .object()
        .map_err(|_| CommandError::other(text::RESTORE_BAD_FORMAT))
}

/// Stores `obj` at `key` (which holds nothing now) the way its type is stored
/// natively, expiring at `expire_at` (0: never).
fn store(tx: &mut Tx<'_>, key: &[u8], obj: Object, expire_at: u64) -> Result<()> {
    let shared = |items: Vec<Vec<u8>>| items.into_iter().map(Bytes::from).collect::<Vec<_>>();
    match obj {
        Object::String(s) => {
            tx.put(key, ValueType::String, expire_at, &s);
            return Ok(());
        }
        Object::List(items) => {
            lists::push_elements(tx, key, &shared(items), false)?;
        }
        Object::Set(members) => {
            sets::store(tx, key, &shared(members))?;
        }
        Object::ZSet(entries) => {
            let entries: Vec<zsets::Entry> = entries
                .into_iter()
                .map(|(member, score)| (score, Bytes::from(member)))
                .collect();
            zsets::store_entries(tx, key, &entries)?;
        }
        Object::Hash(pairs) => {
            // What HSET writes into a new hash: one member record per field.
            let mut meta = tx.new_collection();
            for (field, value) in &pairs {
                tx.record_put(Space::Member, key, meta.version, field, value);
            }
            meta.size = pairs.len() as u64;
            tx.put_meta(key, ValueType::Hash, &meta, expire_at);
            return Ok(());
        }
    }
    // The families' functions store without a TTL: set it on the meta record.
    if expire_at != 0 {
        if let Some(v) = tx.get(key)? {
            tx.put(key, v.kind, expire_at, &v.payload);
        }
    }
    Ok(())
}

/// DUMP and RESTORE and where they run, for the command table
/// ([`crate::commands::table`]).
pub(crate) const COMMANDS: &[(&str, Kind)] = &[
    ("dump", Kind::Single(dump)),
    ("restore", Kind::Single(restore)),
];
