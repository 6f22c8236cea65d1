//! Sorted set commands. Storage side: each runs on the shard that owns its key.
//!
//! A sorted set is a meta record, one member record per member (`Space::Member`,
//! suffix = member, value = score as `score_bytes`) and one score record per member
//! (`Space::Score`, suffix = `score_bytes(score)` + member, value empty). The byte
//! order of score records is (score, member) order, which is Redis's order, so a
//! score range is one seek and a rank is a count of the records before a member.
//!
//! Redis keeps small sorted sets (up to 128 members of up to 64 bytes) in a listpack
//! and larger ones in a skiplist; where the two differ in what a client can see, this
//! module behaves like the listpack:
//! * a score is stored as an integer when it is one, so `-0` is stored as `0` (only
//!   the reply of the ZADD INCR / ZINCRBY that computed it says `-0`), and ZSCAN
//!   prints integral scores up to 2^62 as integers;
//! * the lex commands on members with different scores scan in score order: from the
//!   first member at or above `min`, while members stay at or below `max`.
//!
//! Numbers are read like Redis reads them: scores and increments like
//! `getDoubleFromObject` (C `strtod`, whole argument, no leading space, no overflow,
//! no NaN), range bounds like `zslParseRange` (`strtod`, leading spaces allowed),
//! ranks, offsets and counts like `string2ll`.
//!
//! Keyspace events follow Redis 7.0: the command's event once something changed,
//! then `del` if the set was emptied. [`pop_entries`] records none (the blocking
//! pops record theirs), [`pop_and_notify`] does; [`store_entries`] records only the
//! `del` of an emptied destination, its caller the command's own event.

use std::cmp::Ordering;

use bytes::Bytes;

use super::hashes::{scan_options, scan_page, small_up_to};
use crate::commands::table::{Coord, Kind};
use crate::commands::{arg_i64, is, CommandError, Tx};
use crate::config::notify;
use crate::error::text;
use crate::protocol::reply::format_double;
use crate::protocol::Reply;
use crate::rng::Rng;
use crate::storage::encoding::{score_bytes, score_from_bytes, CollectionMeta, Space, ValueType};
use crate::storage::Span;

type Result<T> = std::result::Result<T, CommandError>;

/// One member of a sorted set with its score.
/// A member and its score, as `(score, member)`.
pub type Entry = (f64, Bytes);

/// The most elements ZRANDMEMBER with a negative count replies with. Redis would
/// try to build any reply, however large; this bound keeps a typo from exhausting
/// memory.
const MAX_RANDOM_REPEATS: u64 = 1 << 22;

const ERR_NAN: &str = text::SCORE_NAN;
const ERR_NOT_FLOAT_RANGE: &str = text::NOT_FLOAT_RANGE;
const ERR_NOT_LEX_RANGE: &str = text::NOT_LEX_RANGE;
const ERR_POSITIVE: &str = text::NOT_POSITIVE;

/// Fails unless there are at least `n` arguments. The command table checks arity
/// before a client's command gets here; this keeps internal callers (the sorted set
/// algebra coordinator) from ever indexing past the end.
fn need(args: &[Bytes], n: usize) -> Result<()> {
    if args.len() >= n {
        return Ok(());
    }
    let name = args
        .first()
        .map_or_else(String::new, |a| String::from_utf8_lossy(a).to_lowercase());
    Err(CommandError::arity(&name))
}

// ---------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------

/// ZADD key \[NX|XX\] \[GT|LT\] \[CH\] \[INCR\] score member \[score member ...\]
pub fn zadd(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    need(args, 4)?;
    zadd_parsed(tx, args, AddFlags::default())
}

/// ZINCRBY key increment member
///
/// ZADD with INCR, options included: `ZINCRBY key NX member` is a syntax error.
pub fn zincrby(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    need(args, 4)?;
    let f = AddFlags {
        incr: true,
        ..AddFlags::default()
    };
    zadd_parsed(tx, args, f)
}

/// Parses ZADD's options and pairs (Redis's `zaddGenericCommand`) and runs it.
fn zadd_parsed(tx: &mut Tx<'_>, args: &[Bytes], mut f: AddFlags) -> Result<Reply> {
    let mut i = 2;
    while let Some(opt) = args.get(i) {
        match () {
            _ if is(opt, "nx") => f.nx = true,
            _ if is(opt, "xx") => f.xx = true,
            _ if is(opt, "ch") => f.ch = true,
            _ if is(opt, "incr") => f.incr = true,
            _ if is(opt, "gt") => f.gt = true,
            _ if is(opt, "lt") => f.lt = true,
            _ => break,
        }
        i += 1;
    }
    let rest = args.get(i..).unwrap_or_default();
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(CommandError::Syntax);
    }
    if f.nx && f.xx {
        return Err(CommandError::other(text::XX_AND_NX));
    }
    if ((f.gt || f.lt) && f.nx) || (f.gt && f.lt) {
        return Err(CommandError::other(text::GT_LT_NX));
    }
    if f.incr && rest.len() > 2 {
        return Err(CommandError::other(text::INCR_ONE_PAIR));
    }
    let pairs = rest
        .chunks_exact(2)
        .map(|p| Ok((score_arg(&p[0])?, &p[1][..])))
        .collect::<Result<Vec<_>>>()?;
    add_generic(tx, &args[1], f, &pairs)
}

/// ZREM key member [member ...]
pub fn zrem(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    need(args, 3)?;
    let key = &args[1];
    let Some((mut meta, expire_at)) = load(tx, key)? else {
        return Ok(Reply::Int(0));
    };
    let mut removed = 0;
    for member in &args[2..] {
        if let Some(score) = score_of(tx, key, meta.version, member)? {
            remove_member(tx, key, &mut meta, score, member);
            removed += 1;
        }
    }
    if removed > 0 {
        tx.put_meta(key, ValueType::ZSet, &meta, expire_at);
        tx.notify(notify::ZSET, "zrem", key);
        if meta.size == 0 {
            tx.notify(notify::GENERIC, "del", key);
        }
    }
    Ok(Reply::Int(removed))
}

/// ZCARD key
pub fn zcard(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    need(args, 2)?;
    let size = load(tx, &args[1])?.map_or(0, |(m, _)| m.size);
    Ok(Reply::Int(i64::try_from(size).unwrap_or(i64::MAX)))
}

/// ZSCORE key member
pub fn zscore(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    need(args, 3)?;
    let Some((meta, _)) = load(tx, &args[1])? else {
        return Ok(Reply::Nil);
    };
    Ok(score_of(tx, &args[1], meta.version, &args[2])?.map_or(Reply::Nil, Reply::Double))
}

