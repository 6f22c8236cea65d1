//! Hash commands. Storage side: each runs on the shard that owns its key.
//!
//! A hash is a meta record plus one member record per field (`Space::Member`,
//! suffix = field, value = field value); see `storage::encoding`. `meta.size` is
//! always the number of fields: a write counts a field only after `record_get` says
//! whether it was there, and a hash whose last field goes disappears (`put_meta`).
//!
//! Fields come back in byte order (the records' order); Redis's order is insertion
//! order for small hashes and unspecified for large ones.
//!
//! Keyspace events follow Redis 7.0: `hset` (HSET, HMSET, and HSETNX when it sets),
//! `hdel` (then `del` if the hash is gone), `hincrby`, `hincrbyfloat`; none when the
//! command wrote nothing (HSETNX of an existing field, HDEL of absent ones) or failed.
//!
//! The end of this file holds what sets share with hashes (same member layout):
//! `*SCAN` argument parsing and random sampling for HRANDFIELD, SPOP and SRANDMEMBER.

use std::collections::HashSet;

use bytes::Bytes;

use super::strings::float_sum_text;
use crate::commands::table::Kind;
use crate::commands::{arg_i64, is, parse_float, CommandError, Tx};
use crate::config::notify;
use crate::error::text;
use crate::glob;
use crate::protocol::parser::parse_i64;
use crate::protocol::Reply;
use crate::rng::random_below;
use crate::storage::encoding::{CollectionMeta, Space, ValueType};
use crate::storage::Span;

type Result<T> = std::result::Result<T, CommandError>;

const HASH: ValueType = ValueType::Hash;

/// The longest text Redis parses as a long double (`MAX_LONG_DOUBLE_CHARS`).
const MAX_FLOAT_CHARS: usize = 5 * 1024;

/// The hash at `key`: its meta and expiry, or a fresh empty one (expiry 0) and
/// `true` when the key does not exist. WRONGTYPE for another type.
fn open_or_create(tx: &mut Tx<'_>, key: &[u8]) -> Result<(CollectionMeta, u64, bool)> {
    Ok(match tx.meta(key, HASH)? {
        Some((m, at)) => (m, at, false),
        None => (tx.new_collection(), 0, true),
    })
}

/// The "wrong number of arguments" error of the command in `name`.
fn arity(name: &[u8]) -> CommandError {
    CommandError::arity(&String::from_utf8_lossy(name).to_ascii_lowercase())
}

/// Sets field/value pairs (HSET, HMSET); returns how many fields are new. Records
/// `hset` even when no field is new, as Redis.
fn set_pairs(tx: &mut Tx<'_>, key: &[u8], pairs: &[Bytes]) -> Result<i64> {
    let (mut meta, at, fresh) = open_or_create(tx, key)?;
    let mut seen: HashSet<&[u8]> = HashSet::new();
    let mut added = 0;
    for pair in pairs.chunks_exact(2) {
        let (field, value) = (&pair[0], &pair[1]);
        let new = if fresh {
            seen.insert(field.as_ref())
        } else {
            tx.record_get(Space::Member, key, meta.version, field)?
                .is_none()
        };
        tx.record_put(Space::Member, key, meta.version, field, value);
        added += new as i64;
    }
    if added > 0 {
        meta.size += added as u64;
        tx.put_meta(key, HASH, &meta, at);
    }
    tx.notify(notify::HASH, "hset", key);
    Ok(added)
}

/// HSET key field value [field value ...]
pub fn hset(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    if args.len() % 2 == 1 {
        return Err(arity(&args[0]));
    }
    Ok(Reply::Int(set_pairs(tx, &args[1], &args[2..])?))
}

/// HMSET key field value [field value ...]
pub fn hmset(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    if args.len() % 2 == 1 {
        return Err(arity(&args[0]));
    }
    set_pairs(tx, &args[1], &args[2..])?;
    Ok(Reply::Ok)
}

/// HSETNX key field value
pub fn hsetnx(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let (key, field) = (&args[1], &args[2]);
    let (mut meta, at, fresh) = open_or_create(tx, key)?;
    if !fresh
        && tx
            .record_get(Space::Member, key, meta.version, field)?
            .is_some()
    {
        return Ok(Reply::Int(0));
    }
    tx.record_put(Space::Member, key, meta.version, field, &args[3]);
    meta.size += 1;
    tx.put_meta(key, HASH, &meta, at);
    tx.notify(notify::HASH, "hset", key);
    Ok(Reply::Int(1))
}

