//! Commands that run alone, after the batch before them has been answered: those that
//! need several shards at one instant (cross-shard RENAME, MSETNX, LMOVE, SMOVE, the
//! set and sorted-set algebra), those that gather from every shard (INFO), and those
//! that change how replies are encoded (HELLO).
//!
//! Cross-shard commands hold their shards ([`crate::storage::Held`]): every step is a
//! typed closure run on the shard that owns its key, the values it returns are plain
//! Rust values, and all the writes of the command are committed as one RocksDB write
//! batch. Other clients never see a half-done RENAME, and neither does a crash.

use bytes::Bytes;

use crate::commands::algebra::{self, Source};
use crate::commands::shard::blocking;
use crate::commands::table::{Coord, Kind};
use crate::commands::{
    bitmaps, geo, hyperloglog, is, keys, lists, server, sets, sort, zsets, Command, CommandError,
};
use crate::config::notify;
use crate::error::text;
use crate::protocol::Reply;
use crate::state::Session;
use crate::storage::encoding::{key_hash, shard_of, ValueType};
use crate::storage::{DebugOp, Held, Served};

use super::{scripting, transaction};

type Result<T> = std::result::Result<T, CommandError>;

/// Runs a barrier command; `None` means no reply (SHUTDOWN closes the connection).
pub(super) async fn run(
    session: &mut Session,
    cmd: &'static Command,
    args: Vec<Bytes>,
) -> Option<Reply> {
    let coord = match cmd.kind {
        Kind::Local(f) | Kind::Barrier(f) => {
            return Some(f(session, &args).unwrap_or_else(Reply::from))
        }
        Kind::Coordinated(c, _) => c,
        _ => return Some(Reply::error(text::NOT_A_BARRIER)),
    };
    let result = match coord {
        Coord::Info | Coord::Shutdown | Coord::Debug | Coord::Save | Coord::Memory => {
            return about_server(session, coord, args).await
        }
        Coord::Exec => Ok(transaction::exec(session).await),
        Coord::Watch => transaction::watch(session, &args).await,
        Coord::Script => scripting::script(session, cmd, &args).await,
        Coord::ScriptAdmin => scripting::admin(session, cmd, &args).await,
        _ => alone(session, cmd, coord, &args).await,
    };
    Some(result.unwrap_or_else(Reply::from))
}

/// The commands about the server rather than the data: INFO, SHUTDOWN, DEBUG, SAVE.
/// `None` means no reply (SHUTDOWN closes the connection).
pub(super) async fn about_server(
    session: &mut Session,
    coord: Coord,
    args: Vec<Bytes>,
) -> Option<Reply> {
    let result = match coord {
        Coord::Info => match keyspace(session).await {
            Ok(counts) => Ok(server::info(session, &args[1..], &counts)),
            Err(e) => Err(e),
        },
        Coord::Shutdown => return shutdown(session, &args),
        Coord::Debug => Ok(debug(session, args).await),
        Coord::Save => Ok(save(session, &args).await),
        Coord::Memory => memory(session, &args).await,
        Coord::ScriptAdmin => match crate::commands::lookup(&args[0]) {
            Some(cmd) => scripting::admin(session, cmd, &args).await,
            None => Err(CommandError::other(text::NOT_A_BARRIER)),
        },
        _ => Err(CommandError::other(text::NOT_A_BARRIER)),
    };
    Some(result.unwrap_or_else(Reply::from))
}

/// A cross-shard command on its own: holds the shards of its keys, runs it, and
/// commits its writes as one RocksDB write (none if it fails).
async fn alone(
    session: &mut Session,
    cmd: &'static Command,
    coord: Coord,
    args: &[Bytes],
) -> Result<Reply> {
    let shards = session.ctx.backend.shards();
    let mut held = session
        .ctx
        .backend
        .hold(&if cmd.reads_any_key(args) {
            (0..shards).collect()
        } else {
            shards_of(&keys_of(cmd, args), shards)
        })
        .await?;
    let mut on = On {
        held: &mut held,
        db: session.db,
        shards,
    };
    let reply = step(&mut on, coord, args).await?;
    held.commit().await?;
    Ok(reply)
}