/// ZMSCORE key member [member ...]
pub fn zmscore(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    need(args, 3)?;
    let key = &args[1];
    let meta = load(tx, key)?;
    let mut out = Vec::with_capacity(args.len() - 2);
    for member in &args[2..] {
        let score = match &meta {
            Some((m, _)) => score_of(tx, key, m.version, member)?,
            None => None,
        };
        out.push(score.map_or(Reply::Nil, Reply::Double));
    }
    Ok(Reply::Array(out))
}

/// ZRANK key member
pub fn zrank(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    need(args, 3)?;
    rank_generic(tx, args, false)
}

/// ZREVRANK key member
pub fn zrevrank(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    need(args, 3)?;
    rank_generic(tx, args, true)
}

/// ZRANGE key start stop \[BYSCORE|BYLEX\] \[REV\] \[LIMIT offset count\] \[WITHSCORES\]
pub fn zrange(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    need(args, 4)?;
    range_generic(tx, args, None, None)
}

/// ZRANGEBYSCORE key min max \[WITHSCORES\] \[LIMIT offset count\]
pub fn zrangebyscore(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    need(args, 4)?;
    range_generic(tx, args, Some(By::Score), Some(false))
}

/// ZREVRANGEBYSCORE key max min \[WITHSCORES\] \[LIMIT offset count\]
pub fn zrevrangebyscore(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    need(args, 4)?;
    range_generic(tx, args, Some(By::Score), Some(true))
}

/// ZRANGEBYLEX key min max [LIMIT offset count]
pub fn zrangebylex(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    need(args, 4)?;
    range_generic(tx, args, Some(By::Lex), Some(false))
}

/// ZREVRANGEBYLEX key max min [LIMIT offset count]
pub fn zrevrangebylex(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    need(args, 4)?;
    range_generic(tx, args, Some(By::Lex), Some(true))
}

/// ZREVRANGE key start stop \[WITHSCORES\]
pub fn zrevrange(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    need(args, 4)?;
    range_generic(tx, args, Some(By::Rank), Some(true))
}

/// ZCOUNT key min max
pub fn zcount(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    need(args, 4)?;
    let range = ScoreRange::parse(&args[2], &args[3])?;
    let Some((meta, _)) = load(tx, &args[1])? else {
        return Ok(Reply::Int(0));
    };
    let mut n = 0;
    score_select(tx, &args[1], meta.version, &range, false, 0, -1, |_, _| {
        n += 1
    })?;
    Ok(Reply::Int(n))
}

/// ZLEXCOUNT key min max
pub fn zlexcount(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    need(args, 4)?;
    let range = LexRange::parse(&args[2], &args[3])?;
    let Some((meta, _)) = load(tx, &args[1])? else {
        return Ok(Reply::Int(0));
    };
    let mut n = 0;
    lex_select(tx, &args[1], meta.version, &range, false, 0, -1, |_, _| {
        n += 1
    })?;
    Ok(Reply::Int(n))
}

/// ZPOPMIN key \[count\]
pub fn zpopmin(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    need(args, 2)?;
    pop_generic(tx, args, false)
}

/// ZPOPMAX key \[count\]
pub fn zpopmax(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    need(args, 2)?;
    pop_generic(tx, args, true)
}

/// ZRANDMEMBER key [count \[WITHSCORES\]]
pub fn zrandmember(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    need(args, 2)?;
    let key = &args[1];
    let Some(count_arg) = args.get(2) else {
        let Some((meta, _)) = load(tx, key)? else {
            return Ok(Reply::Nil);
        };
        let mut rng = Rng::from_entropy();
        let at = rng.below(meta.size);
        let picked = rank_select(
            tx,
            key,
            meta.version,
            meta.size,
            at as i64,
            at as i64,
            false,
        )?;
        return Ok(picked
            .into_iter()
            .next()
            .map_or(Reply::Nil, |(_, m)| Reply::Bulk(m)));
    };
    let count = arg_i64(count_arg)?;
    if count == i64::MIN {
        return Err(CommandError::out_of_range_between(-i64::MAX, i64::MAX));
    }
    let withscores = match args.get(3) {
        None => false,
        Some(opt) if args.len() == 4 && is(opt, "withscores") => true,
        Some(_) => return Err(CommandError::Syntax),
    };
    let Some((meta, _)) = load(tx, key)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    if count == 0 || meta.size == 0 {
        return Ok(Reply::Array(Vec::new()));
    }
    let all = all_entries(tx, key, meta.version)?;
    if all.is_empty() {
        return Ok(Reply::Array(Vec::new()));
    }
    let n = all.len() as u64;
    let mut rng = Rng::from_entropy();
    let picked: Vec<Entry> = if count < 0 || count == 1 {
        // Repeats allowed: `|count|` independent draws.
        let want = count.unsigned_abs();
        if want > MAX_RANDOM_REPEATS {
            return Err(CommandError::other(text::OUT_OF_RANGE));
        }
        (0..want)
            .filter_map(|_| all.get(rng.below(n) as usize).cloned())
            .collect()
    } else if count as u64 >= n {
        // The whole set, from the highest score down (as Redis replies).
        all.into_iter().rev().collect()
    } else {
        // Distinct members: a partial Fisher-Yates shuffle.
        let want = count as usize;
        let mut all = all;
        for i in 0..want {
            let j = i + rng.below((all.len() - i) as u64) as usize;
            all.swap(i, j);
        }
        all.truncate(want);
        all
    };
    Ok(entries_reply(picked, withscores))
}

/// ZREMRANGEBYSCORE key min max
pub fn zremrangebyscore(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    need(args, 4)?;
    let range = ScoreRange::parse(&args[2], &args[3])?;
    remove_selected(tx, &args[1], "zremrangebyscore", |tx, key, meta| {
        let mut out = Vec::new();
        score_select(tx, key, meta.version, &range, false, 0, -1, |s, m| {
            out.push((s, Bytes::copy_from_slice(m)))
        })?;
        Ok(out)
    })
}

/// ZREMRANGEBYRANK key start stop
pub fn zremrangebyrank(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    need(args, 4)?;
    let start = arg_i64(&args[2])?;
    let end = arg_i64(&args[3])?;
    remove_selected(tx, &args[1], "zremrangebyrank", |tx, key, meta| {
        rank_select(tx, key, meta.version, meta.size, start, end, false)
    })
}

