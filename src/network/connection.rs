//! One client connection: read, parse, route, wait, reply, in order.
//!
//! The loop takes every complete command in the read buffer (up to
//! [`MAX_PIPELINE`]), answers connection-level ones on the spot and queues keyed
//! ones per shard ([`Pipeline`]). It then sends at most one message to each shard for
//! the whole batch, waits for those replies, encodes every reply in request order into
//! one buffer and writes it with one `write_all`. A command that needs the shards in a
//! particular state first (INFO, cross-shard RENAME, HELLO) is a *barrier*: the batch
//! before it is finished first, then it runs alone.
//!
//! Only socket errors and broken protocol close the connection; every other error is
//! a reply.
//!
//! Hot path: per batch, one read, one parse pass, one message per shard, one write.

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::scripting::{self, Routed};
use super::{blocking, coordinator};
use crate::commands::local::tracking;
use crate::commands::table::{Coord, Kind, Merge};
use crate::commands::{self, is, keys, Command, ExecFn};
use crate::error::{text, CommandError};
use crate::metrics;
use crate::protocol::{parser, Parsed, Reply};
use crate::state::ServerCtx;
use crate::state::{ClientInfo, Session};
use crate::storage::encoding::{key_hash, shard_of};
use crate::storage::{LinkedJob, ReplyChannel, ShardReq, StageTimes};

/// Most commands taken from the read buffer before they are executed and answered.
pub const MAX_PIPELINE: usize = 1024;

/// Largest unparsed request a client may have buffered (Redis's default
/// client-query-buffer-limit): a client past it is disconnected.
pub const MAX_QUERY_BUFFER: usize = 1 << 30;

/// Serves one connection until the client leaves or the protocol breaks.
pub async fn serve(stream: TcpStream, peer: SocketAddr, ctx: Arc<ServerCtx>) {
    let laddr = stream.local_addr().unwrap_or(ctx.addr);
    let id = ctx.next_client_id.fetch_add(1, Ordering::Relaxed);
    let info = Arc::new(ClientInfo::new(id, peer, laddr));
    ctx.stats.connections.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(target: "shardis::network", client = id, %peer, "connection accepted");
    let admitted = {
        let mut clients = ctx.clients.lock().unwrap_or_else(|e| e.into_inner());
        let max = ctx
            .live
            .param_u64("maxclients")
            .unwrap_or(ctx.config.maxclients);
        let ok = (clients.len() as u64) < max;
        if ok {
            clients.insert(id, info.clone());
        }
        ok
    };
    let mut stream = stream;
    if !admitted {
        let mut refusal = Vec::new();
        Reply::error(text::MAX_CLIENTS).encode(&mut refusal, false);
        let _ = stream.write_all(&refusal).await;
        return;
    }
    let shards = ctx.backend.shards();
    let stats = super::thread_stats(&ctx);
    stats.connections.fetch_add(1, Ordering::Relaxed);
    let _ = info.thread.set(stats.name.clone());
    // Unregisters the client however the task ends, a panic included.
    let _registered = Registered {
        ctx: ctx.clone(),
        stats: stats.clone(),
        id,
    };
    let mut conn = Connection {
        stats: stats.clone(),
        stream,
        rbuf: BytesMut::with_capacity(4096),
        parse: parser::ParseState::default(),
        wbuf: Vec::new(),
        session: Session::new(ctx.clone(), info),
        pipe: Pipeline::new(shards, id),
        chan: ReplyChannel::default(),
        deferred: None,
    };
    if let Err(e) = conn.run().await {
        tracing::debug!(target: "shardis::network", client = id, "connection closed: {e}");
    }
}