/// The value of `field` in the hash at `key`, if both exist.
/// The value of `field` in the hash at `key`, `None` if the key holds no hash or the
/// hash no such field (SORT's `key->field` patterns).
pub fn field_if_hash(tx: &mut Tx<'_>, key: &[u8], field: &[u8]) -> Result<Option<Bytes>> {
    match tx.get(key)? {
        Some(v) if v.kind == ValueType::Hash => field_value(tx, key, field),
        _ => Ok(None),
    }
}

fn field_value(tx: &mut Tx<'_>, key: &[u8], field: &[u8]) -> Result<Option<Bytes>> {
    match tx.meta(key, HASH)? {
        Some((meta, _)) => tx.record_get(Space::Member, key, meta.version, field),
        None => Ok(None),
    }
}

/// HGET key field
pub fn hget(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    Ok(field_value(tx, &args[1], &args[2])?.map_or(Reply::Nil, Reply::Bulk))
}

/// HMGET key field [field ...]
pub fn hmget(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let key = &args[1];
    let meta = tx.meta(key, HASH)?;
    let mut out = Vec::with_capacity(args.len() - 2);
    for field in &args[2..] {
        let value = match &meta {
            Some((m, _)) => tx.record_get(Space::Member, key, m.version, field)?,
            None => None,
        };
        out.push(value.map_or(Reply::Nil, Reply::Bulk));
    }
    Ok(Reply::Array(out))
}

/// Every (field, value) of the hash at `key`; empty if it does not exist.
fn all_pairs(tx: &mut Tx<'_>, key: &[u8]) -> Result<Vec<(Bytes, Bytes)>> {
    match tx.meta(key, HASH)? {
        Some((meta, _)) => tx.all_records(Space::Member, key, meta.version),
        None => Ok(Vec::new()),
    }
}

/// HGETALL key
pub fn hgetall(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let pairs = all_pairs(tx, &args[1])?;
    Ok(Reply::Map(
        pairs
            .into_iter()
            .map(|(f, v)| (Reply::Bulk(f), Reply::Bulk(v)))
            .collect(),
    ))
}

/// HKEYS key
pub fn hkeys(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let pairs = all_pairs(tx, &args[1])?;
    Ok(Reply::Array(
        pairs.into_iter().map(|(f, _)| Reply::Bulk(f)).collect(),
    ))
}

/// HVALS key
pub fn hvals(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let pairs = all_pairs(tx, &args[1])?;
    Ok(Reply::Array(
        pairs.into_iter().map(|(_, v)| Reply::Bulk(v)).collect(),
    ))
}

/// HDEL key field [field ...]
pub fn hdel(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let key = &args[1];
    let Some((mut meta, at)) = tx.meta(key, HASH)? else {
        return Ok(Reply::Int(0));
    };
    let mut removed = 0;
    for field in &args[2..] {
        if tx
            .record_get(Space::Member, key, meta.version, field)?
            .is_some()
        {
            tx.record_del(Space::Member, key, meta.version, field);
            removed += 1;
        }
    }
    if removed > 0 {
        meta.size = meta.size.saturating_sub(removed);
        tx.put_meta(key, HASH, &meta, at);
        tx.notify(notify::HASH, "hdel", key);
        if meta.size == 0 {
            tx.notify(notify::GENERIC, "del", key);
        }
    }
    Ok(Reply::Int(removed as i64))
}

/// HLEN key
pub fn hlen(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let size = tx.meta(&args[1], HASH)?.map_or(0, |(m, _)| m.size);
    Ok(Reply::Int(size as i64))
}

/// HSTRLEN key field
pub fn hstrlen(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let len = field_value(tx, &args[1], &args[2])?.map_or(0, |v| v.len());
    Ok(Reply::Int(len as i64))
}

/// HEXISTS key field
pub fn hexists(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let found = field_value(tx, &args[1], &args[2])?.is_some();
    Ok(Reply::Int(found as i64))
}

