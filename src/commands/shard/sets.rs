//! Set commands. Storage side: each runs on the shard that owns its key.
//!
//! A set is a meta record plus one member record per member (`Space::Member`,
//! suffix = member, value empty). `meta.size` is always the number of members; an
//! emptied set disappears (`put_meta` with size 0 deletes the key).
//!
//! Members come back in byte order; Redis's order is numeric for all-integer sets
//! (intset) and unspecified otherwise. `*SCAN` parsing and random sampling are
//! shared with hashes (see the end of `hashes.rs`).
//!
//! Keyspace events follow Redis 7.0. [`add`] and [`remove_members`] record theirs
//! (`sadd`; `srem`, then `del` if emptied), which is what every caller wants, the
//! cross-shard SMOVE included; [`store`] records only the `del` of an emptied
//! destination, its caller the command's own event.

use std::collections::HashSet;

use bytes::Bytes;

use super::hashes::{
    check_cursor, random_count, sample, scan_options, scan_page, scan_reply, small_up_to,
};
use crate::commands::table::{Coord, Kind};
use crate::commands::{arg_i64, CommandError, Tx};
use crate::config::notify;
use crate::error::text;
use crate::protocol::Reply;
use crate::storage::encoding::{CollectionMeta, Space, ValueType};
use crate::storage::Span;

type Result<T> = std::result::Result<T, CommandError>;

const SET: ValueType = ValueType::Set;

/// Whether `member` is in the set `meta` describes.
fn contains(tx: &mut Tx<'_>, key: &[u8], meta: &CollectionMeta, member: &[u8]) -> Result<bool> {
    Ok(tx
        .record_get(Space::Member, key, meta.version, member)?
        .is_some())
}

/// Adds members to the set at `key` (created if missing); returns how many are new.
/// Emits `sadd` if any is, for SADD and the destination of a cross-shard SMOVE.
pub fn add(tx: &mut Tx<'_>, key: &[u8], members: &[Bytes]) -> Result<i64> {
    let (mut meta, at, fresh) = match tx.meta(key, SET)? {
        Some((m, at)) => (m, at, false),
        None => (tx.new_collection(), 0, true),
    };
    let mut seen: HashSet<&[u8]> = HashSet::new();
    let mut added = 0;
    for member in members {
        let new = if fresh {
            seen.insert(member.as_ref())
        } else {
            !contains(tx, key, &meta, member)?
        };
        if new {
            tx.record_put(Space::Member, key, meta.version, member, b"");
            added += 1;
        }
    }
    if added > 0 {
        meta.size += added as u64;
        tx.put_meta(key, SET, &meta, at);
        tx.notify(notify::SET, "sadd", key);
    }
    Ok(added)
}

/// Removes members from the set `meta` describes; returns how many were there.
/// Emits `srem`, then `del` if the set is gone: what SREM and SMOVE's source want.
fn remove(
    tx: &mut Tx<'_>,
    key: &[u8],
    mut meta: CollectionMeta,
    at: u64,
    members: &[Bytes],
) -> Result<i64> {
    let mut removed = 0;
    for member in members {
        if contains(tx, key, &meta, member)? {
            tx.record_del(Space::Member, key, meta.version, member);
            removed += 1;
        }
    }
    if removed > 0 {
        meta.size = meta.size.saturating_sub(removed);
        tx.put_meta(key, SET, &meta, at);
        tx.notify(notify::SET, "srem", key);
        if meta.size == 0 {
            tx.notify(notify::GENERIC, "del", key);
        }
    }
    Ok(removed as i64)
}

/// Every member of the set at `key`, in byte order (`None`: no such key).
pub fn member_list(tx: &mut Tx<'_>, key: &[u8]) -> Result<Option<Vec<Bytes>>> {
    let Some((meta, _)) = tx.meta(key, SET)? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(meta.size.min(1 << 20) as usize);
    tx.records(Space::Member, key, meta.version, Span::ALL, |m, _| {
        out.push(Bytes::copy_from_slice(m));
        true
    })?;
    Ok(Some(out))
}

/// Every member of the set at `key`, in byte order; empty if it does not exist.
fn members(tx: &mut Tx<'_>, key: &[u8]) -> Result<Vec<Reply>> {
    let Some((meta, _)) = tx.meta(key, SET)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(meta.size.min(1 << 20) as usize);
    tx.records(Space::Member, key, meta.version, Span::ALL, |m, _| {
        out.push(Reply::bulk(m));
        true
    })?;
    Ok(out)
}

