//! Key-space commands. Storage side: each runs on the shard that owns its key, or, for
//! commands over the whole key space (`KEYS`, `DBSIZE`, `FLUSHDB`, ...), on every shard
//! over the keys that shard owns; the connection merges the parts.

use bytes::Bytes;

use crate::commands::table::{Coord, Kind, Merge};
use crate::commands::{arg_i64, is, lookup, CommandError, Tx};
use crate::config::notify;
use crate::error::text;
use crate::glob;
use crate::protocol::Reply;
use crate::storage::encoding::{Space, Value, ValueType};
use crate::storage::Span;

type Result<T> = std::result::Result<T, CommandError>;

/// DEL / UNLINK key [key ...] (the keys of one shard): how many existed.
pub fn del(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let mut n = 0;
    for key in &args[1..] {
        if tx.delete(key)? {
            tx.notify(notify::GENERIC, "del", key);
            n += 1;
        }
    }
    Ok(Reply::Int(n))
}

/// EXISTS / TOUCH key [key ...]: how many exist (a repeated key counts each time).
pub fn exists(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let mut n = 0;
    for key in &args[1..] {
        n += tx.get_untouched(key)?.is_some() as i64;
    }
    Ok(Reply::Int(n))
}

/// TYPE key
pub fn type_(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Status(
        tx.get_untouched(&args[1])?
            .map_or("none", |v| v.kind.name())
            .into(),
    ))
}

fn expire_generic(
    tx: &mut Tx<'_>,
    args: &[Bytes],
    seconds: bool,
    relative: bool,
    cmd: &'static str,
) -> Result<Reply> {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &args[3..] {
        match () {
            _ if is(opt, "nx") => nx = true,
            _ if is(opt, "xx") => xx = true,
            _ if is(opt, "gt") => gt = true,
            _ if is(opt, "lt") => lt = true,
            _ => {
                return Err(CommandError::unsupported_option(&String::from_utf8_lossy(
                    opt,
                )))
            }
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CommandError::other(text::NX_XX_GT_LT));
    }
    if gt && lt {
        return Err(CommandError::other(text::GT_AND_LT));
    }
    let mut when = arg_i64(&args[2])?;
    if seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return Err(CommandError::InvalidExpire(cmd));
        }
        when *= 1000;
    }
    if relative {
        when = when
            .checked_add(tx.now_ms as i64)
            .ok_or(CommandError::InvalidExpire(cmd))?;
    }
    let Some(v) = tx.get(&args[1])? else {
        return Ok(Reply::Int(0));
    };
    let current = if v.expire_at == 0 {
        None
    } else {
        Some(v.expire_at as i64)
    };
    let refused = (nx && current.is_some())
        || (xx && current.is_none())
        || (gt && current.is_none_or(|c| when <= c))
        || (lt && current.is_some_and(|c| when >= c));
    if refused {
        return Ok(Reply::Int(0));
    }
    if when <= tx.now_ms as i64 {
        tx.remove(&args[1]);
        tx.notify(notify::GENERIC, "del", &args[1]);
    } else {
        tx.put(&args[1], v.kind, when as u64, &v.payload);
        tx.notify(notify::GENERIC, "expire", &args[1]);
    }
    Ok(Reply::Int(1))
}

/// EXPIRE key seconds [NX|XX|GT|LT]
pub fn expire(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    expire_generic(tx, args, true, true, "expire")
}

/// PEXPIRE key milliseconds [NX|XX|GT|LT]
pub fn pexpire(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    expire_generic(tx, args, false, true, "pexpire")
}

/// EXPIREAT key unix-seconds [NX|XX|GT|LT]
pub fn expireat(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    expire_generic(tx, args, true, false, "expireat")
}

/// PEXPIREAT key unix-ms [NX|XX|GT|LT]
pub fn pexpireat(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    expire_generic(tx, args, false, false, "pexpireat")
}

/// TTL and its relatives, which (as EXISTS and TYPE) are no use of the key for OBJECT
/// IDLETIME, as in Redis.
fn ttl_generic(tx: &mut Tx<'_>, key: &[u8], ms: bool, absolute: bool) -> Result<Reply> {
    let Some(v) = tx.get_untouched(key)? else {
        return Ok(Reply::Int(-2));
    };
    if v.expire_at == 0 {
        return Ok(Reply::Int(-1));
    }
    let at = v.expire_at as i64;
    Ok(Reply::Int(match (absolute, ms) {
        (true, true) => at,
        (true, false) => at / 1000,
        (false, true) => at - tx.now_ms as i64,
        (false, false) => (at - tx.now_ms as i64 + 500) / 1000,
    }))
}