/// Opens (or starts) the hash at `key` for an update of `field`: its metadata, expiry
/// and the field's current value.
fn open_field(
    tx: &mut Tx<'_>,
    key: &[u8],
    field: &[u8],
) -> Result<(CollectionMeta, u64, Option<Bytes>)> {
    let (meta, at, fresh) = open_or_create(tx, key)?;
    let old = match fresh {
        true => None,
        false => tx.record_get(Space::Member, key, meta.version, field)?,
    };
    Ok((meta, at, old))
}

/// HINCRBY key field increment
pub fn hincrby(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let (key, field) = (&args[1], &args[2]);
    let by = arg_i64(&args[3])?;
    let (mut meta, at, old) = open_field(tx, key, field)?;
    let current = match &old {
        Some(v) => parse_i64(v).ok_or_else(|| CommandError::other(text::HASH_NOT_INTEGER))?,
        None => 0,
    };
    let new = current.checked_add(by).ok_or(CommandError::Overflow)?;
    let mut buf = itoa::Buffer::new();
    tx.record_put(
        Space::Member,
        key,
        meta.version,
        field,
        buf.format(new).as_bytes(),
    );
    if old.is_none() {
        meta.size += 1;
        tx.put_meta(key, HASH, &meta, at);
    }
    tx.notify(notify::HASH, "hincrby", key);
    Ok(Reply::Int(new))
}

/// Parses a float the way Redis's `string2ld` does (no NaN, bounded length).
fn long_double(text: &[u8]) -> Option<f64> {
    if text.len() >= MAX_FLOAT_CHARS {
        return None;
    }
    parse_float(text)
}

/// HINCRBYFLOAT key field increment
pub fn hincrbyfloat(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let (key, field, incr) = (&args[1], &args[2], &args[3]);
    let by = long_double(incr).ok_or(CommandError::NotFloat)?;
    if !by.is_finite() {
        return Err(CommandError::other(text::VALUE_NAN));
    }
    let (mut meta, at, old) = open_field(tx, key, field)?;
    let current = match &old {
        Some(v) => long_double(v).ok_or_else(|| CommandError::other(text::HASH_NOT_FLOAT))?,
        None => 0.0,
    };
    let sum = current + by;
    if !sum.is_finite() {
        return Err(CommandError::other(text::INCR_NAN));
    }
    let text = float_sum_text(old.as_deref().unwrap_or(b"0"), incr, sum);
    tx.record_put(Space::Member, key, meta.version, field, text.as_bytes());
    if old.is_none() {
        meta.size += 1;
        tx.put_meta(key, HASH, &meta, at);
    }
    tx.notify(notify::HASH, "hincrbyfloat", key);
    Ok(Reply::Bulk(Bytes::from(text)))
}

/// HRANDFIELD key [count \[WITHVALUES\]]
pub fn hrandfield(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let key = &args[1];
    let Some(count_arg) = args.get(2) else {
        let Some((meta, _)) = tx.meta(key, HASH)? else {
            return Ok(Reply::Nil);
        };
        let picked = sample(tx, key, &meta, 1)?;
        return Ok(picked
            .into_iter()
            .next()
            .map_or(Reply::Nil, |(f, _)| Reply::Bulk(f)));
    };
    let count = random_count(count_arg)?;
    let with_values = match args.get(3) {
        None => false,
        Some(opt) if args.len() == 4 && is(opt, "withvalues") => true,
        Some(_) => return Err(CommandError::Syntax),
    };
    if with_values && count.unsigned_abs() > i64::MAX as u64 / 2 {
        return Err(CommandError::other(text::OUT_OF_RANGE));
    }
    let Some((meta, _)) = tx.meta(key, HASH)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    if count == 0 {
        return Ok(Reply::Array(Vec::new()));
    }
    let picked = sample(tx, key, &meta, count)?;
    Ok(if with_values {
        // A flat array in RESP2, an array of [field, value] pairs in RESP3, as Redis.
        Reply::Pairs(
            picked
                .into_iter()
                .map(|(f, v)| (Reply::Bulk(f), Reply::Bulk(v)))
                .collect(),
        )
    } else {
        Reply::Array(picked.into_iter().map(|(f, _)| Reply::Bulk(f)).collect())
    })
}

