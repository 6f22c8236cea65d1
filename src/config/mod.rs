//! Configuration: one typed [`Config`] read from flags and an optional redis.conf-style
//! file (a flag overrides the file), plus [`Live`], the part that `CONFIG SET` changes
//! while the server runs.
//!
//! Every Redis 7.0 parameter ([`redis_params`]) is accepted by `CONFIG SET` and echoed
//! by `CONFIG GET`, so that clients and tools that set them work; most of them change
//! nothing in shardis (README lists the ones that do).

pub mod redis_params;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;

use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};

use crate::error::CommandError;

/// How the server is built: the dual runtime it exists for, or the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeMode {
    /// Network threads and a separate storage runtime, connected by shard channels.
    Dual,
    /// One multi-thread runtime; storage calls run inline in the connection task.
    Single,
}

impl RuntimeMode {
    /// The name INFO prints.
    pub fn name(self) -> &'static str {
        match self {
            RuntimeMode::Dual => "dual",
            RuntimeMode::Single => "single",
        }
    }
}

/// How `appendfsync always` syncs the WAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AlwaysSync {
    /// Groups commit unsynced and a sync stage syncs once for everything committed
    /// meanwhile, by every shard, before it releases the replies.
    Stage,
    /// Each group commits with a synced write and waits for it (RocksDB merges the
    /// synced writes that reach it together into one WAL sync).
    Group,
}

impl AlwaysSync {
    fn name(self) -> &'static str {
        match self {
            AlwaysSync::Stage => "stage",
            AlwaysSync::Group => "group",
        }
    }
}

/// When the RocksDB WAL is synced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Fsync {
    /// Before any reply of a group is sent.
    Always,
    /// Once a second, from the storage side.
    Everysec,
    /// Left to the operating system.
    No,
}

impl Fsync {
    fn name(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::Everysec => "everysec",
            Fsync::No => "no",
        }
    }

    fn parse(s: &str) -> Option<Fsync> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Some(Fsync::Always),
            "everysec" => Some(Fsync::Everysec),
            "no" => Some(Fsync::No),
            _ => None,
        }
    }
}

/// A set of CPU cores, written like `0-3` or `0,2,5-6`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreList(pub Vec<usize>);

impl std::str::FromStr for CoreList {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut cores = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = || format!("bad core list '{s}'");
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b): (usize, usize) =
                        (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                    if a > b {
                        return Err(bad());
                    }
                    cores.extend(a..=b);
                }
                None => cores.push(part.parse().map_err(|_| bad())?),
            }
        }
        if cores.is_empty() {
            return Err(format!("empty core list '{s}'"));
        }
        Ok(CoreList(cores))
    }
}

impl std::fmt::Display for CoreList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|c| c.to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

