//! Per-connection state ([`Session`]) and what other connections may see of it
//! ([`ClientInfo`], for `CLIENT LIST` and `INFO clients`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::Notify;

use super::pubsub::Kind;
use super::ServerCtx;
use crate::spec::redis_spec::REDIS_SPECS;
use crate::spec::RedisSpec;
use crate::storage::WatchCheck;

/// What the server knows about a connected client, shared with `CLIENT LIST`.
/// Written with relaxed atomics by the owning connection; never locked per command.
pub struct ClientInfo {
    /// Client id (unique, increasing).
    pub id: u64,
    /// Peer address.
    pub addr: SocketAddr,
    /// Local address.
    pub laddr: SocketAddr,
    /// When the connection was accepted.
    pub created: Instant,
    /// CLIENT SETNAME (locked only by the CLIENT commands).
    pub name: Mutex<Option<Bytes>>,
    /// Selected database.
    pub db: AtomicU8,
    /// Protocol version (2 or 3).
    pub resp: AtomicU8,
    /// Milliseconds since `created` of the last command.
    pub last_active_ms: AtomicU64,
    last_cmd: AtomicUsize,
    /// Rung by other connections: CLIENT UNBLOCK, CLIENT KILL, messages.
    pub doorbell: Doorbell,
    blocked: AtomicBool,
    /// Channels, patterns and shard channels subscribed to (CLIENT LIST's sub, psub
    /// and ssub).
    pub subscriptions: [std::sync::atomic::AtomicU32; 3],
    /// What other connections sent it and it has not written yet.
    pub mailbox: super::pubsub::Mailbox,
    /// The network thread that serves it (CLIENT LIST's `net-thread`).
    pub thread: std::sync::OnceLock<String>,
    /// CLIENT TRACKING: -1 off, else the redirect client (0: none), CLIENT LIST's `redir`.
    pub redir: std::sync::atomic::AtomicI64,
    /// CLIENT TRACKING in BCAST mode (CLIENT LIST's `B` flag).
    pub bcast: AtomicBool,
}

/// How CLIENT UNBLOCK ends a client's wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unblock {
    /// As if its timeout had passed.
    Timeout,
    /// With the `-UNBLOCKED` error.
    Error,
}

/// What other connections use to get a client's attention: a flag for what they
/// want, then a ring that wakes the client's task wherever it waits.
#[derive(Default)]
pub struct Doorbell {
    notify: Notify,
    /// 0: nothing; 1: unblock as timed out; 2: unblock with an error.
    unblock: AtomicU8,
    killed: AtomicBool,
}

impl Doorbell {
    /// Waits until the bell rings (a ring while nobody waits is kept for the next wait).
    pub async fn rung(&self) {
        self.notify.notified().await
    }

    /// Wakes the client's task.
    pub fn ring(&self) {
        self.notify.notify_one();
    }

    /// Asks the client's connection to close (CLIENT KILL).
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.ring();
    }

    /// Whether the connection was asked to close.
    pub fn killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    /// Asks the client to stop waiting (CLIENT UNBLOCK).
    pub fn unblock(&self, how: Unblock) {
        let v = match how {
            Unblock::Timeout => 1,
            Unblock::Error => 2,
        };
        self.unblock.store(v, Ordering::Release);
        self.ring();
    }

    /// Takes a pending CLIENT UNBLOCK request.
    pub fn take_unblock(&self) -> Option<Unblock> {
        match self.unblock.swap(0, Ordering::AcqRel) {
            1 => Some(Unblock::Timeout),
            2 => Some(Unblock::Error),
            _ => None,
        }
    }
}

impl ClientInfo {
    /// A new client.
    pub fn new(id: u64, addr: SocketAddr, laddr: SocketAddr) -> ClientInfo {
        ClientInfo {
            id,
            addr,
            laddr,
            created: Instant::now(),
            name: Mutex::new(None),
            db: AtomicU8::new(0),
            resp: AtomicU8::new(2),
            last_active_ms: AtomicU64::new(0),
            last_cmd: AtomicUsize::new(usize::MAX),
            doorbell: Doorbell::default(),
            blocked: AtomicBool::new(false),
            subscriptions: Default::default(),
            mailbox: Default::default(),
            thread: Default::default(),
            redir: std::sync::atomic::AtomicI64::new(-1),
            bcast: AtomicBool::new(false),
        }
    }

    /// Notes whether the client waits in a blocking command.
    pub fn set_blocked(&self, blocked: bool) {
        self.blocked.store(blocked, Ordering::Relaxed);
    }

    /// Whether the client is subscribed to anything (CLIENT KILL TYPE pubsub).
    pub fn in_pubsub(&self) -> bool {
        self.subscriptions
            .iter()
            .any(|n| n.load(Ordering::Relaxed) > 0)
    }

    /// Whether the client waits in a blocking command.
    pub fn is_blocked(&self) -> bool {
        self.blocked.load(Ordering::Relaxed)
    }

    /// Notes the command the client ran last.
    pub fn touch(&self, spec: &'static RedisSpec) {
        let idx = crate::metrics::spec_index(spec).unwrap_or(usize::MAX);
        self.last_cmd.store(idx, Ordering::Relaxed);
        let ms = self.created.elapsed().as_millis() as u64;
        self.last_active_ms.store(ms, Ordering::Relaxed);
    }