/// ZREMRANGEBYLEX key min max
pub fn zremrangebylex(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    need(args, 4)?;
    let range = LexRange::parse(&args[2], &args[3])?;
    remove_selected(tx, &args[1], "zremrangebylex", |tx, key, meta| {
        let mut out = Vec::new();
        lex_select(tx, key, meta.version, &range, false, 0, -1, |s, m| {
            out.push((s, Bytes::copy_from_slice(m)))
        })?;
        Ok(out)
    })
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]: a small set whole (cursor 0), a
/// larger one a page at a time (`hashes::scan_page`).
pub fn zscan(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    need(args, 3)?;
    if !valid_cursor(&args[2]) {
        return Err(CommandError::other(text::INVALID_CURSOR));
    }
    let key = &args[1];
    let Some((meta, _)) = load(tx, key)? else {
        return Ok(scan_reply(Vec::new()));
    };
    let opts = scan_options(&args[3..], false)?;
    let small = small_up_to(tx, "zset-max-listpack-entries", 128);
    if meta.size > small {
        // A page at a time, in member order (a score change does not move a member).
        return scan_page(tx, key, &meta, &args[2], &opts, small, |m, v, out| {
            out.push(Reply::bulk(m));
            out.push(Reply::Bulk(Bytes::from(listpack_score(score_from_bytes(
                v,
            )))));
        });
    }
    // Small: whole and in score order, as Redis's listpack answers.
    let mut out = Vec::new();
    walk(tx, key, meta.version, Span::ALL, |score, member| {
        if opts
            .pattern
            .is_none_or(|p| crate::glob::matches(p, member, false))
        {
            out.push(Reply::bulk(member));
            out.push(Reply::Bulk(Bytes::from(listpack_score(score))));
        }
        true
    })?;
    Ok(scan_reply(out))
}

/// Replaces whatever `key` held with a sorted set of exactly these `(score, member)`
/// entries, without a TTL (none: deletes the key), for ZUNIONSTORE, ZRANGESTORE and
/// the like. Returns the new size.
///
/// Deleting a key that existed emits `del`; the caller emits its command's event
/// (`zunionstore`, `zrangestore`, ...) when the size is not 0.
pub fn store_entries(tx: &mut Tx<'_>, key: &[u8], entries: &[Entry]) -> Result<i64> {
    if entries.is_empty() {
        // Whatever type the key had.
        if tx.delete(key)? {
            tx.notify(notify::GENERIC, "del", key);
        }
        return Ok(0);
    }
    let mut meta = tx.new_collection();
    for (score, member) in entries {
        match score_of(tx, key, meta.version, member)? {
            Some(old) => set_score(tx, key, meta.version, member, old, *score),
            None => insert_member(tx, key, &mut meta, *score, member),
        }
    }
    tx.put_meta(key, ValueType::ZSet, &meta, 0);
    Ok(i64::try_from(meta.size).unwrap_or(i64::MAX))
}

// ---------------------------------------------------------------------------------
// Command bodies shared by several commands
// ---------------------------------------------------------------------------------

#[derive(Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// ZADD / ZINCRBY once the arguments are parsed and checked.
fn add_generic(tx: &mut Tx<'_>, key: &[u8], f: AddFlags, pairs: &[(f64, &[u8])]) -> Result<Reply> {
    let (mut meta, expire_at) = match load(tx, key)? {
        Some(found) => found,
        None if f.xx => return Ok(add_reply(f, 0, 0, None)),
        None => (tx.new_collection(), 0),
    };
    let (mut added, mut updated) = (0, 0);
    let mut last = None;
    for &(score, member) in pairs {
        match score_of(tx, key, meta.version, member)? {
            Some(cur) => {
                if f.nx {
                    continue;
                }
                let new = if f.incr { cur + score } else { score };
                if new.is_nan() {
                    return Err(CommandError::other(ERR_NAN));
                }
                if (f.lt && new >= cur) || (f.gt && new <= cur) {
                    continue;
                }
                last = Some(new);
                if new != cur {
                    set_score(tx, key, meta.version, member, cur, new);
                    updated += 1;
                }
            }
            None => {
                if f.xx {
                    continue;
                }
                insert_member(tx, key, &mut meta, score, member);
                last = Some(score);
                added += 1;
            }
        }
    }
    if added > 0 {
        tx.put_meta(key, ValueType::ZSet, &meta, expire_at);
    }
    // Redis: an event only if a member was added or its score changed.
    if added + updated > 0 {
        let event = if f.incr { "zincr" } else { "zadd" };
        tx.notify(notify::ZSET, event, key);
    }
    Ok(add_reply(f, added, updated, last))
}

fn add_reply(f: AddFlags, added: i64, updated: i64, last: Option<f64>) -> Reply {
    if f.incr {
        last.map_or(Reply::Nil, Reply::Double)
    } else if f.ch {
        Reply::Int(added + updated)
    } else {
        Reply::Int(added)
    }
}

/// ZRANK / ZREVRANK.
fn rank_generic(tx: &mut Tx<'_>, args: &[Bytes], rev: bool) -> Result<Reply> {
    let (key, member) = (&args[1], &args[2]);
    let Some((meta, _)) = load(tx, key)? else {
        return Ok(Reply::Nil);
    };
    let Some(score) = score_of(tx, key, meta.version, member)? else {
        return Ok(Reply::Nil);
    };
    let at = score_suffix(score, member);
    let mut after = at.clone();
    after.push(0);
    // The records before the member (ZRANK) or after it (ZREVRANK).
    let span = if rev {
        Span {
            from: Some(&after),
            to: None,
            rev: false,
        }
    } else {
        Span {
            from: None,
            to: Some(&at),
            rev: false,
        }
    };
    let mut n = 0;
    tx.records(Space::Score, key, meta.version, span, |_, _| {
        n += 1;
        true
    })?;
    Ok(Reply::Int(n))
}

/// How a range command selects members.
#[derive(Clone, Copy, PartialEq, Eq)]
enum By {
    Rank,
    Score,
    Lex,
}

/// A parsed ZRANGE-family query: which members of one sorted set to select.
pub struct RangeQuery {
    bounds: Bounds,
    rev: bool,
    offset: i64,
    count: i64,
    withscores: bool,
}

