//! The parameter table: each shardis parameter once, with its name, its doc line, its
//! default, the kind of value it takes, and when a change applies. Everything else about
//! configuration is derived from [`PARAMS`]:
//!
//! * the command line: [`Config::command`](super::Config::command) makes a `--name` flag
//!   of each entry, with the doc line as help, the default as clap's default and
//!   [`Kind::canonical`] as the value parser;
//! * the config file: its `name value` lines become those flags, ahead of the command
//!   line's (so that flags win);
//! * the values: every value is kept as the canonical text its kind makes of it (sizes
//!   in bytes, words in lower case, core lists spelled out). That text is what
//!   `CONFIG GET` shows and `CONFIG REWRITE` writes, and the typed fields of
//!   [`Config`](super::Config) parse it with `FromStr`;
//! * `CONFIG SET` and SIGHUP: [`lookup`] says whether a name exists, whether it can
//!   change ([`Applies`]) and how to validate it (the kind, with Redis's error texts);
//! * README.md's option table: [`markdown_table`] (a test fails when they differ).
//!
//! Redis's own parameters ([`super::redis_params`], generated) are accepted too; their
//! kind is derived from Redis's default ([`lookup`]), and a few facts shardis adds about
//! them are the short lists at the end of this file.

use super::redis_params::REDIS_PARAMS;
use super::{AlwaysSync, CoreList, Fsync, RuntimeMode};

/// One parameter.
#[derive(Debug)]
pub struct Param {
    /// Its name: the flag is `--name`, the config file line `name value`.
    pub name: &'static str,
    /// What values it takes.
    pub kind: Kind,
    /// Its value when nothing sets it.
    pub initial: Initial,
    /// When a change takes effect.
    pub applies: Applies,
    /// One line (or a few sentences) saying what it does: the flag's help and the
    /// README's "meaning".
    pub doc: &'static str,
}

/// The values a parameter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A decimal integer in `min..=max`.
    Int {
        /// Smallest value.
        min: i128,
        /// Largest value.
        max: i128,
    },
    /// A size in bytes in `min..=max`, with Redis's units (`4mb`, `1gb`, `2k`).
    Size {
        /// Smallest value.
        min: u64,
        /// Largest value.
        max: u64,
    },
    /// One of these words (any case).
    Words(&'static [&'static str]),
    /// `yes` or `no` (any case).
    YesNo,
    /// Any text.
    Text,
    /// A file or directory.
    Path,
    /// A set of CPU cores such as `0-3` or `0,2,5-6`.
    Cores,
    /// Redis's log level names, tracing's, or a tracing filter with directives.
    LogLevel,
}

