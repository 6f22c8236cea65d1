//! State the network-side commands read and change, below the commands that use it
//! and the network threads that own it: the server-wide [`ServerCtx`], each
//! connection's [`Session`], and the counters threads publish for INFO.
//!
//! It holds handles, never logic that runs a thread: starting network threads is
//! `server`'s job, serving connections `network`'s.

pub mod pubsub;
pub mod scripts;
mod session;
pub mod tracking;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ahash::AHashMap;
use bytes::Bytes;
use tokio::sync::Notify;

use crate::config::{notify, Config, Live};
use crate::storage::{Backend, KeyEvent, Listener, Touched};
pub use scripts::Scripts;
pub use session::{ClientInfo, Doorbell, Multi, Session, Unblock};

/// The shape of the running server, as INFO shows it.
#[derive(Debug, Clone)]
pub struct Shape {
    /// `dual` or `single`.
    pub runtime_mode: &'static str,
    /// Network threads.
    pub network_threads: usize,
    /// Cores the network threads are pinned to (`none` if floating).
    pub network_cores: String,
    /// Storage worker threads.
    pub storage_threads: usize,
    /// Cores the storage side is pinned to (`none` if floating).
    pub storage_cores: String,
    /// Shards.
    pub shards: usize,
    /// Capacity of each shard channel.
    pub channel_capacity: u64,
}

/// Server-wide counters.
#[derive(Default)]
pub struct Stats {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Commands processed.
    pub commands: AtomicU64,
    /// Error replies sent.
    pub errors: AtomicU64,
    /// Bytes read from clients.
    pub net_in: AtomicU64,
    /// Bytes written to clients.
    pub net_out: AtomicU64,
    /// Clients waiting in a blocking command.
    pub blocked_clients: AtomicU64,
}

/// Per-thread CPU time published by each runtime thread.
#[derive(Default)]
pub struct ThreadCpu {
    /// `(name, core, cpu µs)` per thread, refreshed by each thread itself.
    pub threads: Mutex<Vec<(String, String, u64)>>,
}

/// State shared by every connection and thread.
pub struct ServerCtx {
    /// The configuration the server started with.
    pub config: Config,
    /// Settings CONFIG SET changes.
    pub live: Arc<Live>,
    /// The storage side.
    pub backend: Backend,
    /// Connected clients, by id (locked on connect, disconnect and CLIENT LIST only).
    pub clients: Mutex<AHashMap<u64, Arc<ClientInfo>>>,
    /// Next client id.
    pub next_client_id: AtomicU64,
    /// Counters.
    pub stats: Stats,
    /// Start time.
    pub started: Instant,
    /// Start time, Unix seconds.
    pub started_unix: u64,
    /// The server's shape.
    pub shape: Shape,
    /// Address the server listens on.
    pub addr: SocketAddr,
    /// Woken by SHUTDOWN.
    pub shutdown: Notify,
    /// CPU time per runtime thread.
    pub cpu: ThreadCpu,
    /// Unix time of the last successful SAVE/BGSAVE (the start time before any).
    pub last_save: AtomicU64,
    /// Directory of the last checkpoint.
    pub last_save_path: Mutex<String>,
    /// A BGSAVE is running.
    pub bgsave_running: std::sync::atomic::AtomicBool,
    /// Counters of each network thread (INFO network).
    pub net_threads: Mutex<Vec<Arc<NetThreadStats>>>,
    /// One no-op responder per network thread, by thread name (the network health check).
    pub net_pingers: Mutex<Vec<(String, NetPinger)>>,
    /// Index of the next network thread to start.
    pub net_next: std::sync::atomic::AtomicUsize,
    /// Script cache, function libraries and busy scripts.
    pub scripts: Arc<Scripts>,
    /// Work for the script worker threads: scripts over several shards, compiling
    /// and loading Lua (never on a network thread).
    pub script_jobs: flume::Sender<ScriptJob>,
    /// CLIENT PAUSE.
    pub pause: Pause,
    /// Channels, patterns and shard channels, and their subscribers.
    pub pubsub: Arc<pubsub::PubSub>,
    /// Clients in MONITOR mode.
    pub monitors: Monitors,
    /// CLIENT TRACKING: who cached which keys.
    pub tracking: tracking::Tracking,
}

impl ServerCtx {
    /// The limits a subscriber's mailbox is held to (client-output-buffer-limit pubsub).
    pub fn pubsub_limits(&self) -> pubsub::Limits {
        let (hard, soft, soft_secs) = self.live.output_limit(true);
        pubsub::Limits {
            hard,
            soft,
            soft_secs,
        }
    }

