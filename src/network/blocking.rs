//! Blocking commands on the network side: BLPOP and friends wait here, in the
//! connection's task, without a thread and without storage.
//!
//! 1. **Attempt and register.** One step in the queue order of the keys' shard
//!    (`Backend::atomic`) tries the keys in order and, if none can serve, registers a
//!    [`Waiter`] on each (`storage::blocked`). Keys on several shards take one such
//!    step per key, in key order, so the first key with data wins as in Redis; a
//!    waiter registered on an earlier shard may be served meanwhile, and the claim
//!    makes sure it is served once. A BLMOVE whose destination lives on another
//!    shard first runs its move holding both shards (`coordinator`), and waits on the
//!    source alone.
//! 2. **Wait.** The task waits for whichever comes first: the waiter's reply (a shard
//!    served it after committing the write that fed the key), the timeout, `CLIENT
//!    UNBLOCK` or `CLIENT KILL` (the client's doorbell), or the client closing the
//!    connection (what it sends meanwhile is buffered for after the wait). Ending the
//!    wait cancels the waiter; if a shard claimed it first, its reply is on its way and
//!    is the answer.
//! 3. **Retry.** A waiter woken to run its move across shards, or whose shard was
//!    restarted, goes back to 1.
//!
//! A blocked connection keeps no read or write buffer beyond what the client sent, so
//! 10,000 waiters cost their registry entries, tasks and sockets, and no CPU.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::connection::MAX_QUERY_BUFFER;
use super::coordinator;
use crate::commands::shard::blocking::{self, Blocking};
use crate::commands::CommandError;
use crate::error::text;
use crate::protocol::Reply;
use crate::state::{Session, Unblock};
use crate::storage::encoding::{key_hash, shard_of};
use crate::storage::{Served, Waiter, Woken};

/// How a blocking command ended for its connection.
pub(super) enum Ended {
    /// Its reply.
    Reply(Reply),
    /// The client closed the connection (or was killed) while it waited.
    Closed,
}

/// What one attempt found.
enum Attempt {
    /// Served at once.
    Reply(Reply),
    /// Registered on every key: wait.
    Blocked,
    /// Served (or being served) by a shard it registered with earlier: wait for it.
    Taken,
    /// Run it again.
    Retry,
}

/// Runs a blocking command for `session`, reading (and buffering) from `stream`
/// while it waits, so that a client that goes away is noticed.
pub(super) async fn run(
    session: &mut Session,
    args: Vec<Bytes>,
    stream: &mut TcpStream,
    rbuf: &mut BytesMut,
) -> Ended {
    // Copied: the arguments are slices of the read buffer, which would otherwise stay
    // allocated for as long as the client waits.
    let owned: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
    drop(args);
    let args = owned;
    let parsed = match blocking::parse(&args) {
        Ok(b) => b,
        Err(e) => return Ended::Reply(e.into()),
    };
    let deadline = (parsed.timeout_ms > 0)
        .then(|| tokio::time::Instant::now() + Duration::from_millis(parsed.timeout_ms));
    let info = session.info.clone();
    info.doorbell.take_unblock();
    // Counted once registered with every key's shard: a client that sees the count
    // knows a write to any of the keys will find the waiter.
    let mut counted = None;
    let args = blocking::shared(&args);
    let ended = loop {
        let (waiter, rx) = Waiter::new(session.db, parsed.serve, args.clone());
        let attempt = match attempt(session, &parsed, &waiter).await {
            Ok(a) => a,
            Err(e) if waiter.cancel() => break Ended::Reply(e.into()),
            // A shard claimed it while a later key failed: its reply is the answer.
            Err(_) => Attempt::Taken,
        };
        match attempt {
            Attempt::Reply(r) => break Ended::Reply(r),
            Attempt::Retry => continue,
            Attempt::Blocked | Attempt::Taken => {}
        }
        if counted.is_none() {
            counted = Some(Counted::new(session));
        }
        match wait(rx, &waiter, deadline, &info.doorbell, stream, rbuf).await {
            Waited::Woken(Woken::Reply(r)) => break Ended::Reply(r),
            Waited::Woken(Woken::Retry) => continue,
            Waited::TimedOut => break Ended::Reply(parsed.timed_out.clone()),
            Waited::Unblocked(Unblock::Error) => break Ended::Reply(Reply::error(text::UNBLOCKED)),
            Waited::Unblocked(_) => break Ended::Reply(parsed.timed_out.clone()),
            Waited::Closed => break Ended::Closed,
        }
    };
    ended
}