/// A parameter's value when nothing sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initial {
    /// This value (in the parameter's kind).
    Value(&'static str),
    /// No value: what that means (`CONFIG GET` shows an empty string).
    Unset(&'static str),
    /// Computed at start from other settings, as the text says
    /// ([`Config::derived`](super::Config::derived) computes it).
    Derived(&'static str),
}

/// When a change of a parameter takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    /// Read at start; `CONFIG SET` refuses it ("can't set immutable config").
    Start,
    /// `CONFIG SET` (and SIGHUP) changes it while the server runs.
    Live,
    /// A RocksDB option that `CONFIG SET` changes with RocksDB's SetOptions, under this
    /// name (applied by a storage thread through [`super::Live::on_rocksdb_options`]).
    /// RocksDB options that only apply when the database opens are [`Applies::Start`].
    RocksDb(&'static str),
    /// A flag only: neither a config-file line nor a `CONFIG` parameter.
    CommandLine,
}

const U16: i128 = u16::MAX as i128;
const I32: i128 = i32::MAX as i128;
const I64: i128 = i64::MAX as i128;
const U64: i128 = u64::MAX as i128;
/// Any size [`parse_memory`] reads (up to `i64::MAX`, like Redis's memory values).
const ANY_SIZE: Kind = Kind::Size {
    min: 0,
    max: i64::MAX as u64,
};

/// Every shardis parameter, in the order `--help` and the README list them.
pub static PARAMS: &[Param] = &[
    Param {
        name: "bind",
        kind: Kind::Text,
        initial: Initial::Value("127.0.0.1"),
        applies: Applies::Start,
        doc: "Address to listen on.",
    },
    Param {
        name: "port",
        kind: Kind::Int { min: 0, max: U16 },
        initial: Initial::Value("6379"),
        applies: Applies::Start,
        doc: "TCP port.",
    },
    Param {
        name: "dir",
        kind: Kind::Path,
        initial: Initial::Value("./data"),
        applies: Applies::Start,
        doc: "Data directory (the RocksDB database lives here).",
    },
    Param {
        name: "config",
        kind: Kind::Path,
        initial: Initial::Unset("none"),
        applies: Applies::CommandLine,
        doc: "A redis.conf-style file of `name value` lines (these parameters and Redis's); \
              flags override it. CONFIG REWRITE writes it, SIGHUP re-reads it.",
    },
    Param {
        name: "runtime",
        kind: Kind::Words(RuntimeMode::WORDS),
        initial: Initial::Value("dual"),
        applies: Applies::Start,
        doc: "`dual`: network threads and a storage runtime that never block each other; \
              `single`: one runtime that runs storage calls inline (the baseline).",
    },
    Param {
        name: "network-threads",
        kind: Kind::Int { min: 1, max: 256 },
        initial: Initial::Derived("half the cores, ≥ 1"),
        applies: Applies::Live,
        doc: "Network threads (dual runtime); CONFIG SET starts or retires pinned network \
              threads.",
    },
    Param {
        name: "network-cores",
        kind: Kind::Cores,
        initial: Initial::Unset("no pinning"),
        applies: Applies::Start,
        doc: "Cores to pin network threads to, e.g. `0-1` or `0,2`.",
    },
    Param {
        name: "storage-threads",
        kind: Kind::Int { min: 1, max: 1024 },
        initial: Initial::Derived("the other half, ≥ 1"),
        applies: Applies::Start,
        doc: "Storage runtime worker threads.",
    },
    Param {
        name: "storage-cores",
        kind: Kind::Cores,
        initial: Initial::Unset("no pinning"),
        applies: Applies::Start,
        doc: "Cores for the storage workers and RocksDB's threads.",
    },
    Param {
        name: "shards",
        kind: Kind::Int { min: 1, max: 65536 },
        initial: Initial::Derived("one per storage thread"),
        applies: Applies::Start,
        doc: "Shards: each owns a contiguous range of the key hashes (one RocksDB key range).",
    },
    Param {
        name: "channel-capacity",
        kind: Kind::Int { min: 1, max: U64 },
        initial: Initial::Value("10000"),
        applies: Applies::Start,
        doc: "Messages per shard channel; a full channel pushes back on the sending \
              connection only.",
    },
    Param {
        name: "batch-max",
        kind: Kind::Int { min: 1, max: U64 },
        initial: Initial::Value("256"),
        applies: Applies::Live,
        doc: "Most requests a shard commits in one group (one RocksDB write batch).",
    },
    Param {
        name: "appendfsync",
        kind: Kind::Words(Fsync::WORDS),
        initial: Initial::Value("everysec"),
        applies: Applies::Live,
        doc: "WAL sync: before the replies of a group (`always`), once a second from the \
              storage side (`everysec`), or by the OS (`no`).",
    },
    Param {
        name: "always-sync",
        kind: Kind::Words(AlwaysSync::WORDS),
        initial: Initial::Value("stage"),
        applies: Applies::Start,
        doc: "How `appendfsync always` syncs in the dual runtime: `stage`, one sync for the \
              groups every shard committed meanwhile (the shards go on); `group`, a synced \
              write per group that the shard waits for.",
    },
    Param {
        name: "storage-timeout-ms",
        kind: Kind::Int { min: 1, max: U64 },
        initial: Initial::Value("5000"),
        applies: Applies::Live,
        doc: "A command whose shard has not answered within this many milliseconds gets \
              `-ERR storage timeout`.",
    },
    Param {
        name: "cache-size",
        kind: ANY_SIZE,
        initial: Initial::Value("256mb"),
        applies: Applies::Start,
        doc: "Write-through value cache in front of RocksDB, bytes for all shards together \
              (0: none).",
    },
    Param {
        name: "storage-nice",
        kind: Kind::Int { min: 0, max: 19 },
        initial: Initial::Value("0"),
        applies: Applies::Start,
        doc: "Nice value of the storage side's threads and RocksDB's; 10 keeps network \
              latency low when cores are shared (tuning.md).",
    },
    Param {
        name: "enable-debug-command",
        kind: Kind::YesNo,
        initial: Initial::Value("no"),
        applies: Applies::Start,
        doc: "Allow DEBUG (compaction, record counts, fault injection).",
    },
    Param {
        name: "latency-dump",
        kind: Kind::Path,
        initial: Initial::Unset("off"),
        applies: Applies::Start,
        doc: "Directory for HDR latency dumps (a `.hgrm` per command, an interval log per \
              run), written on SIGUSR1, every `latency-dump-interval` seconds and at \
              shutdown.",
    },
    Param {
        name: "latency-dump-interval",
        kind: Kind::Int { min: 0, max: U64 },
        initial: Initial::Value("0"),
        applies: Applies::Live,
        doc: "Seconds between latency dumps (0: only on SIGUSR1 and at shutdown).",
    },
    Param {
        name: "admin-port",
        kind: Kind::Int { min: 0, max: U16 },
        initial: Initial::Value("0"),
        applies: Applies::Start,
        doc: "HTTP port (0: off) for `/health/network`, `/health/storage` (200, or 503 \
              naming what is slow) and `/metrics` (Prometheus).",
    },
    Param {
        name: "requirepass",
        kind: Kind::Text,
        initial: Initial::Unset("none"),
        applies: Applies::Live,
        doc: "Password clients must AUTH with.",
    },
    Param {
        name: "databases",
        kind: Kind::Int { min: 1, max: 64 },
        initial: Initial::Value("16"),
        applies: Applies::Start,
        doc: "Number of databases (SELECT 0 to N-1).",
    },
    Param {
        name: "proto-max-bulk-len",
        kind: Kind::Size {
            min: 1 << 20,
            max: i64::MAX as u64,
        },
        initial: Initial::Value("512mb"),
        applies: Applies::Live,
        doc: "Largest bulk argument a client may send, bytes.",
    },
    Param {
        name: "maxclients",
        kind: Kind::Int { min: 1, max: U64 },
        initial: Initial::Value("10000"),
        applies: Applies::Live,
        doc: "Most connected clients (CONFIG SET applies to new connections).",
    },
    Param {
        name: "slowlog-log-slower-than",
        kind: Kind::Int { min: -1, max: I64 },
        initial: Initial::Value("10000"),
        applies: Applies::Live,
        doc: "SLOWLOG records commands that take longer than this many microseconds \
              (0: every command, -1: none).",
    },
    Param {
        name: "busy-reply-threshold",
        kind: Kind::Int { min: 0, max: I64 },
        initial: Initial::Value("5000"),
        applies: Applies::Live,
        doc: "Milliseconds a script may run before commands that need its shards are \
              answered -BUSY and SCRIPT KILL / FUNCTION KILL may stop it \
              (`lua-time-limit` is the same setting).",
    },
    Param {
        name: "slowlog-max-len",
        kind: Kind::Int { min: 0, max: I64 },
        initial: Initial::Value("128"),
        applies: Applies::Live,
        doc: "Entries the SLOWLOG keeps.",
    },
    Param {
        name: "loglevel",
        kind: Kind::LogLevel,
        initial: Initial::Value("notice"),
        applies: Applies::Live,
        doc: "debug, verbose, notice, warning or nothing (Redis's names), or a tracing \
              filter such as `info,shardis::storage=debug`.",
    },
    Param {
        name: "rocksdb-write-buffer-size",
        kind: ANY_SIZE,
        initial: Initial::Value("16mb"),
        applies: Applies::RocksDb("write_buffer_size"),
        doc: "RocksDB memtable size, bytes.",
    },
    Param {
        name: "rocksdb-memtable-max-entries",
        kind: Kind::Int { min: 0, max: U64 },
        initial: Initial::Value("0"),
        applies: Applies::Start,
        doc: "Entries after which a memtable is ended early, so that small values make \
              small, fast memtables (0: only `rocksdb-write-buffer-size` ends a memtable).",
    },
    Param {
        name: "rocksdb-block-cache-size",
        kind: ANY_SIZE,
        initial: Initial::Value("256mb"),
        applies: Applies::Start,
        doc: "RocksDB block cache size, bytes.",
    },
    Param {
        name: "rocksdb-background-jobs",
        kind: Kind::Int { min: 1, max: I32 },
        initial: Initial::Value("2"),
        applies: Applies::Start,
        doc: "RocksDB flush and compaction threads.",
    },
    Param {
        name: "rocksdb-background-priority",
        kind: Kind::Words(&["normal", "low"]),
        initial: Initial::Value("normal"),
        applies: Applies::Start,
        doc: "CPU priority of RocksDB's flush and compaction threads: `low` (nice 19) lets \
              the network and storage threads preempt them on shared cores.",
    },
    Param {
        name: "rocksdb-l0-compaction-trigger",
        kind: Kind::Int { min: 1, max: I32 },
        initial: Initial::Value("8"),
        applies: Applies::RocksDb("level0_file_num_compaction_trigger"),
        doc: "L0 files that trigger a compaction. Eight rather than RocksDB's four: each \
              compaction into the level below merges twice as much new data with it, which \
              cut compaction CPU per write by about 40% with 1 KB values (tuning.md).",
    },
    Param {
        name: "rocksdb-l0-slowdown-trigger",
        kind: Kind::Int { min: 1, max: I32 },
        initial: Initial::Value("20"),
        applies: Applies::RocksDb("level0_slowdown_writes_trigger"),
        doc: "L0 files at which RocksDB slows writes down.",
    },
    Param {
        name: "rocksdb-l0-stop-trigger",
        kind: Kind::Int { min: 1, max: I32 },
        initial: Initial::Value("36"),
        applies: Applies::RocksDb("level0_stop_writes_trigger"),
        doc: "L0 files at which RocksDB stops writes.",
    },
    Param {
        name: "rocksdb-rate-limit",
        kind: ANY_SIZE,
        initial: Initial::Value("0"),
        applies: Applies::Start,
        doc: "Bytes per second RocksDB's flushes and compactions may write (0: unlimited); \
              fixed at start, as RocksDB cannot change a running rate limiter through its \
              C API.",
    },
    Param {
        name: "rocksdb-recycle-wal-files",
        kind: Kind::Int { min: 0, max: I32 },
        initial: Initial::Value("4"),
        applies: Applies::Start,
        doc: "Old WAL files RocksDB keeps to write over instead of creating new ones \
              (0: none). Writing over a file's blocks spares each WAL sync the write of the \
              file's metadata: with `appendfsync always` a sync took 25-35% less time \
              (tuning.md).",
    },
];

/// The table's entry for `name`.
pub fn find(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name == name)
}

impl Param {
    /// Whether `CONFIG GET` shows it (and a config file may set it).
    pub fn in_config(&self) -> bool {
        self.applies != Applies::CommandLine
    }
}

impl Kind {
    /// Validates `value` and returns its canonical text, or the reason it is refused in
    /// Redis's words (what follows "CONFIG SET failed (possibly related to argument
    /// 'x') - ").
    pub fn canonical(&self, value: &str) -> Result<String, String> {
        let between = |min: &dyn std::fmt::Display, max: &dyn std::fmt::Display| {
            format!("argument must be between {min} and {max} inclusive")
        };
        match *self {
            Kind::Int { min, max } => match value.parse::<i128>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n.to_string()),
                Ok(_) => Err(between(&min, &max)),
                Err(_) => Err("argument couldn't be parsed into an integer".into()),
            },
            Kind::Size { min, max } => match parse_memory(value) {
                Some(n) if (min..=max).contains(&n) => Ok(n.to_string()),
                Some(_) => Err(between(&min, &max)),
                None => Err("argument must be a memory value".into()),
            },
            Kind::Words(words) => {
                let lower = value.to_ascii_lowercase();
                match words.iter().find(|w| **w == lower) {
                    Some(w) => Ok(w.to_string()),
                    None => Err(format!(
                        "argument(s) must be one of the following: {}",
                        words.join(", ")
                    )),
                }
            }
            Kind::YesNo => match value.to_ascii_lowercase().as_str() {
                v @ ("yes" | "no") => Ok(v.to_string()),
                _ => Err("argument must be 'yes' or 'no'".into()),
            },
            Kind::Text | Kind::Path => Ok(value.to_string()),
            Kind::Cores => value.parse::<CoreList>().map(|c| c.to_string()),
            Kind::LogLevel => {
                let names = ["debug", "verbose", "notice", "warning", "nothing"];
                let levels = ["trace", "info", "warn", "error", "off"];
                let ok = names.contains(&value)
                    || levels.contains(&value)
                    || (value.contains('=')
                        && tracing_subscriber::EnvFilter::try_new(value).is_ok());
                if ok {
                    Ok(value.to_string())
                } else {
                    Err(format!(
                        "argument(s) must be one of the following: {}",
                        names.join(", ")
                    ))
                }
            }
        }
    }

    /// What `--help` writes after the flag.
    pub fn value_name(&self) -> &'static str {
        match self {
            Kind::Int { .. } => "N",
            Kind::Size { .. } => "SIZE",
            Kind::Words(_) => "WORD",
            Kind::YesNo => "yes|no",
            Kind::Text => "TEXT",
            Kind::Path => "PATH",
            Kind::Cores => "CORES",
            Kind::LogLevel => "LEVEL",
        }
    }

    /// The values `--help` lists, for kinds that are a few words.
    pub fn words(&self) -> Option<&'static [&'static str]> {
        match self {
            Kind::Words(words) => Some(words),
            Kind::YesNo => Some(&["yes", "no"]),
            _ => None,
        }
    }
}