/// Removes members from the set at `key`; returns how many were there. Emits
/// `srem` (and `del` if the set is emptied), for SREM and a cross-shard SMOVE.
pub fn remove_members(tx: &mut Tx<'_>, key: &[u8], members: &[Bytes]) -> Result<i64> {
    match tx.meta(key, SET)? {
        Some((meta, at)) => remove(tx, key, meta, at, members),
        None => Ok(0),
    }
}

/// SADD key member [member ...]
pub fn sadd(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Int(add(tx, &args[1], &args[2..])?))
}

/// SREM key member [member ...]
pub fn srem(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Int(remove_members(tx, &args[1], &args[2..])?))
}

/// SMEMBERS key
pub fn smembers(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Set(members(tx, &args[1])?))
}

/// SISMEMBER key member
pub fn sismember(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let key = &args[1];
    let found = match tx.meta(key, SET)? {
        Some((meta, _)) => contains(tx, key, &meta, &args[2])?,
        None => false,
    };
    Ok(Reply::Int(found as i64))
}

/// SMISMEMBER key member [member ...]
pub fn smismember(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let key = &args[1];
    let meta = tx.meta(key, SET)?;
    let mut out = Vec::with_capacity(args.len() - 2);
    for member in &args[2..] {
        let found = match &meta {
            Some((m, _)) => contains(tx, key, m, member)?,
            None => false,
        };
        out.push(Reply::Int(found as i64));
    }
    Ok(Reply::Array(out))
}

/// SCARD key
pub fn scard(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let size = tx.meta(&args[1], SET)?.map_or(0, |(m, _)| m.size);
    Ok(Reply::Int(size as i64))
}

/// SPOP key \[count\]
pub fn spop(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let key = &args[1];
    if args.len() > 3 {
        return Err(CommandError::Syntax);
    }
    let count = match args.get(2) {
        // Redis gives the same error for a negative count and for a non-integer.
        Some(arg) => match arg_i64(arg) {
            Ok(n) if n >= 0 => Some(n),
            _ => return Err(CommandError::other(text::NOT_POSITIVE)),
        },
        None => None,
    };
    let Some((mut meta, at)) = tx.meta(key, SET)? else {
        return Ok(match count {
            Some(_) => Reply::Set(Vec::new()),
            None => Reply::Nil,
        });
    };
    let picked = sample(tx, key, &meta, count.unwrap_or(1))?;
    if count.is_some_and(|n| n as u64 >= meta.size) {
        // The whole set goes: dropping the meta record kills every member record.
        meta.size = 0;
    } else {
        for (member, _) in &picked {
            tx.record_del(Space::Member, key, meta.version, member);
        }
        meta.size = meta.size.saturating_sub(picked.len() as u64);
    }
    if !picked.is_empty() {
        tx.put_meta(key, SET, &meta, at);
        // Redis sends `spop` then `del`, also when a count takes the whole set.
        tx.notify(notify::SET, "spop", key);
        if meta.size == 0 {
            tx.notify(notify::GENERIC, "del", key);
        }
    }
    let mut popped = picked.into_iter().map(|(m, _)| Reply::Bulk(m));
    Ok(match count {
        Some(_) => Reply::Set(popped.collect()),
        None => popped.next().unwrap_or(Reply::Nil),
    })
}

/// SRANDMEMBER key \[count\]
pub fn srandmember(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let key = &args[1];
    if args.len() > 3 {
        return Err(CommandError::Syntax);
    }
    let count = args.get(2).map(|a| random_count(a)).transpose()?;
    let Some((meta, _)) = tx.meta(key, SET)? else {
        return Ok(match count {
            Some(_) => Reply::Array(Vec::new()),
            None => Reply::Nil,
        });
    };
    let picked = sample(tx, key, &meta, count.unwrap_or(1))?;
    let mut members = picked.into_iter().map(|(m, _)| Reply::Bulk(m));
    Ok(match count {
        Some(_) => Reply::Array(members.collect()),
        None => members.next().unwrap_or(Reply::Nil),
    })
}

/// SSCAN key cursor [MATCH pattern] [COUNT count]: a small set whole (cursor 0), a
/// larger one a page at a time (`hashes::scan_page`).
pub fn sscan(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    check_cursor(&args[2])?;
    let key = &args[1];
    let Some((meta, _)) = tx.meta(key, SET)? else {
        return Ok(scan_reply(Vec::new()));
    };
    let opts = scan_options(&args[3..], false)?;
    let small = small_up_to(tx, "set-max-intset-entries", 512);
    scan_page(tx, key, &meta, &args[2], &opts, small, |m, _, out| {
        out.push(Reply::bulk(m))
    })
}

