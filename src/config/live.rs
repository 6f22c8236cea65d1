//! [`Live`]: the settings the running server reads, and `CONFIG GET` / `SET` /
//! `REWRITE` and SIGHUP on them.
//!
//! Every parameter's current value is one canonical text in one map (shardis's
//! parameters from [`super::params::PARAMS`], Redis's from
//! [`super::redis_params`]), which `CONFIG GET` reads and `CONFIG REWRITE` writes.
//! `CONFIG SET` validates every pair first with [`super::params::lookup`] (all or
//! nothing), then stores the canonical texts and passes each change on:
//!
//! * to a typed copy that the request path reads without a lock ([`Live::cache`]:
//!   `batch_max()`, `storage_timeout()`, `fsync_always()` ...);
//! * to a hook: RocksDB options to the storage side, `network-threads` to the server,
//!   `loglevel` to the log filter.
//!
//! Parameters with neither (`maxclients`) are read from the map ([`Live::param_u64`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use super::conf::{conf_quote, parse_conf};
use super::params::{self, lookup, REDIS_AS_SHARDIS};
use super::redis_params::REDIS_PARAMS;
use super::{AlwaysSync, Config, Fsync};
use crate::error::CommandError;

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
    slowlog_slower_than: AtomicI64,
    busy_reply_ms: AtomicU64,
    slowlog_max_len: AtomicU64,
    latency_dump_interval: AtomicU64,
    /// client-output-buffer-limit: hard bytes, soft bytes, soft seconds, for normal
    /// clients and for pub/sub clients.
    output_limits: [AtomicU64; 6],
    /// `notify-keyspace-events` as bits ([`notify`]).
    notify_flags: AtomicU32,
    requirepass: Mutex<Option<String>>,
    /// Every parameter's current value (canonical text).
    values: Mutex<BTreeMap<String, String>>,
    /// Names given as flags on the command line: they win over the file, also on SIGHUP.
    from_command_line: Vec<String>,
    /// Names CONFIG SET changed since start (CONFIG REWRITE writes them).
    changed: Mutex<BTreeSet<String>>,
    /// Applies RocksDB option changes on the storage side.
    rocksdb_hook: OnceLock<OptionsHook>,
    network_threads_hook: OnceLock<NetworkThreadsHook>,
}

/// Starts or retires network threads (installed by the server).
pub type NetworkThreadsHook = Box<dyn Fn(usize) -> Result<(), String> + Send + Sync>;

/// Applies `(RocksDB option, value)` changes (installed by the storage side).
pub type OptionsHook = Box<dyn Fn(Vec<(String, String)>) + Send + Sync>;

/// Changes the log filter at run time (installed by the binary's logging set-up).
pub type LogReloader = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

static LOG_RELOADER: OnceLock<LogReloader> = OnceLock::new();

/// Installs the function CONFIG SET loglevel calls.
pub fn set_log_reloader(f: LogReloader) {
    let _ = LOG_RELOADER.set(f);
}

/// Maps Redis's level names onto tracing's; anything else is a tracing filter.
pub fn log_filter(level: &str) -> String {
    match level {
        "debug" => "debug".into(),
        "verbose" | "notice" => "info".into(),
        "warning" => "warn".into(),
        "nothing" => "off".into(),
        other => other.into(),
    }
}

/// Reads `class hard soft seconds ...` (sizes with k/kb/m/mb/g/gb) into byte counts.
fn parse_output_limits(text: &str) -> Result<Vec<(String, [u64; 3])>, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() || !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let size = |w: &str| -> Result<u64, String> {
        let lower = w.to_ascii_lowercase();
        let (num, mul) = [
            ("gb", 1u64 << 30),
            ("g", 1_000_000_000),
            ("mb", 1 << 20),
            ("m", 1_000_000),
            ("kb", 1 << 10),
            ("k", 1000),
        ]
        .iter()
        .find_map(|(suffix, mul)| lower.strip_suffix(suffix).map(|n| (n.to_string(), *mul)))
        .unwrap_or((lower.clone(), 1));
        num.parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(mul))
            .ok_or_else(|| {
                "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                    .to_string()
            })
    };
    let mut out = Vec::new();
    for w in words.chunks_exact(4) {
        let class = match w[0].to_ascii_lowercase().as_str() {
            "normal" => "normal",
            "slave" | "replica" => "slave",
            "pubsub" => "pubsub",
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        let secs = w[3].parse::<u64>().map_err(|_| {
            "Error in hard, soft or soft_seconds setting in buffer limit configuration.".to_string()
        })?;
        out.push((class.to_string(), [size(w[1])?, size(w[2])?, secs]));
    }
    Ok(out)
}