enum Bounds {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// Parses `key start stop [options]` (`args[1..]`) of the ZRANGE family. `by` and
/// `rev` are fixed by the command name, or `None` for ZRANGE where the options choose
/// them; `store` (ZRANGESTORE) refuses WITHSCORES, as Redis does.
fn range_query(
    args: &[Bytes],
    mut by: Option<By>,
    mut rev: Option<bool>,
    store: bool,
) -> Result<RangeQuery> {
    let mut withscores = false;
    let mut limit: Option<(i64, i64)> = None;
    let mut j = 4;
    while let Some(opt) = args.get(j) {
        let left = args.len() - j - 1;
        if !store && is(opt, "withscores") {
            withscores = true;
        } else if is(opt, "limit") && left >= 2 {
            limit = Some((arg_i64(&args[j + 1])?, arg_i64(&args[j + 2])?));
            j += 2;
        } else if rev.is_none() && is(opt, "rev") {
            rev = Some(true);
        } else if by.is_none() && is(opt, "bylex") {
            by = Some(By::Lex);
        } else if by.is_none() && is(opt, "byscore") {
            by = Some(By::Score);
        } else {
            return Err(CommandError::Syntax);
        }
        j += 1;
    }
    let by = by.unwrap_or(By::Rank);
    let rev = rev.unwrap_or(false);
    let (offset, count) = limit.unwrap_or((0, -1));
    if count != -1 && by == By::Rank {
        return Err(CommandError::other(text::LIMIT_NEEDS_BY));
    }
    if withscores && by == By::Lex {
        return Err(CommandError::other(text::WITHSCORES_BYLEX));
    }
    // By score or lex, a reverse range is written max first.
    let (lo, hi) = if rev && by != By::Rank {
        (&args[3], &args[2])
    } else {
        (&args[2], &args[3])
    };
    let bounds = match by {
        By::Rank => Bounds::Rank(arg_i64(lo)?, arg_i64(hi)?),
        By::Score => Bounds::Score(ScoreRange::parse(lo, hi)?),
        By::Lex => Bounds::Lex(LexRange::parse(lo, hi)?),
    };
    Ok(RangeQuery {
        bounds,
        rev,
        offset,
        count,
        withscores,
    })
}

/// Parses ZRANGESTORE's `src min max [options]` (`args[1..]` is `dst src min max ...`,
/// so that the source sits where ZRANGE has its key).
pub fn store_range_query(args: &[Bytes]) -> Result<RangeQuery> {
    range_query(&args[1..], None, None, true)
}

/// The members of the sorted set at `key` that `q` selects, as `(score, member)`.
pub fn select_range(tx: &mut Tx<'_>, key: &[u8], q: &RangeQuery) -> Result<Vec<Entry>> {
    let Some((meta, _)) = load(tx, key)? else {
        return Ok(Vec::new());
    };
    let (rev, offset, count) = (q.rev, q.offset, q.count);
    Ok(match &q.bounds {
        Bounds::Rank(start, end) => {
            rank_select(tx, key, meta.version, meta.size, *start, *end, rev)?
        }
        Bounds::Score(r) => {
            let mut out = Vec::new();
            score_select(tx, key, meta.version, r, rev, offset, count, |s, m| {
                out.push((s, Bytes::copy_from_slice(m)))
            })?;
            out
        }
        Bounds::Lex(r) => {
            let mut out = Vec::new();
            lex_select(tx, key, meta.version, r, rev, offset, count, |s, m| {
                out.push((s, Bytes::copy_from_slice(m)))
            })?;
            out
        }
    })
}

/// The ZRANGE family's reply.
fn range_generic(
    tx: &mut Tx<'_>,
    args: &[Bytes],
    by: Option<By>,
    rev: Option<bool>,
) -> Result<Reply> {
    let q = range_query(args, by, rev, false)?;
    let entries = select_range(tx, &args[1], &q)?;
    Ok(entries_reply(entries, q.withscores))
}

/// Pops up to `count` members with the lowest (or, with `max`, highest) scores from
/// the sorted set at `key`; `None` if it does not exist. Records no keyspace event
/// (the blocking pops record theirs); [`pop_and_notify`] does.
pub fn pop_entries(
    tx: &mut Tx<'_>,
    key: &[u8],
    count: u64,
    max: bool,
) -> Result<Option<Vec<Entry>>> {
    let Some((mut meta, expire_at)) = load(tx, key)? else {
        return Ok(None);
    };
    let mut popped = Vec::new();
    if count == 0 {
        return Ok(Some(popped));
    }
    let span = Span {
        rev: max,
        ..Span::ALL
    };
    walk(tx, key, meta.version, span, |s, m| {
        popped.push((s, Bytes::copy_from_slice(m)));
        (popped.len() as u64) < count
    })?;
    remove_entries(tx, key, &mut meta, &popped);
    tx.put_meta(key, ValueType::ZSet, &meta, expire_at);
    Ok(Some(popped))
}

/// [`pop_entries`] with Redis's events when it took anything: `zpopmin` (or
/// `zpopmax`), then `del` if the set is gone. For ZPOPMIN, ZPOPMAX and ZMPOP.
pub fn pop_and_notify(
    tx: &mut Tx<'_>,
    key: &[u8],
    count: u64,
    max: bool,
) -> Result<Option<Vec<Entry>>> {
    let popped = pop_entries(tx, key, count, max)?;
    if popped.as_ref().is_some_and(|p| !p.is_empty()) {
        tx.notify(notify::ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
        if load(tx, key)?.is_none() {
            tx.notify(notify::GENERIC, "del", key);
        }
    }
    Ok(popped)
}

/// ZPOPMIN / ZPOPMAX.
fn pop_generic(tx: &mut Tx<'_>, args: &[Bytes], max: bool) -> Result<Reply> {
    if args.len() > 3 {
        return Err(CommandError::Syntax);
    }
    let count = match args.get(2) {
        Some(arg) => match arg_i64(arg) {
            Ok(n) if n >= 0 => Some(n as u64),
            _ => return Err(CommandError::other(ERR_POSITIVE)),
        },
        None => None,
    };
    let popped = pop_and_notify(tx, &args[1], count.unwrap_or(1), max)?.unwrap_or_default();
    Ok(match count {
        None => Reply::Array(
            popped
                .into_iter()
                .flat_map(|(s, m)| [Reply::Bulk(m), Reply::Double(s)])
                .collect(),
        ),
        Some(_) => entries_reply(popped, true),
    })
}

/// ZREMRANGEBY*: removes what `select` picks and replies with the count. Emits
/// `event` (the command's name), then `del` if the set is emptied.
fn remove_selected(
    tx: &mut Tx<'_>,
    key: &[u8],
    event: &'static str,
    select: impl FnOnce(&mut Tx<'_>, &[u8], &CollectionMeta) -> Result<Vec<Entry>>,
) -> Result<Reply> {
    let Some((mut meta, expire_at)) = load(tx, key)? else {
        return Ok(Reply::Int(0));
    };
    let gone = select(tx, key, &meta)?;
    if !gone.is_empty() {
        remove_entries(tx, key, &mut meta, &gone);
        tx.put_meta(key, ValueType::ZSet, &meta, expire_at);
        tx.notify(notify::ZSET, event, key);
        if meta.size == 0 {
            tx.notify(notify::GENERIC, "del", key);
        }
    }
    Ok(Reply::Int(gone.len() as i64))
}

// ---------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------

/// Members, or members and scores. The RESP2 shape (a flat array) for both
/// protocols: RESP3 wants `[member, score]` pairs here, which `Reply` cannot express
/// yet.
/// Members, or (member, score) pairs: a flat array in RESP2, pairs in RESP3.
fn entries_reply(entries: Vec<Entry>, withscores: bool) -> Reply {
    if withscores {
        Reply::Pairs(
            entries
                .into_iter()
                .map(|(s, m)| (Reply::Bulk(m), Reply::Double(s)))
                .collect(),
        )
    } else {
        Reply::Array(entries.into_iter().map(|(_, m)| Reply::Bulk(m)).collect())
    }
}

fn scan_reply(items: Vec<Reply>) -> Reply {
    Reply::Array(vec![Reply::bulk_static("0"), Reply::Array(items)])
}

/// A score as a listpack holds it (and ZSCAN prints it): an integer when it is one
/// within +-2^62, else `%.17g`.
fn listpack_score(score: f64) -> String {
    const LIMIT: f64 = (i64::MAX / 2) as f64;
    if (-LIMIT..=LIMIT).contains(&score) && score.fract() == 0.0 {
        let mut buf = itoa::Buffer::new();
        buf.format(score as i64).to_owned()
    } else {
        format_double(score)
    }
}

// ---------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------

fn load(tx: &mut Tx<'_>, key: &[u8]) -> Result<Option<(CollectionMeta, u64)>> {
    tx.meta(key, ValueType::ZSet)
}

/// The score of `member` in the sorted set at `key` (`None`: no such key or member;
/// WRONGTYPE for another type).
pub fn member_score(tx: &mut Tx<'_>, key: &[u8], member: &[u8]) -> Result<Option<f64>> {
    match load(tx, key)? {
        Some((meta, _)) => score_of(tx, key, meta.version, member),
        None => Ok(None),
    }
}

/// Visits the members of the sorted set at `key` with scores in `[min, max)`, in
/// (score, member) order, until `visit` returns false (GEOSEARCH's boxes).
pub fn scan_scores(
    tx: &mut Tx<'_>,
    key: &[u8],
    min: f64,
    max: f64,
    visit: impl FnMut(f64, &[u8]) -> bool,
) -> Result<()> {
    let Some((meta, _)) = load(tx, key)? else {
        return Ok(());
    };
    let range = ScoreRange {
        min,
        minex: false,
        max,
        maxex: true,
    };
    if range.is_empty() {
        return Ok(());
    }
    let (from, to) = range.span_bounds();
    let span = Span {
        from: Some(&from),
        to: Some(&to),
        rev: false,
    };
    walk(tx, key, meta.version, span, visit)
}

/// Every member of the sorted set at `key`, lowest score first (`None`: no such key).
pub fn ranked(tx: &mut Tx<'_>, key: &[u8]) -> Result<Option<Vec<Bytes>>> {
    let Some((meta, _)) = load(tx, key)? else {
        return Ok(None);
    };
    let entries = rank_select(tx, key, meta.version, meta.size, 0, -1, false)?;
    Ok(Some(entries.into_iter().map(|(_, m)| m).collect()))
}

/// The score of `member`, if it is in the set.
fn score_of(tx: &mut Tx<'_>, key: &[u8], version: u64, member: &[u8]) -> Result<Option<f64>> {
    let raw = tx.record_get(Space::Member, key, version, member)?;
    Ok(raw.and_then(|v| v.get(..8).map(score_from_bytes)))
}

/// The suffix of a score record.
fn score_suffix(score: f64, member: &[u8]) -> Vec<u8> {
    let mut s = Vec::with_capacity(8 + member.len());
    s.extend_from_slice(&score_bytes(score));
    s.extend_from_slice(member);
    s
}

/// Splits a score record suffix into score and member.
fn split_suffix(suffix: &[u8]) -> Option<(f64, &[u8])> {
    let (score, member) = (suffix.get(..8)?, suffix.get(8..)?);
    Some((score_from_bytes(score), member))
}

fn insert_member(
    tx: &mut Tx<'_>,
    key: &[u8],
    meta: &mut CollectionMeta,
    score: f64,
    member: &[u8],
) {
    tx.record_put(
        Space::Member,
        key,
        meta.version,
        member,
        &score_bytes(score),
    );
    tx.record_put(
        Space::Score,
        key,
        meta.version,
        &score_suffix(score, member),
        b"",
    );
    meta.size += 1;
}

fn set_score(tx: &mut Tx<'_>, key: &[u8], version: u64, member: &[u8], old: f64, new: f64) {
    tx.record_del(Space::Score, key, version, &score_suffix(old, member));
    tx.record_put(Space::Score, key, version, &score_suffix(new, member), b"");
    tx.record_put(Space::Member, key, version, member, &score_bytes(new));
}

fn remove_member(
    tx: &mut Tx<'_>,
    key: &[u8],
    meta: &mut CollectionMeta,
    score: f64,
    member: &[u8],
) {
    tx.record_del(
        Space::Score,
        key,
        meta.version,
        &score_suffix(score, member),
    );
    tx.record_del(Space::Member, key, meta.version, member);
    meta.size = meta.size.saturating_sub(1);
}

/// Removes members found by a walk. Removing all of them only drops the meta record:
/// the member records of the dead version are garbage for the compaction filter.
fn remove_entries(tx: &mut Tx<'_>, key: &[u8], meta: &mut CollectionMeta, gone: &[Entry]) {
    if gone.len() as u64 >= meta.size {
        meta.size = 0;
        return;
    }
    for (score, member) in gone {
        remove_member(tx, key, meta, *score, member);
    }
}

/// Visits `(score, member)` of the score records in `span` until `visit` says stop.
fn walk(
    tx: &mut Tx<'_>,
    key: &[u8],
    version: u64,
    span: Span<'_>,
    mut visit: impl FnMut(f64, &[u8]) -> bool,
) -> Result<()> {
    tx.records(
        Space::Score,
        key,
        version,
        span,
        |suffix, _| match split_suffix(suffix) {
            Some((score, member)) => visit(score, member),
            None => true,
        },
    )
}

fn all_entries(tx: &mut Tx<'_>, key: &[u8], version: u64) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    walk(tx, key, version, Span::ALL, |s, m| {
        out.push((s, Bytes::copy_from_slice(m)));
        true
    })?;
    Ok(out)
}

/// The first (or, with `rev`, last) member in score order.
fn edge(tx: &mut Tx<'_>, key: &[u8], version: u64, rev: bool) -> Result<Option<Bytes>> {
    let mut found = None;
    let span = Span { rev, ..Span::ALL };
    walk(tx, key, version, span, |_, m| {
        found = Some(Bytes::copy_from_slice(m));
        false
    })?;
    Ok(found)
}

// ---------------------------------------------------------------------------------
// Selections: by rank, by score, by lex
// ---------------------------------------------------------------------------------

/// Members with ranks `start..=end` (negative: from the end), lowest first, or with
/// `rev` ranked from the highest score, highest first.
fn rank_select(
    tx: &mut Tx<'_>,
    key: &[u8],
    version: u64,
    size: u64,
    start: i64,
    end: i64,
    rev: bool,
) -> Result<Vec<Entry>> {
    let len = i64::try_from(size).unwrap_or(i64::MAX);
    let mut start = if start < 0 { start + len } else { start };
    let mut end = if end < 0 { end + len } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= len {
        return Ok(Vec::new());
    }
    if end >= len {
        end = len - 1;
    }
    // Ascending positions [lo, hi] of the wanted members.
    let (lo, hi) = if rev {
        (len - 1 - end, len - 1 - start)
    } else {
        (start, end)
    };
    let want = (hi - lo + 1) as usize;
    // Walk in from whichever end of the set is nearer.
    let from_front = lo <= len - 1 - hi;
    let mut skip = if from_front { lo } else { len - 1 - hi };
    let mut out = Vec::with_capacity(want.min(1024));
    let span = Span {
        rev: !from_front,
        ..Span::ALL
    };
    walk(tx, key, version, span, |s, m| {
        if skip > 0 {
            skip -= 1;
            return true;
        }
        out.push((s, Bytes::copy_from_slice(m)));
        out.len() < want
    })?;
    // `out` is in walk order; the reply wants ascending unless `rev`.
    if from_front == rev {
        out.reverse();
    }
    Ok(out)
}

/// A score interval; `ex` marks an open end.
struct ScoreRange {
    min: f64,
    minex: bool,
    max: f64,
    maxex: bool,
}

impl ScoreRange {
    fn parse(min: &[u8], max: &[u8]) -> Result<ScoreRange> {
        let err = || CommandError::other(ERR_NOT_FLOAT_RANGE);
        let (min, minex) = range_bound(min).ok_or_else(err)?;
        let (max, maxex) = range_bound(max).ok_or_else(err)?;
        Ok(ScoreRange {
            min,
            minex,
            max,
            maxex,
        })
    }

    fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }

    /// The score-record suffixes `[from, to)` of the members in range.
    fn span_bounds(&self) -> ([u8; 8], [u8; 8]) {
        let next = |s: f64| (u64::from_be_bytes(score_bytes(s)).saturating_add(1)).to_be_bytes();
        let from = if self.minex {
            next(self.min)
        } else {
            score_bytes(self.min)
        };
        let to = if self.maxex {
            score_bytes(self.max)
        } else {
            next(self.max)
        };
        (from, to)
    }
}

/// Members with scores in `range` in score order (reversed with `rev`), skipping
/// `offset` of them and visiting at most `limit` (negative: all).
#[allow(clippy::too_many_arguments)]
fn score_select(
    tx: &mut Tx<'_>,
    key: &[u8],
    version: u64,
    range: &ScoreRange,
    rev: bool,
    offset: i64,
    limit: i64,
    mut visit: impl FnMut(f64, &[u8]),
) -> Result<()> {
    if range.is_empty() || offset < 0 || limit == 0 {
        return Ok(());
    }
    let (from, to) = range.span_bounds();
    let span = Span {
        from: Some(&from),
        to: Some(&to),
        rev,
    };
    let (mut skip, mut left) = (offset, limit);
    walk(tx, key, version, span, |s, m| {
        if skip > 0 {
            skip -= 1;
            return true;
        }
        visit(s, m);
        left -= 1;
        left != 0
    })
}

