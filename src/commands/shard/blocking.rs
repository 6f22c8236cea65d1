//! The blocking pops and moves: BLPOP, BRPOP, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP,
//! BLMOVE and BRPOPLPUSH.
//!
//! [`parse`] reads a command into a [`Blocking`]: the keys to wait on, the timeout and
//! the [`ServeFn`] that runs the command on one key. The same serve function answers
//! the first, non-blocking attempt (in key order: the first key with data serves, a
//! key of the wrong type is an error), runs inside MULTI (where nothing blocks, and an
//! empty result is the timeout's reply), and serves a waiter when a write gives one
//! of its keys data (`storage::blocked`; a key of the wrong type then leaves it
//! waiting). Waiting itself is the connection's business (`network::blocking`).
//!
//! A serve that pops records Redis 7.0's events of the non-blocking command: `lpop` /
//! `rpop` (`lists::pop_and_notify`; BLMOVE: LMOVE's, the destination's push first),
//! `zpopmin` / `zpopmax` (`zsets::pop_and_notify`), then `del` if it
//! emptied the key.

use std::sync::Arc;

use bytes::Bytes;

use super::{algebra, lists, zsets};
use crate::commands::table::{Coord, Kind};
use crate::commands::{arg_i64, is, CommandError, Tx};
use crate::error::text;
use crate::protocol::Reply;
use crate::storage::encoding::{key_hash, shard_of, ValueType};
use crate::storage::{ServeFn, Served};

type Result<T> = std::result::Result<T, CommandError>;

/// A blocking command, parsed.
pub struct Blocking {
    /// The keys it waits on, in the order they are tried.
    pub keys: Vec<Bytes>,
    /// How long it may wait, ms (0: for ever).
    pub timeout_ms: u64,
    /// Runs it on one key.
    pub serve: ServeFn,
    /// The reply when the wait ends without data.
    pub timed_out: Reply,
    /// BLMOVE / BRPOPLPUSH: where the element goes.
    pub destination: Option<Bytes>,
}

/// Reads a timeout in seconds (fractions allowed) the way Redis 7.0 does: as a long
/// double, times 1000, rounded up to whole milliseconds; 0 waits for ever.
pub fn parse_timeout(arg: &[u8]) -> Result<u64> {
    let s = std::str::from_utf8(arg).map_err(|_| CommandError::other(text::TIMEOUT_NOT_FLOAT))?;
    let secs = crate::commands::parse_float(s.as_bytes())
        .ok_or_else(|| CommandError::other(text::TIMEOUT_NOT_FLOAT))?;
    let ms = (secs * 1000.0).ceil();
    // Past the range of a C long long Redis's conversion yields a negative number.
    if !(0.0..9.2e18).contains(&ms) {
        return Err(CommandError::other(text::TIMEOUT_NEGATIVE));
    }
    Ok(ms as u64)
}

/// The direction of LMPOP / BLMPOP (LEFT|RIGHT: true for LEFT) or ZMPOP / BZMPOP
/// (MIN|MAX: true for MIN), and the COUNT after it (1 if none).
pub fn parse_mpop_tail(rest: &[Bytes], zset: bool) -> Result<(bool, u64)> {
    let mut rest = rest.iter();
    let dir = rest.next().ok_or(CommandError::Syntax)?;
    let first = if zset {
        is(dir, "min")
    } else {
        is(dir, "left")
    };
    let last = if zset {
        is(dir, "max")
    } else {
        is(dir, "right")
    };
    if !first && !last {
        return Err(CommandError::Syntax);
    }
    let mut count = None;
    while let Some(opt) = rest.next() {
        match rest.next() {
            Some(v) if is(opt, "count") && count.is_none() => {
                count = Some(match arg_i64(v) {
                    Ok(c) if c > 0 => c as u64,
                    _ => return Err(CommandError::other(text::COUNT_NOT_POSITIVE)),
                });
            }
            _ => return Err(CommandError::Syntax),
        }
    }
    Ok((first, count.unwrap_or(1)))
}

/// Parses a blocking command (args\[0\] is its name), in Redis's order of checks.
pub fn parse(args: &[Bytes]) -> Result<Blocking> {
    let name = &args[0];
    let last = args.len() - 1;
    let plain = |serve: ServeFn| -> Result<Blocking> {
        Ok(Blocking {
            keys: args[1..last].to_vec(),
            timeout_ms: parse_timeout(&args[last])?,
            serve,
            timed_out: Reply::NilArray,
            destination: None,
        })
    };
    if is(name, "blpop") || is(name, "brpop") {
        return plain(serve_pop);
    }
    if is(name, "bzpopmin") || is(name, "bzpopmax") {
        return plain(serve_zpop);
    }
    if is(name, "blmove") || is(name, "brpoplpush") {
        if is(name, "blmove") {
            lists::side(&args[3])?;
            lists::side(&args[4])?;
        }
        return Ok(Blocking {
            keys: vec![args[1].clone()],
            timeout_ms: parse_timeout(&args[last])?,
            serve: serve_move,
            // A timed-out wait answers a null array; inside MULTI the move's null.
            timed_out: Reply::NilArray,
            destination: Some(args[2].clone()),
        });
    }
    // BLMPOP / BZMPOP timeout numkeys key [key ...] where [COUNT count]
    let zset = is(name, "bzmpop");
    let n = algebra::parse_numkeys(&args[2], "blmpop", args.len() - 3)?;
    parse_mpop_tail(&args[3 + n..], zset)?;
    Ok(Blocking {
        keys: args[3..3 + n].to_vec(),
        timeout_ms: parse_timeout(&args[1])?,
        serve: if zset { serve_zmpop } else { serve_lmpop },
        timed_out: Reply::NilArray,
        destination: None,
    })
}

