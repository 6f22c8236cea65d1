//! MULTI/EXEC/WATCH: transactions that are atomic across shards, with no global lock.
//!
//! MULTI makes the connection queue its commands ([`crate::state::Multi`]); EXEC
//! runs them here, on a network thread, as one atomic unit:
//!
//! 1. **Resolve.** Each queued command becomes a [`Step`]: a network-side command
//!    (PING, SELECT ...), the parts it sends to its shards (one part for a one-key
//!    command, one per shard for a split MGET or an all-shard DBSIZE), or a
//!    cross-shard command that needs several steps ([`coordinator::step`]).
//! 2. **One shard, one trip.** When every part lives on one shard (and the watched
//!    keys too), the whole transaction is one closure run on that shard in its queue
//!    order ([`crate::storage::Backend::atomic`]): it checks the watches, runs every
//!    command against one batch, and commits the batch before it answers.
//! 3. **Several shards.** A transaction of plain parts is one submission to the
//!    linked-command sequencer (`storage::linked`): it runs whole inside one round,
//!    which holds the union of the round's shards (the watched keys' too) in
//!    ascending order, so two holders never wait for each other in a cycle; shards
//!    no one in the round touches go on serving. With WATCH, the round first runs
//!    what came before the transaction, then checks the watches, then runs it (or
//!    answers nil). The round's writes are one RocksDB write batch: after a crash
//!    all of the transaction is there or none of it.
//! 4. **Cross-shard steps.** A transaction with a command that needs several steps
//!    on several shards (RENAME ...), or with WATCH and network-side commands (which
//!    must not run before the check), holds exactly the shards it touches itself.
//!    The parts of consecutive commands go out as one program per shard, all shards
//!    at once; the cross-shard command runs its steps in between; one commit.
//!
//! Errors: a command that fails while it runs fails alone, as in Redis (its reply is
//! the error, the others still apply); a shard that does not answer, or a failed
//! commit, fails the whole EXEC and nothing is written.
//!
//! WATCH registers its keys with their shards (`storage::watch`): a later write of
//! any of them, by anyone, raises the connection's flag, and EXEC, holding those
//! shards, answers nil if it is raised, if a watched key's expiry has passed, or if a
//! watched shard restarted since (and so forgot the watch).

use std::collections::BTreeMap;

use bytes::Bytes;

use super::coordinator::{self, On};
use crate::commands::table::{Coord, Kind, LocalFn, Merge};
use crate::commands::{self, keys, Command, CommandError, ExecFn};
use crate::error::text;
use crate::metrics;
use crate::protocol::Reply;
use crate::state::Session;
use crate::storage::encoding::{key_hash, shard_of};
use crate::storage::{run_program, LinkedJob, Op, Tx, WatchCheck, WatchFlag};

type Result<T> = std::result::Result<T, CommandError>;

/// One command of a transaction, resolved to where it runs.
enum Step {
    /// Answered already.
    Ready(Reply),
    /// Runs on the network thread, against the session.
    Local(LocalFn, Vec<Bytes>),
    /// Runs on its shards (one part, or one per shard); several parts are merged.
    Parts {
        parts: Vec<Part>,
        merge: Merge,
        keys: usize,
    },
    /// A command that needs several steps on several shards (those of its keys).
    Coord(Coord, Vec<Bytes>, Vec<usize>),
}

/// One shard's share of a command.
pub(super) struct Part {
    pub(super) shard: usize,
    exec: ExecFn,
    pub(super) args: Vec<Bytes>,
    /// For [`Merge::Gather`]: where each of this part's replies goes.
    positions: Vec<u32>,
}

/// WATCH key [key ...]
pub(super) async fn watch(session: &mut Session, args: &[Bytes]) -> Result<Reply> {
    if session.multi.is_some() {
        return Err(CommandError::other(text::WATCH_IN_MULTI));
    }
    let n = session.ctx.backend.shards();
    let db = session.db;
    let mut by_shard: BTreeMap<usize, Vec<Bytes>> = BTreeMap::new();
    for key in &args[1..] {
        by_shard
            .entry(shard_of(key_hash(key), n))
            .or_default()
            .push(key.clone());
    }
    let watched = session.watch.get_or_insert_with(|| WatchCheck {
        flag: WatchFlag::new(),
        expiries: Vec::new(),
        generations: Vec::new(),
    });
    for (shard, keys) in by_shard {
        let flag = watched.flag.clone();
        let (expiries, generation) = session
            .ctx
            .backend
            .atomic(shard, db, move |tx| {
                let expiries = keys
                    .iter()
                    .map(|k| tx.watch(k, &flag))
                    .collect::<Result<Vec<u64>>>()?;
                Ok((expiries, tx.generation()))
            })
            .await?;
        watched.expiries.extend(expiries);
        if !watched.generations.iter().any(|&(s, _)| s == shard) {
            watched.generations.push((shard, generation));
        }
    }
    Ok(Reply::Ok)
}

