//! EVAL, EVALSHA, FCALL and their read-only forms, SCRIPT and FUNCTION: where a
//! script runs, and the cache and libraries it runs from.
//!
//! A script's declared keys pick its shards (see `crate::script` for the two ways it
//! runs): on one shard it is an isolated request in that shard's part of the
//! pipeline ([`route`], `Shard::run_isolated`), so consecutive scripts travel and
//! commit together like any other commands; otherwise a script
//! worker thread (`ServerCtx::script_jobs`) holds its shards, ascending, and runs
//! each `redis.call` as a typed step on its shard ([`HeldCaller`]). A script found to
//! touch a key outside its shards is rolled back and run again holding every shard,
//! and from then on holds every shard at once.
//!
//! Function libraries live in RocksDB (`storage::encoding::system_key`, written with
//! one shard's commit) and are loaded again at start ([`load_saved_libraries`]);
//! the EVAL cache is memory only, as in Redis.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::coordinator::{self, On};
use super::transaction;
use crate::commands::table::{Coord, Kind};
use crate::commands::{is, Command, CommandError};
use crate::error::{script_text, text};
use crate::protocol::Reply;
use crate::rdb;
use crate::script::{self, Call, Caller, Outcome, Stop, Target};
use crate::state::scripts::{Cached, Footprint, Library, ScriptFlags};
use crate::state::{Scripts, ServerCtx, Session};
use crate::storage::encoding::{key_hash, shard_of};
use crate::storage::{Held, IsolatedFn, ShardReq, Tx};

type Result<T> = std::result::Result<T, CommandError>;

/// The prefix of a library's record name in storage.
const LIBRARY_RECORD: &[u8] = b"function:";

/// EVAL / EVALSHA / EVAL_RO / EVALSHA_RO / FCALL / FCALL_RO.
pub(super) async fn script(session: &mut Session, cmd: &Command, args: &[Bytes]) -> Result<Reply> {
    let call = parse(session, cmd, args)?;
    run(session, call).await
}

/// Parses a script call: its target, keys and arguments, and whether it may write.
fn parse(session: &Session, cmd: &Command, args: &[Bytes]) -> Result<Call> {
    let name = cmd.spec.name;
    let scripts = &session.ctx.scripts;
    if name.starts_with("fcall") {
        let fname = String::from_utf8_lossy(&args[1]);
        if scripts.libraries().function(&fname).is_none() {
            return Err(CommandError::other(text::FUNCTION_NOT_FOUND));
        }
    }
    let numkeys = crate::commands::arg_i64(&args[2])?;
    if numkeys > args.len() as i64 - 3 {
        return Err(CommandError::other(text::NUMKEYS_TOO_MANY));
    }
    if numkeys < 0 {
        return Err(CommandError::other(text::NUMKEYS_NEGATIVE));
    }
    let keys = args[3..3 + numkeys as usize].to_vec();
    let argv = args[3 + numkeys as usize..].to_vec();
    let ro_command = name.ends_with("_ro");
    let (target, flags) = if name.starts_with("fcall") {
        let fname = String::from_utf8_lossy(&args[1]);
        let Some((_, info)) = scripts.libraries().function(&fname) else {
            return Err(CommandError::other(text::FUNCTION_NOT_FOUND));
        };
        if ro_command && !info.flags.no_writes {
            return Err(CommandError::other(text::FUNCTION_RO_WITH_WRITES));
        }
        (Target::Function { name: fname.into() }, info.flags)
    } else {
        let cached = if name.starts_with("evalsha") {
            cached_by_sha(scripts, &args[1]).ok_or(CommandError::other(text::NOSCRIPT))?
        } else {
            cache_body(scripts, &args[1])?
        };
        let target = Target::Eval {
            sha: cached.sha,
            body: cached.body,
        };
        (target, cached.flags)
    };
    Ok(Call {
        target,
        keys,
        argv,
        db: session.db,
        read_only: ro_command || flags.no_writes,
        shards: Vec::new(),
        scripts: scripts.clone(),
        busy_ms: session.ctx.live.busy_reply_ms(),
        pubsub: (session.ctx.pubsub.clone(), session.ctx.pubsub_limits()),
    })
}

