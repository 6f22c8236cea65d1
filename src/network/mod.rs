//! The network side: threads that accept connections, parse RESP, answer
//! connection-level commands and send keyed commands to their shards.
//!
//! In `--runtime dual` there are N network threads. Each one is pinned to its core,
//! runs a current-thread tokio `LocalRuntime`, and owns its own `SO_REUSEPORT`
//! listener on the shared address, so the kernel spreads new connections over the
//! threads and a connection stays on the thread that accepted it. Nothing here ever
//! calls RocksDB: a flush, a compaction or a write stall cannot slow PING, accepting,
//! or parsing. In `--runtime single` the same connection code runs as tasks of the
//! one multi-thread runtime.

mod blocking;
pub mod connection;
mod coordinator;
pub mod scripting;
mod transaction;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use std::cell::OnceCell;

use socket2::{Domain, Protocol, Socket, Type};

use crate::runtime::Placement;
use crate::state::{NetThreadStats, ServerCtx};

thread_local! {
    static THREAD_STATS: OnceCell<Arc<NetThreadStats>> = const { OnceCell::new() };
}

/// The calling network thread's counters; threads of the single runtime share one set.
pub(crate) fn thread_stats(ctx: &ServerCtx) -> Arc<NetThreadStats> {
    if let Some(s) = THREAD_STATS.with(|c| c.get().cloned()) {
        return s;
    }
    let mut all = ctx.net_threads.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(shared) = all.iter().find(|s| s.name == "shardis-single") {
        return shared.clone();
    }
    let shared = Arc::new(NetThreadStats::new("shardis-single".into(), "none".into()));
    all.push(shared.clone());
    shared
}

/// Binds a listener with `SO_REUSEADDR` and `SO_REUSEPORT`, so every network thread
/// can have its own on the same address.
pub fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Starts network thread `i`: pinned, with its own LocalRuntime and listener.
pub fn spawn_thread(
    i: usize,
    place: Placement,
    listener: std::net::TcpListener,
    ctx: Arc<ServerCtx>,
) -> std::io::Result<()> {
    // Registered before the thread starts, so INFO counts it from the first moment.
    let stats = Arc::new(NetThreadStats::new(
        format!("shardis-net-{i}"),
        match place {
            Placement::Fixed(c) => c.to_string(),
            Placement::Floating => "none".into(),
        },
    ));
    ctx.net_threads
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(stats.clone());
    std::thread::Builder::new()
        .name(format!("shardis-net-{i}"))
        .spawn(move || {
            place.apply("network thread");
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build_local(Default::default())
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(target: "shardis::network", "network thread {i}: {e}");
                    return;
                }
            };
            THREAD_STATS.with(|c| {
                let _ = c.set(stats.clone());
            });
            let name = format!("shardis-net-{i}");
            rt.block_on(async {
                ctx.backend.install_outbox();
                ctx.start_net_pinger(&name, |fut| {
                    tokio::task::spawn_local(fut);
                });
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => {
                        let accept = accept_loop(l, ctx.clone(), |fut| {
                            tokio::task::spawn_local(fut);
                        });
                        tokio::select! {
                            _ = accept => {}
                            _ = stats.retire.notified() => {}
                        }
                    }
                    Err(e) => tracing::error!(target: "shardis::network", "listener: {e}"),
                }
                // Retired: the listener is closed; serve what is connected, then exit.
                tracing::info!(target: "shardis::network", "{name} retiring");
                ctx.net_pingers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .retain(|(n, _)| *n != name);
                while stats.connections.load(std::sync::atomic::Ordering::Relaxed) > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            });
            ctx.net_threads
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|t| !Arc::ptr_eq(t, &stats));
            tracing::info!(target: "shardis::network", "{name} stopped");
        })?;
    Ok(())
}

/// Accepts connections forever, handing each to `spawn`.
pub async fn accept_loop<F>(listener: tokio::net::TcpListener, ctx: Arc<ServerCtx>, spawn: F)
where
    F: Fn(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>),
{
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                spawn(Box::pin(connection::serve(stream, peer, ctx.clone())));
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(target: "shardis::network", "accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}