/// EXEC: runs the queued transaction; nil if a watched key changed.
pub(super) async fn exec(session: &mut Session) -> Reply {
    let Some(multi) = session.multi.take() else {
        return Reply::error(text::EXEC_WITHOUT_MULTI);
    };
    let watch = session.watch.take();
    if multi.failed {
        return Reply::error(text::EXECABORT);
    }
    let specs: Vec<Option<usize>> = multi
        .queued
        .iter()
        .map(|a| commands::lookup(&a[0]).and_then(|c| metrics::spec_index(c.spec)))
        .collect();
    let flushes = multi
        .queued
        .iter()
        .any(|a| commands::is(&a[0], "flushall") || commands::is(&a[0], "flushdb"));
    let started = std::time::Instant::now();
    match run(session, multi.queued, watch.as_ref()).await {
        Ok(Some(replies)) => {
            if flushes {
                session.ctx.tracking_flushed();
            }
            // INFO commandstats counts each command of the transaction (with an
            // equal share of its time), as Redis does when EXEC calls them.
            let usec = started.elapsed().as_micros() as u64 / replies.len().max(1) as u64;
            metrics::with_recorder(|rec| {
                for (spec, reply) in specs.iter().zip(&replies) {
                    let code = match reply {
                        Reply::Error(e) => Some(e.code()),
                        _ => None,
                    };
                    rec.command(*spec, false, code, usec);
                }
            });
            Reply::Array(replies)
        }
        Ok(None) => Reply::NilArray,
        Err(e) => e.into(),
    }
}

/// Runs a transaction: `None` if the watch check failed.
async fn run(
    session: &mut Session,
    queued: Vec<Vec<Bytes>>,
    watch: Option<&WatchCheck>,
) -> Result<Option<Vec<Reply>>> {
    let n = session.ctx.backend.shards();
    let mut steps = Vec::with_capacity(queued.len());
    for args in queued {
        steps.push(match commands::lookup(&args[0]) {
            Some(cmd) => resolve(session, cmd, args, n).await,
            None => Step::Ready(CommandError::unknown_command("", "").into()),
        });
    }
    // The shards to hold: those of every part, of every cross-shard command's keys,
    // and of the watched keys.
    let mut shards: Vec<usize> = Vec::new();
    let mut coordinated = false;
    let mut local = false;
    for step in &steps {
        match step {
            Step::Parts { parts, .. } => shards.extend(parts.iter().map(|p| p.shard)),
            Step::Coord(_, _, held) => {
                coordinated = true;
                shards.extend(held);
            }
            Step::Local(..) => local = true,
            Step::Ready(_) => {}
        }
    }
    if let Some(w) = watch {
        shards.extend(w.generations.iter().map(|&(s, _)| s));
    }
    shards.sort_unstable();
    shards.dedup();
    // Plain parts only, and no network-side command that would run before a watch
    // check: no hold of the transaction's own is needed.
    let plain = !(coordinated || local && watch.is_some());
    match shards[..] {
        [] => {
            let backend = &session.ctx.backend;
            let now = crate::storage::now_ms();
            if watch.is_some_and(|w| !w.passes(now, |s| backend.generation(s))) {
                return Ok(None);
            }
            Ok(Some(run_locally(session, steps)))
        }
        // One shard, one trip; with watches, network-side commands must not run
        // before the check, so those go the held way.
        [shard] if plain => one_shard(session, shard, steps, watch).await,
        // No cross-shard command: plain parts on several shards, which the
        // linked-command sequencer runs atomically, sharing rounds.
        // (With watches, only if no network-side command would run before the check.)
        _ if plain => linked(session, steps, watch).await,
        _ => held(session, &shards, steps, watch).await,
    }
}

