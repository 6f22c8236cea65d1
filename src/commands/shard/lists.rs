//! List commands. Storage side: each runs on the shard that owns its key.
//!
//! A list is a meta record (with head and tail positions) plus one member record per
//! element (`Space::Member`, suffix = position as u64 BE, value = element).
//!
//! * Positions are contiguous: the elements sit at `head .. tail`, `size == tail - head`.
//!   Pushes move `head` down or `tail` up; index `i` is the point read at `head + i`.
//! * Commands that remove or insert in the middle (LINSERT, LREM) shift the elements
//!   of the cheaper side by rewriting their records, so the positions stay contiguous.
//! * A list that becomes empty disappears: its meta record is deleted, and its member
//!   records are left to the compaction filter (they belong to a dead version).
//!
//! Keyspace events follow Redis 7.0: the command's event once something changed, then
//! `del` when the list was emptied and removed. The shared helpers `push_elements` and
//! `pop_elements` record nothing (a move across shards orders its events itself);
//! [`pop_and_notify`], [`notify_push`] and [`notify_pop`] are for callers that want them.

use bytes::Bytes;

use crate::commands::table::{Coord, Kind};
use crate::commands::{arg_i64, arity_error, is, CommandError, Tx};
use crate::config::notify;
use crate::error::text;
use crate::protocol::Reply;
use crate::storage::encoding::{CollectionMeta, Space, ValueType};
use crate::storage::Span;

type Result<T> = std::result::Result<T, CommandError>;

/// Up to this many records are deleted one by one; longer runs use a range delete.
const POINT_DELETE_MAX: u64 = 32;

fn corrupt() -> CommandError {
    CommandError::other(text::CORRUPT_LIST)
}

fn exhausted() -> CommandError {
    CommandError::other(text::LIST_EXHAUSTED)
}

/// The list stored at `key`: `None` if missing, WRONGTYPE if another type.
fn load(tx: &mut Tx<'_>, key: &[u8]) -> Result<Option<(CollectionMeta, u64)>> {
    let found = tx.meta(key, ValueType::List)?;
    if let Some((m, _)) = &found {
        if m.tail.checked_sub(m.head) != Some(m.size) {
            return Err(corrupt());
        }
    }
    Ok(found)
}

/// Every element of the list at `key`, head first (`None`: no such key).
pub fn elements(tx: &mut Tx<'_>, key: &[u8]) -> Result<Option<Vec<Bytes>>> {
    let Some((meta, _)) = load(tx, key)? else {
        return Ok(None);
    };
    let items = read_range(tx, key, meta.version, meta.head, meta.tail, false)?;
    Ok(Some(items.into_iter().map(|(_, v)| v).collect()))
}

/// Writes the meta record back (or deletes the key if the list is now empty).
fn save(tx: &mut Tx<'_>, key: &[u8], meta: &CollectionMeta, expire_at: u64) {
    tx.put_meta(key, ValueType::List, meta, expire_at);
}

fn decode_pos(suffix: &[u8]) -> Option<u64> {
    let b: [u8; 8] = suffix.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}

/// The element at position `pos`.
fn get_at(tx: &mut Tx<'_>, key: &[u8], version: u64, pos: u64) -> Result<Bytes> {
    tx.record_get(Space::Member, key, version, &pos.to_be_bytes())?
        .ok_or_else(corrupt)
}

fn put_at(tx: &mut Tx<'_>, key: &[u8], version: u64, pos: u64, value: &[u8]) {
    tx.record_put_transient(Space::Member, key, version, &pos.to_be_bytes(), value);
}

/// The elements at positions `[from, to)` with their positions, in position order or
/// (with `rev`) from the end; fails unless every position holds a record.
fn read_range(
    tx: &mut Tx<'_>,
    key: &[u8],
    version: u64,
    from: u64,
    to: u64,
    rev: bool,
) -> Result<Vec<(u64, Bytes)>> {
    if to <= from {
        return Ok(Vec::new());
    }
    let want = to - from;
    let mut out = Vec::with_capacity(want.min(1 << 16) as usize);
    let (f, t) = (from.to_be_bytes(), to.to_be_bytes());
    let span = Span {
        from: Some(&f),
        to: Some(&t),
        rev,
    };
    let mut bad = false;
    tx.records(Space::Member, key, version, span, |s, v| {
        match decode_pos(s) {
            Some(p) => {
                out.push((p, Bytes::copy_from_slice(v)));
                true
            }
            None => {
                bad = true;
                false
            }
        }
    })?;
    if bad || out.len() as u64 != want {
        return Err(corrupt());
    }
    Ok(out)
}