/// How the connection runs a script command.
pub(super) enum Routed {
    /// In the pipeline, on one shard: the request to queue there, and the call, to run
    /// again holding every shard if it touches another shard's key.
    Shard(usize, ShardReq, Arc<Call>),
    /// Answered already (it did not parse).
    Reply(Reply),
    /// On a script worker, holding several shards: a barrier.
    Barrier,
}

/// Parses a script command and decides where it runs: on the one shard of its
/// declared keys, as an isolated request in the pipeline (group-committed with the
/// shard's other work), or on a script worker.
pub(super) fn route(session: &Session, cmd: &Command, args: &[Bytes]) -> Routed {
    let mut call = match parse(session, cmd, args) {
        Ok(call) => call,
        Err(e) => return Routed::Reply(e.into()),
    };
    let n = session.ctx.backend.shards();
    let Some(shard) = one_shard(&call, n) else {
        return Routed::Barrier;
    };
    call.shards = vec![shard];
    let call = Arc::new(call);
    let run = call.clone();
    let isolated: IsolatedFn = Arc::new(move |tx| {
        let mut caller = script::OnShard {
            tx,
            shard,
            shards: n,
        };
        match script::run(&run, &mut caller) {
            Outcome::Done(reply) => Ok(reply),
            Outcome::Undeclared => Err(CommandError::Undeclared),
            Outcome::Aborted(e) => Err(e),
        }
    });
    let req = ShardReq {
        db: call.db,
        exec: isolated_only,
        isolated: Some(isolated),
        args: args.to_vec(),
        client: 0,
    };
    Routed::Shard(shard, req, call)
}

/// The `exec` of a script's request, which runs its `isolated` closure instead.
fn isolated_only(_: &mut Tx<'_>, _: &[Bytes]) -> Result<Reply> {
    Err(CommandError::other(text::NOT_A_BARRIER))
}

/// The one shard a call's declared keys live on, if the script is known to touch
/// nothing else. A script not seen before runs on a worker first: if it touches
/// another shard there, its rerun comes before anything pipelined after it. (A
/// known script whose data leads it elsewhere is rerun after its batch, the one
/// case where commands pipelined behind it on other shards may run first.)
fn one_shard(call: &Call, n: usize) -> Option<usize> {
    if call.scripts.footprint(call.name()) != Some(Footprint::Declared) {
        return None;
    }
    let mut shards = call.keys.iter().map(|k| shard_of(key_hash(k), n));
    match shards.next() {
        Some(first) => shards.all(|s| s == first).then_some(first),
        None => (n == 1).then_some(0),
    }
}

/// Runs a parsed call on a script worker holding its keys' shards (every shard if
/// it is known to touch undeclared keys).
async fn run(session: &mut Session, mut call: Call) -> Result<Reply> {
    let ctx = &session.ctx;
    let n = ctx.backend.shards();
    let footprint = ctx.scripts.footprint(call.name());
    let mut shards: Vec<usize> = if footprint == Some(Footprint::Undeclared) {
        (0..n).collect()
    } else {
        call.keys.iter().map(|k| shard_of(key_hash(k), n)).collect()
    };
    shards.sort_unstable();
    shards.dedup();
    call.shards = shards;
    let call = Arc::new(call);
    match on_worker(ctx, call.clone()).await? {
        Some(reply) => {
            if footprint.is_none() {
                ctx.scripts.set_footprint(call.name(), Footprint::Declared);
            }
            Ok(reply)
        }
        None => everywhere(ctx, &call).await,
    }
}

/// Runs again, holding every shard, a script that touched a key outside the shards
/// it held (its first run was dropped), and remembers it as such a script.
pub(super) async fn everywhere(ctx: &ServerCtx, call: &Call) -> Result<Reply> {
    ctx.scripts
        .set_footprint(call.name(), Footprint::Undeclared);
    let mut call = call.clone();
    call.shards = (0..ctx.backend.shards()).collect();
    on_worker(ctx, Arc::new(call))
        .await?
        .ok_or(CommandError::Undeclared)
}