    /// FLUSHALL / FLUSHDB ran: every tracking client drops its whole cache.
    pub fn tracking_flushed(&self) {
        self.tracking
            .flushed(&|id| self.client(id), self.pubsub_limits());
    }

    /// The connected client `id`, if any.
    pub fn client(&self, id: u64) -> Option<Arc<ClientInfo>> {
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }
}

/// What shards report after a commit, published on the network side's registries:
/// keyspace events on their `__keyspace@<db>__` and `__keyevent@<db>__` channels,
/// written keys to CLIENT TRACKING. Runs on the shard's thread.
pub struct Keyspace(pub std::sync::Weak<ServerCtx>);

impl Listener for Keyspace {
    fn events(&self, events: &[KeyEvent]) {
        let Some(ctx) = self.0.upgrade() else { return };
        let flags = ctx.live.notify_flags();
        let limits = ctx.pubsub_limits();
        let publish = |channel: Vec<u8>, message: Bytes| {
            let channel = Bytes::from(channel);
            ctx.pubsub
                .publish(pubsub::Kind::Channel, &channel, &message, limits);
        };
        for e in events {
            if flags & notify::KEYSPACE != 0 {
                let mut channel = format!("__keyspace@{}__:", e.db).into_bytes();
                channel.extend_from_slice(&e.key);
                publish(channel, Bytes::from_static(e.event.as_bytes()));
            }
            if flags & notify::KEYEVENT != 0 {
                let channel = format!("__keyevent@{}__:{}", e.db, e.event).into_bytes();
                publish(channel, e.key.clone());
            }
        }
    }

    fn touched(&self, keys: &[Touched]) {
        let Some(ctx) = self.0.upgrade() else { return };
        let limits = ctx.pubsub_limits();
        ctx.tracking.invalidate(keys, &|id| ctx.client(id), limits);
    }
}

/// The clients that ran MONITOR: every command any client runs is copied to them.
#[derive(Default)]
pub struct Monitors {
    any: std::sync::atomic::AtomicBool,
    list: std::sync::RwLock<Vec<Arc<ClientInfo>>>,
}

impl Monitors {
    /// Whether anyone monitors (one relaxed load).
    #[inline]
    pub fn any(&self) -> bool {
        self.any.load(Ordering::Relaxed)
    }

    /// Adds a monitor.
    pub fn add(&self, client: &Arc<ClientInfo>) {
        let mut list = self.list.write().unwrap_or_else(|e| e.into_inner());
        if !list.iter().any(|c| c.id == client.id) {
            list.push(client.clone());
        }
        self.any.store(true, Ordering::Relaxed);
    }

    /// Removes client `id` (it left, or RESET).
    pub fn remove(&self, id: u64) {
        let mut list = self.list.write().unwrap_or_else(|e| e.into_inner());
        list.retain(|c| c.id != id);
        self.any.store(!list.is_empty(), Ordering::Relaxed);
    }

    /// Sends one MONITOR line to every monitor: `+<unix secs.µs> [<db> <addr>] "arg" ...`
    /// with the arguments quoted as Redis quotes them; AUTH's are redacted.
    pub fn feed(&self, db: u8, from: &str, args: &[bytes::Bytes], limits: pubsub::Limits) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let mut line = format!("{}.{:06} [{db} {from}]", now.as_secs(), now.subsec_micros());
        let redact = args[0].eq_ignore_ascii_case(b"auth");
        for (i, a) in args.iter().enumerate() {
            line.push(' ');
            if redact && i > 0 {
                line.push_str("\"(redacted)\"");
            } else {
                quote_into(&mut line, a);
            }
        }
        let frames = pubsub::Frames::new(crate::protocol::Reply::Status(line.into()));
        for c in self.list.read().unwrap_or_else(|e| e.into_inner()).iter() {
            c.mailbox.post(&frames, c, limits);
        }
    }
}

/// Appends `bytes` in double quotes, escaped as Redis's `sdscatrepr` does.
pub fn quote_into(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
}

/// CLIENT PAUSE: until when commands wait, and whether all of them or the writes.
/// Checked once per command with one relaxed load while no pause is on.
#[derive(Default)]
pub struct Pause {
    on: std::sync::atomic::AtomicBool,
    state: Mutex<Option<(tokio::time::Instant, bool)>>,
    /// Woken by CLIENT UNPAUSE.
    pub lifted: Notify,
}

