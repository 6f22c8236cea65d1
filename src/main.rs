//! The `shardis` binary: parse the configuration, set up logging, run the server.

use shardis::config::{log_filter, set_log_reloader, Config};
use tracing_subscriber::prelude::*;
use tracing_subscriber::{reload, EnvFilter};

/// mimalloc serves the Rust side's allocations (keys, values, replies, batches):
/// measured faster than glibc's malloc on the request path (see tuning.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cfg = match Config::load(std::env::args().collect()) {
        Ok(cfg) => cfg,
        Err(e) => e.exit(),
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(log_filter(&cfg.loglevel)));
    let (filter, handle) = reload::Layer::new(filter);
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .init();
    // CONFIG SET loglevel changes the filter while the server runs.
    set_log_reloader(Box::new(move |level| {
        let filter = EnvFilter::try_new(log_filter(level)).map_err(|e| e.to_string())?;
        handle.reload(filter).map_err(|e| e.to_string())
    }));
    if let Err(e) = shardis::server::run(cfg) {
        tracing::error!("shardis failed: {e}");
        std::process::exit(1);
    }
}