/// Everything the server is started with. Flags use these names (`--channel-capacity`),
/// and so does the config file (`channel-capacity 10000`).
#[derive(Debug, Clone, Parser)]
#[command(name = "shardis", version, about, args_override_self = true)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// TCP port.
    #[arg(long, default_value_t = 6379)]
    pub port: u16,
    /// Data directory (the RocksDB database lives here).
    #[arg(long, default_value = "./data")]
    pub dir: PathBuf,
    /// A redis.conf-style file of `name value` lines; flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// `dual` (network and storage runtimes) or `single` (the baseline).
    #[arg(long, value_enum, default_value_t = RuntimeMode::Dual)]
    pub runtime: RuntimeMode,
    /// Network threads (default: half the cores, at least 1).
    #[arg(long)]
    pub network_threads: Option<usize>,
    /// Cores to pin network threads to, e.g. `0-1` (default: no pinning).
    #[arg(long)]
    pub network_cores: Option<CoreList>,
    /// Storage runtime worker threads (default: the other half of the cores, at least 1).
    #[arg(long)]
    pub storage_threads: Option<usize>,
    /// Cores to pin storage threads (and RocksDB's) to (default: no pinning).
    #[arg(long)]
    pub storage_cores: Option<CoreList>,
    /// Nice value of the storage side's threads and RocksDB's (0-19; higher yields
    /// the CPU to the network threads first when cores are shared).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i32).range(0..=19))]
    pub storage_nice: i32,
    /// Shards (default: one per storage thread).
    #[arg(long)]
    pub shards: Option<usize>,
    /// Capacity of each shard's channel, in messages.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub channel_capacity: u64,
    /// Most requests a shard commits in one group.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_max: u64,
    /// WAL sync policy: always, everysec or no.
    #[arg(long, value_enum, default_value_t = Fsync::Everysec)]
    pub appendfsync: Fsync,
    /// How `appendfsync always` syncs in the dual runtime: `stage` (one sync for what
    /// every shard committed meanwhile, while the shards go on) or `group` (each group's
    /// commit is a synced write the shard waits for).
    #[arg(long, value_enum, default_value_t = AlwaysSync::Stage)]
    pub always_sync: AlwaysSync,
    /// Password clients must AUTH with.
    #[arg(long)]
    pub requirepass: Option<String>,
    /// Number of databases (SELECT 0..N-1).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u8).range(1..=64))]
    pub databases: u8,
    /// A command whose shard has not answered within this many ms gets an error reply.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    pub storage_timeout_ms: u64,
    /// Largest bulk argument a client may send, bytes.
    #[arg(long, default_value_t = 512 * 1024 * 1024, value_parser = size_arg)]
    pub proto_max_bulk_len: u64,
    /// Most connected clients.
    #[arg(long, default_value_t = 10_000)]
    pub maxclients: u64,
    /// Directory for HDR latency dumps (.hgrm per command, an interval log per run),
    /// written on SIGUSR1, every --latency-dump-interval seconds and at shutdown.
    #[arg(long)]
    pub latency_dump: Option<PathBuf>,
    /// Seconds between latency dumps (0: only on SIGUSR1 and at shutdown).
    #[arg(long, default_value_t = 0)]
    pub latency_dump_interval: u64,
    /// HTTP port for /health/network, /health/storage and /metrics (0: off).
    #[arg(long, default_value_t = 0)]
    pub admin_port: u16,
    /// Allow DEBUG (fault injection, compaction): yes or no.
    #[arg(long, default_value = "no", value_parser = ["yes", "no"])]
    pub enable_debug_command: String,
    /// Log level: debug, verbose, notice or warning (Redis names), or a tracing filter.
    #[arg(long, default_value = "notice")]
    pub loglevel: String,
    /// Value cache in front of RocksDB, bytes for all shards together (0: none).
    #[arg(long, default_value_t = 256 << 20, value_parser = size_arg)]
    pub cache_size: u64,
    /// RocksDB memtable size, bytes.
    #[arg(long, default_value_t = 16 << 20, value_parser = size_arg)]
    pub rocksdb_write_buffer_size: u64,
    /// RocksDB block cache size, bytes.
    #[arg(long, default_value_t = 256 << 20, value_parser = size_arg)]
    pub rocksdb_block_cache_size: u64,
    /// RocksDB flush and compaction threads.
    #[arg(long, default_value_t = 2)]
    pub rocksdb_background_jobs: i32,
    /// L0 files that trigger a compaction. Eight rather than RocksDB's four: each
    /// compaction into the level below merges twice as much new data with it, which
    /// cut compaction CPU per write by about 40% with 1 KB values (tuning.md).
    #[arg(long, default_value_t = 8)]
    pub rocksdb_l0_compaction_trigger: i32,
    /// L0 files at which RocksDB slows writes down.
    #[arg(long, default_value_t = 20)]
    pub rocksdb_l0_slowdown_trigger: i32,
    /// L0 files at which RocksDB stops writes.
    #[arg(long, default_value_t = 36)]
    pub rocksdb_l0_stop_trigger: i32,
    /// Old WAL files RocksDB keeps to write over instead of creating new ones (0: none).
    /// Writing over a file's existing blocks spares each WAL sync the write of the file's
    /// metadata: with `appendfsync always` a sync took 25-35% less time (tuning.md).
    #[arg(long, default_value_t = 4)]
    pub rocksdb_recycle_wal_files: usize,
    /// CPU priority of RocksDB's flush and compaction threads: `low` (nice 19) lets the
    /// network and storage threads preempt them on shared cores.
    #[arg(long, default_value = "normal", value_parser = ["normal", "low"])]
    pub rocksdb_background_priority: String,
    /// Entries after which a memtable is ended early, so that small values make small,
    /// fast memtables (0: only `--rocksdb-write-buffer-size` ends a memtable).
    #[arg(long, default_value_t = 0)]
    pub rocksdb_memtable_max_entries: u64,
    /// Bytes per second RocksDB's flushes and compactions may write (0: unlimited).
    /// Fixed at start: RocksDB cannot change a running rate limiter through its C API.
    #[arg(long, default_value_t = 0, value_parser = rate_arg)]
    pub rocksdb_rate_limit: i64,
    /// Names of the flags given on the command line (set by `load`).
    #[arg(skip)]
    pub command_line: Vec<String>,
    /// Redis parameters from the config file that are not flags (set by `load`).
    #[arg(skip)]
    pub redis_overrides: Vec<(String, String)>,
}

