//! The `shardis` binary: parse the configuration, set up logging, run the server.

use shardis::config::{log_filter, set_log_reloader, Config};
use tracing_subscriber::prelude::*;
use tracing_subscriber::{reload, EnvFilter};

/// mimalloc serves the Rust side's allocations (keys, values, replies, batches):
/// measured faster than glibc's malloc on the request path (see tuning.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc returns freed memory to the OS 10 ms after it was freed; memory that a
/// request frees and the next one needs again is then zeroed and faulted in again.
/// One second (arenas: ten) keeps the working set mapped: SET 1 KB ran 6-7% faster at
/// P1 and P16 in three alternating runs (tuning.md). `MIMALLOC_PURGE_DELAY` overrides.
const PURGE_DELAY_MS: std::ffi::c_long = 1000;

/// `mi_option_purge_delay`, which the Rust bindings do not name: in mimalloc.h (v2 and
/// v3) it comes right before `mi_option_use_numa_nodes`.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t =
    libmimalloc_sys::mi_option_use_numa_nodes - 1;

fn main() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one of mimalloc's options; any value is valid for this one.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    }
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