/// LMOVE / RPOPLPUSH holding the shards of both keys (a BLMOVE across shards).
pub(super) async fn run_move(session: &mut Session, args: &[Bytes]) -> Result<Reply> {
    let cmd = crate::commands::lookup(&args[0]).ok_or(CommandError::Syntax)?;
    alone(session, cmd, Coord::Move, args).await
}

/// A blocking command inside MULTI, its keys on several shards: it does not block.
/// The first key with data serves it; none gives the timeout's reply.
async fn block_now(on: &mut On<'_>, args: &[Bytes]) -> Result<Reply> {
    let b = blocking::parse(args)?;
    if b.destination.is_some() {
        return lmove(on, &blocking::as_move(args)).await;
    }
    let shared = blocking::shared(args);
    for key in &b.keys {
        let (a, serve) = (shared.clone(), b.serve);
        let served = on
            .key(key, move |tx, k| serve(tx, k, &a, &mut || true))
            .await?;
        if let Served::Reply(r) = served {
            return Ok(r);
        }
    }
    Ok(b.timed_out)
}

/// Runs a cross-shard command on shards held already (alone, or as one command of
/// a transaction). Writes join the hold; the caller commits.
pub(super) async fn step(on: &mut On<'_>, coord: Coord, args: &[Bytes]) -> Result<Reply> {
    match coord {
        Coord::Rename => rename(on, args).await,
        Coord::Copy => copy(on, args).await,
        Coord::MsetNx => msetnx(on, args).await,
        Coord::Move => lmove(on, args).await,
        Coord::SMove => smove(on, args).await,
        Coord::MultiPop => multi_pop(on, args).await,
        Coord::SetAlgebra => set_algebra(on, args).await,
        Coord::ZSetAlgebra => zset_algebra(on, args).await,
        Coord::ZRangeStore => zrangestore(on, args).await,
        Coord::BitOp => bitop(on, args).await,
        Coord::Lcs => lcs(on, args).await,
        Coord::Sort => sort_across(on, args).await,
        Coord::GeoStore => geo_store(on, args).await,
        Coord::Hll => hll_across(on, args).await,
        Coord::SwapDb => swapdb(on, args).await,
        Coord::Block => block_now(on, args).await,
        Coord::Info
        | Coord::Shutdown
        | Coord::Debug
        | Coord::Save
        | Coord::Memory
        | Coord::Exec
        | Coord::Watch
        | Coord::Script
        | Coord::ScriptAdmin => Err(CommandError::other(text::NOT_A_BARRIER)),
    }
}

/// The keys of a command (see [`Command::keys`]).
pub(super) fn keys_of<'a>(cmd: &Command, args: &'a [Bytes]) -> Vec<&'a Bytes> {
    cmd.keys(args)
}

/// The shards that own `keys`: ascending, without repeats, as a hold wants them.
pub(super) fn shards_of(keys: &[&Bytes], shards: usize) -> Vec<usize> {
    let mut out: Vec<usize> = keys.iter().map(|k| shard_of(key_hash(k), shards)).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Where the steps of a cross-shard command run: the hold, the database, and the
/// shard count that maps keys to shards.
pub(super) struct On<'a> {
    pub(super) held: &'a mut Held,
    pub(super) db: u8,
    pub(super) shards: usize,
}

impl On<'_> {
    fn shard(&self, key: &[u8]) -> usize {
        shard_of(key_hash(key), self.shards)
    }

    /// Runs `f` with `key` on the held shard that owns it.
    async fn key<T, F>(&mut self, key: &Bytes, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut crate::storage::Tx<'_>, &[u8]) -> Result<T> + Send + 'static,
    {
        let key = key.clone();
        let shard = self.shard(&key);
        self.held.call(shard, self.db, move |tx| f(tx, &key)).await
    }

    /// The type of `key`, `None` if it does not exist.
    async fn kind_of(&mut self, key: &Bytes) -> Result<Option<ValueType>> {
        self.key(key, |tx, k| Ok(tx.get(k)?.map(|v| v.kind))).await
    }
}

