//! Start-up and shutdown (the top layer: it builds the state and starts every thread).
//!
//! [`run`] builds the storage side first (opening RocksDB from a storage-pinned
//! thread), then binds one `SO_REUSEPORT` listener per network thread and starts the
//! network threads, prints the ready line, and waits for SIGTERM, SIGINT or SHUTDOWN.
//! Shutting down commits and stops every shard and makes the WAL durable.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ahash::AHashMap;
use tokio::sync::Notify;

use crate::config::{Config, Live, RuntimeMode};
use crate::network;
use crate::runtime::{self, Placement};
use crate::state::tracking::Tracking;
use crate::state::{
    Keyspace, NetThreadStats, ScriptJob, Scripts, ServerCtx, Shape, Stats, ThreadCpu,
};
use crate::storage::{self, Engine, EngineOptions};

/// Starts or retires network threads until `n` are active (dual runtime). A new
/// thread is pinned like the first ones and binds its own SO_REUSEPORT listener; a
/// retired one stops accepting and exits once its connections have closed.
pub fn set_network_threads(ctx: &Arc<ServerCtx>, n: usize) -> std::io::Result<()> {
    // One change at a time: two concurrent ones would both count the same threads.
    static CHANGING: Mutex<()> = Mutex::new(());
    let _one = CHANGING.lock().unwrap_or_else(|e| e.into_inner());
    let active: Vec<Arc<NetThreadStats>> = ctx
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
        let i = ctx
            .net_next
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let listener = network::bind(ctx.addr)?;
        // A free core of the list first (a retired thread's), then round robin.
        let free = ctx.config.network_cores.as_ref().and_then(|list| {
            list.0
                .iter()
                .copied()
                .find(|c| !used.contains(&c.to_string()))
        });
        let place = match free {
            Some(core) => Placement::Fixed(core),
            None => Placement::nth(ctx.config.network_cores.as_ref(), i),
        };
        if let Placement::Fixed(c) = place {
            used.push(c.to_string());
        }
        network::spawn_thread(i, place, listener, ctx.clone())?;
    }
    Ok(())
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
    let notifier = Arc::new(storage::Notifier::default());

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
                notifier.clone(),
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
                notifier.clone(),
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
        scripts: Arc::new(Scripts::new(shards)),
        script_jobs: start_script_workers(SCRIPT_WORKERS)?,
        pause: Default::default(),
        pubsub: Default::default(),
        monitors: Default::default(),
        tracking: Tracking::new(notifier.clone()),
        config: cfg,
    });
    notifier.listen(Box::new(Keyspace(Arc::downgrade(&ctx))));
    crate::network::scripting::load_saved_libraries(&ctx);

    match ctx.config.runtime {
        RuntimeMode::Dual => {
            set_network_threads(&ctx, net_threads)?;
            let weak = Arc::downgrade(&ctx);
            ctx.live.on_network_threads(Box::new(move |n| {
                let ctx = weak.upgrade().ok_or("server is stopping")?;
                set_network_threads(&ctx, n).map_err(|e| e.to_string())
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
        ctx.scripts.shut_down();
        backend.shutdown().await;
        Ok::<(), std::io::Error>(())
    })?;
    tracing::info!("shardis stopped; data is on disk");
    Ok(())
}

/// Script worker threads: enough for two scripts over several shards at once; a
/// script on one shard runs on that shard's storage thread instead.
const SCRIPT_WORKERS: usize = 2;

/// Starts the script worker threads; each keeps one Lua state for its life.
fn start_script_workers(n: usize) -> std::io::Result<flume::Sender<ScriptJob>> {
    let (tx, rx) = flume::unbounded::<ScriptJob>();
    for i in 0..n {
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("shardis-script-{i}"))
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job();
                }
            })?;
    }
    Ok(tx)
}
