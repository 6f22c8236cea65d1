//! Commands that run alone, after the batch before them has been answered: those that
//! need several shards at one instant (cross-shard RENAME and MSETNX), those that
//! gather from every shard (INFO), and those that change how replies are encoded
//! (HELLO).
//!
//! Cross-shard commands hold their shards in ascending order (see
//! [`crate::storage::Backend::hold`]): while held, a shard runs nothing else, so
//! other clients never see a half-done RENAME.

use bytes::Bytes;

use super::Session;
use crate::commands::algebra::{self, Source};
use crate::commands::table::{Coord, Kind};
use crate::commands::{
    is, keys, lists, server, sets, strings, zsets, Command, CommandError, ExecFn,
};
use crate::protocol::Reply;
use crate::storage::encoding::{key_hash, shard_of};
use crate::storage::{DebugOp, Held};
use crate::storage::{ReplyChannel, ShardReq};

/// Runs a barrier command; `None` means no reply (SHUTDOWN closes the connection).
pub(super) async fn run(
    session: &mut Session,
    cmd: &'static Command,
    args: Vec<Bytes>,
    chan: &mut ReplyChannel,
) -> Option<Reply> {
    let coord = match cmd.kind {
        Kind::Local(f) => return Some(f(session, &args)),
        Kind::Coordinated(c) => c,
        _ => return Some(Reply::error("ERR internal error: not a barrier command")),
    };
    Some(match coord {
        Coord::Rename => rename(session, args).await,
        Coord::MsetNx => msetnx(session, args).await,
        Coord::Info => {
            let counts = keyspace(session, chan).await;
            server::info(session, &args[1..], &counts)
        }
        Coord::Shutdown => return shutdown(session, &args),
        Coord::Move => lmove(session, args).await,
        Coord::SMove => smove(session, args).await,
        Coord::MultiPop => multi_pop(session, args).await.unwrap_or_else(Reply::from),
        Coord::SetAlgebra => set_algebra(session, args).await.unwrap_or_else(Reply::from),
        Coord::ZSetAlgebra => zset_algebra(session, args)
            .await
            .unwrap_or_else(Reply::from),
        Coord::ZRangeStore => zrangestore(session, args).await,
        Coord::Debug => debug(session, args, chan).await,
        Coord::Save => save(session, &args).await,
    })
}

fn shard(session: &Session, key: &[u8]) -> usize {
    shard_of(key_hash(key), session.ctx.backend.shards())
}

async fn rename(session: &mut Session, args: Vec<Bytes>) -> Reply {
    let nx = is(&args[0], "renamenx");
    let db = session.db;
    let (from, to) = (shard(session, &args[1]), shard(session, &args[2]));
    let mut order = [from, to];
    order.sort_unstable();
    let mut held = match session.ctx.backend.hold(&order).await {
        Ok(h) => h,
        Err(e) => return e,
    };
    let client = session.info.id;
    let req = |exec, args: Vec<Bytes>| ShardReq {
        db,
        exec,
        args,
        client,
    };
    let dumped = held
        .exec(
            from,
            req(keys::dump_raw, vec![args[0].clone(), args[1].clone()]),
        )
        .await;
    let fields = match dumped {
        Reply::Array(v) => v,
        Reply::Nil => return Reply::error("ERR no such key"),
        other => return other,
    };
    if nx {
        let exists = held
            .exec(
                to,
                req(keys::exists, vec![args[0].clone(), args[2].clone()]),
            )
            .await;
        if exists != Reply::Int(0) {
            return if exists.is_error() {
                exists
            } else {
                Reply::Int(0)
            };
        }
    }
    let mut restore = vec![args[0].clone(), args[2].clone()];
    for f in fields {
        restore.push(match f {
            Reply::Int(n) => Bytes::from(n.to_string()),
            Reply::Bulk(b) => b,
            _ => return Reply::error("ERR internal error: bad dump"),
        });
    }
    let r = held.exec(to, req(keys::restore_raw, restore)).await;
    if r.is_error() {
        return r;
    }
    let r = held
        .exec(from, req(keys::del, vec![args[0].clone(), args[1].clone()]))
        .await;
    if r.is_error() {
        return r;
    }
    if nx {
        Reply::Int(1)
    } else {
        Reply::Ok
    }
}