/// A script on a worker thread holding `call.shards`; `Ok(None)` if it needed a
/// shard it does not hold (nothing of it was written).
async fn on_worker(ctx: &ServerCtx, call: Arc<Call>) -> Result<Option<Reply>> {
    let (done, answer) = oneshot::channel();
    let backend = ctx.backend.clone();
    let handle = tokio::runtime::Handle::current();
    let job = Box::new(move || {
        let result = (|| {
            let mut held = handle.block_on(backend.hold(&call.shards))?;
            let mut caller = HeldCaller {
                held: &mut held,
                handle: &handle,
                shards: backend.shards(),
                holding: &call.shards,
            };
            match script::run(&call, &mut caller) {
                Outcome::Done(reply) => {
                    handle.block_on(held.commit())?;
                    Ok(Some(reply))
                }
                Outcome::Undeclared => Ok(None),
                Outcome::Aborted(e) => Err(e),
            }
        })();
        let _ = done.send(result);
    });
    ctx.script_jobs
        .send(job)
        .map_err(|_| CommandError::Unavailable)?;
    answer.await.map_err(|_| CommandError::Unavailable)?
}

/// A script inside EXEC: it runs on a worker thread against the transaction's
/// hold (every shard), which it hands back with the script's reply. `None` if the
/// worker is gone.
pub(super) async fn in_transaction(
    session: &Session,
    mut held: Held,
    args: &[Bytes],
) -> (Option<Held>, Result<Reply>) {
    let Some(cmd) = crate::commands::lookup(&args[0]) else {
        return (Some(held), Err(CommandError::other(text::NOT_A_BARRIER)));
    };
    let mut call = match parse(session, cmd, args) {
        Ok(call) => call,
        Err(e) => return (Some(held), Err(e)),
    };
    let n = session.ctx.backend.shards();
    call.shards = (0..n).collect();
    let (done, answer) = oneshot::channel();
    let handle = tokio::runtime::Handle::current();
    let job = Box::new(move || {
        let mut caller = HeldCaller {
            held: &mut held,
            handle: &handle,
            shards: n,
            holding: &call.shards,
        };
        let reply = match script::run(&call, &mut caller) {
            Outcome::Done(reply) => Ok(reply),
            Outcome::Undeclared => Err(CommandError::Undeclared),
            Outcome::Aborted(e) => Err(e),
        };
        let _ = done.send((held, reply));
    });
    if session.ctx.script_jobs.send(job).is_err() {
        return (None, Err(CommandError::Unavailable));
    }
    match answer.await {
        Ok((held, reply)) => (Some(held), reply),
        Err(_) => (None, Err(CommandError::Unavailable)),
    }
}

/// The cached script of an EVALSHA's SHA1 (in any letter case).
fn cached_by_sha(scripts: &Scripts, sha: &[u8]) -> Option<Cached> {
    match std::str::from_utf8(sha) {
        Ok(s) if !s.bytes().any(|b| b.is_ascii_uppercase()) => scripts.script(s),
        _ => scripts.script(&String::from_utf8_lossy(sha).to_ascii_lowercase()),
    }
}

/// An EVAL body, cached under its SHA1 (with its shebang's flags) if it was not;
/// `Err` if its shebang is wrong.
fn cache_body(scripts: &Scripts, body: &[u8]) -> Result<Cached> {
    let sha = script::sha1_hex(body);
    if let Some(cached) = scripts.script(&sha) {
        return Ok(cached);
    }
    let body: Arc<str> = String::from_utf8_lossy(body).into();
    let flags = script::parse_shebang(&body)
        .map_err(CommandError::other)?
        .map(|s| s.flags)
        .unwrap_or_default();
    let cached = Cached {
        sha: sha.into(),
        body,
        flags,
    };
    scripts.cache(cached.clone());
    Ok(cached)
}

/// Runs a script's commands on shards a worker holds, each a typed step on its
/// shard, waited for on the worker thread.
struct HeldCaller<'a> {
    held: &'a mut Held,
    handle: &'a tokio::runtime::Handle,
    shards: usize,
    holding: &'a [usize],
}