/// `notify-keyspace-events` bits (Redis's `NOTIFY_*`): where events go, and their classes.
pub mod notify {
    /// `K`: `__keyspace@<db>__:<key>` channels.
    pub const KEYSPACE: u32 = 1;
    /// `E`: `__keyevent@<db>__:<event>` channels.
    pub const KEYEVENT: u32 = 1 << 1;
    /// `g`: DEL, EXPIRE, RENAME and the other generic commands.
    pub const GENERIC: u32 = 1 << 2;
    /// `$`: strings.
    pub const STRING: u32 = 1 << 3;
    /// `l`: lists.
    pub const LIST: u32 = 1 << 4;
    /// `s`: sets.
    pub const SET: u32 = 1 << 5;
    /// `h`: hashes.
    pub const HASH: u32 = 1 << 6;
    /// `z`: sorted sets.
    pub const ZSET: u32 = 1 << 7;
    /// `x`: expired keys.
    pub const EXPIRED: u32 = 1 << 8;
    /// `e`: evicted keys.
    pub const EVICTED: u32 = 1 << 9;
    /// `t`: streams.
    pub const STREAM: u32 = 1 << 10;
    /// `m`: key misses.
    pub const KEY_MISS: u32 = 1 << 11;
    /// `d`: module types.
    pub const MODULE: u32 = 1 << 13;
    /// `n`: new keys.
    pub const NEW: u32 = 1 << 14;
    /// `A`: every class but `m` and `n`.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

/// `notify-keyspace-events` classes, in Redis's order for its canonical text.
const NOTIFY_CLASSES: &[(char, u32)] = &[
    ('g', notify::GENERIC),
    ('$', notify::STRING),
    ('l', notify::LIST),
    ('s', notify::SET),
    ('h', notify::HASH),
    ('z', notify::ZSET),
    ('x', notify::EXPIRED),
    ('e', notify::EVICTED),
    ('t', notify::STREAM),
    ('d', notify::MODULE),
    ('n', notify::NEW),
];
use notify::KEY_MISS as NOTIFY_MISS;
use notify::{ALL as NOTIFY_ALL, KEYEVENT as NOTIFY_KEYEVENT, KEYSPACE as NOTIFY_KEYSPACE};

/// Reads `notify-keyspace-events` flags, as Redis's `keyspaceEventsStringToFlags`.
fn parse_notify_flags(text: &str) -> Result<u32, String> {
    let mut flags = 0;
    for c in text.chars() {
        flags |= match c {
            'A' => NOTIFY_ALL,
            'K' => NOTIFY_KEYSPACE,
            'E' => NOTIFY_KEYEVENT,
            'm' => NOTIFY_MISS,
            _ => match NOTIFY_CLASSES.iter().find(|(ch, _)| *ch == c) {
                Some((_, bit)) => *bit,
                None => return Err("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into()),
            },
        };
    }
    Ok(flags)
}

/// The canonical text of `notify-keyspace-events` flags, as CONFIG GET shows it.
fn notify_flags_text(flags: u32) -> String {
    let mut out = String::new();
    if flags & NOTIFY_ALL == NOTIFY_ALL {
        out.push('A');
    } else {
        for (c, bit) in NOTIFY_CLASSES {
            if flags & bit != 0 {
                out.push(*c);
            }
        }
    }
    for (c, bit) in [
        ('K', NOTIFY_KEYSPACE),
        ('E', NOTIFY_KEYEVENT),
        ('m', NOTIFY_MISS),
    ] {
        if flags & bit != 0 {
            out.push(c);
        }
    }
    out
}

/// CONFIG SET client-output-buffer-limit: the classes given replace theirs in
/// `current`; the result is Redis's canonical form (every class, in bytes).
fn merge_output_limits(current: &str, given: &str) -> Result<String, String> {
    let mut all = parse_output_limits(current).unwrap_or_default();
    for (class, l) in parse_output_limits(given)? {
        match all.iter_mut().find(|(c, _)| *c == class) {
            Some(slot) => slot.1 = l,
            None => all.push((class, l)),
        }
    }
    Ok(["normal", "slave", "pubsub"]
        .iter()
        .filter_map(|class| all.iter().find(|(c, _)| c == class))
        .map(|(c, l)| format!("{c} {} {} {}", l[0], l[1], l[2]))
        .collect::<Vec<_>>()
        .join(" "))
}

impl Live {
    /// The live settings of `cfg`.
    pub fn new(cfg: &Config) -> Live {
        let mut values: BTreeMap<String, String> = REDIS_PARAMS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (k, v) in &cfg.redis_overrides {
            // As Redis's parameters always were: stored, canonical when valid.
            let v = lookup(k)
                .and_then(|p| p.kind.canonical(v).ok())
                .unwrap_or_else(|| v.clone());
            values.insert(k.clone(), v);
        }
        for (k, v) in REDIS_AS_SHARDIS {
            values.insert(k.to_string(), v.to_string());
        }
        for p in params::PARAMS.iter().filter(|p| p.in_config()) {
            values.insert(p.name.to_string(), cfg.text(p.name));
        }
        let mut live = Live {
            databases: cfg.databases,
            debug_enabled: cfg.enable_debug_command == "yes",
            sync_stage: cfg.always_sync == AlwaysSync::Stage,
            proto_max_bulk_len: AtomicU64::new(0),
            appendfsync: AtomicU8::new(0),
            batch_max: AtomicUsize::new(0),
            storage_timeout_ms: AtomicU64::new(0),
            slowlog_slower_than: AtomicI64::new(0),
            busy_reply_ms: AtomicU64::new(5000),
            slowlog_max_len: AtomicU64::new(0),
            latency_dump_interval: AtomicU64::new(0),
            output_limits: Default::default(),
            notify_flags: AtomicU32::new(0),
            requirepass: Mutex::new(None),
            values: Mutex::new(BTreeMap::new()),
            from_command_line: cfg.command_line.clone(),
            changed: Mutex::new(BTreeSet::new()),
            rocksdb_hook: OnceLock::new(),
            network_threads_hook: OnceLock::new(),
        };
        for (k, v) in &values {
            live.cache(k, v);
        }
        *live.values.get_mut().unwrap_or_else(|e| e.into_inner()) = values;
        live
    }

    /// Copies a live parameter's new value into the typed field the request path reads
    /// (`value` is canonical, so it always parses).
    fn cache(&self, name: &str, value: &str) {
        fn store<T: std::str::FromStr>(value: &str, set: impl FnOnce(T)) {
            if let Ok(v) = value.parse() {
                set(v)
            }
        }
        let r = Ordering::Relaxed;
        match name {
            "proto-max-bulk-len" => store(value, |v| self.proto_max_bulk_len.store(v, r)),
            "appendfsync" => store(value, |v: Fsync| self.appendfsync.store(v as u8, r)),
            "batch-max" => store(value, |v| self.batch_max.store(v, r)),
            "storage-timeout-ms" => store(value, |v| self.storage_timeout_ms.store(v, r)),
            "slowlog-log-slower-than" => store(value, |v| self.slowlog_slower_than.store(v, r)),
            "slowlog-max-len" => store(value, |v| self.slowlog_max_len.store(v, r)),
            "busy-reply-threshold" => store(value, |v| self.busy_reply_ms.store(v, r)),
            "latency-dump-interval" => store(value, |v| self.latency_dump_interval.store(v, r)),
            "client-output-buffer-limit" => {
                let limits = parse_output_limits(value).unwrap_or_default();
                for (class, at) in [("normal", 0), ("pubsub", 3)] {
                    if let Some((_, l)) = limits.iter().find(|(c, _)| c == class) {
                        for (i, v) in l.iter().enumerate() {
                            self.output_limits[at + i].store(*v, r);
                        }
                    }
                }
            }
            "notify-keyspace-events" => self
                .notify_flags
                .store(parse_notify_flags(value).unwrap_or(0), r),
            "requirepass" => {
                *self.requirepass.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(value.to_string()).filter(|v| !v.is_empty())
            }
            _ => {}
        }
    }

    /// `notify-keyspace-events` as bits ([`notify`]).
    pub fn notify_flags(&self) -> u32 {
        self.notify_flags.load(Ordering::Relaxed)
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

    /// `busy-reply-threshold`: ms a script runs before it makes its shards busy.
    pub fn busy_reply_ms(&self) -> u64 {
        self.busy_reply_ms.load(Ordering::Relaxed)
    }

    /// Seconds between latency dumps (0: off).
    pub fn latency_dump_interval(&self) -> u64 {
        self.latency_dump_interval.load(Ordering::Relaxed)
    }

    /// How long a connection waits for a shard.
    pub fn storage_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.storage_timeout_ms.load(Ordering::Relaxed))
    }

    /// client-output-buffer-limit for normal clients (`pubsub`: for subscribers):
    /// hard limit and soft limit in bytes (0: none) and the soft limit's seconds.
    pub fn output_limit(&self, pubsub: bool) -> (u64, u64, u64) {
        let at = if pubsub { 3 } else { 0 };
        let l = |i: usize| self.output_limits[at + i].load(Ordering::Relaxed);
        (l(0), l(1), l(2))
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

    fn values(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.values.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `CONFIG GET`: every `(name, value)` whose name matches one of the patterns.
    pub fn get(&self, patterns: &[&[u8]]) -> Vec<(String, String)> {
        self.values()
            .iter()
            .filter(|(n, _)| {
                patterns
                    .iter()
                    .any(|p| crate::glob::matches(p, n.as_bytes(), true))
            })
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect()
    }

    /// `CONFIG SET` of several parameters, all or nothing. Err is the full error text.
    pub fn set(&self, pairs: &[(String, String)]) -> Result<(), String> {
        let fail = |name: &str, why: &str| {
            CommandError::config_set_failed(name, why)
                .text()
                .into_owned()
        };
        let mut checked = Vec::with_capacity(pairs.len());
        for (i, (name, value)) in pairs.iter().enumerate() {
            if pairs[..i].iter().any(|(n, _)| n == name) {
                return Err(fail(name, "duplicate parameter"));
            }
            let Some(param) = lookup(name) else {
                return Err(CommandError::config_unknown(name).text().into_owned());
            };
            if !param.settable {
                return Err(fail(name, "can't set immutable config"));
            }
            let value = if name == "client-output-buffer-limit" {
                let current = self
                    .values()
                    .get(name.as_str())
                    .cloned()
                    .unwrap_or_default();
                merge_output_limits(&current, value).map_err(|why| fail(name, &why))?
            } else if name == "notify-keyspace-events" {
                let flags = parse_notify_flags(value).map_err(|why| fail(name, &why))?;
                notify_flags_text(flags)
            } else {
                param
                    .kind
                    .canonical(value)
                    .map_err(|why| fail(name, &why))?
            };
            if name == "network-threads" && self.network_threads_hook.get().is_none() {
                return Err(fail(
                    name,
                    "can't change network threads in the single runtime",
                ));
            }
            checked.push((name, value, param.rocksdb));
        }
        // The one change that can fail after validation runs first, so that a failure
        // leaves every parameter as it was.
        if let Some((_, n, _)) = checked.iter().find(|(n, _, _)| *n == "network-threads") {
            if let (Some(apply), Ok(n)) = (self.network_threads_hook.get(), n.parse()) {
                apply(n).map_err(|e| fail("network-threads", &e))?;
            }
        }
        let mut rocksdb = Vec::new();
        {
            let mut values = self.values();
            let mut changed = self.changed.lock().unwrap_or_else(|e| e.into_inner());
            for (name, value, option) in &checked {
                changed.insert(name.to_string());
                if let Some(option) = option {
                    rocksdb.push((option.to_string(), value.clone()));
                }
                self.cache(name, value);
                values.insert(name.to_string(), value.clone());
            }
        }
        if let Some((_, level, _)) = checked.iter().find(|(n, _, _)| *n == "loglevel") {
            if let Some(reload) = LOG_RELOADER.get() {
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

    /// The current value of an integer parameter.
    pub fn param_u64(&self, name: &str) -> Option<u64> {
        self.values().get(name).and_then(|v| v.parse().ok())
    }

    /// CONFIG REWRITE: rewrites `path` so that every parameter it sets has its current
    /// value, and appends the parameters CONFIG SET changed that it does not set.
    /// Comments and order are kept.
    pub fn rewrite(&self, path: &std::path::Path) -> std::io::Result<()> {
        const GENERATED: &str = "# Generated by CONFIG REWRITE";
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let values = self.values().clone();
        let mut seen = BTreeSet::new();
        let mut out = String::new();
        for line in text.lines() {
            let trimmed = line.trim();
            if trimmed.starts_with(GENERATED) {
                continue;
            }
            if trimmed.is_empty() || trimmed.starts_with('#') {
                out.push_str(line);
                out.push('\n');
                continue;
            }
            let key = trimmed
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            match values.get(&key) {
                Some(v) => out.push_str(&format!("{key} {}\n", conf_quote(v))),
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
            out.push_str(GENERATED);
            out.push('\n');
            for key in extra {
                if let Some(v) = values.get(&key) {
                    out.push_str(&format!("{key} {}\n", conf_quote(v)));
                }
            }
        }
        let tmp = path.with_extension("rewrite.tmp");
        std::fs::write(&tmp, out)?;
        std::fs::rename(tmp, path)
    }

    /// SIGHUP: applies the file's settings that can change at run time and differ from
    /// the current values (all or nothing); flags given on the command line keep their
    /// values, and names that are not parameters are ignored.
    pub fn reload(&self, path: &std::path::Path) -> Result<usize, String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        let values = self.values().clone();
        let pairs: Vec<(String, String)> = parse_conf(&text)
            .into_iter()
            .filter(|(k, v)| {
                lookup(k).is_some_and(|p| {
                    p.settable
                        && !self.from_command_line.contains(k)
                        && p.kind.canonical(v).ok().as_ref() != values.get(k)
                })
            })
            .collect();
        let n = pairs.len();
        self.set(&pairs)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_flags_read_and_print_as_redis_does() {
        let canon = |t: &str| notify_flags_text(parse_notify_flags(t).unwrap());
        assert_eq!(canon("KEA"), "AKE");
        assert_eq!(canon("Kx"), "xK");
        assert_eq!(canon("Eg$"), "g$E");
        assert_eq!(canon("g$lshzxetd"), "A");
        assert_eq!(canon("Kmn"), "nKm");
        assert_eq!(canon("KEAmn"), "AKEm");
        assert_eq!(canon(""), "");
        assert!(parse_notify_flags("xyz").is_err());
    }
    use crate::config::params::{Applies, Initial, Kind, PARAMS};
    use std::sync::Arc;

    fn live(args: &[&str]) -> Live {
        let mut v = vec!["shardis".to_string()];
        v.extend(args.iter().map(|s| s.to_string()));
        Live::new(&Config::load(v).unwrap())
    }

    fn set(live: &Live, pairs: &[(&str, &str)]) -> Result<(), String> {
        let v: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        live.set(&v)
    }

    fn get(live: &Live, name: &str) -> Option<String> {
        live.get(&[name.as_bytes()]).into_iter().next().map(|p| p.1)
    }

    /// A valid value of `kind` other than `current`.
    fn another(kind: Kind, current: &str) -> String {
        let pick = |a: String, b: String| if a == current { b } else { a };
        match kind {
            Kind::Int { min, max } => pick(min.to_string(), max.min(min + 7).to_string()),
            Kind::Size { min, max } => pick(min.max(2 << 20).min(max).to_string(), min.to_string()),
            Kind::Words(w) => pick(w[0].into(), w[w.len() - 1].into()),
            Kind::YesNo => pick("yes".into(), "no".into()),
            Kind::Text | Kind::Path => pick("some text".into(), "other".into()),
            Kind::Cores => pick("0".into(), "0,1".into()),
            Kind::LogLevel => pick("warning".into(), "debug".into()),
        }
    }

    #[test]
    fn every_config_parameter_is_in_config_get() {
        let live = live(&[]);
        for p in PARAMS {
            let got = get(&live, p.name);
            if !p.in_config() {
                assert_eq!(got, None, "{}", p.name);
                continue;
            }
            let got = got.unwrap_or_else(|| panic!("CONFIG GET {} is empty", p.name));
            match p.initial {
                Initial::Value(v) => assert_eq!(Ok(got), p.kind.canonical(v), "{}", p.name),
                Initial::Unset(_) => assert_eq!(got, "", "{}", p.name),
                Initial::Derived(_) => assert!(p.kind.canonical(&got).is_ok(), "{}", p.name),
            }
        }
        assert_eq!(get(&live, "appendonly").as_deref(), Some("yes"));
        assert_eq!(get(&live, "hz").as_deref(), Some("10"));
    }

    #[test]
    fn live_parameters_round_trip_through_config_set_and_get() {
        let live = live(&[]);
        live.on_network_threads(Box::new(|_| Ok(())));
        let options = Arc::new(Mutex::new(Vec::new()));
        let seen = options.clone();
        live.on_rocksdb_options(Box::new(move |o| seen.lock().unwrap().extend(o)));
        for p in PARAMS {
            if !matches!(p.applies, Applies::Live | Applies::RocksDb(_)) {
                continue;
            }
            let value = another(p.kind, &get(&live, p.name).unwrap());
            assert_eq!(set(&live, &[(p.name, &value)]), Ok(()), "{}", p.name);
            let canonical = p.kind.canonical(&value).unwrap();
            assert_eq!(get(&live, p.name), Some(canonical.clone()), "{}", p.name);
            if let Applies::RocksDb(option) = p.applies {
                assert_eq!(
                    options.lock().unwrap().pop(),
                    Some((option.to_string(), canonical)),
                );
            }
        }
        // The typed copies follow.
        set(
            &live,
            &[
                ("batch-max", "7"),
                ("storage-timeout-ms", "1234"),
                ("proto-max-bulk-len", "2mb"),
                ("slowlog-log-slower-than", "-1"),
                ("slowlog-max-len", "3"),
                ("latency-dump-interval", "9"),
                ("requirepass", "pw"),
                ("appendfsync", "ALWAYS"),
            ],
        )
        .unwrap();
        assert_eq!(live.batch_max(), 7);
        assert_eq!(live.storage_timeout().as_millis(), 1234);
        assert_eq!(live.proto_max_bulk_len(), 2 << 20);
        assert_eq!(live.slowlog(), (-1, 3));
        assert_eq!(live.latency_dump_interval(), 9);
        assert_eq!(live.requirepass().as_deref(), Some("pw"));
        assert!(live.fsync_always() && !live.fsync_everysec());
        assert_eq!(get(&live, "appendfsync").as_deref(), Some("always"));
        set(&live, &[("requirepass", ""), ("appendfsync", "no")]).unwrap();
        assert_eq!(live.requirepass(), None);
        assert!(!live.fsync_always() && !live.fsync_everysec());
        assert_eq!(
            live.param_u64("maxclients"),
            Some(1),
            "the loop set the minimum"
        );
    }

    #[test]
    fn fixed_parameters_are_immutable() {
        let live = live(&[]);
        for p in PARAMS.iter().filter(|p| p.applies == Applies::Start) {
            let value = get(&live, p.name).unwrap();
            let err = set(&live, &[(p.name, &value)]).unwrap_err();
            assert_eq!(
                err,
                format!(
                    "ERR CONFIG SET failed (possibly related to argument '{}') - can't set \
                     immutable config",
                    p.name
                )
            );
        }
        assert!(set(&live, &[("daemonize", "yes")])
            .unwrap_err()
            .contains("immutable"));
        assert_eq!(
            set(&live, &[("config", "x")]).unwrap_err(),
            "ERR Unknown option or number of arguments for CONFIG SET - 'config'"
        );
    }

    #[test]
    fn config_set_checks_flags_like_the_command_line() {
        let live = live(&[]);
        assert!(set(&live, &[("rocksdb-write-buffer-size", "-1")]).is_err());
        assert!(set(&live, &[("rocksdb-l0-stop-trigger", "3000000000")]).is_err());
        assert!(set(&live, &[("maxclients", "-1")]).is_err());
        assert!(set(&live, &[("maxclients", "0")]).is_err());
        assert!(set(&live, &[("rocksdb-l0-stop-trigger", "40")]).is_ok());
        assert_eq!(
            set(&live, &[("network-threads", "2")]).unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'network-threads') - can't \
             change network threads in the single runtime"
        );
    }

    #[test]
    fn config_set_validates_all_or_nothing() {
        let live = live(&[]);
        assert!(set(&live, &[("maxmemory", "1gb")]).is_ok());
        assert_eq!(
            live.get(&[b"maxmemory"]),
            vec![("maxmemory".into(), "1073741824".into())]
        );
        assert!(set(&live, &[("hz", "5"), ("appendonly", "maybe")]).is_err());
        assert_eq!(live.get(&[b"hz"]), vec![("hz".into(), "10".into())]);
        assert!(set(&live, &[("port", "1")])
            .unwrap_err()
            .contains("immutable"));
        assert!(set(&live, &[("nope", "1")])
            .unwrap_err()
            .contains("Unknown option"));
        assert_eq!(
            set(&live, &[("proto-max-bulk-len", "10")]).unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'proto-max-bulk-len') - \
             argument must be between 1048576 and 9223372036854775807 inclusive"
        );
        assert_eq!(
            set(&live, &[("hz", "5"), ("hz", "6")]).unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'hz') - duplicate parameter"
        );
        assert!(set(&live, &[("appendfsync", "always")]).is_ok());
        assert!(live.fsync_always());
    }

    #[test]
    fn rewrite_and_reload_use_the_current_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.conf");
        std::fs::write(&path, "# mine\nbatch-max 9\nhz 10\nport 7000\n").unwrap();
        let live = live(&["--config", path.to_str().unwrap(), "--slowlog-max-len", "5"]);
        assert_eq!(live.batch_max(), 9);
        set(&live, &[("batch-max", "5"), ("maxmemory", "1mb")]).unwrap();
        live.rewrite(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "# mine\nbatch-max 5\nhz 10\nport 7000\n# Generated by CONFIG REWRITE\n\
             maxmemory 1048576\n"
        );
        // SIGHUP: changed settings apply, fixed ones and command-line flags do not.
        std::fs::write(
            &path,
            "batch-max 5\nhz 11\nport 7001\nslowlog-max-len 6\nstorage-timeout-ms 1s\n",
        )
        .unwrap();
        assert!(live.reload(&path).is_err(), "a bad value applies nothing");
        assert_eq!(get(&live, "hz").as_deref(), Some("10"));
        std::fs::write(
            &path,
            "batch-max 5\nhz 11\nport 7001\nslowlog-max-len 6\nrocksdb-write-buffer-size 16mb\n",
        )
        .unwrap();
        assert_eq!(live.reload(&path), Ok(1));
        assert_eq!(get(&live, "hz").as_deref(), Some("11"));
        assert_eq!(get(&live, "port").as_deref(), Some("7000"));
        assert_eq!(live.slowlog().1, 5);
    }
}