/// Deletes the records at positions `[from, to)`.
fn del_positions(tx: &mut Tx<'_>, key: &[u8], version: u64, from: u64, to: u64) {
    if to <= from {
        return;
    }
    if to - from <= POINT_DELETE_MAX {
        for p in from..to {
            tx.record_del(Space::Member, key, version, &p.to_be_bytes());
        }
    } else {
        tx.record_del_range(
            Space::Member,
            key,
            version,
            &from.to_be_bytes(),
            Some(&to.to_be_bytes()),
        );
    }
}

/// A Redis index (negative counts from the end) as an offset from the head.
fn resolve_index(index: i64, len: u64) -> Option<u64> {
    let i = if index < 0 {
        index as i128 + len as i128
    } else {
        index as i128
    };
    (0..len as i128).contains(&i).then_some(i as u64)
}

/// A Redis inclusive range `start..=end` clipped to the list: offsets from the head,
/// or `None` if it selects nothing.
fn resolve_range(start: i64, end: i64, len: u64) -> Option<(u64, u64)> {
    let len = len as i128;
    let mut s = start as i128;
    let mut e = end as i128;
    if s < 0 {
        s += len;
    }
    if e < 0 {
        e += len;
    }
    if s < 0 {
        s = 0;
    }
    if s > e || s >= len {
        return None;
    }
    if e >= len {
        e = len - 1;
    }
    Some((s as u64, e as u64))
}

/// Records the push event (`lpush` or `rpush`, as Redis names every push, LPUSHX and
/// a move's push included) on `key`.
pub fn notify_push(tx: &mut Tx<'_>, key: &[u8], left: bool) {
    tx.notify(notify::LIST, if left { "lpush" } else { "rpush" }, key);
}

/// Records the events of a pop that took at least one element from `key`: `lpop` or
/// `rpop`, then `del` if it took the last one (`emptied`) and the key is gone.
pub fn notify_pop(tx: &mut Tx<'_>, key: &[u8], left: bool, emptied: bool) {
    tx.notify(notify::LIST, if left { "lpop" } else { "rpop" }, key);
    if emptied {
        tx.notify(notify::GENERIC, "del", key);
    }
}

/// LEFT or RIGHT (true for LEFT).
pub fn side(arg: &[u8]) -> Result<bool> {
    if is(arg, "left") {
        Ok(true)
    } else if is(arg, "right") {
        Ok(false)
    } else {
        Err(CommandError::Syntax)
    }
}

fn push(tx: &mut Tx<'_>, args: &[Bytes], left: bool, only_existing: bool) -> Result<Reply> {
    let key = &args[1];
    let (meta, expire_at) = match load(tx, key)? {
        Some(found) => found,
        None if only_existing => return Ok(Reply::Int(0)),
        None => (tx.new_collection(), 0),
    };
    let elements = args.get(2..).unwrap_or_default();
    let len = push_into(tx, key, meta, expire_at, elements, left)?;
    notify_push(tx, key, left);
    Ok(Reply::Int(len as i64))
}

/// Pushes `elements` onto one end of the list at `key`, creating it if missing;
/// returns the new length.
pub fn push_elements(tx: &mut Tx<'_>, key: &[u8], elements: &[Bytes], left: bool) -> Result<u64> {
    let (meta, expire_at) = match load(tx, key)? {
        Some(found) => found,
        None => (tx.new_collection(), 0),
    };
    push_into(tx, key, meta, expire_at, elements, left)
}