impl Caller for HeldCaller<'_> {
    fn call(
        &mut self,
        db: u8,
        cmd: &'static Command,
        args: Vec<Bytes>,
    ) -> std::result::Result<Reply, Stop> {
        let needed = script::shards_of(cmd, &args, self.shards);
        let held = match &needed {
            Some(s) => s.iter().all(|s| self.holding.contains(s)),
            None => self.holding.len() == self.shards,
        };
        if !held {
            return Err(Stop::Unheld);
        }
        let fatal = |e: CommandError| match e {
            CommandError::Timeout | CommandError::Unavailable | CommandError::Storage(_) => {
                Err(Stop::Fatal(e))
            }
            e => Ok(Reply::from(e)),
        };
        let one =
            |held: &mut Held, shard: usize, exec: crate::storage::ExecFn, args: Vec<Bytes>| {
                self.handle.block_on(held.call(shard, db, move |tx| {
                    Ok(exec(tx, &args).unwrap_or_else(Reply::from))
                }))
            };
        let result = match (cmd.kind, needed.as_deref()) {
            (Kind::Single(e) | Kind::Scan(e), Some([shard])) => one(self.held, *shard, e, args),
            (Kind::Coordinated(_, Some(e)), Some([shard])) => one(self.held, *shard, e, args),
            (Kind::Multi(exec, merge), _) => {
                let parts = transaction::split_parts(cmd, exec, args, self.shards);
                let calls: Vec<_> = parts
                    .iter()
                    .map(|p| {
                        let args = p.args.clone();
                        (p.shard, move |tx: &mut crate::storage::Tx<'_>| {
                            Ok(exec(tx, &args).unwrap_or_else(Reply::from))
                        })
                    })
                    .collect();
                match self.handle.block_on(self.held.call_each(db, calls)) {
                    Ok(replies) => {
                        let replies: std::result::Result<Vec<Reply>, CommandError> =
                            replies.into_iter().collect();
                        replies.map(|r| transaction::merge_parts(&parts, merge, r))
                    }
                    Err(e) => Err(e),
                }
            }
            (Kind::All(exec, merge), _) => {
                let calls: Vec<_> = (0..self.shards)
                    .map(|s| {
                        let args = args.clone();
                        (s, move |tx: &mut crate::storage::Tx<'_>| {
                            Ok(exec(tx, &args).unwrap_or_else(Reply::from))
                        })
                    })
                    .collect();
                match self.handle.block_on(self.held.call_each(db, calls)) {
                    Ok(replies) => replies
                        .into_iter()
                        .collect::<std::result::Result<Vec<Reply>, CommandError>>()
                        .map(|r| super::connection::combine(merge, r, &[], 0)),
                    Err(e) => Err(e),
                }
            }
            (Kind::Coordinated(coord, _), _) => {
                let mut on = On {
                    held: self.held,
                    db,
                    shards: self.shards,
                };
                self.handle
                    .block_on(coordinator::step(&mut on, coord, &args))
            }
            (Kind::Single(e) | Kind::Scan(e), _) => {
                // A key-less form cannot happen (arity is checked); run where it says.
                let shard = shard_of(key_hash(cmd.route_key(&args)), self.shards);
                one(self.held, shard, e, args)
            }
            (Kind::Local(_) | Kind::Barrier(_), _) => {
                Ok(CommandError::other(text::SCRIPT_COMMAND_NOT_ALLOWED).into())
            }
        };
        result.or_else(fatal)
    }
}

/// The `-BUSY` reply for a command that needs a shard a busy script holds.
pub(super) fn busy(ctx: &ServerCtx, cmd: &Command, args: &[Bytes]) -> Option<Reply> {
    let n = ctx.backend.shards();
    let shards = match cmd.kind {
        Kind::Coordinated(
            Coord::Info | Coord::Memory | Coord::Save | Coord::Debug | Coord::Exec,
            _,
        ) => None,
        _ => script::shards_of(cmd, args, n),
    };
    let busy = match shards {
        Some(shards) => shards.iter().find_map(|&s| ctx.scripts.busy_on(s)),
        None => (0..n).find_map(|s| ctx.scripts.busy_on(s)),
    }?;
    Some(Reply::error(if busy.function {
        text::BUSY_FUNCTION
    } else {
        text::BUSY_SCRIPT
    }))
}