/// HSCAN key cursor [MATCH pattern] [COUNT count]: every matching pair, cursor 0.
pub fn hscan(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    check_cursor(&args[2])?;
    let key = &args[1];
    // As in Redis, a missing key answers an empty scan before the options are read.
    let Some((meta, _)) = tx.meta(key, HASH)? else {
        return Ok(scan_reply(Vec::new()));
    };
    let opts = scan_options(&args[3..], true)?;
    let small = small_up_to(tx, "hash-max-listpack-entries", 128);
    scan_page(tx, key, &meta, &args[2], &opts, small, |f, v, out| {
        out.push(Reply::bulk(f));
        if !opts.novalues {
            out.push(Reply::bulk(v));
        }
    })
}

// ---- Shared with `sets`: *SCAN arguments and random sampling. ----

/// Checks a *SCAN cursor as Redis's `strtoul`-based parser does: optional sign,
/// decimal digits that fit in 64 bits, nothing else (the empty string is 0).
pub(super) fn check_cursor(arg: &[u8]) -> Result<()> {
    let digits = match arg.first() {
        Some(b'+' | b'-') => &arg[1..],
        _ => arg,
    };
    let ok = arg.is_empty()
        || (!digits.is_empty()
            && digits.iter().all(u8::is_ascii_digit)
            && std::str::from_utf8(digits)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .is_some());
    if ok {
        Ok(())
    } else {
        Err(CommandError::other(text::INVALID_CURSOR))
    }
}

/// What `[MATCH pattern] [COUNT count] [NOVALUES]` asked of a collection scan.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ScanOptions<'a> {
    /// Only members matching this glob (`None`: every member).
    pub pattern: Option<&'a [u8]>,
    /// Members visited per call (Redis's default: 10).
    pub count: u64,
    /// HSCAN NOVALUES (Redis 7.4): fields without their values.
    pub novalues: bool,
}

/// Parses `[MATCH pattern] [COUNT count]` (repeatable, any order), and NOVALUES where
/// `novalues_ok` (HSCAN).
pub(super) fn scan_options(opts: &[Bytes], novalues_ok: bool) -> Result<ScanOptions<'_>> {
    let mut out = ScanOptions {
        pattern: None,
        count: 10,
        novalues: false,
    };
    let mut i = 0;
    while i < opts.len() {
        if novalues_ok && is(&opts[i], "novalues") {
            out.novalues = true;
            i += 1;
            continue;
        }
        let value = opts.get(i + 1).ok_or(CommandError::Syntax)?;
        if is(&opts[i], "count") {
            let n = arg_i64(value)?;
            if n < 1 {
                return Err(CommandError::Syntax);
            }
            out.count = n as u64;
        } else if is(&opts[i], "match") {
            out.pattern = Some(value.as_ref()).filter(|p| *p != b"*");
        } else {
            return Err(CommandError::Syntax);
        }
        i += 2;
    }
    Ok(out)
}

/// Up to how many members a collection of this type has Redis's small encoding
/// (listpack, intset), by its `*-max-*-entries` parameter: such a collection comes
/// back whole from a scan, with cursor 0, and OBJECT ENCODING names the small form.
/// (Redis also looks at the members' lengths and, for sets, at whether they are
/// integers; a scan here needs only the size.)
pub(super) fn small_up_to(tx: &Tx<'_>, param: &str, default: u64) -> u64 {
    tx.live().param_u64(param).unwrap_or(default)
}