/// Whether `key` holds a list; WRONGTYPE if it holds something else.
fn has_list(tx: &mut Tx<'_>, key: &[u8]) -> Result<bool> {
    Ok(tx.meta(key, ValueType::List)?.is_some())
}

fn has_zset(tx: &mut Tx<'_>, key: &[u8]) -> Result<bool> {
    Ok(tx.meta(key, ValueType::ZSet)?.is_some())
}

/// BLPOP / BRPOP on `key`: `[key, element]`.
fn serve_pop(
    tx: &mut Tx<'_>,
    key: &[u8],
    args: &[Bytes],
    claim: &mut dyn FnMut() -> bool,
) -> Result<Served> {
    if !has_list(tx, key)? || !claim() {
        return Ok(Served::Not);
    }
    let left = is(&args[0], "blpop");
    let popped = lists::pop_and_notify(tx, key, 1, left)?.unwrap_or_default();
    let Some(element) = popped.into_iter().next() else {
        return Ok(Served::Not);
    };
    Ok(Served::Reply(Reply::Array(vec![
        Reply::Bulk(Bytes::copy_from_slice(key)),
        Reply::Bulk(element),
    ])))
}

/// BZPOPMIN / BZPOPMAX on `key`: `[key, member, score]`.
fn serve_zpop(
    tx: &mut Tx<'_>,
    key: &[u8],
    args: &[Bytes],
    claim: &mut dyn FnMut() -> bool,
) -> Result<Served> {
    if !has_zset(tx, key)? || !claim() {
        return Ok(Served::Not);
    }
    let max = is(&args[0], "bzpopmax");
    let popped = zsets::pop_and_notify(tx, key, 1, max)?.unwrap_or_default();
    let Some((score, member)) = popped.into_iter().next() else {
        return Ok(Served::Not);
    };
    Ok(Served::Reply(Reply::Array(vec![
        Reply::Bulk(Bytes::copy_from_slice(key)),
        Reply::Bulk(member),
        Reply::Double(score),
    ])))
}

/// The direction and count of a parsed BLMPOP / BZMPOP.
fn mpop_options(args: &[Bytes], zset: bool) -> Result<(bool, u64)> {
    let n = algebra::parse_numkeys(&args[2], "blmpop", args.len() - 3)?;
    parse_mpop_tail(&args[3 + n..], zset)
}

/// BLMPOP on `key`: `[key, [element ...]]`.
fn serve_lmpop(
    tx: &mut Tx<'_>,
    key: &[u8],
    args: &[Bytes],
    claim: &mut dyn FnMut() -> bool,
) -> Result<Served> {
    let (left, count) = mpop_options(args, false)?;
    if !has_list(tx, key)? || !claim() {
        return Ok(Served::Not);
    }
    let popped = lists::pop_and_notify(tx, key, count, left)?.unwrap_or_default();
    Ok(Served::Reply(Reply::Array(vec![
        Reply::Bulk(Bytes::copy_from_slice(key)),
        Reply::Array(popped.into_iter().map(Reply::Bulk).collect()),
    ])))
}

/// BZMPOP on `key`: `[key, [[member, score] ...]]`.
fn serve_zmpop(
    tx: &mut Tx<'_>,
    key: &[u8],
    args: &[Bytes],
    claim: &mut dyn FnMut() -> bool,
) -> Result<Served> {
    let (min, count) = mpop_options(args, true)?;
    if !has_zset(tx, key)? || !claim() {
        return Ok(Served::Not);
    }
    let popped = zsets::pop_and_notify(tx, key, count, !min)?.unwrap_or_default();
    let pairs = popped
        .into_iter()
        .map(|(s, m)| Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]));
    Ok(Served::Reply(Reply::Array(vec![
        Reply::Bulk(Bytes::copy_from_slice(key)),
        Reply::Array(pairs.collect()),
    ])))
}