/// SCRIPT KILL / FUNCTION KILL: stops the oldest busy script of that kind, unless it
/// has written.
fn kill(ctx: &ServerCtx, function: bool) -> Result<Reply> {
    let Some(busy) = ctx
        .scripts
        .busy_scripts()
        .into_iter()
        .find(|b| b.function == function || !function)
    else {
        return Err(CommandError::other(text::NOT_BUSY));
    };
    if busy.wrote.load(std::sync::atomic::Ordering::Acquire) {
        return Err(CommandError::other(text::UNKILLABLE));
    }
    busy.kill.store(true, std::sync::atomic::Ordering::Release);
    Ok(Reply::Ok)
}

/// Runs `f` on a script worker thread (it compiles or runs Lua) and waits for it.
async fn on_worker_thread<T: Send + 'static>(
    ctx: &ServerCtx,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    let (done, answer) = oneshot::channel();
    ctx.script_jobs
        .send(Box::new(move || {
            let _ = done.send(f());
        }))
        .map_err(|_| CommandError::Unavailable)?;
    answer.await.map_err(|_| CommandError::Unavailable)
}

/// SCRIPT LOAD | EXISTS | FLUSH | KILL | HELP, FUNCTION LOAD | DELETE | FLUSH | LIST |
/// STATS | KILL | DUMP | RESTORE | HELP.
pub(super) async fn admin(session: &mut Session, cmd: &Command, args: &[Bytes]) -> Result<Reply> {
    let Some(sub) = cmd.spec.subcommand(&args[1]) else {
        let sub = String::from_utf8_lossy(&args[1]);
        return Err(CommandError::unknown_subcommand(
            &sub,
            &cmd.spec.name.to_uppercase(),
        ));
    };
    if !sub.arity_ok(args.len()) {
        return Err(CommandError::arity(sub.name));
    }
    let ctx = session.ctx.clone();
    let scripts = &ctx.scripts;
    match sub.name {
        "script|load" => {
            let body = String::from_utf8_lossy(&args[2]).into_owned();
            script::parse_shebang(&body).map_err(CommandError::other)?;
            on_worker_thread(&ctx, move || script::compile_check(&body))
                .await?
                .map_err(CommandError::other)?;
            let cached = cache_body(scripts, &args[2])?;
            Ok(Reply::Bulk(cached.sha.as_bytes().to_vec().into()))
        }
        "script|exists" => Ok(Reply::Array(
            args[2..]
                .iter()
                .map(|a| Reply::Int(cached_by_sha(scripts, a).is_some() as i64))
                .collect(),
        )),
        "script|flush" => {
            flush_mode(&args[2..], text::SCRIPT_FLUSH_OPTION)?;
            scripts.flush_cache();
            Ok(Reply::Ok)
        }
        "script|kill" => kill(&ctx, false),
        "function|kill" => kill(&ctx, true),
        "script|help" => Ok(help("SCRIPT", SCRIPT_HELP)),
        "function|help" => Ok(help("FUNCTION", FUNCTION_HELP)),
        "function|load" => {
            let (replace, code) = match &args[2..] {
                [code] => (false, code),
                [opt, code] if is(opt, "replace") => (true, code),
                _ => return Err(CommandError::Syntax),
            };
            let code = String::from_utf8_lossy(code).into_owned();
            let name = function_load(&ctx, code, replace).await?;
            Ok(Reply::Bulk(name.into()))
        }
        "function|delete" => {
            let name = String::from_utf8_lossy(&args[2]).into_owned();
            if !scripts.libraries().by_name.contains_key(&name) {
                return Err(CommandError::other(text::LIBRARY_NOT_FOUND));
            }
            let record = library_record(&name);
            ctx.backend
                .atomic(0, 0, move |tx| {
                    tx.delete_system(&record);
                    Ok(())
                })
                .await?;
            scripts.change_libraries(|libs| libs.remove(&name));
            Ok(Reply::Ok)
        }
        "function|flush" => {
            flush_mode(&args[2..], text::FUNCTION_FLUSH_OPTION)?;
            let names: Vec<String> = scripts.libraries().by_name.keys().cloned().collect();
            ctx.backend
                .atomic(0, 0, move |tx| {
                    for name in &names {
                        tx.delete_system(&library_record(name));
                    }
                    Ok(())
                })
                .await?;
            scripts.change_libraries(|libs| *libs = Default::default());
            Ok(Reply::Ok)
        }
        "function|list" => function_list(session, &args[2..]),
        "function|stats" => Ok(function_stats(&ctx)),
        "function|dump" => {
            let mut out = Vec::new();
            for lib in scripts.libraries().by_name.values() {
                out.push(rdb::OPCODE_FUNCTION2);
                rdb::put_string(&mut out, lib.code.as_bytes());
            }
            rdb::seal(&mut out);
            Ok(Reply::Bulk(out.into()))
        }
        "function|restore" => function_restore(&ctx, &args[1..]).await,
        other => Err(CommandError::unsupported(
            &other.replace('|', " ").to_uppercase(),
        )),
    }
}