/// One page of HSCAN / SSCAN / ZSCAN over the member records of the collection at
/// `key`: from where `cursor` stopped (the start for 0 or an unknown cursor, see
/// `storage::cursors`), `COUNT` members visited, those matching `MATCH` passed to
/// `emit(member, value, out)`. The reply's cursor is 0 once the last member was
/// visited. Members are visited in byte order, which writes do not reorder, so
/// every member present for the whole iteration is returned at least once.
pub(super) fn scan_page(
    tx: &mut Tx<'_>,
    key: &[u8],
    meta: &CollectionMeta,
    cursor: &[u8],
    opts: &ScanOptions<'_>,
    small: u64,
    mut emit: impl FnMut(&[u8], &[u8], &mut Vec<Reply>),
) -> Result<Reply> {
    let whole = meta.size <= small;
    let cursor = cursor_value(cursor);
    let from = if whole || cursor == 0 {
        None
    } else {
        tx.scan_resume(cursor, key, meta.version)
    };
    let limit = if whole { u64::MAX } else { opts.count };
    let (mut out, mut seen, mut next) = (Vec::new(), 0u64, None);
    let span = Span {
        from: from.as_deref(),
        to: None,
        rev: false,
    };
    tx.records(Space::Member, key, meta.version, span, |m, v| {
        if seen == limit {
            next = Some(Bytes::copy_from_slice(m));
            return false;
        }
        seen += 1;
        if opts.pattern.is_none_or(|p| glob::matches(p, m, false)) {
            emit(m, v, &mut out);
        }
        true
    })?;
    let cursor = match next {
        Some(n) => tx.scan_save(key, meta.version, n),
        None => 0,
    };
    Ok(Reply::Array(vec![
        Reply::Bulk(Bytes::from(cursor.to_string())),
        Reply::Array(out),
    ]))
}