    /// The client's name, empty if none.
    pub fn name(&self) -> Bytes {
        self.name
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_default()
    }

    /// CLIENT LIST's flags, in Redis's order: `P` subscriber, `b` blocked, `t`
    /// tracking, `B` broadcast tracking; `N` for none.
    fn flags(&self) -> String {
        let tracking = self.redir.load(Ordering::Relaxed) >= 0;
        let mut f = String::new();
        for (on, c) in [
            (self.in_pubsub(), 'P'),
            (self.is_blocked(), 'b'),
            (tracking, 't'),
            (self.bcast.load(Ordering::Relaxed), 'B'),
        ] {
            if on {
                f.push(c);
            }
        }
        if f.is_empty() {
            f.push('N');
        }
        f
    }

    /// One `CLIENT LIST` / `CLIENT INFO` line (without the newline).
    pub fn describe(&self) -> String {
        let age = self.created.elapsed();
        let idle = age.as_millis() as u64
            - self
                .last_active_ms
                .load(Ordering::Relaxed)
                .min(age.as_millis() as u64);
        let cmd = REDIS_SPECS
            .get(self.last_cmd.load(Ordering::Relaxed))
            .map_or("NULL", |s| s.name);
        format!(
            "id={} addr={} laddr={} fd=0 name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} \
             multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 \
             tot-mem=0 events=r cmd={} user=default redir={} resp={} net-thread={}",
            self.id,
            self.addr,
            self.laddr,
            String::from_utf8_lossy(&self.name()),
            age.as_secs(),
            idle / 1000,
            self.flags(),
            self.db.load(Ordering::Relaxed),
            self.subscriptions[0].load(Ordering::Relaxed),
            self.subscriptions[1].load(Ordering::Relaxed),
            self.subscriptions[2].load(Ordering::Relaxed),
            cmd,
            self.redir.load(Ordering::Relaxed),
            self.resp.load(Ordering::Relaxed),
            self.thread.get().map_or("none", String::as_str),
        )
    }
}

/// The state of one connection, owned by its task.
pub struct Session {
    /// The server.
    pub ctx: Arc<ServerCtx>,
    /// This client's shared description.
    pub info: Arc<ClientInfo>,
    /// Selected database.
    pub db: u8,
    /// Replies in RESP3 (after `HELLO 3`).
    pub resp3: bool,
    /// Passed AUTH (or no password is required).
    pub authed: bool,
    /// Close after the pending replies are written (QUIT, SHUTDOWN).
    pub closing: bool,
    /// After MULTI: the commands queued for EXEC.
    pub multi: Option<Multi>,
    /// What WATCH registered, until EXEC, DISCARD, UNWATCH or RESET.
    pub watch: Option<WatchCheck>,
    /// CLIENT REPLY OFF: no replies until CLIENT REPLY ON.
    pub reply_off: bool,
    /// Replies still to leave out (CLIENT REPLY SKIP: its own and the next one).
    pub reply_skip: u8,
    /// Its channels, patterns and shard channels (indexed by `pubsub::Kind`).
    pub subscribed: [ahash::AHashSet<Bytes>; 3],
    /// After MONITOR.
    pub monitoring: bool,
    /// CLIENT TRACKING ON: how (None: off).
    pub tracking: Option<super::tracking::Mode>,
    /// A CLIENT CACHING YES|NO waits for the next command.
    pub caching: bool,
}

impl Drop for Session {
    /// A client that leaves is forgotten by every channel it listened to.
    fn drop(&mut self) {
        for (i, kind) in [Kind::Channel, Kind::Pattern, Kind::Shard]
            .into_iter()
            .enumerate()
        {
            for name in self.subscribed[i].drain() {
                self.ctx.pubsub.unsubscribe(kind, &name, self.info.id);
            }
        }
        if self.monitoring {
            self.ctx.monitors.remove(self.info.id);
        }
        if self.tracking.is_some() {
            self.ctx.tracking.disable(self.info.id);
        }
    }
}

/// A transaction being queued (between MULTI and EXEC).
#[derive(Debug, Default)]
pub struct Multi {
    /// Each queued command's arguments, in order.
    pub queued: Vec<Vec<Bytes>>,
    /// Bytes of arguments queued.
    pub bytes: usize,
    /// A command was refused while queueing: EXEC aborts.
    pub failed: bool,
}

impl Session {
    /// Whether the reply of the command just routed is left out (CLIENT REPLY OFF or
    /// SKIP); counts a skipped reply off.
    pub fn quiet(&mut self) -> bool {
        if self.reply_skip > 0 {
            self.reply_skip -= 1;
            return true;
        }
        self.reply_off
    }

    /// Whether it listens to any channel (RESP2's subscribed mode).
    pub fn in_pubsub(&self) -> bool {
        self.subscribed.iter().any(|s| !s.is_empty())
    }

    /// A session for a new connection.
    pub fn new(ctx: Arc<ServerCtx>, info: Arc<ClientInfo>) -> Session {
        let authed = ctx.live.requirepass().is_none();
        Session {
            ctx,
            info,
            db: 0,
            resp3: false,
            authed,
            closing: false,
            multi: None,
            watch: None,
            reply_off: false,
            reply_skip: 0,
            subscribed: Default::default(),
            monitoring: false,
            tracking: None,
            caching: false,
        }
    }
}