fn push_into(
    tx: &mut Tx<'_>,
    key: &[u8],
    mut meta: CollectionMeta,
    expire_at: u64,
    elements: &[Bytes],
    left: bool,
) -> Result<u64> {
    let n = elements.len() as u64;
    let room = if left {
        meta.head
    } else {
        u64::MAX - meta.tail
    };
    if room < n {
        return Err(exhausted());
    }
    for element in elements {
        let pos = if left {
            meta.head -= 1;
            meta.head
        } else {
            meta.tail += 1;
            meta.tail - 1
        };
        put_at(tx, key, meta.version, pos, element);
    }
    meta.size += n;
    save(tx, key, &meta, expire_at);
    Ok(meta.size)
}

/// Pops up to `count` elements from one end of the list at `key`, in pop order;
/// `None` if the list does not exist.
pub fn pop_elements(
    tx: &mut Tx<'_>,
    key: &[u8],
    count: u64,
    left: bool,
) -> Result<Option<Vec<Bytes>>> {
    pop_from(tx, key, count, left, false)
}

/// [`pop_elements`] with its keyspace events (when it took anything): for LMPOP, and
/// the blocking pops when they serve.
pub fn pop_and_notify(
    tx: &mut Tx<'_>,
    key: &[u8],
    count: u64,
    left: bool,
) -> Result<Option<Vec<Bytes>>> {
    pop_from(tx, key, count, left, true)
}

fn pop_from(
    tx: &mut Tx<'_>,
    key: &[u8],
    count: u64,
    left: bool,
    notify: bool,
) -> Result<Option<Vec<Bytes>>> {
    let Some((mut meta, expire_at)) = load(tx, key)? else {
        return Ok(None);
    };
    let items = pop_n(tx, key, &mut meta, expire_at, count, left)?;
    if notify && !items.is_empty() {
        notify_pop(tx, key, left, meta.size == 0);
    }
    Ok(Some(items))
}

/// LPUSH key element [element ...]
pub fn lpush(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    push(tx, args, true, false)
}

/// RPUSH key element [element ...]
pub fn rpush(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    push(tx, args, false, false)
}

/// LPUSHX key element [element ...]
pub fn lpushx(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    push(tx, args, true, true)
}

/// RPUSHX key element [element ...]
pub fn rpushx(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    push(tx, args, false, true)
}

/// Removes up to `n` elements from one end; returns them in pop order.
fn pop_n(
    tx: &mut Tx<'_>,
    key: &[u8],
    meta: &mut CollectionMeta,
    expire_at: u64,
    n: u64,
    left: bool,
) -> Result<Vec<Bytes>> {
    let n = n.min(meta.size);
    if n == 0 {
        return Ok(Vec::new());
    }
    let (from, to) = if left {
        (meta.head, meta.head + n)
    } else {
        (meta.tail - n, meta.tail)
    };
    let items = read_range(tx, key, meta.version, from, to, !left)?;
    if n < meta.size {
        // An emptied list's records die with its meta record.
        del_positions(tx, key, meta.version, from, to);
    }
    if left {
        meta.head = to;
    } else {
        meta.tail = from;
    }
    meta.size -= n;
    save(tx, key, meta, expire_at);
    Ok(items.into_iter().map(|(_, v)| v).collect())
}

fn pop(tx: &mut Tx<'_>, args: &[Bytes], left: bool) -> Result<Reply> {
    if args.len() > 3 {
        return Ok(arity_error(if left { "lpop" } else { "rpop" }));
    }
    let count = match args.get(2) {
        None => None,
        Some(a) => match arg_i64(a) {
            Ok(c) if c >= 0 => Some(c as u64),
            _ => return Err(CommandError::other(text::NOT_POSITIVE)),
        },
    };
    let key = &args[1];
    let Some((mut meta, expire_at)) = load(tx, key)? else {
        return Ok(if count.is_some() {
            Reply::NilArray
        } else {
            Reply::Nil
        });
    };
    let items = pop_n(tx, key, &mut meta, expire_at, count.unwrap_or(1), left)?;
    // LPOP key 0 changes nothing and records nothing.
    if !items.is_empty() {
        notify_pop(tx, key, left, meta.size == 0);
    }
    Ok(match count {
        Some(_) => Reply::Array(items.into_iter().map(Reply::Bulk).collect()),
        None => items.into_iter().next().map_or(Reply::Nil, Reply::Bulk),
    })
}

