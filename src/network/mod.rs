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

pub mod connection;
mod coordinator;
mod session;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use socket2::{Domain, Protocol, Socket, Type};

use crate::runtime::Placement;
use crate::server::ServerCtx;
pub use session::{ClientInfo, Session};

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
            rt.block_on(async move {
                ctx.backend.install_outbox();
                ctx.start_net_pinger(|fut| {
                    tokio::task::spawn_local(fut);
                });
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => {
                        accept_loop(l, ctx, |fut| {
                            tokio::task::spawn_local(fut);
                        })
                        .await
                    }
                    Err(e) => tracing::error!(target: "shardis::network", "listener: {e}"),
                }
            });
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