/// RENAME / RENAMENX across shards: the key's whole image moves in one commit.
async fn rename(on: &mut On<'_>, args: &[Bytes]) -> Result<Reply> {
    let nx = is(&args[0], "renamenx");
    let (from, to) = (&args[1], &args[2]);
    let image = on.key(from, |tx, k| tx.export(k)).await?;
    let image = image.ok_or(CommandError::NoSuchKey)?;
    if nx && on.kind_of(to).await?.is_some() {
        return Ok(Reply::Int(0));
    }
    // Removed first, so the events come in Redis's order (the hold is atomic).
    on.key(from, |tx, k| {
        tx.remove(k);
        tx.notify(notify::GENERIC, "rename_from", k);
        Ok(())
    })
    .await?;
    on.key(to, move |tx, k| {
        tx.import(k, &image)?;
        tx.notify(notify::GENERIC, "rename_to", k);
        Ok(())
    })
    .await?;
    Ok(if nx { Reply::Int(1) } else { Reply::Ok })
}

/// COPY across shards: the source's image, written under the destination's name on
/// its shard (in database `DB` if given), in one commit.
async fn copy(on: &mut On<'_>, args: &[Bytes]) -> Result<Reply> {
    // The options are read on the source's shard, which knows the database count.
    let given = args.to_vec();
    let ((dst_db, replace), image) = on
        .key(&args[1], move |tx, k| {
            let options = keys::copy_options(&given, tx.db, tx.live().databases)?;
            Ok((options, tx.export(k)?))
        })
        .await?;
    let Some(image) = image else {
        return Ok(Reply::Int(0));
    };
    let shard = on.shard(&args[2]);
    let dst = args[2].clone();
    let copied = on
        .held
        .call(shard, dst_db, move |tx| {
            if !replace && tx.get(&dst)?.is_some() {
                return Ok(false);
            }
            tx.import(&dst, &image)?;
            tx.notify(notify::GENERIC, "copy_to", &dst);
            Ok(true)
        })
        .await?;
    Ok(Reply::Int(copied as i64))
}

/// MSETNX across shards: no key exists on any shard, then every pair is written.
async fn msetnx(on: &mut On<'_>, args: &[Bytes]) -> Result<Reply> {
    let mut per_shard: Vec<Vec<(Bytes, Bytes)>> = vec![Vec::new(); on.shards];
    for pair in args[1..].chunks_exact(2) {
        per_shard[on.shard(&pair[0])].push((pair[0].clone(), pair[1].clone()));
    }
    let db = on.db;
    for (s, pairs) in per_shard.iter().enumerate().filter(|(_, p)| !p.is_empty()) {
        let keys: Vec<Bytes> = pairs.iter().map(|(k, _)| k.clone()).collect();
        let any = on
            .held
            .call(s, db, move |tx| {
                for k in &keys {
                    if tx.get(k)?.is_some() {
                        return Ok(true);
                    }
                }
                Ok(false)
            })
            .await?;
        if any {
            return Ok(Reply::Int(0));
        }
    }
    for (s, pairs) in per_shard.into_iter().enumerate() {
        if pairs.is_empty() {
            continue;
        }
        on.held
            .call(s, db, move |tx| {
                for (k, v) in &pairs {
                    tx.put(k, ValueType::String, 0, v);
                    tx.notify(notify::STRING, "set", k);
                }
                Ok(())
            })
            .await?;
    }
    Ok(Reply::Int(1))
}

/// `(keys, expires)` per database, summed over every shard. A shard that does not
/// answer in time counts nothing: INFO still answers while a shard is stalled.
async fn keyspace(session: &Session) -> Result<Vec<(i64, i64)>> {
    let mut counts = vec![(0i64, 0i64); session.ctx.live.databases as usize];
    for part in session.ctx.backend.each(0, keys::keyspace).await {
        let Ok(part) = part else { continue };
        for (db, (k, e)) in part.into_iter().enumerate() {
            counts[db].0 += k;
            counts[db].1 += e;
        }
    }
    Ok(counts)
}

const MEMORY_HELP: &[&str] = &[
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
];