/// LPOP key \[count\]
pub fn lpop(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    pop(tx, args, true)
}

/// RPOP key \[count\]
pub fn rpop(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    pop(tx, args, false)
}

/// LLEN key
pub fn llen(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Int(
        load(tx, &args[1])?.map_or(0, |(m, _)| m.size as i64),
    ))
}

/// LRANGE key start stop
pub fn lrange(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let start = arg_i64(&args[2])?;
    let end = arg_i64(&args[3])?;
    let key = &args[1];
    let Some((meta, _)) = load(tx, key)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let Some((s, e)) = resolve_range(start, end, meta.size) else {
        return Ok(Reply::Array(Vec::new()));
    };
    let items = read_range(
        tx,
        key,
        meta.version,
        meta.head + s,
        meta.head + e + 1,
        false,
    )?;
    Ok(Reply::Array(
        items.into_iter().map(|(_, v)| Reply::Bulk(v)).collect(),
    ))
}

/// LINDEX key index
pub fn lindex(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let key = &args[1];
    let Some((meta, _)) = load(tx, key)? else {
        return Ok(Reply::Nil);
    };
    let index = arg_i64(&args[2])?;
    match resolve_index(index, meta.size) {
        None => Ok(Reply::Nil),
        Some(i) => Ok(Reply::Bulk(get_at(tx, key, meta.version, meta.head + i)?)),
    }
}

/// LSET key index element
pub fn lset(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let key = &args[1];
    let Some((meta, _)) = load(tx, key)? else {
        return Err(CommandError::NoSuchKey);
    };
    let index = arg_i64(&args[2])?;
    let Some(i) = resolve_index(index, meta.size) else {
        return Err(CommandError::other(text::INDEX_OUT_OF_RANGE));
    };
    put_at(tx, key, meta.version, meta.head + i, &args[3]);
    tx.notify(notify::LIST, "lset", key);
    Ok(Reply::Ok)
}

/// LINSERT key BEFORE|AFTER pivot element
pub fn linsert(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let after = if is(&args[2], "after") {
        true
    } else if is(&args[2], "before") {
        false
    } else {
        return Err(CommandError::Syntax);
    };
    let key = &args[1];
    let pivot = &args[3][..];
    let element = &args[4];
    let Some((mut meta, expire_at)) = load(tx, key)? else {
        return Ok(Reply::Int(0));
    };
    let mut found = None;
    let (f, t) = (meta.head.to_be_bytes(), meta.tail.to_be_bytes());
    let span = Span {
        from: Some(&f),
        to: Some(&t),
        rev: false,
    };
    tx.records(Space::Member, key, meta.version, span, |s, v| {
        if v == pivot {
            found = Some(decode_pos(s));
            false
        } else {
            true
        }
    })?;
    let Some(pos) = found else {
        return Ok(Reply::Int(-1));
    };
    let pos = pos.ok_or_else(corrupt)?;
    // The new element's index: elements at `idx ..` follow it.
    let idx = pos
        .checked_sub(meta.head)
        .filter(|&i| i < meta.size)
        .ok_or_else(corrupt)?
        + u64::from(after);
    let shift_left = (idx <= meta.size - idx && meta.head > 0) || meta.tail == u64::MAX;
    if shift_left {
        if meta.head == 0 {
            return Err(exhausted());
        }
        // Elements before the insertion point move one position down.
        let items = read_range(tx, key, meta.version, meta.head, meta.head + idx, false)?;
        for (p, v) in items {
            put_at(tx, key, meta.version, p - 1, &v);
        }
        meta.head -= 1;
    } else {
        // Elements from the insertion point on move one position up.
        let items = read_range(tx, key, meta.version, meta.head + idx, meta.tail, false)?;
        for (p, v) in items {
            put_at(tx, key, meta.version, p + 1, &v);
        }
        meta.tail += 1;
    }
    put_at(tx, key, meta.version, meta.head + idx, element);
    meta.size += 1;
    save(tx, key, &meta, expire_at);
    tx.notify(notify::LIST, "linsert", key);
    Ok(Reply::Int(meta.size as i64))
}

