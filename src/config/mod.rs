//! Configuration: one typed [`Config`] read from flags and an optional redis.conf-style
//! file (a flag overrides the file), plus [`Live`], the part that `CONFIG SET` changes
//! while the server runs.
//!
//! Every fact about a shardis parameter (name, doc, default, kind of value, when a
//! change applies) is one entry of the table in [`params`]: the flags are built from it
//! ([`Config::command`]), and so are the config file's names, CONFIG GET/SET/REWRITE,
//! SIGHUP and README.md's option table. [`Config`]'s fields are typed views of the
//! values the table's kinds validated: [`Config::load`] fills them, once, in
//! `Config::from_values`.
//!
//! Every Redis 7.0 parameter ([`redis_params`]) is accepted by `CONFIG SET` and echoed
//! by `CONFIG GET`, so that clients and tools that set them work; most of them change
//! nothing in shardis (README lists the ones that do).

mod conf;
mod live;
pub mod params;
pub mod redis_params;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

pub use live::{
    log_filter, notify, set_log_reloader, Live, LogReloader, NetworkThreadsHook, OptionsHook,
};
pub use params::parse_memory;

use params::{Initial, PARAMS};

/// An enum whose values are the words of a parameter ([`params::Kind::Words`]): each
/// variant's word is written once, and `WORDS`, `name` and `FromStr` follow from it.
macro_rules! word_enum {
    ($(#[$meta:meta])* pub enum $name:ident {
        $($(#[$vmeta:meta])* $variant:ident = $word:literal,)+
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value's word, in declaration order.
            pub const WORDS: &'static [&'static str] = &[$($word),+];

            /// The value's word (what INFO and CONFIG GET print).
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)+
                }
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($word => Ok($name::$variant),)+
                    _ => Err(format!("'{s}' is not one of {:?}", Self::WORDS)),
                }
            }
        }
    };
}

word_enum! {
    /// How the server is built: the dual runtime it exists for, or the baseline.
    pub enum RuntimeMode {
        /// Network threads and a separate storage runtime, connected by shard channels.
        Dual = "dual",
        /// One multi-thread runtime; storage calls run inline in the connection task.
        Single = "single",
    }
}

word_enum! {
    /// How `appendfsync always` syncs the WAL.
    pub enum AlwaysSync {
        /// Groups commit unsynced and a sync stage syncs once for everything committed
        /// meanwhile, by every shard, before it releases the replies.
        Stage = "stage",
        /// Each group commits with a synced write and waits for it (RocksDB merges the
        /// synced writes that reach it together into one WAL sync).
        Group = "group",
    }
}