async fn msetnx(session: &mut Session, args: Vec<Bytes>) -> Reply {
    let db = session.db;
    let n = session.ctx.backend.shards();
    let mut per_shard: Vec<Vec<Bytes>> = vec![Vec::new(); n];
    for pair in args[1..].chunks_exact(2) {
        per_shard[shard(session, &pair[0])].extend_from_slice(pair);
    }
    let involved: Vec<usize> = (0..n).filter(|&s| !per_shard[s].is_empty()).collect();
    let mut held = match session.ctx.backend.hold(&involved).await {
        Ok(h) => h,
        Err(e) => return e,
    };
    for &s in &involved {
        let mut exists_args = vec![Bytes::from_static(b"exists")];
        exists_args.extend(per_shard[s].chunks_exact(2).map(|p| p[0].clone()));
        let r = held
            .exec(
                s,
                ShardReq {
                    db,
                    exec: keys::exists,
                    args: exists_args,
                    client: 0,
                },
            )
            .await;
        match r {
            Reply::Int(0) => {}
            Reply::Int(_) => return Reply::Int(0),
            other => return other,
        }
    }
    for &s in &involved {
        let mut set_args = vec![Bytes::from_static(b"mset")];
        set_args.append(&mut per_shard[s]);
        let r = held
            .exec(
                s,
                ShardReq {
                    db,
                    exec: strings::mset,
                    args: set_args,
                    client: 0,
                },
            )
            .await;
        if r.is_error() {
            return r;
        }
    }
    Reply::Int(1)
}

/// `(keys, expires)` per database, summed over every shard.
async fn keyspace(session: &Session, chan: &mut ReplyChannel) -> Vec<(i64, i64)> {
    let backend = &session.ctx.backend;
    let n = backend.shards();
    let mut work: Vec<Vec<ShardReq>> = (0..n)
        .map(|_| {
            vec![ShardReq {
                db: 0,
                exec: keys::keyspace,
                args: vec![Bytes::from_static(b"keyspace")],
                client: 0,
            }]
        })
        .collect();
    let mut results: Vec<Vec<Reply>> = vec![Vec::new(); n];
    backend.run(&mut work, &mut results, chan).await;
    let mut counts = vec![(0i64, 0i64); session.ctx.live.databases as usize];
    for reply in results.into_iter().flatten() {
        if let Reply::Array(dbs) = reply {
            for (db, r) in dbs.into_iter().enumerate() {
                if let Reply::Array(kv) = r {
                    if let (Some(Reply::Int(k)), Some(Reply::Int(e))) = (kv.first(), kv.get(1)) {
                        counts[db].0 += k;
                        counts[db].1 += e;
                    }
                }
            }
        }
    }
    counts
}

fn shutdown(session: &mut Session, args: &[Bytes]) -> Option<Reply> {
    for a in &args[1..] {
        if is(a, "abort") {
            return Some(Reply::error("ERR No shutdown in progress."));
        }
        if !["nosave", "save", "now", "force"].iter().any(|k| is(a, k)) {
            return Some(Reply::error("ERR syntax error"));
        }
    }
    tracing::info!(target: "shardis::network", client = session.info.id, "SHUTDOWN requested");
    session.ctx.shutdown.notify_one();
    session.closing = true;
    None
}