/// LREM key count element
pub fn lrem(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let count = arg_i64(&args[2])?;
    let key = &args[1];
    let element = &args[3][..];
    let Some((mut meta, expire_at)) = load(tx, key)? else {
        return Ok(Reply::Int(0));
    };
    let limit = if count == 0 {
        u64::MAX
    } else {
        count.unsigned_abs()
    };
    let mut hits: Vec<u64> = Vec::new();
    let mut bad = false;
    let (f, t) = (meta.head.to_be_bytes(), meta.tail.to_be_bytes());
    let span = Span {
        from: Some(&f),
        to: Some(&t),
        rev: count < 0,
    };
    tx.records(Space::Member, key, meta.version, span, |s, v| {
        if v == element {
            match decode_pos(s) {
                Some(p) => hits.push(p),
                None => {
                    bad = true;
                    return false;
                }
            }
        }
        (hits.len() as u64) < limit
    })?;
    if bad {
        return Err(corrupt());
    }
    let removed = hits.len() as u64;
    if removed == 0 {
        return Ok(Reply::Int(0));
    }
    if removed >= meta.size {
        meta.size = 0;
        save(tx, key, &meta, expire_at);
        tx.notify(notify::LIST, "lrem", key);
        tx.notify(notify::GENERIC, "del", key);
        return Ok(Reply::Int(removed as i64));
    }
    hits.sort_unstable();
    let (Some(&first), Some(&last)) = (hits.first(), hits.last()) else {
        return Err(corrupt());
    };
    if first < meta.head || last >= meta.tail {
        return Err(corrupt());
    }
    // Close the gaps by moving the survivors of the shorter side.
    if meta.tail - first <= last + 1 - meta.head {
        let items = read_range(tx, key, meta.version, first, meta.tail, false)?;
        let mut w = first;
        for (p, v) in items {
            if hits.binary_search(&p).is_ok() {
                continue;
            }
            if w != p {
                put_at(tx, key, meta.version, w, &v);
            }
            w += 1;
        }
        del_positions(tx, key, meta.version, w, meta.tail);
        meta.tail = w;
    } else {
        let items = read_range(tx, key, meta.version, meta.head, last + 1, true)?;
        // `w` is one past the next free slot, so it never goes below zero.
        let mut w = last + 1;
        for (p, v) in items {
            if hits.binary_search(&p).is_ok() {
                continue;
            }
            if w - 1 != p {
                put_at(tx, key, meta.version, w - 1, &v);
            }
            w -= 1;
        }
        del_positions(tx, key, meta.version, meta.head, w);
        meta.head = w;
    }
    meta.size -= removed;
    if meta.tail - meta.head != meta.size {
        return Err(corrupt());
    }
    save(tx, key, &meta, expire_at);
    tx.notify(notify::LIST, "lrem", key);
    Ok(Reply::Int(removed as i64))
}