/// One end of a lex range: `-`, `+`, or a string.
enum LexItem {
    Min,
    Max,
    Str(Bytes),
}

/// Redis's `sdscmplex`: `-` below everything, `+` above everything.
fn cmp_lex(a: &[u8], b: &LexItem) -> Ordering {
    match b {
        LexItem::Min => Ordering::Greater,
        LexItem::Max => Ordering::Less,
        LexItem::Str(b) => a.cmp(b),
    }
}

fn cmp_items(a: &LexItem, b: &LexItem) -> Ordering {
    match (a, b) {
        (LexItem::Min, LexItem::Min) | (LexItem::Max, LexItem::Max) => Ordering::Equal,
        (LexItem::Min, _) | (_, LexItem::Max) => Ordering::Less,
        (LexItem::Max, _) | (_, LexItem::Min) => Ordering::Greater,
        (LexItem::Str(a), LexItem::Str(b)) => a.cmp(b),
    }
}

struct LexRange {
    min: LexItem,
    minex: bool,
    max: LexItem,
    maxex: bool,
}

impl LexRange {
    fn parse(min: &[u8], max: &[u8]) -> Result<LexRange> {
        let err = || CommandError::other(ERR_NOT_LEX_RANGE);
        let (min, minex) = lex_item(min).ok_or_else(err)?;
        let (max, maxex) = lex_item(max).ok_or_else(err)?;
        Ok(LexRange {
            min,
            minex,
            max,
            maxex,
        })
    }

    fn is_empty(&self) -> bool {
        match cmp_items(&self.min, &self.max) {
            Ordering::Greater => true,
            Ordering::Equal => self.minex || self.maxex,
            Ordering::Less => false,
        }
    }

    fn gte_min(&self, m: &[u8]) -> bool {
        let c = cmp_lex(m, &self.min);
        if self.minex {
            c == Ordering::Greater
        } else {
            c != Ordering::Less
        }
    }

    fn lte_max(&self, m: &[u8]) -> bool {
        let c = cmp_lex(m, &self.max);
        if self.maxex {
            c == Ordering::Less
        } else {
            c != Ordering::Greater
        }
    }
}

/// Parses `-`, `+`, `(str` or `[str` (Redis's `zslParseLexRangeItem`).
fn lex_item(arg: &[u8]) -> Option<(LexItem, bool)> {
    let alone = arg.get(1).is_none_or(|&b| b == 0);
    match arg.first()? {
        b'+' if alone => Some((LexItem::Max, true)),
        b'-' if alone => Some((LexItem::Min, true)),
        b'(' => Some((LexItem::Str(Bytes::copy_from_slice(&arg[1..])), true)),
        b'[' => Some((LexItem::Str(Bytes::copy_from_slice(&arg[1..])), false)),
        _ => None,
    }
}

/// Members in a lex range, the way a listpack finds them (identical to a plain
/// filter when all scores are equal, which is what the lex commands are for):
/// forward, start at the first member `>= min` in score order (nothing if it is
/// above `max`), skip `offset` members, then visit while members are `<= max`;
/// `rev` mirrors that from the end. At most `limit` visits (negative: no limit).
#[allow(clippy::too_many_arguments)]
fn lex_select(
    tx: &mut Tx<'_>,
    key: &[u8],
    version: u64,
    range: &LexRange,
    rev: bool,
    offset: i64,
    limit: i64,
    mut visit: impl FnMut(f64, &[u8]),
) -> Result<()> {
    if range.is_empty() || offset < 0 || limit == 0 {
        return Ok(());
    }
    let (Some(first), Some(last)) = (
        edge(tx, key, version, false)?,
        edge(tx, key, version, true)?,
    ) else {
        return Ok(());
    };
    if !range.gte_min(&last) || !range.lte_max(&first) {
        return Ok(());
    }
    // Moving forward, `enter` finds the start and `stay` keeps going; mirrored in reverse.
    let enter = |m: &[u8]| {
        if rev {
            range.lte_max(m)
        } else {
            range.gte_min(m)
        }
    };
    let stay = |m: &[u8]| {
        if rev {
            range.gte_min(m)
        } else {
            range.lte_max(m)
        }
    };
    let (mut started, mut skip, mut left) = (false, offset, limit);
    let span = Span { rev, ..Span::ALL };
    walk(tx, key, version, span, |s, m| {
        if !started {
            if !enter(m) {
                return true;
            }
            if !stay(m) {
                return false;
            }
            started = true;
        }
        if skip > 0 {
            skip -= 1;
            return true;
        }
        if !stay(m) {
            return false;
        }
        visit(s, m);
        left -= 1;
        left != 0
    })
}