/// The shards of `keys`, ascending and without repeats (the hold order).
fn shards_of(session: &Session, keys: &[&Bytes]) -> Vec<usize> {
    let mut v: Vec<usize> = keys.iter().map(|k| shard(session, k)).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Runs `exec` with `args` on the shard of `args[1]`.
async fn on_key(held: &mut Held, session: &Session, exec: ExecFn, args: Vec<Bytes>) -> Reply {
    let s = shard(session, &args[1]);
    held.exec(
        s,
        ShardReq {
            db: session.db,
            exec,
            args,
            client: 0,
        },
    )
    .await
}

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

/// The type name of `key` as TYPE reports it.
async fn type_of(held: &mut Held, session: &Session, key: &Bytes) -> Result<String, Reply> {
    match on_key(held, session, keys::type_, vec![b("type"), key.clone()]).await {
        Reply::Status(t) => Ok(t.into_owned()),
        other => Err(other),
    }
}

/// LMOVE / RPOPLPUSH across shards: pop on the source's shard, push on the destination's.
async fn lmove(session: &mut Session, args: Vec<Bytes>) -> Reply {
    let (from_left, to_left) = if is(&args[0], "rpoplpush") {
        (false, true)
    } else {
        let side = |a: &Bytes| {
            if is(a, "left") {
                Some(true)
            } else if is(a, "right") {
                Some(false)
            } else {
                None
            }
        };
        match (side(&args[3]), side(&args[4])) {
            (Some(f), Some(t)) => (f, t),
            _ => return Reply::error("ERR syntax error"),
        }
    };
    let (src, dst) = (args[1].clone(), args[2].clone());
    let mut held = match session
        .ctx
        .backend
        .hold(&shards_of(session, &[&src, &dst]))
        .await
    {
        Ok(h) => h,
        Err(e) => return e,
    };
    match type_of(&mut held, session, &src).await {
        Ok(t) if t == "none" => return Reply::Nil,
        Ok(t) if t != "list" => return CommandError::WrongType.into(),
        Err(e) => return e,
        _ => {}
    }
    match type_of(&mut held, session, &dst).await {
        Ok(t) if t != "none" && t != "list" => return CommandError::WrongType.into(),
        Err(e) => return e,
        _ => {}
    }
    let (pop, pop_name): (ExecFn, _) = if from_left {
        (lists::lpop, "lpop")
    } else {
        (lists::rpop, "rpop")
    };
    let element = match on_key(&mut held, session, pop, vec![b(pop_name), src]).await {
        Reply::Bulk(e) => e,
        other => return other,
    };
    let (push, push_name): (ExecFn, _) = if to_left {
        (lists::lpush, "lpush")
    } else {
        (lists::rpush, "rpush")
    };
    let r = on_key(
        &mut held,
        session,
        push,
        vec![b(push_name), dst, element.clone()],
    )
    .await;
    if r.is_error() {
        return r;
    }
    Reply::Bulk(element)
}

/// SMOVE across shards: remove on the source's shard, add on the destination's.
async fn smove(session: &mut Session, args: Vec<Bytes>) -> Reply {
    let (src, dst, member) = (args[1].clone(), args[2].clone(), args[3].clone());
    let mut held = match session
        .ctx
        .backend
        .hold(&shards_of(session, &[&src, &dst]))
        .await
    {
        Ok(h) => h,
        Err(e) => return e,
    };
    let src_type = match type_of(&mut held, session, &src).await {
        Ok(t) => t,
        Err(e) => return e,
    };
    if src_type == "none" {
        return Reply::Int(0);
    }
    let dst_type = match type_of(&mut held, session, &dst).await {
        Ok(t) => t,
        Err(e) => return e,
    };
    if src_type != "set" || (dst_type != "none" && dst_type != "set") {
        return CommandError::WrongType.into();
    }
    match on_key(
        &mut held,
        session,
        sets::srem,
        vec![b("srem"), src, member.clone()],
    )
    .await
    {
        Reply::Int(1) => {}
        other if other.is_error() => return other,
        _ => return Reply::Int(0),
    }
    let r = on_key(&mut held, session, sets::sadd, vec![b("sadd"), dst, member]).await;
    if r.is_error() {
        return r;
    }
    Reply::Int(1)
}

fn flatten(items: Vec<Reply>) -> Vec<Reply> {
    items
        .into_iter()
        .flat_map(|r| match r {
            Reply::Array(inner) => inner,
            other => vec![other],
        })
        .collect()
}

/// LMPOP / ZMPOP: pops from the first key that has elements, holding every key's shard.
async fn multi_pop(session: &mut Session, args: Vec<Bytes>) -> Result<Reply, CommandError> {
    let zset = is(&args[0], "zmpop");
    let n = algebra::parse_numkeys(&args[1], "lmpop", args.len() - 2)?;
    let keys = &args[2..2 + n];
    let mut rest = args[2 + n..].iter();
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
                count = Some(match crate::commands::arg_i64(v) {
                    Ok(c) if c > 0 => v.clone(),
                    _ => return Err(CommandError::other("ERR count should be greater than 0")),
                });
            }
            _ => return Err(CommandError::Syntax),
        }
    }
    let count = count.unwrap_or_else(|| b("1"));
    let (exec, name): (ExecFn, &'static str) = match (zset, first) {
        (false, true) => (lists::lpop, "lpop"),
        (false, false) => (lists::rpop, "rpop"),
        (true, true) => (zsets::zpopmin, "zpopmin"),
        (true, false) => (zsets::zpopmax, "zpopmax"),
    };
    let key_refs: Vec<&Bytes> = keys.iter().collect();
    let mut held = session
        .ctx
        .backend
        .hold(&shards_of(session, &key_refs))
        .await
        .map_err(reply_error)?;
    for key in keys {
        let r = on_key(
            &mut held,
            session,
            exec,
            vec![b(name), key.clone(), count.clone()],
        )
        .await;
        let items = match r {
            Reply::Array(items) if !items.is_empty() => items,
            Reply::Pairs(pairs) if !pairs.is_empty() => {
                pairs.into_iter().flat_map(|(m, s)| [m, s]).collect()
            }
            Reply::Error(e) => return Err(CommandError::Other(e)),
            _ => continue,
        };
        let items = if zset {
            let flat = flatten(items);
            Reply::Array(flat.chunks(2).map(|p| Reply::Array(p.to_vec())).collect())
        } else {
            Reply::Array(items)
        };
        return Ok(Reply::Array(vec![Reply::Bulk(key.clone()), items]));
    }
    Ok(Reply::NilArray)
}