/// A checked cursor's number (a sign is ignored: any number the table does not know
/// starts over).
fn cursor_value(arg: &[u8]) -> u64 {
    let digits = arg.strip_prefix(b"+").or_else(|| arg.strip_prefix(b"-"));
    std::str::from_utf8(digits.unwrap_or(arg))
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A *SCAN reply: cursor "0" (done) and the elements.
pub(super) fn scan_reply(elements: Vec<Reply>) -> Reply {
    Reply::Array(vec![Reply::bulk_static("0"), Reply::Array(elements)])
}

/// The count of HRANDFIELD / SRANDMEMBER: any integer but `i64::MIN`.
pub(super) fn random_count(arg: &[u8]) -> Result<i64> {
    match arg_i64(arg)? {
        i64::MIN => Err(CommandError::other(text::INCR_OUT_OF_RANGE)),
        n => Ok(n),
    }
}

/// The most elements a sampling with repetitions (negative count) returns: Redis
/// would try to build any size; this server refuses rather than run out of memory.
const MAX_REPEATS: u64 = 1 << 22;

/// `k` distinct random indices of `0..n` (`k <= n`), sorted (Floyd's algorithm).
fn distinct_indices(n: u64, k: u64) -> Vec<u64> {
    let mut chosen = HashSet::with_capacity(k as usize);
    for j in n - k..n {
        let t = random_below(j + 1);
        if !chosen.insert(t) {
            chosen.insert(j);
        }
    }
    let mut v: Vec<u64> = chosen.into_iter().collect();
    v.sort_unstable();
    v
}

/// The records at sorted, distinct positions `at` of the collection, in that order.
fn records_at(
    tx: &mut Tx<'_>,
    key: &[u8],
    version: u64,
    at: &[u64],
) -> Result<Vec<(Bytes, Bytes)>> {
    let mut out = Vec::with_capacity(at.len());
    let mut pos = 0u64;
    if at.is_empty() {
        return Ok(out);
    }
    tx.records(Space::Member, key, version, Span::ALL, |m, v| {
        if at.get(out.len()) == Some(&pos) {
            out.push((Bytes::copy_from_slice(m), Bytes::copy_from_slice(v)));
        }
        pos += 1;
        out.len() < at.len()
    })?;
    Ok(out)
}

/// Fisher-Yates.
fn shuffle<T>(items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = random_below(i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// Random members (with their values) of a non-empty collection, Redis's rules:
/// `count > 0` gives `min(count, size)` distinct members, `count < 0` gives `-count`
/// members that may repeat. `count == 0` gives none.
pub(super) fn sample(
    tx: &mut Tx<'_>,
    key: &[u8],
    meta: &CollectionMeta,
    count: i64,
) -> Result<Vec<(Bytes, Bytes)>> {
    let size = meta.size;
    if count == 0 || size == 0 {
        return Ok(Vec::new());
    }
    if count > 0 {
        let k = count as u64;
        if k >= size {
            return tx.all_records(Space::Member, key, meta.version);
        }
        let at = distinct_indices(size, k);
        let mut out = records_at(tx, key, meta.version, &at)?;
        shuffle(&mut out);
        return Ok(out);
    }
    let k = count.unsigned_abs();
    if k > MAX_REPEATS {
        return Err(CommandError::other(text::OUT_OF_RANGE));
    }
    let draws: Vec<u64> = (0..k).map(|_| random_below(size)).collect();
    let mut at = draws.clone();
    at.sort_unstable();
    at.dedup();
    let found = records_at(tx, key, meta.version, &at)?;
    Ok(draws
        .iter()
        .filter_map(|d| at.binary_search(d).ok().and_then(|i| found.get(i)).cloned())
        .collect())
}

/// The hash commands and where each runs, for the command table ([`crate::commands::table`]).
pub(crate) const COMMANDS: &[(&str, Kind)] = &[
    ("hset", Kind::Single(hset)),
    ("hsetnx", Kind::Single(hsetnx)),
    ("hget", Kind::Single(hget)),
    ("hmset", Kind::Single(hmset)),
    ("hmget", Kind::Single(hmget)),
    ("hgetall", Kind::Single(hgetall)),
    ("hdel", Kind::Single(hdel)),
    ("hlen", Kind::Single(hlen)),
    ("hstrlen", Kind::Single(hstrlen)),
    ("hexists", Kind::Single(hexists)),
    ("hkeys", Kind::Single(hkeys)),
    ("hvals", Kind::Single(hvals)),
    ("hincrby", Kind::Single(hincrby)),
    ("hincrbyfloat", Kind::Single(hincrbyfloat)),
    ("hrandfield", Kind::Single(hrandfield)),
    ("hscan", Kind::Single(hscan)),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_parse_like_strtoul() {
        for ok in ["0", "", "-1", "+5", "00001", "18446744073709551615", "-0"] {
            assert!(check_cursor(ok.as_bytes()).is_ok(), "{ok:?}");
        }
        for bad in [
            "+",
            "-",
            "1a",
            " 1",
            "1 ",
            "18446744073709551616",
            "+-1",
            "abc",
        ] {
            assert!(check_cursor(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn scan_options() {
        let b = |v: &[&str]| -> Vec<Bytes> {
            v.iter()
                .map(|s| Bytes::copy_from_slice(s.as_bytes()))
                .collect()
        };
        let pattern =
            |a: &[&str]| super::scan_options(&b(a), false).map(|o| o.pattern.map(<[u8]>::to_vec));
        assert_eq!(pattern(&[]), Ok(None));
        assert_eq!(pattern(&["MATCH", "*"]), Ok(None));
        let given = b(&["count", "5", "match", "a*"]);
        let o = super::scan_options(&given, false).unwrap();
        assert_eq!(
            (o.pattern, o.count, o.novalues),
            (Some(&b"a*"[..]), 5, false)
        );
        assert_eq!(super::scan_options(&b(&[]), false).unwrap().count, 10);
        assert_eq!(pattern(&["count", "0"]), Err(CommandError::Syntax));
        assert_eq!(pattern(&["count", "x"]), Err(CommandError::NotInteger));
        assert_eq!(pattern(&["match"]), Err(CommandError::Syntax));
        assert_eq!(pattern(&["type", "hash"]), Err(CommandError::Syntax));
        // NOVALUES is HSCAN's alone.
        assert_eq!(pattern(&["novalues"]), Err(CommandError::Syntax));
        assert!(
            super::scan_options(&b(&["novalues", "count", "2"]), true)
                .unwrap()
                .novalues
        );
        assert_eq!(cursor_value(b"123"), 123);
        assert_eq!(cursor_value(b"+7"), 7);
        assert_eq!(cursor_value(b""), 0);
    }

    #[test]
    fn distinct_indices_are_distinct_and_in_range() {
        for (n, k) in [(1, 1), (10, 3), (10, 10), (1000, 999), (5, 0)] {
            let v = distinct_indices(n, k);
            assert_eq!(v.len() as u64, k);
            assert!(v.windows(2).all(|w| w[0] < w[1]));
            assert!(v.iter().all(|&i| i < n));
        }
    }

    #[test]
    fn random_below_stays_below() {
        for n in [1, 2, 3, 7, 1000, u64::MAX] {
            for _ in 0..100 {
                assert!(random_below(n) < n);
            }
        }
    }
}