/// MEMORY USAGE | STATS | DOCTOR | MALLOC-STATS | PURGE | HELP. USAGE runs on the
/// key's shard ([`keys::memory_usage`]); the others answer from the server's figures:
/// the process's resident memory, RocksDB's memtables, block cache and SST files.
async fn memory(session: &mut Session, args: &[Bytes]) -> Result<Reply> {
    let spec = crate::commands::lookup(b"memory").map(|c| c.spec);
    let Some(sub) = spec.and_then(|s| s.subcommand(&args[1])) else {
        let name = String::from_utf8_lossy(&args[1]);
        return Err(CommandError::unknown_subcommand(&name, "MEMORY"));
    };
    if !sub.arity_ok(args.len()) {
        return Err(CommandError::arity(sub.name));
    }
    let e = session.ctx.backend.engine_stats();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    let rss = crate::metrics::snapshot::rss_bytes();
    match sub.name {
        "memory|help" => Ok(Reply::Array(
            MEMORY_HELP
                .iter()
                .map(|l| Reply::Status((*l).into()))
                .collect(),
        )),
        "memory|usage" => {
            let mut samples = 5u64;
            let mut j = 3;
            while j < args.len() {
                if is(&args[j], "samples") && j + 1 < args.len() {
                    let n = crate::commands::arg_i64(&args[j + 1])?;
                    if n < 0 {
                        return Err(CommandError::Syntax);
                    }
                    samples = n as u64;
                    j += 2;
                } else {
                    return Err(CommandError::Syntax);
                }
            }
            let key = args[2].clone();
            let shard = shard_of(key_hash(&key), session.ctx.backend.shards());
            let usage = session
                .ctx
                .backend
                .atomic(shard, session.db, move |tx| {
                    keys::memory_usage(tx, &key, samples)
                })
                .await?;
            Ok(usage.map_or(Reply::Nil, |n| Reply::Int(n as i64)))
        }
        "memory|stats" => {
            let counts = keyspace(session).await?;
            let keys: i64 = counts.iter().map(|c| c.0).sum();
            let dataset = load(&e.live_sst_bytes) + load(&e.memtable_bytes);
            let int = |n: u64| Reply::Int(n as i64);
            let clients = session
                .ctx
                .clients
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .len();
            let mut fields = vec![
                ("total.allocated", int(rss)),
                ("rocksdb.memtables", int(load(&e.memtable_bytes))),
                ("rocksdb.block-cache", int(load(&e.block_cache_bytes))),
                ("rocksdb.live-sst-files", int(load(&e.live_sst_bytes))),
                ("clients.normal", int(clients as u64)),
                ("keys.count", Reply::Int(keys)),
                ("keys.bytes-per-key", int(dataset / keys.max(1) as u64)),
                ("dataset.bytes", int(dataset)),
            ];
            let mut out: Vec<(Reply, Reply)> = fields
                .drain(..)
                .map(|(k, v)| (Reply::bulk(k.as_bytes()), v))
                .collect();
            for (db, (k, x)) in counts.iter().enumerate().filter(|(_, c)| c.0 > 0) {
                let inner = vec![
                    (Reply::bulk(b"keys"), Reply::Int(*k)),
                    (Reply::bulk(b"expires"), Reply::Int(*x)),
                ];
                out.push((
                    Reply::bulk(format!("db.{db}").as_bytes()),
                    Reply::Map(inner),
                ));
            }
            Ok(Reply::Map(out))
        }
        "memory|doctor" => {
            let stalled = load(&e.write_stopped) != 0 || load(&e.delayed_write_rate) != 0;
            let report = if stalled {
                format!(
                    "RocksDB is stalling writes ({} bytes of compaction pending, {} files in \
                     level 0): memtables hold {} bytes until flushes catch up.",
                    load(&e.pending_compaction_bytes),
                    load(&e.l0_files),
                    load(&e.memtable_bytes)
                )
            } else {
                format!(
                    "No memory problems found. The process holds {rss} bytes: memtables {} \
                     bytes, block cache {} bytes; the data takes {} bytes of SST files.",
                    load(&e.memtable_bytes),
                    load(&e.block_cache_bytes),
                    load(&e.live_sst_bytes)
                )
            };
            Ok(Reply::Verbatim(report))
        }
        "memory|malloc-stats" => Ok(Reply::Verbatim(
            "Stats not supported for the current allocator".into(),
        )),
        "memory|purge" => {
            // mimalloc returns the memory it no longer uses to the system.
            unsafe { libmimalloc_sys::mi_collect(true) };
            Ok(Reply::Ok)
        }
        other => Err(CommandError::unknown_subcommand(other, "MEMORY")),
    }
}

