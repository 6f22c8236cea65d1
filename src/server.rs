//! Start-up and shared server state.
//!
//! [`run`] builds the storage side first (opening RocksDB from a storage-pinned
//! thread), then binds one `SO_REUSEPORT` listener per network thread and starts the
//! network threads, prints the ready line, and waits for SIGTERM, SIGINT or SHUTDOWN.
//! Shutting down commits and stops every shard and makes the WAL durable.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ahash::AHashMap;
use tokio::sync::Notify;

use crate::config::{Config, Live, RuntimeMode};
use crate::network::{self, ClientInfo};
use crate::runtime::{self, Placement};
use crate::storage::{self, Backend, Engine, EngineOptions};

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
    pub net_threads: Mutex<Vec<Arc<network::NetThreadStats>>>,
    /// One no-op responder per network thread, by thread name (the network health check).
    pub net_pingers: Mutex<Vec<(String, NetPinger)>>,
    /// Index of the next network thread to start.
    pub net_next: std::sync::atomic::AtomicUsize,
}

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

    /// Starts or retires network threads until `n` are active (dual runtime). A new
    /// thread is pinned like the first ones and binds its own SO_REUSEPORT listener; a
    /// retired one stops accepting and exits once its connections have closed.
    pub fn set_network_threads(self: &Arc<Self>, n: usize) -> std::io::Result<()> {
        // One change at a time: two concurrent ones would both count the same threads.
        static CHANGING: Mutex<()> = Mutex::new(());
        let _one = CHANGING.lock().unwrap_or_else(|e| e.into_inner());
        let active: Vec<Arc<network::NetThreadStats>> = self
            .net_threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|t| !t.retiring())
            .cloned()
            .collect();
        for t in active.iter().skip(n) {
            t.retire();
        }
        let mut used: Vec<String> = active.iter().take(n).map(|t| t.core.clone()).collect();
        for _ in active.len()..n {
            let i = self
                .net_next
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let listener = network::bind(self.addr)?;
            // A free core of the list first (a retired thread's), then round robin.
            let free = self.config.network_cores.as_ref().and_then(|list| {
                list.0
                    .iter()
                    .copied()
                    .find(|c| !used.contains(&c.to_string()))
            });
            let place = match free {
                Some(core) => Placement::Fixed(core),
                None => Placement::nth(self.config.network_cores.as_ref(), i),
            };
            if let Placement::Fixed(c) = place {
                used.push(c.to_string());
            }
            network::spawn_thread(i, place, listener, self.clone())?;
        }
        Ok(())
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

fn engine_options(cfg: &Config) -> EngineOptions {
    EngineOptions {
        write_buffer_size: cfg.rocksdb_write_buffer_size as usize,
        block_cache_size: cfg.rocksdb_block_cache_size as usize,
        background_jobs: cfg.rocksdb_background_jobs,
        l0_compaction_trigger: cfg.rocksdb_l0_compaction_trigger,
        l0_slowdown_trigger: cfg.rocksdb_l0_slowdown_trigger,
        l0_stop_trigger: cfg.rocksdb_l0_stop_trigger,
        rate_limit: cfg.rocksdb_rate_limit,
        recycle_wal_files: cfg.rocksdb_recycle_wal_files,
        memtable_max_entries: cfg.rocksdb_memtable_max_entries,
        low_priority_background: cfg.rocksdb_background_priority == "low",
    }
}

fn cores_text(c: &Option<crate::config::CoreList>) -> String {
    c.as_ref()
        .map_or_else(|| "none".to_string(), |l| l.to_string())
}