/// The optional ASYNC | SYNC of SCRIPT FLUSH and FUNCTION FLUSH.
fn flush_mode(args: &[Bytes], error: &'static str) -> Result<()> {
    match args {
        [] => Ok(()),
        [m] if is(m, "async") || is(m, "sync") => Ok(()),
        _ => Err(CommandError::other(error)),
    }
}

/// The storage record name of library `name`.
fn library_record(name: &str) -> Vec<u8> {
    let mut k = LIBRARY_RECORD.to_vec();
    k.extend_from_slice(name.as_bytes());
    k
}

/// FUNCTION LOAD: runs the code on a script worker, checks names, stores it, and
/// makes its functions callable.
async fn function_load(ctx: &Arc<ServerCtx>, code: String, replace: bool) -> Result<String> {
    let loaded_code = code.clone();
    let (name, functions) = on_worker_thread(ctx, move || script::load_library(&loaded_code))
        .await?
        .map_err(CommandError::other)?;
    {
        let libs = ctx.scripts.libraries();
        if libs.by_name.contains_key(&name) && !replace {
            return Err(CommandError::other(script_text::library_exists(&name)));
        }
        for f in &functions {
            if let Some(owner) = libs.functions.get(&f.name) {
                if owner.name != name {
                    return Err(CommandError::other(script_text::function_exists(&f.name)));
                }
            }
        }
    }
    let record = library_record(&name);
    let stored = code.clone();
    ctx.backend
        .atomic(0, 0, move |tx| {
            tx.put_system(&record, stored.as_bytes());
            Ok(())
        })
        .await?;
    let lib = Library {
        name: name.clone(),
        code: code.into(),
        functions,
    };
    ctx.scripts.change_libraries(|libs| libs.insert(lib));
    Ok(name)
}

/// What FUNCTION RESTORE does with the libraries there are.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Restore {
    /// Add; a library that exists already is an error (the default).
    Append,
    /// Add, replacing libraries of the same names.
    Replace,
    /// Remove every library first.
    Flush,
}