/// A connected client's entries in the server's registries, removed on drop.
struct Registered {
    ctx: Arc<ServerCtx>,
    stats: Arc<super::NetThreadStats>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.stats.connections.fetch_sub(1, Ordering::Relaxed);
        self.ctx
            .clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

struct Connection {
    stats: Arc<super::NetThreadStats>,
    stream: TcpStream,
    rbuf: BytesMut,
    parse: parser::ParseState,
    wbuf: Vec<u8>,
    session: Session,
    pipe: Pipeline,
    chan: ReplyChannel,
    /// A command parsed but left for the next batch ([`Flow::Later`]).
    deferred: Option<Vec<Bytes>>,
}

/// What the parse loop does after queueing a command.
enum Flow {
    Continue,
    /// Finish the batch so far, then run this command alone.
    Barrier(&'static Command, Vec<Bytes>),
    /// Finish the batch so far, then route this command first in the next one: it
    /// cannot share a batch with what is queued (linked commands and plain shard
    /// requests go in separate batches, so their order is kept).
    Later(Vec<Bytes>),
    /// Stop taking commands (QUIT).
    Stop,
    /// CLIENT PAUSE holds this command: finish the batch so far, wait for the pause
    /// to end, then route it.
    Paused(Vec<Bytes>, tokio::time::Instant),
}

impl Connection {
    async fn run(&mut self) -> std::io::Result<()> {
        let ctx = self.session.ctx.clone();
        loop {
            let mut barrier = None;
            let mut broken = None;
            let mut more_buffered = false;
            let mut paused = None;
            loop {
                if self.pipe.slots.len() >= MAX_PIPELINE {
                    more_buffered = true;
                    break;
                }
                let limit = ctx.live.proto_max_bulk_len();
                let authed = self.session.authed;
                let next = match self.deferred.take() {
                    Some(args) => Ok(Parsed::Command(args)),
                    None => parser::parse_with(&mut self.rbuf, limit, authed, &mut self.parse),
                };
                match next {
                    Ok(Parsed::Command(args)) => match self.pipe.push(&mut self.session, args) {
                        Flow::Continue => {}
                        Flow::Barrier(cmd, args) => {
                            barrier = Some((cmd, args));
                            more_buffered = true;
                            break;
                        }
                        Flow::Later(args) => {
                            self.deferred = Some(args);
                            more_buffered = true;
                            break;
                        }
                        Flow::Paused(args, until) => {
                            self.deferred = Some(args);
                            paused = Some(until);
                            more_buffered = true;
                            break;
                        }
                        Flow::Stop => break,
                    },
                    Ok(Parsed::Empty) => {}
                    Ok(Parsed::Incomplete) => break,
                    Err(e) => {
                        broken = Some(e);
                        break;
                    }
                }
            }

            self.pipe.execute(&ctx, &mut self.chan).await;
            if std::mem::take(&mut self.pipe.flushed) {
                ctx.tracking_flushed();
            }
            let answered = self
                .pipe
                .encode(&mut self.wbuf, &self.session, &self.chan.times);
            if let Some((n, us)) = answered {
                self.stats.batch(n, us);
            }
            if let Some((cmd, args)) = barrier {
                let started = std::time::Instant::now();
                let reply = if matches!(cmd.kind, Kind::Coordinated(Coord::Block, _)) {
                    match self.block(args).await? {
                        blocking::Ended::Reply(r) => Some(r),
                        blocking::Ended::Closed => return Ok(()),
                    }
                } else {
                    coordinator::run(&mut self.session, cmd, args).await
                };
                if let Some(reply) = reply {
                    let quiet = self.session.quiet();
                    ctx.count(1, reply.is_error() as u64);
                    let error = match &reply {
                        Reply::Error(e) => Some(e.code()),
                        _ => None,
                    };
                    let usec = started.elapsed().as_micros() as u64;
                    let spec = metrics::spec_index(cmd.spec);
                    metrics::with_recorder(|rec| rec.command(spec, false, error, usec));
                    if !quiet {
                        reply.encode(&mut self.wbuf, self.session.resp3);
                    }
                }
            }
            if let Some(e) = &broken {
                Reply::error(e.reply_text()).encode(&mut self.wbuf, self.session.resp3);
                ctx.count(0, 1);
            }
            let info = &self.session.info;
            let mail = if info.mailbox.has_mail() {
                info.mailbox.take_into(&mut self.wbuf)
            } else {
                0
            };
            let (hard, _, _) = ctx.live.output_limit(false);
            if hard > 0 && self.wbuf.len() as u64 > hard {
                // client-output-buffer-limit normal: the replies would not fit.
                tracing::warn!(
                    target: "shardis::network",
                    client = self.session.info.id,
                    "closing client whose replies passed the client-output-buffer-limit ({} bytes)",
                    self.wbuf.len()
                );
                return Ok(());
            }
            if !self.wbuf.is_empty() {
                self.write_out().await?;
                self.session.info.mailbox.written(mail);
            }
            if broken.is_some() || self.session.closing || self.session.info.doorbell.killed() {
                return Ok(());
            }
            if let Some(until) = paused {
                let lifted = ctx.pause.lifted.notified();
                tokio::select! {
                    _ = tokio::time::sleep_until(until) => {}
                    _ = lifted => {}
                    _ = self.session.info.doorbell.rung() => {}
                }
            }
            if more_buffered {
                continue;
            }
            if self.rbuf.capacity() - self.rbuf.len() < 4096 {
                self.rbuf.reserve(16 * 1024);
            }
            let n = tokio::select! {
                n = self.stream.read_buf(&mut self.rbuf) => n?,
                _ = self.session.info.doorbell.rung() => {
                    if self.session.info.doorbell.killed() {
                        return Ok(());
                    }
                    continue;
                }
            };
            if n == 0 {
                return Ok(());
            }
            if self.rbuf.len() > MAX_QUERY_BUFFER {
                // Redis's client-query-buffer-limit: the client is closed.
                tracing::warn!(
                    target: "shardis::network",
                    client = self.session.info.id,
                    "closing client that reached the max query buffer length"
                );
                return Ok(());
            }
            ctx.stats.net_in.fetch_add(n as u64, Ordering::Relaxed);
            self.stats.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
}

impl Connection {
    /// Writes the write buffer to the socket and empties it. A client asked to close
    /// (CLIENT KILL, or past its output limits) stops it even when the socket is full.
    async fn write_out(&mut self) -> std::io::Result<()> {
        let mut at = 0;
        while at < self.wbuf.len() {
            let doorbell = &self.session.info.doorbell;
            tokio::select! {
                biased;
                n = self.stream.write(&self.wbuf[at..]) => match n? {
                    0 => return Err(std::io::ErrorKind::WriteZero.into()),
                    n => at += n,
                },
                _ = doorbell.rung() => {
                    if doorbell.killed() {
                        return Err(std::io::ErrorKind::ConnectionAborted.into());
                    }
                    // Mail: the next turn of the loop takes it.
                }
            }
        }
        let n = self.wbuf.len() as u64;
        self.session
            .ctx
            .stats
            .net_out
            .fetch_add(n, Ordering::Relaxed);
        self.stats.bytes_out.fetch_add(n, Ordering::Relaxed);
        self.wbuf.clear();
        Ok(())
    }

    /// Runs a blocking command: the replies before it go out first, then the
    /// connection waits with its buffers released (see [`blocking`]).
    async fn block(&mut self, args: Vec<Bytes>) -> std::io::Result<blocking::Ended> {
        if !self.wbuf.is_empty() {
            self.write_out().await?;
        }
        self.wbuf = Vec::new();
        if self.rbuf.is_empty() {
            self.rbuf = BytesMut::new();
        }
        let ended = blocking::run(&mut self.session, args, &mut self.stream, &mut self.rbuf).await;
        Ok(ended)
    }
}

/// Where the reply of one command of the batch comes from.
enum Slot {
    /// Already known (answered on the network thread).
    Ready(Reply),
    /// Reply `idx` of shard `shard`.
    One { shard: u32, idx: u32 },
    /// Several shard replies merged; `parts` indexes [`Pipeline::parts`].
    Merged {
        merge: Merge,
        parts: Range<u32>,
        keys: u32,
    },
    /// A linked command ([`LinkedJob`] `job` of the batch), its parts' replies merged;
    /// a part's `idx` is its place in the job.
    Linked {
        job: u32,
        merge: Merge,
        parts: Range<u32>,
        keys: u32,
    },
}

/// One shard's share of a split command. For `Merge::Gather`, `positions` indexes
/// [`Pipeline::positions`]: where each of its replies goes in the merged array.
struct Part {
    shard: u32,
    idx: u32,
    positions: Range<u32>,
}

/// What the statistics need of one reply: command index, rejected, error code, shard.
type Recorded = (Option<usize>, bool, Option<&'static str>, Option<usize>);

/// The commands of one batch: per-shard request lists and the reply slots in order.
struct Pipeline {
    client: u64,
    work: Vec<Vec<ShardReq>>,
    results: Vec<Vec<Reply>>,
    slots: Vec<Slot>,
    /// Per slot: the command's index in the spec table and whether it was rejected.
    stats: Vec<(Option<usize>, bool)>,
    /// Per slot: its reply is left out (CLIENT REPLY OFF | SKIP).
    quiet: Vec<bool>,
    /// Requests per shard in the batch being executed (for the storage-time shares).
    work_sizes: Vec<u64>,
    /// Per reply of the batch: command, rejected, error code, shard (reused buffer).
    record: Vec<Recorded>,
    current: (Option<usize>, bool),
    started: std::time::Instant,
    parts: Vec<Part>,
    positions: Vec<u32>,
    /// Linked commands of the batch (multi-key commands across shards): a batch has
    /// these or plain shard requests, never both.
    linked: Vec<LinkedJob>,
    /// Their replies: per job, one per part.
    linked_results: Vec<Vec<Reply>>,
    /// The batch's one-shard scripts: where each one's reply is, and the call.
    scripts: Vec<(u32, u32, Arc<crate::script::Call>)>,
    /// The batch has a FLUSHALL or FLUSHDB: tracking clients are told once it ran.
    flushed: bool,
}

impl Pipeline {
    fn new(shards: usize, client: u64) -> Pipeline {
        Pipeline {
            client,
            work: (0..shards).map(|_| Vec::new()).collect(),
            results: (0..shards).map(|_| Vec::new()).collect(),
            slots: Vec::new(),
            stats: Vec::new(),
            quiet: Vec::new(),
            work_sizes: Vec::with_capacity(shards),
            record: Vec::new(),
            current: (None, false),
            started: std::time::Instant::now(),
            parts: Vec::new(),
            positions: Vec::new(),
            linked: Vec::new(),
            linked_results: Vec::new(),
            scripts: Vec::new(),
            flushed: false,
        }
    }

    fn shards(&self) -> usize {
        self.work.len()
    }

    /// Queues a request whose reply is the command's reply.
    fn one(&mut self, shard: usize, req: ShardReq) {
        let idx = self.queue(shard, req);
        self.slots.push(Slot::One {
            shard: shard as u32,
            idx,
        });
    }

    fn queue(&mut self, shard: usize, mut req: ShardReq) -> u32 {
        req.client = self.client;
        let q = &mut self.work[shard];
        q.push(req);
        (q.len() - 1) as u32
    }

    /// Validates and routes one command, noting what INFO commandstats needs to know.
    fn push(&mut self, session: &mut Session, args: Vec<Bytes>) -> Flow {
        let before = self.slots.len();
        if before == 0 {
            self.started = std::time::Instant::now();
        }
        self.current = (None, false);
        let monitored = session.ctx.monitors.any().then(|| args.clone());
        let caching = session.caching.then(|| is(&args[0], "client"));
        let flow = self.route(session, args);
        if let Some(client_cmd) = caching {
            tracking::end_caching(session, client_cmd);
        }
        if let Some(args) = monitored {
            feed_monitors(session, &args, self.current.1);
        }
        if self.slots.len() > before {
            self.stats.push(self.current);
            self.quiet.push(session.quiet());
        }
        flow
    }

    /// Validates and routes one command.
    fn route(&mut self, session: &mut Session, args: Vec<Bytes>) -> Flow {
        let Some(cmd) = commands::lookup(&args[0]) else {
            self.refuse(session, None, unknown_command(&args));
            return Flow::Continue;
        };
        let spec = cmd.spec;
        self.current = (metrics::spec_index(spec), true);
        if !spec.arity_ok(args.len()) || !cmd.pairs_complete(args.len()) {
            self.refuse(session, Some(cmd), commands::arity_error(spec.name));
            return Flow::Continue;
        }
        if !session.authed && !cmd.flags.no_auth {
            self.refuse(session, Some(cmd), Reply::error(text::NOAUTH));
            return Flow::Continue;
        }
        if session.ctx.pause.active() {
            if let Some(until) = session.ctx.pause.holds(writes(cmd, session)) {
                // Not counted (nor shown to MONITOR) until it runs.
                self.current = (None, true);
                return Flow::Paused(args, until);
            }
        }
        session.info.touch(spec);
        self.current.1 = false;
        if session.in_pubsub() && !session.resp3 && !cmd.flags.in_subscribed {
            let e = CommandError::subscribed_context(spec.name);
            self.refuse(session, Some(cmd), e.into());
            return Flow::Continue;
        }
        if session.tracking.is_some() {
            let readonly = spec.flags.contains(&"readonly");
            tracking::remember_reads(session, readonly, || {
                cmd.keys(&args).into_iter().cloned().collect()
            });
        }
        if session.multi.is_some() && !cmd.flags.controls_multi {
            self.enqueue(session, cmd, args);
            return Flow::Continue;
        }
        if session.ctx.scripts.any_busy() {
            if let Some(reply) = super::scripting::busy(&session.ctx, cmd, &args) {
                self.slots.push(Slot::Ready(reply));
                return Flow::Continue;
            }
        }
        let db = session.db;
        let to_shards = !matches!(cmd.kind, Kind::Local(_) | Kind::Barrier(_));
        if to_shards && session.monitoring {
            self.current.1 = true;
            self.slots
                .push(Slot::Ready(Reply::error(text::MONITOR_KEYSPACE)));
            return Flow::Continue;
        }
        if to_shards && !self.linked.is_empty() && !matches!(cmd.kind, Kind::Multi(..)) {
            return Flow::Later(args);
        }
        match cmd.kind {
            Kind::Barrier(_) => return Flow::Barrier(cmd, args),
            Kind::Local(f) => {
                let started = std::time::Instant::now();
                let reply = f(session, &args).unwrap_or_else(Reply::from);
                let (threshold, max_len) = session.ctx.live.slowlog();
                let usec = started.elapsed().as_micros() as u64;
                metrics::slowlog_maybe(threshold, max_len, usec, &args, session.info.id);
                self.slots.push(Slot::Ready(reply));
                if session.closing {
                    return Flow::Stop;
                }
            }
            Kind::Single(exec) | Kind::Scan(exec) => {
                // A key picks its shard by its hash; a SCAN cursor is a hash position.
                let position = match cmd.kind {
                    Kind::Scan(_) => keys::parse_cursor(&args[1]).unwrap_or(0),
                    _ => key_hash(cmd.route_key(&args)),
                };
                let shard = shard_of(position, self.shards());
                let client = 0; // set by `queue`
                self.one(
                    shard,
                    ShardReq {
                        db,
                        exec,
                        isolated: None,
                        args,
                        client,
                    },
                );
            }
            Kind::Multi(exec, merge) => return self.split(cmd, exec, merge, db, args),
            Kind::All(exec, merge) => {
                self.flushed |= spec.name.starts_with("flush");
                let start = self.parts.len() as u32;
                for shard in 0..self.shards() {
                    let idx = self.queue(
                        shard,
                        ShardReq {
                            db,
                            exec,
                            isolated: None,
                            args: args.clone(),
                            client: 0,
                        },
                    );
                    self.parts.push(Part {
                        shard: shard as u32,
                        idx,
                        positions: 0..0,
                    });
                }
                self.slots.push(Slot::Merged {
                    merge,
                    parts: start..self.parts.len() as u32,
                    keys: 0,
                });
            }
            // Blocking commands wait in the connection, after the batch is answered.
            Kind::Coordinated(Coord::Block, _) => return Flow::Barrier(cmd, args),
            Kind::Coordinated(Coord::Script, _) => match scripting::route(session, cmd, &args) {
                Routed::Shard(shard, req, call) => {
                    let idx = self.work[shard].len() as u32;
                    self.one(shard, req);
                    self.scripts.push((shard as u32, idx, call));
                }
                Routed::Reply(reply) => self.slots.push(Slot::Ready(reply)),
                Routed::Barrier => return Flow::Barrier(cmd, args),
            },
            Kind::Coordinated(_, one_shard) => {
                // On one shard these need no coordination: run them as plain commands.
                match one_shard.and_then(|exec| self.one_shard(cmd, &args).map(|s| (exec, s))) {
                    Some((exec, shard)) => {
                        self.one(
                            shard,
                            ShardReq {
                                db,
                                exec,
                                isolated: None,
                                args,
                                client: 0,
                            },
                        );
                    }
                    None => return Flow::Barrier(cmd, args),
                }
            }
        }
        Flow::Continue
    }

    /// Answers a command refused before it ran. Inside MULTI the refusal makes EXEC
    /// abort; a refused EXEC itself answers EXECABORT (in MULTI or not) and discards
    /// the transaction, as in Redis.
    fn refuse(&mut self, session: &mut Session, cmd: Option<&Command>, reply: Reply) {
        let reply = match (&mut session.multi, reply) {
            (_, Reply::Error(e)) if cmd.is_some_and(|c| c.spec.name == "exec") => {
                session.multi = None;
                session.watch = None;
                CommandError::exec_abort(&e).into()
            }
            (Some(multi), reply) => {
                multi.failed = true;
                reply
            }
            (None, reply) => reply,
        };
        self.slots.push(Slot::Ready(reply));
    }

    /// Queues a command for EXEC (after MULTI).
    fn enqueue(&mut self, session: &mut Session, cmd: &Command, args: Vec<Bytes>) {
        let Some(multi) = session.multi.as_mut() else {
            return;
        };
        if !cmd.flags.in_multi {
            self.refuse(session, Some(cmd), Reply::error(text::NOT_IN_MULTI));
            return;
        }
        let bytes: usize = args.iter().map(|a| a.len() + 16).sum();
        if multi.bytes + bytes > MAX_QUERY_BUFFER {
            self.refuse(session, Some(cmd), Reply::error(text::MULTI_TOO_LARGE));
            return;
        }
        multi.bytes += bytes;
        multi.queued.push(args);
        // Counted when EXEC runs it, as Redis does, not when it is queued.
        self.current = (None, false);
        self.slots.push(Slot::Ready(Reply::Status("QUEUED".into())));
    }

    /// The shard all of the command's keys live on, if there is just one.
    fn one_shard(&self, cmd: &Command, args: &[Bytes]) -> Option<usize> {
        if cmd.reads_any_key(args) {
            return None;
        }
        if let Kind::Coordinated(..) = cmd.kind {
            // Their keys may be counted or named by an option (SORT ... STORE).
            let mut shards = cmd
                .keys(args)
                .into_iter()
                .map(|k| shard_of(key_hash(k), self.shards()));
            let first = shards.next()?;
            return shards.all(|s| s == first).then_some(first);
        }
        let mut shards = cmd
            .spec
            .key_positions(args.len())
            .map(|p| shard_of(key_hash(&args[p]), self.shards()));
        let first = shards.next()?;
        shards.all(|s| s == first).then_some(first)
    }

    /// Splits a multi-key command by shard, keeping each shard's keys in order. On
    /// one shard it is a plain request; across shards, a linked command.
    fn split(
        &mut self,
        cmd: &Command,
        exec: ExecFn,
        merge: Merge,
        db: u8,
        args: Vec<Bytes>,
    ) -> Flow {
        let spec = cmd.spec;
        let one = self.one_shard(cmd, &args);
        let must_wait = match one {
            None => self.work.iter().any(|w| !w.is_empty()),
            Some(_) => !self.linked.is_empty(),
        };
        if must_wait {
            return Flow::Later(args);
        }
        if let Some(shard) = one {
            self.one(
                shard,
                ShardReq {
                    db,
                    exec,
                    isolated: None,
                    args,
                    client: 0,
                },
            );
            return Flow::Continue;
        }
        let step = spec.step.max(1) as usize;
        let units: Vec<(usize, usize)> = spec
            .key_positions(args.len())
            .map(|p| (p, shard_of(key_hash(&args[p]), self.shards())))
            .collect();
        let start = self.parts.len() as u32;
        let job = self.linked.len() as u32;
        let mut job_parts = Vec::new();
        for shard in 0..self.shards() {
            let mine: Vec<(usize, usize)> = units
                .iter()
                .enumerate()
                .filter(|(_, (_, s))| *s == shard)
                .map(|(k, (p, _))| (k, *p))
                .collect();
            if mine.is_empty() {
                continue;
            }
            let mut sub = Vec::with_capacity(1 + mine.len() * step);
            sub.push(args[0].clone());
            let pos_start = self.positions.len() as u32;
            for &(k, p) in &mine {
                sub.extend_from_slice(&args[p..(p + step).min(args.len())]);
                self.positions.push(k as u32);
            }
            self.parts.push(Part {
                shard: shard as u32,
                idx: job_parts.len() as u32,
                positions: pos_start..self.positions.len() as u32,
            });
            job_parts.push((shard, sub));
        }
        self.linked.push(LinkedJob {
            db,
            exec,
            parts: job_parts,
        });
        self.slots.push(Slot::Linked {
            job,
            merge,
            parts: start..self.parts.len() as u32,
            keys: units.len() as u32,
        });
        Flow::Continue
    }

    /// Sends the batch's shard work and waits for every reply.
    async fn execute(&mut self, ctx: &ServerCtx, chan: &mut ReplyChannel) {
        self.work_sizes.clear();
        self.work_sizes
            .extend(self.work.iter().map(|w| w.len() as u64));
        if self.work.iter().any(|w| !w.is_empty()) {
            ctx.backend
                .run(&mut self.work, &mut self.results, chan)
                .await;
        }
        // A script that touched a key outside its shard left no trace: it runs again,
        // holding every shard, before the batch answers.
        for (shard, idx, call) in std::mem::take(&mut self.scripts) {
            let undeclared = matches!(
                self.results[shard as usize].get(idx as usize),
                Some(Reply::Error(CommandError::Undeclared))
            );
            if undeclared {
                let reply = scripting::everywhere(ctx, &call).await;
                self.results[shard as usize][idx as usize] = reply.unwrap_or_else(Reply::from);
            }
        }
        if !self.linked.is_empty() {
            let jobs = std::mem::take(&mut self.linked);
            let n = jobs.len();
            self.linked_results = match ctx.backend.linked(jobs, None).await {
                Ok(Some(r)) => r,
                Ok(None) => vec![vec![CommandError::Unavailable.into()]; n],
                Err(e) => vec![vec![Reply::Error(e)]; n],
            };
        }
    }

    fn take(&mut self, shard: u32, idx: u32) -> Reply {
        self.results[shard as usize]
            .get_mut(idx as usize)
            .map(|r| std::mem::replace(r, Reply::Nil))
            .unwrap_or_else(|| CommandError::Unavailable.into())
    }

    /// Encodes every reply of the batch, in order, and resets the batch.
    /// Returns the number of commands and the batch's response time (µs).
    fn encode(
        &mut self,
        out: &mut Vec<u8>,
        session: &Session,
        times: &[StageTimes],
    ) -> Option<(u64, u64)> {
        if self.slots.is_empty() {
            return None;
        }
        let mut errors = 0;
        let mut slots = std::mem::take(&mut self.slots);
        let n = slots.len();
        let elapsed = self.started.elapsed().as_micros() as u64;
        // Each command of a batch is charged an equal share of the batch's time.
        let usec = elapsed / n as u64;
        // First the replies, then the statistics: the recorder's lock is not held while
        // replies are merged and encoded.
        let mut record = std::mem::take(&mut self.record);
        let mut stats = std::mem::take(&mut self.stats);
        let mut quiet = std::mem::take(&mut self.quiet);
        let each = slots.drain(..).zip(stats.drain(..)).zip(quiet.drain(..));
        for ((slot, (spec, rejected)), quiet) in each {
            let shard = match &slot {
                Slot::One { shard, .. } => Some(*shard as usize),
                Slot::Merged { parts, .. } | Slot::Linked { parts, .. } if !parts.is_empty() => {
                    Some(self.parts[parts.start as usize].shard as usize)
                }
                _ => None,
            };
            let reply = match slot {
                Slot::Ready(r) => r,
                Slot::One { shard, idx } => self.take(shard, idx),
                Slot::Merged { merge, parts, keys } => self.merge(merge, parts, keys),
                Slot::Linked {
                    job,
                    merge,
                    parts,
                    keys,
                } => self.merge_linked(job, merge, parts, keys),
            };
            let code = match &reply {
                Reply::Error(e) => Some(e.code()),
                _ => None,
            };
            errors += code.is_some() as u64;
            if !quiet {
                reply.encode(out, session.resp3);
            }
            record.push((spec, rejected, code, shard));
        }
        self.slots = slots;
        self.stats = stats;
        self.quiet = quiet;
        metrics::with_recorder(|rec| {
            // A pipeline repeats the same command: each run of alike replies is one record.
            for run in record.chunk_by(|a, b| a == b) {
                let (spec, rejected, code, shard) = run[0];
                let n = run.len() as u64;
                rec.command_n(spec, rejected, code, usec, n);
                let (Some(spec), false, Some(s)) = (spec, rejected, shard) else {
                    continue;
                };
                // Where this command's wait went: its shard's queue, its share of the
                // part's execution, the commit, and the rest (the network side).
                let t = times.get(s).copied().unwrap_or_default();
                let share = self.work_sizes.get(s).copied().unwrap_or(1).max(1);
                let network = elapsed.saturating_sub(t.queue_us + t.storage_us + t.commit_us);
                let stages = [network, t.queue_us, t.storage_us / share, t.commit_us];
                rec.stages_n(spec, stages, n);
            }
        });
        record.clear();
        self.record = record;
        session.ctx.count(n as u64, errors);
        self.parts.clear();
        self.positions.clear();
        self.linked_results.clear();
        for r in &mut self.results {
            r.clear();
        }
        Some((n as u64, elapsed))
    }

    fn merge(&mut self, merge: Merge, parts: Range<u32>, keys: u32) -> Reply {
        let mut replies = Vec::with_capacity(parts.len());
        for i in parts.clone() {
            let (shard, idx) = (self.parts[i as usize].shard, self.parts[i as usize].idx);
            replies.push(self.take(shard, idx));
        }
        let positions: Vec<&[u32]> = parts
            .map(|i| {
                let pos = &self.parts[i as usize].positions;
                &self.positions[pos.start as usize..pos.end as usize]
            })
            .collect();
        combine(merge, replies, &positions, keys as usize)
    }

    fn merge_linked(&mut self, job: u32, merge: Merge, parts: Range<u32>, keys: u32) -> Reply {
        let mut replies = Vec::with_capacity(parts.len());
        for i in parts.clone() {
            let idx = self.parts[i as usize].idx as usize;
            let reply = match self.linked_results.get_mut(job as usize) {
                Some(r) if idx < r.len() => std::mem::replace(&mut r[idx], Reply::Nil),
                // A failed round has one error for the whole job.
                Some(r) if !r.is_empty() => r[0].clone(),
                _ => CommandError::Unavailable.into(),
            };
            replies.push(reply);
        }
        let positions: Vec<&[u32]> = parts
            .map(|i| {
                let pos = &self.parts[i as usize].positions;
                &self.positions[pos.start as usize..pos.end as usize]
            })
            .collect();
        combine(merge, replies, &positions, keys as usize)
    }
}

/// Combines the replies of a split command's parts: the first error if any part
/// failed, else as `merge` says. For [`Merge::Gather`], `positions[i]` says where
/// each element of part `i`'s array goes among the `keys` results.
pub(super) fn combine(
    merge: Merge,
    replies: Vec<Reply>,
    positions: &[&[u32]],
    keys: usize,
) -> Reply {
    if let Some(i) = replies.iter().position(Reply::is_error) {
        return replies.into_iter().nth(i).unwrap_or(Reply::Nil);
    }
    match merge {
        Merge::Sum => Reply::Int(
            replies
                .iter()
                .map(|r| if let Reply::Int(n) = r { *n } else { 0 })
                .sum(),
        ),
        Merge::AllOk => Reply::Ok,
        Merge::Concat => Reply::Array(
            replies
                .into_iter()
                .flat_map(|r| match r {
                    Reply::Array(v) => v,
                    _ => Vec::new(),
                })
                .collect(),
        ),
        Merge::Pick => {
            let found: Vec<Reply> = replies.into_iter().filter(|r| *r != Reply::Nil).collect();
            let n = found.len();
            if n == 0 {
                Reply::Nil
            } else {
                let pick = (crate::storage::now_ms() as usize) % n;
                found.into_iter().nth(pick).unwrap_or(Reply::Nil)
            }
        }
        Merge::Gather => {
            let mut out = vec![Reply::Nil; keys];
            for (pos, reply) in positions.iter().zip(replies) {
                if let Reply::Array(items) = reply {
                    for (&p, item) in pos.iter().zip(items) {
                        if let Some(slot) = out.get_mut(p as usize) {
                            *slot = item;
                        }
                    }
                }
            }
            Reply::Array(out)
        }
    }
}

/// Copies a command that ran (`refused`: it did not) to the MONITOR clients.
fn feed_monitors(session: &Session, args: &[Bytes], refused: bool) {
    let Some(cmd) = commands::lookup(&args[0]) else {
        return;
    };
    // A subcommand has its own flags (CONFIG GET is an admin command, CLIENT INFO not).
    let sub = (args.len() > 1)
        .then(|| cmd.spec.subcommand(&args[1]))
        .flatten();
    let hidden = sub.is_some_and(|s| {
        s.flags
            .iter()
            .any(|f| *f == "admin" || *f == "skip_monitor")
    });
    if refused || !cmd.flags.monitored || hidden {
        return;
    }
    let limits = session.ctx.pubsub_limits();
    let from = session.info.addr.to_string();
    session.ctx.monitors.feed(session.db, &from, args, limits);
}

/// Whether CLIENT PAUSE WRITE holds a command: it writes, or may (a script, a
/// PUBLISH, an EXEC of writes).
fn writes(cmd: &Command, session: &Session) -> bool {
    if cmd.flags.write {
        return true;
    }
    match cmd.spec.name {
        "eval" | "evalsha" | "fcall" | "publish" | "spublish" => true,
        "exec" => session.multi.as_ref().is_some_and(|m| {
            m.queued
                .iter()
                .any(|a| commands::lookup(&a[0]).is_some_and(|c| c.flags.write))
        }),
        _ => false,
    }
}

/// Redis's text for an unknown command, with the first arguments quoted.
fn unknown_command(args: &[Bytes]) -> Reply {
    let name = String::from_utf8_lossy(&args[0]);
    let name: String = name.chars().take(128).collect();
    let mut rest = String::new();
    for a in &args[1..] {
        if rest.len() >= 128 {
            break;
        }
        let room = 128 - rest.len();
        let text = String::from_utf8_lossy(a);
        let cut: String = text.chars().take(room).collect();
        rest.push_str(&format!("'{cut}' "));
    }
    CommandError::unknown_command(&name, &rest).into()
}