/// Why the configuration could not be loaded.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads flags and, with `--config FILE`, the file; flags win over the file.
    pub fn load(args: Vec<String>) -> Result<Config, clap::Error> {
        let file = find_config_flag(&args);
        let mut merged = vec![args.first().cloned().unwrap_or_else(|| "shardis".into())];
        let mut overrides = Vec::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                Config::command().error(
                    clap::error::ErrorKind::Io,
                    format!("cannot read {path}: {e}"),
                )
            })?;
            let flags: Vec<String> = Config::command()
                .get_arguments()
                .filter_map(|a| a.get_long().map(str::to_owned))
                .collect();
            for (key, value) in parse_conf(&text) {
                if flags.contains(&key) {
                    merged.push(format!("--{key}={value}"));
                } else if redis_params::REDIS_PARAMS.iter().any(|(n, _)| *n == key) {
                    overrides.push((key, value));
                } else {
                    return Err(Config::command().error(
                        clap::error::ErrorKind::UnknownArgument,
                        format!("unknown parameter '{key}' in {path}"),
                    ));
                }
            }
        }
        let command_line: Vec<String> = args
            .iter()
            .skip(1)
            .filter_map(|a| a.strip_prefix("--"))
            .map(|a| a.split('=').next().unwrap_or(a).to_string())
            .collect();
        merged.extend(args.into_iter().skip(1));
        let matches = Config::command().try_get_matches_from(merged)?;
        let mut cfg = Config::from_arg_matches(&matches)?;
        cfg.redis_overrides = overrides;
        cfg.command_line = command_line;
        Ok(cfg)
    }

    /// Network threads after defaults.
    pub fn network_threads(&self) -> usize {
        self.network_threads
            .unwrap_or_else(|| (available_cores() / 2).max(1))
            .max(1)
    }

    /// Storage threads after defaults.
    pub fn storage_threads(&self) -> usize {
        self.storage_threads
            .unwrap_or_else(|| (available_cores() - available_cores() / 2).max(1))
            .max(1)
    }

    /// Shards after defaults.
    pub fn shards(&self) -> usize {
        self.shards.unwrap_or_else(|| self.storage_threads()).max(1)
    }
}

fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn find_config_flag(args: &[String]) -> Option<String> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        if a == "--config" {
            return it.next().cloned();
        }
        if let Some(v) = a.strip_prefix("--config=") {
            return Some(v.to_owned());
        }
    }
    None
}

/// Parses redis.conf lines: `name value...`, `#` comments, optional quotes.
/// Parses redis.conf lines: `name value...`, `#` comments, and Redis's quoting
/// (`"a b\n"`, `'x'`) as the inline protocol has it. Later lines win over earlier ones.
fn parse_conf(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words = crate::protocol::parser::split_args(line.as_bytes()).unwrap_or_default();
        let Some((key, values)) = words.split_first() else {
            continue;
        };
        let key = String::from_utf8_lossy(key).to_ascii_lowercase();
        let value = values
            .iter()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        out.retain(|(k, _)| *k != key);
        out.push((key, value));
    }
    out
}

/// A value as a config file line needs it: bare when it is one plain word, otherwise
/// double-quoted with `\\`, `\"`, `\n`, `\r`, `\t` and `\xHH` escapes, which
/// [`parse_conf`] reads back exactly.
fn conf_quote(v: &str) -> String {
    let plain = !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\');
    if plain {
        return v.to_string();
    }
    let mut out = String::from("\"");
    for b in v.bytes() {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b' '..=b'~' => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

/// Settings the running server reads, some changeable with `CONFIG SET`.
pub struct Live {
    /// Databases (fixed at start).
    pub databases: u8,
    /// Whether DEBUG is allowed (fixed at start).
    pub debug_enabled: bool,
    /// Whether `appendfsync always` goes through the sync stage (fixed at start).
    pub sync_stage: bool,
    proto_max_bulk_len: AtomicU64,
    appendfsync: AtomicU8,
    batch_max: AtomicUsize,
    storage_timeout_ms: AtomicU64,
    slowlog_slower_than: std::sync::atomic::AtomicI64,
    slowlog_max_len: AtomicU64,
    latency_dump_interval: AtomicU64,
    requirepass: Mutex<Option<String>>,
    /// Parameters with no live atomic: their current text.
    params: Mutex<BTreeMap<String, String>>,
    /// Names that CONFIG SET refuses (fixed at start).
    immutable: Vec<&'static str>,
    /// Names given as flags on the command line: they win over the file, also on SIGHUP.
    from_command_line: Vec<String>,
    /// Names CONFIG SET changed since start (CONFIG REWRITE writes them).
    changed: Mutex<std::collections::BTreeSet<String>>,
    /// Applies RocksDB option changes on the storage side.
    rocksdb_hook: std::sync::OnceLock<OptionsHook>,
    network_threads_hook: std::sync::OnceLock<NetworkThreadsHook>,
}

/// Starts or retires network threads (installed by the server).
pub type NetworkThreadsHook = Box<dyn Fn(usize) -> Result<(), String> + Send + Sync>;

/// Maps Redis's level names onto tracing's; anything else is a tracing filter.
pub fn log_filter(level: &str) -> String {
    match level {
        "debug" => "debug".into(),
        "verbose" | "notice" => "info".into(),
        "warning" => "warn".into(),
        other => other.into(),
    }
}

/// Changes the log filter at run time (installed by the binary's logging set-up).
pub type LogReloader = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

static LOG_RELOADER: std::sync::OnceLock<LogReloader> = std::sync::OnceLock::new();

/// Installs the function CONFIG SET loglevel calls.
pub fn set_log_reloader(f: LogReloader) {
    let _ = LOG_RELOADER.set(f);
}

/// Applies `(RocksDB option, value)` changes (installed by the storage side).
pub type OptionsHook = Box<dyn Fn(Vec<(String, String)>) + Send + Sync>;

/// Whether `name` is one of shardis's command-line flags.
fn is_flag(name: &str) -> bool {
    Config::command()
        .get_arguments()
        .any(|a| a.get_long() == Some(name))
}

/// The RocksDB option behind a shardis parameter that can change at run time.
fn rocksdb_option(name: &str) -> Option<&'static str> {
    Some(match name {
        "rocksdb-write-buffer-size" => "write_buffer_size",
        "rocksdb-l0-compaction-trigger" => "level0_file_num_compaction_trigger",
        "rocksdb-l0-slowdown-trigger" => "level0_slowdown_writes_trigger",
        "rocksdb-l0-stop-trigger" => "level0_stop_writes_trigger",
        _ => return None,
    })
}

/// Parameters whose current value lives in an atomic of [`Live`], not in the map.
const LIVE_PARAMS: [&str; 8] = [
    "latency-dump-interval",
    "slowlog-log-slower-than",
    "slowlog-max-len",
    "proto-max-bulk-len",
    "appendfsync",
    "batch-max",
    "requirepass",
    "storage-timeout-ms",
];

/// Redis parameters whose values are memory sizes (`1gb` is accepted).
const MEMORY_PARAMS: &[&str] = &[
    "maxmemory",
    "proto-max-bulk-len",
    "client-query-buffer-limit",
    "maxmemory-clients",
    "active-defrag-ignore-bytes",
    "auto-aof-rewrite-min-size",
    "repl-backlog-size",
    "hash-max-ziplist-value",
    "hash-max-listpack-value",
    "set-max-listpack-value",
    "zset-max-ziplist-value",
    "zset-max-listpack-value",
    "list-max-ziplist-size",
    "list-max-listpack-size",
];

/// A size flag: bytes, or a Redis memory value such as `4mb` or `1gb`.
fn size_arg(s: &str) -> Result<u64, String> {
    parse_memory(s).ok_or_else(|| format!("'{s}' is not a size (bytes, or 4mb, 1gb, ...)"))
}

/// A rate flag (bytes per second): like [`size_arg`].
fn rate_arg(s: &str) -> Result<i64, String> {
    size_arg(s).and_then(|v| i64::try_from(v).map_err(|_| format!("'{s}' is too large")))
}

/// Parses a Redis memory value: `100`, `1k` (1000), `1kb` (1024), `2gb`...
pub fn parse_memory(s: &str) -> Option<u64> {
    let s = s.to_ascii_lowercase();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '-')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: i64 = num.parse().ok()?;
    let mul: i64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mul).and_then(|v| u64::try_from(v).ok())
}

