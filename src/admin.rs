//! The admin HTTP server (`--admin-port`): health checks and Prometheus metrics.
//!
//! * `GET /health/network`: sends a no-op through every network thread and times it.
//! * `GET /health/storage`: sends a no-op through every shard's queue and times it.
//! * `GET /metrics`: a [`crate::metrics::Snapshot`] of every figure in Prometheus's text format
//!   ([`crate::metrics::prometheus`]).
//! * anything else: 404.
//!
//! Health answers 200 with a small JSON body, or 503 naming what did not answer within
//! [`HEALTH_DEADLINE`]. HTTP/1.1 is served by hyper: each accepted connection gets
//! hyper's HTTP/1 connection driver on a tokio `TcpStream` (through hyper-util's
//! `TokioIo`), answers one request and is closed (no keep-alive). The server runs on a
//! thread of its own with a current-thread runtime, so it answers while the network
//! or storage side is stuck; it never calls RocksDB (a snapshot reads counters only).
//! At most [`MAX_OPEN`] connections are served at once (more are closed unanswered),
//! the request head must arrive within [`HEAD_DEADLINE`] and a connection lives at
//! most [`REQUEST_DEADLINE`].

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};

use crate::metrics::Parts;
use crate::state::ServerCtx;

/// Most admin connections served at once.
pub const MAX_OPEN: usize = 64;
/// Longest an admin connection may take, start to finish.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// Longest the request head may take to arrive.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(5);
/// How long a health check waits for one thread or shard.
pub const HEALTH_DEADLINE: Duration = Duration::from_millis(500);

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
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => accept_loop(listener, ctx).await,
                    Err(e) => tracing::error!("admin server: {e}"),
                }
            });
        })?;
    tracing::info!("admin server on http://{addr}");
    Ok(())
}

async fn accept_loop(listener: tokio::net::TcpListener, ctx: Arc<ServerCtx>) {
    let open = Arc::new(tokio::sync::Semaphore::new(MAX_OPEN));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!("admin server: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Past MAX_OPEN the connection is dropped, i.e. closed unanswered.
        let Ok(permit) = open.clone().try_acquire_owned() else {
            continue;
        };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let ctx = ctx.clone();
                async move { Ok::<_, Infallible>(route(req, &ctx).await) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_DEADLINE)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            // A connection that errs or overstays is dropped; nothing else to do.
            let _ = tokio::time::timeout(REQUEST_DEADLINE, conn).await;
            drop(permit);
        });
    }
}

async fn route(req: Request<Incoming>, ctx: &ServerCtx) -> Response<Full<Bytes>> {
    if req.method() != Method::GET {
        return not_found();
    }
    match req.uri().path() {
        "/health/network" => health(network_health(ctx).await),
        "/health/storage" => health(storage_health(ctx).await),
        "/metrics" => respond(
            StatusCode::OK,
            crate::metrics::prometheus::CONTENT_TYPE,
            crate::metrics::prometheus::render(crate::commands::server::snapshot(ctx, Parts::ALL)),
        ),
        _ => not_found(),
    }
}

fn respond(status: StatusCode, kind: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, hyper::header::HeaderValue::from_static(kind));
    response
}

fn not_found() -> Response<Full<Bytes>> {
    respond(StatusCode::NOT_FOUND, "text/plain", "not found\n".into())
}

/// `(checked, slowest reply in ms, what failed)`.
type Check = (usize, f64, Vec<String>);

fn health((checked, slowest, failed): Check) -> Response<Full<Bytes>> {
    let names: Vec<String> = failed.iter().map(|f| format!("\"{f}\"")).collect();
    let status = if failed.is_empty() { "ok" } else { "unhealthy" };
    let body = format!(
        "{{\"status\":\"{status}\",\"checked\":{checked},\"slowest_ms\":{slowest:.3},\"unhealthy\":[{}]}}\n",
        names.join(",")
    );
    let code = if failed.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    respond(code, "application/json", body)
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