word_enum! {
    /// When the RocksDB WAL is synced to disk.
    pub enum Fsync {
        /// Before any reply of a group is sent.
        Always = "always",
        /// Once a second, from the storage side.
        Everysec = "everysec",
        /// Left to the operating system.
        No = "no",
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

/// Everything the server is started with: the typed values of the parameter table
/// ([`params::PARAMS`]; each field is the parameter of the same name, `_` for `-`).
/// Built by [`Config::load`] only.
#[derive(Debug, Clone)]
pub struct Config {
    /// `bind`.
    pub bind: String,
    /// `port`.
    pub port: u16,
    /// `dir`.
    pub dir: PathBuf,
    /// `config`.
    pub config: Option<PathBuf>,
    /// `runtime`.
    pub runtime: RuntimeMode,
    /// `network-threads` as given (see [`Config::network_threads`]).
    pub network_threads: Option<usize>,
    /// `network-cores`.
    pub network_cores: Option<CoreList>,
    /// `storage-threads` as given (see [`Config::storage_threads`]).
    pub storage_threads: Option<usize>,
    /// `storage-cores`.
    pub storage_cores: Option<CoreList>,
    /// `storage-nice`.
    pub storage_nice: i32,
    /// `shards` as given (see [`Config::shards`]).
    pub shards: Option<usize>,
    /// `channel-capacity`.
    pub channel_capacity: u64,
    /// `batch-max`.
    pub batch_max: u64,
    /// `appendfsync`.
    pub appendfsync: Fsync,
    /// `always-sync`.
    pub always_sync: AlwaysSync,
    /// `requirepass`.
    pub requirepass: Option<String>,
    /// `databases`.
    pub databases: u8,
    /// `storage-timeout-ms`.
    pub storage_timeout_ms: u64,
    /// `proto-max-bulk-len`.
    pub proto_max_bulk_len: u64,
    /// `maxclients`.
    pub maxclients: u64,
    /// `slowlog-log-slower-than`.
    pub slowlog_log_slower_than: i64,
    /// `slowlog-max-len`.
    pub slowlog_max_len: u64,
    /// `busy-reply-threshold`.
    pub busy_reply_threshold: u64,
    /// `latency-dump`.
    pub latency_dump: Option<PathBuf>,
    /// `latency-dump-interval`.
    pub latency_dump_interval: u64,
    /// `admin-port`.
    pub admin_port: u16,
    /// `enable-debug-command`: `yes` or `no`.
    pub enable_debug_command: String,
    /// `loglevel`.
    pub loglevel: String,
    /// `cache-size`.
    pub cache_size: u64,
    /// `rocksdb-write-buffer-size`.
    pub rocksdb_write_buffer_size: u64,
    /// `rocksdb-block-cache-size`.
    pub rocksdb_block_cache_size: u64,
    /// `rocksdb-background-jobs`.
    pub rocksdb_background_jobs: i32,
    /// `rocksdb-l0-compaction-trigger`.
    pub rocksdb_l0_compaction_trigger: i32,
    /// `rocksdb-l0-slowdown-trigger`.
    pub rocksdb_l0_slowdown_trigger: i32,
    /// `rocksdb-l0-stop-trigger`.
    pub rocksdb_l0_stop_trigger: i32,
    /// `rocksdb-recycle-wal-files`.
    pub rocksdb_recycle_wal_files: usize,
    /// `rocksdb-background-priority`: `normal` or `low`.
    pub rocksdb_background_priority: String,
    /// `rocksdb-memtable-max-entries`.
    pub rocksdb_memtable_max_entries: u64,
    /// `rocksdb-rate-limit`.
    pub rocksdb_rate_limit: i64,
    /// Names of the flags given on the command line.
    pub command_line: Vec<String>,
    /// Redis parameters from the config file that are not in the table.
    pub redis_overrides: Vec<(String, String)>,
    /// The canonical text of every parameter that has a value.
    values: BTreeMap<&'static str, String>,
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

/// The parameters' canonical texts, as [`Config::from_values`] reads them (it records
/// the names it reads, so that a test can check that every parameter has a field).
struct Values<'a> {
    map: &'a BTreeMap<&'static str, String>,
    read: RefCell<Vec<&'static str>>,
}

impl Values<'_> {
    /// The value of `name`, if it has one. Panics if `name` is not in the table or its
    /// canonical text does not parse as `T` (the table and the field disagree).
    fn opt<T: FromStr>(&self, name: &'static str) -> Option<T> {
        assert!(params::find(name).is_some(), "{name} is not a parameter");
        self.read.borrow_mut().push(name);
        let text = self.map.get(name)?;
        Some(
            text.parse()
                .unwrap_or_else(|_| panic!("{name}: '{text}' does not fit the field's type")),
        )
    }

    /// The value of a parameter that always has one (its table entry has a default).
    fn get<T: FromStr>(&self, name: &'static str) -> T {
        self.opt(name)
            .unwrap_or_else(|| panic!("{name} has no value"))
    }
}

impl Config {
    /// The command line: one flag per table entry, with its doc as help, its default as
    /// clap's default and its kind as the value parser (which yields canonical text).
    pub fn command() -> clap::Command {
        let mut cmd = clap::Command::new("shardis")
            .version(env!("CARGO_PKG_VERSION"))
            .about(env!("CARGO_PKG_DESCRIPTION"))
            .args_override_self(true);
        for p in PARAMS {
            let kind = p.kind;
            let mut arg = clap::Arg::new(p.name)
                .long(p.name)
                .value_name(kind.value_name())
                .action(clap::ArgAction::Set)
                .value_parser(params::KindParser(kind));
            arg = match p.initial {
                Initial::Value(v) => arg.default_value(v).help(p.doc),
                Initial::Unset(what) | Initial::Derived(what) => {
                    arg.help(format!("{} [default: {what}]", p.doc))
                }
            };
            cmd = cmd.arg(arg);
        }
        cmd
    }

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
            for (key, value) in conf::parse_conf(&text) {
                if params::find(&key).is_some_and(|p| p.in_config()) {
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
        let values: BTreeMap<&'static str, String> = PARAMS
            .iter()
            .filter_map(|p| Some((p.name, matches.get_one::<String>(p.name)?.clone())))
            .collect();
        let mut cfg = Config::from_values(&Values {
            map: &values,
            read: RefCell::new(Vec::new()),
        });
        cfg.values = values;
        cfg.redis_overrides = overrides;
        cfg.command_line = command_line;
        Ok(cfg)
    }

    /// The typed fields, each read from the parameter of its name.
    fn from_values(v: &Values<'_>) -> Config {
        Config {
            bind: v.get("bind"),
            port: v.get("port"),
            dir: v.get("dir"),
            config: v.opt("config"),
            runtime: v.get("runtime"),
            network_threads: v.opt("network-threads"),
            network_cores: v.opt("network-cores"),
            storage_threads: v.opt("storage-threads"),
            storage_cores: v.opt("storage-cores"),
            storage_nice: v.get("storage-nice"),
            shards: v.opt("shards"),
            channel_capacity: v.get("channel-capacity"),
            batch_max: v.get("batch-max"),
            appendfsync: v.get("appendfsync"),
            always_sync: v.get("always-sync"),
            requirepass: v.opt("requirepass"),
            databases: v.get("databases"),
            storage_timeout_ms: v.get("storage-timeout-ms"),
            proto_max_bulk_len: v.get("proto-max-bulk-len"),
            maxclients: v.get("maxclients"),
            slowlog_log_slower_than: v.get("slowlog-log-slower-than"),
            slowlog_max_len: v.get("slowlog-max-len"),
            busy_reply_threshold: v.get("busy-reply-threshold"),
            latency_dump: v.opt("latency-dump"),
            latency_dump_interval: v.get("latency-dump-interval"),
            admin_port: v.get("admin-port"),
            enable_debug_command: v.get("enable-debug-command"),
            loglevel: v.get("loglevel"),
            cache_size: v.get("cache-size"),
            rocksdb_write_buffer_size: v.get("rocksdb-write-buffer-size"),
            rocksdb_block_cache_size: v.get("rocksdb-block-cache-size"),
            rocksdb_background_jobs: v.get("rocksdb-background-jobs"),
            rocksdb_l0_compaction_trigger: v.get("rocksdb-l0-compaction-trigger"),
            rocksdb_l0_slowdown_trigger: v.get("rocksdb-l0-slowdown-trigger"),
            rocksdb_l0_stop_trigger: v.get("rocksdb-l0-stop-trigger"),
            rocksdb_recycle_wal_files: v.get("rocksdb-recycle-wal-files"),
            rocksdb_background_priority: v.get("rocksdb-background-priority"),
            rocksdb_memtable_max_entries: v.get("rocksdb-memtable-max-entries"),
            rocksdb_rate_limit: v.get("rocksdb-rate-limit"),
            command_line: Vec::new(),
            redis_overrides: Vec::new(),
            values: BTreeMap::new(),
        }
    }

    /// A parameter's value at start, as CONFIG GET shows it: the canonical text, what
    /// [`Config::derived`] computes, or empty when it has none.
    pub fn text(&self, name: &str) -> String {
        self.values
            .get(name)
            .cloned()
            .or_else(|| self.derived(name))
            .unwrap_or_default()
    }

    /// The value of a parameter whose default is [`Initial::Derived`].
    pub fn derived(&self, name: &str) -> Option<String> {
        Some(match name {
            "network-threads" => self.network_threads().to_string(),
            "storage-threads" => self.storage_threads().to_string(),
            "shards" => self.shards().to_string(),
            _ => return None,
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use params::Kind;

    fn load(args: &[&str]) -> Result<Config, clap::Error> {
        let mut v = vec!["shardis".to_string()];
        v.extend(args.iter().map(|s| s.to_string()));
        Config::load(v)
    }

    #[test]
    fn core_lists() {
        assert_eq!("0-3".parse::<CoreList>().unwrap().0, vec![0, 1, 2, 3]);
        assert_eq!("0,2,5-6".parse::<CoreList>().unwrap().0, vec![0, 2, 5, 6]);
        assert!("3-1".parse::<CoreList>().is_err());
        assert!("x".parse::<CoreList>().is_err());
    }

    #[test]
    fn every_parameter_has_a_field_and_every_field_a_parameter() {
        let cfg = load(&[]).unwrap();
        let values = Values {
            map: &cfg.values,
            read: RefCell::new(Vec::new()),
        };
        Config::from_values(&values);
        let mut read = values.read.into_inner();
        read.sort_unstable();
        let mut names: Vec<&str> = PARAMS.iter().map(|p| p.name).collect();
        names.sort_unstable();
        assert_eq!(read, names);
        for p in PARAMS {
            let derived = cfg.derived(p.name).is_some();
            assert_eq!(
                derived,
                matches!(p.initial, Initial::Derived(_)),
                "{}",
                p.name
            );
        }
    }

    /// The smallest and largest value of each integer and size parameter fit its field.
    #[test]
    fn every_range_fits_its_field() {
        for p in PARAMS {
            let (min, max) = match p.kind {
                Kind::Int { min, max } => (min.to_string(), max.to_string()),
                Kind::Size { min, max } => (min.to_string(), max.to_string()),
                _ => continue,
            };
            for v in [min, max] {
                let cfg = load(&[&format!("--{}={v}", p.name)]).unwrap();
                assert_eq!(cfg.text(p.name), v);
            }
        }
    }

    #[test]
    fn defaults_come_from_the_table() {
        let cfg = load(&[]).unwrap();
        assert_eq!((cfg.port, cfg.batch_max, cfg.databases), (6379, 256, 16));
        assert_eq!(
            (cfg.appendfsync, cfg.runtime),
            (Fsync::Everysec, RuntimeMode::Dual)
        );
        assert_eq!(cfg.proto_max_bulk_len, 512 << 20);
        assert_eq!(
            (cfg.requirepass.clone(), cfg.network_cores.clone()),
            (None, None)
        );
        assert_eq!(cfg.text("cache-size"), (256u64 << 20).to_string());
        assert_eq!(cfg.text("requirepass"), "");
    }

    #[test]
    fn every_size_flag_takes_redis_units() {
        for p in PARAMS {
            if let Kind::Size { .. } = p.kind {
                let flag = format!("--{}", p.name);
                let cfg = load(&[&flag, "4mb"]).unwrap();
                assert_eq!(cfg.text(p.name), (4u64 << 20).to_string(), "{}", p.name);
                assert!(load(&[&flag, "4xb"]).is_err(), "{}", p.name);
            }
        }
        let cfg = load(&[
            "--rocksdb-block-cache-size",
            "1gb",
            "--rocksdb-rate-limit",
            "10mb",
        ])
        .unwrap();
        assert_eq!(cfg.rocksdb_block_cache_size, 1 << 30);
        assert_eq!(cfg.rocksdb_rate_limit, 10 << 20);
    }

    #[test]
    fn flags_are_validated_by_their_kind() {
        assert!(load(&["--batch-max", "0"]).is_err());
        assert!(load(&["--storage-nice", "20"]).is_err());
        assert!(load(&["--runtime", "triple"]).is_err());
        assert_eq!(
            load(&["--appendfsync", "ALWAYS"]).unwrap().appendfsync,
            Fsync::Always
        );
        let cfg = load(&[
            "--network-cores",
            "0-2",
            "--batch-max",
            "3",
            "--batch-max",
            "4",
        ]);
        let cfg = cfg.unwrap();
        assert_eq!(cfg.network_cores, Some(CoreList(vec![0, 1, 2])));
        assert_eq!(cfg.batch_max, 4);
        assert_eq!(
            cfg.command_line,
            ["network-cores", "batch-max", "batch-max"]
        );
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
        let conf = path.display().to_string();
        let cfg = load(&["--config", &conf]).unwrap();
        assert_eq!((cfg.port, cfg.batch_max), (7000, 8));
        assert_eq!(cfg.config, Some(path.clone()));
        assert_eq!(
            cfg.redis_overrides,
            vec![("hash-max-listpack-entries".into(), "64".into())]
        );
        let cfg = load(&["--config", &conf, "--port", "7001"]).unwrap();
        assert_eq!(cfg.port, 7001);
        std::fs::write(&path, "batch-max 0\n").unwrap();
        assert!(load(&["--config", &conf]).is_err());
        std::fs::write(&path, "no-such-thing 1\n").unwrap();
        assert!(load(&["--config", &conf]).is_err());
        std::fs::write(&path, "config other.conf\n").unwrap();
        assert!(load(&["--config", &conf]).is_err());
    }
}