fn shutdown(session: &mut Session, args: &[Bytes]) -> Option<Reply> {
    for a in &args[1..] {
        if is(a, "abort") {
            return Some(Reply::error(text::NO_SHUTDOWN));
        }
        if !["nosave", "save", "now", "force"].iter().any(|k| is(a, k)) {
            return Some(CommandError::Syntax.into());
        }
    }
    tracing::info!(target: "shardis::network", client = session.info.id, "SHUTDOWN requested");
    // A running script stops at its next check rather than hold the shutdown.
    session.ctx.scripts.shut_down();
    session.ctx.shutdown.notify_one();
    session.closing = true;
    None
}

/// LMOVE / RPOPLPUSH across shards: pop on the source's shard, push on the destination's.
async fn lmove(on: &mut On<'_>, args: &[Bytes]) -> Result<Reply> {
    let (from_left, to_left) = if is(&args[0], "rpoplpush") {
        (false, true)
    } else {
        (lists::side(&args[3])?, lists::side(&args[4])?)
    };
    let (src, dst) = (&args[1], &args[2]);
    let is_list =
        |tx: &mut crate::storage::Tx<'_>, k: &[u8]| Ok(tx.meta(k, ValueType::List)?.is_some());
    if !on.key(src, is_list).await? {
        return Ok(Reply::Nil);
    }
    on.key(dst, is_list).await?;
    let (popped, emptied) = on
        .key(src, move |tx, k| {
            let popped = lists::pop_elements(tx, k, 1, from_left)?;
            Ok((popped, tx.meta(k, ValueType::List)?.is_none()))
        })
        .await?;
    let Some(element) = popped.and_then(|v| v.into_iter().next()) else {
        return Ok(Reply::Nil);
    };
    let pushed = [element.clone()];
    let src = src.clone();
    on.key(dst, move |tx, k| {
        lists::push_elements(tx, k, &pushed, to_left)?;
        // Redis's order: the push's event, then the pop's (and `del` if it emptied).
        // An event is only a name and a key: the destination's shard can publish both.
        lists::notify_push(tx, k, to_left);
        lists::notify_pop(tx, &src, from_left, emptied);
        Ok(())
    })
    .await?;
    Ok(Reply::Bulk(element))
}

/// SMOVE across shards: remove on the source's shard, add on the destination's.
async fn smove(on: &mut On<'_>, args: &[Bytes]) -> Result<Reply> {
    let (src, dst) = (&args[1], &args[2]);
    let member = [args[3].clone()];
    // Redis: a missing source is 0 before any type check of the destination.
    let Some(src_kind) = on.kind_of(src).await? else {
        return Ok(Reply::Int(0));
    };
    let dst_kind = on.kind_of(dst).await?;
    if src_kind != ValueType::Set || dst_kind.is_some_and(|k| k != ValueType::Set) {
        return Err(CommandError::WrongType);
    }
    let m = member.clone();
    let removed = on
        .key(src, move |tx, k| sets::remove_members(tx, k, &m))
        .await?;
    if removed == 0 {
        return Ok(Reply::Int(0));
    }
    on.key(dst, move |tx, k| sets::add(tx, k, &member)).await?;
    Ok(Reply::Int(1))
}