/// [`Kind::canonical`] as clap's value parser: the flag's value becomes its canonical
/// text, and `--help` lists the words of a [`Kind::Words`].
#[derive(Debug, Clone)]
pub struct KindParser(pub Kind);

impl clap::builder::TypedValueParser for KindParser {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        let kind = self.0;
        (move |s: &str| kind.canonical(s)).parse_ref(cmd, arg, value)
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        let words = self.0.words()?;
        Some(Box::new(
            words.iter().map(|w| clap::builder::PossibleValue::new(*w)),
        ))
    }
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

/// What `CONFIG SET` knows about a parameter name.
#[derive(Debug, Clone, Copy)]
pub struct ConfigParam {
    /// How its values are validated and written.
    pub kind: Kind,
    /// Whether `CONFIG SET` may change it.
    pub settable: bool,
    /// The RocksDB option it changes, if it is one.
    pub rocksdb: Option<&'static str>,
}

/// `name` as a `CONFIG` parameter: one of the table's (which win over Redis's of the
/// same name) or one of Redis's; `None` when neither has it.
pub fn lookup(name: &str) -> Option<ConfigParam> {
    if let Some(p) = find(name).filter(|p| p.in_config()) {
        return Some(ConfigParam {
            kind: p.kind,
            settable: p.applies != Applies::Start,
            rocksdb: match p.applies {
                Applies::RocksDb(option) => Some(option),
                _ => None,
            },
        });
    }
    let (_, default) = REDIS_PARAMS.iter().find(|(n, _)| *n == name)?;
    // Redis's kinds, as far as its default shows them.
    let kind = if REDIS_SIZES.contains(&name) {
        ANY_SIZE
    } else if *default == "yes" || *default == "no" {
        Kind::YesNo
    } else if !default.is_empty() && default.parse::<i64>().is_ok() {
        Kind::Int {
            min: i64::MIN as i128,
            max: I64,
        }
    } else {
        Kind::Text
    };
    Some(ConfigParam {
        kind,
        settable: !REDIS_IMMUTABLE.contains(&name),
        rocksdb: None,
    })
}