/// LTRIM key start stop
pub fn ltrim(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let start = arg_i64(&args[2])?;
    let end = arg_i64(&args[3])?;
    let key = &args[1];
    let Some((mut meta, expire_at)) = load(tx, key)? else {
        return Ok(Reply::Ok);
    };
    // Redis records `ltrim` on an existing key even when the range keeps everything.
    tx.notify(notify::LIST, "ltrim", key);
    match resolve_range(start, end, meta.size) {
        None => meta.size = 0,
        Some((s, e)) => {
            let (head, tail) = (meta.head + s, meta.head + e + 1);
            if (head, tail) == (meta.head, meta.tail) {
                return Ok(Reply::Ok);
            }
            del_positions(tx, key, meta.version, meta.head, head);
            del_positions(tx, key, meta.version, tail, meta.tail);
            meta.head = head;
            meta.tail = tail;
            meta.size = tail - head;
        }
    }
    save(tx, key, &meta, expire_at);
    if meta.size == 0 {
        tx.notify(notify::GENERIC, "del", key);
    }
    Ok(Reply::Ok)
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
pub fn lpos(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let key = &args[1];
    let element = &args[2][..];
    let mut rank: i64 = 1;
    let mut count: Option<u64> = None;
    let mut maxlen: u64 = 0;
    let mut j = 3;
    while j < args.len() {
        let opt = &args[j];
        let value = args.get(j + 1);
        let non_negative = |v: &[u8], what: &'static str| match arg_i64(v) {
            Ok(n) if n >= 0 => Ok(n as u64),
            _ => Err(CommandError::other(what)),
        };
        match value {
            Some(v) if is(opt, "rank") => {
                rank = arg_i64(v)?;
                if rank == 0 {
                    return Err(CommandError::other(text::RANK_ZERO));
                }
            }
            Some(v) if is(opt, "count") => {
                count = Some(non_negative(v, text::COUNT_NEGATIVE)?);
            }
            Some(v) if is(opt, "maxlen") => {
                maxlen = non_negative(v, text::MAXLEN_NEGATIVE)?;
            }
            _ => return Err(CommandError::Syntax),
        }
        j += 2;
    }
    let Some((meta, _)) = load(tx, key)? else {
        return Ok(match count {
            Some(_) => Reply::Array(Vec::new()),
            None => Reply::Nil,
        });
    };
    let rev = rank < 0;
    // Redis negates the rank in a C long: -2^63 stays negative, so every match counts
    // as past the rank and the COUNT limit is never reached.
    let (skip, count_limited) = if rank == i64::MIN {
        (1, false)
    } else {
        (rank.unsigned_abs(), true)
    };
    // How many matches to report: COUNT 0 means all of them.
    let wanted = match count {
        None => 1,
        Some(0) => u64::MAX,
        Some(_) if !count_limited => u64::MAX,
        Some(c) => c,
    };
    let scanned = if maxlen == 0 {
        meta.size
    } else {
        maxlen.min(meta.size)
    };
    let (from, to) = if rev {
        (meta.tail - scanned, meta.tail)
    } else {
        (meta.head, meta.head + scanned)
    };
    let (f, t) = (from.to_be_bytes(), to.to_be_bytes());
    let span = Span {
        from: Some(&f),
        to: Some(&t),
        rev,
    };
    let mut matches: u64 = 0;
    let mut found: Vec<Reply> = Vec::new();
    let mut bad = false;
    let head = meta.head;
    tx.records(Space::Member, key, meta.version, span, |s, v| {
        if v != element {
            return true;
        }
        matches += 1;
        if matches < skip {
            return true;
        }
        match decode_pos(s).and_then(|p| p.checked_sub(head)) {
            Some(index) => found.push(Reply::Int(index as i64)),
            None => {
                bad = true;
                return false;
            }
        }
        (found.len() as u64) < wanted
    })?;
    if bad {
        return Err(corrupt());
    }
    Ok(match count {
        Some(_) => Reply::Array(found),
        None => found.into_iter().next().unwrap_or(Reply::Nil),
    })
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT, and RPOPLPUSH source destination,
/// when both keys live on this shard. As Redis, the push event on the destination comes
/// before the pop event (and `del`) on the source.
pub fn lmove(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let (from_left, to_left) = if is(&args[0], "rpoplpush") {
        (false, true)
    } else {
        let (Some(a), Some(b)) = (args.get(3), args.get(4)) else {
            return Err(CommandError::Syntax);
        };
        (side(a)?, side(b)?)
    };
    let (src, dst) = (&args[1], &args[2]);
    let Some((mut smeta, s_expire)) = load(tx, src)? else {
        return Ok(Reply::Nil);
    };
    if src == dst {
        return rotate(tx, src, smeta, s_expire, from_left, to_left);
    }
    let dest = load(tx, dst)?;
    let Some(value) = pop_n(tx, src, &mut smeta, s_expire, 1, from_left)?
        .into_iter()
        .next()
    else {
        return Ok(Reply::Nil);
    };
    let (mut dmeta, d_expire) = match dest {
        Some(found) => found,
        None => (tx.new_collection(), 0),
    };
    let pos = if to_left {
        dmeta.head = dmeta.head.checked_sub(1).ok_or_else(exhausted)?;
        dmeta.head
    } else {
        dmeta.tail = dmeta.tail.checked_add(1).ok_or_else(exhausted)?;
        dmeta.tail - 1
    };
    put_at(tx, dst, dmeta.version, pos, &value);
    dmeta.size += 1;
    save(tx, dst, &dmeta, d_expire);
    notify_push(tx, dst, to_left);
    notify_pop(tx, src, from_left, smeta.size == 0);
    Ok(Reply::Bulk(value))
}

/// LMOVE with source == destination: the end element moves to the other end. Redis
/// pops then pushes, so it records the push and pop events even when the list stays
/// as it was (same end, or one element).
fn rotate(
    tx: &mut Tx<'_>,
    key: &[u8],
    mut meta: CollectionMeta,
    expire_at: u64,
    from_left: bool,
    to_left: bool,
) -> Result<Reply> {
    if meta.size == 0 {
        return Ok(Reply::Nil);
    }
    let from = if from_left { meta.head } else { meta.tail - 1 };
    let value = get_at(tx, key, meta.version, from)?;
    if from_left == to_left {
        notify_push(tx, key, to_left);
        notify_pop(tx, key, from_left, false);
        return Ok(Reply::Bulk(value));
    }
    let to = if to_left {
        meta.head.checked_sub(1).ok_or_else(exhausted)?
    } else {
        meta.tail.checked_add(1).ok_or_else(exhausted)? - 1
    };
    tx.record_del(Space::Member, key, meta.version, &from.to_be_bytes());
    put_at(tx, key, meta.version, to, &value);
    if to_left {
        meta.head -= 1;
        meta.tail -= 1;
    } else {
        meta.head += 1;
        meta.tail += 1;
    }
    save(tx, key, &meta, expire_at);
    notify_push(tx, key, to_left);
    notify_pop(tx, key, from_left, false);
    Ok(Reply::Bulk(value))
}

/// The list commands and where each runs, for the command table ([`crate::commands::table`]).
pub(crate) const COMMANDS: &[(&str, Kind)] = &[
    ("lpush", Kind::Single(lpush)),
    ("rpush", Kind::Single(rpush)),
    ("lpushx", Kind::Single(lpushx)),
    ("rpushx", Kind::Single(rpushx)),
    ("lpop", Kind::Single(lpop)),
    ("rpop", Kind::Single(rpop)),
    ("llen", Kind::Single(llen)),
    ("lrange", Kind::Single(lrange)),
    ("lindex", Kind::Single(lindex)),
    ("lset", Kind::Single(lset)),
    ("linsert", Kind::Single(linsert)),
    ("lrem", Kind::Single(lrem)),
    ("ltrim", Kind::Single(ltrim)),
    ("lpos", Kind::Single(lpos)),
    ("lmove", Kind::Coordinated(Coord::Move, Some(lmove))),
    ("rpoplpush", Kind::Coordinated(Coord::Move, Some(lmove))),
    ("lmpop", Kind::Coordinated(Coord::MultiPop, None)),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_resolution() {
        assert_eq!(resolve_index(0, 3), Some(0));
        assert_eq!(resolve_index(-1, 3), Some(2));
        assert_eq!(resolve_index(-3, 3), Some(0));
        assert_eq!(resolve_index(-4, 3), None);
        assert_eq!(resolve_index(3, 3), None);
        assert_eq!(resolve_index(i64::MIN, 3), None);
        assert_eq!(resolve_index(i64::MAX, 3), None);
        assert_eq!(resolve_index(0, 0), None);
    }

    #[test]
    fn range_resolution() {
        assert_eq!(resolve_range(0, -1, 3), Some((0, 2)));
        assert_eq!(resolve_range(-100, 100, 3), Some((0, 2)));
        assert_eq!(resolve_range(2, 1, 3), None);
        assert_eq!(resolve_range(3, 5, 3), None);
        assert_eq!(resolve_range(-1, -1, 3), Some((2, 2)));
        assert_eq!(resolve_range(i64::MIN, i64::MAX, 3), Some((0, 2)));
        assert_eq!(resolve_range(i64::MIN, i64::MIN, 3), None);
        assert_eq!(resolve_range(0, -1, 0), None);
    }
}