/// LMPOP / ZMPOP: pops from the first key that has elements, holding every key's shard.
async fn multi_pop(on: &mut On<'_>, args: &[Bytes]) -> Result<Reply> {
    let zset = is(&args[0], "zmpop");
    let n = algebra::parse_numkeys(&args[1], "lmpop", args.len() - 2)?;
    let keys = &args[2..2 + n];
    // LEFT or MIN is `first`; the other end, `last`.
    let (first, count) = blocking::parse_mpop_tail(&args[2 + n..], zset)?;
    let last = !first;
    for key in keys {
        let items = if zset {
            let popped = on
                .key(key, move |tx, k| zsets::pop_and_notify(tx, k, count, last))
                .await?
                .unwrap_or_default();
            let pairs = popped
                .into_iter()
                .map(|(s, m)| Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]));
            pairs.collect::<Vec<_>>()
        } else {
            let popped = on
                .key(key, move |tx, k| lists::pop_and_notify(tx, k, count, first))
                .await?
                .unwrap_or_default();
            popped.into_iter().map(Reply::Bulk).collect()
        };
        if items.is_empty() {
            continue;
        }
        return Ok(Reply::Array(vec![
            Reply::Bulk(key.clone()),
            Reply::Array(items),
        ]));
    }
    Ok(Reply::NilArray)
}

/// Reads every source key (type-checked as a set, or as a set or sorted set).
async fn gather(on: &mut On<'_>, keys: &[Bytes], zset_ok: bool) -> Result<Vec<Source>> {
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let source = on.key(key, algebra::read_source).await?;
        match &source {
            Source::Other => return Err(CommandError::WrongType),
            Source::ZSet(_) if !zset_ok => return Err(CommandError::WrongType),
            _ => out.push(source),
        }
    }
    Ok(out)
}

/// The reply of SINTERCARD / ZINTERCARD: the size, capped by LIMIT (0: no cap).
fn cardinality(len: usize, limit: usize) -> Reply {
    let n = if limit == 0 { len } else { len.min(limit) };
    Reply::Int(n as i64)
}

/// SINTER SUNION SDIFF, SINTERSTORE SUNIONSTORE SDIFFSTORE, SINTERCARD.
async fn set_algebra(on: &mut On<'_>, args: &[Bytes]) -> Result<Reply> {
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
    let sources = gather(on, &keys, false).await?;
    let result = algebra::set_op(op, &sources);
    if let Some(limit) = limit {
        return Ok(cardinality(result.len(), limit));
    }
    match dest {
        Some(dest) => {
            let event = match op {
                "inter" => "sinterstore",
                "union" => "sunionstore",
                _ => "sdiffstore",
            };
            let size = on
                .key(&dest, move |tx, k| {
                    let n = sets::store(tx, k, &result)?;
                    if n > 0 {
                        tx.notify(notify::SET, event, k);
                    }
                    Ok(n)
                })
                .await?;
            Ok(Reply::Int(size))
        }
        None => Ok(Reply::Set(result.into_iter().map(Reply::Bulk).collect())),
    }
}