/// A client counted as blocked (CLIENT LIST's `b`, INFO's `blocked_clients`) for as
/// long as it lives, however the wait ends.
struct Counted {
    info: Arc<crate::state::ClientInfo>,
    ctx: Arc<crate::state::ServerCtx>,
}

impl Counted {
    fn new(session: &Session) -> Counted {
        session.info.set_blocked(true);
        session
            .ctx
            .stats
            .blocked_clients
            .fetch_add(1, Ordering::Relaxed);
        Counted {
            info: session.info.clone(),
            ctx: session.ctx.clone(),
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.info.set_blocked(false);
        self.ctx
            .stats
            .blocked_clients
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// Tries the keys and registers the waiter on them (step 1 of the module docs).
async fn attempt(
    session: &mut Session,
    b: &Blocking,
    waiter: &Arc<Waiter>,
) -> Result<Attempt, CommandError> {
    let backend = session.ctx.backend.clone();
    let shards = backend.shards();
    let shard = |k: &Bytes| shard_of(key_hash(k), shards);
    if let Some(dst) = &b.destination {
        if shard(dst) != shard(&b.keys[0]) {
            // Across shards the move itself holds both shards; then wait on the source.
            let moved = coordinator::run_move(session, &blocking::as_move(&waiter.args)).await?;
            if moved != Reply::Nil {
                return Ok(Attempt::Reply(moved));
            }
        }
    }
    let first = shard(&b.keys[0]);
    let groups: Vec<Vec<Bytes>> = if b.keys.iter().all(|k| shard(k) == first) {
        vec![b.keys.clone()]
    } else {
        b.keys.iter().map(|k| vec![k.clone()]).collect()
    };
    for keys in groups {
        let w = waiter.clone();
        let on = shard(&keys[0]);
        let found = backend
            .atomic(on, session.db, move |tx| {
                for key in &keys {
                    match (w.serve)(tx, key, &w.args, &mut || w.claim())? {
                        Served::Reply(r) => return Ok(Attempt::Reply(r)),
                        Served::Retry => return Ok(Attempt::Retry),
                        Served::Not if !w.waiting() => return Ok(Attempt::Taken),
                        Served::Not => {}
                    }
                }
                for key in &keys {
                    tx.block(key, &w);
                }
                Ok(Attempt::Blocked)
            })
            .await?;
        if !matches!(found, Attempt::Blocked) {
            return Ok(found);
        }
    }
    Ok(Attempt::Blocked)
}

/// How a wait ended.
enum Waited {
    Woken(Woken),
    TimedOut,
    Unblocked(Unblock),
    Closed,
}

/// Waits for the waiter's reply, its deadline, the client's doorbell or the client
/// leaving (step 2 of the module docs).
async fn wait(
    mut rx: oneshot::Receiver<Woken>,
    waiter: &Waiter,
    mut deadline: Option<tokio::time::Instant>,
    doorbell: &crate::state::Doorbell,
    stream: &mut TcpStream,
    rbuf: &mut BytesMut,
) -> Waited {
    let mut reading = true;
    loop {
        let timer = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let read = async {
            if reading {
                if rbuf.capacity() - rbuf.len() < 1024 {
                    rbuf.reserve(4096);
                }
                stream.read_buf(rbuf).await
            } else {
                std::future::pending().await
            }
        };
        tokio::select! {
            woken = &mut rx => {
                // A dropped sender: the shard is gone without serving it.
                return Waited::Woken(woken.unwrap_or(Woken::Retry));
            }
            _ = timer => {
                if waiter.cancel() {
                    return Waited::TimedOut;
                }
                deadline = None;
            }
            _ = doorbell.rung() => {
                if doorbell.killed() {
                    waiter.cancel();
                    return Waited::Closed;
                }
                if let Some(how) = doorbell.take_unblock() {
                    if waiter.cancel() {
                        return Waited::Unblocked(how);
                    }
                }
            }
            n = read => match n {
                Ok(0) | Err(_) => {
                    waiter.cancel();
                    return Waited::Closed;
                }
                Ok(_) if rbuf.len() > MAX_QUERY_BUFFER => {
                    waiter.cancel();
                    return Waited::Closed;
                }
                // Buffered for after the wait; past a generous amount, stop reading.
                Ok(_) => reading = rbuf.len() < 1 << 20,
            },
        }
    }
}
