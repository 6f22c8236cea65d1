//! The admin HTTP server (`--admin-port`): health checks and Prometheus metrics.
//!
//! * `GET /health/network`: sends a no-op through every network thread and times it.
//! * `GET /health/storage`: sends a no-op through every shard's queue and times it.
//! * `GET /metrics`: a [`crate::metrics::Snapshot`] of every figure in Prometheus's
//!   text format ([`crate::metrics::prometheus`]).
//!
//! Health answers 200 with a small JSON body, or 503 naming what did not answer within
//! the deadline. The server runs on a thread and runtime of its own, so it answers
//! while the storage side is stalled, and never calls RocksDB.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::metrics::Parts;
use crate::server::ServerCtx;

/// Most admin requests served at once.
const MAX_OPEN: usize = 64;
/// Longest an admin request may take, start to finish.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);

/// How long a health check waits for one thread or shard.
const HEALTH_DEADLINE: Duration = Duration::from_millis(500);

/// Binds the admin port and serves it from a thread of its own.
pub fn start(ctx: Arc<ServerCtx>) -> std::io::Result<()> {
    let addr = format!("{}:{}", ctx.config.bind, ctx.config.admin_port);
    let listener = std::net::TcpListener::bind(&addr)?;
    listener.set_nonblocking(true)?;
    std::thread::Builder::new()
        .name("shardis-admin".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!("admin server: {e}");
                    return;
                }
            };
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
                loop {
                    match listener.accept().await {
                        Ok((stream, _)) => {
                            // At most MAX_OPEN requests at once, each bounded in time.
                            if open.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= MAX_OPEN {
                                open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                                continue;
                            }
                            let (ctx, open) = (ctx.clone(), open.clone());
                            tokio::spawn(async move {
                                let _ = tokio::time::timeout(REQUEST_DEADLINE, serve(stream, ctx))
                                    .await;
                                open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                            });
                        }
                        Err(e) => {
                            tracing::warn!("admin server: accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            });
        })?;
    tracing::info!("admin server on http://{addr}");
    Ok(())
}

async fn serve(mut stream: TcpStream, ctx: Arc<ServerCtx>) {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    // Read the request head (bounded); the body, if any, is ignored.
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let mut words = head.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (status, kind, body) = match (method, path) {
        ("GET", "/health/network") => health(network_health(&ctx).await),
        ("GET", "/health/storage") => health(storage_health(&ctx).await),
        ("GET", "/metrics") => (
            200,
            crate::metrics::prometheus::CONTENT_TYPE,
            crate::metrics::prometheus::render(crate::commands::server::snapshot(&ctx, Parts::ALL)),
        ),
        _ => (404, "text/plain", "not found\n".to_string()),
    };
    let reason = match status {
        200 => "OK",
        503 => "Service Unavailable",
        _ => "Not Found",
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
}

/// `(checked, slowest reply in ms, what failed)`.
type Check = (usize, f64, Vec<String>);

fn health((checked, slowest, failed): Check) -> (u16, &'static str, String) {
    let names: Vec<String> = failed.iter().map(|f| format!("\"{f}\"")).collect();
    let status = if failed.is_empty() { "ok" } else { "unhealthy" };
    let body = format!(
        "{{\"status\":\"{status}\",\"checked\":{checked},\"slowest_ms\":{slowest:.3},\"unhealthy\":[{}]}}\n",
        names.join(",")
    );
    (
        if failed.is_empty() { 200 } else { 503 },
        "application/json",
        body,
    )
}

async fn network_health(ctx: &ServerCtx) -> Check {
    let pingers = ctx
        .net_pingers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mut slowest: f64 = 0.0;
    let mut failed = Vec::new();
    for (name, p) in pingers.iter() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let started = tokio::time::Instant::now();
        let ok = p.send(tx).is_ok()
            && matches!(tokio::time::timeout(HEALTH_DEADLINE, rx).await, Ok(Ok(())));
        slowest = slowest.max(started.elapsed().as_secs_f64() * 1000.0);
        if !ok {
            failed.push(name.clone());
        }
    }
    (pingers.len(), slowest, failed)
}

async fn storage_health(ctx: &ServerCtx) -> Check {
    let shards = ctx.backend.shards();
    let mut slowest: f64 = 0.0;
    let mut failed = Vec::new();
    for s in 0..shards {
        match ctx.backend.ping(s, HEALTH_DEADLINE).await {
            Ok(took) => slowest = slowest.max(took.as_secs_f64() * 1000.0),
            Err(why) => failed.push(format!("shard {s}: {why}")),
        }
    }
    (shards, slowest, failed)
}