/// TTL key
pub fn ttl(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    ttl_generic(tx, &args[1], false, false)
}

/// PTTL key
pub fn pttl(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    ttl_generic(tx, &args[1], true, false)
}

/// EXPIRETIME key
pub fn expiretime(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    ttl_generic(tx, &args[1], false, true)
}

/// PEXPIRETIME key
pub fn pexpiretime(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    ttl_generic(tx, &args[1], true, true)
}

/// PERSIST key
pub fn persist(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    match tx.get(&args[1])? {
        Some(v) if v.expire_at != 0 => {
            tx.put(&args[1], v.kind, 0, &v.payload);
            tx.notify(notify::GENERIC, "persist", &args[1]);
            Ok(Reply::Int(1))
        }
        _ => Ok(Reply::Int(0)),
    }
}

/// KEYS pattern (this shard's part).
pub fn keys(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let pattern = &args[1];
    let all = pattern.as_ref() == b"*";
    let mut out = Vec::new();
    tx.scan(0, |key, _| {
        if all || glob::matches(pattern, key, false) {
            out.push(Reply::bulk(key));
        }
        true
    })?;
    Ok(Reply::Array(out))
}

/// DBSIZE (this shard's part).
pub fn dbsize(tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    let mut n = 0;
    tx.scan(0, |_, _| {
        n += 1;
        true
    })?;
    Ok(Reply::Int(n))
}

/// Counts this shard's keys and keys with a TTL in every database (for INFO
/// keyspace): `(keys, expires)` per database.
pub fn keyspace(tx: &mut Tx<'_>) -> Result<Vec<(i64, i64)>> {
    let dbs = tx.live().databases;
    let mut out = Vec::with_capacity(dbs as usize);
    for db in 0..dbs {
        tx.db = db;
        let (mut keys, mut expires) = (0, 0);
        tx.scan(0, |_, v| {
            keys += 1;
            expires += (v.expire_at != 0) as i64;
            true
        })?;
        out.push((keys, expires));
    }
    Ok(out)
}

/// RANDOMKEY (this shard's candidate: a key at a random position of its range).
pub fn randomkey(tx: &mut Tx<'_>, _args: &[Bytes]) -> Result<Reply> {
    let start = crate::rng::random_u64();
    let mut found = None;
    tx.scan(start, |key, _| {
        found = Some(Reply::bulk(key));
        false
    })?;
    if found.is_none() {
        tx.scan(0, |key, _| {
            found = Some(Reply::bulk(key));
            false
        })?;
    }
    Ok(found.unwrap_or(Reply::Nil))
}

/// FLUSHDB [ASYNC|SYNC] (this shard's part).
pub fn flushdb(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    flush_mode(args)?;
    let db = tx.db;
    tx.flush_db(db);
    Ok(Reply::Ok)
}

/// FLUSHALL [ASYNC|SYNC] (this shard's part).
pub fn flushall(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    flush_mode(args)?;
    for db in 0..tx.live().databases {
        tx.flush_db(db);
    }
    Ok(Reply::Ok)
}

fn flush_mode(args: &[Bytes]) -> Result<()> {
    match args.get(1) {
        None => Ok(()),
        Some(a) if args.len() == 2 && (is(a, "async") || is(a, "sync")) => Ok(()),
        Some(_) => Err(CommandError::Syntax),
    }
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type] on the shard owning `cursor`.
/// The cursor is a position in hash order (see `storage::encoding`); the reply's
/// cursor is where the next call resumes, or the start of the next shard's range.
pub fn scan(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let cursor = parse_cursor(&args[1])?;
    let opts = ScanOptions::parse(&args[2..])?;
    let mut out = Vec::new();
    let mut examined = 0usize;
    let next = tx.scan(cursor, |key, value| {
        examined += 1;
        let type_ok = opts.kind.as_ref().is_none_or(|t| is(t, value.kind.name()));
        let match_ok = opts
            .pattern
            .as_ref()
            .is_none_or(|p| glob::matches(p, key, false));
        if type_ok && match_ok {
            out.push(Reply::bulk(key));
        }
        examined < opts.count
    })?;
    let (shard, shards) = tx.shard_id();
    let next = match next {
        Some(h) => h,
        None => crate::storage::encoding::shard_start(shard + 1, shards).unwrap_or(0),
    };
    Ok(Reply::Array(vec![
        Reply::bulk(next.to_string().as_bytes()),
        Reply::Array(out),
    ]))
}