/// SMOVE source destination member, when both keys live on this shard.
pub fn smove(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let (src, dst, member) = (&args[1], &args[2], &args[3]);
    // Redis: a missing source is 0 before any type check of the destination.
    let Some((src_meta, src_at)) = tx.meta(src, SET)? else {
        return Ok(Reply::Int(0));
    };
    let dst_meta = tx.meta(dst, SET)?;
    if src == dst {
        return Ok(Reply::Int(contains(tx, src, &src_meta, member)? as i64));
    }
    // `srem` (and `del` if the source empties) come from `remove`, before `sadd`.
    if remove(tx, src, src_meta, src_at, std::slice::from_ref(member))? == 0 {
        return Ok(Reply::Int(0));
    }
    let (mut meta, at) = match dst_meta {
        Some((m, at)) => (m, at),
        None => (tx.new_collection(), 0),
    };
    if meta.size == 0 || !contains(tx, dst, &meta, member)? {
        tx.record_put(Space::Member, dst, meta.version, member, b"");
        meta.size += 1;
        tx.put_meta(dst, SET, &meta, at);
        // Only if the destination did not have the member already, as in Redis.
        tx.notify(notify::SET, "sadd", dst);
    }
    Ok(Reply::Int(1))
}

/// Replaces whatever `key` held with a set of exactly these members, without a TTL
/// (none: deletes the key), for SINTERSTORE and friends. Returns the new size.
///
/// Deleting a key that existed emits `del`; the caller emits its command's event
/// (`sinterstore`, ...) when the size is not 0.
pub fn store(tx: &mut Tx<'_>, key: &[u8], members: &[Bytes]) -> Result<i64> {
    if members.is_empty() {
        // Whatever type the key had.
        if tx.delete(key)? {
            tx.notify(notify::GENERIC, "del", key);
        }
        return Ok(0);
    }
    let mut meta = tx.new_collection();
    let mut seen: HashSet<&[u8]> = HashSet::with_capacity(members.len());
    for member in members {
        if seen.insert(member.as_ref()) {
            tx.record_put(Space::Member, key, meta.version, member, b"");
        }
    }
    meta.size = seen.len() as u64;
    tx.put_meta(key, SET, &meta, 0);
    Ok(meta.size as i64)
}