/// The arguments of the LMOVE / RPOPLPUSH that a BLMOVE / BRPOPLPUSH runs.
pub fn as_move(args: &[Bytes]) -> Vec<Bytes> {
    if is(&args[0], "brpoplpush") {
        vec![
            Bytes::from_static(b"rpoplpush"),
            args[1].clone(),
            args[2].clone(),
        ]
    } else {
        let mut v = vec![Bytes::from_static(b"lmove")];
        v.extend_from_slice(&args[1..5]);
        v
    }
}

/// BLMOVE / BRPOPLPUSH on its source `key`: the element moved. If the destination
/// lives on another shard the waiter is woken to run the move holding both.
fn serve_move(
    tx: &mut Tx<'_>,
    key: &[u8],
    args: &[Bytes],
    claim: &mut dyn FnMut() -> bool,
) -> Result<Served> {
    if !has_list(tx, key)? {
        return Ok(Served::Not);
    }
    let dst = &args[2];
    let (shard, shards) = tx.shard_id();
    if shard_of(key_hash(dst), shards) != shard {
        return Ok(if claim() { Served::Retry } else { Served::Not });
    }
    if dst.as_ref() != key {
        has_list(tx, dst)?;
    }
    if !claim() {
        return Ok(Served::Not);
    }
    match lists::lmove(tx, &as_move(args))? {
        Reply::Nil => Ok(Served::Not),
        reply => Ok(Served::Reply(reply)),
    }
}

/// A blocking command whose keys all live on one shard, run without blocking (inside
/// MULTI): the first key with data serves it, else the timeout's reply.
pub fn run_now(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let b = parse(args)?;
    if b.destination.is_some() {
        return lists::lmove(tx, &as_move(args));
    }
    for key in &b.keys {
        if let Served::Reply(r) = (b.serve)(tx, key, args, &mut || true)? {
            return Ok(r);
        }
    }
    Ok(b.timed_out)
}

/// The blocking commands and where each runs, for the command table.
pub(crate) const COMMANDS: &[(&str, Kind)] = &[
    ("blpop", Kind::Coordinated(Coord::Block, Some(run_now))),
    ("brpop", Kind::Coordinated(Coord::Block, Some(run_now))),
    ("blmpop", Kind::Coordinated(Coord::Block, Some(run_now))),
    ("blmove", Kind::Coordinated(Coord::Block, Some(run_now))),
    ("brpoplpush", Kind::Coordinated(Coord::Block, Some(run_now))),
    ("bzpopmin", Kind::Coordinated(Coord::Block, Some(run_now))),
    ("bzpopmax", Kind::Coordinated(Coord::Block, Some(run_now))),
    ("bzmpop", Kind::Coordinated(Coord::Block, Some(run_now))),
];

/// The arguments shared by a waiter's serves.
pub fn shared(args: &[Bytes]) -> Arc<[Bytes]> {
    Arc::from(args.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn args(s: &str) -> Vec<Bytes> {
        s.split(' ').map(b).collect()
    }

    #[test]
    fn timeouts_follow_redis() {
        assert_eq!(parse_timeout(b"0").unwrap(), 0);
        assert_eq!(parse_timeout(b"1.5").unwrap(), 1500);
        assert_eq!(parse_timeout(b"0.0000001").unwrap(), 1);
        let err = |a: &[u8]| parse_timeout(a).unwrap_err().text().into_owned();
        assert_eq!(err(b"-1"), text::TIMEOUT_NEGATIVE);
        assert_eq!(err(b"inf"), text::TIMEOUT_NEGATIVE);
        assert_eq!(err(b"1e300"), text::TIMEOUT_NEGATIVE);
        assert_eq!(err(b"abc"), text::TIMEOUT_NOT_FLOAT);
        assert_eq!(err(b" 1"), text::TIMEOUT_NOT_FLOAT);
        assert_eq!(err(b"nan"), text::TIMEOUT_NOT_FLOAT);
    }

    #[test]
    fn parse_finds_keys_timeout_and_replies() {
        let p = parse(&args("blpop a b 2")).unwrap();
        assert_eq!(p.keys, vec![b("a"), b("b")]);
        assert_eq!(p.timeout_ms, 2000);
        assert_eq!(p.timed_out, Reply::NilArray);
        let p = parse(&args("blmove s d left right 0")).unwrap();
        assert_eq!((p.keys, p.destination), (vec![b("s")], Some(b("d"))));
        assert_eq!(p.timed_out, Reply::NilArray);
        assert!(parse(&args("blmove s d up right 0")).is_err());
        let p = parse(&args("blmpop 0.5 2 x y right count 3")).unwrap();
        assert_eq!((p.keys, p.timeout_ms), (vec![b("x"), b("y")], 500));
        assert!(parse(&args("bzmpop 1 1 x left")).is_err());
        assert!(parse(&args("blmpop 1 0 x left")).is_err());
        assert_eq!(as_move(&args("brpoplpush s d 0")), args("rpoplpush s d"));
        assert_eq!(
            as_move(&args("blmove s d left right 0")),
            args("lmove s d left right")
        );
    }
}