fn reply_error(r: Reply) -> CommandError {
    match r {
        Reply::Error(e) => CommandError::Other(e),
        _ => CommandError::other("ERR internal error"),
    }
}

/// Reads every source key (type-checked as a set, or as a set or sorted set).
async fn gather(
    held: &mut Held,
    session: &Session,
    keys: &[Bytes],
    zset_ok: bool,
) -> Result<Vec<Source>, CommandError> {
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let r = on_key(
            held,
            session,
            algebra::dump_members,
            vec![b("dump"), key.clone()],
        )
        .await;
        let source = algebra::parse_dump(r).map_err(reply_error)?;
        match &source {
            Source::Other => return Err(CommandError::WrongType),
            Source::ZSet(_) if !zset_ok => return Err(CommandError::WrongType),
            _ => out.push(source),
        }
    }
    Ok(out)
}

/// Holds the shards of every source key and of the destination, if any.
async fn hold_keys(
    session: &Session,
    keys: &[Bytes],
    dest: Option<&Bytes>,
) -> Result<Held, CommandError> {
    let mut all: Vec<&Bytes> = keys.iter().collect();
    all.extend(dest);
    session
        .ctx
        .backend
        .hold(&shards_of(session, &all))
        .await
        .map_err(reply_error)
}

/// The reply of SINTERCARD / ZINTERCARD: the size, capped by LIMIT (0: no cap).
fn cardinality(len: usize, limit: usize) -> Reply {
    let n = if limit == 0 { len } else { len.min(limit) };
    Reply::Int(n as i64)
}

/// SINTER SUNION SDIFF, SINTERSTORE SUNIONSTORE SDIFFSTORE, SINTERCARD.
async fn set_algebra(session: &mut Session, args: Vec<Bytes>) -> Result<Reply, CommandError> {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    let (dest, keys, limit) = match name.as_str() {
        "sintercard" => {
            let n = algebra::parse_numkeys(&args[1], "sintercard", args.len() - 2)?;
            (
                None,
                args[2..2 + n].to_vec(),
                Some(algebra::parse_limit(&args[2 + n..])?),
            )
        }
        n if n.ends_with("store") => (Some(args[1].clone()), args[2..].to_vec(), None),
        _ => (None, args[1..].to_vec(), None),
    };
    let op = if name.starts_with("sinter") {
        "inter"
    } else if name.starts_with("sunion") {
        "union"
    } else {
        "diff"
    };
    let mut held = hold_keys(session, &keys, dest.as_ref()).await?;
    let sources = gather(&mut held, session, &keys, false).await?;
    let result = algebra::set_op(op, &sources);
    if let Some(limit) = limit {
        return Ok(cardinality(result.len(), limit));
    }
    match dest {
        Some(dest) => {
            let mut store = vec![b("store"), dest];
            store.extend(result);
            Ok(on_key(&mut held, session, sets::store, store).await)
        }
        None => Ok(Reply::Set(result.into_iter().map(Reply::Bulk).collect())),
    }
}