impl Pause {
    /// Pauses until `until` (a later end extends a pause, ALL widens WRITE).
    pub fn set(&self, until: tokio::time::Instant, all: bool) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = tokio::time::Instant::now();
        *s = Some(match *s {
            Some((end, was_all)) if end > now => (end.max(until), all || was_all),
            _ => (until, all),
        });
        self.on.store(true, Ordering::Release);
    }

    /// Ends the pause (CLIENT UNPAUSE).
    pub fn clear(&self) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.on.store(false, Ordering::Release);
        self.lifted.notify_waiters();
    }

    /// Whether a pause may be on (one relaxed load).
    #[inline]
    pub fn active(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Until when a command must wait (`writes`: whether it writes), if it must.
    pub fn holds(&self, writes: bool) -> Option<tokio::time::Instant> {
        if !self.on.load(Ordering::Acquire) {
            return None;
        }
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match *s {
            Some((end, all)) if end > tokio::time::Instant::now() => (all || writes).then_some(end),
            _ => {
                *s = None;
                self.on.store(false, Ordering::Release);
                None
            }
        }
    }
}

/// A job for a script worker thread.
pub type ScriptJob = Box<dyn FnOnce() + Send>;

/// Where a network thread's health responder listens.
pub type NetPinger = tokio::sync::mpsc::UnboundedSender<tokio::sync::oneshot::Sender<()>>;

impl ServerCtx {
    /// Starts, on the calling thread's runtime, a task that answers network health
    /// pings, and registers it.
    pub fn start_net_pinger(
        &self,
        name: &str,
        spawn: impl FnOnce(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>),
    ) {
        let (tx, mut rx) =
            tokio::sync::mpsc::unbounded_channel::<tokio::sync::oneshot::Sender<()>>();
        spawn(Box::pin(async move {
            while let Some(done) = rx.recv().await {
                let _ = done.send(());
            }
        }));
        self.net_pingers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((name.to_string(), tx));
    }

    /// Network threads running and not retiring.
    pub fn active_network_threads(&self) -> usize {
        self.net_threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|t| !t.retiring())
            .count()
    }
}

impl ServerCtx {
    /// Records `n` commands and `errors` error replies.
    pub fn count(&self, n: u64, errors: u64) {
        self.stats.commands.fetch_add(n, Ordering::Relaxed);
        if errors > 0 {
            self.stats.errors.fetch_add(errors, Ordering::Relaxed);
        }
    }
}

/// Counters of one network thread, written by that thread alone (relaxed atomics; the
/// histogram's lock is taken once per batch by its own thread) and read by INFO.
pub struct NetThreadStats {
    /// Thread name (matches /proc, for CPU time).
    pub name: String,
    /// Core it is pinned to, or `none`.
    pub core: String,
    /// Connections open now.
    pub connections: AtomicU64,
    /// Commands answered.
    pub commands: AtomicU64,
    /// Bytes read.
    pub bytes_in: AtomicU64,
    /// Bytes written.
    pub bytes_out: AtomicU64,
    /// Response time of each batch, µs.
    pub latency: Mutex<Option<hdrhistogram::Histogram<u64>>>,
    retiring: std::sync::atomic::AtomicBool,
    /// Woken when the thread is told to retire.
    pub retire: tokio::sync::Notify,
}

impl NetThreadStats {
    /// Counters for a new thread `name` on `core`.
    pub fn new(name: String, core: String) -> NetThreadStats {
        NetThreadStats {
            name,
            core,
            connections: AtomicU64::new(0),
            commands: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            latency: Mutex::new(None),
            retiring: std::sync::atomic::AtomicBool::new(false),
            retire: tokio::sync::Notify::new(),
        }
    }

    /// Whether the thread was told to stop accepting.
    pub fn retiring(&self) -> bool {
        self.retiring.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Tells the thread to stop accepting and exit once its connections are gone.
    pub fn retire(&self) {
        self.retiring
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.retire.notify_one();
    }

    /// Records one answered batch: `n` commands, `us` from first parse to reply.
    pub fn batch(&self, n: u64, us: u64) {
        use std::sync::atomic::Ordering;
        self.commands.fetch_add(n, Ordering::Relaxed);
        let mut h = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        h.get_or_insert_with(|| {
            hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("valid bounds")
        })
        .saturating_record(us.max(1));
    }
}