/// Resolves one queued command to a step.
async fn resolve(session: &mut Session, cmd: &'static Command, args: Vec<Bytes>, n: usize) -> Step {
    let on_shard = |exec: ExecFn, shard: usize, args: Vec<Bytes>| Step::Parts {
        parts: vec![Part {
            shard,
            exec,
            args,
            positions: Vec::new(),
        }],
        merge: Merge::AllOk,
        keys: 0,
    };
    match cmd.kind {
        Kind::Local(f) | Kind::Barrier(f) => Step::Local(f, args),
        Kind::Single(exec) => {
            let shard = shard_of(key_hash(cmd.route_key(&args)), n);
            on_shard(exec, shard, args)
        }
        Kind::Scan(exec) => {
            let position = keys::parse_cursor(&args[1]).unwrap_or(0);
            on_shard(exec, shard_of(position, n), args)
        }
        Kind::Multi(exec, merge) => split(cmd, exec, merge, args, n),
        Kind::All(exec, merge) => Step::Parts {
            parts: (0..n)
                .map(|shard| Part {
                    shard,
                    exec,
                    args: args.clone(),
                    positions: Vec::new(),
                })
                .collect(),
            merge,
            keys: 0,
        },
        Kind::Coordinated(coord, one) => {
            let keys = coordinator::keys_of(cmd, &args);
            let shards = if cmd.reads_any_key(&args) {
                (0..n).collect()
            } else {
                coordinator::shards_of(&keys, n)
            };
            match (one, &shards[..]) {
                (Some(exec), [shard]) => on_shard(exec, *shard, args),
                _ => match coord {
                    // Commands about the server, not the data: they run as on their
                    // own, before the transaction holds anything.
                    Coord::Info
                    | Coord::Memory
                    | Coord::Debug
                    | Coord::Save
                    | Coord::Shutdown
                    | Coord::ScriptAdmin => {
                        let reply = coordinator::about_server(session, coord, args).await;
                        Step::Ready(reply.unwrap_or(Reply::Ok))
                    }
                    // A script may touch any key: it holds every shard.
                    Coord::Script => Step::Coord(coord, args, (0..n).collect()),
                    _ => Step::Coord(coord, args, shards),
                },
            }
        }
    }
}

/// Splits a multi-key command by shard, each shard's keys in argument order.
fn split(cmd: &Command, exec: ExecFn, merge: Merge, args: Vec<Bytes>, n: usize) -> Step {
    let spec = cmd.spec;
    let step = spec.step.max(1) as usize;
    let units: Vec<(usize, usize)> = spec
        .key_positions(args.len())
        .map(|p| (p, shard_of(key_hash(&args[p]), n)))
        .collect();
    let mut parts: Vec<Part> = Vec::new();
    for (k, &(p, shard)) in units.iter().enumerate() {
        let part = match parts.iter_mut().position(|part| part.shard == shard) {
            Some(i) => &mut parts[i],
            None => {
                parts.push(Part {
                    shard,
                    exec,
                    args: vec![args[0].clone()],
                    positions: Vec::new(),
                });
                parts.last_mut().expect("just pushed")
            }
        };
        part.args
            .extend_from_slice(&args[p..(p + step).min(args.len())]);
        part.positions.push(k as u32);
    }
    Step::Parts {
        parts,
        merge,
        keys: units.len(),
    }
}

/// A multi-key command's parts, one per shard (for a script's `redis.call`).
pub(super) fn split_parts(cmd: &Command, exec: ExecFn, args: Vec<Bytes>, n: usize) -> Vec<Part> {
    match split(cmd, exec, Merge::AllOk, args, n) {
        Step::Parts { parts, .. } => parts,
        _ => Vec::new(),
    }
}

/// The reply of a command split by [`split_parts`], from its parts' replies.
pub(super) fn merge_parts(parts: &[Part], merge: Merge, replies: Vec<Reply>) -> Reply {
    let keys = parts.iter().map(|p| p.positions.len()).sum();
    merged(parts, merge, keys, replies)
}

/// A transaction without shard work: its network-side commands, in order.
fn run_locally(session: &mut Session, steps: Vec<Step>) -> Vec<Reply> {
    steps
        .into_iter()
        .map(|step| match step {
            Step::Ready(r) => r,
            Step::Local(f, args) => f(session, &args).unwrap_or_else(Reply::from),
            _ => CommandError::other(text::NOT_A_BARRIER).into(),
        })
        .collect()
}

/// Where the replies of a step's parts are: `(shard, index in that shard's replies)`.
type Placed = Vec<(usize, usize)>;

