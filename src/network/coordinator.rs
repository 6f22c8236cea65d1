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
use crate::commands::table::{Coord, Kind};
use crate::commands::{is, keys, server, strings, Command};
use crate::protocol::Reply;
use crate::storage::encoding::{key_hash, shard_of};
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
        Coord::Move
        | Coord::SMove
        | Coord::MultiPop
        | Coord::SetAlgebra
        | Coord::ZSetAlgebra
        | Coord::ZRangeStore => Reply::error("ERR not implemented yet"),
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
    let req = |exec, args: Vec<Bytes>| ShardReq { db, exec, args };
    let dumped = held
        .exec(
            from,
            req(keys::dump_raw, vec![args[0].clone(), args[1].clone()]),
        )
        .await;
    let (kind, at, payload) = match dumped {
        Reply::Array(v) if v.len() == 3 => match (&v[0], &v[1], &v[2]) {
            (Reply::Int(k), Reply::Int(a), Reply::Bulk(p)) => (*k, *a, p.clone()),
            _ => return Reply::error("ERR internal error: bad dump"),
        },
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
    let restore = vec![
        args[0].clone(),
        args[2].clone(),
        Bytes::from(kind.to_string()),
        Bytes::from(at.to_string()),
        payload,
    ];
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