/// Runs the server until it is told to stop. Errors are start-up failures.
pub fn run(cfg: Config) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(&cfg.dir)?;
    let live = Arc::new(Live::new(&cfg));
    let addr: SocketAddr = format!("{}:{}", cfg.bind, cfg.port)
        .parse()
        .map_err(|e| format!("bad bind address {}:{}: {e}", cfg.bind, cfg.port))?;
    let net_threads = cfg.network_threads();
    let storage_threads = cfg.storage_threads();
    let shards = cfg.shards();

    let (rt, backend) = match cfg.runtime {
        RuntimeMode::Dual => {
            let rt = runtime::storage_runtime(
                storage_threads,
                cfg.storage_cores.clone(),
                cfg.storage_nice,
            )?;
            // Open RocksDB on a storage thread so its own threads inherit the placement.
            let dir = cfg.dir.clone();
            let opts = engine_options(&cfg);
            let set = cfg.storage_cores.clone();
            let nice = cfg.storage_nice;
            let engine = rt.block_on(rt.spawn_blocking(move || {
                runtime::pin_to_set(set.as_ref());
                runtime::set_nice(nice);
                Engine::open(&dir, &opts)
            }))??;
            let backend = storage::start_dual(
                rt.handle(),
                Arc::new(engine),
                live.clone(),
                shards,
                cfg.channel_capacity as usize,
                cfg.cache_size as usize,
            );
            (rt, backend)
        }
        RuntimeMode::Single => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(net_threads + storage_threads)
                .thread_name("shardis-single")
                .enable_all()
                .build()?;
            let engine = Arc::new(Engine::open(&cfg.dir, &engine_options(&cfg))?);
            let backend = storage::start_single(
                rt.handle(),
                engine,
                live.clone(),
                shards,
                cfg.cache_size as usize,
            );
            (rt, backend)
        }
    };

    backend.route_rocksdb_options(&live);
    let shape = Shape {
        runtime_mode: cfg.runtime.name(),
        network_threads: if cfg.runtime == RuntimeMode::Dual {
            net_threads
        } else {
            0
        },
        network_cores: cores_text(&cfg.network_cores),
        storage_threads,
        storage_cores: cores_text(&cfg.storage_cores),
        shards,
        channel_capacity: cfg.channel_capacity,
    };
    let ctx = Arc::new(ServerCtx {
        live,
        backend: backend.clone(),
        clients: Mutex::new(AHashMap::new()),
        next_client_id: AtomicU64::new(1),
        stats: Stats::default(),
        started: Instant::now(),
        started_unix: storage::now_ms() / 1000,
        shape,
        addr,
        shutdown: Notify::new(),
        cpu: ThreadCpu::default(),
        last_save: AtomicU64::new(storage::now_ms() / 1000),
        last_save_path: Mutex::new(String::new()),
        bgsave_running: Default::default(),
        net_pingers: Mutex::new(Vec::new()),
        net_next: std::sync::atomic::AtomicUsize::new(0),
        net_threads: Mutex::new(Vec::new()),
        config: cfg,
    });

    match ctx.config.runtime {
        RuntimeMode::Dual => {
            ctx.set_network_threads(net_threads)?;
            let weak = Arc::downgrade(&ctx);
            ctx.live.on_network_threads(Box::new(move |n| {
                let ctx = weak.upgrade().ok_or("server is stopping")?;
                ctx.set_network_threads(n).map_err(|e| e.to_string())
            }));
        }
        RuntimeMode::Single => {
            let listener = network::bind(addr)?;
            let _guard = rt.enter();
            ctx.start_net_pinger("shardis-single", |fut| {
                tokio::spawn(fut);
            });
            let ctx2 = ctx.clone();
            rt.spawn(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => {
                        network::accept_loop(l, ctx2, |fut| {
                            tokio::spawn(fut);
                        })
                        .await
                    }
                    Err(e) => tracing::error!("listener: {e}"),
                }
            });
        }
    }
    tracing::info!(
        target: "shardis::network",
        "shardis {} ({} runtime, {} network threads, {} storage threads, {} shards) ready on {}",
        env!("CARGO_PKG_VERSION"),
        ctx.shape.runtime_mode,
        net_threads,
        storage_threads,
        shards,
        addr
    );
    if ctx.config.admin_port != 0 {
        crate::admin::start(ctx.clone())?;
    }
    println!("Ready to accept connections tcp on {addr}");

    rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut usr1 = signal(SignalKind::user_defined1())?;
        let mut hup = signal(SignalKind::hangup())?;
        let mut dumper = ctx
            .config
            .latency_dump
            .clone()
            .map(crate::metrics::Dumper::new);
        let mut dump = |why: &str| {
            if let Some(d) = dumper.as_mut() {
                match d.dump() {
                    Ok(n) => tracing::info!("latency dump ({why}): {n} histograms"),
                    Err(e) => tracing::error!("latency dump failed: {e}"),
                }
            }
        };
        let mut second = tokio::time::interval(std::time::Duration::from_secs(1));
        let mut elapsed = 0u64;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => { tracing::info!("SIGINT: shutting down"); break }
                _ = term.recv() => { tracing::info!("SIGTERM: shutting down"); break }
                _ = ctx.shutdown.notified() => { tracing::info!("SHUTDOWN: shutting down"); break }
                _ = usr1.recv() => dump("SIGUSR1"),
                _ = hup.recv() => match &ctx.config.config {
                    Some(path) => match ctx.live.reload(path) {
                        Ok(n) => tracing::info!("SIGHUP: {n} settings applied from {}", path.display()),
                        Err(e) => tracing::error!("SIGHUP: {} not applied: {e}", path.display()),
                    },
                    None => tracing::warn!("SIGHUP: no config file to re-read"),
                },
                _ = second.tick() => {
                    let every = ctx.live.latency_dump_interval();
                    elapsed += 1;
                    if every > 0 && elapsed >= every {
                        elapsed = 0;
                        dump("interval");
                    }
                }
            }
        }
        dump("shutdown");
        backend.shutdown().await;
        Ok::<(), std::io::Error>(())
    })?;
    tracing::info!("shardis stopped; data is on disk");
    Ok(())
}