/// Parses a SCAN cursor (an unsigned 64-bit decimal).
pub fn parse_cursor(arg: &[u8]) -> Result<u64> {
    std::str::from_utf8(arg)
        .ok()
        .filter(|s| !s.starts_with('+'))
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| CommandError::other(text::INVALID_CURSOR))
}

struct ScanOptions<'a> {
    pattern: Option<&'a Bytes>,
    count: usize,
    kind: Option<&'a Bytes>,
}

impl<'a> ScanOptions<'a> {
    fn parse(args: &'a [Bytes]) -> Result<Self> {
        let mut o = ScanOptions {
            pattern: None,
            count: 10,
            kind: None,
        };
        let mut i = 0;
        while i < args.len() {
            let value = args.get(i + 1).ok_or(CommandError::Syntax)?;
            if is(&args[i], "match") {
                o.pattern = Some(value).filter(|p| p.as_ref() != b"*");
            } else if is(&args[i], "count") {
                let n = arg_i64(value)?;
                if n < 1 {
                    return Err(CommandError::Syntax);
                }
                o.count = n as usize;
            } else if is(&args[i], "type") {
                o.kind = Some(value);
            } else {
                return Err(CommandError::Syntax);
            }
            i += 2;
        }
        Ok(o)
    }
}

/// RENAME / RENAMENX when both keys live on this shard.
pub fn rename(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let nx = is(&args[0], "renamenx");
    let Some(image) = tx.export(&args[1])? else {
        return Err(CommandError::NoSuchKey);
    };
    if args[1] == args[2] {
        return Ok(if nx { Reply::Int(0) } else { Reply::Ok });
    }
    if nx && tx.get(&args[2])?.is_some() {
        return Ok(Reply::Int(0));
    }
    tx.remove(&args[1]);
    tx.import(&args[2], &image)?;
    tx.notify(notify::GENERIC, "rename_from", &args[1]);
    tx.notify(notify::GENERIC, "rename_to", &args[2]);
    Ok(if nx { Reply::Int(1) } else { Reply::Ok })
}

/// SWAPDB's two database indexes, checked against the `databases` in use.
pub fn swapdb_indexes(args: &[Bytes], databases: u8) -> Result<(u8, u8)> {
    let a = crate::protocol::parser::parse_i64(&args[1])
        .ok_or_else(|| CommandError::other(text::SWAPDB_FIRST))?;
    let b = crate::protocol::parser::parse_i64(&args[2])
        .ok_or_else(|| CommandError::other(text::SWAPDB_SECOND))?;
    let in_range = |i: i64| (0..databases as i64).contains(&i);
    if !in_range(a) || !in_range(b) {
        return Err(CommandError::other(text::DB_OUT_OF_RANGE));
    }
    Ok((a as u8, b as u8))
}

/// What one stored record costs besides its key and value bytes: RocksDB's 8-byte
/// sequence-and-type trailer and the length prefixes of its entry.
const RECORD_OVERHEAD: u64 = 12;

/// MEMORY USAGE: the bytes `key` takes in storage before compression: its records'
/// keys and values plus [`RECORD_OVERHEAD`] each. A collection is sampled as Redis
/// samples it: the first `samples` members (0: all), their average size times the
/// member count (a sorted set's score index counted with its members). `None`: no
/// such key.
pub fn memory_usage(tx: &mut Tx<'_>, key: &[u8], samples: u64) -> Result<Option<u64>> {
    let Some(v) = tx.get(key)? else {
        return Ok(None);
    };
    let meta_bytes = 9 + key.len() as u64 + 9 + v.payload.len() as u64 + RECORD_OVERHEAD;
    let prefix = 9 + 4 + key.len() as u64 + 8;
    if v.kind == ValueType::String {
        return Ok(Some(meta_bytes));
    }
    let meta = crate::storage::encoding::CollectionMeta::decode_payload(&v.payload)
        .ok_or_else(|| CommandError::other(text::CORRUPT_META))?;
    if v.kind == ValueType::Chunked {
        let chunks = meta.size.div_ceil(crate::storage::chunks::CHUNK as u64);
        return Ok(Some(
            meta_bytes + meta.size + chunks * (prefix + 8 + RECORD_OVERHEAD),
        ));
    }
    let limit = if samples == 0 { u64::MAX } else { samples };
    let (mut seen, mut bytes) = (0u64, 0u64);
    tx.records(Space::Member, key, meta.version, Span::ALL, |m, val| {
        seen += 1;
        bytes += prefix + m.len() as u64 + val.len() as u64 + RECORD_OVERHEAD;
        if v.kind == ValueType::ZSet {
            // The (score, member) index record.
            bytes += prefix + 8 + m.len() as u64 + RECORD_OVERHEAD;
        }
        seen < limit
    })?;
    let members = bytes.checked_div(seen).unwrap_or(0) * meta.size;
    Ok(Some(meta_bytes + members))
}