/// ZUNION ZINTER ZDIFF, their STORE forms, ZINTERCARD.
async fn zset_algebra(session: &mut Session, args: Vec<Bytes>) -> Result<Reply, CommandError> {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    let store = name.ends_with("store");
    let (dest, at) = if store {
        (Some(args[1].clone()), 2)
    } else {
        (None, 1)
    };
    let n = algebra::parse_numkeys(&args[at], &name, args.len() - at - 1)?;
    let keys = args[at + 1..at + 1 + n].to_vec();
    let opts = &args[at + 1 + n..];
    let op = if name.starts_with("zunion") {
        "union"
    } else if name.starts_with("zinter") {
        "inter"
    } else {
        "diff"
    };
    let (options, limit) = if name == "zintercard" {
        (
            algebra::parse_zoptions(&[], n, false, true)?,
            Some(algebra::parse_limit(opts)?),
        )
    } else {
        (algebra::parse_zoptions(opts, n, op == "diff", store)?, None)
    };
    let mut held = hold_keys(session, &keys, dest.as_ref()).await?;
    let sources = gather(&mut held, session, &keys, true).await?;
    let result = algebra::zset_op(op, &sources, &options);
    if let Some(limit) = limit {
        return Ok(cardinality(result.len(), limit));
    }
    if let Some(dest) = dest {
        let mut args = vec![b("store"), dest];
        for (m, s) in result {
            args.push(Bytes::from(crate::protocol::reply::format_double(s)));
            args.push(m);
        }
        return Ok(on_key(&mut held, session, zsets::store, args).await);
    }
    Ok(if options.withscores {
        Reply::Pairs(
            result
                .into_iter()
                .map(|(m, s)| (Reply::Bulk(m), Reply::Double(s)))
                .collect(),
        )
    } else {
        Reply::Array(result.into_iter().map(|(m, _)| Reply::Bulk(m)).collect())
    })
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
async fn zrangestore(session: &mut Session, args: Vec<Bytes>) -> Reply {
    let (dst, src) = (args[1].clone(), args[2].clone());
    let bylex = args[5..].iter().any(|a| is(a, "bylex"));
    let mut held = match session
        .ctx
        .backend
        .hold(&shards_of(session, &[&src, &dst]))
        .await
    {
        Ok(h) => h,
        Err(e) => return e,
    };
    let mut range = vec![b("zrange"), src.clone()];
    range.extend_from_slice(&args[3..]);
    if !bylex {
        range.push(b("withscores"));
    }
    let items = match on_key(&mut held, session, zsets::zrange, range).await {
        Reply::Array(items) => flatten(items),
        Reply::Pairs(pairs) => pairs.into_iter().flat_map(|(m, s)| [m, s]).collect(),
        other => return other,
    };
    let pairs: Vec<(Reply, Reply)> = if bylex {
        let mut q = vec![b("zmscore"), src];
        q.extend(items.iter().filter_map(|r| {
            if let Reply::Bulk(m) = r {
                Some(m.clone())
            } else {
                None
            }
        }));
        let scores = if items.is_empty() {
            Vec::new()
        } else {
            match on_key(&mut held, session, zsets::zmscore, q).await {
                Reply::Array(s) => s,
                other => return other,
            }
        };
        items.into_iter().zip(scores).collect()
    } else {
        items
            .chunks(2)
            .filter_map(|p| Some((p.first()?.clone(), p.get(1)?.clone())))
            .collect()
    };
    let mut store = vec![b("store"), dst];
    for (m, s) in pairs {
        let score = match s {
            Reply::Double(d) => crate::protocol::reply::format_double(d),
            Reply::Bulk(t) => String::from_utf8_lossy(&t).into_owned(),
            _ => continue,
        };
        if let Reply::Bulk(m) = m {
            store.push(Bytes::from(score));
            store.push(m);
        }
    }
    on_key(&mut held, session, zsets::store, store).await
}

/// DEBUG COMPACT | RECORDS | STORAGE-STALL ms [shard] | STORAGE-ERROR n [shard] |
/// STORAGE-PANIC [shard]; refused unless the server runs with --enable-debug-command yes.
async fn debug(session: &mut Session, args: Vec<Bytes>, chan: &mut ReplyChannel) -> Reply {
    if !session.ctx.live.debug_enabled {
        return Reply::error(
            "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", \
             you can run it from a local connection, otherwise you need to set this option in the \
             configuration file, and then restart the server.",
        );
    }
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let number = |i: usize| -> Result<Option<u64>, Reply> {
        match args.get(i) {
            None => Ok(None),
            Some(a) => std::str::from_utf8(a)
                .ok()
                .and_then(|s| s.parse().ok())
                .map(Some)
                .ok_or_else(|| Reply::error("ERR value is not an integer or out of range")),
        }
    };
    let op = match sub.as_str() {
        "compact" | "records" => {
            let backend = &session.ctx.backend;
            let n = backend.shards();
            let mut work: Vec<Vec<ShardReq>> = (0..n)
                .map(|_| {
                    vec![ShardReq {
                        db: 0,
                        exec: keys::debug,
                        args: args.clone(),
                        client: 0,
                    }]
                })
                .collect();
            let mut results: Vec<Vec<Reply>> = vec![Vec::new(); n];
            backend.run(&mut work, &mut results, chan).await;
            let mut total = 0;
            for r in results.into_iter().flatten() {
                match r {
                    Reply::Int(v) => total += v,
                    other => return other,
                }
            }
            return Reply::Int(total);
        }
        "storage-stall" | "storage-error" if args.len() >= 3 && args.len() <= 4 => {
            let n = match number(2) {
                Ok(Some(n)) => n,
                Ok(None) => return Reply::error("ERR syntax error"),
                Err(e) => return e,
            };
            if sub == "storage-stall" {
                DebugOp::Stall(std::time::Duration::from_millis(n))
            } else {
                DebugOp::FailWrites(n.min(u32::MAX as u64) as u32)
            }
        }
        "storage-panic" if args.len() <= 3 => DebugOp::Panic,
        _ => {
            return Reply::error(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
                String::from_utf8_lossy(&args[1])
            ))
        }
    };
    let shard_arg = if op == DebugOp::Panic { 2 } else { 3 };
    let shard = match number(shard_arg) {
        Ok(s) => s.map(|s| s as usize),
        Err(e) => return e,
    };
    match session.ctx.backend.debug(op, shard).await {
        Ok(()) => Reply::Ok,
        Err(e) => e,
    }
}