impl Live {
    /// The live settings of `cfg`.
    pub fn new(cfg: &Config) -> Live {
        let mut params: BTreeMap<String, String> = redis_params::REDIS_PARAMS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (k, v) in &cfg.redis_overrides {
            params.insert(k.clone(), v.clone());
        }
        params.insert("port".into(), cfg.port.to_string());
        params.insert("bind".into(), cfg.bind.clone());
        params.insert("dir".into(), cfg.dir.display().to_string());
        params.insert("databases".into(), cfg.databases.to_string());
        params.insert(
            "enable-debug-command".into(),
            cfg.enable_debug_command.clone(),
        );
        params.insert("maxclients".into(), cfg.maxclients.to_string());
        params.insert("loglevel".into(), cfg.loglevel.clone());
        params.insert("appendonly".into(), "yes".into());
        params.insert("save".into(), "".into());
        params.insert("daemonize".into(), "no".into());
        params.insert("runtime".into(), cfg.runtime.name().into());
        params.insert("channel-capacity".into(), cfg.channel_capacity.to_string());
        params.insert("always-sync".into(), cfg.always_sync.name().into());
        params.insert("shards".into(), cfg.shards().to_string());
        params.insert("network-threads".into(), cfg.network_threads().to_string());
        // The RocksDB parameters (CONFIG GET shows them; some change at run time).
        for (name, value) in [
            ("rocksdb-rate-limit", cfg.rocksdb_rate_limit.to_string()),
            (
                "rocksdb-background-priority",
                cfg.rocksdb_background_priority.clone(),
            ),
            (
                "rocksdb-memtable-max-entries",
                cfg.rocksdb_memtable_max_entries.to_string(),
            ),
            (
                "rocksdb-recycle-wal-files",
                cfg.rocksdb_recycle_wal_files.to_string(),
            ),
            (
                "rocksdb-write-buffer-size",
                cfg.rocksdb_write_buffer_size.to_string(),
            ),
            (
                "rocksdb-l0-compaction-trigger",
                cfg.rocksdb_l0_compaction_trigger.to_string(),
            ),
            (
                "rocksdb-l0-slowdown-trigger",
                cfg.rocksdb_l0_slowdown_trigger.to_string(),
            ),
            (
                "rocksdb-l0-stop-trigger",
                cfg.rocksdb_l0_stop_trigger.to_string(),
            ),
        ] {
            params.insert(name.into(), value);
        }
        Live {
            databases: cfg.databases,
            debug_enabled: cfg.enable_debug_command == "yes",
            sync_stage: cfg.always_sync == AlwaysSync::Stage,
            proto_max_bulk_len: AtomicU64::new(cfg.proto_max_bulk_len),
            appendfsync: AtomicU8::new(cfg.appendfsync as u8),
            batch_max: AtomicUsize::new(cfg.batch_max as usize),
            storage_timeout_ms: AtomicU64::new(cfg.storage_timeout_ms),
            latency_dump_interval: AtomicU64::new(cfg.latency_dump_interval),
            slowlog_slower_than: std::sync::atomic::AtomicI64::new(
                params
                    .get("slowlog-log-slower-than")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(10_000),
            ),
            slowlog_max_len: AtomicU64::new(
                params
                    .get("slowlog-max-len")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(128),
            ),
            requirepass: Mutex::new(cfg.requirepass.clone().filter(|p| !p.is_empty())),
            params: Mutex::new(params),
            immutable: vec![
                "port",
                "bind",
                "dir",
                "databases",
                "daemonize",
                "runtime",
                "shards",
                "channel-capacity",
                "always-sync",
                "logfile",
                "pidfile",
                "unixsocket",
                "supervised",
                "io-threads",
                "cluster-enabled",
                "appenddirname",
                "dbfilename",
                "enable-debug-command",
                "rocksdb-rate-limit",
                "rocksdb-recycle-wal-files",
                "rocksdb-memtable-max-entries",
                "rocksdb-background-priority",
            ],
            changed: Mutex::new(std::collections::BTreeSet::new()),
            from_command_line: cfg.command_line.clone(),
            rocksdb_hook: std::sync::OnceLock::new(),
            network_threads_hook: std::sync::OnceLock::new(),
        }
    }