/// ZUNION ZINTER ZDIFF, their STORE forms, ZINTERCARD.
async fn zset_algebra(on: &mut On<'_>, args: &[Bytes]) -> Result<Reply> {
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
    let sources = gather(on, &keys, true).await?;
    let result = algebra::zset_op(op, &sources, &options);
    if let Some(limit) = limit {
        return Ok(cardinality(result.len(), limit));
    }
    if let Some(dest) = dest {
        let entries: Vec<zsets::Entry> = result.into_iter().map(|(m, s)| (s, m)).collect();
        let event = match op {
            "union" => "zunionstore",
            "inter" => "zinterstore",
            _ => "zdiffstore",
        };
        let size = on
            .key(&dest, move |tx, k| {
                let n = zsets::store_entries(tx, k, &entries)?;
                if n > 0 {
                    tx.notify(notify::ZSET, event, k);
                }
                Ok(n)
            })
            .await?;
        return Ok(Reply::Int(size));
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
async fn zrangestore(on: &mut On<'_>, args: &[Bytes]) -> Result<Reply> {
    let query = zsets::store_range_query(args)?;
    let (dst, src) = (&args[1], &args[2]);
    let entries = on
        .key(src, move |tx, k| zsets::select_range(tx, k, &query))
        .await?;
    let size = on
        .key(dst, move |tx, k| {
            let n = zsets::store_entries(tx, k, &entries)?;
            if n > 0 {
                tx.notify(notify::ZSET, "zrangestore", k);
            }
            Ok(n)
        })
        .await?;
    Ok(Reply::Int(size))
}

/// BITOP across shards: every source read on its shard, the result stored on the
/// destination's, in one commit.
async fn bitop(on: &mut On<'_>, args: &[Bytes]) -> Result<Reply> {
    let op = bitmaps::bitop_parse(args)?;
    let mut sources = Vec::with_capacity(args.len() - 3);
    for key in &args[3..] {
        let value = on
            .key(key, |tx, k| Ok(tx.get_string(k)?.map(|v| v.payload)))
            .await?;
        sources.push(value.unwrap_or_default());
    }
    let result = bitmaps::bitop(op, &sources);
    on.key(&args[2], move |tx, k| bitmaps::bitop_store(tx, k, &result))
        .await
        .map(Reply::Int)
}

/// SORT whose keys or pattern keys are on several shards: the elements are read on
/// the key's shard, each shard's pattern keys in one call, the result stored on the
/// destination's shard.
async fn sort_across(on: &mut On<'_>, args: &[Bytes]) -> Result<Reply> {
    let spec = sort::parse(args, is(&args[0], "sort_ro"))?;
    let loaded = on
        .key(&args[1], move |tx, k| sort::load(tx, k, spec))
        .await?;
    let by = fetch_everywhere(on, sort::by_lookups(&loaded)).await?;
    let (spec, chosen) = sort::order(loaded, &by)?;
    let got = fetch_everywhere(on, sort::get_lookups(&spec, &chosen)).await?;
    let values = sort::output(&spec, chosen, got);
    match spec.store {
        Some(dest) => on.key(&dest, move |tx, k| sort::store(tx, k, values)).await,
        None => Ok(sort::reply(values)),
    }
}

/// Reads SORT's pattern keys: one call per shard for its keys, results in order.
async fn fetch_everywhere(
    on: &mut On<'_>,
    lookups: Vec<sort::Lookup>,
) -> Result<Vec<Option<Bytes>>> {
    let mut per_shard: Vec<Vec<(usize, sort::Lookup)>> = vec![Vec::new(); on.shards];
    let n = lookups.len();
    for (i, l) in lookups.into_iter().enumerate() {
        per_shard[on.shard(&l.0)].push((i, l));
    }
    let mut out = vec![None; n];
    for (shard, items) in per_shard
        .into_iter()
        .enumerate()
        .filter(|(_, v)| !v.is_empty())
    {
        let (at, keys): (Vec<usize>, Vec<sort::Lookup>) = items.into_iter().unzip();
        let values = on
            .held
            .call(shard, on.db, move |tx| sort::fetch(tx, &keys))
            .await?;
        for (i, v) in at.into_iter().zip(values) {
            out[i] = v;
        }
    }
    Ok(out)
}

/// GEORADIUS ... STORE or GEOSEARCHSTORE with the destination on another shard.
async fn geo_store(on: &mut On<'_>, args: &[Bytes]) -> Result<Reply> {
    let src = if is(&args[0], "geosearchstore") {
        &args[2]
    } else {
        &args[1]
    };
    let given = args.to_vec();
    match on.key(src, move |tx, _| geo::search(tx, &given)).await? {
        geo::Found::Reply(r) => Ok(r),
        geo::Found::Store {
            dest,
            entries,
            event,
        } => {
            on.key(&dest, move |tx, k| geo::store(tx, k, &entries, event))
                .await
        }
    }
}

/// PFCOUNT or PFMERGE over keys of several shards: each key's registers merged in
/// argument order, on the network side; PFMERGE writes on the destination's shard.
async fn hll_across(on: &mut On<'_>, args: &[Bytes]) -> Result<Reply> {
    let mut regs = crate::hll::Registers::new();
    for key in &args[1..] {
        let mut mine = std::mem::take(&mut regs);
        regs = on
            .key(key, move |tx, k| {
                hyperloglog::merge_into(tx, k, &mut mine)?;
                Ok(mine)
            })
            .await?;
    }
    if is(&args[0], "pfcount") {
        return Ok(Reply::Int(regs.count()));
    }
    on.key(&args[1], move |tx, k| {
        hyperloglog::merge_store(tx, k, &regs)
    })
    .await
}

/// SWAPDB: every shard swaps its records of the two databases, in one commit.
async fn swapdb(on: &mut On<'_>, args: &[Bytes]) -> Result<Reply> {
    let given = args.to_vec();
    let (a, b) = on
        .held
        .call(0, on.db, move |tx| {
            keys::swapdb_indexes(&given, tx.live().databases)
        })
        .await?;
    for shard in 0..on.shards {
        on.held
            .call(shard, on.db, move |tx| tx.swap_databases(a, b))
            .await?;
    }
    Ok(Reply::Ok)
}

/// LCS of two keys on different shards.
async fn lcs(on: &mut On<'_>, args: &[Bytes]) -> Result<Reply> {
    let a = on.key(&args[1], bitmaps::lcs_operand).await?;
    let (b, limit) = on
        .key(&args[2], |tx, k| {
            Ok((bitmaps::lcs_operand(tx, k)?, tx.live().proto_max_bulk_len()))
        })
        .await?;
    bitmaps::lcs(&a, &b, bitmaps::lcs_options(args)?, limit)
}

/// DEBUG COMPACT | RECORDS | STORAGE-STALL ms [shard] | STORAGE-ERROR n [shard] |
/// STORAGE-PANIC [shard]; refused unless the server runs with --enable-debug-command yes.
async fn debug(session: &mut Session, args: Vec<Bytes>) -> Reply {
    if !session.ctx.live.debug_enabled {
        return Reply::error(text::DEBUG_NOT_ALLOWED);
    }
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let number = |i: usize| -> Result<Option<u64>> {
        match args.get(i) {
            None => Ok(None),
            Some(a) => std::str::from_utf8(a)
                .ok()
                .and_then(|s| s.parse().ok())
                .map(Some)
                .ok_or(CommandError::NotInteger),
        }
    };
    let op = match sub.as_str() {
        "compact" | "records" => {
            let compact = sub == "compact";
            let parts = session
                .ctx
                .backend
                .each(0, move |tx| {
                    if compact {
                        tx.compact_own_ranges();
                        Ok(0)
                    } else {
                        tx.count_own_records()
                    }
                })
                .await;
            let mut total = 0;
            for part in parts {
                match part {
                    Ok(n) => total += n as i64,
                    Err(e) => return e.into(),
                }
            }
            return Reply::Int(total);
        }
        "storage-stall" | "storage-error" if args.len() >= 3 && args.len() <= 4 => {
            let n = match number(2) {
                Ok(Some(n)) => n,
                Ok(None) => return CommandError::Syntax.into(),
                Err(e) => return e.into(),
            };
            if sub == "storage-stall" {
                DebugOp::Stall(std::time::Duration::from_millis(n))
            } else {
                DebugOp::FailWrites(n.min(u32::MAX as u64) as u32)
            }
        }
        "storage-panic" if args.len() <= 3 => DebugOp::Panic,
        _ => return CommandError::debug_subcommand(&String::from_utf8_lossy(&args[1])).into(),
    };
    let shard_arg = if op == DebugOp::Panic { 2 } else { 3 };
    let shard = match number(shard_arg) {
        Ok(s) => s.map(|s| s as usize),
        Err(e) => return e.into(),
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
    ctx: &crate::state::ServerCtx,
    path: std::path::PathBuf,
) -> std::result::Result<(), String> {
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
            return CommandError::Syntax.into();
        }
        return match checkpoint(&ctx, path).await {
            Ok(()) => Reply::Ok,
            Err(e) => CommandError::checkpoint_failed(&e).into(),
        };
    }
    if args.len() > 2 || (args.len() == 2 && !is(&args[1], "schedule")) {
        return CommandError::Syntax.into();
    }
    if ctx.bgsave_running.swap(true, Ordering::SeqCst) {
        return Reply::error(text::BGSAVE_RUNNING);
    }
    tokio::spawn(async move {
        if let Err(e) = checkpoint(&ctx, path).await {
            tracing::error!(target: "shardis::storage", "BGSAVE failed: {e}");
        }
        ctx.bgsave_running.store(false, Ordering::SeqCst);
    });
    Reply::Status("Background saving started".into())
}
