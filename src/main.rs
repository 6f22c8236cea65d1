//! The `shardis` binary: parse the configuration, set up logging, run the server.

use shardis::config::Config;

fn log_filter(level: &str) -> String {
    // Redis's level names, mapped onto tracing's; anything else is a tracing filter.
    match level {
        "debug" => "debug".into(),
        "verbose" => "info".into(),
        "notice" => "info".into(),
        "warning" => "warn".into(),
        other => other.into(),
    }
}

fn main() {
    let cfg = match Config::load(std::env::args().collect()) {
        Ok(cfg) => cfg,
        Err(e) => e.exit(),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(log_filter(&cfg.loglevel)));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = shardis::server::run(cfg) {
        tracing::error!("shardis failed: {e}");
        std::process::exit(1);
    }
}