/// Lays the steps' parts out as one program per shard; network-side commands run
/// now, in order (so SELECT applies to what follows). Returns, per step, its reply
/// if known, else where its parts' replies will be.
fn lay_out(
    session: &mut Session,
    steps: &mut [Step],
    first: usize,
    programs: &mut [Vec<Op>],
    base: &[usize],
) -> Vec<(Option<Reply>, Placed)> {
    let mut lens: Vec<usize> = programs.iter().map(Vec::len).collect();
    let mut out = Vec::with_capacity(steps.len());
    for (i, step) in steps.iter_mut().enumerate() {
        let rank = (first + i) as u64;
        out.push(match step {
            Step::Ready(r) => (Some(std::mem::replace(r, Reply::Nil)), Vec::new()),
            Step::Local(f, args) => (
                Some(f(session, args).unwrap_or_else(Reply::from)),
                Vec::new(),
            ),
            Step::Parts { parts, .. } => {
                let mut placed = Vec::with_capacity(parts.len());
                for part in parts.iter_mut() {
                    placed.push((part.shard, base[part.shard] + lens[part.shard]));
                    lens[part.shard] += 1;
                    programs[part.shard].push(Op {
                        db: session.db,
                        exec: part.exec,
                        args: std::mem::take(&mut part.args),
                        rank,
                    });
                }
                (None, placed)
            }
            Step::Coord(..) => (None, Vec::new()),
        });
    }
    out
}

/// The reply of a step whose parts have answered.
fn assemble(step: &Step, placed: &Placed, results: &mut [Vec<Reply>]) -> Reply {
    let Step::Parts { parts, merge, keys } = step else {
        return CommandError::other(text::NOT_A_BARRIER).into();
    };
    let replies = placed
        .iter()
        .map(|&(shard, i)| {
            results[shard]
                .get_mut(i)
                .map(|r| std::mem::replace(r, Reply::Nil))
                .unwrap_or_else(|| CommandError::Unavailable.into())
        })
        .collect();
    merged(parts, *merge, *keys, replies)
}

/// A command's reply from its parts' replies: the one reply of a single part, or
/// the parts merged.
fn merged(parts: &[Part], merge: Merge, keys: usize, mut replies: Vec<Reply>) -> Reply {
    if replies.len() == 1 && merge != Merge::Gather {
        return replies.pop().unwrap_or(Reply::Nil);
    }
    let positions: Vec<&[u32]> = parts.iter().map(|p| p.positions.as_slice()).collect();
    super::connection::combine(merge, replies, &positions, keys)
}

/// Every step's reply, once its parts have answered.
fn answers(
    steps: &[Step],
    layout: Vec<(Option<Reply>, Placed)>,
    results: &mut [Vec<Reply>],
) -> Vec<Reply> {
    steps
        .iter()
        .zip(layout)
        .map(|(step, (ready, placed))| ready.unwrap_or_else(|| assemble(step, &placed, results)))
        .collect()
}

/// A transaction on one shard: one closure, one trip, one commit.
async fn one_shard(
    session: &mut Session,
    shard: usize,
    mut steps: Vec<Step>,
    watch: Option<&WatchCheck>,
) -> Result<Option<Vec<Reply>>> {
    let n = session.ctx.backend.shards();
    let mut programs: Vec<Vec<Op>> = (0..n).map(|_| Vec::new()).collect();
    let layout = lay_out(session, &mut steps, 0, &mut programs, &vec![0; n]);
    let ops = std::mem::take(&mut programs[shard]);
    let check = watch.cloned();
    let db = session.db;
    let replies = session
        .ctx
        .backend
        .atomic(shard, db, move |tx| {
            // Every watched key lives on this shard, so its generation is theirs.
            if check.is_some_and(|c| !c.passes(tx.now_ms, |_| tx.generation())) {
                return Ok(None);
            }
            Ok(Some(run_program(tx, ops)))
        })
        .await?;
    let Some(replies) = replies else {
        return Ok(None);
    };
    let mut results: Vec<Vec<Reply>> = (0..n).map(|_| Vec::new()).collect();
    results[shard] = replies;
    Ok(Some(answers(&steps, layout, &mut results)))
}