    /// `proto-max-bulk-len`.
    pub fn proto_max_bulk_len(&self) -> u64 {
        self.proto_max_bulk_len.load(Ordering::Relaxed)
    }

    /// Most requests per group commit.
    pub fn batch_max(&self) -> usize {
        self.batch_max.load(Ordering::Relaxed)
    }

    /// SLOWLOG threshold in µs (negative: off) and length.
    pub fn slowlog(&self) -> (i64, u64) {
        (
            self.slowlog_slower_than.load(Ordering::Relaxed),
            self.slowlog_max_len.load(Ordering::Relaxed),
        )
    }

    /// Seconds between latency dumps (0: off).
    pub fn latency_dump_interval(&self) -> u64 {
        self.latency_dump_interval.load(Ordering::Relaxed)
    }

    /// How long a connection waits for a shard.
    pub fn storage_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.storage_timeout_ms.load(Ordering::Relaxed))
    }

    /// Whether every commit syncs the WAL.
    pub fn fsync_always(&self) -> bool {
        self.appendfsync.load(Ordering::Relaxed) == Fsync::Always as u8
    }

    /// Whether the WAL is synced once a second.
    pub fn fsync_everysec(&self) -> bool {
        self.appendfsync.load(Ordering::Relaxed) == Fsync::Everysec as u8
    }

    /// The password, if one is required.
    pub fn requirepass(&self) -> Option<String> {
        self.requirepass
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn fsync(&self) -> Fsync {
        match self.appendfsync.load(Ordering::Relaxed) {
            x if x == Fsync::Always as u8 => Fsync::Always,
            x if x == Fsync::No as u8 => Fsync::No,
            _ => Fsync::Everysec,
        }
    }

    /// Current value of parameter `name`, if it exists.
    fn value(&self, name: &str, params: &BTreeMap<String, String>) -> Option<String> {
        Some(match name {
            "proto-max-bulk-len" => self.proto_max_bulk_len().to_string(),
            "appendfsync" => self.fsync().name().to_string(),
            "batch-max" => self.batch_max().to_string(),
            "storage-timeout-ms" => self.storage_timeout().as_millis().to_string(),
            "slowlog-log-slower-than" => self.slowlog().0.to_string(),
            "slowlog-max-len" => self.slowlog().1.to_string(),
            "latency-dump-interval" => self.latency_dump_interval().to_string(),
            "requirepass" => self.requirepass().unwrap_or_default(),
            _ => params.get(name)?.clone(),
        })
    }

    /// `CONFIG GET`: every `(name, value)` whose name matches one of the patterns.
    pub fn get(&self, patterns: &[&[u8]]) -> Vec<(String, String)> {
        let params = self.params.lock().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<&str> = params.keys().map(String::as_str).collect();
        names.extend(LIVE_PARAMS);
        names.sort_unstable();
        names.dedup();
        names
            .into_iter()
            .filter(|n| {
                patterns
                    .iter()
                    .any(|p| crate::glob::matches(p, n.as_bytes(), true))
            })
            .filter_map(|n| Some((n.to_string(), self.value(n, &params)?)))
            .collect()
    }

    /// `CONFIG SET` of several parameters, all or nothing. Err is the full error text.
    pub fn set(&self, pairs: &[(String, String)]) -> Result<(), String> {
        let fail = |name: &str, why: &str| {
            CommandError::config_set_failed(name, why)
                .text()
                .into_owned()
        };
        let mut params = self.params.lock().unwrap_or_else(|e| e.into_inner());
        for (i, (name, value)) in pairs.iter().enumerate() {
            if pairs[..i].iter().any(|(n, _)| n == name) {
                return Err(fail(name, "duplicate parameter"));
            }
            let known = params.contains_key(name) || LIVE_PARAMS.contains(&name.as_str());
            if !known {
                return Err(CommandError::config_unknown(name).text().into_owned());
            }
            if self.immutable.contains(&name.as_str()) {
                return Err(fail(name, "can't set immutable config"));
            }
            self.validate(name, value, &params)
                .map_err(|why| fail(name, &why))?;
        }
        // The one change that can fail after validation runs first, so that a failure
        // leaves every parameter as it was.
        if let Some((_, n)) = pairs.iter().find(|(n, _)| n == "network-threads") {
            if let (Some(apply), Ok(n)) = (self.network_threads_hook.get(), n.parse()) {
                drop(params);
                apply(n).map_err(|e| fail("network-threads", &e))?;
                params = self.params.lock().unwrap_or_else(|e| e.into_inner());
            }
        }
        let mut rocksdb = Vec::new();
        for (name, value) in pairs {
            self.changed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.clone());
            if let Some(option) = rocksdb_option(name) {
                rocksdb.push((option.to_string(), value.clone()));
            }
            match name.as_str() {
                "proto-max-bulk-len" => self
                    .proto_max_bulk_len
                    .store(parse_memory(value).unwrap_or(0), Ordering::Relaxed),
                "appendfsync" => {
                    let f = Fsync::parse(value).unwrap_or(Fsync::Everysec);
                    self.appendfsync.store(f as u8, Ordering::Relaxed)
                }
                "batch-max" => self
                    .batch_max
                    .store(value.parse().unwrap_or(1), Ordering::Relaxed),
                "slowlog-log-slower-than" => self
                    .slowlog_slower_than
                    .store(value.parse().unwrap_or(10_000), Ordering::Relaxed),
                "latency-dump-interval" => self
                    .latency_dump_interval
                    .store(value.parse().unwrap_or(0), Ordering::Relaxed),
                "slowlog-max-len" => self
                    .slowlog_max_len
                    .store(value.parse().unwrap_or(128), Ordering::Relaxed),
                "storage-timeout-ms" => self
                    .storage_timeout_ms
                    .store(value.parse().unwrap_or(5000), Ordering::Relaxed),
                "requirepass" => {
                    *self.requirepass.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some(value.clone()).filter(|v| !v.is_empty())
                }
                _ => {
                    let stored = if MEMORY_PARAMS.contains(&name.as_str()) {
                        parse_memory(value).unwrap_or(0).to_string()
                    } else {
                        value.clone()
                    };
                    params.insert(name.clone(), stored);
                }
            }
        }
        drop(params);
        if let Some((_, level)) = pairs.iter().find(|(n, _)| n == "loglevel") {
            if let Some(reload) = LOG_RELOADER.get() {
                let level = if level == "nothing" {
                    "off"
                } else {
                    level.as_str()
                };
                if let Err(e) = reload(level) {
                    tracing::warn!("loglevel {level}: {e}");
                }
            }
        }
        if !rocksdb.is_empty() {
            if let Some(apply) = self.rocksdb_hook.get() {
                apply(rocksdb);
            }
        }
        Ok(())
    }

    /// What CONFIG SET network-threads calls (set by the server in the dual runtime).
    pub fn on_network_threads(&self, apply: NetworkThreadsHook) {
        let _ = self.network_threads_hook.set(apply);
    }

    /// Where RocksDB option changes go (set by the storage side at start-up).
    pub fn on_rocksdb_options(&self, apply: OptionsHook) {
        let _ = self.rocksdb_hook.set(apply);
    }

    /// The current value of an integer parameter kept in the parameter map.
    pub fn param_u64(&self, name: &str) -> Option<u64> {
        self.params
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .and_then(|v| v.parse().ok())
    }

    /// CONFIG REWRITE: rewrites `path` so that every parameter it sets has its current
    /// value, and appends the parameters CONFIG SET changed that it does not set.
    /// Comments and order are kept.
    pub fn rewrite(&self, path: &std::path::Path) -> std::io::Result<()> {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let current = |name: &str| -> Option<String> {
            let params = self.params.lock().unwrap_or_else(|e| e.into_inner());
            self.value(name, &params)
        };
        let quote = conf_quote;
        let mut seen = std::collections::BTreeSet::new();
        let mut out = String::new();
        for line in text.lines() {
            let trimmed = line.trim();
            let key = trimmed
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if trimmed.is_empty()
                || trimmed.starts_with('#')
                || trimmed.starts_with("# Generated by CONFIG REWRITE")
            {
                if !trimmed.starts_with("# Generated by CONFIG REWRITE") {
                    out.push_str(line);
                    out.push('\n');
                }
                continue;
            }
            match current(&key) {
                Some(v) => out.push_str(&format!("{key} {}\n", quote(&v))),
                None => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            seen.insert(key);
        }
        let changed = self
            .changed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let extra: Vec<String> = changed.into_iter().filter(|k| !seen.contains(k)).collect();
        if !extra.is_empty() {
            out.push_str("# Generated by CONFIG REWRITE\n");
            for key in extra {
                if let Some(v) = current(&key) {
                    out.push_str(&format!("{key} {}\n", quote(&v)));
                }
            }
        }
        let tmp = path.with_extension("rewrite.tmp");
        std::fs::write(&tmp, out)?;
        std::fs::rename(tmp, path)
    }

    /// SIGHUP: applies the file's settings that can change at run time (all or nothing).
    pub fn reload(&self, path: &std::path::Path) -> Result<usize, String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        let params = self
            .params
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let pairs: Vec<(String, String)> = parse_conf(&text)
            .into_iter()
            .filter(|(k, v)| {
                (params.contains_key(k) || LIVE_PARAMS.contains(&k.as_str()))
                    && !self.immutable.contains(&k.as_str())
                    && !self.from_command_line.contains(k)
                    && params.get(k).is_none_or(|cur| cur != v)
            })
            .collect();
        let n = pairs.len();
        self.set(&pairs)?;
        Ok(n)
    }

    fn validate(
        &self,
        name: &str,
        value: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        match name {
            "proto-max-bulk-len" => match parse_memory(value) {
                Some(v) if v >= 1024 * 1024 && v <= i64::MAX as u64 => Ok(()),
                Some(_) => {
                    Err("argument must be between 1048576 and 9223372036854775807 inclusive".into())
                }
                None => Err("argument must be a memory value".into()),
            },
            "appendfsync" => Fsync::parse(value).map(|_| ()).ok_or_else(|| {
                "argument(s) must be one of the following: always, everysec, no".into()
            }),
            "slowlog-log-slower-than" => match value.parse::<i64>() {
                Ok(v) if v >= -1 => Ok(()),
                _ => Err("argument must be between -1 and 9223372036854775807 inclusive".into()),
            },
            "latency-dump-interval" => match value.parse::<u64>() {
                Ok(_) => Ok(()),
                _ => Err("argument must be a non-negative integer".into()),
            },
            "slowlog-max-len" => match value.parse::<u64>() {
                Ok(v) if v <= i64::MAX as u64 => Ok(()),
                _ => Err("argument must be between 0 and 9223372036854775807 inclusive".into()),
            },
            "batch-max" | "storage-timeout-ms" => match value.parse::<u64>() {
                Ok(v) if v >= 1 => Ok(()),
                _ => Err("argument must be a positive integer".into()),
            },
            "requirepass" => Ok(()),
            "maxclients" => match value.parse::<u64>() {
                Ok(v) if v >= 1 => Ok(()),
                _ => Err("argument must be between 1 and 18446744073709551615 inclusive".into()),
            },
            "network-threads" => match value.parse::<usize>() {
                Ok(n) if (1..=256).contains(&n) && self.network_threads_hook.get().is_some() => {
                    Ok(())
                }
                Ok(_) if self.network_threads_hook.get().is_none() => {
                    Err("can't change network threads in the single runtime".into())
                }
                _ => Err("argument must be between 1 and 256 inclusive".into()),
            },
            "loglevel" => {
                // Redis's names, tracing's levels, or a tracing filter with directives.
                let names = ["debug", "verbose", "notice", "warning", "nothing"];
                let levels = ["trace", "info", "warn", "error", "off"];
                let ok = names.contains(&value)
                    || levels.contains(&value)
                    || (value.contains('=')
                        && tracing_subscriber::EnvFilter::try_new(value).is_ok());
                if ok {
                    Ok(())
                } else {
                    Err("argument(s) must be one of the following: debug, verbose, notice, warning, nothing".into())
                }
            }
            // shardis's own flags: the value must be one the flag itself accepts, so that
            // CONFIG REWRITE never writes a file the server cannot start from.
            _ if is_flag(name) => {
                let arg = format!("--{name}={value}");
                Config::command()
                    .try_get_matches_from(["shardis", arg.as_str()])
                    .map(|_| ())
                    .map_err(|_| format!("argument is not a valid value for --{name}"))
            }
            _ => {
                let default = params.get(name).map(String::as_str).unwrap_or("");
                if MEMORY_PARAMS.contains(&name) {
                    parse_memory(value)
                        .map(|_| ())
                        .ok_or_else(|| "argument must be a memory value".into())
                } else if default == "yes" || default == "no" {
                    match value.to_ascii_lowercase().as_str() {
                        "yes" | "no" => Ok(()),
                        _ => Err("argument must be 'yes' or 'no'".into()),
                    }
                } else if default.parse::<i64>().is_ok() && !default.is_empty() {
                    value
                        .parse::<i64>()
                        .map(|_| ())
                        .map_err(|_| "argument couldn't be parsed into an integer".into())
                } else {
                    Ok(())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_lists() {
        assert_eq!("0-3".parse::<CoreList>().unwrap().0, vec![0, 1, 2, 3]);
        assert_eq!("0,2,5-6".parse::<CoreList>().unwrap().0, vec![0, 2, 5, 6]);
        assert!("3-1".parse::<CoreList>().is_err());
        assert!("x".parse::<CoreList>().is_err());
    }

    #[test]
    fn every_size_flag_takes_redis_units() {
        let cfg = Config::try_parse_from([
            "shardis",
            "--rocksdb-write-buffer-size",
            "4mb",
            "--rocksdb-block-cache-size",
            "1gb",
            "--cache-size",
            "64mb",
            "--proto-max-bulk-len",
            "1mb",
            "--rocksdb-rate-limit",
            "10mb",
        ])
        .unwrap();
        assert_eq!(cfg.rocksdb_write_buffer_size, 4 << 20);
        assert_eq!(cfg.rocksdb_block_cache_size, 1 << 30);
        assert_eq!(
            (cfg.cache_size, cfg.proto_max_bulk_len),
            (64 << 20, 1 << 20)
        );
        assert_eq!(cfg.rocksdb_rate_limit, 10 << 20);
        assert!(Config::try_parse_from(["shardis", "--cache-size", "4xb"]).is_err());
    }

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("1gb"), Some(1 << 30));
        assert_eq!(parse_memory("2k"), Some(2000));
        assert_eq!(parse_memory("12"), Some(12));
        assert_eq!(parse_memory("abc"), None);
    }

    #[test]
    fn file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.conf");
        std::fs::write(
            &path,
            "# c\nport 7000\nbatch-max 8\nhash-max-listpack-entries 64\n",
        )
        .unwrap();
        let args = |extra: &[&str]| {
            let mut v = vec![
                "shardis".to_string(),
                "--config".into(),
                path.display().to_string(),
            ];
            v.extend(extra.iter().map(|s| s.to_string()));
            v
        };
        let cfg = Config::load(args(&[])).unwrap();
        assert_eq!((cfg.port, cfg.batch_max), (7000, 8));
        assert_eq!(
            cfg.redis_overrides,
            vec![("hash-max-listpack-entries".into(), "64".into())]
        );
        let cfg = Config::load(args(&["--port", "7001"])).unwrap();
        assert_eq!(cfg.port, 7001);
    }

    #[test]
    fn config_lines_round_trip_through_quoting() {
        for v in [
            "plain",
            "",
            "two words",
            "a\"quote",
            "back\\slash",
            "line\nbreak",
            "tab\there",
            "é",
        ] {
            let line = format!("requirepass {}", conf_quote(v));
            assert_eq!(
                parse_conf(&line),
                vec![("requirepass".to_string(), v.to_string())],
                "{line}"
            );
        }
        let text = "save \"\"\nclient-output-buffer-limit normal 0 0 0\nhz 5\nhz 7\n";
        assert_eq!(
            parse_conf(text),
            vec![
                ("save".into(), "".into()),
                ("client-output-buffer-limit".into(), "normal 0 0 0".into()),
                ("hz".into(), "7".into()),
            ]
        );
    }

    #[test]
    fn config_set_checks_flags_like_the_command_line() {
        let cfg = Config::load(vec!["shardis".into()]).unwrap();
        let live = Live::new(&cfg);
        let set = |k: &str, v: &str| live.set(&[(k.to_string(), v.to_string())]);
        assert!(set("rocksdb-write-buffer-size", "-1").is_err());
        assert!(set("rocksdb-l0-stop-trigger", "3000000000").is_err());
        assert!(set("maxclients", "-1").is_err());
        assert!(set("maxclients", "0").is_err());
        assert!(set("rocksdb-l0-stop-trigger", "40").is_ok());
    }

    #[test]
    fn config_set_validates_all_or_nothing() {
        let cfg = Config::load(vec!["shardis".into()]).unwrap();
        let live = Live::new(&cfg);
        let set = |pairs: &[(&str, &str)]| {
            let v: Vec<(String, String)> = pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            live.set(&v)
        };
        assert!(set(&[("maxmemory", "1gb")]).is_ok());
        assert_eq!(
            live.get(&[b"maxmemory"]),
            vec![("maxmemory".into(), "1073741824".into())]
        );
        assert!(set(&[("hz", "5"), ("appendonly", "maybe")]).is_err());
        assert_eq!(live.get(&[b"hz"]), vec![("hz".into(), "10".into())]);
        assert!(set(&[("port", "1")]).unwrap_err().contains("immutable"));
        assert!(set(&[("nope", "1")])
            .unwrap_err()
            .contains("Unknown option"));
        assert!(set(&[("proto-max-bulk-len", "10")]).is_err());
        assert!(set(&[("appendfsync", "always")]).is_ok());
        assert!(live.fsync_always());
    }
}