// ---------------------------------------------------------------------------------
// Number parsing, as Redis does it with the C library
// ---------------------------------------------------------------------------------

/// A score or increment argument (Redis's `getDoubleFromObject`).
fn score_arg(arg: &[u8]) -> Result<f64> {
    if arg.first().is_none_or(|&b| is_c_space(b)) {
        return Err(CommandError::NotFloat);
    }
    match strtod(arg) {
        (v, used, false) if used == arg.len() && !v.is_nan() => Ok(v),
        _ => Err(CommandError::NotFloat),
    }
}

/// A score range bound, `(` for an open one (Redis's `zslParseRange`: `strtod` up to
/// the C string's end, so leading spaces, an empty number and out-of-range values
/// are accepted, NaN is not).
fn range_bound(arg: &[u8]) -> Option<(f64, bool)> {
    let arg = c_str(arg);
    let (text, open) = match arg.strip_prefix(b"(") {
        Some(rest) => (rest, true),
        None => (arg, false),
    };
    let (v, used, _) = strtod(text);
    (used == text.len() && !v.is_nan()).then_some((v, open))
}

/// Whether a SCAN cursor parses (Redis's `parseScanCursorOrReply`: `strtoul`).
fn valid_cursor(arg: &[u8]) -> bool {
    let s = c_str(arg);
    let Some(&first) = s.first() else {
        return true;
    };
    if is_c_space(first) {
        return false;
    }
    let digits = match first {
        b'+' | b'-' => &s[1..],
        _ => s,
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    digits
        .iter()
        .try_fold(0u64, |acc, &d| {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .is_some()
}

/// The bytes a C function sees: up to the first NUL.
fn c_str(arg: &[u8]) -> &[u8] {
    match arg.iter().position(|&b| b == 0) {
        Some(end) => &arg[..end],
        None => arg,
    }
}

/// C's `isspace` in the C locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// What glibc's `strtod` reads from the start of `s`: the value, how many bytes it
/// used (0 if none converted) and whether it set `ERANGE` with an infinite or zero
/// result (overflow, or underflow to zero).
fn strtod(s: &[u8]) -> (f64, usize, bool) {
    let mut i = 0;
    while s.get(i).is_some_and(|&b| is_c_space(b)) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let sign = |v: f64| if neg { -v } else { v };
    let body = &s[i..];
    let starts =
        |word: &[u8]| body.len() >= word.len() && body[..word.len()].eq_ignore_ascii_case(word);
    if starts(b"infinity") {
        return (sign(f64::INFINITY), i + 8, false);
    }
    if starts(b"inf") {
        return (sign(f64::INFINITY), i + 3, false);
    }
    if starts(b"nan") {
        let mut used = i + 3;
        if body.get(3) == Some(&b'(') {
            let inner = body[4..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                .count();
            if body.get(4 + inner) == Some(&b')') {
                used += inner + 2;
            }
        }
        return (f64::NAN, used, false);
    }
    let hex_digit = |at: usize| body.get(at).is_some_and(u8::is_ascii_hexdigit);
    if body.len() > 2
        && body[0] == b'0'
        && (body[1] | 0x20) == b'x'
        && (hex_digit(2) || (body[2] == b'.' && hex_digit(3)))
    {
        let (v, used, range_err) = hex_float(&body[2..]);
        return (sign(v), i + 2 + used, range_err);
    }
    // Decimal: digits [. digits] [e [sign] digits], with at least one digit.
    let digits = |from: usize| {
        body[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let int = digits(0);
    let mut j = int;
    let mut frac = 0;
    if body.get(j) == Some(&b'.') {
        frac = digits(j + 1);
        j += 1 + frac;
    }
    if int + frac == 0 {
        return (0.0, 0, false);
    }
    let mantissa_end = j;
    if matches!(body.get(j), Some(b'e' | b'E')) {
        let mut k = j + 1;
        if matches!(body.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        let exp = digits(k);
        if exp > 0 {
            j = k + exp;
        }
    }
    let text = std::str::from_utf8(&body[..j]).unwrap_or("");
    let v: f64 = text.parse().unwrap_or(0.0);
    let nonzero = body[..mantissa_end]
        .iter()
        .any(|b| (b'1'..=b'9').contains(b));
    let range_err = v.is_infinite() || (v == 0.0 && nonzero);
    (sign(v), i + j, range_err)
}

/// A hex float after its `0x`: hex digits [. hex digits] [p [sign] digits].
fn hex_float(s: &[u8]) -> (f64, usize, bool) {
    let mut mant: u64 = 0;
    let mut exp: i64 = 0;
    let mut sticky = false;
    let mut j = 0;
    let mut seen_point = false;
    while let Some(&b) = s.get(j) {
        let d = match b {
            b'.' if !seen_point => {
                seen_point = true;
                j += 1;
                continue;
            }
            _ => match (b as char).to_digit(16) {
                Some(d) => u64::from(d),
                None => break,
            },
        };
        if mant < 1 << 58 {
            mant = mant * 16 + d;
            if seen_point {
                exp -= 4;
            }
        } else {
            sticky |= d != 0;
            if !seen_point {
                exp += 4;
            }
        }
        j += 1;
    }
    if matches!(s.get(j), Some(b'p' | b'P')) {
        let mut k = j + 1;
        let neg = match s.get(k) {
            Some(b'-') => {
                k += 1;
                true
            }
            Some(b'+') => {
                k += 1;
                false
            }
            _ => false,
        };
        let n = s[k..].iter().take_while(|b| b.is_ascii_digit()).count();
        if n > 0 {
            let e = s[k..k + n].iter().fold(0i64, |acc, &d| {
                acc.saturating_mul(10).saturating_add(i64::from(d - b'0'))
            });
            exp = exp.saturating_add(if neg { -e } else { e });
            j = k + n;
        }
    }
    // One extra low bit carries the dropped digits, so the conversion rounds right.
    let wide = (mant << 1) | u64::from(sticky);
    let mut v = wide as f64;
    let mut e = exp.saturating_sub(1).clamp(-4000, 4000);
    while e != 0 && v != 0.0 && v.is_finite() {
        let step = e.clamp(-1000, 1000);
        v *= 2f64.powi(step as i32);
        e -= step;
    }
    let range_err = v.is_infinite() || (v == 0.0 && mant != 0);
    (v, j, range_err)
}

/// The sorted-set commands and where each runs, for the command table ([`crate::commands::table`]).
pub(crate) const COMMANDS: &[(&str, Kind)] = &[
    ("zadd", Kind::Single(zadd)),
    ("zincrby", Kind::Single(zincrby)),
    ("zrem", Kind::Single(zrem)),
    ("zcard", Kind::Single(zcard)),
    ("zscore", Kind::Single(zscore)),
    ("zmscore", Kind::Single(zmscore)),
    ("zrank", Kind::Single(zrank)),
    ("zrevrank", Kind::Single(zrevrank)),
    ("zrange", Kind::Single(zrange)),
    ("zrangebyscore", Kind::Single(zrangebyscore)),
    ("zrevrangebyscore", Kind::Single(zrevrangebyscore)),
    ("zrangebylex", Kind::Single(zrangebylex)),
    ("zrevrangebylex", Kind::Single(zrevrangebylex)),
    ("zrevrange", Kind::Single(zrevrange)),
    ("zcount", Kind::Single(zcount)),
    ("zlexcount", Kind::Single(zlexcount)),
    ("zpopmin", Kind::Single(zpopmin)),
    ("zpopmax", Kind::Single(zpopmax)),
    ("zrandmember", Kind::Single(zrandmember)),
    ("zremrangebyscore", Kind::Single(zremrangebyscore)),
    ("zremrangebyrank", Kind::Single(zremrangebyrank)),
    ("zremrangebylex", Kind::Single(zremrangebylex)),
    ("zscan", Kind::Single(zscan)),
    ("zrangestore", Kind::Coordinated(Coord::ZRangeStore, None)),
    ("zunion", Kind::Coordinated(Coord::ZSetAlgebra, None)),
    ("zinter", Kind::Coordinated(Coord::ZSetAlgebra, None)),
    ("zdiff", Kind::Coordinated(Coord::ZSetAlgebra, None)),
    ("zintercard", Kind::Coordinated(Coord::ZSetAlgebra, None)),
    ("zunionstore", Kind::Coordinated(Coord::ZSetAlgebra, None)),
    ("zinterstore", Kind::Coordinated(Coord::ZSetAlgebra, None)),
    ("zdiffstore", Kind::Coordinated(Coord::ZSetAlgebra, None)),
    ("zmpop", Kind::Coordinated(Coord::MultiPop, None)),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtod_like_glibc() {
        assert_eq!(strtod(b"1.5"), (1.5, 3, false));
        assert_eq!(strtod(b"  -2e3x"), (-2000.0, 6, false));
        assert_eq!(strtod(b"1e"), (1.0, 1, false));
        assert_eq!(strtod(b"."), (0.0, 0, false));
        assert_eq!(strtod(b"-"), (0.0, 0, false));
        assert_eq!(strtod(b"0x10"), (16.0, 4, false));
        assert_eq!(strtod(b"0x1.8p1"), (3.0, 7, false));
        assert_eq!(strtod(b"0x"), (0.0, 1, false));
        assert_eq!(strtod(b"0xg"), (0.0, 1, false));
        assert_eq!(strtod(b"-Infinity"), (f64::NEG_INFINITY, 9, false));
        assert_eq!(strtod(b"infin").1, 3);
        assert!(strtod(b"nan(abc)").0.is_nan());
        assert_eq!(strtod(b"nan(abc)").1, 8);
        assert!(strtod(b"1e400").2);
        assert!(strtod(b"1e-400").2);
        assert!(!strtod(b"1e-310").2);
        assert!(!strtod(b"0e-400").2);
        assert!(strtod(b"0x1p5000").2);
        assert_eq!(strtod(b"0x1p-1074").0, f64::from_bits(1));
        assert_eq!(
            strtod(b"0x123456789abcdef0123").0,
            0x123456789abcdef0123u128 as f64
        );
    }

    #[test]
    fn score_args() {
        assert_eq!(score_arg(b"0.1"), Ok(0.1));
        assert_eq!(score_arg(b"+inf"), Ok(f64::INFINITY));
        assert_eq!(score_arg(b"0x10"), Ok(16.0));
        for bad in [&b""[..], b" 1", b"1 ", b"nan", b"1e400", b"abc", b"1\0"] {
            assert_eq!(score_arg(bad), Err(CommandError::NotFloat), "{bad:?}");
        }
        assert_eq!(range_bound(b"(1"), Some((1.0, true)));
        assert_eq!(range_bound(b"("), Some((0.0, true)));
        assert_eq!(range_bound(b""), Some((0.0, false)));
        assert_eq!(range_bound(b" 1"), Some((1.0, false)));
        assert_eq!(range_bound(b"1e400"), Some((f64::INFINITY, false)));
        assert_eq!(range_bound(b" "), None);
        assert_eq!(range_bound(b"nan"), None);
        assert_eq!(range_bound(b"1\0x"), Some((1.0, false)));
    }

    #[test]
    fn cursors() {
        for ok in [
            &b"0"[..],
            b"",
            b"-1",
            b"+5",
            b"18446744073709551615",
            b"7\0x",
        ] {
            assert!(valid_cursor(ok), "{ok:?}");
        }
        for bad in [&b"x"[..], b" 1", b"-", b"1x", b"18446744073709551616"] {
            assert!(!valid_cursor(bad), "{bad:?}");
        }
    }

    #[test]
    fn listpack_scores() {
        assert_eq!(listpack_score(-0.0), "0");
        assert_eq!(listpack_score(1.5), "1.5");
        assert_eq!(listpack_score(123456789012345678.0), "123456789012345680");
        assert_eq!(listpack_score(4611686018427387904.0), "4611686018427387904");
        assert_eq!(
            listpack_score(9223372036854775807.0),
            "9.2233720368547758e+18"
        );
        assert_eq!(listpack_score(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn lex_items() {
        assert!(lex_item(b"").is_none());
        assert!(lex_item(b"a").is_none());
        assert!(lex_item(b"-x").is_none());
        assert!(matches!(lex_item(b"+"), Some((LexItem::Max, true))));
        assert!(matches!(lex_item(b"["), Some((LexItem::Str(s), false)) if s.is_empty()));
        let r = LexRange::parse(b"-", b"-").unwrap();
        assert!(r.is_empty());
        let r = LexRange::parse(b"[a", b"[a").unwrap();
        assert!(!r.is_empty() && r.gte_min(b"a") && r.lte_max(b"a") && !r.lte_max(b"ab"));
    }
}