/// FUNCTION RESTORE payload [FLUSH | APPEND | REPLACE] (`args` from RESTORE on)
async fn function_restore(ctx: &Arc<ServerCtx>, args: &[Bytes]) -> Result<Reply> {
    let (sub, args) = (&args[0], &args[1..]);
    let policy = match args.get(1) {
        None => Restore::Append,
        Some(p) if is(p, "append") => Restore::Append,
        Some(p) if is(p, "replace") => Restore::Replace,
        Some(p) if is(p, "flush") => Restore::Flush,
        Some(_) => return Err(CommandError::other(text::FUNCTION_RESTORE_POLICY)),
    };
    if args.len() > 2 {
        let sub = String::from_utf8_lossy(sub);
        return Err(CommandError::subcommand_arguments(&sub, "FUNCTION"));
    }
    let payload_error = |_| CommandError::other(text::FUNCTION_PAYLOAD);
    let body = rdb::open(&args[0]).map_err(payload_error)?;
    let mut reader = rdb::Reader::new(body);
    let mut codes = Vec::new();
    while !reader.is_empty() {
        match reader.byte().map_err(payload_error)? {
            rdb::OPCODE_FUNCTION2 => {}
            rdb::OPCODE_FUNCTION_PRE_GA => {
                return Err(CommandError::other(text::FUNCTION_PRE_GA_FORMAT))
            }
            _ => return Err(CommandError::other(text::FUNCTION_PAYLOAD_TYPE)),
        }
        let code = reader.string().map_err(payload_error)?;
        codes.push(String::from_utf8_lossy(&code).into_owned());
    }
    let loaded = on_worker_thread(ctx, move || {
        codes
            .into_iter()
            .map(|code| {
                let (name, functions) = script::load_library(&code)?;
                Ok(Library {
                    name,
                    code: code.into(),
                    functions,
                })
            })
            .collect::<std::result::Result<Vec<Library>, String>>()
    })
    .await?
    .map_err(CommandError::other)?;
    restore_conflicts(ctx, &loaded, policy)?;
    let old: Vec<String> = match policy {
        Restore::Flush => ctx.scripts.libraries().by_name.keys().cloned().collect(),
        _ => Vec::new(),
    };
    let records: Vec<(Vec<u8>, Arc<str>)> = loaded
        .iter()
        .map(|lib| (library_record(&lib.name), lib.code.clone()))
        .collect();
    ctx.backend
        .atomic(0, 0, move |tx| {
            for name in &old {
                tx.delete_system(&library_record(name));
            }
            for (record, code) in &records {
                tx.put_system(record, code.as_bytes());
            }
            Ok(())
        })
        .await?;
    ctx.scripts.change_libraries(|libs| {
        if policy == Restore::Flush {
            *libs = Default::default();
        }
        for lib in loaded {
            libs.insert(lib);
        }
    });
    Ok(Reply::Ok)
}

/// Whether restoring `loaded` under `policy` would clash with a library or a
/// function that stays, or with itself.
fn restore_conflicts(ctx: &ServerCtx, loaded: &[Library], policy: Restore) -> Result<()> {
    let libs = ctx.scripts.libraries();
    // Whether the library called `name` is still there after the restore.
    let stays = |name: &str| match policy {
        Restore::Flush => false,
        Restore::Replace => !loaded.iter().any(|l| l.name == name),
        Restore::Append => true,
    };
    for (i, lib) in loaded.iter().enumerate() {
        let twice = loaded[..i].iter().any(|l| l.name == lib.name);
        if twice || (policy == Restore::Append && libs.by_name.contains_key(&lib.name)) {
            return Err(CommandError::other(script_text::restored_library_exists(
                &lib.name,
            )));
        }
        for f in &lib.functions {
            let kept = libs
                .functions
                .get(&f.name)
                .is_some_and(|owner| stays(&owner.name));
            let restored_twice = loaded[..i]
                .iter()
                .any(|other| other.functions.iter().any(|g| g.name == f.name));
            if kept || restored_twice {
                return Err(CommandError::other(script_text::function_exists(&f.name)));
            }
        }
    }
    Ok(())
}

/// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]
fn function_list(session: &Session, args: &[Bytes]) -> Result<Reply> {
    let mut pattern: Option<&[u8]> = None;
    let mut with_code = false;
    let mut i = 0;
    while i < args.len() {
        if is(&args[i], "withcode") && !with_code {
            with_code = true;
        } else if is(&args[i], "libraryname") && pattern.is_none() && i + 1 < args.len() {
            i += 1;
            pattern = Some(&args[i]);
        } else {
            let arg = String::from_utf8_lossy(&args[i]);
            return Err(CommandError::other(script_text::unknown_argument(&arg)));
        }
        i += 1;
    }
    let libs = session.ctx.scripts.libraries();
    let bulk = |s: &str| Reply::bulk(s.as_bytes());
    let out = libs
        .by_name
        .values()
        .filter(|lib| pattern.is_none_or(|p| crate::glob::matches(p, lib.name.as_bytes(), false)))
        .map(|lib| {
            let functions = lib
                .functions
                .iter()
                .map(|f| {
                    Reply::Map(vec![
                        (bulk("name"), bulk(&f.name)),
                        (
                            bulk("description"),
                            f.description.as_deref().map_or(Reply::Nil, bulk),
                        ),
                        (bulk("flags"), flags_reply(&f.flags)),
                    ])
                })
                .collect();
            let mut fields = vec![
                (bulk("library_name"), bulk(&lib.name)),
                (bulk("engine"), bulk("LUA")),
                (bulk("functions"), Reply::Array(functions)),
            ];
            if with_code {
                fields.push((bulk("library_code"), bulk(&lib.code)));
            }
            Reply::Map(fields)
        })
        .collect();
    Ok(Reply::Array(out))
}