/// OBJECT ENCODING | REFCOUNT | FREQ | IDLETIME | HELP: what Redis would say of the
/// value (IDLETIME from the shard's table of recent uses, `storage::access`).
pub fn object(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let spec = lookup(b"object").map(|c| c.spec);
    let Some(sub) = spec.and_then(|s| s.subcommand(&args[1])) else {
        let name = String::from_utf8_lossy(&args[1]);
        return Err(CommandError::unknown_subcommand(&name, "OBJECT"));
    };
    if !sub.arity_ok(args.len()) {
        return Err(CommandError::arity(sub.name));
    }
    if sub.name == "object|help" {
        return Ok(Reply::Array(
            OBJECT_HELP
                .iter()
                .map(|l| Reply::Status((*l).into()))
                .collect(),
        ));
    }
    let Some(value) = tx.get_untouched(&args[2])? else {
        return Ok(Reply::Nil);
    };
    match sub.name {
        "object|idletime" => Ok(Reply::Int(tx.idle_seconds(&args[2]) as i64)),
        "object|encoding" => Ok(Reply::bulk(encoding_of(tx, &args[2], &value)?.as_bytes())),
        // Redis shares the objects of the integers 0..9999 (refcount "forever").
        "object|refcount" => Ok(Reply::Int(match canonical_int(&value) {
            Some(n) if value.kind == ValueType::String && (0..10_000).contains(&n) => {
                i32::MAX as i64
            }
            _ => 1,
        })),
        "object|freq" => Err(CommandError::other(text::OBJECT_FREQ_NO_LFU)),
        other => Err(CommandError::unsupported(
            &other.replace('|', " ").to_uppercase(),
        )),
    }
}

const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

/// A string Redis would store as an integer: at most 20 bytes, in the canonical form
/// of an i64 (no sign but `-`, no leading zeros).
fn canonical_int(v: &Value) -> Option<i64> {
    let s = std::str::from_utf8(&v.payload).ok()?;
    let n: i64 = s.parse().ok()?;
    (s.len() <= 20 && n.to_string() == s).then_some(n)
}

/// The encoding Redis would report for `value` as it is now, by its thresholds (the
/// `*-max-*` parameters). Redis never converts back to a small encoding once a value
/// outgrew it; this answers by the present contents.
fn encoding_of(tx: &mut Tx<'_>, key: &[u8], value: &Value) -> Result<&'static str> {
    let param =
        |tx: &Tx<'_>, name: &str, default: u64| tx.live().param_u64(name).unwrap_or(default);
    Ok(match value.kind {
        ValueType::String if canonical_int(value).is_some() => "int",
        ValueType::String if value.payload.len() <= 44 => "embstr",
        ValueType::String | ValueType::Chunked => "raw",
        ValueType::List => "quicklist",
        kind => {
            let (entries, length, small, large) = match kind {
                ValueType::Hash => (
                    param(tx, "hash-max-listpack-entries", 128),
                    param(tx, "hash-max-listpack-value", 64),
                    "listpack",
                    "hashtable",
                ),
                ValueType::Set => (
                    param(tx, "set-max-intset-entries", 512),
                    0,
                    "intset",
                    "hashtable",
                ),
                _ => (
                    param(tx, "zset-max-listpack-entries", 128),
                    param(tx, "zset-max-listpack-value", 64),
                    "listpack",
                    "skiplist",
                ),
            };
            let Some((meta, _)) = tx.meta(key, kind)? else {
                return Ok(large);
            };
            if meta.size > entries {
                return Ok(large);
            }
            // Small enough: every member (and a hash's values) must fit too.
            let mut fits = true;
            tx.records(Space::Member, key, meta.version, Span::ALL, |m, v| {
                fits = match kind {
                    ValueType::Hash => m.len() as u64 <= length && v.len() as u64 <= length,
                    ValueType::Set => std::str::from_utf8(m)
                        .ok()
                        .and_then(|s| s.parse::<i64>().ok().filter(|n| n.to_string() == s))
                        .is_some(),
                    _ => m.len() as u64 <= length,
                };
                fits
            })?;
            if fits {
                small
            } else {
                large
            }
        }
    })
}

/// COPY's options: the target database and whether REPLACE was given.
pub fn copy_options(args: &[Bytes], db: u8, databases: u8) -> Result<(u8, bool)> {
    let (mut dst_db, mut replace) = (db, false);
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "replace") {
            replace = true;
        } else if is(&args[i], "db") && i + 1 < args.len() {
            i += 1;
            let n = arg_i64(&args[i])?;
            if n < 0 || n >= databases as i64 || n > i32::MAX as i64 {
                return Err(CommandError::other(text::DB_OUT_OF_RANGE));
            }
            dst_db = n as u8;
        } else {
            return Err(CommandError::Syntax);
        }
        i += 1;
    }
    if dst_db == db && args[1] == args[2] {
        return Err(CommandError::other(text::SAME_OBJECT));
    }
    Ok((dst_db, replace))
}