/// Where the next checkpoint goes: `<dir>/checkpoints/checkpoint-<unix ms>`.
fn checkpoint_path(session: &Session) -> std::path::PathBuf {
    session
        .ctx
        .config
        .dir
        .join("checkpoints")
        .join(format!("checkpoint-{}", crate::storage::now_ms()))
}

/// Makes a checkpoint and records it for LASTSAVE and INFO persistence.
async fn checkpoint(
    ctx: &crate::server::ServerCtx,
    path: std::path::PathBuf,
) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    ctx.backend
        .checkpoint(path.clone())
        .await
        .map_err(|e| e.to_string())?;
    ctx.last_save.store(
        crate::storage::now_ms() / 1000,
        std::sync::atomic::Ordering::Relaxed,
    );
    *ctx.last_save_path.lock().unwrap_or_else(|e| e.into_inner()) = path.display().to_string();
    tracing::info!(target: "shardis::storage", "checkpoint written to {}", path.display());
    Ok(())
}

/// SAVE (waits for the checkpoint) / BGSAVE [SCHEDULE] (replies at once).
async fn save(session: &mut Session, args: &[Bytes]) -> Reply {
    use std::sync::atomic::Ordering;
    let ctx = session.ctx.clone();
    let path = checkpoint_path(session);
    if is(&args[0], "save") {
        if args.len() > 1 {
            return Reply::error("ERR syntax error");
        }
        return match checkpoint(&ctx, path).await {
            Ok(()) => Reply::Ok,
            Err(e) => Reply::error(format!("ERR checkpoint failed: {e}")),
        };
    }
    if args.len() > 2 || (args.len() == 2 && !is(&args[1], "schedule")) {
        return Reply::error("ERR syntax error");
    }
    if ctx.bgsave_running.swap(true, Ordering::SeqCst) {
        return Reply::error("ERR Background save already in progress");
    }
    tokio::spawn(async move {
        if let Err(e) = checkpoint(&ctx, path).await {
            tracing::error!(target: "shardis::storage", "BGSAVE failed: {e}");
        }
        ctx.bgsave_running.store(false, Ordering::SeqCst);
    });
    Reply::Status("Background saving started".into())
}