/// Redis parameters whose values are memory sizes (`1gb` is accepted, bytes are shown).
const REDIS_SIZES: &[&str] = &[
    "maxmemory",
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

/// Redis parameters that `CONFIG SET` refuses, as Redis does.
const REDIS_IMMUTABLE: &[&str] = &[
    "daemonize",
    "logfile",
    "pidfile",
    "unixsocket",
    "supervised",
    "io-threads",
    "cluster-enabled",
    "appenddirname",
    "dbfilename",
];

/// Redis parameters whose value in shardis is not Redis's default: what shardis does
/// (it always persists, never writes RDB snapshots, never daemonizes). A config file
/// cannot change them; `CONFIG SET` stores and echoes a new value, like any other.
pub const REDIS_AS_SHARDIS: &[(&str, &str)] =
    &[("appendonly", "yes"), ("save", ""), ("daemonize", "no")];

/// README.md's option table: one row per parameter (markdown).
pub fn markdown_table() -> String {
    let cell = |s: &str| s.replace('|', "\\|");
    let mut out = String::from(
        "| flag (and config-file name) | default | changes | meaning |\n\
         | --- | --- | --- | --- |\n",
    );
    for p in PARAMS {
        let default = match p.initial {
            Initial::Value(v) => v,
            Initial::Unset(what) | Initial::Derived(what) => what,
        };
        let applies = match p.applies {
            Applies::Start => "at start".to_string(),
            Applies::Live => "CONFIG SET".to_string(),
            Applies::RocksDb(option) => format!("CONFIG SET (RocksDB `{option}`)"),
            Applies::CommandLine => "command line only".to_string(),
        };
        out.push_str(&format!(
            "| `--{} {}` | {} | {} | {} |\n",
            p.name,
            cell(
                &p.kind
                    .words()
                    .map_or(p.kind.value_name().into(), |w| w.join("|"))
            ),
            cell(default),
            cell(&applies),
            cell(p.doc),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_documented() {
        for (i, p) in PARAMS.iter().enumerate() {
            assert!(
                PARAMS[..i].iter().all(|q| q.name != p.name),
                "{} twice",
                p.name
            );
            assert!(!p.doc.is_empty() && p.doc.ends_with('.'), "{}", p.name);
            assert_eq!(p.name, p.name.to_ascii_lowercase());
        }
    }

    #[test]
    fn every_default_parses_with_its_own_kind() {
        for p in PARAMS {
            if let Initial::Value(v) = p.initial {
                assert!(p.kind.canonical(v).is_ok(), "{}: default {v:?}", p.name);
            }
        }
    }

    #[test]
    fn kinds_validate_with_redis_texts() {
        let int = Kind::Int { min: -1, max: 5 };
        assert_eq!(int.canonical("+3"), Ok("3".into()));
        assert_eq!(
            int.canonical("6"),
            Err("argument must be between -1 and 5 inclusive".into())
        );
        assert_eq!(
            int.canonical("x"),
            Err("argument couldn't be parsed into an integer".into())
        );
        assert_eq!(ANY_SIZE.canonical("4mb"), Ok("4194304".into()));
        assert_eq!(ANY_SIZE.canonical("1gb"), Ok("1073741824".into()));
        assert_eq!(
            ANY_SIZE.canonical("-1"),
            Err("argument must be a memory value".into())
        );
        let words = Kind::Words(Fsync::WORDS);
        assert_eq!(words.canonical("ALWAYS"), Ok("always".into()));
        assert_eq!(
            words.canonical("sometimes"),
            Err("argument(s) must be one of the following: always, everysec, no".into())
        );
        assert_eq!(Kind::YesNo.canonical("Yes"), Ok("yes".into()));
        assert_eq!(Kind::Cores.canonical("0-2,5"), Ok("0,1,2,5".into()));
        assert!(Kind::Cores.canonical("3-1").is_err());
        assert!(Kind::LogLevel.canonical("warning").is_ok());
        assert!(Kind::LogLevel.canonical("info,shardis=debug").is_ok());
        assert!(Kind::LogLevel.canonical("bogus level!").is_err());
    }

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("1gb"), Some(1 << 30));
        assert_eq!(parse_memory("2k"), Some(2000));
        assert_eq!(parse_memory("12"), Some(12));
        assert_eq!(parse_memory("abc"), None);
    }

    #[test]
    fn lookup_prefers_the_table_and_knows_redis() {
        let p = lookup("proto-max-bulk-len").unwrap();
        assert!(p.settable && matches!(p.kind, Kind::Size { min: 1048576, .. }));
        assert_eq!(
            lookup("rocksdb-l0-stop-trigger").unwrap().rocksdb,
            Some("level0_stop_writes_trigger")
        );
        assert!(!lookup("port").unwrap().settable);
        assert!(!lookup("daemonize").unwrap().settable);
        assert_eq!(lookup("maxmemory").unwrap().kind, ANY_SIZE);
        assert_eq!(lookup("appendonly").unwrap().kind, Kind::YesNo);
        assert!(matches!(lookup("hz").unwrap().kind, Kind::Int { .. }));
        assert!(lookup("config").is_none() && lookup("nope").is_none());
    }

    /// README.md's "## Options" table is [`markdown_table`]. After changing the table,
    /// run this test with `SHARDIS_BLESS_README=1` to write the new one into README.md.
    #[test]
    fn readme_option_table_is_the_parameter_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        let readme = std::fs::read_to_string(path).unwrap();
        let start = readme
            .find("## Options\n")
            .expect("README has no ## Options")
            + 11;
        let table_start = start + readme[start..].find("\n|").expect("no table") + 1;
        let table_len = readme[table_start..]
            .split_inclusive('\n')
            .take_while(|l| l.starts_with('|'))
            .map(str::len)
            .sum::<usize>();
        let current = &readme[table_start..table_start + table_len];
        let wanted = markdown_table();
        if current != wanted {
            if std::env::var_os("SHARDIS_BLESS_README").is_some() {
                let mut new = readme.clone();
                new.replace_range(table_start..table_start + table_len, &wanted);
                std::fs::write(path, new).unwrap();
            } else {
                panic!(
                    "README.md's option table differs from the parameter table; run with \
                     SHARDIS_BLESS_README=1 to write it. Wanted:\n{wanted}"
                );
            }
        }
    }
}