/// COPY source destination [DB db] [REPLACE] when both keys live on this shard: the
/// value and its expiry, under the new name (`copy_to`).
pub fn copy(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let (dst_db, replace) = copy_options(args, tx.db, tx.live().databases)?;
    let Some(image) = tx.export(&args[1])? else {
        return Ok(Reply::Int(0));
    };
    if !replace && tx.get_in(dst_db, &args[2])?.is_some() {
        return Ok(Reply::Int(0));
    }
    let src_db = tx.db;
    tx.db = dst_db;
    let imported = tx.import(&args[2], &image);
    tx.db = src_db;
    imported?;
    tx.notify_in(dst_db, notify::GENERIC, "copy_to", &args[2]);
    Ok(Reply::Int(1))
}

/// MOVE key db: the key's whole value, with its expiry, into another database (the
/// same shard: a key's shard does not depend on its database).
pub fn move_(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let dst = arg_i64(&args[2])?;
    if dst < 0 || dst >= tx.live().databases as i64 || dst > i32::MAX as i64 {
        return Err(CommandError::other(text::DB_OUT_OF_RANGE));
    }
    let (src, dst) = (tx.db, dst as u8);
    if src == dst {
        return Err(CommandError::other(text::SAME_OBJECT));
    }
    let Some(image) = tx.export(&args[1])? else {
        return Ok(Reply::Int(0));
    };
    if tx.get_in(dst, &args[1])?.is_some() {
        return Ok(Reply::Int(0));
    }
    tx.db = dst;
    let imported = tx.import(&args[1], &image);
    tx.db = src;
    imported?;
    tx.remove(&args[1]);
    tx.notify(notify::GENERIC, "move_from", &args[1]);
    tx.notify_in(dst, notify::GENERIC, "move_to", &args[1]);
    Ok(Reply::Int(1))
}

/// The key-space commands and where each runs, for the command table ([`crate::commands::table`]).
pub(crate) const COMMANDS: &[(&str, Kind)] = &[
    ("del", Kind::Multi(del, Merge::Sum)),
    ("unlink", Kind::Multi(del, Merge::Sum)),
    ("exists", Kind::Multi(exists, Merge::Sum)),
    ("touch", Kind::Multi(exists, Merge::Sum)),
    ("type", Kind::Single(type_)),
    ("expire", Kind::Single(expire)),
    ("pexpire", Kind::Single(pexpire)),
    ("expireat", Kind::Single(expireat)),
    ("pexpireat", Kind::Single(pexpireat)),
    ("ttl", Kind::Single(ttl)),
    ("pttl", Kind::Single(pttl)),
    ("expiretime", Kind::Single(expiretime)),
    ("pexpiretime", Kind::Single(pexpiretime)),
    ("persist", Kind::Single(persist)),
    ("keys", Kind::All(keys, Merge::Concat)),
    ("scan", Kind::Scan(scan)),
    ("randomkey", Kind::All(randomkey, Merge::Pick)),
    ("rename", Kind::Coordinated(Coord::Rename, Some(rename))),
    ("renamenx", Kind::Coordinated(Coord::Rename, Some(rename))),
    ("move", Kind::Single(move_)),
    ("copy", Kind::Coordinated(Coord::Copy, Some(copy))),
    ("swapdb", Kind::Coordinated(Coord::SwapDb, None)),
    ("object", Kind::Single(object)),
    ("dbsize", Kind::All(dbsize, Merge::Sum)),
    ("flushdb", Kind::All(flushdb, Merge::AllOk)),
    ("flushall", Kind::All(flushall, Merge::AllOk)),
];