/// The set commands and where each runs, for the command table ([`crate::commands::table`]).
pub(crate) const COMMANDS: &[(&str, Kind)] = &[
    ("sadd", Kind::Single(sadd)),
    ("srem", Kind::Single(srem)),
    ("smembers", Kind::Single(smembers)),
    ("sismember", Kind::Single(sismember)),
    ("smismember", Kind::Single(smismember)),
    ("scard", Kind::Single(scard)),
    ("spop", Kind::Single(spop)),
    ("srandmember", Kind::Single(srandmember)),
    ("sscan", Kind::Single(sscan)),
    ("smove", Kind::Coordinated(Coord::SMove, Some(smove))),
    ("sinter", Kind::Coordinated(Coord::SetAlgebra, None)),
    ("sunion", Kind::Coordinated(Coord::SetAlgebra, None)),
    ("sdiff", Kind::Coordinated(Coord::SetAlgebra, None)),
    ("sintercard", Kind::Coordinated(Coord::SetAlgebra, None)),
    ("sinterstore", Kind::Coordinated(Coord::SetAlgebra, None)),
    ("sunionstore", Kind::Coordinated(Coord::SetAlgebra, None)),
    ("sdiffstore", Kind::Coordinated(Coord::SetAlgebra, None)),
];

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::commands::{keys, ExecFn};
    use crate::config::{Config, Live};
    use crate::storage::{now_ms, Engine, EngineOptions, Shard, ShardCounters, ShardReq};

    /// One shard over a fresh RocksDB in a temporary directory.
    fn shard() -> (Shard, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::open(dir.path(), &EngineOptions::default()).unwrap());
        let live = Arc::new(Live::new(&Config::load(vec!["shardis".into()]).unwrap()));
        let counters = Arc::new(ShardCounters::default());
        (
            Shard::new(0, 1, engine, live, counters, 1 << 20, Default::default()),
            dir,
        )
    }

    /// Runs one command as its own group.
    fn run(shard: &mut Shard, exec: ExecFn, args: &[&str]) -> Reply {
        let args = args
            .iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        let (reply, _) = shard.execute(
            &ShardReq {
                db: 0,
                exec,
                isolated: None,
                args,
                client: 0,
            },
            now_ms(),
        );
        shard.commit().unwrap();
        reply
    }

    /// [`store`] as a command: `store key member ...`.
    fn store_cmd(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
        Ok(Reply::Int(store(tx, &args[1], &args[2..])?))
    }

    fn members(r: Reply) -> Vec<Vec<u8>> {
        match r {
            Reply::Set(items) => items
                .into_iter()
                .map(|i| match i {
                    Reply::Bulk(b) => b.to_vec(),
                    other => panic!("not a bulk: {other:?}"),
                })
                .collect(),
            other => panic!("not a set: {other:?}"),
        }
    }

    #[test]
    fn store_replaces_any_value_and_collapses_duplicates() {
        let (mut s, _dir) = shard();
        run(&mut s, crate::commands::strings::set, &["set", "k", "v"]);
        run(&mut s, keys::expire, &["expire", "k", "100"]);
        let r = run(&mut s, store_cmd, &["store", "k", "b", "a", "b", "c", "a"]);
        assert_eq!(r, Reply::Int(3));
        assert_eq!(
            run(&mut s, keys::type_, &["type", "k"]),
            Reply::Status("set".into())
        );
        assert_eq!(run(&mut s, keys::ttl, &["ttl", "k"]), Reply::Int(-1));
        let m = members(run(&mut s, smembers, &["smembers", "k"]));
        assert_eq!(m, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        // Storing over a set drops its old members.
        assert_eq!(run(&mut s, store_cmd, &["store", "k", "z"]), Reply::Int(1));
        assert_eq!(
            members(run(&mut s, smembers, &["smembers", "k"])),
            vec![b"z".to_vec()]
        );
        assert_eq!(run(&mut s, scard, &["scard", "k"]), Reply::Int(1));
        // No members: the key goes.
        assert_eq!(run(&mut s, store_cmd, &["store", "k"]), Reply::Int(0));
        assert_eq!(run(&mut s, keys::exists, &["exists", "k"]), Reply::Int(0));
        assert_eq!(run(&mut s, store_cmd, &["store", "missing"]), Reply::Int(0));
    }

    #[test]
    fn writes_and_reads_in_one_group() {
        let (mut s, _dir) = shard();
        let reqs: Vec<(ExecFn, &[&str])> = vec![
            (sadd, &["sadd", "s", "a", "b"]),
            (srem, &["srem", "s", "a"]),
            (sadd, &["sadd", "s", "a", "c"]),
            (smove, &["smove", "s", "t", "b"]),
            (scard, &["scard", "s"]),
            (smembers, &["smembers", "t"]),
            (spop, &["spop", "t", "5"]),
            (keys::exists, &["exists", "t"]),
        ];
        let replies: Vec<Reply> = reqs
            .into_iter()
            .map(|(exec, args)| {
                let args = args
                    .iter()
                    .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                    .collect();
                s.execute(
                    &ShardReq {
                        db: 0,
                        exec,
                        isolated: None,
                        args,
                        client: 0,
                    },
                    now_ms(),
                )
                .0
            })
            .collect();
        s.commit().unwrap();
        let bulk = |b: &str| Reply::bulk(b.as_bytes());
        assert_eq!(
            replies,
            vec![
                Reply::Int(2),
                Reply::Int(1),
                Reply::Int(2),
                Reply::Int(1),
                Reply::Int(2),
                Reply::Set(vec![bulk("b")]),
                Reply::Set(vec![bulk("b")]),
                Reply::Int(0),
            ]
        );
    }

    #[test]
    fn random_picks_follow_the_count_rules() {
        let (mut s, _dir) = shard();
        let all: Vec<String> = (0..50).map(|i| format!("m{i:02}")).collect();
        let mut args = vec!["sadd", "s"];
        args.extend(all.iter().map(String::as_str));
        run(&mut s, sadd, &args);
        let arr = |r: Reply| match r {
            Reply::Array(v) | Reply::Set(v) => v,
            other => panic!("not an array: {other:?}"),
        };
        for _ in 0..20 {
            let v = arr(run(&mut s, srandmember, &["srandmember", "s", "10"]));
            let distinct: HashSet<_> = v.iter().map(|r| format!("{r:?}")).collect();
            assert_eq!((v.len(), distinct.len()), (10, 10));
            assert_eq!(
                arr(run(&mut s, srandmember, &["srandmember", "s", "-70"])).len(),
                70
            );
        }
        let mut popped = HashSet::new();
        for _ in 0..5 {
            for r in arr(run(&mut s, spop, &["spop", "s", "7"])) {
                assert!(popped.insert(format!("{r:?}")), "popped twice: {r:?}");
            }
        }
        assert_eq!(run(&mut s, scard, &["scard", "s"]), Reply::Int(15));
        assert_eq!(
            run(&mut s, srandmember, &["srandmember", "s", "-5000000"]),
            Reply::error("ERR value is out of range")
        );
    }
}