fn flags_reply(flags: &ScriptFlags) -> Reply {
    Reply::Set(
        flags
            .names()
            .into_iter()
            .map(|n| Reply::Status(n.into()))
            .collect(),
    )
}

/// FUNCTION STATS
fn function_stats(ctx: &ServerCtx) -> Reply {
    let bulk = |s: &str| Reply::bulk(s.as_bytes());
    let running = ctx
        .scripts
        .busy_scripts()
        .into_iter()
        .find(|b| b.function)
        .map_or(Reply::Nil, |b| {
            Reply::Map(vec![
                (bulk("name"), bulk(&b.name)),
                (
                    bulk("command"),
                    Reply::Array(vec![bulk("fcall"), bulk(&b.name)]),
                ),
                (
                    bulk("duration_ms"),
                    Reply::Int(b.started.elapsed().as_millis() as i64),
                ),
            ])
        });
    let libs = ctx.scripts.libraries();
    let engines = Reply::Map(vec![(
        bulk("LUA"),
        Reply::Map(vec![
            (
                bulk("libraries_count"),
                Reply::Int(libs.by_name.len() as i64),
            ),
            (
                bulk("functions_count"),
                Reply::Int(libs.functions.len() as i64),
            ),
        ]),
    )]);
    Reply::Map(vec![
        (bulk("running_script"), running),
        (bulk("engines"), engines),
    ])
}

const SCRIPT_HELP: &[&str] = &[
    "EXISTS <sha1> [<sha1> ...]",
    "    For each SHA1, 1 if a script with it is cached, else 0.",
    "FLUSH [ASYNC|SYNC]",
    "    Empty the script cache.",
    "KILL",
    "    Stop the script that has run past busy-reply-threshold, if it has not written.",
    "LOAD <script>",
    "    Cache a script and answer its SHA1, for EVALSHA.",
];

const FUNCTION_HELP: &[&str] = &[
    "LOAD [REPLACE] <code>",
    "    Load a library (its first line: #!lua name=<name>); REPLACE an existing one.",
    "DELETE <library>",
    "    Remove a library and its functions.",
    "FLUSH [ASYNC|SYNC]",
    "    Remove every library.",
    "LIST [LIBRARYNAME <pattern>] [WITHCODE]",
    "    The libraries, their functions and flags (and code).",
    "STATS",
    "    The busy function, if any, and how many libraries and functions there are.",
    "KILL",
    "    Stop the function that has run past busy-reply-threshold, if it has not written.",
];

fn help(command: &str, lines: &[&str]) -> Reply {
    let mut out = vec![Reply::Status(
        format!("{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:").into(),
    )];
    out.extend(lines.iter().map(|l| Reply::Status(l.to_string().into())));
    out.push(Reply::Status("HELP".into()));
    out.push(Reply::Status("    Print this help.".into()));
    Reply::Array(out)
}

/// Loads the libraries stored in RocksDB (at start, before the server listens).
pub fn load_saved_libraries(ctx: &ServerCtx) {
    let mut codes = Vec::new();
    let from = crate::storage::encoding::system_key(LIBRARY_RECORD);
    let mut to = from.clone();
    if let Some(last) = to.last_mut() {
        *last += 1;
    }
    let scanned = ctx.backend.engine().scan(&from, &to, |_, v| {
        codes.push(String::from_utf8_lossy(v).into_owned());
        true
    });
    if let Err(e) = scanned {
        tracing::error!(target: "shardis::script", "reading function libraries: {e}");
    }
    for code in codes {
        match script::load_library(&code) {
            Ok((name, functions)) => ctx.scripts.change_libraries(|libs| {
                libs.insert(Library {
                    name,
                    code: code.into(),
                    functions,
                })
            }),
            Err(e) => {
                tracing::error!(target: "shardis::script", "a stored library does not load: {e}")
            }
        }
    }
}