/// A transaction of plain parts on several shards: one submission to the
/// linked-command sequencer, which runs it whole within one round (see
/// `storage::linked`), after its watch check if it has one, so it shares the round's
/// hold and commit with other transactions and multi-key commands.
async fn linked(
    session: &mut Session,
    mut steps: Vec<Step>,
    watch: Option<&WatchCheck>,
) -> Result<Option<Vec<Reply>>> {
    let mut jobs = Vec::new();
    let mut ready = Vec::with_capacity(steps.len());
    for step in steps.iter_mut() {
        ready.push(match step {
            Step::Ready(r) => Some(std::mem::replace(r, Reply::Nil)),
            Step::Local(f, args) => Some(f(session, args).unwrap_or_else(Reply::from)),
            Step::Parts { parts, .. } => {
                jobs.push(LinkedJob {
                    db: session.db,
                    exec: parts[0].exec,
                    parts: parts
                        .iter_mut()
                        .map(|p| (p.shard, std::mem::take(&mut p.args)))
                        .collect(),
                });
                None
            }
            Step::Coord(..) => Some(CommandError::other(text::NOT_A_BARRIER).into()),
        });
    }
    let Some(answered) = session.ctx.backend.linked(jobs, watch.cloned()).await? else {
        return Ok(None);
    };
    let mut answered = answered.into_iter();
    let mut out = Vec::with_capacity(steps.len());
    for (step, ready) in steps.iter().zip(ready) {
        out.push(match (ready, step) {
            (Some(r), _) => r,
            (None, Step::Parts { parts, merge, keys }) => {
                merged(parts, *merge, *keys, answered.next().unwrap_or_default())
            }
            (None, _) => CommandError::Unavailable.into(),
        });
    }
    Ok(Some(out))
}

/// Whether an error means the shards, not the command, failed: the whole EXEC fails.
fn fatal(e: &CommandError) -> bool {
    matches!(
        e,
        CommandError::Timeout | CommandError::Unavailable | CommandError::Storage(_)
    )
}

/// A transaction over several shards: hold them, check, run, commit once.
async fn held(
    session: &mut Session,
    shards: &[usize],
    mut steps: Vec<Step>,
    watch: Option<&WatchCheck>,
) -> Result<Option<Vec<Reply>>> {
    let n = session.ctx.backend.shards();
    let mut held = session.ctx.backend.hold(shards).await?;
    let backend = &session.ctx.backend;
    if watch.is_some_and(|w| !w.passes(held.now_ms(), |s| backend.generation(s))) {
        return Ok(None);
    }
    let mut results: Vec<Vec<Reply>> = (0..n).map(|_| Vec::new()).collect();
    let mut layout: Vec<(Option<Reply>, Placed)> = Vec::with_capacity(steps.len());
    let mut start = 0;
    while start < steps.len() {
        // A run of steps up to the next cross-shard command: one program per shard.
        let end = steps[start..]
            .iter()
            .position(|s| matches!(s, Step::Coord(..)))
            .map_or(steps.len(), |i| start + i);
        let mut programs: Vec<Vec<Op>> = (0..n).map(|_| Vec::new()).collect();
        let base: Vec<usize> = results.iter().map(Vec::len).collect();
        layout.extend(lay_out(
            session,
            &mut steps[start..end],
            start,
            &mut programs,
            &base,
        ));
        let calls: Vec<_> = programs
            .into_iter()
            .enumerate()
            .filter(|(_, ops)| !ops.is_empty())
            .map(|(s, ops)| (s, move |tx: &mut Tx<'_>| Ok(run_program(tx, ops))))
            .collect();
        let order: Vec<usize> = calls.iter().map(|(s, _)| *s).collect();
        if !calls.is_empty() {
            for (s, answered) in order.into_iter().zip(held.call_each(0, calls).await?) {
                results[s].extend(answered?);
            }
        }
        if let Some(Step::Coord(coord, args, _)) = steps.get(end) {
            held.set_rank(end as u64);
            let outcome = if *coord == Coord::Script {
                // The script runs on a worker thread, which borrows the hold.
                let (back, reply) = super::scripting::in_transaction(session, held, args).await;
                held = back.ok_or(CommandError::Unavailable)?;
                reply
            } else {
                let mut on = On {
                    held: &mut held,
                    db: session.db,
                    shards: n,
                };
                coordinator::step(&mut on, *coord, args).await
            };
            let reply = match outcome {
                Err(e) if fatal(&e) => return Err(e),
                r => r.unwrap_or_else(Reply::from),
            };
            layout.push((Some(reply), Vec::new()));
        }
        start = end + 1;
    }
    held.commit().await?;
    Ok(Some(answers(&steps, layout, &mut results)))
}
